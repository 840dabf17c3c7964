//! The contract of nsplane: identifiers, validated domain values, the versioned event envelope and
//! events, subject and table names, and the SQL migrations of the read models.
//!
//! This crate does no I/O. `command` and `projection` meet only through what is defined here.

pub mod event;
pub mod ids;
pub mod migrations;
pub mod name;
pub mod rdata;
pub mod subjects;
pub mod ttl;

pub use event::{CommitEnvelope, Metadata, ZoneEvent, ENVELOPE_VERSION};
pub use ids::{PoolId, ProjectId, RecordsetId, RequestId, ZoneId};
pub use name::{DnsName, NameError, RecordsetName, ZoneName};
pub use rdata::{RdataError, RecordType};
pub use ttl::{Ttl, TtlError};
