//! Service statuses, as Designate's `/v2/service_statuses` shows them: every running instance of every
//! role heartbeats its entry into a KV bucket every [`HEARTBEAT_EVERY`]; an entry not refreshed for
//! [`DOWN_AFTER`] reads as DOWN, and the bucket forgets it [`FORGET_AFTER`] after its last heartbeat
//! (the bucket's age limit). A role that stops cleanly says STOPPED first. Liveness, not state: these
//! are not events.

use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::kv;
use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use nsplane_schema::layout::Bucket;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tracing::{info, warn};
use uuid::Uuid;

use crate::store::EventStore;

/// How often an instance heartbeats.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);
/// An instance that missed three heartbeats reads as DOWN.
pub const DOWN_AFTER: Duration = Duration::from_secs(15);
/// An instance that has not heartbeated for this long is forgotten.
pub const FORGET_AFTER: Duration = Duration::from_secs(3600);

/// One instance of a role, as `/v2/service_statuses` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceStatus {
    /// The instance's id (new each time a process starts).
    pub id: String,
    /// The role: `api`, `central`, `mdns`, `worker`, …
    pub service_name: String,
    /// The host it runs on.
    pub hostname: String,
    /// `UP`, `DOWN` (no heartbeat for [`DOWN_AFTER`]) or `STOPPED` (stopped cleanly).
    pub status: String,
    /// Figures the role reports (none yet).
    pub stats: serde_json::Value,
    /// What the role can do (none yet).
    pub capabilities: serde_json::Value,
    /// Its last heartbeat.
    pub heartbeated_at: DateTime<Utc>,
    /// When the instance started.
    pub created_at: DateTime<Utc>,
}

impl ServiceStatus {
    /// The entry as it reads at `now`: an UP entry whose heartbeat is older than [`DOWN_AFTER`] is DOWN.
    pub fn at(mut self, now: DateTime<Utc>) -> ServiceStatus {
        let silent = now.signed_duration_since(self.heartbeated_at);
        if self.status == "UP" && silent.to_std().is_ok_and(|s| s > DOWN_AFTER) {
            "DOWN".clone_into(&mut self.status);
        }
        self
    }
}

/// The bucket of service statuses (created if needed, with the event stream's replicas): its age
/// limit forgets silent instances.
async fn bucket(store: &EventStore) -> anyhow::Result<kv::Store> {
    store
        .open_bucket_with(Bucket::Services, |config| config.max_age = FORGET_AFTER)
        .await
}

/// This machine's host name.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Heartbeats `service_name`'s entry until `shutdown` turns true, then marks it STOPPED. NATS being
/// unreachable is logged once when it starts and once when it ends; the heartbeat goes on.
pub async fn heartbeat(
    store: EventStore,
    service_name: String,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut status = ServiceStatus {
        id: Uuid::new_v4().to_string(),
        service_name,
        hostname: hostname(),
        status: "UP".to_owned(),
        stats: serde_json::json!({}),
        capabilities: serde_json::json!({}),
        heartbeated_at: Utc::now(),
        created_at: Utc::now(),
    };
    let mut kv = None;
    let mut outage = nsplane_runtime::ops::Outage::new("heartbeat into the service statuses");
    info!(id = %status.id, service = %status.service_name, "heartbeating");
    loop {
        let stopping = *shutdown.borrow();
        if stopping {
            "STOPPED".clone_into(&mut status.status);
        }
        status.heartbeated_at = Utc::now();
        let beat = async {
            if kv.is_none() {
                kv = Some(bucket(&store).await?);
            }
            let body = serde_json::to_vec(&status)?;
            if let Some(kv) = &kv {
                kv.put(&status.id, body.into()).await?;
            }
            anyhow::Ok(())
        };
        match tokio::time::timeout(HEARTBEAT_EVERY, beat).await {
            Ok(Ok(())) => outage.worked(),
            Ok(Err(e)) => outage.failed(&format!("{e:#}")),
            Err(_) => outage.failed("timed out"),
        }
        if stopping {
            return Ok(());
        }
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => {}
            _ = tokio::time::sleep(HEARTBEAT_EVERY) => {}
        }
    }
}

/// Every instance the bucket still remembers, as it reads now (oldest first).
pub async fn statuses(store: &EventStore) -> anyhow::Result<Vec<ServiceStatus>> {
    let kv = bucket(store).await?;
    let mut keys = kv.keys().await.context("failed to list the service statuses")?;
    let now = Utc::now();
    let mut out = Vec::new();
    while let Some(key) = keys.next().await {
        let key = key.context("failed to list the service statuses")?;
        let Some(value) = kv.get(&key).await.context("failed to read a service status")? else {
            continue;
        };
        match serde_json::from_slice::<ServiceStatus>(&value) {
            Ok(status) => out.push(status.at(now)),
            Err(e) => warn!(key, error = %e, "unreadable service status; skipped"),
        }
    }
    out.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_without_heartbeats_reads_as_down() {
        let now = Utc::now();
        let entry = |status: &str, age_s: i64| ServiceStatus {
            id: "i".into(),
            service_name: "central".into(),
            hostname: "h".into(),
            status: status.into(),
            stats: serde_json::json!({}),
            capabilities: serde_json::json!({}),
            heartbeated_at: now - chrono::Duration::seconds(age_s),
            created_at: now,
        };
        assert_eq!(entry("UP", 4).at(now).status, "UP");
        assert_eq!(entry("UP", 16).at(now).status, "DOWN");
        assert_eq!(entry("STOPPED", 100).at(now).status, "STOPPED");
    }
}
