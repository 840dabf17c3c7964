//! `/v2/tlds` and `/v2/blacklists` (admin only, as Designate's default policies): the operator's
//! rules for zone names, checked on every zone create.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use nsplane_command::naming::{Kind, NamingCommand, NamingError, NamingRules};
use nsplane_command::service::rule_id;
use nsplane_command::Committed;
use nsplane_projection::read::operator::{RuleRow, RuleTable};
use nsplane_schema::naming::{NamingEvent, NAMING_ID};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Caller;
use crate::body::{nullable, JsonBody};
use crate::error::ApiError;
use crate::zones::check_description;
use crate::{views, AppState};

impl From<NamingError> for ApiError {
    fn from(error: NamingError) -> Self {
        let message = error.to_string();
        match error {
            NamingError::Duplicate(kind) => ApiError::Conflict {
                kind: match kind {
                    Kind::Tld => "duplicate_tld",
                    Kind::Blacklist => "duplicate_blacklist",
                },
                message,
            },
            NamingError::NotFound(kind) => ApiError::NotFound {
                kind: match kind {
                    Kind::Tld => "tld_not_found",
                    Kind::Blacklist => "blacklist_not_found",
                },
                message,
            },
            NamingError::Invalid(message) => ApiError::invalid(message),
            NamingError::Refused(message) => ApiError::BadRequest {
                kind: "invalid_zone_name",
                message,
            },
        }
    }
}

/// A TLD or a blacklist entry as Designate shows it (`name` for TLDs, `pattern` for blacklists).
#[derive(Serialize, ToSchema)]
pub(crate) struct RuleView {
    id: String,
    /// TLDs only.
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    /// Blacklists only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pattern: Option<String>,
    description: Option<String>,
    created_at: String,
    updated_at: Option<String>,
    links: views::SelfLink,
}

/// A list of TLDs or blacklists (`tlds` or `blacklists`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct RuleList {
    tlds: Option<Vec<RuleView>>,
    blacklists: Option<Vec<RuleView>>,
    #[schema(value_type = Object)]
    links: (),
    #[schema(value_type = Object)]
    metadata: (),
}

/// `POST` body (`name` for a TLD, `pattern` for a blacklist).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleBody {
    name: Option<String>,
    pattern: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    description: Option<Option<String>>,
}

fn collection(kind: Kind) -> &'static str {
    match kind {
        Kind::Tld => "tlds",
        Kind::Blacklist => "blacklists",
    }
}

fn view(kind: Kind, base: &str, rule: &RuleRow) -> Value {
    let (name, pattern) = match kind {
        Kind::Tld => (Some(rule.value.clone()), None),
        Kind::Blacklist => (None, Some(rule.value.clone())),
    };
    serde_json::to_value(RuleView {
        id: rule.id.to_string(),
        name,
        pattern,
        description: rule.description.clone(),
        created_at: views::timestamp(rule.created_at),
        updated_at: rule.updated_at.map(views::timestamp),
        links: views::SelfLink::new(format!("{base}/v2/{}/{}", collection(kind), rule.id)),
    })
    .unwrap_or(Value::Null)
}

fn table(kind: Kind) -> RuleTable {
    match kind {
        Kind::Tld => RuleTable::Tlds,
        Kind::Blacklist => RuleTable::Blacklists,
    }
}

/// The rule `id` as a committed command left it.
fn committed_rule(kind: Kind, committed: &Committed<NamingRules>, id: Uuid) -> Result<RuleRow, ApiError> {
    let rule = committed
        .state
        .rules(kind)
        .get(&id)
        .ok_or(NamingError::NotFound(kind))?;
    Ok(RuleRow {
        id: rule.id,
        value: rule.value.clone(),
        description: rule.description.clone(),
        created_at: rule.created_at.naive_utc(),
        updated_at: rule.updated_at.map(|t| t.naive_utc()),
    })
}

/// Every rule of a kind in the read models, once they hold the latest change (of any instance).
async fn rules(kind: Kind, state: &AppState) -> Result<Vec<RuleRow>, ApiError> {
    state
        .consistency
        .wait_latest::<NamingEvent>(
            state.commands.store(),
            &state.read,
            NAMING_ID,
            state.config.read_your_writes_wait,
        )
        .await;
    Ok(state.read.rules(table(kind)).await?)
}

fn committed(state: &AppState, committed: &Committed<NamingRules>) {
    state.consistency.committed::<NamingEvent>(NAMING_ID, committed.version);
}

fn parse_id(kind: Kind, raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::BadRequest {
        kind: "invalid_uuid",
        message: format!(
            "Invalid UUID {}_id: {raw}",
            &collection(kind)[..collection(kind).len() - 1]
        ),
    })
}

/// The value a body names for `kind` (and nothing meant for the other kind).
fn body_value(kind: Kind, body: &RuleBody) -> Result<Option<String>, ApiError> {
    let (wanted, other) = match kind {
        Kind::Tld => (&body.name, &body.pattern),
        Kind::Blacklist => (&body.pattern, &body.name),
    };
    if other.is_some() {
        return Err(ApiError::invalid(format!(
            "Additional properties are not allowed for {}",
            collection(kind)
        )));
    }
    Ok(wanted.clone())
}

async fn list(kind: Kind, state: &AppState, caller: &Caller, headers: &HeaderMap) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let entries = rules(kind, state).await?;
    let base = views::base_url(&state.config, headers);
    let items: Vec<Value> = entries.iter().map(|e| view(kind, &base, e)).collect();
    Ok(Json(views::Collection::whole(
        collection(kind),
        items,
        format!("{base}/v2/{}", collection(kind)),
    ))
    .into_response())
}

async fn create(
    kind: Kind,
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    body: RuleBody,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let value = body_value(kind, &body)?.ok_or_else(|| {
        ApiError::invalid(match kind {
            Kind::Tld => "'name' is a required property",
            Kind::Blacklist => "'pattern' is a required property",
        })
    })?;
    let description = check_description(body.description.flatten())?;
    let actor = caller.actor();
    let id = rule_id(kind, &actor);
    let command = NamingCommand::Create {
        kind,
        id,
        value,
        description,
    };
    let done = state.commands.naming(command, &actor).await?;
    committed(state, &done);
    let base = views::base_url(&state.config, headers);
    let rule = committed_rule(kind, &done, id)?;
    Ok((StatusCode::CREATED, Json(view(kind, &base, &rule))).into_response())
}

async fn show(
    kind: Kind,
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    id: &str,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let id = parse_id(kind, id)?;
    let rule = rules(kind, state)
        .await?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or(NamingError::NotFound(kind))?;
    let base = views::base_url(&state.config, headers);
    Ok(Json(view(kind, &base, &rule)).into_response())
}

async fn update(
    kind: Kind,
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    id: &str,
    body: RuleBody,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let id = parse_id(kind, id)?;
    let value = body_value(kind, &body)?;
    let description = body.description.map(check_description).transpose()?;
    let command = NamingCommand::Update {
        kind,
        id,
        value,
        description,
    };
    let done = state.commands.naming(command, &caller.actor()).await?;
    committed(state, &done);
    let base = views::base_url(&state.config, headers);
    let rule = committed_rule(kind, &done, id)?;
    Ok(Json(view(kind, &base, &rule)).into_response())
}

async fn delete(kind: Kind, state: &AppState, caller: &Caller, id: &str) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let command = NamingCommand::Delete {
        kind,
        id: parse_id(kind, id)?,
    };
    let done = state.commands.naming(command, &caller.actor()).await?;
    committed(state, &done);
    Ok(StatusCode::NO_CONTENT.into_response())
}

macro_rules! rule_handlers {
    ($kind:expr, $tag:literal, $path:literal, $item:literal,
     $list:ident, $create:ident, $show:ident, $update:ident, $delete:ident) => {
        #[utoipa::path(get, path = $path, tag = $tag, responses((status = 200, body = RuleList), crate::openapi::Errors))]
        pub(crate) async fn $list(
            State(state): State<AppState>,
            caller: Caller,
            headers: HeaderMap,
        ) -> Result<Response, ApiError> {
            list($kind, &state, &caller, &headers).await
        }

        #[utoipa::path(post, path = $path, tag = $tag, request_body = RuleBody,
                                            responses((status = 201, body = RuleView), crate::openapi::Errors))]
        pub(crate) async fn $create(
            State(state): State<AppState>,
            caller: Caller,
            headers: HeaderMap,
            JsonBody(body): JsonBody<RuleBody>,
        ) -> Result<Response, ApiError> {
            create($kind, &state, &caller, &headers, body).await
        }

        #[utoipa::path(get, path = $item, tag = $tag, params(("id" = uuid::Uuid, Path)),
                                            responses((status = 200, body = RuleView), crate::openapi::Errors))]
        pub(crate) async fn $show(
            State(state): State<AppState>,
            caller: Caller,
            headers: HeaderMap,
            Path(id): Path<String>,
        ) -> Result<Response, ApiError> {
            show($kind, &state, &caller, &headers, &id).await
        }

        #[utoipa::path(patch, path = $item, tag = $tag, params(("id" = uuid::Uuid, Path)), request_body = RuleBody,
                                            responses((status = 200, body = RuleView), crate::openapi::Errors))]
        pub(crate) async fn $update(
            State(state): State<AppState>,
            caller: Caller,
            headers: HeaderMap,
            Path(id): Path<String>,
            JsonBody(body): JsonBody<RuleBody>,
        ) -> Result<Response, ApiError> {
            update($kind, &state, &caller, &headers, &id, body).await
        }

        #[utoipa::path(delete, path = $item, tag = $tag, params(("id" = uuid::Uuid, Path)),
                                            responses((status = 204, description = "Removed"), crate::openapi::Errors))]
        pub(crate) async fn $delete(
            State(state): State<AppState>,
            caller: Caller,
            Path(id): Path<String>,
        ) -> Result<Response, ApiError> {
            delete($kind, &state, &caller, &id).await
        }
    };
}

rule_handlers!(
    Kind::Tld,
    "tlds",
    "/v2/tlds",
    "/v2/tlds/{id}",
    list_tlds,
    create_tld,
    show_tld,
    update_tld,
    delete_tld
);
rule_handlers!(
    Kind::Blacklist,
    "blacklists",
    "/v2/blacklists",
    "/v2/blacklists/{id}",
    list_blacklists,
    create_blacklist,
    show_blacklist,
    update_blacklist,
    delete_blacklist
);
