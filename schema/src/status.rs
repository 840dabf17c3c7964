//! Statuses and actions of zones, record sets and name servers, as Designate spells them. Typed here so
//! a status read back from a read model or an event is the same value the aggregate decided.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A value that is not one of the spellings of a status type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {what}")]
pub struct UnknownStatus {
    /// What was being parsed.
    pub what: &'static str,
    /// The text found.
    pub value: String,
}

macro_rules! spelled_enum {
    ($(#[$doc:meta])* $name:ident, $what:literal, { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant,)+
        }

        impl $name {
            /// Designate's spelling.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownStatus;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(UnknownStatus { what: $what, value: other.to_owned() }),
                }
            }
        }
    };
}

spelled_enum!(
    /// Zone and record-set status.
    Status, "status", {
        /// Not yet served by the pool.
        #[default]
        Pending => "PENDING",
        /// Served by the pool at the current serial.
        Active => "ACTIVE",
        /// The pool failed to serve it in time.
        Error => "ERROR",
        /// Removed from the pool.
        Deleted => "DELETED",
    }
);

spelled_enum!(
    /// What the pending change of a zone or record set is.
    Action, "action", {
        /// Being created.
        #[default]
        Create => "CREATE",
        /// Being changed.
        Update => "UPDATE",
        /// Being deleted.
        Delete => "DELETE",
        /// Nothing pending.
        None => "NONE",
    }
);

spelled_enum!(
    /// One name server's state for a zone, as the worker saw it.
    NameserverStatus, "name server status", {
        /// Not asked yet.
        #[default]
        Pending => "PENDING",
        /// Serves the pushed serial (or, for a zone being deleted, no longer serves the zone).
        Synced => "SYNCED",
        /// Answers with an older serial, or does not serve the zone yet.
        Behind => "BEHIND",
        /// Did not answer.
        Error => "ERROR",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip_through_text_and_json() {
        for status in [Status::Pending, Status::Active, Status::Error, Status::Deleted] {
            assert_eq!(status.as_str().parse::<Status>(), Ok(status));
            assert_eq!(
                serde_json::to_string(&status).expect("json"),
                format!("\"{}\"", status.as_str())
            );
        }
        for action in [Action::Create, Action::Update, Action::Delete, Action::None] {
            assert_eq!(action.to_string().parse::<Action>(), Ok(action));
        }
        assert_eq!(
            "active".parse::<Status>(),
            Err(UnknownStatus {
                what: "status",
                value: "active".into()
            })
        );
        assert_eq!("SYNCED".parse::<NameserverStatus>(), Ok(NameserverStatus::Synced));
    }
}
