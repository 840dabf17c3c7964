//! The TSIG keys aggregate: every key the operator registered (`/v2/tsigkeys`), with Designate's rules:
//! a known HMAC algorithm, a non-empty secret (nsplane refuses empty secrets, as Designate does with
//! `allow_empty_secrets_for_tsig = False`), a scope of POOL or ZONE with the id of that pool or zone,
//! and a name no other key has. One aggregate holds every key, so two racing creates of one name cannot
//! both win; whether the pool or zone exists is checked by [`crate::Commands::tsigkey`] before deciding.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use nsplane_schema::tsigkeys::{TsigKeyEvent, TsigScope, ALGORITHMS, TSIGKEY_AGGREGATE};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::aggregate::{Decider, Domain};

/// Designate's column limit for names and secrets.
const MAX_LEN: usize = 160;

/// One key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TsigKey {
    /// Id.
    pub id: Uuid,
    /// Name (unique).
    pub name: String,
    /// One of [`ALGORITHMS`].
    pub algorithm: String,
    /// Base64 secret.
    pub secret: String,
    /// Pool or zone.
    pub scope: TsigScope,
    /// The pool's or zone's id.
    pub resource_id: Uuid,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for TsigKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TsigKey")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .field("secret", &nsplane_schema::tsigkeys::REDACTED)
            .field("scope", &self.scope)
            .field("resource_id", &self.resource_id)
            .finish_non_exhaustive()
    }
}

/// Every TSIG key: the aggregate.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TsigKeys {
    /// Keys by id.
    pub keys: BTreeMap<Uuid, TsigKey>,
}

/// The fields of a key a command sets (`None` = unchanged, on update).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TsigKeyFields {
    /// Name.
    pub name: Option<String>,
    /// Algorithm.
    pub algorithm: Option<String>,
    /// Secret.
    pub secret: Option<String>,
    /// Scope.
    pub scope: Option<TsigScope>,
    /// Resource.
    pub resource_id: Option<Uuid>,
}

impl std::fmt::Debug for TsigKeyFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TsigKeyFields")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .field(
                "secret",
                &self.secret.as_ref().map(|_| nsplane_schema::tsigkeys::REDACTED),
            )
            .field("scope", &self.scope)
            .field("resource_id", &self.resource_id)
            .finish()
    }
}

/// Commands on the TSIG keys.
#[derive(Debug, Clone, PartialEq)]
pub enum TsigKeyCommand {
    /// Registers a key (every field required).
    Create {
        /// Its id (derived from the request, so a retry names the same key).
        id: Uuid,
        /// Its fields.
        fields: TsigKeyFields,
    },
    /// Changes a key.
    Update {
        /// Which.
        id: Uuid,
        /// What changes.
        fields: TsigKeyFields,
    },
    /// Removes a key.
    Delete {
        /// Which.
        id: Uuid,
    },
}

/// Why a TSIG-key command was refused. Each variant says how the API answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TsigKeyError {
    /// 409 `duplicate_tsigkey`.
    #[error("Duplicate TsigKey")]
    Duplicate,
    /// 404 `tsigkey_not_found`.
    #[error("Could not find TsigKey")]
    NotFound,
    /// 400 `invalid_object`.
    #[error("{0}")]
    Invalid(String),
}

/// Checks a complete set of fields.
fn check(name: &str, algorithm: &str, secret: &str) -> Result<(), TsigKeyError> {
    if name.is_empty() || name.len() > MAX_LEN {
        return Err(TsigKeyError::Invalid(format!("name must be 1 to {MAX_LEN} characters")));
    }
    if !ALGORITHMS.contains(&algorithm) {
        return Err(TsigKeyError::Invalid(format!(
            "'{algorithm}' is not one of {}",
            ALGORITHMS.join(", ")
        )));
    }
    if secret.is_empty() {
        return Err(TsigKeyError::Invalid("secret must not be empty".into()));
    }
    if secret.len() > MAX_LEN {
        return Err(TsigKeyError::Invalid(format!(
            "secret must be at most {MAX_LEN} characters"
        )));
    }
    Ok(())
}

impl TsigKeys {
    fn taken(&self, name: &str, except: Option<Uuid>) -> bool {
        self.keys.values().any(|k| k.name == name && Some(k.id) != except)
    }
}

impl Aggregate for TsigKeys {
    const TYPE: &'static str = TSIGKEY_AGGREGATE;
    type Command = TsigKeyCommand;
    type Event = Domain<TsigKeyEvent>;
    type Error = TsigKeyError;
    type Services = ();

    async fn handle(&mut self, command: TsigKeyCommand, _: &(), sink: &EventSink<Self>) -> Result<(), TsigKeyError> {
        for event in self.decide(command, &(), Utc::now()).await? {
            sink.write(Domain(event), self).await;
        }
        Ok(())
    }

    fn apply(&mut self, Domain(event): Self::Event) {
        self.evolve(&event, DateTime::<Utc>::default());
    }
}

impl Decider for TsigKeys {
    type Contract = TsigKeyEvent;

    fn command_name(command: &TsigKeyCommand) -> &'static str {
        match command {
            TsigKeyCommand::Create { .. } => "CreateTsigKey",
            TsigKeyCommand::Update { .. } => "UpdateTsigKey",
            TsigKeyCommand::Delete { .. } => "DeleteTsigKey",
        }
    }

    async fn decide(
        &self,
        command: TsigKeyCommand,
        _: &(),
        _now: DateTime<Utc>,
    ) -> Result<Vec<TsigKeyEvent>, TsigKeyError> {
        match command {
            TsigKeyCommand::Create { id, fields } => {
                let missing = |field: &str| TsigKeyError::Invalid(format!("'{field}' is a required property"));
                let name = fields.name.ok_or_else(|| missing("name"))?;
                let algorithm = fields.algorithm.ok_or_else(|| missing("algorithm"))?;
                let secret = fields.secret.ok_or_else(|| missing("secret"))?;
                let scope = fields.scope.ok_or_else(|| missing("scope"))?;
                let resource_id = fields.resource_id.ok_or_else(|| missing("resource_id"))?;
                check(&name, &algorithm, &secret)?;
                if self.taken(&name, None) || self.keys.contains_key(&id) {
                    return Err(TsigKeyError::Duplicate);
                }
                Ok(vec![TsigKeyEvent::TsigKeyCreated {
                    tsigkey_id: id,
                    name,
                    algorithm,
                    secret,
                    scope,
                    resource_id,
                }])
            }
            TsigKeyCommand::Update { id, fields } => {
                let key = self.keys.get(&id).ok_or(TsigKeyError::NotFound)?;
                let name = fields.name.unwrap_or_else(|| key.name.clone());
                let algorithm = fields.algorithm.unwrap_or_else(|| key.algorithm.clone());
                let secret = fields.secret.unwrap_or_else(|| key.secret.clone());
                let scope = fields.scope.unwrap_or(key.scope);
                let resource_id = fields.resource_id.unwrap_or(key.resource_id);
                check(&name, &algorithm, &secret)?;
                if self.taken(&name, Some(id)) {
                    return Err(TsigKeyError::Duplicate);
                }
                Ok(vec![TsigKeyEvent::TsigKeyUpdated {
                    tsigkey_id: id,
                    name,
                    algorithm,
                    secret,
                    scope,
                    resource_id,
                }])
            }
            TsigKeyCommand::Delete { id } => {
                if !self.keys.contains_key(&id) {
                    return Err(TsigKeyError::NotFound);
                }
                Ok(vec![TsigKeyEvent::TsigKeyDeleted { tsigkey_id: id }])
            }
        }
    }

    fn evolve(&mut self, event: &TsigKeyEvent, time: DateTime<Utc>) {
        match event {
            TsigKeyEvent::TsigKeyCreated {
                tsigkey_id,
                name,
                algorithm,
                secret,
                scope,
                resource_id,
            } => {
                self.keys.insert(
                    *tsigkey_id,
                    TsigKey {
                        id: *tsigkey_id,
                        name: name.clone(),
                        algorithm: algorithm.clone(),
                        secret: secret.clone(),
                        scope: *scope,
                        resource_id: *resource_id,
                        created_at: time,
                        updated_at: None,
                    },
                );
            }
            TsigKeyEvent::TsigKeyUpdated {
                tsigkey_id,
                name,
                algorithm,
                secret,
                scope,
                resource_id,
            } => {
                if let Some(key) = self.keys.get_mut(tsigkey_id) {
                    key.name.clone_from(name);
                    key.algorithm.clone_from(algorithm);
                    key.secret.clone_from(secret);
                    key.scope = *scope;
                    key.resource_id = *resource_id;
                    key.updated_at = Some(time);
                }
            }
            TsigKeyEvent::TsigKeyDeleted { tsigkey_id } => {
                self.keys.remove(tsigkey_id);
            }
        }
    }

    fn not_found() -> TsigKeyError {
        TsigKeyError::NotFound
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(name: &str) -> TsigKeyFields {
        TsigKeyFields {
            name: Some(name.into()),
            algorithm: Some("hmac-sha256".into()),
            secret: Some("c2VjcmV0".into()),
            scope: Some(TsigScope::Pool),
            resource_id: Some(Uuid::nil()),
        }
    }

    async fn run(keys: &mut TsigKeys, command: TsigKeyCommand) -> Result<Vec<TsigKeyEvent>, TsigKeyError> {
        let events = keys.decide(command, &(), Utc::now()).await?;
        for e in &events {
            keys.evolve(e, Utc::now());
        }
        Ok(events)
    }

    #[tokio::test]
    async fn names_are_unique_algorithms_known_and_secrets_not_empty() {
        let mut keys = TsigKeys::default();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        run(
            &mut keys,
            TsigKeyCommand::Create {
                id: a,
                fields: fields("k1"),
            },
        )
        .await
        .expect("accepted");
        let dup = run(
            &mut keys,
            TsigKeyCommand::Create {
                id: b,
                fields: fields("k1"),
            },
        )
        .await;
        assert_eq!(dup, Err(TsigKeyError::Duplicate));
        let mut bad = fields("k2");
        bad.algorithm = Some("hmac-sha3".into());
        assert!(matches!(
            run(&mut keys, TsigKeyCommand::Create { id: b, fields: bad }).await,
            Err(TsigKeyError::Invalid(_))
        ));
        let mut empty = fields("k2");
        empty.secret = Some(String::new());
        assert!(matches!(
            run(&mut keys, TsigKeyCommand::Create { id: b, fields: empty }).await,
            Err(TsigKeyError::Invalid(_))
        ));
        let mut partial = fields("k2");
        partial.scope = None;
        assert!(matches!(
            run(&mut keys, TsigKeyCommand::Create { id: b, fields: partial }).await,
            Err(TsigKeyError::Invalid(m)) if m.contains("scope")
        ));
        run(
            &mut keys,
            TsigKeyCommand::Create {
                id: b,
                fields: fields("k2"),
            },
        )
        .await
        .expect("accepted");
        // Renaming onto another key's name is a duplicate; renaming itself is fine.
        let rename = |name: &str| TsigKeyFields {
            name: Some(name.into()),
            ..Default::default()
        };
        assert_eq!(
            run(
                &mut keys,
                TsigKeyCommand::Update {
                    id: b,
                    fields: rename("k1")
                }
            )
            .await,
            Err(TsigKeyError::Duplicate)
        );
        run(
            &mut keys,
            TsigKeyCommand::Update {
                id: b,
                fields: rename("k3"),
            },
        )
        .await
        .expect("accepted");
        assert_eq!(keys.keys[&b].name, "k3");
        assert_eq!(keys.keys[&b].secret, "c2VjcmV0");
        run(&mut keys, TsigKeyCommand::Delete { id: a }).await.expect("deleted");
        assert_eq!(
            run(&mut keys, TsigKeyCommand::Delete { id: a }).await,
            Err(TsigKeyError::NotFound)
        );
        assert!(!format!("{keys:?}").contains("c2VjcmV0"));
    }
}
