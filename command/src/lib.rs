//! The write side of nsplane: the Zone aggregate, the event store on NATS JetStream, command
//! execution with optimistic-concurrency retries, and zone-name reservations.
//!
//! Only this crate appends to the event stream.

pub mod executor;
pub mod names;
pub mod naming;
pub mod nats;
pub mod pools;
pub mod quotas;
pub mod store;
pub mod zone;

pub use executor::{Committed, ExecuteError, ZoneExecutor};
pub use names::{ReserveError, ZoneNames};
pub use nats::{connect, NatsConfig, NatsVersionError};
pub use store::{AppendError, EventStore, StoreConfig};
pub use zone::{Zone, ZoneCommand, ZoneError, ZoneServices};
