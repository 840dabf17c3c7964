//! Messages that are not commits: what central leaves for the worker on the zone-change work queue, and
//! what it announces when an aggregate version has reached the read models.

use serde::{Deserialize, Serialize};

use crate::ZoneId;

/// The zone-change work queue's message: the newest projected state of a zone. One pending message per
/// zone; a newer one replaces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneChange {
    /// The zone.
    pub zone_id: ZoneId,
    /// Its aggregate version in the read models.
    pub version: u64,
    /// Its stream sequence.
    pub stream_seq: u64,
}

/// Central's "projected" announcement (core NATS, at most once): the read models hold this aggregate
/// at this version. A hint for read-your-writes waiters; losing one only delays a reader's poll.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Projected {
    /// The aggregate kind.
    pub aggregate_type: String,
    /// The aggregate id.
    pub aggregate_id: String,
    /// The version the read models hold.
    pub version: u64,
}
