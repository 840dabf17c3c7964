//! Operator rules for zone names, as Designate has them: TLDs (when any exist, a new zone must end in
//! one and may not be one) and blacklists (regular expressions a zone name may not match, unless an
//! admin creates it). Both live in the JetStream KV bucket `<prefix>_naming`, one key per entry named
//! after its TLD name or pattern, so a duplicate is refused by KV `create` even under races.

use anyhow::Context as _;
use async_nats::jetstream::kv;
use chrono::{DateTime, Utc};
use futures::TryStreamExt as _;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::store::EventStore;

/// The two kinds of entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A top-level domain zones may be created under.
    Tld,
    /// A pattern zone names may not match.
    Blacklist,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::Tld => "tld",
            Kind::Blacklist => "blacklist",
        }
    }
}

/// A TLD (`value` is its name, without the trailing dot) or a blacklist entry (`value` is the pattern).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
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

/// Why a change or a zone name was refused.
#[derive(Debug, thiserror::Error)]
pub enum NamingError {
    /// 409 `duplicate_tld` / `duplicate_blacklist`.
    #[error("{} already exists", what(*.0))]
    Duplicate(Kind),
    /// 404 `tld_not_found` / `blacklist_not_found`.
    #[error("could not find {}", what(*.0))]
    NotFound(Kind),
    /// 400 `invalid_object`.
    #[error("{0}")]
    Invalid(String),
    /// 400 `invalid_zone_name`: the zone's name breaks a rule.
    #[error("{0}")]
    Refused(String),
    /// 500.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

fn key(kind: Kind, value: &str) -> String {
    // Names and patterns are free text; hex keeps them within KV's key alphabet.
    let hex: String = value.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{}.{hex}", kind.prefix())
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
        Kind::Tld => {
            let name = value.trim_end_matches('.').to_ascii_lowercase();
            nsplane_schema::DnsName::parse(&format!("{name}."))
                .ok()
                .filter(|_| !name.is_empty() && !name.starts_with('*'))
                .ok_or_else(|| NamingError::Invalid(format!("'{value}' is not a valid TLD name")))?;
            Ok(name)
        }
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

/// The TLD and blacklist store.
#[derive(Clone)]
pub struct Naming {
    kv: kv::Store,
}

impl Naming {
    /// Opens (creating if needed) the bucket `<prefix>_naming`.
    pub async fn open(events: &EventStore) -> anyhow::Result<Self> {
        let (kv, _) = events.open_bucket("naming").await?;
        Ok(Self { kv })
    }

    /// Every entry of a kind, by value.
    pub async fn list(&self, kind: Kind) -> anyhow::Result<Vec<Entry>> {
        let prefix = format!("{}.", kind.prefix());
        let keys: Vec<String> = self
            .kv
            .keys()
            .await
            .context("failed to list naming rules")?
            .try_collect()
            .await
            .context("failed to list naming rules")?;
        let mut entries = Vec::new();
        for key in keys.into_iter().filter(|k| k.starts_with(&prefix)) {
            if let Some(value) = self.kv.get(&key).await.context("failed to read a naming rule")? {
                entries.push(serde_json::from_slice::<Entry>(&value).context("undecodable naming rule")?);
            }
        }
        entries.sort_by(|a, b| a.value.cmp(&b.value));
        Ok(entries)
    }

    /// One entry by id.
    pub async fn get(&self, kind: Kind, id: Uuid) -> Result<Entry, NamingError> {
        self.list(kind)
            .await?
            .into_iter()
            .find(|e| e.id == id)
            .ok_or(NamingError::NotFound(kind))
    }

    /// Adds an entry; a second one with the same value is refused.
    pub async fn create(&self, kind: Kind, value: &str, description: Option<String>) -> Result<Entry, NamingError> {
        let value = check_value(kind, value)?;
        let entry = Entry {
            id: Uuid::new_v4(),
            value,
            description,
            created_at: Utc::now(),
            updated_at: None,
        };
        let bytes = serde_json::to_vec(&entry).context("failed to encode a naming rule")?;
        match self.kv.create(key(kind, &entry.value), bytes.into()).await {
            Ok(_) => Ok(entry),
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => Err(NamingError::Duplicate(kind)),
            Err(e) => Err(NamingError::Internal(anyhow::anyhow!(
                "failed to store a naming rule: {e}"
            ))),
        }
    }

    /// Changes an entry's value and/or description.
    pub async fn update(
        &self,
        kind: Kind,
        id: Uuid,
        value: Option<&str>,
        description: Option<Option<String>>,
    ) -> Result<Entry, NamingError> {
        let mut entry = self.get(kind, id).await?;
        let old_key = key(kind, &entry.value);
        if let Some(description) = description {
            entry.description = description;
        }
        entry.updated_at = Some(Utc::now());
        let new_value = value.map(|v| check_value(kind, v)).transpose()?;
        let bytes = |entry: &Entry| serde_json::to_vec(entry).context("failed to encode a naming rule");
        match new_value {
            Some(new_value) if new_value != entry.value => {
                entry.value = new_value;
                match self.kv.create(key(kind, &entry.value), bytes(&entry)?.into()).await {
                    Ok(_) => {}
                    Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                        return Err(NamingError::Duplicate(kind))
                    }
                    Err(e) => {
                        return Err(NamingError::Internal(anyhow::anyhow!(
                            "failed to store a naming rule: {e}"
                        )))
                    }
                }
                self.kv
                    .purge(old_key)
                    .await
                    .context("failed to remove the old naming rule")?;
            }
            _ => {
                self.kv
                    .put(old_key, bytes(&entry)?.into())
                    .await
                    .context("failed to store a naming rule")?;
            }
        }
        Ok(entry)
    }

    /// Removes an entry.
    pub async fn delete(&self, kind: Kind, id: Uuid) -> Result<(), NamingError> {
        let entry = self.get(kind, id).await?;
        self.kv
            .purge(key(kind, &entry.value))
            .await
            .context("failed to remove a naming rule")?;
        Ok(())
    }

    /// Designate's checks of a new zone's name (`name` with its trailing dot): under a TLD and not a
    /// TLD itself when TLDs exist; matching no blacklist pattern unless `admin`.
    pub async fn check_zone_name(&self, name: &str, admin: bool) -> Result<(), NamingError> {
        let bare = name.trim_end_matches('.').to_ascii_lowercase();
        let tlds = self.list(Kind::Tld).await?;
        if !tlds.is_empty() {
            if tlds.iter().any(|t| t.value == bare) {
                return Err(NamingError::Refused("Zone name cannot be the same as a TLD".into()));
            }
            let under_a_tld = tlds.iter().any(|t| bare.ends_with(&format!(".{}", t.value)));
            if !under_a_tld {
                return Err(NamingError::Refused("Invalid TLD".into()));
            }
        }
        if !admin {
            for entry in self.list(Kind::Blacklist).await? {
                // Patterns were checked when stored; one that no longer compiles blocks nothing.
                if regex::Regex::new(&entry.value).is_ok_and(|re| re.is_match(name)) {
                    return Err(NamingError::Refused("Blacklisted zone name".into()));
                }
            }
        }
        Ok(())
    }
}
