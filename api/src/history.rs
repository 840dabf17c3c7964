//! A zone's history: `GET /v2/zones/{zone_id}/history` (every serial: when, who, why, what changed),
//! `…/history/as_of?serial=S` or `?time=T` (its record sets then), `…/history/diff?from=S1&to=S2`,
//! and `POST /v2/zones/{zone_id}/tasks/revert` (the record sets of a serial back, under a new serial).
//! Read from the audit rows, so a deleted zone's history stays readable by its owner and by admins.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse as _, Response};
use axum::Json;
use nsplane_command::service::NewRecordset;
use nsplane_projection::read::audit::parse_time;
use nsplane_projection::read::history::{At, PastRecordset, ZoneAt};
use nsplane_schema::{RecordType, RecordsetId, RecordsetName, Ttl, ZoneEvent};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::Caller;
use crate::body::JsonBody;
use crate::error::ApiError;
use crate::zones::parse_zone_id;
use crate::{paging, views, AppState};

/// The zone's id if the caller may read its history: its owner, a project it is shared with, or an
/// admin across projects; a zone that never existed or that the caller may not see is not found.
async fn readable(state: &AppState, caller: &Caller, raw: &str) -> Result<String, ApiError> {
    let zone_id = parse_zone_id(raw)?;
    state.wait_zone(zone_id).await;
    let id = zone_id.0.to_string();
    let origin = state
        .read
        .zone_origin(&id)
        .await?
        .ok_or_else(ApiError::zone_not_found)?;
    if caller.may_see(&origin.project_id) {
        return Ok(id);
    }
    match state.read.zone(zone_id.0).await? {
        Some(zone) if caller.may_see_zone(&zone) => Ok(id),
        _ => Err(ApiError::zone_not_found()),
    }
}

fn query(uri: &Uri, allowed: &[&str]) -> Result<HashMap<String, String>, ApiError> {
    let mut seen = HashMap::new();
    for (key, value) in paging::pairs(uri) {
        if !allowed.contains(&key.as_str()) && !matches!(key.as_str(), "all_projects" | "all_tenants") {
            return Err(bad(format!("Invalid filters {key}")));
        }
        if seen.insert(key.clone(), value).is_some() {
            return Err(bad(format!("Duplicate filters {key}")));
        }
    }
    Ok(seen)
}

fn bad(message: String) -> ApiError {
    ApiError::BadRequest {
        kind: "bad_request",
        message,
    }
}

fn serial(key: &str, value: &str) -> Result<u32, ApiError> {
    value
        .parse()
        .map_err(|_| bad(format!("{key} must be a serial number (0 to 4294967295)")))
}

fn no_such_state() -> ApiError {
    ApiError::NotFound {
        kind: "serial_not_found",
        message: "The zone's history has no such serial or time".into(),
    }
}

async fn zone_at(state: &AppState, zone_id: &str, at: At) -> Result<ZoneAt, ApiError> {
    state.read.zone_at(zone_id, at).await?.ok_or_else(no_such_state)
}

#[utoipa::path(get, path = "/v2/zones/{zone_id}/history", tag = "zones", params(("zone_id" = uuid::Uuid, Path)), responses((status = 200, body = crate::openapi::ZoneHistory), crate::openapi::Errors))]
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
    Path(zone_id): Path<String>,
) -> Result<Response, ApiError> {
    query(&uri, &[])?;
    let zone_id = readable(&state, &caller, &zone_id).await?;
    let entries: Vec<Value> = state
        .read
        .zone_history(&zone_id)
        .await?
        .iter()
        .map(|h| {
            json!({
                "serial": h.serial,
                "version": h.version,
                "stream_seq": h.stream_seq,
                "occurred_at": views::timestamp(h.occurred_at),
                "project_id": h.project_id,
                "user_id": h.user_id,
                "request_id": h.request_id,
                "source": h.source,
                "command": h.command,
                "recordsets_created": h.counts[0],
                "recordsets_updated": h.counts[1],
                "recordsets_deleted": h.counts[2],
            })
        })
        .collect();
    Ok(Json(json!({"zone_id": zone_id, "history": entries})).into_response())
}

/// Whether the caller asked for text (`Accept: text/dns`, as Designate's zone exports answer).
fn wants_text(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|media| media.split(';').next().unwrap_or("").trim() == "text/dns")
}

fn text_dns(text: Option<String>) -> Result<Response, ApiError> {
    let text = text.ok_or_else(|| {
        ApiError::Internal(anyhow::anyhow!(
            "the zone's history has no creation to take its SOA from"
        ))
    })?;
    Ok(([(header::CONTENT_TYPE, "text/dns; charset=utf-8")], text).into_response())
}

#[utoipa::path(get, path = "/v2/zones/{zone_id}/history/as_of", tag = "zones", params(("zone_id" = uuid::Uuid, Path), ("serial" = Option<String>, Query), ("time" = Option<String>, Query)), responses((status = 200, description = "The zone's record sets then; with `Accept: text/dns`, the zone file", content((crate::openapi::ZoneAsOf = "application/json"), (String = "text/dns"))), crate::openapi::Errors))]
pub(crate) async fn as_of(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
    headers: HeaderMap,
    Path(zone_id): Path<String>,
) -> Result<Response, ApiError> {
    let params = query(&uri, &["serial", "time"])?;
    let at = match (params.get("serial"), params.get("time")) {
        (Some(s), None) => At::Serial(serial("serial", s)?),
        (None, Some(t)) => At::Time(parse_time(t).ok_or_else(|| bad("time must be an ISO 8601 time".into()))?),
        _ => return Err(bad("Give one of serial or time".into())),
    };
    let zone_id = readable(&state, &caller, &zone_id).await?;
    let zone = zone_at(&state, &zone_id, at).await?;
    if wants_text(&headers) {
        return text_dns(zone.to_zone_file());
    }
    let recordsets: Vec<Value> = zone.recordsets.iter().map(|r| r.to_json()).collect();
    Ok(Json(json!({
        "zone_id": zone_id,
        "serial": zone.serial,
        "occurred_at": views::timestamp(zone.occurred_at),
        "recordsets": recordsets,
    }))
    .into_response())
}

#[utoipa::path(get, path = "/v2/zones/{zone_id}/history/diff", tag = "zones", params(("zone_id" = uuid::Uuid, Path), ("from" = String, Query), ("to" = String, Query)), responses((status = 200, description = "Record sets added, removed and changed; with `Accept: text/dns`, the change as an IXFR would send it (RFC 1995's condensed form)", content((crate::openapi::ZoneDiff = "application/json"), (String = "text/dns"))), crate::openapi::Errors))]
pub(crate) async fn diff(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
    headers: HeaderMap,
    Path(zone_id): Path<String>,
) -> Result<Response, ApiError> {
    let params = query(&uri, &["from", "to"])?;
    let (Some(from), Some(to)) = (params.get("from"), params.get("to")) else {
        return Err(bad("Give both from and to serials".into()));
    };
    let (from, to) = (serial("from", from)?, serial("to", to)?);
    let zone_id = readable(&state, &caller, &zone_id).await?;
    let before = zone_at(&state, &zone_id, At::Serial(from)).await?;
    let after = zone_at(&state, &zone_id, At::Serial(to)).await?;
    if wants_text(&headers) {
        return text_dns(before.ixfr_to(&after));
    }
    let mut body = before.diff(&after);
    body["zone_id"] = json!(zone_id);
    Ok(Json(body).into_response())
}

/// `POST /v2/zones/{zone_id}/tasks/revert`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevertBody {
    /// The serial whose record sets come back.
    serial: u32,
    /// Only say what would change.
    #[serde(default)]
    dry_run: bool,
}

/// A record set of the history as a create would take it (validated again by the revert).
fn as_new(past: &PastRecordset) -> Result<(RecordsetId, nsplane_schema::ProjectId, NewRecordset), ApiError> {
    let broken = || {
        ApiError::Internal(anyhow::anyhow!(
            "record set {} in the history does not read back",
            past.id
        ))
    };
    let ttl = match past.ttl.as_i64() {
        Some(ttl) => Some(Ttl::new(ttl).map_err(|_| broken())?),
        None => None,
    };
    let recordset = NewRecordset {
        name: RecordsetName::parse(&past.name).map_err(|_| broken())?,
        rtype: past.rtype.parse::<RecordType>().map_err(|_| broken())?,
        records: past
            .records
            .as_array()
            .map(|r| r.iter().filter_map(|d| d.as_str().map(str::to_owned)).collect())
            .unwrap_or_default(),
        ttl,
        description: past.description.as_str().map(str::to_owned),
    };
    let id = RecordsetId::parse(&past.id).map_err(|_| broken())?;
    Ok((id, nsplane_schema::ProjectId(past.project_id.clone()), recordset))
}

/// What a revert did, or would do.
#[derive(Debug)]
pub struct Reverted {
    /// The answer as the API gives it: the serials, the changes, the new serial (`null` for a dry run).
    pub answer: Value,
    /// The commit's version, if it committed.
    pub version: Option<u64>,
}

/// Plans a revert of `zone_id` to the record sets of `serial` from its history (what changes from the
/// current serial) and, unless `dry_run`, commits it as one command under a new serial. Shared by the
/// API and `nsplane zone revert`.
pub async fn revert_zone(
    read: &nsplane_projection::ReadModels,
    commands: &nsplane_command::Commands,
    zone_id: nsplane_schema::ZoneId,
    serial: u32,
    dry_run: bool,
    actor: &nsplane_command::Actor,
) -> Result<Reverted, ApiError> {
    let id = zone_id.0.to_string();
    let current = read.zone(zone_id.0).await?.ok_or_else(ApiError::zone_not_found)?;
    let current_serial = u32::try_from(current.serial).unwrap_or_default();
    let now = read
        .zone_at(&id, At::Serial(current_serial))
        .await?
        .ok_or_else(no_such_state)?;
    let target = read.zone_at(&id, At::Serial(serial)).await?.ok_or_else(no_such_state)?;
    let changes = now.diff(&target);
    if dry_run {
        let answer = json!({"zone_id": id, "dry_run": true, "from_serial": now.serial, "to_serial": target.serial, "serial": Value::Null, "changes": changes});
        return Ok(Reverted { answer, version: None });
    }
    let sets = target.recordsets.iter().map(as_new).collect::<Result<Vec<_>, _>>()?;
    let committed = commands.revert_zone(zone_id, target.serial, sets, actor).await?;
    let answer = json!({"zone_id": id, "dry_run": false, "from_serial": now.serial, "to_serial": target.serial, "serial": committed.state.serial, "changes": changes});
    Ok(Reverted {
        answer,
        version: Some(committed.version),
    })
}

#[utoipa::path(post, path = "/v2/zones/{zone_id}/tasks/revert", tag = "zones", params(("zone_id" = uuid::Uuid, Path)), request_body = RevertBody, responses((status = 200, description = "A dry run: what would change", body = crate::openapi::ZoneRevert), (status = 202, description = "Reverted under a new serial", body = crate::openapi::ZoneRevert), crate::openapi::Errors))]
pub(crate) async fn revert(
    State(state): State<AppState>,
    caller: Caller,
    Path(zone_id): Path<String>,
    JsonBody(body): JsonBody<RevertBody>,
) -> Result<Response, ApiError> {
    caller.require_writer()?;
    let id = readable(&state, &caller, &zone_id).await?;
    let zone_id = parse_zone_id(&zone_id)?;
    let reverted = revert_zone(
        &state.read,
        &state.commands,
        zone_id,
        body.serial,
        body.dry_run,
        &caller.actor(),
    )
    .await?;
    match reverted.version {
        Some(version) => {
            state.consistency.committed::<ZoneEvent>(&id, version);
            Ok((StatusCode::ACCEPTED, Json(reverted.answer)).into_response())
        }
        None => Ok((StatusCode::OK, Json(reverted.answer)).into_response()),
    }
}
