//! TSIG (RFC 8945) for mdns: keys with Designate's scoping (a POOL key sees its pool's zones, a ZONE key
//! its zone), verification of signed requests, and signing of every message of a response, chaining
//! each message's MAC to the previous one as multi-message transfers require.

use std::path::Path;

use anyhow::Context as _;
use base64::Engine as _;
use hickory_proto::rr::rdata::tsig::{make_tsig_record, TsigAlgorithm, TsigError, TSIG};
use hickory_proto::rr::{Name, Record, TSigResponseContext, TSigner};
use hickory_proto::serialize::binary::BinEncoder;
use serde::Deserialize;
use uuid::Uuid;

/// What a key may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Scope {
    /// Every zone of the pool `resource_id`.
    #[serde(rename = "POOL")]
    Pool,
    /// The zone `resource_id`.
    #[serde(rename = "ZONE")]
    Zone,
}

/// A key as configured (Designate's tsigkey fields).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// Key name (the TSIG owner name).
    pub name: String,
    /// `hmac-sha256`, `hmac-sha384` or `hmac-sha512`.
    pub algorithm: String,
    /// Base64 secret.
    pub secret: String,
    /// POOL or ZONE.
    pub scope: Scope,
    /// The pool or zone id.
    pub resource_id: Uuid,
}

/// A usable key.
#[derive(Clone)]
pub struct Key {
    /// Its scope.
    pub scope: Scope,
    /// Its pool or zone.
    pub resource_id: Uuid,
    signer: TSigner,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret stays out of logs.
        f.debug_struct("Key")
            .field("name", self.signer.signer_name())
            .field("scope", &self.scope)
            .finish()
    }
}

impl Key {
    /// Builds a key.
    pub fn new(config: &KeyConfig) -> anyhow::Result<Key> {
        let algorithm = match config.algorithm.to_ascii_lowercase().as_str() {
            "hmac-sha256" => TsigAlgorithm::HmacSha256,
            "hmac-sha384" => TsigAlgorithm::HmacSha384,
            "hmac-sha512" => TsigAlgorithm::HmacSha512,
            other => anyhow::bail!(
                "TSIG key {:?}: algorithm {other:?} is not supported (hmac-sha256, hmac-sha384, hmac-sha512)",
                config.name
            ),
        };
        let secret = base64::engine::general_purpose::STANDARD
            .decode(config.secret.trim())
            .with_context(|| format!("TSIG key {:?}: the secret is not base64", config.name))?;
        let name = Name::from_ascii(&config.name).with_context(|| format!("bad TSIG key name {:?}", config.name))?;
        let signer = TSigner::new(secret, algorithm, name, 300)
            .map_err(|e| anyhow::anyhow!("TSIG key {:?}: {e}", config.name))?;
        Ok(Key {
            scope: config.scope,
            resource_id: config.resource_id,
            signer,
        })
    }

    /// The signer (for clients and tests).
    pub fn signer(&self) -> &TSigner {
        &self.signer
    }

    /// Whether the key may see a zone of a pool.
    pub fn allows(&self, pool_id: Uuid, zone_id: Uuid) -> bool {
        match self.scope {
            Scope::Pool => self.resource_id == pool_id,
            Scope::Zone => self.resource_id == zone_id,
        }
    }
}

/// Every configured key.
#[derive(Debug, Clone, Default)]
pub struct Keys {
    keys: Vec<Key>,
}

impl Keys {
    /// Parses a YAML list of keys.
    pub fn parse(yaml: &str) -> anyhow::Result<Keys> {
        let configs: Vec<KeyConfig> = serde_yaml::from_str(yaml).context("TSIG keys file is not a list of keys")?;
        Ok(Keys {
            keys: configs.iter().map(Key::new).collect::<anyhow::Result<_>>()?,
        })
    }

    /// Reads a YAML file of keys.
    pub fn load(path: &Path) -> anyhow::Result<Keys> {
        let text = std::fs::read_to_string(path).with_context(|| format!("failed to read {}", path.display()))?;
        Keys::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    /// These keys and `more` (a key of `more` with the name of one of these is left out: the file's
    /// keys win).
    pub fn with(&self, more: Vec<Key>) -> Keys {
        let mut keys = self.keys.clone();
        for key in more {
            if !keys.iter().any(|k| k.signer.signer_name() == key.signer.signer_name()) {
                keys.push(key);
            }
        }
        Keys { keys }
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn find(&self, name: &Name, algorithm: &TsigAlgorithm) -> Option<&Key> {
        self.keys
            .iter()
            .find(|k| k.signer.signer_name() == name && k.signer.algorithm() == algorithm)
    }
}

/// The keys mdns uses now, replaced as a whole when the registered keys change; each request reads one
/// snapshot.
#[derive(Debug, Clone, Default)]
pub struct SharedKeys(std::sync::Arc<std::sync::RwLock<std::sync::Arc<Keys>>>);

impl SharedKeys {
    /// Starting with `keys`.
    pub fn new(keys: Keys) -> Self {
        Self(std::sync::Arc::new(std::sync::RwLock::new(std::sync::Arc::new(keys))))
    }

    /// The keys now.
    pub fn current(&self) -> std::sync::Arc<Keys> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Replaces them.
    pub fn replace(&self, keys: Keys) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = std::sync::Arc::new(keys);
    }
}

/// How often the registered TSIG keys are read again.
pub const KEYS_REFRESH: std::time::Duration = std::time::Duration::from_secs(2);

/// A registered key's fields, as compared between two reads.
type KeyFields = (Uuid, String, String, String, String, Uuid);

/// Reads the keys registered through `/v2/tsigkeys` from the read models every [`KEYS_REFRESH`] and
/// calls `apply` with every usable one, by id, whenever they changed (and once at the start). A key
/// that cannot be used (an algorithm hickory does not sign with, a secret that is not base64) is left
/// out with a warning, once.
pub async fn follow_registered(
    read: nsplane_projection::ReadModels,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    mut apply: impl FnMut(std::collections::HashMap<Uuid, Key>) + Send,
) {
    let mut seen: Option<Vec<KeyFields>> = None;
    let mut warned = std::collections::HashSet::new();
    loop {
        match read.tsigkeys().await {
            Ok(rows) => {
                let now: Vec<KeyFields> = rows
                    .iter()
                    .map(|r| {
                        (
                            r.id,
                            r.name.clone(),
                            r.algorithm.clone(),
                            r.secret.clone(),
                            r.scope.clone(),
                            r.resource_id,
                        )
                    })
                    .collect();
                if seen.as_ref() != Some(&now) {
                    let mut usable = std::collections::HashMap::new();
                    for row in &rows {
                        let config = KeyConfig {
                            name: row.name.clone(),
                            algorithm: row.algorithm.clone(),
                            secret: row.secret.clone(),
                            scope: if row.scope == "ZONE" { Scope::Zone } else { Scope::Pool },
                            resource_id: row.resource_id,
                        };
                        match Key::new(&config) {
                            Ok(key) => {
                                usable.insert(row.id, key);
                            }
                            Err(e) => {
                                if warned.insert((row.id, row.algorithm.clone())) {
                                    tracing::warn!(tsigkey = %row.name, error = %e, "a registered TSIG key that cannot be used; left out");
                                }
                            }
                        }
                    }
                    apply(usable);
                    seen = Some(now);
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "could not read the registered TSIG keys; keeping the ones in use");
            }
        }
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => return,
            () = tokio::time::sleep(KEYS_REFRESH) => {}
        }
    }
}

/// The signing state of one signed request's response messages.
pub struct Chain {
    key: Key,
    previous_mac: Vec<u8>,
    first: bool,
    original_id: u16,
}

impl Chain {
    /// The key that signed the request.
    pub fn key(&self) -> &Key {
        &self.key
    }

    /// Signs one response message, given its encoding without TSIG.
    pub fn sign(&mut self, unsigned: &[u8], now: u64) -> anyhow::Result<Box<Record<TSIG>>> {
        let signer = &self.key.signer;
        let stub = TSIG::new(
            signer.algorithm().clone(),
            now,
            signer.fudge(),
            vec![],
            self.original_id,
            None,
            vec![],
        );
        let mut tbs = u16::try_from(self.previous_mac.len())?.to_be_bytes().to_vec();
        tbs.extend_from_slice(&self.previous_mac);
        tbs.extend_from_slice(unsigned);
        if self.first {
            let mut variables = Vec::new();
            stub.emit_tsig_for_mac(&mut BinEncoder::new(&mut variables), signer.signer_name())
                .context("failed to encode TSIG variables")?;
            tbs.extend_from_slice(&variables);
        } else {
            // Later messages of a transfer cover only the timers (RFC 8945 §5.3.1).
            tbs.extend_from_slice(&u16::try_from((now >> 32) & 0xffff)?.to_be_bytes());
            tbs.extend_from_slice(&u32::try_from(now & 0xffff_ffff)?.to_be_bytes());
            tbs.extend_from_slice(&signer.fudge().to_be_bytes());
        }
        let mac = signer.sign(&tbs).map_err(|e| anyhow::anyhow!("failed to sign: {e}"))?;
        self.previous_mac = mac.clone();
        self.first = false;
        Ok(Box::new(make_tsig_record(
            signer.signer_name().clone(),
            stub.set_mac(mac),
        )))
    }
}

/// How a request authenticated.
pub enum Auth {
    /// No TSIG.
    Unsigned,
    /// A valid signature: responses are signed with the same key.
    Signed(Chain),
    /// A bad signature, unknown key or stale time: NOTAUTH with this TSIG error.
    Rejected(TSigResponseContext),
}

/// Verifies the request's TSIG, if any (hickory moves it to `signature` but never checks it).
pub fn verify(keys: &Keys, raw: &[u8], id: u16, signature: Option<&Record<TSIG>>, now: u64) -> Auth {
    let Some(signature) = signature else {
        return Auth::Unsigned;
    };
    let Some(key) = keys.find(&signature.name, &signature.data.algorithm) else {
        return Auth::Rejected(TSigResponseContext::unknown_key(id, now, signature.name.clone()));
    };
    match key.signer.verify_message_byte(raw, None, true) {
        Err(_) => Auth::Rejected(TSigResponseContext::bad_signature(id, now, key.signer.clone())),
        Ok((mac, _, window)) if !window.contains(&now) => Auth::Rejected(TSigResponseContext::new(
            id,
            now,
            key.signer.clone(),
            mac,
            Some(TsigError::BadTime),
        )),
        Ok((mac, _, _)) => Auth::Signed(Chain {
            key: key.clone(),
            previous_mac: mac,
            first: true,
            original_id: signature.data.oid,
        }),
    }
}
