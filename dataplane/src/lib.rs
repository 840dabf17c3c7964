//! The nsplane data plane: `mdns` serves zones (SOA, queries, AXFR, IXFR, catalog zones) from the read
//! models to the pool's DNS servers, and `worker` makes those servers serve each change (backend calls,
//! NOTIFY, serial polls) and reports the outcome as a command.
//!
//! Only this crate knows the DNS wire format.

pub mod backends;
pub mod client;
pub mod mdns;
pub mod records;
pub mod tsig;
pub mod worker;
pub mod zonedata;

pub use mdns::Mdns;
pub use worker::{Worker, WorkerConfig};
pub use zonedata::ZoneSource;
