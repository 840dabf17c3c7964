//! TSIG keys: the contract of the aggregate holding every key the operator registered, as Designate's
//! `/v2/tsigkeys` has them: a name (unique), an HMAC algorithm, a secret, and a scope (a whole pool or
//! one zone) with the id of that pool or zone. One aggregate holds every key, so a duplicate name is
//! refused by the aggregate itself, race-free.
//!
//! The secret is in the events (mdns must be able to rebuild its keys from the log), so every readable
//! view of an event (audit rows, `nsplane events`, history answers) goes through [`redact`].

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::envelope::Event;

/// The aggregate type of the TSIG keys.
pub const TSIGKEY_AGGREGATE: &str = "tsigkey";

/// The id of the one TSIG-keys aggregate.
pub const TSIGKEYS_ID: &str = "all";

/// The algorithms Designate accepts, by their names in the API.
pub const ALGORITHMS: [&str; 6] = [
    "hmac-md5",
    "hmac-sha1",
    "hmac-sha224",
    "hmac-sha256",
    "hmac-sha384",
    "hmac-sha512",
];

/// What a key may sign for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TsigScope {
    /// Every zone of a pool (`resource_id` is the pool's id).
    Pool,
    /// One zone (`resource_id` is the zone's id).
    Zone,
}

impl TsigScope {
    /// `POOL` or `ZONE`.
    pub fn as_str(self) -> &'static str {
        match self {
            TsigScope::Pool => "POOL",
            TsigScope::Zone => "ZONE",
        }
    }

    /// Parses `POOL` or `ZONE`.
    pub fn parse(value: &str) -> Option<TsigScope> {
        match value {
            "POOL" => Some(TsigScope::Pool),
            "ZONE" => Some(TsigScope::Zone),
            _ => None,
        }
    }
}

/// Everything that can happen to the TSIG keys.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum TsigKeyEvent {
    /// A key was registered.
    #[serde(rename = "TsigKeyCreated.v1")]
    TsigKeyCreated {
        /// Its id.
        tsigkey_id: Uuid,
        /// Its name (the key name on the wire).
        name: String,
        /// One of [`ALGORITHMS`].
        algorithm: String,
        /// The secret, base64 as the API takes it.
        secret: String,
        /// Pool or zone.
        scope: TsigScope,
        /// The pool's or zone's id.
        resource_id: Uuid,
    },
    /// A key's fields changed (every field as it is now).
    #[serde(rename = "TsigKeyUpdated.v1")]
    TsigKeyUpdated {
        /// Its id.
        tsigkey_id: Uuid,
        /// Its name now.
        name: String,
        /// Its algorithm now.
        algorithm: String,
        /// Its secret now.
        secret: String,
        /// Its scope now.
        scope: TsigScope,
        /// Its resource now.
        resource_id: Uuid,
    },
    /// A key was removed.
    #[serde(rename = "TsigKeyDeleted.v1")]
    TsigKeyDeleted {
        /// Its id.
        tsigkey_id: Uuid,
    },
}

impl std::fmt::Debug for TsigKeyEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Debug output ends up in logs: never the secret.
        match self {
            TsigKeyEvent::TsigKeyCreated {
                tsigkey_id,
                name,
                algorithm,
                scope,
                resource_id,
                ..
            }
            | TsigKeyEvent::TsigKeyUpdated {
                tsigkey_id,
                name,
                algorithm,
                scope,
                resource_id,
                ..
            } => f
                .debug_struct(self.event_type())
                .field("tsigkey_id", tsigkey_id)
                .field("name", name)
                .field("algorithm", algorithm)
                .field("secret", &REDACTED)
                .field("scope", scope)
                .field("resource_id", resource_id)
                .finish(),
            TsigKeyEvent::TsigKeyDeleted { tsigkey_id } => f
                .debug_struct(self.event_type())
                .field("tsigkey_id", tsigkey_id)
                .finish(),
        }
    }
}

impl Event for TsigKeyEvent {
    const AGGREGATE_TYPE: &'static str = TSIGKEY_AGGREGATE;

    fn event_type(&self) -> &'static str {
        match self {
            TsigKeyEvent::TsigKeyCreated { .. } => "TsigKeyCreated",
            TsigKeyEvent::TsigKeyUpdated { .. } => "TsigKeyUpdated",
            TsigKeyEvent::TsigKeyDeleted { .. } => "TsigKeyDeleted",
        }
    }
}

/// What a secret reads as wherever people read events.
pub const REDACTED: &str = "<redacted>";

/// An event's stored JSON as people may read it: a TSIG key's `secret` replaced by [`REDACTED`]
/// (any other event unchanged).
pub fn redact(aggregate_type: &str, event: &serde_json::Value) -> serde_json::Value {
    let mut out = event.clone();
    if aggregate_type == TSIGKEY_AGGREGATE {
        if let Some(secret) = out.get_mut("secret") {
            *secret = serde_json::Value::String(REDACTED.into());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_never_reads_in_clear() {
        let event = TsigKeyEvent::TsigKeyCreated {
            tsigkey_id: Uuid::nil(),
            name: "k1".into(),
            algorithm: "hmac-sha256".into(),
            secret: "c2VjcmV0IHNlY3JldA==".into(),
            scope: TsigScope::Pool,
            resource_id: Uuid::nil(),
        };
        assert!(!format!("{event:?}").contains("c2VjcmV0"));
        let json = serde_json::to_value(&event).expect("JSON");
        assert_eq!(json["secret"], "c2VjcmV0IHNlY3JldA==");
        let redacted = redact(TSIGKEY_AGGREGATE, &json);
        assert_eq!(redacted["secret"], REDACTED);
        assert_eq!(redacted["name"], "k1");
        // Other aggregates' fields named `secret` are not TSIG secrets: left alone.
        assert_eq!(redact("zone", &json)["secret"], "c2VjcmV0IHNlY3JldA==");
    }
}
