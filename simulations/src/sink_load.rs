//! The sink's load: Nova notifications published to RabbitMQ's `nova` exchange while the record-set load
//! runs, as a compute service would send them (oslo.messaging v2 envelopes, `notifications.info`), with
//! the disorder a real bus brings: the same message published twice, and an instance's
//! `delete.start` arriving before its `create.end`. The model says which records the sink zone must end
//! with; the check waits until mdns and BIND serve exactly those.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use rand::{Rng as _, SeedableRng as _};
use serde_json::json;
use tokio::sync::watch;

use crate::amqp::Publisher;

/// How long one notification is retried (across a broker restart) before it counts as indefinite.
const PUBLISH_DEADLINE: Duration = Duration::from_secs(60);

/// One instance as the published notifications say it ends.
#[derive(Debug, Clone)]
pub struct Instance {
    /// Its fixed IPv4 address.
    pub ipv4: String,
    /// Its fixed IPv6 address.
    pub ipv6: String,
    /// A `create.end` was published.
    pub created: bool,
    /// A `delete.start` was published (before or after the create: either way no record remains).
    pub deleted: bool,
    /// A publish of it was never confirmed: either outcome is allowed.
    pub uncertain: bool,
}

/// What the sink load published.
#[derive(Debug, Clone, Default)]
pub struct SinkModel {
    /// Instances by hostname.
    pub instances: BTreeMap<String, Instance>,
    /// Messages published and confirmed (duplicates included).
    pub published: usize,
    /// Of those, a message published again verbatim (same `message_id`).
    pub duplicates: usize,
    /// Instances whose delete was published before their create.
    pub reordered: usize,
    /// Messages never confirmed by the broker.
    pub indefinite: usize,
}

/// Settings of the sink load.
#[derive(Debug, Clone)]
pub struct SinkLoadConfig {
    /// The broker.
    pub amqp_url: String,
    /// Hostnames end with `-<label>` (a label per scenario).
    pub label: String,
    /// Notifications per second.
    pub rate: f64,
    /// Seed of the random choices.
    pub seed: u64,
}

/// A Nova notification in oslo.messaging's v2 envelope: `(message id, body)`.
fn nova_message(event_type: &str, instance_id: &str, hostname: &str, instance: &Instance) -> (String, Vec<u8>) {
    let message_id = uuid::Uuid::new_v4().to_string();
    let mut payload = json!({
        "tenant_id": "sim-compute-project",
        "user_id": "sim-compute-user",
        "instance_id": instance_id,
        "hostname": hostname,
        "display_name": hostname,
        "host": "compute-sim",
        "state": "active",
    });
    if event_type == "compute.instance.create.end" {
        payload["fixed_ips"] = json!([
            {"address": instance.ipv4, "version": 4, "label": "private", "type": "fixed", "floating_ips": [], "meta": {}},
            {"address": instance.ipv6, "version": 6, "label": "private", "type": "fixed", "floating_ips": [], "meta": {}},
        ]);
    }
    let message = json!({
        "message_id": message_id,
        "publisher_id": "compute.compute-sim",
        "event_type": event_type,
        "priority": "INFO",
        "timestamp": chrono::Utc::now().format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
        "_context_project_id": "sim-compute-project",
        "payload": payload,
    });
    let body = json!({"oslo.version": "2.0", "oslo.message": message.to_string()});
    (message_id, body.to_string().into_bytes())
}

/// Publishes notifications until `stop` turns true; returns what it published.
pub async fn run(config: SinkLoadConfig, mut stop: watch::Receiver<bool>) -> SinkModel {
    let mut rng = rand::rngs::StdRng::seed_from_u64(config.seed ^ 0x5eed_5111);
    let mut publisher = Publisher::new(&config.amqp_url, "nova", false);
    let mut model = SinkModel::default();
    let mut sent: Vec<(String, Vec<u8>)> = Vec::new();
    let gap = Duration::from_secs_f64(1.0 / config.rate.max(0.1));
    let mut next = 0u32;
    let mut ticker = tokio::time::interval(gap);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            _ = ticker.tick() => {}
        }
        let live: Vec<String> = model
            .instances
            .iter()
            .filter(|(_, i)| i.created && !i.deleted && !i.uncertain)
            .map(|(h, _)| h.clone())
            .collect();
        let roll: f64 = rng.random();
        // (hostname, event types in publish order) or a duplicate.
        let plan: Option<(String, Vec<&str>)> = if roll < 0.15 && !sent.is_empty() {
            let (id, body) = sent[rng.random_range(0..sent.len())].clone();
            let limit = tokio::time::Instant::now() + PUBLISH_DEADLINE;
            if publisher.publish_until("notifications.info", &id, &body, limit).await {
                model.published += 1;
                model.duplicates += 1;
            } else {
                model.indefinite += 1;
            }
            None
        } else if roll < 0.40 && !live.is_empty() {
            Some((
                live[rng.random_range(0..live.len())].clone(),
                vec!["compute.instance.delete.start"],
            ))
        } else {
            let n = next;
            next += 1;
            let hostname = format!("vm{n}-{}", config.label);
            model.instances.insert(
                hostname.clone(),
                Instance {
                    ipv4: format!("10.{}.{}.{}", 100 + (n >> 16) % 100, (n >> 8) & 255, n & 255),
                    ipv6: std::net::Ipv6Addr::new(0xfd00, 5, 0, 0, 0, 0, (n >> 16) as u16, (n & 0xffff) as u16 + 1)
                        .to_string(),
                    created: false,
                    deleted: false,
                    uncertain: false,
                },
            );
            if roll < 0.50 {
                model.reordered += 1;
                Some((
                    hostname,
                    vec!["compute.instance.delete.start", "compute.instance.create.end"],
                ))
            } else {
                Some((hostname, vec!["compute.instance.create.end"]))
            }
        };
        let Some((hostname, events)) = plan else {
            continue;
        };
        let instance_id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_DNS, hostname.as_bytes()).to_string();
        for event_type in events {
            let Some(instance) = model.instances.get(&hostname).cloned() else {
                break;
            };
            let (id, body) = nova_message(event_type, &instance_id, &hostname, &instance);
            let limit = tokio::time::Instant::now() + PUBLISH_DEADLINE;
            let confirmed = publisher.publish_until("notifications.info", &id, &body, limit).await;
            let Some(entry) = model.instances.get_mut(&hostname) else {
                break;
            };
            if confirmed {
                model.published += 1;
                sent.push((id, body));
            } else {
                model.indefinite += 1;
                entry.uncertain = true;
            }
            if event_type == "compute.instance.create.end" {
                entry.created = true;
            } else {
                entry.deleted = true;
            }
        }
    }
    model
}

/// The sink zone's records this scenario's instances must end with, as `name type rdata` lines.
pub fn expected(model: &SinkModel, zone: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (hostname, i) in &model.instances {
        if i.created && !i.deleted && !i.uncertain {
            out.insert(format!("{hostname}.{zone} a {}", i.ipv4));
            out.insert(format!("{hostname}.{zone} aaaa {}", i.ipv6));
        }
    }
    out
}

/// The records of this scenario's instances a server serves in the sink zone (from an AXFR), leaving out
/// instances whose outcome is uncertain.
async fn served(addr: SocketAddr, zone: &str, model: &SinkModel, label: &str) -> anyhow::Result<BTreeSet<String>> {
    let suffix = format!("-{label}.{zone}");
    Ok(crate::checker::axfr_set(addr, zone)
        .await?
        .into_iter()
        .filter_map(|line| {
            let mut parts = line.splitn(4, ' ');
            let (name, _ttl, rtype, data) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
            let hostname = name.strip_suffix(&format!(".{zone}"))?;
            let skip = !name.ends_with(&suffix) || model.instances.get(hostname).is_some_and(|i| i.uncertain);
            (!skip && matches!(rtype, "a" | "aaaa")).then(|| format!("{name} {rtype} {data}"))
        })
        .collect())
}

/// Waits (until `deadline`) for every server to serve exactly the model's records; returns what is
/// still wrong (empty: all served).
pub async fn check(
    servers: &[(String, SocketAddr)],
    zone: &str,
    model: &SinkModel,
    label: &str,
    deadline: Duration,
) -> Vec<String> {
    let zone = zone.to_lowercase();
    let label = label.to_lowercase();
    let want = expected(model, &zone);
    let limit = tokio::time::Instant::now() + deadline;
    loop {
        let mut wrong = Vec::new();
        for (name, addr) in servers {
            match served(*addr, &zone, model, &label).await {
                Ok(got) if got == want => {}
                Ok(got) => {
                    let missing: Vec<&String> = want.difference(&got).take(3).collect();
                    let extra: Vec<&String> = got.difference(&want).take(3).collect();
                    wrong.push(format!(
                        "sink zone on {name}: {} of {} records missing {missing:?}, {} extra {extra:?}",
                        want.difference(&got).count(),
                        want.len(),
                        got.difference(&want).count()
                    ));
                }
                Err(e) => wrong.push(format!("sink zone on {name}: {e:#}")),
            }
        }
        if wrong.is_empty() || tokio::time::Instant::now() > limit {
            return wrong;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
