//! `GET /v2/audit_events`: every change with who asked, why and when, filtered and paged. Members see
//! the history of their project's zones and of zones shared with it; an admin with
//! `X-Auth-All-Projects` sees everything, operator changes included.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse as _, Response};
use axum::Json;
use chrono::{NaiveDate, NaiveDateTime};
use nsplane_projection::read::audit::{AuditEntry, AuditPosition, AuditQuery, RecordsetValues};
use serde_json::{json, Value};

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

#[utoipa::path(get, path = "/v2/audit_events", tag = "audit", params(AuditParams), responses((status = 200, body = crate::openapi::AuditEventList), crate::openapi::Errors))]
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
    let entries = state.read.audit_events(&query).await?;
    let base = views::base_url(&state.config, &headers);
    let last = entries.last().map(|e| e.position.id());
    let items = entries.iter().map(view).collect();
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
            "zone_name" => query.zone_name = Some(fqdn(&value)),
            "recordset_name" => query.recordset_name = Some(fqdn(&value)),
            "recordset_type" => query.recordset_type = Some(value.to_ascii_uppercase()),
            "project_id" => query.project_id = Some(value),
            "user_id" => query.user_id = Some(value),
            "request_id" => query.request_id = Some(value),
            // `RecordsetUpdated` or `RecordsetUpdated.v1`: entries list the name and version apart.
            "event_type" => {
                query.event_type = Some(value.split_once(".v").map_or(value.clone(), |(n, _)| n.to_owned()))
            }
            "source" => query.source = Some(value),
            "since" => query.since = Some(time(&key, &value)?),
            "until" => query.until = Some(time(&key, &value)?),
            "all_projects" | "all_tenants" => {}
            other => return Err(bad(format!("Invalid filters {other}"))),
        }
    }
    Ok(query)
}

/// A name as events store it: lowercase, with the root's dot.
fn fqdn(name: &str) -> String {
    let name = name.to_ascii_lowercase();
    if name.ends_with('.') {
        name
    } else {
        format!("{name}.")
    }
}

/// RFC 3339 (any offset), a UTC time without offset, or a date (its midnight, UTC).
fn time(key: &str, value: &str) -> Result<NaiveDateTime, ApiError> {
    chrono::DateTime::parse_from_rfc3339(value)
        .map(|t| t.naive_utc())
        .or_else(|_| NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%.f"))
        .or_else(|_| NaiveDate::parse_from_str(value, "%Y-%m-%d").map(|d| d.and_time(chrono::NaiveTime::MIN)))
        .map_err(|_| bad(format!("{key} must be an ISO 8601 time, e.g. 2026-12-01T08:00:00Z")))
}

fn values(values: &Option<RecordsetValues>) -> Value {
    match values {
        Some(v) => json!({"records": v.records, "ttl": v.ttl, "description": v.description}),
        None => Value::Null,
    }
}

fn view(entry: &AuditEntry) -> Value {
    let zone = entry.aggregate_type == "zone";
    json!({
        "id": entry.position.id(),
        "stream_seq": entry.position.stream_seq,
        "event_index": entry.position.event_idx,
        "event_type": entry.event_type,
        "event_version": entry.event_version,
        "aggregate_type": entry.aggregate_type,
        "aggregate_id": entry.aggregate_id,
        "version": entry.version,
        "zone_id": if zone { json!(entry.aggregate_id) } else { Value::Null },
        "zone_name": entry.zone_name,
        "recordset_id": entry.payload.get("recordset_id").cloned().unwrap_or(Value::Null),
        "recordset_name": entry.recordset_name,
        "recordset_type": entry.recordset_type,
        "before": values(&entry.before),
        "after": values(&entry.after),
        "project_id": entry.project_id,
        "user_id": entry.user_id,
        "roles": entry.roles,
        "request_id": entry.request_id,
        "source": entry.source,
        "command": entry.command,
        "occurred_at": views::timestamp(entry.occurred_at),
        "data": entry.payload,
    })
}
