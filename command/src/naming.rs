//! The naming rules aggregate: the operator's rules for zone names, as Designate has them. TLDs (when
//! any exist, a new zone must sit under one and may not be one) and blacklists (regular expressions a
//! zone name may not match, unless an admin creates it). One aggregate holds every rule, so a second
//! rule with the same name or pattern is refused by the aggregate itself, race-free, and every change is
//! an event in the audit trail.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use nsplane_schema::naming::{normalize_tld, NamingEvent, NAMING_AGGREGATE};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::aggregate::{Decider, Domain};

/// The two kinds of rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// A top-level domain zones may be created under.
    Tld,
    /// A pattern zone names may not match.
    Blacklist,
}

/// One rule: a TLD (`value` is its name, without the trailing dot) or a blacklist (`value` is the
/// pattern).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// Id.
    pub id: Uuid,
    /// The TLD's name or the blacklist's pattern.
    pub value: String,
    /// Free text.
    pub description: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: Option<DateTime<Utc>>,
}

/// Every naming rule: the aggregate.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NamingRules {
    /// TLDs by id.
    pub tlds: BTreeMap<Uuid, Rule>,
    /// Blacklists by id.
    pub blacklists: BTreeMap<Uuid, Rule>,
}

/// Commands on the naming rules.
#[derive(Debug, Clone, PartialEq)]
pub enum NamingCommand {
    /// Adds a rule.
    Create {
        /// TLD or blacklist.
        kind: Kind,
        /// Its id (derived from the request, so a retry names the same rule).
        id: Uuid,
        /// Name or pattern.
        value: String,
        /// Free text.
        description: Option<String>,
    },
    /// Changes a rule (`None` = unchanged).
    Update {
        /// TLD or blacklist.
        kind: Kind,
        /// Which.
        id: Uuid,
        /// New name or pattern.
        value: Option<String>,
        /// New description (`Some(None)` clears it).
        description: Option<Option<String>>,
    },
    /// Removes a rule.
    Delete {
        /// TLD or blacklist.
        kind: Kind,
        /// Which.
        id: Uuid,
    },
    /// Adds rules kept by an older version outside the event stream (the one-time migration), keeping
    /// their ids; rules already present are skipped.
    Import {
        /// `(kind, id, value, description)`.
        rules: Vec<(Kind, Uuid, String, Option<String>)>,
    },
}

/// Why a naming command was refused, or a zone name breaks a rule. Each variant says how the API answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NamingError {
    /// 409 `duplicate_tld` / `duplicate_blacklist`.
    #[error("{} already exists", what(*.0))]
    Duplicate(Kind),
    /// 404 `tld_not_found` / `blacklist_not_found`.
    #[error("Could not find {}", what(*.0))]
    NotFound(Kind),
    /// 400 `invalid_object`.
    #[error("{0}")]
    Invalid(String),
    /// 400 `invalid_zone_name`: the zone's name breaks a rule.
    #[error("{0}")]
    Refused(String),
}

fn what(kind: Kind) -> &'static str {
    match kind {
        Kind::Tld => "Tld",
        Kind::Blacklist => "Blacklist",
    }
}

/// Normalises and checks a TLD name or a pattern.
fn check_value(kind: Kind, value: &str) -> Result<String, NamingError> {
    match kind {
        // Designate's TLD names have no trailing dot (`org`, not `org.`).
        Kind::Tld if value.ends_with('.') => Err(NamingError::Invalid(format!(
            "'{value}' is not a valid TLD name: no trailing dot"
        ))),
        Kind::Tld => normalize_tld(value).map_err(|e| NamingError::Invalid(e.to_string())),
        Kind::Blacklist => {
            if value.is_empty() || value.len() > 255 {
                return Err(NamingError::Invalid("pattern must be 1 to 255 characters".into()));
            }
            regex::Regex::new(value)
                .map_err(|e| NamingError::Invalid(format!("'{value}' is not a valid regular expression: {e}")))?;
            Ok(value.to_owned())
        }
    }
}

impl NamingRules {
    /// The rules of a kind.
    pub fn rules(&self, kind: Kind) -> &BTreeMap<Uuid, Rule> {
        match kind {
            Kind::Tld => &self.tlds,
            Kind::Blacklist => &self.blacklists,
        }
    }

    fn rules_mut(&mut self, kind: Kind) -> &mut BTreeMap<Uuid, Rule> {
        match kind {
            Kind::Tld => &mut self.tlds,
            Kind::Blacklist => &mut self.blacklists,
        }
    }

    fn taken(&self, kind: Kind, value: &str, except: Option<Uuid>) -> bool {
        self.rules(kind)
            .values()
            .any(|rule| rule.value == value && Some(rule.id) != except)
    }

    /// Designate's checks of a new zone's name (`name` with its trailing dot): under a TLD and not a
    /// TLD itself when TLDs exist; matching no blacklist pattern unless `admin`.
    pub fn check_zone_name(&self, name: &str, admin: bool) -> Result<(), NamingError> {
        let bare = name.trim_end_matches('.').to_ascii_lowercase();
        if !self.tlds.is_empty() {
            if self.tlds.values().any(|t| t.value == bare) {
                return Err(NamingError::Refused("Zone name cannot be the same as a TLD".into()));
            }
            let under_a_tld = self.tlds.values().any(|t| bare.ends_with(&format!(".{}", t.value)));
            if !under_a_tld {
                return Err(NamingError::Refused("Invalid TLD".into()));
            }
        }
        if !admin {
            for rule in self.blacklists.values() {
                // Patterns were checked when stored; one that no longer compiles blocks nothing.
                if regex::Regex::new(&rule.value).is_ok_and(|re| re.is_match(name)) {
                    return Err(NamingError::Refused("Blacklisted zone name".into()));
                }
            }
        }
        Ok(())
    }

    fn created(kind: Kind, id: Uuid, value: String, description: Option<String>) -> NamingEvent {
        match kind {
            Kind::Tld => NamingEvent::TldCreated {
                tld_id: id,
                name: value,
                description,
            },
            Kind::Blacklist => NamingEvent::BlacklistCreated {
                blacklist_id: id,
                pattern: value,
                description,
            },
        }
    }
}

impl Aggregate for NamingRules {
    const TYPE: &'static str = NAMING_AGGREGATE;
    type Command = NamingCommand;
    type Event = Domain<NamingEvent>;
    type Error = NamingError;
    type Services = ();

    async fn handle(&mut self, command: NamingCommand, _: &(), sink: &EventSink<Self>) -> Result<(), NamingError> {
        for event in self.decide(command, &(), Utc::now()).await? {
            sink.write(Domain(event), self).await;
        }
        Ok(())
    }

    fn apply(&mut self, Domain(event): Self::Event) {
        self.evolve(&event, DateTime::<Utc>::default());
    }
}

impl Decider for NamingRules {
    type Contract = NamingEvent;

    fn command_name(command: &NamingCommand) -> &'static str {
        match command {
            NamingCommand::Create { kind: Kind::Tld, .. } => "CreateTld",
            NamingCommand::Create {
                kind: Kind::Blacklist, ..
            } => "CreateBlacklist",
            NamingCommand::Update { kind: Kind::Tld, .. } => "UpdateTld",
            NamingCommand::Update {
                kind: Kind::Blacklist, ..
            } => "UpdateBlacklist",
            NamingCommand::Delete { kind: Kind::Tld, .. } => "DeleteTld",
            NamingCommand::Delete {
                kind: Kind::Blacklist, ..
            } => "DeleteBlacklist",
            NamingCommand::Import { .. } => "ImportNamingRules",
        }
    }

    async fn decide(
        &self,
        command: NamingCommand,
        _: &(),
        _now: DateTime<Utc>,
    ) -> Result<Vec<NamingEvent>, NamingError> {
        match command {
            NamingCommand::Create {
                kind,
                id,
                value,
                description,
            } => {
                let value = check_value(kind, &value)?;
                if self.taken(kind, &value, None) || self.rules(kind).contains_key(&id) {
                    return Err(NamingError::Duplicate(kind));
                }
                Ok(vec![Self::created(kind, id, value, description)])
            }
            NamingCommand::Update {
                kind,
                id,
                value,
                description,
            } => {
                let rule = self.rules(kind).get(&id).ok_or(NamingError::NotFound(kind))?;
                let value = match value {
                    Some(value) => check_value(kind, &value)?,
                    None => rule.value.clone(),
                };
                if self.taken(kind, &value, Some(id)) {
                    return Err(NamingError::Duplicate(kind));
                }
                let description = description.unwrap_or_else(|| rule.description.clone());
                Ok(vec![match kind {
                    Kind::Tld => NamingEvent::TldUpdated {
                        tld_id: id,
                        name: value,
                        description,
                    },
                    Kind::Blacklist => NamingEvent::BlacklistUpdated {
                        blacklist_id: id,
                        pattern: value,
                        description,
                    },
                }])
            }
            NamingCommand::Delete { kind, id } => {
                if !self.rules(kind).contains_key(&id) {
                    return Err(NamingError::NotFound(kind));
                }
                Ok(vec![match kind {
                    Kind::Tld => NamingEvent::TldDeleted { tld_id: id },
                    Kind::Blacklist => NamingEvent::BlacklistDeleted { blacklist_id: id },
                }])
            }
            NamingCommand::Import { rules } => {
                let mut events = Vec::new();
                let mut seen = self.clone();
                for (kind, id, value, description) in rules {
                    let Ok(value) = check_value(kind, &value) else { continue };
                    if seen.taken(kind, &value, None) || seen.rules(kind).contains_key(&id) {
                        continue;
                    }
                    let event = Self::created(kind, id, value, description);
                    seen.evolve(&event, DateTime::<Utc>::default());
                    events.push(event);
                }
                Ok(events)
            }
        }
    }

    fn evolve(&mut self, event: &NamingEvent, time: DateTime<Utc>) {
        let (kind, id) = match event {
            NamingEvent::TldCreated { tld_id, .. }
            | NamingEvent::TldUpdated { tld_id, .. }
            | NamingEvent::TldDeleted { tld_id } => (Kind::Tld, *tld_id),
            NamingEvent::BlacklistCreated { blacklist_id, .. }
            | NamingEvent::BlacklistUpdated { blacklist_id, .. }
            | NamingEvent::BlacklistDeleted { blacklist_id } => (Kind::Blacklist, *blacklist_id),
        };
        let rules = self.rules_mut(kind);
        match event {
            NamingEvent::TldCreated {
                name: value,
                description,
                ..
            }
            | NamingEvent::BlacklistCreated {
                pattern: value,
                description,
                ..
            } => {
                rules.insert(
                    id,
                    Rule {
                        id,
                        value: value.clone(),
                        description: description.clone(),
                        created_at: time,
                        updated_at: None,
                    },
                );
            }
            NamingEvent::TldUpdated {
                name: value,
                description,
                ..
            }
            | NamingEvent::BlacklistUpdated {
                pattern: value,
                description,
                ..
            } => {
                if let Some(rule) = rules.get_mut(&id) {
                    rule.value = value.clone();
                    rule.description = description.clone();
                    rule.updated_at = Some(time);
                }
            }
            NamingEvent::TldDeleted { .. } | NamingEvent::BlacklistDeleted { .. } => {
                rules.remove(&id);
            }
        }
    }

    fn not_found() -> NamingError {
        NamingError::NotFound(Kind::Tld)
    }
}
