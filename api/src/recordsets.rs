//! `/v2/zones/{zone_id}/recordsets` and `/v2/recordsets`: create, list, show, update, delete.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use nsplane_command::ZoneCommand;
use nsplane_projection::read;
use nsplane_schema::rdata::{validate_owner_name, validate_record};
use nsplane_schema::{RecordType, RecordsetId, RecordsetName, Ttl};
use serde::Deserialize;

use crate::auth::Caller;
use crate::body::{nullable, JsonBody};
use crate::error::ApiError;
use crate::paging::{self, ListSpec};
use crate::zones::{check_description, metadata, parse_zone_id};
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

fn check_records(rtype: RecordType, records: &[String]) -> Result<Vec<String>, ApiError> {
    if records.is_empty() {
        return Err(ApiError::invalid("records must contain at least one record"));
    }
    records
        .iter()
        .map(|r| validate_record(rtype, r).map_err(|e| ApiError::invalid(format!("Invalid {rtype} record {r:?}: {e}"))))
        .collect()
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
    validate_owner_name(rtype, &name).map_err(|e| ApiError::BadRequest {
        kind: "invalid_recordset_name",
        message: e.to_string(),
    })?;
    let records = check_records(rtype, &body.records)?;
    let ttl = body.ttl.map(check_ttl).transpose()?;
    let description = check_description(body.description)?;
    let recordset_id = RecordsetId::derived(zone_id, &caller.request_id);
    let command = ZoneCommand::CreateRecordset {
        recordset_id,
        project_id: caller.project_id.clone(),
        name,
        rtype,
        records,
        ttl,
        description,
    };
    let committed = state
        .executor
        .execute(zone_id, command, metadata(&caller), caller.scope())
        .await?;
    state.consistency.committed(zone_id, committed.version);
    let base = views::base_url(&state.config, &headers);
    let rs = committed
        .zone
        .recordsets
        .get(&recordset_id)
        .ok_or_else(ApiError::recordset_not_found)?;
    let location = format!("{base}/v2/zones/{zone_id}/recordsets/{recordset_id}");
    Ok(accepted(
        views::recordset_from_aggregate(&base, &committed.zone, rs),
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
    state
        .consistency
        .wait_zone_latest(
            state.executor.store(),
            &state.pool,
            zone_id,
            state.config.read_your_writes_wait,
        )
        .await;
    let client = state.pool.get().await?;
    let zone = read::zone(&**client, zone_id.0)
        .await?
        .filter(|z| caller.may_see_zone(z));
    if zone.is_none() {
        return Err(ApiError::zone_not_found());
    }
    let rs = read::recordset(&**client, zone_id.0, recordset_id.0)
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
    let client = match zone_id {
        Some(zone_id) => {
            state
                .consistency
                .wait_zone_latest(
                    state.executor.store(),
                    &state.pool,
                    zone_id,
                    state.config.read_your_writes_wait,
                )
                .await;
            let client = state.pool.get().await?;
            let zone = read::zone(&**client, zone_id.0)
                .await?
                .filter(|z| caller.may_see_zone(z));
            if zone.is_none() {
                return Err(ApiError::zone_not_found());
            }
            query.zone_id = Some(zone_id.0);
            client
        }
        None => {
            state
                .consistency
                .wait_all(&state.pool, state.config.read_your_writes_wait)
                .await;
            query.project_id = caller.scope().map(|p| p.0.clone());
            state.pool.get().await?
        }
    };
    let page = read::recordsets(&**client, &query).await?;
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
        &page,
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
    // Record data is validated against the record set's type, which the zone knows.
    let records = match body.records {
        Some(records) => {
            let zone = state.executor.load(zone_id).await?;
            let rtype = zone
                .recordsets
                .get(&recordset_id)
                .filter(|rs| {
                    caller.scope().is_none_or(|p| {
                        zone.project_id.as_ref() == Some(p) || (zone.visible_to(p) && rs.project_id == *p)
                    })
                })
                .map(|rs| rs.rtype)
                .ok_or_else(ApiError::recordset_not_found)?;
            Some(check_records(rtype, &records)?)
        }
        None => None,
    };
    let command = ZoneCommand::UpdateRecordset {
        recordset_id,
        records,
        ttl: body.ttl.map(|t| t.map(check_ttl).transpose()).transpose()?,
        description: body.description.map(check_description).transpose()?,
        edit_managed: caller.edit_managed,
    };
    let committed = state
        .executor
        .execute(zone_id, command, metadata(&caller), caller.scope())
        .await?;
    state.consistency.committed(zone_id, committed.version);
    let base = views::base_url(&state.config, &headers);
    let rs = committed
        .zone
        .recordsets
        .get(&recordset_id)
        .ok_or_else(ApiError::recordset_not_found)?;
    Ok(accepted(
        views::recordset_from_aggregate(&base, &committed.zone, rs),
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
    let before = state.executor.load(zone_id).await?;
    let command = ZoneCommand::DeleteRecordset {
        recordset_id,
        edit_managed: caller.edit_managed,
    };
    let committed = state
        .executor
        .execute(zone_id, command, metadata(&caller), caller.scope())
        .await?;
    state.consistency.committed(zone_id, committed.version);
    let base = views::base_url(&state.config, &headers);
    let mut rs = before
        .recordsets
        .get(&recordset_id)
        .map(|rs| rs.as_ref().clone())
        .ok_or_else(ApiError::recordset_not_found)?;
    rs.status = nsplane_command::zone::Status::Pending;
    rs.action = nsplane_command::zone::Action::Delete;
    Ok(accepted(
        views::recordset_from_aggregate(&base, &committed.zone, &rs),
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
        .wait_all(&state.pool, state.config.read_your_writes_wait)
        .await;
    let client = state.pool.get().await?;
    let rs = read::recordset_by_id(&**client, recordset_id.0)
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
