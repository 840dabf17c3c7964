//! `/v2/zones/{zone_id}/recordsets` and `/v2/recordsets`: create, list, show, update, delete.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use nsplane_command::service::{NewRecordset, RecordsetChange};
use nsplane_command::ZoneCommand;
use nsplane_schema::{RecordType, RecordsetId, RecordsetName, Ttl, ZoneEvent};
use serde::Deserialize;

use crate::auth::Caller;
use crate::body::{nullable, JsonBody};
use crate::error::ApiError;
use crate::paging::{self, ListSpec};
use crate::zones::{check_description, parse_zone_id};
use crate::{accepted, views, AppState};

const RECORDSET_LIST: ListSpec = ListSpec {
    filters: &[
        ("name", "name"),
        ("type", "type"),
        ("ttl", "ttl"),
        ("data", "data"),
        ("status", "status"),
        ("description", "description"),
    ],
    sort_keys: &[
        ("created_at", "created_at"),
        ("id", "id"),
        ("updated_at", "updated_at"),
        ("zone_id", "zone_id"),
        ("tenant_id", "project_id"),
        ("name", "name"),
        ("type", "type"),
        ("ttl", "ttl"),
    ],
};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateRecordset {
    name: String,
    #[serde(rename = "type")]
    rtype: String,
    records: Vec<String>,
    ttl: Option<i64>,
    description: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateRecordset {
    /// Designate accepts the record set's own name (a client sending the whole record set back); it
    /// cannot change.
    name: Option<String>,
    /// Likewise the type.
    #[serde(rename = "type")]
    rtype: Option<String>,
    records: Option<Vec<String>>,
    #[serde(default, deserialize_with = "nullable")]
    ttl: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    description: Option<Option<String>>,
}

fn parse_recordset_id(raw: &str) -> Result<RecordsetId, ApiError> {
    RecordsetId::parse(raw).map_err(|_| ApiError::BadRequest {
        kind: "invalid_uuid",
        message: format!("Invalid UUID recordset_id: {raw}"),
    })
}

fn check_ttl(ttl: i64) -> Result<Ttl, ApiError> {
    Ttl::new(ttl).map_err(|e| ApiError::BadRequest {
        kind: "invalid_ttl",
        message: e.to_string(),
    })
}

#[utoipa::path(post, path = "/v2/zones/{zone_id}/recordsets", tag = "recordsets", params(("zone_id" = uuid::Uuid, Path)), request_body = CreateRecordset, responses((status = 202, body = crate::views::RecordsetView), crate::openapi::Errors))]
pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(zone_id): Path<String>,
    JsonBody(body): JsonBody<CreateRecordset>,
) -> Result<Response, ApiError> {
    caller.require_writer()?;
    let zone_id = parse_zone_id(&zone_id)?;
    let rtype = RecordType::parse(&body.rtype).map_err(|e| ApiError::invalid(e.to_string()))?;
    if rtype == RecordType::SOA {
        return Err(nsplane_command::ZoneError::SoaNotAllowed.into());
    }
    let name = RecordsetName::parse(&body.name).map_err(|e| ApiError::BadRequest {
        kind: "invalid_recordset_name",
        message: format!("Invalid recordset name {:?}: {e}", body.name),
    })?;
    let recordset = NewRecordset {
        name,
        rtype,
        records: body.records,
        ttl: body.ttl.map(check_ttl).transpose()?,
        description: check_description(body.description)?,
    };
    let (recordset_id, committed) = state
        .commands
        .create_recordset(zone_id, recordset, &caller.actor())
        .await?;
    state
        .consistency
        .committed::<ZoneEvent>(&zone_id.to_string(), committed.version);
    let base = views::base_url(&state.config, &headers);
    let rs = committed
        .state
        .recordsets
        .get(&recordset_id)
        .ok_or_else(ApiError::recordset_not_found)?;
    let location = format!("{base}/v2/zones/{zone_id}/recordsets/{recordset_id}");
    Ok(accepted(
        views::recordset_from_aggregate(&base, &committed.state, rs),
        Some(location),
    ))
}

#[utoipa::path(get, path = "/v2/zones/{zone_id}/recordsets/{recordset_id}", tag = "recordsets", params(("zone_id" = uuid::Uuid, Path), ("recordset_id" = uuid::Uuid, Path)), responses((status = 200, body = crate::views::RecordsetView), crate::openapi::Errors))]
pub(crate) async fn show(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((zone_id, recordset_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let zone_id = parse_zone_id(&zone_id)?;
    let recordset_id = parse_recordset_id(&recordset_id)?;
    state.wait_zone(zone_id).await;
    let zone = state.read.zone(zone_id.0).await?.filter(|z| caller.may_see_zone(z));
    if zone.is_none() {
        return Err(ApiError::zone_not_found());
    }
    let rs = state
        .read
        .recordset(zone_id.0, recordset_id.0)
        .await?
        .ok_or_else(ApiError::recordset_not_found)?;
    let base = views::base_url(&state.config, &headers);
    Ok(Json(views::recordset_from_row(&base, &rs)).into_response())
}

async fn list(
    state: AppState,
    caller: Caller,
    headers: HeaderMap,
    uri: Uri,
    zone_id: Option<nsplane_schema::ZoneId>,
) -> Result<Response, ApiError> {
    let mut query = paging::parse(&uri, &headers, &RECORDSET_LIST)?;
    match zone_id {
        Some(zone_id) => {
            state.wait_zone(zone_id).await;
            let zone = state.read.zone(zone_id.0).await?.filter(|z| caller.may_see_zone(z));
            if zone.is_none() {
                return Err(ApiError::zone_not_found());
            }
            query.zone_id = Some(zone_id.0);
        }
        None => {
            state
                .consistency
                .wait_all(&state.read, state.config.read_your_writes_wait)
                .await;
            query.project_id = caller.scope().map(|p| p.0.clone());
        }
    }
    let page = state.read.recordsets(&query).await?;
    let base = views::base_url(&state.config, &headers);
    let items = page
        .items
        .iter()
        .map(|rs| views::recordset_from_row(&base, rs))
        .collect();
    let last = page.items.last().map(|rs| rs.id.to_string());
    Ok(Json(paging::envelope(
        "recordsets",
        &base,
        &uri,
        page.total_count,
        items,
        last,
        query.limit,
    ))
    .into_response())
}

#[utoipa::path(get, path = "/v2/zones/{zone_id}/recordsets", tag = "recordsets", params(("zone_id" = uuid::Uuid, Path), crate::openapi::ListParams, ("data" = Option<String>, Query)), responses((status = 200, body = crate::openapi::RecordsetList), crate::openapi::Errors))]
pub(crate) async fn list_in_zone(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    uri: Uri,
    Path(zone_id): Path<String>,
) -> Result<Response, ApiError> {
    let zone_id = parse_zone_id(&zone_id)?;
    list(state, caller, headers, uri, Some(zone_id)).await
}

#[utoipa::path(get, path = "/v2/recordsets", tag = "recordsets", params(crate::openapi::ListParams, ("data" = Option<String>, Query)), responses((status = 200, body = crate::openapi::RecordsetList), crate::openapi::Errors))]
pub(crate) async fn list_all(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    list(state, caller, headers, uri, None).await
}

#[utoipa::path(put, path = "/v2/zones/{zone_id}/recordsets/{recordset_id}", tag = "recordsets", params(("zone_id" = uuid::Uuid, Path), ("recordset_id" = uuid::Uuid, Path)), request_body = UpdateRecordset, responses((status = 202, body = crate::views::RecordsetView), crate::openapi::Errors))]
pub(crate) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((zone_id, recordset_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<UpdateRecordset>,
) -> Result<Response, ApiError> {
    caller.require_writer()?;
    let zone_id = parse_zone_id(&zone_id)?;
    let recordset_id = parse_recordset_id(&recordset_id)?;
    if body.name.is_some() || body.rtype.is_some() {
        let zone = state.commands.load_zone(zone_id).await?;
        // Only for a caller who may see the zone (the update below refuses the others as not found).
        let visible = caller.scope().is_none_or(|p| zone.visible_to(p));
        if let Some(rs) = zone.recordsets.get(&recordset_id).filter(|_| visible) {
            let same_name = body
                .name
                .as_deref()
                .is_none_or(|n| n.eq_ignore_ascii_case(rs.name.as_str()));
            let same_type = body
                .rtype
                .as_deref()
                .is_none_or(|t| t.eq_ignore_ascii_case(&rs.rtype.to_string()));
            if !same_name || !same_type {
                return Err(ApiError::invalid("a record set's name and type cannot change"));
            }
        }
    }
    let change = RecordsetChange {
        records: body.records,
        ttl: body.ttl.map(|t| t.map(check_ttl).transpose()).transpose()?,
        description: body.description.map(check_description).transpose()?,
        edit_managed: caller.edit_managed,
    };
    let committed = state
        .commands
        .update_recordset(zone_id, recordset_id, change, &caller.actor())
        .await?;
    state
        .consistency
        .committed::<ZoneEvent>(&zone_id.to_string(), committed.version);
    let base = views::base_url(&state.config, &headers);
    let rs = committed
        .state
        .recordsets
        .get(&recordset_id)
        .ok_or_else(ApiError::recordset_not_found)?;
    Ok(accepted(
        views::recordset_from_aggregate(&base, &committed.state, rs),
        None,
    ))
}

#[utoipa::path(delete, path = "/v2/zones/{zone_id}/recordsets/{recordset_id}", tag = "recordsets", params(("zone_id" = uuid::Uuid, Path), ("recordset_id" = uuid::Uuid, Path)), responses((status = 202, body = crate::views::RecordsetView), crate::openapi::Errors))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((zone_id, recordset_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    caller.require_writer()?;
    let zone_id = parse_zone_id(&zone_id)?;
    let recordset_id = parse_recordset_id(&recordset_id)?;
    // The body shows the record set as it was, now PENDING deletion.
    let before = state.commands.load_zone(zone_id).await?;
    let command = ZoneCommand::DeleteRecordset {
        recordset_id,
        edit_managed: caller.edit_managed,
    };
    let committed = state.commands.zone(zone_id, command, &caller.actor()).await?;
    state
        .consistency
        .committed::<ZoneEvent>(&zone_id.to_string(), committed.version);
    let base = views::base_url(&state.config, &headers);
    let mut rs = before
        .recordsets
        .get(&recordset_id)
        .map(|rs| rs.as_ref().clone())
        .ok_or_else(ApiError::recordset_not_found)?;
    rs.status = nsplane_schema::Status::Pending;
    rs.action = nsplane_schema::Action::Delete;
    Ok(accepted(
        views::recordset_from_aggregate(&base, &committed.state, &rs),
        None,
    ))
}

/// `GET /v2/recordsets/{id}`: 301 to the record set under its zone, as Designate answers.
#[utoipa::path(get, path = "/v2/recordsets/{recordset_id}", tag = "recordsets", params(("recordset_id" = uuid::Uuid, Path)), responses((status = 301, description = "Location: the record set under its zone"), crate::openapi::Errors))]
pub(crate) async fn redirect(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(recordset_id): Path<String>,
) -> Result<Response, ApiError> {
    let recordset_id = parse_recordset_id(&recordset_id)?;
    state
        .consistency
        .wait_all(&state.read, state.config.read_your_writes_wait)
        .await;
    let rs = state
        .read
        .recordset_by_id(recordset_id.0)
        .await?
        .filter(|rs| caller.may_see(&rs.project_id))
        .ok_or_else(ApiError::recordset_not_found)?;
    let base = views::base_url(&state.config, &headers);
    let location = format!("{base}/v2/zones/{}/recordsets/{}", rs.zone_id, rs.id);
    let mut response = axum::http::StatusCode::MOVED_PERMANENTLY.into_response();
    if let Ok(value) = axum::http::HeaderValue::from_str(&location) {
        response.headers_mut().insert("location", value);
    }
    Ok(response)
}
