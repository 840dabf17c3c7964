//! JSON representations in Designate's shapes, from the aggregate (write responses) or from the
//! read models (reads). Timestamps are naive, `%Y-%m-%dT%H:%M:%S.%f`, as gophercloud parses them.

use axum::http::HeaderMap;
use chrono::NaiveDateTime;
use nsplane_command::zone::{Recordset, Zone};
use nsplane_projection::read::{RecordsetRow, ZoneRow};
use serde_json::{json, Value};

use crate::ApiConfig;

/// Designate's timestamp format.
pub(crate) fn timestamp(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

fn opt_timestamp(t: Option<NaiveDateTime>) -> Value {
    t.map(timestamp).map(Value::String).unwrap_or(Value::Null)
}

/// The base of links: the configured base URI, else the request's Host.
pub(crate) fn base_url(config: &ApiConfig, headers: &HeaderMap) -> String {
    if let Some(base) = &config.base_uri {
        return base.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1:9001");
    format!("http://{host}")
}

/// A zone from the aggregate.
pub(crate) fn zone_from_aggregate(base: &str, zone: &Zone) -> Value {
    let id = zone.id.map(|z| z.to_string()).unwrap_or_default();
    json!({
        "id": id,
        "pool_id": zone.pool_id.map(|p| p.to_string()),
        "project_id": zone.project_id.as_ref().map(|p| p.0.clone()),
        "name": zone.name.as_ref().map(|n| n.to_string()),
        "email": zone.email,
        "ttl": zone.ttl.map(|t| t.secs()),
        "serial": zone.serial,
        "status": zone.status.as_str(),
        "action": zone.action.as_str(),
        "description": zone.description,
        "masters": [],
        "type": "PRIMARY",
        "transferred_at": null,
        "version": zone.version,
        "created_at": opt_timestamp(zone.created_at.map(|t| t.naive_utc())),
        "updated_at": opt_timestamp(zone.updated_at.map(|t| t.naive_utc())),
        "attributes": {},
        "shared": false,
        "nameservers_sync": zone.nameservers,
        "links": {"self": format!("{base}/v2/zones/{id}")},
    })
}

/// A zone from the read model.
pub(crate) fn zone_from_row(base: &str, zone: &ZoneRow) -> Value {
    json!({
        "id": zone.id.to_string(),
        "pool_id": zone.pool_id.to_string(),
        "project_id": zone.project_id,
        "name": zone.name,
        "email": zone.email,
        "ttl": zone.ttl,
        "serial": zone.serial,
        "status": zone.status,
        "action": zone.action,
        "description": zone.description,
        "masters": [],
        "type": zone.zone_type,
        "transferred_at": null,
        "version": zone.version,
        "created_at": timestamp(zone.created_at),
        "updated_at": opt_timestamp(zone.updated_at),
        "attributes": {},
        "shared": false,
        "nameservers_sync": zone.sync,
        "links": {"self": format!("{base}/v2/zones/{}", zone.id)},
    })
}

/// A record set from the aggregate.
pub(crate) fn recordset_from_aggregate(base: &str, zone: &Zone, rs: &Recordset) -> Value {
    let zone_id = zone.id.map(|z| z.to_string()).unwrap_or_default();
    json!({
        "id": rs.id.to_string(),
        "zone_id": zone_id,
        "project_id": rs.project_id.0,
        "zone_name": zone.name.as_ref().map(|n| n.to_string()),
        "name": rs.name.to_string(),
        "type": rs.rtype.as_str(),
        "records": rs.records,
        "ttl": rs.ttl.map(|t| t.secs()),
        "description": rs.description,
        "status": rs.status.as_str(),
        "action": rs.action.as_str(),
        "version": rs.version,
        "created_at": timestamp(rs.created_at.naive_utc()),
        "updated_at": opt_timestamp(rs.updated_at.map(|t| t.naive_utc())),
        "links": {"self": format!("{base}/v2/zones/{zone_id}/recordsets/{}", rs.id)},
    })
}

/// A record set from the read model.
pub(crate) fn recordset_from_row(base: &str, rs: &RecordsetRow) -> Value {
    json!({
        "id": rs.id.to_string(),
        "zone_id": rs.zone_id.to_string(),
        "project_id": rs.project_id,
        "zone_name": rs.zone_name,
        "name": rs.name,
        "type": rs.rtype,
        "records": rs.records,
        "ttl": rs.ttl,
        "description": rs.description,
        "status": rs.status,
        "action": rs.action,
        "version": rs.version,
        "created_at": timestamp(rs.created_at),
        "updated_at": opt_timestamp(rs.updated_at),
        "links": {"self": format!("{base}/v2/zones/{}/recordsets/{}", rs.zone_id, rs.id)},
    })
}
