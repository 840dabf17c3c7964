//! Zone imports, as Designate's `/v2/zones/tasks/imports[/{id}]`: a `text/dns` zone file is accepted
//! as an event first, then run (zone, then every record set in one commit); the answer says how it
//! ended. An import this instance could not finish stays PENDING and a producer finishes it.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use nsplane_command::imports::{Import, ImportError, ZoneImport};
use nsplane_command::Committed;
use nsplane_projection::read::operator::ImportRow;
use nsplane_schema::imports::{ImportEvent, MAX_ZONE_FILE};
use serde::Serialize;
use serde_json::Value;
use tracing::warn;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::{views, AppState};

impl From<ImportError> for ApiError {
    fn from(error: ImportError) -> Self {
        let message = error.to_string();
        match error {
            ImportError::NotFound => ApiError::NotFound {
                kind: "zone_import_not_found",
                message,
            },
            ImportError::Duplicate => ApiError::Conflict {
                kind: "duplicate_zone_import",
                message,
            },
        }
    }
}

/// An import as Designate shows it.
#[derive(Serialize, ToSchema)]
pub(crate) struct ImportView {
    id: String,
    /// `PENDING`, `COMPLETE` or `ERROR`.
    status: String,
    message: Option<String>,
    zone_id: Option<String>,
    project_id: String,
    version: u32,
    created_at: String,
    updated_at: Option<String>,
    #[schema(value_type = Object)]
    links: Value,
}

/// A list of imports.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ImportList {
    imports: Vec<ImportView>,
    #[schema(value_type = Object)]
    links: (),
    #[schema(value_type = Object)]
    metadata: (),
}

fn view(base: &str, row: &ImportRow) -> Value {
    let mut links = serde_json::json!({"self": format!("{base}/v2/zones/tasks/imports/{}", row.id)});
    if let Some(zone_id) = row.zone_id {
        links["href"] = Value::String(format!("{base}/v2/zones/{zone_id}"));
    }
    serde_json::to_value(ImportView {
        id: row.id.to_string(),
        status: row.status.clone(),
        message: row.message.clone(),
        zone_id: row.zone_id.map(|z| z.to_string()),
        project_id: row.project_id.clone(),
        version: 1,
        created_at: views::timestamp(row.created_at),
        updated_at: row.updated_at.map(views::timestamp),
        links,
    })
    .unwrap_or(Value::Null)
}

fn row_of(import: &Import) -> ImportRow {
    ImportRow {
        id: import.id,
        project_id: import.project_id.0.clone(),
        status: import.status.as_str().to_owned(),
        message: import.message.clone(),
        zone_id: import.zone_id,
        created_at: import.created_at.naive_utc(),
        updated_at: import.updated_at.map(|t| t.naive_utc()),
    }
}

fn parse_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::BadRequest {
        kind: "invalid_uuid",
        message: format!("Invalid UUID zone_import_id: {raw}"),
    })
}

fn committed(state: &AppState, id: Uuid, committed: &Committed<ZoneImport>) {
    state
        .consistency
        .committed::<ImportEvent>(&id.to_string(), committed.version);
}

#[utoipa::path(post, path = "/v2/zones/tasks/imports", tag = "zones",
    request_body(content((String = "text/dns"), (JsonImport = "application/json")), description = "A zone file (RFC 1035 master format) with one SOA, or (v2.4) it and the zone's attributes as JSON"),
    responses((status = 202, body = ImportView), crate::openapi::Errors))]
pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    caller.require_writer()?;
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .unwrap_or_default();
    if media != "text/dns" && media != "application/json" {
        return Err(ApiError::UnsupportedContentType);
    }
    // The JSON form (v2.4) carries the file and the zone's attributes; its envelope needs a little room.
    let bytes = axum::body::to_bytes(body, MAX_ZONE_FILE + 16 * 1024)
        .await
        .map_err(|_| ApiError::TooLarge)?;
    let (zone_file, attributes) = if media == "application/json" {
        let body: JsonImport = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::invalid(format!("a JSON import is {{\"zonefile\": …, \"attributes\": …}}: {e}")))?;
        (body.zonefile, body.attributes)
    } else {
        let text = String::from_utf8(bytes.to_vec()).map_err(|_| ApiError::invalid("the zone file is not UTF-8"))?;
        (text, std::collections::BTreeMap::new())
    };
    if zone_file.len() > MAX_ZONE_FILE {
        return Err(ApiError::TooLarge);
    }
    let actor = caller.actor();
    let accepted = state.commands.request_import(zone_file, attributes, &actor).await?;
    let id = accepted.state.import.as_ref().ok_or(ImportError::NotFound)?.id;
    committed(&state, id, &accepted);
    // Run it now; if this fails, it stays PENDING and a producer finishes it.
    if let Err(e) = state.commands.run_import(id, &state.pools, "api").await {
        warn!(import = %id, error = %format!("{e:#}"), "zone import left pending for a producer");
    }
    // Its outcome (committed by the run just now) is this instance's write too: lists wait for it.
    let (now, version) = state.commands.load_import_at(id).await?;
    state.consistency.committed::<ImportEvent>(&id.to_string(), version);
    let import = now.import.as_ref().ok_or(ImportError::NotFound)?;
    let base = views::base_url(&state.config, &headers);
    let mut response = (StatusCode::ACCEPTED, Json(view(&base, &row_of(import)))).into_response();
    if let Ok(location) = header::HeaderValue::from_str(&format!("{base}/v2/zones/tasks/imports/{id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// The v2.4 JSON form of an import.
#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct JsonImport {
    /// The zone file.
    zonefile: String,
    /// Attributes the zone gets.
    #[serde(default)]
    attributes: std::collections::BTreeMap<String, String>,
}

#[utoipa::path(get, path = "/v2/zones/tasks/imports", tag = "zones",
    params(("status" = Option<String>, Query), ("message" = Option<String>, Query), ("zone_id" = Option<String>, Query)),
    responses((status = 200, body = ImportList), crate::openapi::Errors))]
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    axum::extract::Query(filters): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Result<Response, ApiError> {
    state
        .consistency
        .wait_all(&state.read, state.config.read_your_writes_wait)
        .await;
    let base = views::base_url(&state.config, &headers);
    let items: Vec<Value> = state
        .read
        .imports(caller.scope().map(|p| p.0.as_str()))
        .await?
        .iter()
        .filter(|i| filters.get("status").is_none_or(|s| s.eq_ignore_ascii_case(&i.status)))
        .filter(|i| {
            filters
                .get("message")
                .is_none_or(|m| i.message.as_deref() == Some(m.as_str()))
        })
        .filter(|i| {
            filters
                .get("zone_id")
                .is_none_or(|z| i.zone_id.is_some_and(|id| id.to_string() == *z))
        })
        .map(|i| view(&base, i))
        .collect();
    Ok(Json(views::Collection::whole(
        "imports",
        items,
        format!("{base}/v2/zones/tasks/imports"),
    ))
    .into_response())
}

#[utoipa::path(get, path = "/v2/zones/tasks/imports/{id}", tag = "zones", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = ImportView), crate::openapi::Errors))]
pub(crate) async fn show(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    // The aggregate itself: its status is current whichever instance finished it.
    let now = state.commands.load_import(id).await?;
    let import = now
        .import
        .as_ref()
        .filter(|i| caller.may_see(&i.project_id.0))
        .ok_or(ImportError::NotFound)?;
    let base = views::base_url(&state.config, &headers);
    Ok(Json(view(&base, &row_of(import))).into_response())
}

#[utoipa::path(delete, path = "/v2/zones/tasks/imports/{id}", tag = "zones", params(("id" = uuid::Uuid, Path)),
    responses((status = 204, description = "Removed"), crate::openapi::Errors))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require_writer()?;
    let id = parse_id(&id)?;
    let done = state.commands.delete_import(id, &caller.actor()).await?;
    committed(&state, id, &done);
    Ok(StatusCode::NO_CONTENT.into_response())
}
