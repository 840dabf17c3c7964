//! The commit envelope: one per command, one JetStream message on the aggregate's subject, for every
//! kind of aggregate. It carries the aggregate's new version, the command's events, and who asked, why
//! and when. The envelope is generic over the event type, so a new aggregate kind brings its event enum
//! and nothing here changes; readers that serve every kind (central, the audit rows, tools) decode the
//! envelope with raw events and let the kind's own code decode those.
//!
//! Changing a serialized shape here changes the contract: add a new `.vN` event variant, never edit an
//! existing one. The golden files under `tests/golden/` hold one example per type and version.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::ids::{ProjectId, RequestId};

/// Version of the envelope layout itself.
pub const ENVELOPE_VERSION: u32 = 1;

/// An event type of one aggregate kind: a serde enum tagged `"type": "<Name>.v<N>"`.
pub trait Event: Serialize + DeserializeOwned + Clone + std::fmt::Debug + PartialEq + Send + Sync + 'static {
    /// The aggregate kind whose events these are, as it appears in subjects and envelopes (`zone`).
    const AGGREGATE_TYPE: &'static str;

    /// The event's type name without its version, e.g. `RecordsetCreated`.
    fn event_type(&self) -> &'static str;

    /// The event's schema version.
    fn event_version(&self) -> u32 {
        1
    }
}

/// Who asked for a command, why and when. Stored with every commit; the audit trail is made of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// The caller's project (after sudo, the effective project).
    pub project_id: ProjectId,
    /// The caller's user id.
    pub user_id: String,
    /// The caller's roles.
    pub roles: Vec<String>,
    /// The request that caused the command; retries carry the same id.
    pub request_id: RequestId,
    /// The role that issued the command: `api`, `worker`, `producer`, `sink`, or a tool.
    pub source_role: String,
    /// The command's name, e.g. `CreateRecordset`.
    pub command: String,
    /// When the command was decided.
    pub time: DateTime<Utc>,
    /// The producer's lease the command was issued under (absent for everyone else's commands).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fence: Option<Fence>,
}

/// A producer's hold on a range of shards: the lease's key and its fencing token, the revision of the
/// KV entry that created it. A later holder of the same lease always has a higher token, so a commit
/// carrying an older token than one the aggregate has already accepted, or than the lease's current
/// one, is refused.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Fence {
    /// The lease's key, e.g. `range.07`.
    pub lease: String,
    /// The revision that created the holder's lease.
    pub token: u64,
}

impl Metadata {
    /// Metadata of a command that a role or tool issues on its own behalf (not a user's request): the
    /// `nsplane` service project, the admin role, a fresh request id.
    pub fn service(source_role: &str) -> Self {
        Self {
            project_id: ProjectId("nsplane".into()),
            user_id: format!("nsplane-{source_role}"),
            roles: vec!["admin".into()],
            request_id: RequestId::generate(),
            source_role: source_role.to_owned(),
            command: String::new(),
            time: Utc::now(),
            fence: None,
        }
    }
}

/// One command's commit: every event it produced, atomically, as one message on the aggregate's subject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommitEnvelope<E> {
    /// Layout version of this envelope ([`ENVELOPE_VERSION`]).
    pub envelope_version: u32,
    /// The aggregate kind, e.g. `zone`.
    pub aggregate_type: String,
    /// The aggregate id.
    pub aggregate_id: String,
    /// The aggregate's version after this commit: 1 for the first commit, then +1 per commit.
    pub version: u64,
    /// The events, in the order they were decided.
    pub events: Vec<E>,
    /// Who, why, when.
    pub metadata: Metadata,
}

/// An event not decoded yet: its JSON text, as stored.
pub type RawEvent = Box<RawValue>;

/// A commit whose events are not decoded yet: what readers of every aggregate kind see.
pub type RawCommit = CommitEnvelope<RawEvent>;

/// Why a stored commit could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not an envelope, nor a legacy shape that reads as one.
    #[error("not a commit envelope: {0}")]
    NotAnEnvelope(#[source] serde_json::Error),
    /// An envelope of a layout this build does not know.
    #[error("envelope version {0} is newer than this build understands ({ENVELOPE_VERSION})")]
    UnknownVersion(u32),
    /// The envelope is of another aggregate kind than the reader expected.
    #[error("a commit of {found} where {expected} was expected")]
    WrongKind {
        /// The kind the reader decodes.
        expected: &'static str,
        /// The kind the envelope names.
        found: String,
    },
    /// An event did not decode as the kind's event type.
    #[error("event {index} ({tag}) does not decode: {source}")]
    Event {
        /// Its position in the commit.
        index: usize,
        /// Its `type` tag, if it has one.
        tag: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}

/// The pool configuration's commits before the envelope was generic: the whole `pools.yaml` as one
/// top-level field. Read as an envelope with one `PoolsConfigured.v1` event.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LegacyPoolsCommit {
    envelope_version: u32,
    version: u64,
    pools_yaml: String,
    metadata: Metadata,
}

impl RawCommit {
    /// Reads a stored commit of any kind, upcasting shapes written by older builds.
    pub fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        let commit = match serde_json::from_slice::<RawCommit>(payload) {
            Ok(commit) => commit,
            Err(error) => match serde_json::from_slice::<LegacyPoolsCommit>(payload) {
                Ok(legacy) => legacy.upcast(),
                Err(_) => return Err(DecodeError::NotAnEnvelope(error)),
            },
        };
        if commit.envelope_version > ENVELOPE_VERSION {
            return Err(DecodeError::UnknownVersion(commit.envelope_version));
        }
        Ok(commit)
    }

    /// The commit with its events decoded as `E` (which must be this commit's kind).
    pub fn typed<E: Event>(&self) -> Result<CommitEnvelope<E>, DecodeError> {
        if self.aggregate_type != E::AGGREGATE_TYPE {
            return Err(DecodeError::WrongKind {
                expected: E::AGGREGATE_TYPE,
                found: self.aggregate_type.clone(),
            });
        }
        let events = self
            .events
            .iter()
            .enumerate()
            .map(|(index, raw)| {
                serde_json::from_str(raw.get()).map_err(|source| DecodeError::Event {
                    index,
                    tag: event_tag(raw).map(|t| t.to_string()).unwrap_or_default(),
                    source,
                })
            })
            .collect::<Result<Vec<E>, _>>()?;
        Ok(CommitEnvelope {
            envelope_version: self.envelope_version,
            aggregate_type: self.aggregate_type.clone(),
            aggregate_id: self.aggregate_id.clone(),
            version: self.version,
            events,
            metadata: self.metadata.clone(),
        })
    }
}

impl LegacyPoolsCommit {
    fn upcast(self) -> RawCommit {
        let event = crate::pools::PoolsEvent::PoolsConfigured {
            pools_yaml: self.pools_yaml,
        };
        let raw = serde_json::value::to_raw_value(&event).expect("an event enum always serialises to JSON");
        CommitEnvelope {
            envelope_version: self.envelope_version,
            aggregate_type: crate::pools::POOLS_AGGREGATE.to_owned(),
            aggregate_id: crate::pools::POOLS_ID.to_owned(),
            version: self.version,
            events: vec![raw],
            metadata: self.metadata,
        }
    }
}

impl<E: Event> CommitEnvelope<E> {
    /// A commit of `events` at `version`.
    pub fn new(aggregate_id: String, version: u64, events: Vec<E>, metadata: Metadata) -> Self {
        Self {
            envelope_version: ENVELOPE_VERSION,
            aggregate_type: E::AGGREGATE_TYPE.to_owned(),
            aggregate_id,
            version,
            events,
            metadata,
        }
    }
}

/// An event's `type` tag split into name and version: `ZoneCreated.v1` → (`ZoneCreated`, 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTag {
    /// The name.
    pub name: String,
    /// The version.
    pub version: u32,
}

impl std::fmt::Display for EventTag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.v{}", self.name, self.version)
    }
}

/// The `type` tag of a raw event, without decoding the rest of it.
pub fn event_tag(raw: &RawValue) -> Option<EventTag> {
    #[derive(Deserialize)]
    struct Tagged<'a> {
        #[serde(rename = "type", borrow)]
        tag: std::borrow::Cow<'a, str>,
    }
    let tagged: Tagged<'_> = serde_json::from_str(raw.get()).ok()?;
    let (name, version) = tagged.tag.rsplit_once(".v")?;
    Some(EventTag {
        name: name.to_owned(),
        version: version.parse().ok()?,
    })
}
