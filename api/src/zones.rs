//! `/v2/zones`: create, list, show, update, delete.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use nsplane_command::service::NewZone;
use nsplane_command::ZoneCommand;
use nsplane_schema::email::Email;
use nsplane_schema::{Ttl, ZoneEvent, ZoneId, ZoneName};
use serde::Deserialize;

use crate::auth::Caller;
use crate::body::{nullable, JsonBody};
use crate::error::ApiError;
use crate::paging::{self, ListSpec};
use crate::{accepted, views, AppState};

/// Longest description Designate accepts.
pub(crate) const DESCRIPTION_MAX: usize = 160;

const ZONE_LIST: ListSpec = ListSpec {
    filters: &[
        ("name", "name"),
        ("type", "type"),
        ("email", "email"),
        ("status", "status"),
        ("description", "description"),
        ("ttl", "ttl"),
    ],
    sort_keys: &[
        ("created_at", "created_at"),
        ("id", "id"),
        ("updated_at", "updated_at"),
        ("name", "name"),
        ("tenant_id", "project_id"),
        ("serial", "serial"),
        ("ttl", "ttl"),
        ("status", "status"),
    ],
};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateZone {
    name: String,
    email: Option<String>,
    ttl: Option<i64>,
    description: Option<String>,
    #[serde(rename = "type")]
    zone_type: Option<String>,
    masters: Option<Vec<String>>,
    #[schema(value_type = Option<std::collections::BTreeMap<String, String>>)]
    attributes: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateZone {
    email: Option<String>,
    ttl: Option<i64>,
    #[serde(default, deserialize_with = "nullable")]
    description: Option<Option<String>>,
    name: Option<String>,
}

pub(crate) fn parse_zone_id(raw: &str) -> Result<ZoneId, ApiError> {
    ZoneId::parse(raw).map_err(|_| ApiError::BadRequest {
        kind: "invalid_uuid",
        message: format!("Invalid UUID zone_id: {raw}"),
    })
}

fn check_email(email: &str) -> Result<Email, ApiError> {
    Email::parse(email).map_err(|e| ApiError::invalid(e.to_string()))
}

fn check_ttl(ttl: i64) -> Result<Ttl, ApiError> {
    Ttl::new(ttl).map_err(|e| ApiError::BadRequest {
        kind: "invalid_ttl",
        message: e.to_string(),
    })
}

/// Designate's zone attributes: string keys (1 to 255 characters) and string values (up to 255).
fn check_attributes(
    raw: serde_json::Map<String, serde_json::Value>,
) -> Result<std::collections::BTreeMap<String, String>, ApiError> {
    if raw.len() > 64 {
        return Err(ApiError::invalid("attributes: at most 64 keys"));
    }
    raw.into_iter()
        .map(|(key, value)| match value {
            serde_json::Value::String(value) if !key.is_empty() && key.len() <= 255 && value.len() <= 255 => {
                Ok((key, value))
            }
            other => Err(ApiError::invalid(format!(
                "attributes: {key:?} must be a key of 1-255 characters with a string value of up to 255, not {other}"
            ))),
        })
        .collect()
}

pub(crate) fn check_description(description: Option<String>) -> Result<Option<String>, ApiError> {
    match description {
        Some(d) if d.chars().count() > DESCRIPTION_MAX => Err(ApiError::invalid(format!(
            "description is longer than {DESCRIPTION_MAX} characters"
        ))),
        other => Ok(other),
    }
}

#[utoipa::path(post, path = "/v2/zones", tag = "zones", request_body = CreateZone, responses((status = 202, body = crate::views::ZoneView), crate::openapi::Errors))]
pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    JsonBody(body): JsonBody<CreateZone>,
) -> Result<Response, ApiError> {
    caller.require_writer()?;
    match body.zone_type.as_deref() {
        None | Some("PRIMARY") => {}
        Some("SECONDARY") => return Err(ApiError::invalid("SECONDARY zones are not supported yet")),
        Some(other) => return Err(ApiError::invalid(format!("'{other}' is not a valid zone type"))),
    }
    if body.masters.as_ref().is_some_and(|m| !m.is_empty()) {
        return Err(ApiError::invalid("masters may only be given for SECONDARY zones"));
    }
    let attributes = check_attributes(body.attributes.unwrap_or_default())?;
    let name = ZoneName::parse(&body.name).map_err(|e| ApiError::BadRequest {
        kind: "invalid_zone_name",
        message: format!("Invalid zone name {:?}: {e}", body.name),
    })?;
    let email = check_email(
        body.email
            .as_deref()
            .ok_or_else(|| ApiError::invalid("email is required for PRIMARY zones"))?,
    )?;
    let ttl = body.ttl.map(check_ttl).transpose()?;
    let description = check_description(body.description)?;
    let zone = NewZone {
        name,
        email,
        ttl,
        description,
        attributes,
    };
    let committed = state.commands.create_zone(zone, &caller.actor(), &state.pools).await?;
    let zone_id = committed.state.id.map(|id| id.to_string()).unwrap_or_default();
    state.consistency.committed::<ZoneEvent>(&zone_id, committed.version);
    let base = views::base_url(&state.config, &headers);
    let location = format!("{base}/v2/zones/{zone_id}");
    Ok(accepted(
        views::zone_from_aggregate(&base, &committed.state),
        Some(location),
    ))
}

#[utoipa::path(get, path = "/v2/zones/{zone_id}", tag = "zones", params(("zone_id" = uuid::Uuid, Path)), responses((status = 200, body = crate::views::ZoneView), crate::openapi::Errors))]
pub(crate) async fn show(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(zone_id): Path<String>,
) -> Result<Response, ApiError> {
    let zone_id = parse_zone_id(&zone_id)?;
    state.wait_zone(zone_id).await;
    let zone = state
        .read
        .zone(zone_id.0)
        .await?
        .filter(|z| caller.may_see_zone(z))
        .ok_or_else(ApiError::zone_not_found)?;
    let base = views::base_url(&state.config, &headers);
    Ok(Json(views::zone_from_row(&base, &zone)).into_response())
}

#[utoipa::path(get, path = "/v2/zones", tag = "zones", params(crate::openapi::ListParams, ("email" = Option<String>, Query)), responses((status = 200, body = crate::openapi::ZoneList), crate::openapi::Errors))]
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    let mut query = paging::parse(&uri, &headers, &ZONE_LIST)?;
    query.project_id = caller.scope().map(|p| p.0.clone());
    state
        .consistency
        .wait_all(&state.read, state.config.read_your_writes_wait)
        .await;
    let page = state.read.zones(&query).await?;
    let base = views::base_url(&state.config, &headers);
    let items = page.items.iter().map(|z| views::zone_from_row(&base, z)).collect();
    let last = page.items.last().map(|z| z.id.to_string());
    Ok(Json(paging::envelope(
        "zones",
        &base,
        &uri,
        page.total_count,
        items,
        last,
        query.limit,
    ))
    .into_response())
}

#[utoipa::path(patch, path = "/v2/zones/{zone_id}", tag = "zones", params(("zone_id" = uuid::Uuid, Path)), request_body = UpdateZone, responses((status = 202, body = crate::views::ZoneView), crate::openapi::Errors))]
pub(crate) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(zone_id): Path<String>,
    JsonBody(body): JsonBody<UpdateZone>,
) -> Result<Response, ApiError> {
    caller.require_writer()?;
    let zone_id = parse_zone_id(&zone_id)?;
    if body.name.is_some() {
        return Err(ApiError::BadRequest {
            kind: "bad_request",
            message: "Renaming a zone is not allowed".into(),
        });
    }
    let command = ZoneCommand::UpdateZone {
        email: body.email.as_deref().map(check_email).transpose()?,
        ttl: body.ttl.map(check_ttl).transpose()?,
        description: body.description.map(check_description).transpose()?,
    };
    let committed = state.commands.zone(zone_id, command, &caller.actor()).await?;
    state
        .consistency
        .committed::<ZoneEvent>(&zone_id.to_string(), committed.version);
    let base = views::base_url(&state.config, &headers);
    Ok(accepted(views::zone_from_aggregate(&base, &committed.state), None))
}

#[utoipa::path(delete, path = "/v2/zones/{zone_id}", tag = "zones", params(("zone_id" = uuid::Uuid, Path)), responses((status = 202, body = crate::views::ZoneView), crate::openapi::Errors))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    uri: Uri,
    Path(zone_id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require_writer()?;
    let zone_id = parse_zone_id(&zone_id)?;
    // A shared zone is deleted only with its shares: `X-Designate-Hard-Delete` (admin),
    // `X-Designate-Delete-Shares: true` or `delete_shares=true`.
    let delete_shares = uri
        .query()
        .is_some_and(|q| q.split('&').any(|kv| kv.eq_ignore_ascii_case("delete_shares=true")))
        || headers
            .get("x-designate-delete-shares")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let command = ZoneCommand::DeleteZone {
        hard: caller.hard_delete || delete_shares,
    };
    let committed = state.commands.zone(zone_id, command, &caller.actor()).await?;
    state
        .consistency
        .committed::<ZoneEvent>(&zone_id.to_string(), committed.version);
    let base = views::base_url(&state.config, &headers);
    Ok(accepted(views::zone_from_aggregate(&base, &committed.state), None))
}

/// `POST /v2/zones/{zone_id}/tasks/abandon` (admin): the zone is gone from nsplane at once, and
/// nothing is removed from the pool's servers.
#[utoipa::path(post, path = "/v2/zones/{zone_id}/tasks/abandon", tag = "zones", params(("zone_id" = uuid::Uuid, Path)), responses((status = 204, description = "Abandoned"), crate::openapi::Errors))]
pub(crate) async fn abandon(
    State(state): State<AppState>,
    caller: Caller,
    Path(zone_id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let zone_id = parse_zone_id(&zone_id)?;
    let committed = state.commands.abandon_zone(zone_id, &caller.actor()).await?;
    state
        .consistency
        .committed::<ZoneEvent>(&zone_id.to_string(), committed.version);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /v2/zones/{zone_id}/nameservers`: the name servers of the zone's pool.
#[utoipa::path(get, path = "/v2/zones/{zone_id}/nameservers", tag = "zones", params(("zone_id" = uuid::Uuid, Path)), responses((status = 200, body = crate::openapi::Nameservers), crate::openapi::Errors))]
pub(crate) async fn nameservers(
    State(state): State<AppState>,
    caller: Caller,
    Path(zone_id): Path<String>,
) -> Result<Response, ApiError> {
    let zone_id = parse_zone_id(&zone_id)?;
    let zone = state.commands.load_zone(zone_id).await?;
    let visible = caller.scope().is_none_or(|p| zone.visible_to(p));
    if zone.name.is_none() || !visible {
        return Err(ApiError::zone_not_found());
    }
    let mut ns = zone.ns_records.clone();
    ns.sort_by_key(|n| n.priority);
    let list: Vec<serde_json::Value> = ns
        .iter()
        .map(|n| serde_json::json!({"hostname": n.hostname.to_string(), "priority": n.priority}))
        .collect();
    Ok(Json(serde_json::json!({ "nameservers": list })).into_response())
}
