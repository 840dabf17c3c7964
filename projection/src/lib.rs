//! The read side of nsplane: `central` projects the event stream into PostgreSQL read models, one
//! projector per aggregate kind (zones and their journal, the pools, the naming rules, quotas), and
//! [`read::ReadModels`] answers every query on them, the data plane's included.
//!
//! Only this crate reads or writes read-model tables, and it never appends to the event stream.

pub mod apply;
pub mod central;
pub mod db;
pub mod projectors;
pub mod read;
pub mod replay;

pub use apply::{apply_batch, Delivered, Outcome};
pub use central::CentralConfig;
pub use db::{connect_pool, migrate, PgConfig};
pub use projectors::{Projector, Projectors};
pub use read::ReadModels;
