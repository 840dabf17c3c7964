//! Faults and their seeded schedule: which fault, when, against which instance, for how long. The seed
//! fixes the schedule (not the interleaving of real processes). The injector applies each fault, heals
//! it, and records when it started and ended.

use std::time::Duration;

use anyhow::Context as _;
use rand::{Rng as _, SeedableRng as _};
use serde::Serialize;

use crate::cluster::{Cluster, NATS_NODES, PER_ROLE, ROLES};
use crate::load::History;

/// The kinds of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// SIGKILL of a role instance, restarted after the hold.
    Kill9,
    /// SIGSTOP of a role instance, SIGCONT after the hold.
    Pause,
    /// SIGKILL of a NATS node, restarted after the hold.
    NatsNode,
    /// SIGKILL of the NATS node leading the event stream, restarted after the hold.
    NatsLeader,
    /// PostgreSQL stopped at once (`-m immediate`), started after the hold.
    Postgres,
    /// A secondary cut off from mdns and the workers by its proxies, healed after the hold.
    Partition,
    /// SIGKILL of a worker right after it sent a NOTIFY (a push in flight), restarted after the hold.
    WorkerPush,
    /// SIGKILL of the RabbitMQ broker (the sinks' input, the notifiers' output), restarted after the
    /// hold with its data.
    Rabbitmq,
}

impl FaultKind {
    /// Every kind.
    pub const ALL: [FaultKind; 8] = [
        FaultKind::Kill9,
        FaultKind::Pause,
        FaultKind::NatsNode,
        FaultKind::NatsLeader,
        FaultKind::Postgres,
        FaultKind::Partition,
        FaultKind::WorkerPush,
        FaultKind::Rabbitmq,
    ];

    /// The kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Kill9 => "kill9",
            FaultKind::Pause => "pause",
            FaultKind::NatsNode => "nats-node",
            FaultKind::NatsLeader => "nats-leader",
            FaultKind::Postgres => "postgres",
            FaultKind::Partition => "partition",
            FaultKind::WorkerPush => "worker-push",
            FaultKind::Rabbitmq => "rabbitmq",
        }
    }

    /// How long the fault lasts, in seconds (a range the seed picks from).
    fn hold_s(self) -> (f64, f64) {
        match self {
            FaultKind::Kill9 | FaultKind::WorkerPush => (0.5, 2.0),
            FaultKind::Pause => (3.0, 8.0),
            FaultKind::NatsNode | FaultKind::NatsLeader => (3.0, 8.0),
            FaultKind::Postgres | FaultKind::Rabbitmq => (2.0, 5.0),
            FaultKind::Partition => (3.0, 8.0),
        }
    }
}

/// One planned fault.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedFault {
    /// Seconds after the load starts.
    pub at_s: f64,
    /// What.
    pub kind: FaultKind,
    /// Random number that picks the target among the candidates.
    pub pick: u64,
    /// Seconds until it is healed.
    pub hold_s: f64,
}

/// The schedule for `kinds` within `duration_s` of load: faults one after another with quiet gaps, the
/// first after a short warm-up, the last healed a few seconds before the load stops.
pub fn schedule(seed: u64, kinds: &[FaultKind], duration_s: f64) -> Vec<PlannedFault> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut out = Vec::new();
    if kinds.is_empty() {
        return out;
    }
    let mut t = 2.0;
    loop {
        let kind = kinds[rng.random_range(0..kinds.len())];
        let (lo, hi) = kind.hold_s();
        let hold_s = rng.random_range(lo..hi);
        if t + hold_s > duration_s - 2.0 && !out.is_empty() {
            break;
        }
        out.push(PlannedFault {
            at_s: t,
            kind,
            pick: rng.random(),
            hold_s,
        });
        t += hold_s + rng.random_range(2.0..4.0);
    }
    out
}

/// A fault as it happened.
#[derive(Debug, Clone, Serialize)]
pub struct FaultRecord {
    /// What.
    pub kind: FaultKind,
    /// Which instance or node.
    pub target: String,
    /// Seconds since the run started when it was applied.
    pub start_s: f64,
    /// Seconds since the run started when it was healed.
    pub end_s: f64,
    /// For NATS faults: seconds from the kill until a running node named a stream leader again.
    pub election_s: Option<f64>,
    /// Notes (e.g. whether a worker was caught mid-push).
    pub note: String,
}

fn instance_index(cluster: &Cluster, role: &str, idx: usize) -> usize {
    cluster
        .instances
        .iter()
        .position(|i| i.role == role && i.idx == idx)
        .expect("every role has PER_ROLE instances")
}

/// Applies one planned fault, waits out its hold, heals it, and says what happened.
pub async fn apply(cluster: &mut Cluster, fault: &PlannedFault, history: &History) -> anyhow::Result<FaultRecord> {
    let hold = Duration::from_secs_f64(fault.hold_s);
    let pick = fault.pick as usize;
    let mut note = String::new();
    let mut election_s = None;
    let (target, start_s) = match fault.kind {
        FaultKind::Kill9 | FaultKind::Pause => {
            let role = ROLES[pick % ROLES.len()];
            let i = instance_index(cluster, role, (pick / ROLES.len()) % PER_ROLE);
            let start_s = history.now_s();
            if fault.kind == FaultKind::Kill9 {
                cluster.instances[i].process.kill9();
                tokio::time::sleep(hold).await;
                cluster.start_instance(i)?;
            } else {
                cluster.instances[i].process.pause()?;
                tokio::time::sleep(hold).await;
                cluster.instances[i].process.resume()?;
            }
            (cluster.instances[i].process.name.clone(), start_s)
        }
        FaultKind::WorkerPush => {
            let i = instance_index(cluster, "worker", pick % PER_ROLE);
            // Strike right after the worker sends a NOTIFY: its push is in flight (polling serials,
            // not yet reported), so its zone change is neither acknowledged nor lost.
            let offset = cluster.instances[i].process.log_len();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            let mut mid_push = false;
            while tokio::time::Instant::now() < deadline {
                let log = crate::process::log_since(&cluster.instances[i].process.log, offset);
                if log.contains("NOTIFY") {
                    mid_push = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let start_s = history.now_s();
            cluster.instances[i].process.kill9();
            note = if mid_push {
                "killed right after a NOTIFY".into()
            } else {
                "no NOTIFY within 10 s; killed anyway".into()
            };
            tokio::time::sleep(hold).await;
            cluster.start_instance(i)?;
            (cluster.instances[i].process.name.clone(), start_s)
        }
        FaultKind::NatsNode | FaultKind::NatsLeader => {
            let node = if fault.kind == FaultKind::NatsLeader {
                cluster.stream_leader().await?
            } else {
                pick % NATS_NODES
            };
            let start_s = history.now_s();
            cluster.nats[node].process.kill9();
            let killed = cluster.nats[node].name.clone();
            // Measure the election while the node is down (bounded by the hold plus 20 s).
            let deadline = tokio::time::Instant::now() + hold + Duration::from_secs(20);
            let mut restarted = false;
            loop {
                let now = tokio::time::Instant::now();
                if !restarted && history.now_s() >= start_s + fault.hold_s {
                    cluster.nats[node].process.start()?;
                    restarted = true;
                }
                if election_s.is_none() {
                    if let Ok(leader) = cluster.stream_leader().await {
                        if cluster.nats[leader].name != killed || restarted {
                            election_s = Some(history.now_s() - start_s);
                        }
                    }
                }
                if (restarted && election_s.is_some()) || now > deadline {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            if !restarted {
                cluster.nats[node].process.start()?;
            }
            if fault.kind == FaultKind::NatsLeader {
                note = "the node led the event stream".into();
            }
            (format!("nats-{node}"), start_s)
        }
        FaultKind::Postgres => {
            let start_s = history.now_s();
            cluster.stop_postgres()?;
            tokio::time::sleep(hold).await;
            cluster.start_postgres().await?;
            ("postgres".to_owned(), start_s)
        }
        FaultKind::Rabbitmq => {
            let mut rabbit = cluster.rabbit.take().context("the broker is not running")?;
            let start_s = history.now_s();
            rabbit.kill9();
            tokio::time::sleep(hold).await;
            // Its start takes seconds (the Erlang VM boots): off the async threads.
            let (rabbit, restarted) = tokio::task::spawn_blocking(move || {
                let restarted = rabbit.restart();
                (rabbit, restarted)
            })
            .await?;
            cluster.rabbit = Some(rabbit);
            restarted?;
            note = format!(
                "serving again {:.1} s after its restart",
                history.now_s() - start_s - fault.hold_s
            );
            ("rabbitmq".to_owned(), start_s)
        }
        FaultKind::Partition => {
            let (name, up, front) = cluster.proxies[pick % cluster.proxies.len()].clone();
            let start_s = history.now_s();
            up.cut();
            front.cut();
            tokio::time::sleep(hold).await;
            up.heal();
            front.heal();
            (name, start_s)
        }
    };
    Ok(FaultRecord {
        kind: fault.kind,
        target,
        start_s,
        end_s: history.now_s(),
        election_s,
        note,
    })
}
