//! Identifier newtypes, so a zone id is never passed where a record set id is meant.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh random id.
            pub fn new_random() -> Self {
                Self(Uuid::new_v4())
            }
            /// Parses the canonical hyphenated form.
            pub fn parse(s: &str) -> Result<Self, uuid::Error> {
                Uuid::try_parse(s).map(Self)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

uuid_id!(
    /// Identifies a zone aggregate.
    ZoneId
);
uuid_id!(
    /// Identifies a record set inside a zone.
    RecordsetId
);
uuid_id!(
    /// Identifies a pool of DNS servers.
    PoolId
);

/// Designate's default pool id, kept so operators' tooling finds the same id.
pub const DEFAULT_POOL_ID: PoolId = PoolId(Uuid::from_u128(0x794ccc2c_d751_44fe_b57f_8894c9f5c842));

/// Namespace for ids derived from request ids, so a retried request names the same resources.
const DERIVED_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6e73706c_616e_6500_8000_000000000001);

/// A uuid derived from a request, for resources of `kind` that request creates: a retried request
/// names the same resource.
pub fn derived_uuid(kind: &str, request: &RequestId) -> Uuid {
    let key = format!("{kind}/{}", request.0);
    Uuid::new_v5(&DERIVED_ID_NAMESPACE, key.as_bytes())
}

/// How many shards the zone space is split into (Designate's 4,096): a zone's shard is the first 12
/// bits of its id.
pub const SHARDS: u16 = 4096;

impl ZoneId {
    /// The zone's shard, `0..SHARDS`: the first three hex digits of its id, as Designate computes it.
    pub fn shard(&self) -> u16 {
        u16::from_be_bytes([self.0.as_bytes()[0], self.0.as_bytes()[1]]) >> 4
    }

    /// The id of the zone a request creates: the same request (retried) creates the same zone.
    pub fn derived(project: &ProjectId, request: &RequestId) -> Self {
        let key = format!("zone/{}/{}", project.0, request.0);
        Self(Uuid::new_v5(&DERIVED_ID_NAMESPACE, key.as_bytes()))
    }
}

impl RecordsetId {
    /// The id of the record set a request creates in a zone; stable across retries of the request.
    pub fn derived(zone: ZoneId, request: &RequestId) -> Self {
        let key = format!("recordset/{}/{}", zone, request.0);
        Self(Uuid::new_v5(&DERIVED_ID_NAMESPACE, key.as_bytes()))
    }

    /// The id of a zone's managed SOA or NS record set.
    pub fn managed(zone: ZoneId, rtype: &str) -> Self {
        let key = format!("managed/{zone}/{rtype}");
        Self(Uuid::new_v5(&DERIVED_ID_NAMESPACE, key.as_bytes()))
    }
}

/// A project (tenant) id as Keystone gives it: an opaque string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProjectId(pub String);

/// The request id (`req-<uuid>`) that names one API request, its retries included.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RequestId(pub String);

impl RequestId {
    /// A new `req-<uuid>` id.
    pub fn generate() -> Self {
        Self(format!("req-{}", Uuid::new_v4()))
    }

    /// Accepts a client-supplied id if it is `req-` followed by a UUID, as OpenStack services emit.
    pub fn parse(s: &str) -> Option<Self> {
        let rest = s.strip_prefix("req-")?;
        Uuid::try_parse(rest).ok()?;
        Some(Self(s.to_owned()))
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}
