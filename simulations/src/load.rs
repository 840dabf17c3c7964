//! The load generator: zones across several projects, then record sets created, updated and deleted at
//! a set rate through both API instances. Every request carries its own `x-openstack-request-id`, and a
//! request whose outcome is unknown (connection lost, timeout, 5xx, 409) is retried with the same id until
//! it gets an answer or a deadline passes (then it is *indefinite*, Jepsen's "info"). Every 2xx is kept
//! with the record-set state it implies: the model the checker compares the read model and DNS with.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::{Rng as _, SeedableRng as _};
use serde::Serialize;
use serde_json::json;
use tokio::sync::watch;

/// How long an operation with an unknown outcome is retried before it counts as indefinite.
const RETRY_DEADLINE: Duration = Duration::from_secs(30);
/// Timeout of one HTTP attempt.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// What an operation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    /// POST /v2/zones.
    CreateZone,
    /// POST /v2/zones/{id}/recordsets.
    Create,
    /// PUT /v2/zones/{id}/recordsets/{id}.
    Update,
    /// DELETE /v2/zones/{id}/recordsets/{id}.
    Delete,
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// 2xx: acknowledged.
    Ok,
    /// A 4xx other than 409: refused, so it must have changed nothing.
    Refused(u16),
    /// No answer within the retry deadline: it may or may not have happened.
    Indefinite,
}

/// One operation of the history.
#[derive(Debug, Clone, Serialize)]
pub struct Op {
    /// Index of the zone in the load's zone list.
    pub zone: usize,
    /// What.
    pub kind: OpKind,
    /// The record set's name (or the zone's, for a zone create).
    pub name: String,
    /// The request id every attempt carried.
    pub request_id: String,
    /// Seconds since the run started, when the first attempt was sent.
    pub start_s: f64,
    /// Seconds since the run started, when the final answer arrived.
    pub end_s: f64,
    /// The outcome.
    pub outcome: Outcome,
    /// Attempts made.
    pub attempts: u32,
}

/// A record set as the acknowledged history says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordsetModel {
    /// Its id.
    pub id: String,
    /// Its records, sorted.
    pub records: Vec<String>,
}

/// A zone as the acknowledged history says it is.
#[derive(Debug, Clone)]
pub struct ZoneModel {
    /// Zone id.
    pub id: String,
    /// Zone name.
    pub name: String,
    /// Owning project.
    pub project: String,
    /// Record sets by name (type A), after every acknowledged change.
    pub recordsets: BTreeMap<String, RecordsetModel>,
    /// Names whose last change is indefinite: either state is allowed, and the load no longer touches them.
    pub uncertain: BTreeSet<String>,
    next_name: u32,
}

/// Settings of the load.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Base URLs of the API instances.
    pub apis: Vec<String>,
    /// Projects.
    pub projects: usize,
    /// Zones per project.
    pub zones_per_project: usize,
    /// Record-set operations per second, over all zones.
    pub ops_per_sec: f64,
    /// Zone names end with this (a label per run).
    pub zone_suffix: String,
    /// The seed of the random choices.
    pub seed: u64,
}

/// The shared history and the run's clock.
#[derive(Clone)]
pub struct History {
    /// When the run started.
    pub epoch: Instant,
    ops: Arc<Mutex<Vec<Op>>>,
}

impl History {
    /// A new history starting now.
    pub fn new(epoch: Instant) -> Self {
        Self {
            epoch,
            ops: Arc::default(),
        }
    }

    /// Seconds since the run started.
    pub fn now_s(&self) -> f64 {
        self.epoch.elapsed().as_secs_f64()
    }

    fn push(&self, op: Op) {
        self.ops.lock().unwrap_or_else(|p| p.into_inner()).push(op);
    }

    /// Every operation so far.
    pub fn ops(&self) -> Vec<Op> {
        self.ops.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

struct Client {
    http: reqwest::Client,
    apis: Vec<String>,
    history: History,
}

struct Answer {
    outcome: Outcome,
    body: serde_json::Value,
}

impl Client {
    /// Sends one operation, retrying an unknown outcome with the same request id on alternating API
    /// instances, and records it in the history.
    #[allow(clippy::too_many_arguments)]
    async fn send(
        &self,
        zone: usize,
        kind: OpKind,
        name: &str,
        project: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Answer {
        let request_id = format!("req-{}", uuid::Uuid::new_v4());
        let start_s = self.history.now_s();
        let started = Instant::now();
        let mut attempts = 0u32;
        let answer = loop {
            let api = &self.apis[(zone + attempts as usize) % self.apis.len()];
            attempts += 1;
            let mut request = self
                .http
                .request(method.clone(), format!("{api}{path}"))
                .timeout(ATTEMPT_TIMEOUT)
                .header("x-openstack-request-id", &request_id)
                .header("x-auth-project-id", project)
                .header("x-roles", "member");
            if let Some(body) = &body {
                request = request.json(body);
            }
            // Falls through to a retry on a transport error, 409 or 5xx.
            if let Ok(response) = request.send().await {
                {
                    let status = response.status().as_u16();
                    let body = response.json().await.unwrap_or(serde_json::Value::Null);
                    match status {
                        200..=299 => {
                            break Answer {
                                outcome: Outcome::Ok,
                                body,
                            }
                        }
                        409 | 500..=599 => {}
                        _ => {
                            break Answer {
                                outcome: Outcome::Refused(status),
                                body,
                            }
                        }
                    }
                }
            }
            if started.elapsed() > RETRY_DEADLINE {
                break Answer {
                    outcome: Outcome::Indefinite,
                    body: serde_json::Value::Null,
                };
            }
            let backoff = Duration::from_millis(100 * 2u64.pow(attempts.min(4)));
            tokio::time::sleep(backoff).await;
        };
        self.history.push(Op {
            zone,
            kind,
            name: name.to_owned(),
            request_id,
            start_s,
            end_s: self.history.now_s(),
            outcome: answer.outcome,
            attempts,
        });
        answer
    }
}

/// Creates the zones (one project after another, spread over the APIs). A zone whose create is not
/// acknowledged is an error: the run needs its zones.
pub async fn create_zones(config: &LoadConfig, history: &History) -> anyhow::Result<Vec<ZoneModel>> {
    let client = Client {
        http: reqwest::Client::new(),
        apis: config.apis.clone(),
        history: history.clone(),
    };
    let mut zones = Vec::new();
    for p in 0..config.projects {
        for z in 0..config.zones_per_project {
            let idx = zones.len();
            let project = format!("sim-project-{p}");
            let name = format!("z{z}.p{p}.{}", config.zone_suffix);
            let answer = client
                .send(
                    idx,
                    OpKind::CreateZone,
                    &name,
                    &project,
                    reqwest::Method::POST,
                    "/v2/zones",
                    Some(json!({"name": name, "email": "hostmaster@sim.test", "ttl": 300})),
                )
                .await;
            anyhow::ensure!(
                answer.outcome == Outcome::Ok,
                "zone {name} was not created: {:?} {}",
                answer.outcome,
                answer.body
            );
            let id = answer.body["id"].as_str().unwrap_or_default().to_owned();
            anyhow::ensure!(!id.is_empty(), "zone create answered without an id: {}", answer.body);
            zones.push(ZoneModel {
                id,
                name,
                project,
                recordsets: BTreeMap::new(),
                uncertain: BTreeSet::new(),
                next_name: 0,
            });
        }
    }
    Ok(zones)
}

/// Runs record-set operations on every zone (one at a time per zone, so the acknowledged order is the
/// order of effect) until `stop` turns true, and returns the zones' models.
pub async fn run(
    config: &LoadConfig,
    zones: Vec<ZoneModel>,
    history: &History,
    stop: watch::Receiver<bool>,
) -> Vec<ZoneModel> {
    let client = Arc::new(Client {
        http: reqwest::Client::new(),
        apis: config.apis.clone(),
        history: history.clone(),
    });
    let n_zones = zones.len().max(1);
    let mean_gap = Duration::from_secs_f64(n_zones as f64 / config.ops_per_sec.max(0.1));
    let counter = Arc::new(AtomicU32::new(1));
    let mut tasks = Vec::new();
    for (idx, zone) in zones.into_iter().enumerate() {
        let client = client.clone();
        let mut stop = stop.clone();
        let counter = counter.clone();
        let seed = config.seed.wrapping_mul(1_000_003).wrapping_add(idx as u64);
        tasks.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let mut zone = zone;
            loop {
                let gap = mean_gap.mul_f64(rng.random_range(0.5..1.5));
                tokio::select! {
                    _ = tokio::time::sleep(gap) => {}
                    _ = stop.wait_for(|s| *s) => break,
                }
                one_op(&client, idx, &mut zone, &mut rng, &counter).await;
            }
            zone
        }));
    }
    let mut out = Vec::new();
    for task in tasks {
        if let Ok(zone) = task.await {
            out.push(zone);
        }
    }
    out
}

fn next_records(counter: &AtomicU32, rng: &mut rand::rngs::StdRng) -> Vec<String> {
    let n = rng.random_range(1..=2);
    let mut records: Vec<String> = (0..n)
        .map(|_| {
            let v = counter.fetch_add(1, Ordering::Relaxed);
            format!("10.{}.{}.{}", (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff)
        })
        .collect();
    records.sort();
    records
}

async fn one_op(client: &Client, idx: usize, zone: &mut ZoneModel, rng: &mut rand::rngs::StdRng, counter: &AtomicU32) {
    let live: Vec<String> = zone.recordsets.keys().cloned().collect();
    let roll: f64 = rng.random();
    let kind = if live.len() < 2 || (live.len() < 8 && roll < 0.5) {
        OpKind::Create
    } else if roll < 0.8 {
        OpKind::Update
    } else {
        OpKind::Delete
    };
    let base = format!("/v2/zones/{}/recordsets", zone.id);
    match kind {
        OpKind::Create => {
            let name = format!("r{}.{}", zone.next_name, zone.name);
            zone.next_name += 1;
            let records = next_records(counter, rng);
            let answer = client
                .send(
                    idx,
                    kind,
                    &name,
                    &zone.project,
                    reqwest::Method::POST,
                    &base,
                    Some(json!({"name": name, "type": "A", "records": records, "ttl": 300})),
                )
                .await;
            match answer.outcome {
                Outcome::Ok => {
                    let id = answer.body["id"].as_str().unwrap_or_default().to_owned();
                    zone.recordsets.insert(name, RecordsetModel { id, records });
                }
                Outcome::Refused(_) => {}
                Outcome::Indefinite => {
                    zone.uncertain.insert(name);
                }
            }
        }
        OpKind::Update | OpKind::Delete => {
            let name = live[rng.random_range(0..live.len())].clone();
            let id = zone.recordsets[&name].id.clone();
            let path = format!("{base}/{id}");
            let (method, body, records) = if kind == OpKind::Update {
                let records = next_records(counter, rng);
                (reqwest::Method::PUT, Some(json!({"records": records})), records)
            } else {
                (reqwest::Method::DELETE, None, Vec::new())
            };
            let answer = client.send(idx, kind, &name, &zone.project, method, &path, body).await;
            match (answer.outcome, kind) {
                (Outcome::Ok, OpKind::Update) => {
                    if let Some(rs) = zone.recordsets.get_mut(&name) {
                        rs.records = records;
                    }
                }
                (Outcome::Ok, _) => {
                    zone.recordsets.remove(&name);
                }
                (Outcome::Refused(_), _) => {}
                (Outcome::Indefinite, _) => {
                    zone.recordsets.remove(&name);
                    zone.uncertain.insert(name);
                }
            }
        }
        OpKind::CreateZone => {}
    }
}
