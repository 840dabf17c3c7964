//! `GET /v2/audit_events`: every change with who asked, why and when, filtered and paged. Members see
//! the history of their project's zones and of zones shared with it; an admin with
//! `X-Auth-All-Projects` sees everything, operator changes included. `Accept: text/csv` or
//! `application/x-ndjson` streams every matching entry as an export instead of one page.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, Uri};
use axum::response::{IntoResponse as _, Response};
use axum::Json;
use futures::StreamExt as _;
use nsplane_projection::read::audit::{self, AuditPosition, AuditQuery};
use nsplane_projection::ReadModels;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::{paging, views, AppState};

/// The query parameters of `GET /v2/audit_events`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct AuditParams {
    /// Page size: 1 to 1000, or `max`; default 20.
    limit: Option<String>,
    /// Id of the last entry of the previous page.
    marker: Option<String>,
    /// The zone's id.
    zone_id: Option<String>,
    /// The zone's name.
    zone_name: Option<String>,
    /// The record set's name.
    recordset_name: Option<String>,
    /// The record set's type.
    recordset_type: Option<String>,
    /// The project the change was made in.
    project_id: Option<String>,
    /// The user who made it.
    user_id: Option<String>,
    /// The request that caused it (`req-<uuid>`).
    request_id: Option<String>,
    /// The event type, e.g. `RecordsetUpdated`.
    event_type: Option<String>,
    /// The role that issued the command: `api`, `worker`, `producer`, `sink` or a tool.
    source: Option<String>,
    /// At or after this time (ISO 8601, UTC).
    since: Option<String>,
    /// Before this time (ISO 8601, UTC).
    until: Option<String>,
}

#[utoipa::path(get, path = "/v2/audit_events", tag = "audit", params(AuditParams), responses((status = 200, description = "A page of entries as JSON; with `Accept: text/csv` or `application/x-ndjson`, every matching entry as an export", content((crate::openapi::AuditEventList = "application/json"), (String = "text/csv"), (String = "application/x-ndjson"))), crate::openapi::Errors))]
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    let mut query = parse(&uri)?;
    query.visible_to = caller.scope().map(|p| p.0.clone());
    state
        .consistency
        .wait_all(&state.read, state.config.read_your_writes_wait)
        .await;
    if let Some(format) = export_format(&headers) {
        return Ok(export(state.read.clone(), query, format));
    }
    let entries = state.read.audit_events(&query).await?;
    let base = views::base_url(&state.config, &headers);
    let last = entries.last().map(|e| e.position.id());
    let items = entries.iter().map(|e| e.to_json()).collect();
    Ok(Json(paging::envelope(
        "audit_events",
        &base,
        &uri,
        None,
        items,
        last,
        query.limit,
    ))
    .into_response())
}

fn bad(message: String) -> ApiError {
    ApiError::BadRequest {
        kind: "bad_request",
        message,
    }
}

fn parse(uri: &Uri) -> Result<AuditQuery, ApiError> {
    let mut seen: HashMap<String, String> = HashMap::new();
    for (key, value) in paging::pairs(uri) {
        if value.contains('\0') {
            return Err(bad(format!("Invalid value of {key}")));
        }
        if seen.insert(key.clone(), value).is_some() {
            return Err(bad(format!("Duplicate filters {key}")));
        }
    }
    let mut query = AuditQuery {
        limit: paging::LIMIT_DEFAULT,
        ..Default::default()
    };
    for (key, value) in seen {
        match key.as_str() {
            "limit" => query.limit = paging::limit(&value)?,
            "marker" => {
                query.marker = Some(AuditPosition::parse(&value).ok_or_else(|| ApiError::BadRequest {
                    kind: "invalid_marker",
                    message: "Invalid marker: it must be an audit event id".into(),
                })?);
            }
            "zone_id" => {
                let id = uuid::Uuid::try_parse(&value).map_err(|_| ApiError::BadRequest {
                    kind: "invalid_uuid",
                    message: "zone_id is not a valid UUID".into(),
                })?;
                query.zone_id = Some(id.to_string());
            }
            "zone_name" => query.zone_name = Some(audit::fqdn(&value)),
            "recordset_name" => query.recordset_name = Some(audit::fqdn(&value)),
            "recordset_type" => query.recordset_type = Some(value.to_ascii_uppercase()),
            "project_id" => query.project_id = Some(value),
            "user_id" => query.user_id = Some(value),
            "request_id" => query.request_id = Some(value),
            // `RecordsetUpdated` or `RecordsetUpdated.v1`: entries list the name and version apart.
            "event_type" => query.event_type = Some(audit::event_name(&value)),
            "source" => query.source = Some(value),
            "since" => query.since = Some(time(&key, &value)?),
            "until" => query.until = Some(time(&key, &value)?),
            "all_projects" | "all_tenants" => {}
            other => return Err(bad(format!("Invalid filters {other}"))),
        }
    }
    Ok(query)
}

fn time(key: &str, value: &str) -> Result<chrono::NaiveDateTime, ApiError> {
    audit::parse_time(value).ok_or_else(|| bad(format!("{key} must be an ISO 8601 time, e.g. 2026-12-01T08:00:00Z")))
}

/// An export's format, from `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Export {
    Csv,
    Ndjson,
}

fn export_format(headers: &HeaderMap) -> Option<Export> {
    let accept = headers.get(header::ACCEPT)?.to_str().ok()?;
    let wants = |media: &str| {
        accept
            .split(',')
            .any(|a| a.split(';').next().unwrap_or("").trim() == media)
    };
    if wants("text/csv") {
        Some(Export::Csv)
    } else if wants("application/x-ndjson") {
        Some(Export::Ndjson)
    } else {
        None
    }
}

/// Entries per query while exporting.
const EXPORT_CHUNK: i64 = 1000;

/// Every entry the query matches (from its marker on, whatever its limit), streamed in chunks as they
/// are read, so an export of any size holds one chunk in memory.
fn export(read: ReadModels, mut query: AuditQuery, format: Export) -> Response {
    query.limit = EXPORT_CHUNK;
    let header_line = (format == Export::Csv).then(audit::csv_header);
    let chunks = futures::stream::unfold(Some(query), move |query| {
        let read = read.clone();
        async move {
            let mut query = query?;
            let entries = match read.audit_events(&query).await {
                Ok(entries) => entries,
                Err(error) => {
                    tracing::warn!(%error, "an audit export stopped: the read models failed");
                    return Some((Err(std::io::Error::other(error.to_string())), None));
                }
            };
            let mut chunk = String::new();
            for entry in &entries {
                match format {
                    Export::Csv => chunk.push_str(&entry.to_csv()),
                    Export::Ndjson => {
                        chunk.push_str(&entry.to_json().to_string());
                        chunk.push('\n');
                    }
                }
            }
            let full = i64::try_from(entries.len()).unwrap_or(0) >= query.limit;
            query.marker = entries.last().map(|e| e.position);
            Some((Ok(chunk), full.then_some(query)))
        }
    });
    let body = futures::stream::iter(header_line.map(Ok)).chain(chunks);
    let content_type = match format {
        Export::Csv => "text/csv; charset=utf-8",
        Export::Ndjson => "application/x-ndjson",
    };
    ([(header::CONTENT_TYPE, content_type)], Body::from_stream(body)).into_response()
}
