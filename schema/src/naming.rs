//! Naming rules: the contract of the aggregate holding the operator's rules for zone names, as
//! Designate has them: TLDs (when any exist, a new zone must sit under one and may not be one) and
//! blacklists (regular expressions a zone name may not match, unless an admin creates it). One aggregate
//! holds every rule, so a duplicate name or pattern is refused by the aggregate itself, race-free.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::envelope::Event;
use crate::name::DnsName;

/// The aggregate type of the naming rules.
pub const NAMING_AGGREGATE: &str = "naming";

/// The id of the one naming-rules aggregate.
pub const NAMING_ID: &str = "all";

/// Everything that can happen to the naming rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum NamingEvent {
    /// A TLD was added.
    #[serde(rename = "TldCreated.v1")]
    TldCreated {
        /// Its id.
        tld_id: Uuid,
        /// Its name, without the trailing dot.
        name: String,
        /// Free text.
        description: Option<String>,
    },
    /// A TLD's name or description changed.
    #[serde(rename = "TldUpdated.v1")]
    TldUpdated {
        /// Its id.
        tld_id: Uuid,
        /// Its name now.
        name: String,
        /// Its description now.
        description: Option<String>,
    },
    /// A TLD was removed.
    #[serde(rename = "TldDeleted.v1")]
    TldDeleted {
        /// Its id.
        tld_id: Uuid,
    },
    /// A blacklist pattern was added.
    #[serde(rename = "BlacklistCreated.v1")]
    BlacklistCreated {
        /// Its id.
        blacklist_id: Uuid,
        /// The regular expression.
        pattern: String,
        /// Free text.
        description: Option<String>,
    },
    /// A blacklist's pattern or description changed.
    #[serde(rename = "BlacklistUpdated.v1")]
    BlacklistUpdated {
        /// Its id.
        blacklist_id: Uuid,
        /// The pattern now.
        pattern: String,
        /// The description now.
        description: Option<String>,
    },
    /// A blacklist was removed.
    #[serde(rename = "BlacklistDeleted.v1")]
    BlacklistDeleted {
        /// Its id.
        blacklist_id: Uuid,
    },
}

impl Event for NamingEvent {
    const AGGREGATE_TYPE: &'static str = NAMING_AGGREGATE;

    fn event_type(&self) -> &'static str {
        match self {
            NamingEvent::TldCreated { .. } => "TldCreated",
            NamingEvent::TldUpdated { .. } => "TldUpdated",
            NamingEvent::TldDeleted { .. } => "TldDeleted",
            NamingEvent::BlacklistCreated { .. } => "BlacklistCreated",
            NamingEvent::BlacklistUpdated { .. } => "BlacklistUpdated",
            NamingEvent::BlacklistDeleted { .. } => "BlacklistDeleted",
        }
    }
}

/// Why a TLD name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a valid TLD name")]
pub struct TldNameError(pub String);

/// A TLD name as stored: lower-case, without the trailing dot, a valid DNS name without a wildcard.
pub fn normalize_tld(value: &str) -> Result<String, TldNameError> {
    let name = value.trim_end_matches('.').to_ascii_lowercase();
    let valid = !name.is_empty() && !name.starts_with('*') && DnsName::parse(&format!("{name}.")).is_ok();
    if valid {
        Ok(name)
    } else {
        Err(TldNameError(value.to_owned()))
    }
}
