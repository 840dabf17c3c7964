//! The contract of nsplane: identifiers, validated domain values (names, TTLs, e-mail addresses, record
//! data), the generic commit envelope and each aggregate kind's events, the names of every stream,
//! subject, consumer and bucket, the messages that are not commits, and the SQL migrations of the read
//! models.
//!
//! This crate does no I/O. `command` and `projection` meet only through what is defined here.

pub mod email;
pub mod envelope;
pub mod exports;
pub mod ids;
pub mod imports;
pub mod layout;
pub mod messages;
pub mod migrations;
pub mod name;
pub mod naming;
pub mod pools;
pub mod quotas;
pub mod rdata;
pub mod serial;
pub mod status;
pub mod tsigkeys;
pub mod ttl;
pub mod zone;
pub mod zonefile;

pub use envelope::{CommitEnvelope, Event, Metadata, RawCommit, ENVELOPE_VERSION};
pub use ids::{PoolId, ProjectId, RecordsetId, RequestId, ZoneId};
pub use layout::Layout;
pub use name::{DnsName, NameError, RecordsetName, ZoneName};
pub use rdata::{RdataError, RecordData, RecordType, Records};
pub use status::{Action, NameserverStatus, Status};
pub use ttl::{Ttl, TtlError};
pub use zone::ZoneEvent;
