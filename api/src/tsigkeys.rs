//! `/v2/tsigkeys[/{id}]` (admin only, as Designate's default policies): the TSIG keys mdns verifies
//! transfers with. The secret is shown to admins in clear, as Designate does; it never reaches logs or
//! the audit trail.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use nsplane_command::service::tsigkey_id;
use nsplane_command::tsigkeys::{TsigKeyCommand, TsigKeyError, TsigKeyFields, TsigKeys};
use nsplane_command::Committed;
use nsplane_projection::read::operator::TsigKeyRow;
use nsplane_schema::tsigkeys::{TsigKeyEvent, TsigScope, TSIGKEYS_ID};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Caller;
use crate::body::JsonBody;
use crate::error::ApiError;
use crate::{views, AppState};

impl From<TsigKeyError> for ApiError {
    fn from(error: TsigKeyError) -> Self {
        let message = error.to_string();
        match error {
            TsigKeyError::Duplicate => ApiError::Conflict {
                kind: "duplicate_tsigkey",
                message,
            },
            TsigKeyError::NotFound => ApiError::NotFound {
                kind: "tsigkey_not_found",
                message,
            },
            TsigKeyError::Invalid(message) => ApiError::invalid(message),
        }
    }
}

/// A TSIG key as Designate shows it.
#[derive(Serialize, ToSchema)]
pub(crate) struct TsigKeyView {
    id: String,
    name: String,
    algorithm: String,
    secret: String,
    scope: String,
    resource_id: String,
    created_at: String,
    updated_at: Option<String>,
    links: views::SelfLink,
}

/// A list of TSIG keys.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct TsigKeyList {
    tsigkeys: Vec<TsigKeyView>,
    #[schema(value_type = Object)]
    links: (),
    #[schema(value_type = Object)]
    metadata: (),
}

/// `POST` (every field) and `PATCH` (any field) body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TsigKeyBody {
    name: Option<String>,
    algorithm: Option<String>,
    secret: Option<String>,
    /// `POOL` or `ZONE`.
    scope: Option<String>,
    resource_id: Option<String>,
}

impl TsigKeyBody {
    fn fields(self) -> Result<TsigKeyFields, ApiError> {
        let scope = self
            .scope
            .map(|s| {
                TsigScope::parse(&s).ok_or_else(|| ApiError::invalid(format!("'{s}' is not one of ['POOL', 'ZONE']")))
            })
            .transpose()?;
        let resource_id = self
            .resource_id
            .map(|r| Uuid::parse_str(&r).map_err(|_| ApiError::invalid(format!("'{r}' is not a 'uuid'"))))
            .transpose()?;
        Ok(TsigKeyFields {
            name: self.name,
            algorithm: self.algorithm,
            secret: self.secret,
            scope,
            resource_id,
        })
    }
}

fn view(base: &str, key: &TsigKeyRow) -> Value {
    serde_json::to_value(TsigKeyView {
        id: key.id.to_string(),
        name: key.name.clone(),
        algorithm: key.algorithm.clone(),
        secret: key.secret.clone(),
        scope: key.scope.clone(),
        resource_id: key.resource_id.to_string(),
        created_at: views::timestamp(key.created_at),
        updated_at: key.updated_at.map(views::timestamp),
        links: views::SelfLink::new(format!("{base}/v2/tsigkeys/{}", key.id)),
    })
    .unwrap_or(Value::Null)
}

/// The key `id` as a committed command left it.
fn committed_key(committed: &Committed<TsigKeys>, id: Uuid) -> Result<TsigKeyRow, ApiError> {
    let key = committed.state.keys.get(&id).ok_or(TsigKeyError::NotFound)?;
    Ok(TsigKeyRow {
        id: key.id,
        name: key.name.clone(),
        algorithm: key.algorithm.clone(),
        secret: key.secret.clone(),
        scope: key.scope.as_str().to_owned(),
        resource_id: key.resource_id,
        created_at: key.created_at.naive_utc(),
        updated_at: key.updated_at.map(|t| t.naive_utc()),
    })
}

/// Every key in the read models, once they hold the latest change (of any instance).
async fn keys(state: &AppState) -> Result<Vec<TsigKeyRow>, ApiError> {
    state
        .consistency
        .wait_latest::<TsigKeyEvent>(
            state.commands.store(),
            &state.read,
            TSIGKEYS_ID,
            state.config.read_your_writes_wait,
        )
        .await;
    Ok(state.read.tsigkeys().await?)
}

fn committed(state: &AppState, committed: &Committed<TsigKeys>) {
    state
        .consistency
        .committed::<TsigKeyEvent>(TSIGKEYS_ID, committed.version);
}

fn parse_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::BadRequest {
        kind: "invalid_uuid",
        message: format!("Invalid UUID tsigkey_id: {raw}"),
    })
}

/// The filters Designate takes on the list.
const FILTERS: [&str; 3] = ["name", "algorithm", "scope"];

#[utoipa::path(get, path = "/v2/tsigkeys", tag = "tsigkeys",
    params(("name" = Option<String>, Query), ("algorithm" = Option<String>, Query), ("scope" = Option<String>, Query)),
    responses((status = 200, body = TsigKeyList), crate::openapi::Errors))]
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Query(filters): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let base = views::base_url(&state.config, &headers);
    let items: Vec<Value> = keys(&state)
        .await?
        .iter()
        .filter(|k| {
            FILTERS.iter().all(|f| {
                let value = match *f {
                    "name" => &k.name,
                    "algorithm" => &k.algorithm,
                    _ => &k.scope,
                };
                filters.get(*f).is_none_or(|wanted| wanted == value)
            })
        })
        .map(|k| view(&base, k))
        .collect();
    Ok(Json(views::Collection::whole(
        "tsigkeys",
        items,
        format!("{base}/v2/tsigkeys"),
    ))
    .into_response())
}

#[utoipa::path(post, path = "/v2/tsigkeys", tag = "tsigkeys", request_body = TsigKeyBody,
    responses((status = 201, body = TsigKeyView), crate::openapi::Errors))]
pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    JsonBody(body): JsonBody<TsigKeyBody>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let fields = body.fields()?;
    let actor = caller.actor();
    let id = tsigkey_id(&actor);
    let done = state
        .commands
        .tsigkey(TsigKeyCommand::Create { id, fields }, &actor)
        .await?;
    committed(&state, &done);
    let base = views::base_url(&state.config, &headers);
    let key = committed_key(&done, id)?;
    let mut response = (StatusCode::CREATED, Json(view(&base, &key))).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("{base}/v2/tsigkeys/{id}")) {
        response.headers_mut().insert("location", location);
    }
    Ok(response)
}

#[utoipa::path(get, path = "/v2/tsigkeys/{id}", tag = "tsigkeys", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = TsigKeyView), crate::openapi::Errors))]
pub(crate) async fn show(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let id = parse_id(&id)?;
    let key = keys(&state)
        .await?
        .into_iter()
        .find(|k| k.id == id)
        .ok_or(TsigKeyError::NotFound)?;
    let base = views::base_url(&state.config, &headers);
    Ok(Json(view(&base, &key)).into_response())
}

#[utoipa::path(patch, path = "/v2/tsigkeys/{id}", tag = "tsigkeys", params(("id" = uuid::Uuid, Path)),
    request_body = TsigKeyBody, responses((status = 200, body = TsigKeyView), crate::openapi::Errors))]
pub(crate) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<TsigKeyBody>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let id = parse_id(&id)?;
    let fields = body.fields()?;
    let done = state
        .commands
        .tsigkey(TsigKeyCommand::Update { id, fields }, &caller.actor())
        .await?;
    committed(&state, &done);
    let base = views::base_url(&state.config, &headers);
    Ok(Json(view(&base, &committed_key(&done, id)?)).into_response())
}

#[utoipa::path(delete, path = "/v2/tsigkeys/{id}", tag = "tsigkeys", params(("id" = uuid::Uuid, Path)),
    responses((status = 204, description = "Removed"), crate::openapi::Errors))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let id = parse_id(&id)?;
    let done = state
        .commands
        .tsigkey(TsigKeyCommand::Delete { id }, &caller.actor())
        .await?;
    committed(&state, &done);
    Ok(StatusCode::NO_CONTENT.into_response())
}
