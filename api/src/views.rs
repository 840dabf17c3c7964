//! JSON representations in Designate's shapes, from the aggregate (write responses) or from the
//! read models (reads). Timestamps are naive, `%Y-%m-%dT%H:%M:%S.%f`, as gophercloud parses them.

use axum::http::HeaderMap;
use chrono::NaiveDateTime;
use nsplane_command::zone::{Recordset, Zone};
use nsplane_projection::read::{RecordsetRow, ZoneRow};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::ApiConfig;

/// Designate's timestamp format.
pub(crate) fn timestamp(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
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

/// `{"self": url}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SelfLink {
    #[serde(rename = "self")]
    #[schema(rename = "self")]
    href: String,
}

impl SelfLink {
    pub(crate) fn new(href: String) -> Self {
        Self { href }
    }
}

/// A zone, as Designate shows it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ZoneView {
    id: String,
    pool_id: Option<String>,
    project_id: Option<String>,
    /// The zone's name, a fully qualified domain name ending with a dot.
    name: Option<String>,
    email: Option<String>,
    ttl: Option<i64>,
    serial: i64,
    /// `ACTIVE`, `PENDING`, `ERROR`, `DELETED`.
    status: String,
    /// `CREATE`, `UPDATE`, `DELETE`, `NONE`.
    action: String,
    description: Option<String>,
    masters: Vec<String>,
    /// `PRIMARY` or `SECONDARY`.
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    zone_type: String,
    transferred_at: Option<String>,
    version: i64,
    created_at: Option<String>,
    updated_at: Option<String>,
    attributes: std::collections::BTreeMap<String, String>,
    shared: bool,
    /// Per name server of the pool: the serial it serves and whether it is in sync.
    #[schema(value_type = Vec<Object>)]
    nameservers_sync: Value,
    links: SelfLink,
}

/// A record set, as Designate shows it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RecordsetView {
    id: String,
    zone_id: String,
    project_id: String,
    zone_name: Option<String>,
    name: String,
    /// One of Designate's 17 record types.
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    rtype: String,
    records: Vec<String>,
    ttl: Option<i64>,
    description: Option<String>,
    status: String,
    action: String,
    version: i64,
    created_at: String,
    updated_at: Option<String>,
    links: SelfLink,
}

fn json(view: impl Serialize) -> Value {
    serde_json::to_value(view).unwrap_or(Value::Null)
}

/// A zone from the aggregate.
pub(crate) fn zone_from_aggregate(base: &str, zone: &Zone) -> Value {
    let id = zone.id.map(|z| z.to_string()).unwrap_or_default();
    json(ZoneView {
        pool_id: zone.pool_id.map(|p| p.to_string()),
        project_id: zone.project_id.as_ref().map(|p| p.0.clone()),
        name: zone.name.as_ref().map(|n| n.to_string()),
        email: Some(zone.email.clone()),
        ttl: zone.ttl.map(|t| i64::from(t.secs())),
        serial: i64::from(zone.serial),
        status: zone.status.as_str().to_owned(),
        action: zone.action.as_str().to_owned(),
        description: zone.description.clone(),
        masters: Vec::new(),
        zone_type: "PRIMARY".to_owned(),
        transferred_at: None,
        version: i64::try_from(zone.version).unwrap_or(i64::MAX),
        created_at: zone.created_at.map(|t| timestamp(t.naive_utc())),
        updated_at: zone.updated_at.map(|t| timestamp(t.naive_utc())),
        attributes: zone.attributes.clone(),
        shared: !zone.shares.is_empty(),
        nameservers_sync: serde_json::to_value(&zone.nameservers).unwrap_or(Value::Null),
        links: SelfLink {
            href: format!("{base}/v2/zones/{id}"),
        },
        id,
    })
}

/// A zone from the read model.
pub(crate) fn zone_from_row(base: &str, zone: &ZoneRow) -> Value {
    json(ZoneView {
        id: zone.id.to_string(),
        pool_id: Some(zone.pool_id.to_string()),
        project_id: Some(zone.project_id.clone()),
        name: Some(zone.name.clone()),
        email: Some(zone.email.clone()),
        ttl: Some(i64::from(zone.ttl)),
        serial: zone.serial,
        status: zone.status.as_str().to_owned(),
        action: zone.action.as_str().to_owned(),
        description: zone.description.clone(),
        masters: Vec::new(),
        zone_type: zone.zone_type.clone(),
        transferred_at: None,
        version: zone.version,
        created_at: Some(timestamp(zone.created_at)),
        updated_at: zone.updated_at.map(timestamp),
        attributes: serde_json::from_value(zone.attributes.clone()).unwrap_or_default(),
        shared: !zone.shared_with.is_empty(),
        nameservers_sync: serde_json::to_value(&zone.sync).unwrap_or(Value::Null),
        links: SelfLink {
            href: format!("{base}/v2/zones/{}", zone.id),
        },
    })
}

/// A record set from the aggregate.
pub(crate) fn recordset_from_aggregate(base: &str, zone: &Zone, rs: &Recordset) -> Value {
    let zone_id = zone.id.map(|z| z.to_string()).unwrap_or_default();
    json(RecordsetView {
        id: rs.id.to_string(),
        project_id: rs.project_id.0.clone(),
        zone_name: zone.name.as_ref().map(|n| n.to_string()),
        name: rs.name.to_string(),
        rtype: rs.rtype.as_str().to_owned(),
        records: rs.records.clone(),
        ttl: rs.ttl.map(|t| i64::from(t.secs())),
        description: rs.description.clone(),
        status: rs.status.as_str().to_owned(),
        action: rs.action.as_str().to_owned(),
        version: i64::try_from(rs.version).unwrap_or(i64::MAX),
        created_at: timestamp(rs.created_at.naive_utc()),
        updated_at: rs.updated_at.map(|t| timestamp(t.naive_utc())),
        links: SelfLink {
            href: format!("{base}/v2/zones/{zone_id}/recordsets/{}", rs.id),
        },
        zone_id,
    })
}

/// A record set from the read model.
pub(crate) fn recordset_from_row(base: &str, rs: &RecordsetRow) -> Value {
    json(RecordsetView {
        id: rs.id.to_string(),
        zone_id: rs.zone_id.to_string(),
        project_id: rs.project_id.clone(),
        zone_name: Some(rs.zone_name.clone()),
        name: rs.name.clone(),
        rtype: rs.rtype.clone(),
        records: rs.records.clone(),
        ttl: rs.ttl.map(i64::from),
        description: rs.description.clone(),
        status: rs.status.as_str().to_owned(),
        action: rs.action.as_str().to_owned(),
        version: rs.version,
        created_at: timestamp(rs.created_at),
        updated_at: rs.updated_at.map(timestamp),
        links: SelfLink {
            href: format!("{base}/v2/zones/{}/recordsets/{}", rs.zone_id, rs.id),
        },
    })
}

/// A list's body as Designate writes it: the collection first, then `links`, then `metadata` (when
/// present). A `serde_json::Value` would sort the keys, and clients such as designate-tempest-plugin
/// take the first key for the collection.
pub(crate) struct Collection {
    /// `zones`, `tlds`, …
    pub(crate) key: String,
    /// The items.
    pub(crate) items: serde_json::Value,
    /// `{"self": …, "next": …}`.
    pub(crate) links: serde_json::Value,
    /// `{"total_count": …}`, if the list has one.
    pub(crate) metadata: Option<serde_json::Value>,
}

impl Collection {
    /// A whole list (no paging): `links.self` and `metadata.total_count`.
    pub(crate) fn whole(key: &str, items: Vec<serde_json::Value>, self_link: String) -> Self {
        let total = items.len();
        Self {
            key: key.to_owned(),
            items: serde_json::Value::Array(items),
            links: serde_json::json!({"self": self_link}),
            metadata: Some(serde_json::json!({"total_count": total})),
        }
    }
}

impl serde::Serialize for Collection {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = serializer.serialize_map(Some(2 + usize::from(self.metadata.is_some())))?;
        map.serialize_entry(&self.key, &self.items)?;
        map.serialize_entry("links", &self.links)?;
        if let Some(metadata) = &self.metadata {
            map.serialize_entry("metadata", metadata)?;
        }
        map.end()
    }
}
