//! The read side of nsplane: `central` projects the event stream into PostgreSQL read models (zones,
//! record sets, audit rows, the IXFR journal), and the `read` module answers queries on them.
//!
//! Only this crate writes read-model tables, and it never appends to the event stream.

pub mod apply;
pub mod central;
pub mod db;
pub mod read;

pub use apply::{apply_batch, Outcome};
pub use central::{CentralConfig, ZoneChange};
pub use db::{connect_pool, migrate, PgConfig};
