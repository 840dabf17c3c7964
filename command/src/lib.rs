//! The write side of nsplane: the aggregates (zones, the pool configuration, the naming rules, each
//! project's quotas), the event store on NATS JetStream, the generic executor (decide, append with
//! optimistic concurrency, retry), the race-free claims in JetStream KV (zone names, quota slots), and
//! the workflows every caller shares ([`service::Commands`]), and the rebuild of those claims from the
//! stream ([`claims`]).
//!
//! Only this crate appends to the event stream.

pub mod aggregate;
pub mod claims;
pub mod executor;
pub mod exports;
pub mod imports;
mod kv;
pub mod leases;
pub mod legacy;
pub mod log;
pub mod names;
pub mod naming;
pub mod pools;
pub mod quotas;
pub mod service;
pub mod services;
pub mod store;
pub mod tsigkeys;
pub mod zone;

pub use aggregate::{Decider, Domain};
pub use executor::{Committed, ExecuteError, Executor};
pub use names::{ReserveError, ZoneNames};
pub use pools::{PoolsHandle, PoolsStore};
pub use service::{Actor, Commands};
pub use store::{AppendError, EventStore, StoreConfig};
pub use zone::{RevertTarget, Zone, ZoneCommand, ZoneError, ZoneServices};
