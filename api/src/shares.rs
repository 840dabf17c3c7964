//! `/v2/zones/{zone_id}/shares`: Designate's shared zones. The owner shares a zone with another
//! project, which then sees it and may manage its own record sets in it; the shares live in the Zone
//! aggregate, so they are events like any other change.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use nsplane_command::zone::{Share, Zone};
use nsplane_command::ZoneCommand;
use nsplane_schema::ProjectId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Caller;
use crate::body::JsonBody;
use crate::error::ApiError;
use crate::zones::parse_zone_id;
use crate::{views, AppState};

/// A share as Designate shows it.
#[derive(Serialize, ToSchema)]
pub(crate) struct ShareView {
    id: String,
    zone_id: String,
    project_id: Option<String>,
    target_project_id: String,
    created_at: String,
    updated_at: Option<String>,
    links: views::SelfLink,
}

/// A zone's shares.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ShareList {
    shared_zones: Vec<ShareView>,
    #[schema(value_type = Object)]
    links: (),
}

/// `POST` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ShareBody {
    target_project_id: String,
}

fn view(base: &str, zone: &Zone, id: Uuid, share: &Share) -> ShareView {
    let zone_id = zone.id.map(|z| z.to_string()).unwrap_or_default();
    ShareView {
        id: id.to_string(),
        project_id: zone.project_id.as_ref().map(|p| p.0.clone()),
        target_project_id: share.target_project_id.0.clone(),
        created_at: views::timestamp(share.created_at.naive_utc()),
        updated_at: None,
        links: views::SelfLink::new(format!("{base}/v2/zones/{zone_id}/shares/{id}")),
        zone_id,
    }
}

/// The zone, if the caller may see it (owner, a project it is shared with, or all projects).
async fn visible_zone(state: &AppState, caller: &Caller, zone_id: &str) -> Result<Zone, ApiError> {
    let zone_id = parse_zone_id(zone_id)?;
    let zone = state.commands.load_zone(zone_id).await?;
    if zone.name.is_none() || !caller.scope().is_none_or(|p| zone.visible_to(p)) {
        return Err(ApiError::zone_not_found());
    }
    Ok(zone)
}

#[utoipa::path(post, path = "/v2/zones/{zone_id}/shares", tag = "shares", params(("zone_id" = uuid::Uuid, Path)),
    request_body = ShareBody, responses((status = 201, body = ShareView), crate::openapi::Errors))]
pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(zone_id): Path<String>,
    JsonBody(body): JsonBody<ShareBody>,
) -> Result<Response, ApiError> {
    caller.require_writer()?;
    let zone_id = parse_zone_id(&zone_id)?;
    let target = body.target_project_id.trim();
    if target.is_empty() || target.len() > 255 {
        return Err(ApiError::invalid("target_project_id must be 1 to 255 characters"));
    }
    // Derived from the request, so a retried request names the same share.
    let share_id = Uuid::new_v5(&zone_id.0, format!("share.{}", caller.request_id.0).as_bytes());
    let command = ZoneCommand::ShareZone {
        share_id,
        target_project_id: ProjectId(target.to_owned()),
    };
    let committed = state.commands.zone(zone_id, command, &caller.actor()).await?;
    state
        .consistency
        .committed::<nsplane_schema::ZoneEvent>(&zone_id.to_string(), committed.version);
    let share = committed
        .state
        .shares
        .get(&share_id)
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("the committed share is missing")))?;
    let base = views::base_url(&state.config, &headers);
    Ok((
        StatusCode::CREATED,
        Json(view(&base, &committed.state, share_id, share)),
    )
        .into_response())
}

#[utoipa::path(get, path = "/v2/zones/{zone_id}/shares", tag = "shares", params(("zone_id" = uuid::Uuid, Path)),
    responses((status = 200, body = ShareList), crate::openapi::Errors))]
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(zone_id): Path<String>,
) -> Result<Response, ApiError> {
    let zone = visible_zone(&state, &caller, &zone_id).await?;
    let base = views::base_url(&state.config, &headers);
    let owner = caller.scope().is_none_or(|p| zone.project_id.as_ref() == Some(p));
    // A project a zone is shared with sees its own share only.
    let items: Vec<ShareView> = zone
        .shares
        .iter()
        .filter(|(_, s)| owner || caller.scope() == Some(&s.target_project_id))
        .map(|(id, s)| view(&base, &zone, *id, s))
        .collect();
    Ok(Json(views::Collection {
        key: "shared_zones".into(),
        items: serde_json::to_value(items).unwrap_or_default(),
        links: serde_json::json!({"self": format!("{base}/v2/zones/{zone_id}/shares")}),
        metadata: None,
    })
    .into_response())
}

#[utoipa::path(get, path = "/v2/zones/{zone_id}/shares/{share_id}", tag = "shares",
    params(("zone_id" = uuid::Uuid, Path), ("share_id" = uuid::Uuid, Path)),
    responses((status = 200, body = ShareView), crate::openapi::Errors))]
pub(crate) async fn show(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((zone_id, share_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let zone = visible_zone(&state, &caller, &zone_id).await?;
    let share_id = parse_share_id(&share_id)?;
    let owner = caller.scope().is_none_or(|p| zone.project_id.as_ref() == Some(p));
    let share = zone
        .shares
        .get(&share_id)
        .filter(|s| owner || caller.scope() == Some(&s.target_project_id))
        .ok_or_else(share_not_found)?;
    let base = views::base_url(&state.config, &headers);
    Ok(Json(view(&base, &zone, share_id, share)).into_response())
}

#[utoipa::path(delete, path = "/v2/zones/{zone_id}/shares/{share_id}", tag = "shares",
    params(("zone_id" = uuid::Uuid, Path), ("share_id" = uuid::Uuid, Path)),
    responses((status = 204, description = "Unshared"), crate::openapi::Errors))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((zone_id, share_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    caller.require_writer()?;
    let zone_id = parse_zone_id(&zone_id)?;
    let share_id = parse_share_id(&share_id)?;
    let committed = state
        .commands
        .zone(zone_id, ZoneCommand::UnshareZone { share_id }, &caller.actor())
        .await?;
    state
        .consistency
        .committed::<nsplane_schema::ZoneEvent>(&zone_id.to_string(), committed.version);
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn parse_share_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::BadRequest {
        kind: "invalid_uuid",
        message: format!("Invalid UUID share_id: {raw}"),
    })
}

fn share_not_found() -> ApiError {
    ApiError::NotFound {
        kind: "zone_share_not_found",
        message: "Could not find ZoneShare".into(),
    }
}
