//! Keystone token validation, as keystonemiddleware does it for Designate: the API holds a service
//! token (password auth of its own user) and asks Keystone about each caller's `X-Auth-Token` with
//! `GET /v3/auth/tokens?nocatalog` (`X-Subject-Token`). Answers are cached, bounded in size and in
//! age, so a revoked token stops working within `cache_ttl`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use tokio::sync::Mutex;

/// Where Keystone is and who the API is to it.
#[derive(Clone)]
pub struct KeystoneConfig {
    /// Identity v3 URL, e.g. `http://keystone:5000/v3`.
    pub url: String,
    /// The API's service user.
    pub username: String,
    /// Its password.
    pub password: String,
    /// The project its token is scoped to.
    pub project_name: String,
    /// Domain of the user.
    pub user_domain_name: String,
    /// Domain of the project.
    pub project_domain_name: String,
    /// Longest time a validated token is trusted without asking again.
    pub cache_ttl: Duration,
    /// Most tokens remembered.
    pub cache_size: u64,
    /// Timeout of each request to Keystone.
    pub timeout: Duration,
}

impl std::fmt::Debug for KeystoneConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeystoneConfig")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("project_name", &self.project_name)
            .field("cache_ttl", &self.cache_ttl)
            .field("cache_size", &self.cache_size)
            .finish_non_exhaustive()
    }
}

/// What a valid token says about its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The project the token is scoped to (`None`: unscoped, domain- or system-scoped).
    pub project_id: Option<String>,
    /// The user.
    pub user_id: String,
    /// Role names, lower case.
    pub roles: Vec<String>,
}

/// Why a token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Keystone says the token is not valid (expired, revoked, unknown).
    #[error("the token is not valid")]
    Invalid,
    /// Keystone could not be asked (down, slow, or refusing the service user).
    #[error("the identity service is unavailable: {0}")]
    Unavailable(String),
}

#[derive(Deserialize)]
struct TokenBody {
    token: Token,
}

#[derive(Deserialize)]
struct Token {
    expires_at: Option<DateTime<Utc>>,
    user: Named,
    project: Option<Named>,
    #[serde(default)]
    roles: Vec<NamedRole>,
}

#[derive(Deserialize)]
struct Named {
    id: String,
}

#[derive(Deserialize)]
struct NamedRole {
    name: String,
}

struct ServiceToken {
    value: String,
    expires_at: Option<DateTime<Utc>>,
}

/// Validates callers' tokens against Keystone.
pub struct Keystone {
    config: KeystoneConfig,
    http: reqwest::Client,
    service: Mutex<Option<ServiceToken>>,
    cache: moka::sync::Cache<String, Arc<(Identity, std::time::Instant)>>,
}

impl std::fmt::Debug for Keystone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keystone")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A service token is renewed this long before Keystone says it expires.
const RENEW_MARGIN: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

impl Keystone {
    /// A validator; nothing is asked of Keystone until the first request.
    pub fn new(config: KeystoneConfig) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|e| anyhow::anyhow!("keystone HTTP client: {e}"))?;
        let cache = moka::sync::Cache::builder().max_capacity(config.cache_size).build();
        Ok(Self {
            config,
            http,
            service: Mutex::new(None),
            cache,
        })
    }

    /// Keystone's URL without the version, for `WWW-Authenticate`.
    pub fn public_uri(&self) -> &str {
        self.config.url.trim_end_matches('/').trim_end_matches("/v3")
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.url.trim_end_matches('/'))
    }

    /// The identity behind `token`, from the cache or from Keystone.
    pub async fn validate(&self, token: &str) -> Result<Identity, TokenError> {
        if let Some(entry) = self.cache.get(token) {
            let (identity, valid_until) = entry.as_ref();
            if std::time::Instant::now() < *valid_until {
                return Ok(identity.clone());
            }
            self.cache.invalidate(token);
        }
        // One retry with a fresh service token if Keystone no longer accepts ours.
        let mut fresh = false;
        loop {
            let service = self.service_token(fresh).await?;
            let response = self
                .http
                .get(self.url("/auth/tokens?nocatalog"))
                .header("x-auth-token", &service)
                .header("x-subject-token", token)
                .send()
                .await
                .map_err(|e| TokenError::Unavailable(e.to_string()))?;
            match response.status().as_u16() {
                200 => {
                    let body: TokenBody = response
                        .json()
                        .await
                        .map_err(|e| TokenError::Unavailable(format!("unreadable token body: {e}")))?;
                    let identity = Identity {
                        project_id: body.token.project.map(|p| p.id),
                        user_id: body.token.user.id,
                        roles: body.token.roles.into_iter().map(|r| r.name.to_lowercase()).collect(),
                    };
                    let mut trust_for = self.config.cache_ttl;
                    if let Some(expires_at) = body.token.expires_at {
                        let left = (expires_at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
                        if left.is_zero() {
                            return Err(TokenError::Invalid);
                        }
                        trust_for = trust_for.min(left);
                    }
                    let until = std::time::Instant::now() + trust_for;
                    self.cache.insert(token.to_owned(), Arc::new((identity.clone(), until)));
                    return Ok(identity);
                }
                401 | 403 if !fresh => {
                    tracing::info!("keystone refused the service token; authenticating again");
                    fresh = true;
                }
                400 | 404 => return Err(TokenError::Invalid),
                status => return Err(TokenError::Unavailable(format!("token validation answered {status}"))),
            }
        }
    }

    /// The API's own token, obtained (or renewed) by password authentication.
    async fn service_token(&self, renew: bool) -> Result<String, TokenError> {
        let mut held = self.service.lock().await;
        if let Some(token) = held.as_ref() {
            let fresh_enough = token.expires_at.is_none_or(|at| at - RENEW_MARGIN > Utc::now());
            if fresh_enough && !renew {
                return Ok(token.value.clone());
            }
        }
        let c = &self.config;
        let body = serde_json::json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": c.username, "password": c.password, "domain": {"name": c.user_domain_name}
            }}},
            "scope": {"project": {"name": c.project_name, "domain": {"name": c.project_domain_name}}}
        }});
        let response = self
            .http
            .post(self.url("/auth/tokens?nocatalog"))
            .json(&body)
            .send()
            .await
            .map_err(|e| TokenError::Unavailable(e.to_string()))?;
        if response.status().as_u16() != 201 {
            return Err(TokenError::Unavailable(format!(
                "keystone refused the service user {:?}: {}",
                c.username,
                response.status()
            )));
        }
        let value = response
            .headers()
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| TokenError::Unavailable("keystone issued no X-Subject-Token".into()))?;
        let expires_at = response.json::<TokenBody>().await.ok().and_then(|b| b.token.expires_at);
        *held = Some(ServiceToken {
            value: value.clone(),
            expires_at,
        });
        Ok(value)
    }
}
