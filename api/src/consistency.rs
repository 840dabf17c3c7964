//! Read-your-writes: a read waits (bounded) until the read models hold the aggregate versions this API
//! process committed. Central's "projected" announcements wake waiters; a short poll of the read model
//! covers announcements lost on the way (core NATS is at-most-once).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use futures::StreamExt as _;
use nsplane_command::EventStore;
use nsplane_projection::ReadModels;
use nsplane_schema::messages::Projected;
use nsplane_schema::{Event, Layout};
use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::{debug, warn};

/// Poll interval of the read model while waiting.
const POLL_EVERY: Duration = Duration::from_millis(25);
/// At most this many unconfirmed writes are tracked; the oldest are dropped beyond it.
const PENDING_MAX: usize = 100_000;

/// An aggregate: its kind and id.
type Key = (String, String);

/// The writes of this process not yet confirmed as projected.
#[derive(Default)]
pub struct Consistency {
    pending: Mutex<HashMap<Key, u64>>,
    notify: Notify,
}

impl Consistency {
    /// Listens to central's announcements until the subscription ends.
    pub async fn listen(self: std::sync::Arc<Self>, client: async_nats::Client, layout: Layout) -> anyhow::Result<()> {
        let mut subscription = client.subscribe(layout.all_projected()).await?;
        while let Some(message) = subscription.next().await {
            match serde_json::from_slice::<Projected>(&message.payload) {
                Ok(p) => self.confirm(&p.aggregate_type, &p.aggregate_id, p.version),
                Err(e) => debug!(error = %e, "undecodable projected announcement"),
            }
        }
        Ok(())
    }

    /// Records a commit of this process on an aggregate of kind `E`.
    pub fn committed<E: Event>(&self, id: &str, version: u64) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if pending.len() >= PENDING_MAX {
            // Forgetting only weakens read-your-writes for the oldest writes, which are long projected.
            pending.clear();
        }
        let entry = pending
            .entry((E::AGGREGATE_TYPE.to_owned(), id.to_owned()))
            .or_insert(0);
        *entry = (*entry).max(version);
    }

    fn confirm(&self, kind: &str, id: &str, version: u64) {
        let key = (kind.to_owned(), id.to_owned());
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if pending.get(&key).is_some_and(|&wanted| wanted <= version) {
            pending.remove(&key);
            drop(pending);
            self.notify.notify_waiters();
        }
    }

    fn wanted(&self, key: &Key) -> Option<u64> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).get(key).copied()
    }

    /// Waits until this process's writes to an aggregate are projected, or `limit` passes.
    async fn wait_key(&self, read: &ReadModels, key: &Key, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let notified = self.notify.notified();
            let Some(wanted) = self.wanted(key) else {
                return;
            };
            if tokio::time::timeout(POLL_EVERY, notified).await.is_err() {
                if let Ok(version) = read.projected_version(&key.0, &key.1).await {
                    self.confirm(&key.0, &key.1, version);
                }
            }
            if Instant::now() > deadline {
                warn!(aggregate = %key.0, id = %key.1, wanted, "read-your-writes wait timed out; answering from the read model as it is");
                return;
            }
        }
    }

    /// Read-your-writes across API instances for one aggregate: learns its latest committed version
    /// from the event stream (one direct read), and waits until the read models hold it. Costs a round
    /// trip to NATS and one to PostgreSQL; used for reads of one aggregate.
    pub async fn wait_latest<E: Event>(&self, store: &EventStore, read: &ReadModels, id: &str, limit: Duration) {
        let key = (E::AGGREGATE_TYPE.to_owned(), id.to_owned());
        if self.wanted(&key).is_none() {
            match store.last::<E>(id).await {
                Ok(Some(last)) => {
                    let projected = read.projected_version(E::AGGREGATE_TYPE, id).await.ok();
                    if projected.is_some_and(|p| p >= last.envelope.version) {
                        return;
                    }
                    self.committed::<E>(id, last.envelope.version);
                }
                Ok(None) => return,
                Err(e) => debug!(
                    aggregate = E::AGGREGATE_TYPE,
                    id,
                    error = format!("{e:#}"),
                    "could not read the latest version"
                ),
            }
        }
        self.wait_key(read, &key, limit).await;
    }

    /// Waits until every write of this process is projected (for lists across aggregates).
    pub async fn wait_all(&self, read: &ReadModels, limit: Duration) {
        let deadline = Instant::now() + limit;
        let keys: Vec<Key> = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect();
        for key in keys {
            let left = deadline.saturating_duration_since(Instant::now());
            self.wait_key(read, &key, left).await;
        }
    }
}
