//! Every NATS name nsplane uses, derived from the configured prefix in one place: the event stream and
//! its subjects, the zone-change work queue, the durable consumers, the KV buckets and the core-NATS
//! announcement subjects. Writers and readers of a name both call this module, so they cannot disagree.

use std::fmt::Write as _;

/// Why a prefix was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("prefix {prefix:?} must be 1 to 32 letters, digits, '_' or '-'")]
pub struct PrefixError {
    /// The prefix given.
    pub prefix: String,
}

/// The KV buckets nsplane keeps. Each holds only state that needs a race-free `create` and can be rebuilt
/// from the event stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// Zone-name reservations: one key per live zone name (`create` makes a name unique).
    ZoneNames,
    /// The `zones` quota as numbered slots per project (`create` makes the last slot go to one zone).
    /// Before every change became an event it also held quota overrides (`overrides.*`), which are
    /// migrated into the stream once.
    Quotas,
    /// TLDs and blacklists, before they became events: read once to migrate them, then removed.
    LegacyNaming,
    /// Service statuses: one key per running instance of a role, refreshed by its heartbeat (liveness,
    /// not state: nothing here is an event).
    Services,
    /// The producers' leases on ranges of zone shards, and their membership entries: every entry
    /// expires by its own TTL unless its holder renews it (liveness, not state).
    Leases,
}

impl Bucket {
    fn suffix(self) -> &'static str {
        match self {
            Bucket::ZoneNames => "zone_names",
            Bucket::Quotas => "quotas",
            Bucket::LegacyNaming => "naming",
            Bucket::Services => "services",
            Bucket::Leases => "leases",
        }
    }
}

/// The names of one nsplane deployment (one prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    prefix: String,
    /// The prefix as it appears in stream, consumer and bucket names (which allow no `.` or `-`).
    token: String,
}

impl Layout {
    /// The layout of `prefix` (letters, digits, `_` and `-`, at most 32 characters).
    pub fn new(prefix: &str) -> Result<Self, PrefixError> {
        let valid = (1..=32).contains(&prefix.len())
            && prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            return Err(PrefixError {
                prefix: prefix.to_owned(),
            });
        }
        Ok(Self {
            prefix: prefix.to_owned(),
            token: prefix.replace(['.', '-'], "_"),
        })
    }

    /// The prefix of every subject.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The event stream: `<PREFIX>_EVENTS`.
    pub fn events_stream(&self) -> String {
        format!("{}_EVENTS", self.token.to_uppercase())
    }

    /// The zone-change work queue: `<PREFIX>_ZONE_CHANGES`.
    pub fn zone_changes_stream(&self) -> String {
        format!("{}_ZONE_CHANGES", self.token.to_uppercase())
    }

    /// The durable consumer every central instance shares.
    pub fn central_consumer(&self) -> String {
        format!("{}_central", self.token)
    }

    /// The notifications nsplane emits, for NATS subscribers: `<PREFIX>_NOTIFICATIONS`.
    pub fn notifications_stream(&self) -> String {
        format!("{}_NOTIFICATIONS", self.token.to_uppercase())
    }

    /// Subject of a notification: `<prefix>.notifications.<event type>` (`dns.zone.create`, …).
    pub fn notification_subject(&self, event_type: &str) -> String {
        format!("{}.notifications.{event_type}", self.prefix)
    }

    /// Wildcard covering every notification.
    pub fn all_notifications(&self) -> String {
        format!("{}.notifications.>", self.prefix)
    }

    /// The durable consumer of the event stream every notifier shares.
    pub fn notifier_consumer(&self) -> String {
        format!("{}_notifier", self.token)
    }

    /// Compute and network notifications for the sink, published on NATS: `<PREFIX>_SINK`.
    pub fn sink_stream(&self) -> String {
        format!("{}_SINK", self.token.to_uppercase())
    }

    /// Wildcard of the sink's NATS input: `<prefix>.sink.>` (publishers choose the rest, e.g.
    /// `<prefix>.sink.nova`).
    pub fn all_sink_inputs(&self) -> String {
        format!("{}.sink.>", self.prefix)
    }

    /// The durable consumer of the sink's NATS input every sink shares.
    pub fn sink_consumer(&self) -> String {
        format!("{}_sink", self.token)
    }

    /// The durable consumer every worker instance shares.
    pub fn worker_consumer(&self) -> String {
        format!("{}_worker", self.token)
    }

    /// A KV bucket's name.
    pub fn bucket(&self, bucket: Bucket) -> String {
        format!("{}_{}", self.token, bucket.suffix())
    }

    /// Subject of one aggregate's commits: `<prefix>.events.<aggregate type>.<id token>`.
    pub fn events_subject(&self, aggregate_type: &str, aggregate_id: &str) -> String {
        format!(
            "{}.events.{aggregate_type}.{}",
            self.prefix,
            subject_token(aggregate_id)
        )
    }

    /// Wildcard covering every commit of every aggregate (what the event stream holds).
    pub fn all_events(&self) -> String {
        format!("{}.events.>", self.prefix)
    }

    /// Wildcard covering every commit of one aggregate type.
    pub fn all_events_of(&self, aggregate_type: &str) -> String {
        format!("{}.events.{aggregate_type}.>", self.prefix)
    }

    /// Subject of a zone's pending change in the zone-change work queue (one pending message per subject).
    pub fn zone_change_subject(&self, zone: crate::ZoneId) -> String {
        format!("{}.zone_changes.{zone}", self.prefix)
    }

    /// Wildcard covering the zone-change work queue.
    pub fn all_zone_changes(&self) -> String {
        format!("{}.zone_changes.>", self.prefix)
    }

    /// Core-NATS subject on which central announces that an aggregate version is in the read models.
    pub fn projected_subject(&self, aggregate_type: &str, aggregate_id: &str) -> String {
        format!(
            "{}.projected.{aggregate_type}.{}",
            self.prefix,
            subject_token(aggregate_id)
        )
    }

    /// Wildcard for every "projected" announcement.
    pub fn all_projected(&self) -> String {
        format!("{}.projected.>", self.prefix)
    }
}

/// An aggregate id as one subject token. Ids made of letters, digits, `_` and `-` (every UUID) are used
/// as they are; any other id (an opaque project id, say) becomes `~` and its bytes in hex, which cannot
/// collide with an id used as it is.
pub fn subject_token(id: &str) -> String {
    let plain =
        !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if plain {
        return id.to_owned();
    }
    let mut token = String::with_capacity(1 + 2 * id.len());
    token.push('~');
    for byte in id.bytes() {
        let _ = write!(token, "{byte:02x}");
    }
    token
}

/// The aggregate id a subject token stands for (the inverse of [`subject_token`]); `None` for a token
/// no id becomes.
pub fn id_of_token(token: &str) -> Option<String> {
    let Some(hex) = token.strip_prefix('~') else {
        return (subject_token(token) == token).then(|| token.to_owned());
    };
    if hex.len() % 2 != 0 {
        return None;
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    let id = String::from_utf8(bytes).ok()?;
    (subject_token(&id) == token).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_read_back_as_their_ids() {
        for id in [
            "9f1c3a2e-0000-4000-8000-000000000001",
            "ops",
            "project with spaces",
            "é.x",
            "~",
        ] {
            assert_eq!(id_of_token(&subject_token(id)).as_deref(), Some(id), "{id}");
        }
        // Not made by subject_token: odd hex, bad hex, a plain id spelled in hex, a dot.
        for token in ["~6", "~zz", "~6f7073", "a.b", ""] {
            assert_eq!(id_of_token(token), None, "{token}");
        }
    }

    #[test]
    fn names_keep_the_spelling_data_dirs_already_have() {
        let layout = Layout::new("nsplane").expect("prefix");
        assert_eq!(layout.events_stream(), "NSPLANE_EVENTS");
        assert_eq!(layout.zone_changes_stream(), "NSPLANE_ZONE_CHANGES");
        assert_eq!(layout.central_consumer(), "nsplane_central");
        assert_eq!(layout.worker_consumer(), "nsplane_worker");
        assert_eq!(layout.bucket(Bucket::ZoneNames), "nsplane_zone_names");
        assert_eq!(layout.bucket(Bucket::Quotas), "nsplane_quotas");
        let zone = crate::ZoneId(uuid::Uuid::from_u128(1));
        assert_eq!(
            layout.events_subject("zone", &zone.to_string()),
            "nsplane.events.zone.00000000-0000-0000-0000-000000000001"
        );
        assert_eq!(layout.events_subject("pools", "all"), "nsplane.events.pools.all");
        let dashed = Layout::new("my-dns").expect("prefix");
        assert_eq!(dashed.events_stream(), "MY_DNS_EVENTS");
        assert_eq!(dashed.bucket(Bucket::Quotas), "my_dns_quotas");
    }

    #[test]
    fn odd_ids_become_hex_tokens_that_cannot_collide() {
        assert_eq!(subject_token("noauth-project"), "noauth-project");
        assert_eq!(subject_token("a.b"), "~612e62");
        assert_eq!(subject_token("~61"), "~7e3631");
        assert_eq!(subject_token(""), "~");
        assert_ne!(subject_token("a b"), subject_token("a_b"));
    }

    #[test]
    fn bad_prefixes_are_refused() {
        for bad in ["", "a.b", "a b", "a*", &"x".repeat(33)] {
            assert!(Layout::new(bad).is_err(), "{bad:?}");
        }
    }
}
