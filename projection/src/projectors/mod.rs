//! Projectors: one per aggregate kind, each turning its kind's commits into its read-model rows. Central
//! and [`crate::apply::apply_batch`] dispatch a batch's commits by kind and do everything every kind
//! shares (the version check that makes redelivery harmless, audit rows, "projected" announcements); a
//! new kind of aggregate adds its projector to [`Projectors`] and nothing else here changes.

use std::collections::HashMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use nsplane_schema::messages::ZoneChange;

use crate::apply::Delivered;

pub mod exports;
pub mod imports;
pub mod naming;
pub mod pools;
pub mod quotas;
pub mod tsigkeys;
pub mod zone;

/// The transaction a batch is applied in.
pub type Txn<'a> = deadpool_postgres::Transaction<'a>;

/// Turns one aggregate kind's commits into read-model rows.
pub trait Projector: Send + Sync + 'static {
    /// The kind, as in envelopes (`zone`).
    fn aggregate_type(&self) -> &'static str;

    /// Writes the read-model changes of `commits` inside the batch's transaction. The commits are all of
    /// this kind, in stream order, and each is the next version of its aggregate. An error rolls the
    /// whole batch back.
    fn apply<'a>(&'a self, txn: &'a Txn<'a>, commits: &'a [&'a Delivered]) -> BoxFuture<'a, anyhow::Result<()>>;

    /// What to publish once `commit` is in the read models. Asked again when a commit already applied is
    /// delivered again, so a crash between the transaction and the publication loses nothing.
    fn after_commit(&self, commit: &Delivered) -> Option<ZoneChange> {
        let _ = commit;
        None
    }
}

/// The projectors central runs, by kind.
#[derive(Clone)]
pub struct Projectors {
    by_type: HashMap<&'static str, Arc<dyn Projector>>,
}

impl Projectors {
    /// No projectors.
    pub fn empty() -> Self {
        Self {
            by_type: HashMap::new(),
        }
    }

    /// Every kind nsplane has: zones, the pool configuration, the naming rules, quotas, TSIG keys, exports, imports.
    pub fn standard() -> Self {
        Self::empty()
            .with(zone::ZoneProjector)
            .with(pools::PoolsProjector)
            .with(naming::NamingProjector)
            .with(quotas::QuotaProjector)
            .with(tsigkeys::TsigKeyProjector)
            .with(exports::ExportProjector)
            .with(imports::ImportProjector)
    }

    /// Adds (or replaces) the projector of a kind.
    pub fn with(mut self, projector: impl Projector) -> Self {
        self.by_type.insert(projector.aggregate_type(), Arc::new(projector));
        self
    }

    /// The projector of a kind.
    pub fn get(&self, aggregate_type: &str) -> Option<&Arc<dyn Projector>> {
        self.by_type.get(aggregate_type)
    }
}
