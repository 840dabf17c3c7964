//! Read-your-writes: a read waits (bounded) until the read models hold the versions this API
//! process committed. Central's "projected" announcements wake waiters; a short poll of the read
//! model covers announcements lost on the way (core NATS is at-most-once).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use deadpool_postgres::Pool;
use futures::StreamExt as _;
use nsplane_command::EventStore;
use nsplane_projection::read::projected_version;
use nsplane_schema::{subjects, ZoneId};
use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::{debug, warn};

/// Poll interval of the read model while waiting.
const POLL_EVERY: Duration = Duration::from_millis(25);
/// At most this many unconfirmed writes are tracked; the oldest are dropped beyond it.
const PENDING_MAX: usize = 100_000;

/// The writes of this process not yet confirmed as projected.
#[derive(Default)]
pub struct Consistency {
    pending: Mutex<HashMap<ZoneId, u64>>,
    notify: Notify,
}

#[derive(serde::Deserialize)]
struct Projected {
    zone_id: ZoneId,
    version: u64,
}

impl Consistency {
    /// Listens to central's announcements until the subscription ends.
    pub async fn listen(self: std::sync::Arc<Self>, client: async_nats::Client, prefix: String) -> anyhow::Result<()> {
        let mut subscription = client.subscribe(subjects::all_projected(&prefix)).await?;
        while let Some(message) = subscription.next().await {
            match serde_json::from_slice::<Projected>(&message.payload) {
                Ok(p) => self.confirm(p.zone_id, p.version),
                Err(e) => debug!(error = %e, "undecodable projected announcement"),
            }
        }
        Ok(())
    }

    /// Records a commit of this process.
    pub fn committed(&self, zone_id: ZoneId, version: u64) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if pending.len() >= PENDING_MAX {
            // Forgetting only weakens read-your-writes for the oldest writes, which are long projected.
            pending.clear();
        }
        let entry = pending.entry(zone_id).or_insert(0);
        *entry = (*entry).max(version);
    }

    fn confirm(&self, zone_id: ZoneId, version: u64) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if pending.get(&zone_id).is_some_and(|&wanted| wanted <= version) {
            pending.remove(&zone_id);
            drop(pending);
            self.notify.notify_waiters();
        }
    }

    fn wanted(&self, zone_id: ZoneId) -> Option<u64> {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&zone_id)
            .copied()
    }

    /// Waits until the zone's writes by this process are projected, or `limit` passes.
    pub async fn wait_zone(&self, pool: &Pool, zone_id: ZoneId, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let notified = self.notify.notified();
            let Some(wanted) = self.wanted(zone_id) else {
                return;
            };
            if tokio::time::timeout(POLL_EVERY, notified).await.is_err() {
                if let Ok(client) = pool.get().await {
                    if let Ok(version) =
                        projected_version(&**client, subjects::ZONE_AGGREGATE, &zone_id.to_string()).await
                    {
                        self.confirm(zone_id, version);
                    }
                }
            }
            if Instant::now() > deadline {
                warn!(%zone_id, wanted, "read-your-writes wait timed out; answering from the read model as it is");
                return;
            }
        }
    }

    /// Read-your-writes across API instances for one zone: learns the zone's latest committed version
    /// from the event stream (one direct read), and waits until the read models hold it. Costs a round
    /// trip to NATS and one to PostgreSQL; used for reads of one zone.
    pub async fn wait_zone_latest(&self, store: &EventStore, pool: &Pool, zone_id: ZoneId, limit: Duration) {
        if self.wanted(zone_id).is_none() {
            let subject = subjects::zone_events(&store.config().prefix, zone_id);
            match store.last_on_subject(&subject).await {
                Ok(Some(last)) => {
                    let projected = match pool.get().await {
                        Ok(client) => projected_version(&**client, subjects::ZONE_AGGREGATE, &zone_id.to_string())
                            .await
                            .ok(),
                        Err(_) => None,
                    };
                    if projected.is_some_and(|p| p >= last.envelope.version) {
                        return;
                    }
                    self.committed(zone_id, last.envelope.version);
                }
                Ok(None) => return,
                Err(e) => debug!(%zone_id, error = format!("{e:#}"), "could not read the zone's latest version"),
            }
        }
        self.wait_zone(pool, zone_id, limit).await;
    }

    /// Waits until every write of this process is projected (for lists across zones).
    pub async fn wait_all(&self, pool: &Pool, limit: Duration) {
        let deadline = Instant::now() + limit;
        let zones: Vec<ZoneId> = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .copied()
            .collect();
        for zone_id in zones {
            let left = deadline.saturating_duration_since(Instant::now());
            self.wait_zone(pool, zone_id, left).await;
        }
    }
}
