//! NATS subject and JetStream names. Plain functions of the configured prefix, shared by writers and readers.

use crate::ids::ZoneId;

/// The aggregate type of zones, as it appears in subjects and in the envelope.
pub const ZONE_AGGREGATE: &str = "zone";

/// Subject of one aggregate's commits: `<prefix>.events.<aggregate>.<id>`.
pub fn aggregate_events(prefix: &str, aggregate_type: &str, id: &str) -> String {
    format!("{prefix}.events.{aggregate_type}.{id}")
}

/// Subject of a zone's commits.
pub fn zone_events(prefix: &str, zone: ZoneId) -> String {
    aggregate_events(prefix, ZONE_AGGREGATE, &zone.to_string())
}

/// The aggregate type of the pool configuration (one aggregate: every pool).
pub const POOLS_AGGREGATE: &str = "pools";

/// Subject of the pool configuration's commits.
pub fn pools_events(prefix: &str) -> String {
    aggregate_events(prefix, POOLS_AGGREGATE, "all")
}

/// Wildcard covering every zone commit (what central projects).
pub fn all_zone_events(prefix: &str) -> String {
    format!("{prefix}.events.{ZONE_AGGREGATE}.>")
}

/// Wildcard covering every commit of every aggregate.
pub fn all_events(prefix: &str) -> String {
    format!("{prefix}.events.>")
}

/// Core-NATS subject on which central announces that an aggregate version is in the read models.
pub fn projected(prefix: &str, aggregate_type: &str, id: &str) -> String {
    format!("{prefix}.projected.{aggregate_type}.{id}")
}

/// Wildcard for every "projected" announcement.
pub fn all_projected(prefix: &str) -> String {
    format!("{prefix}.projected.>")
}

/// Subject of a zone's pending change in the ZONE_CHANGES work queue (one pending message per subject).
pub fn zone_change(prefix: &str, zone: ZoneId) -> String {
    format!("{prefix}.zone_changes.{zone}")
}

/// Wildcard covering the ZONE_CHANGES work queue.
pub fn all_zone_changes(prefix: &str) -> String {
    format!("{prefix}.zone_changes.>")
}
