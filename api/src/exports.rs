//! Zone exports, as Designate's `POST /v2/zones/{id}/tasks/export` and `/v2/zones/tasks/exports[/{id}]`:
//! an export records the zone's serial when it is asked for and is complete at once; its file
//! (`…/exports/{id}/export`, `text/dns`) is the zone at that serial, rendered from the zone's history.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use nsplane_command::exports::{Export, ExportError, ZoneExport};
use nsplane_command::Committed;
use nsplane_projection::read::history::At;
use nsplane_projection::read::operator::ExportRow;
use nsplane_schema::exports::ExportEvent;
use nsplane_schema::ZoneEvent;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::{views, AppState};

impl From<ExportError> for ApiError {
    fn from(error: ExportError) -> Self {
        let message = error.to_string();
        match error {
            ExportError::NotFound => ApiError::NotFound {
                kind: "zone_export_not_found",
                message,
            },
            ExportError::Duplicate => ApiError::Conflict {
                kind: "duplicate_zone_export",
                message,
            },
            ExportError::ZoneNotFound => ApiError::zone_not_found(),
            ExportError::OverQuota(message) => ApiError::OverQuota(message),
        }
    }
}

/// An export as Designate shows it.
#[derive(Serialize, ToSchema)]
pub(crate) struct ExportView {
    id: String,
    zone_id: String,
    project_id: String,
    /// Always `COMPLETE`: the file is rendered from the zone's history when fetched.
    status: String,
    message: Option<String>,
    /// `designate://v2/zones/tasks/exports/{id}/export`, as Designate's local storage names it.
    location: String,
    version: u32,
    created_at: String,
    updated_at: Option<String>,
    #[schema(value_type = Object)]
    links: Value,
}

/// A list of exports.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ExportList {
    exports: Vec<ExportView>,
    #[schema(value_type = Object)]
    links: (),
    #[schema(value_type = Object)]
    metadata: (),
}

fn view(base: &str, row: &ExportRow) -> Value {
    let url = format!("{base}/v2/zones/tasks/exports/{}", row.id);
    serde_json::to_value(ExportView {
        id: row.id.to_string(),
        zone_id: row.zone_id.to_string(),
        project_id: row.project_id.clone(),
        status: "COMPLETE".into(),
        message: None,
        location: format!("designate://v2/zones/tasks/exports/{}/export", row.id),
        version: 1,
        created_at: views::timestamp(row.created_at),
        updated_at: None,
        links: serde_json::json!({"self": url, "export": format!("{url}/export")}),
    })
    .unwrap_or(Value::Null)
}

fn row_of(export: &Export) -> ExportRow {
    ExportRow {
        id: export.id,
        zone_id: export.zone_id,
        project_id: export.project_id.0.clone(),
        serial: i64::from(export.serial),
        created_at: export.created_at.naive_utc(),
    }
}

fn parse_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::BadRequest {
        kind: "invalid_uuid",
        message: format!("Invalid UUID zone_export_id: {raw}"),
    })
}

fn committed(state: &AppState, id: Uuid, committed: &Committed<ZoneExport>) {
    state
        .consistency
        .committed::<ExportEvent>(&id.to_string(), committed.version);
}

/// The export `id` if the caller may see it, once the read models hold its latest change.
async fn visible(state: &AppState, caller: &Caller, id: Uuid) -> Result<ExportRow, ApiError> {
    state
        .consistency
        .wait_latest::<ExportEvent>(
            state.commands.store(),
            &state.read,
            &id.to_string(),
            state.config.read_your_writes_wait,
        )
        .await;
    state
        .read
        .exports(caller.scope().map(|p| p.0.as_str()))
        .await?
        .into_iter()
        .find(|e| e.id == id)
        .ok_or_else(|| ExportError::NotFound.into())
}

#[utoipa::path(post, path = "/v2/zones/{zone_id}/tasks/export", tag = "zones", params(("zone_id" = uuid::Uuid, Path)),
    responses((status = 202, body = ExportView), crate::openapi::Errors))]
pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(zone_id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require_writer()?;
    let zone_id = crate::zones::parse_zone_id(&zone_id)?;
    let done = state.commands.export_zone(zone_id, &caller.actor()).await?;
    let export = done.state.export.as_ref().ok_or(ExportError::NotFound)?;
    committed(&state, export.id, &done);
    let base = views::base_url(&state.config, &headers);
    let mut response = (StatusCode::ACCEPTED, Json(view(&base, &row_of(export)))).into_response();
    if let Ok(location) = header::HeaderValue::from_str(&format!("{base}/v2/zones/tasks/exports/{}", export.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

#[utoipa::path(get, path = "/v2/zones/tasks/exports", tag = "zones",
    responses((status = 200, body = ExportList), crate::openapi::Errors))]
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state
        .consistency
        .wait_all(&state.read, state.config.read_your_writes_wait)
        .await;
    let base = views::base_url(&state.config, &headers);
    let items: Vec<Value> = state
        .read
        .exports(caller.scope().map(|p| p.0.as_str()))
        .await?
        .iter()
        .map(|e| view(&base, e))
        .collect();
    Ok(Json(views::Collection::whole(
        "exports",
        items,
        format!("{base}/v2/zones/tasks/exports"),
    ))
    .into_response())
}

#[utoipa::path(get, path = "/v2/zones/tasks/exports/{id}", tag = "zones", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = ExportView), crate::openapi::Errors))]
pub(crate) async fn show(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let row = visible(&state, &caller, parse_id(&id)?).await?;
    let base = views::base_url(&state.config, &headers);
    Ok(Json(view(&base, &row)).into_response())
}

#[utoipa::path(get, path = "/v2/zones/tasks/exports/{id}/export", tag = "zones", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, description = "The zone file", content_type = "text/dns", body = String), crate::openapi::Errors))]
pub(crate) async fn file(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let row = visible(&state, &caller, parse_id(&id)?).await?;
    let zone_id = row.zone_id.to_string();
    state
        .consistency
        .wait_latest::<ZoneEvent>(
            state.commands.store(),
            &state.read,
            &zone_id,
            state.config.read_your_writes_wait,
        )
        .await;
    let serial = u32::try_from(row.serial).unwrap_or_default();
    let zone = state
        .read
        .zone_at(&zone_id, At::Serial(serial))
        .await?
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("the zone's history has no serial {serial}")))?;
    let text = zone
        .to_zone_file()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("the zone's history has no creation")))?;
    Ok(([(header::CONTENT_TYPE, "text/dns; charset=utf-8")], text).into_response())
}

#[utoipa::path(delete, path = "/v2/zones/tasks/exports/{id}", tag = "zones", params(("id" = uuid::Uuid, Path)),
    responses((status = 204, description = "Removed"), crate::openapi::Errors))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require_writer()?;
    let id = parse_id(&id)?;
    let done = state.commands.delete_export(id, &caller.actor()).await?;
    committed(&state, id, &done);
    Ok(StatusCode::NO_CONTENT.into_response())
}
