//! The pool configuration aggregate: one commit per change of the whole `pools.yaml` (Designate's
//! `pool update --file`), validated before it is committed, so every instance of every role uses the
//! same pools and each change is in the audit trail. [`PoolsHandle`] is a process's view of the current
//! configuration, kept up to date by [`follow`].

use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use nsplane_schema::pools::{Pools, PoolsError, PoolsEvent, POOLS_AGGREGATE, POOLS_ID};
use nsplane_schema::Metadata;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tracing::{debug, error, info};

use crate::aggregate::{Decider, Domain};
use crate::executor::{ExecuteError, Executor};
use crate::store::EventStore;

/// The committed pool configuration: the aggregate.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PoolsConfig {
    /// The document, once configured.
    pub pools_yaml: Option<String>,
}

/// Commands on the pool configuration.
#[derive(Debug, Clone, PartialEq)]
pub enum PoolsCommand {
    /// Replaces the configuration (nothing happens when it is unchanged).
    Configure {
        /// The whole document, in Designate's `pools.yaml` format.
        pools_yaml: String,
    },
}

impl Aggregate for PoolsConfig {
    const TYPE: &'static str = POOLS_AGGREGATE;
    type Command = PoolsCommand;
    type Event = Domain<PoolsEvent>;
    type Error = PoolsError;
    type Services = ();

    async fn handle(&mut self, command: PoolsCommand, _: &(), sink: &EventSink<Self>) -> Result<(), PoolsError> {
        for event in self.decide(command, &(), Utc::now()).await? {
            sink.write(Domain(event), self).await;
        }
        Ok(())
    }

    fn apply(&mut self, Domain(event): Self::Event) {
        match event {
            PoolsEvent::PoolsConfigured { pools_yaml } => self.pools_yaml = Some(pools_yaml),
        }
    }
}

impl Decider for PoolsConfig {
    type Contract = PoolsEvent;

    fn command_name(_: &PoolsCommand) -> &'static str {
        "UpdatePools"
    }

    async fn decide(&self, command: PoolsCommand, _: &(), _now: DateTime<Utc>) -> Result<Vec<PoolsEvent>, PoolsError> {
        let PoolsCommand::Configure { pools_yaml } = command;
        Pools::parse(&pools_yaml)?;
        if self.pools_yaml.as_deref() == Some(pools_yaml.as_str()) {
            return Ok(Vec::new());
        }
        Ok(vec![PoolsEvent::PoolsConfigured { pools_yaml }])
    }

    fn evolve(&mut self, event: &PoolsEvent, _time: DateTime<Utc>) {
        self.apply(Domain(event.clone()));
    }

    fn not_found() -> PoolsError {
        PoolsError("no pools configured".into())
    }
}

/// Why a pool configuration could not be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum PoolsUpdateError {
    /// The document is not a valid pools file.
    #[error(transparent)]
    Invalid(#[from] PoolsError),
    /// The store failed.
    #[error("failed to commit the pool configuration: {0}")]
    Store(String),
}

impl From<ExecuteError<PoolsError>> for PoolsUpdateError {
    fn from(error: ExecuteError<PoolsError>) -> Self {
        match error {
            ExecuteError::Rejected(e) => PoolsUpdateError::Invalid(e),
            other => PoolsUpdateError::Store(other.to_string()),
        }
    }
}

/// Reading and changing the pool configuration.
#[derive(Clone)]
pub struct PoolsStore {
    executor: Arc<Executor<PoolsConfig>>,
}

impl PoolsStore {
    /// Over the event store.
    pub fn new(store: EventStore) -> Self {
        Self {
            executor: Arc::new(Executor::new(store, (), 16)),
        }
    }

    /// The configuration now: `(version, document)`, if pools were ever committed.
    pub async fn current(&self) -> Result<Option<(u64, String)>, PoolsUpdateError> {
        let (config, version) = self.executor.load(POOLS_ID).await?;
        Ok(config.pools_yaml.map(|yaml| (version, yaml)))
    }

    /// Commits a new configuration after validating it. Returns its version, or the current one when the
    /// configuration is unchanged.
    pub async fn update(&self, pools_yaml: &str, metadata: Metadata) -> Result<u64, PoolsUpdateError> {
        let command = PoolsCommand::Configure {
            pools_yaml: pools_yaml.to_owned(),
        };
        let committed = self.executor.execute(POOLS_ID, command, metadata, None).await?;
        Ok(committed.version)
    }

    /// A handle on the current configuration (which must exist).
    pub async fn handle(&self) -> Result<PoolsHandle, PoolsUpdateError> {
        let (version, yaml) = self.current().await?.ok_or_else(|| {
            PoolsError("no pools configured yet: run `nsplane pool update --file pools.yaml`, or pass --pools".into())
        })?;
        Ok(PoolsHandle::new(version, Pools::parse(&yaml)?))
    }
}

/// The pools a process uses, swapped when a new configuration is committed.
#[derive(Clone)]
pub struct PoolsHandle {
    current: Arc<RwLock<(u64, Arc<Pools>)>>,
}

impl PoolsHandle {
    /// A handle on a configuration of `version`.
    pub fn new(version: u64, pools: Pools) -> Self {
        Self {
            current: Arc::new(RwLock::new((version, Arc::new(pools)))),
        }
    }

    /// The configuration now.
    pub fn current(&self) -> Arc<Pools> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).1.clone()
    }

    /// Its version.
    pub fn version(&self) -> u64 {
        self.current.read().unwrap_or_else(|p| p.into_inner()).0
    }

    /// Replaces the configuration if `version` is newer.
    pub fn replace(&self, version: u64, pools: Pools) -> bool {
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        if version > current.0 {
            *current = (version, Arc::new(pools));
            true
        } else {
            false
        }
    }
}

/// How often a process looks for a new pool configuration.
const FOLLOW_EVERY: Duration = Duration::from_secs(2);

/// Keeps `handle` on the newest committed configuration until `shutdown` turns true.
pub async fn follow(store: PoolsStore, handle: PoolsHandle, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => return,
            _ = tokio::time::sleep(FOLLOW_EVERY) => {}
        }
        match store.current().await {
            Ok(Some((version, yaml))) if version > handle.version() => match Pools::parse(&yaml) {
                Ok(pools) => {
                    handle.replace(version, pools);
                    info!(version, "pool configuration updated");
                }
                Err(e) => error!(version, error = %e, "committed pool configuration does not parse"),
            },
            Ok(_) => {}
            Err(e) => debug!(error = %e, "could not read the pool configuration"),
        }
    }
}
