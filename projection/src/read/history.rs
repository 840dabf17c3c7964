//! A zone's history, from its audit rows (which outlive the zone): one entry per serial, the zone's
//! record sets as they were at a serial or a time, and the difference between two such states.

use std::collections::BTreeMap;

use anyhow::Context as _;
use chrono::NaiveDateTime;
use nsplane_schema::zonefile::{self, Apex, Entry, Soa};
use serde_json::{json, Value};

use super::{ReadError, ReadModels};

/// Event types that change a zone's content (and its serial).
const CONTENT: &str = "('ZoneCreated', 'ZoneUpdated', 'RecordsetCreated', 'RecordsetUpdated', 'RecordsetDeleted')";

/// Who created a zone, and its name: from its first event, so also for a deleted zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneOrigin {
    /// The owner.
    pub project_id: String,
    /// The name.
    pub name: String,
}

/// One serial of a zone: the commit that made it.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    /// The serial.
    pub serial: u32,
    /// The zone's version after the commit.
    pub version: i64,
    /// The commit's stream sequence.
    pub stream_seq: i64,
    /// When it was decided (UTC).
    pub occurred_at: NaiveDateTime,
    /// Who: the project.
    pub project_id: String,
    /// Who: the user.
    pub user_id: String,
    /// Why: the request.
    pub request_id: String,
    /// Why: the issuing role.
    pub source: String,
    /// Why: the command.
    pub command: String,
    /// Record sets created, updated and deleted by it.
    pub counts: [i64; 3],
}

/// Which state of a zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// The state the zone had at this serial.
    Serial(u32),
    /// The state at this time (UTC): after the last change at or before it.
    Time(NaiveDateTime),
}

/// A record set as it was.
#[derive(Debug, Clone, PartialEq)]
pub struct PastRecordset {
    /// Its id.
    pub id: String,
    /// The project that owned it.
    pub project_id: String,
    /// Its name.
    pub name: String,
    /// Its type.
    pub rtype: String,
    /// Its record data.
    pub records: Value,
    /// Its TTL (`null`: the zone's).
    pub ttl: Value,
    /// Its description.
    pub description: Value,
}

impl PastRecordset {
    /// As the API shows it.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "type": self.rtype,
            "records": self.records,
            "ttl": self.ttl,
            "description": self.description,
        })
    }

    fn values(&self) -> Value {
        json!({"records": self.records, "ttl": self.ttl, "description": self.description})
    }
}

/// A zone's record sets at one serial (the managed SOA and NS are not record-set events, so not here).
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneAt {
    /// The serial.
    pub serial: u32,
    /// When that serial was made.
    pub occurred_at: NaiveDateTime,
    /// The record sets, by name and type.
    pub recordsets: Vec<PastRecordset>,
    /// The zone's name, TTL, SOA and name servers then (`None` only for a history without its
    /// creation).
    pub apex: Option<Apex>,
}

impl ZoneAt {
    /// Its records as zone-file entries, each record set's with its own TTL or the zone's.
    fn entries(&self, zone_ttl: u32) -> Vec<Entry> {
        let mut entries = Vec::new();
        for set in &self.recordsets {
            let ttl = set.ttl.as_u64().and_then(|t| u32::try_from(t).ok()).unwrap_or(zone_ttl);
            for data in set.records.as_array().into_iter().flatten().filter_map(Value::as_str) {
                entries.push(Entry {
                    name: set.name.clone(),
                    ttl,
                    rtype: set.rtype.clone(),
                    data: data.to_owned(),
                });
            }
        }
        entries
    }

    /// The zone then as a zone file (`None` without its apex).
    pub fn to_zone_file(&self) -> Option<String> {
        let apex = self.apex.as_ref()?;
        Some(zonefile::zone_file(apex, &self.entries(apex.ttl)))
    }

    /// The change from `self` to `to` in IXFR's condensed form (`None` without both apexes).
    pub fn ixfr_to(&self, to: &ZoneAt) -> Option<String> {
        let (from_apex, to_apex) = (self.apex.as_ref()?, to.apex.as_ref()?);
        let (before, after) = (self.entries(from_apex.ttl), to.entries(to_apex.ttl));
        Some(zonefile::ixfr((from_apex, &before), (to_apex, &after)))
    }

    /// What changed from `self` to `to`: record sets added, removed, and changed (records, TTL or
    /// description), as JSON.
    pub fn diff(&self, to: &ZoneAt) -> Value {
        let before: BTreeMap<&str, &PastRecordset> = self.recordsets.iter().map(|r| (r.id.as_str(), r)).collect();
        let after: BTreeMap<&str, &PastRecordset> = to.recordsets.iter().map(|r| (r.id.as_str(), r)).collect();
        let added: Vec<Value> = to
            .recordsets
            .iter()
            .filter(|r| !before.contains_key(r.id.as_str()))
            .map(PastRecordset::to_json)
            .collect();
        let removed: Vec<Value> = self
            .recordsets
            .iter()
            .filter(|r| !after.contains_key(r.id.as_str()))
            .map(PastRecordset::to_json)
            .collect();
        let changed: Vec<Value> = to
            .recordsets
            .iter()
            .filter_map(|new| {
                let old = before.get(new.id.as_str())?;
                (old.values() != new.values()).then(|| {
                    json!({"id": new.id, "name": new.name, "type": new.rtype, "before": old.values(), "after": new.values()})
                })
            })
            .collect();
        json!({"from_serial": self.serial, "to_serial": to.serial, "added": added, "removed": removed, "changed": changed})
    }
}

impl ReadModels {
    /// Who created the zone and its name, if it ever existed.
    pub async fn zone_origin(&self, zone_id: &str) -> Result<Option<ZoneOrigin>, ReadError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT payload->>'project_id', payload->>'name' FROM audit_events WHERE aggregate_type = 'zone' \
                 AND aggregate_id = $1 AND event_type = 'ZoneCreated' LIMIT 1",
                &[&zone_id],
            )
            .await
            .context("failed to read a zone's creation")?;
        Ok(row.map(|r| ZoneOrigin {
            project_id: r.get::<_, Option<String>>(0).unwrap_or_default(),
            name: r.get::<_, Option<String>>(1).unwrap_or_default(),
        }))
    }

    /// Every serial of the zone, oldest first.
    pub async fn zone_history(&self, zone_id: &str) -> Result<Vec<HistoryEntry>, ReadError> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT stream_seq, max(version), min(occurred_at), min(project_id), min(user_id), min(request_id), \
             min(source_role), min(command), max((payload->>'serial')::bigint), \
             count(*) FILTER (WHERE event_type = 'RecordsetCreated'), count(*) FILTER (WHERE event_type = 'RecordsetUpdated'), \
             count(*) FILTER (WHERE event_type = 'RecordsetDeleted') \
             FROM audit_events WHERE aggregate_type = 'zone' AND aggregate_id = $1 AND event_type IN {CONTENT} \
             GROUP BY stream_seq ORDER BY stream_seq"
        );
        let rows = client
            .query(&sql, &[&zone_id])
            .await
            .context("failed to read a zone's history")?;
        Ok(rows
            .iter()
            .map(|r| HistoryEntry {
                stream_seq: r.get(0),
                version: r.get(1),
                occurred_at: r.get(2),
                project_id: r.get(3),
                user_id: r.get(4),
                request_id: r.get(5),
                source: r.get(6),
                command: r.get(7),
                serial: u32::try_from(r.get::<_, Option<i64>>(8).unwrap_or_default()).unwrap_or_default(),
                counts: [r.get(9), r.get(10), r.get(11)],
            })
            .collect())
    }

    /// The zone's record sets at `at`, or `None` if the zone had no such serial (or did not exist yet
    /// at that time).
    pub async fn zone_at(&self, zone_id: &str, at: At) -> Result<Option<ZoneAt>, ReadError> {
        let client = self.client().await?;
        let head = match at {
            At::Serial(serial) => {
                let sql = format!(
                    "SELECT stream_seq, occurred_at, (payload->>'serial')::bigint FROM audit_events WHERE aggregate_type = 'zone' \
                     AND aggregate_id = $1 AND event_type IN {CONTENT} AND (payload->>'serial')::bigint = $2 \
                     ORDER BY stream_seq DESC LIMIT 1"
                );
                client.query_opt(&sql, &[&zone_id, &i64::from(serial)]).await
            }
            At::Time(time) => {
                let sql = format!(
                    "SELECT stream_seq, occurred_at, (payload->>'serial')::bigint FROM audit_events WHERE aggregate_type = 'zone' \
                     AND aggregate_id = $1 AND event_type IN {CONTENT} AND occurred_at <= $2 \
                     ORDER BY stream_seq DESC, event_idx DESC LIMIT 1"
                );
                client.query_opt(&sql, &[&zone_id, &time]).await
            }
        }
        .context("failed to find a zone's serial")?;
        let Some(head) = head else { return Ok(None) };
        let (position, occurred_at, serial): (i64, NaiveDateTime, i64) = (head.get(0), head.get(1), head.get(2));
        let rows = client
            .query(
                &format!(
                    "SELECT event_type, payload FROM audit_events WHERE aggregate_type = 'zone' AND aggregate_id = $1 \
                     AND event_type IN {CONTENT} AND stream_seq <= $2 ORDER BY stream_seq, event_idx"
                ),
                &[&zone_id, &position],
            )
            .await
            .context("failed to read a zone's record-set history")?;
        let mut sets: BTreeMap<String, PastRecordset> = BTreeMap::new();
        let mut apex: Option<Apex> = None;
        for row in &rows {
            let (event_type, payload): (&str, Value) = (row.get(0), row.get(1));
            let id = payload["recordset_id"].as_str().unwrap_or_default().to_owned();
            match event_type {
                "ZoneCreated" => apex = apex_of(&payload),
                "ZoneUpdated" => {
                    if let Some(apex) = &mut apex {
                        apex.soa.email = payload["email"].as_str().unwrap_or_default().to_owned();
                        apex.ttl = number(&payload["ttl"]);
                    }
                }
                "RecordsetCreated" => {
                    let text = |key: &str| payload[key].as_str().unwrap_or_default().to_owned();
                    let set = PastRecordset {
                        id: id.clone(),
                        project_id: text("project_id"),
                        name: text("name"),
                        rtype: text("rtype"),
                        records: payload["records"].clone(),
                        ttl: payload["ttl"].clone(),
                        description: payload["description"].clone(),
                    };
                    sets.insert(id, set);
                }
                "RecordsetUpdated" => {
                    if let Some(set) = sets.get_mut(&id) {
                        set.records = payload["records"].clone();
                        set.ttl = payload["ttl"].clone();
                        set.description = payload["description"].clone();
                    }
                }
                _ => {
                    sets.remove(&id);
                }
            }
        }
        let mut recordsets: Vec<PastRecordset> = sets.into_values().collect();
        recordsets.sort_by(|a, b| (&a.name, &a.rtype, &a.id).cmp(&(&b.name, &b.rtype, &b.id)));
        let serial = u32::try_from(serial).unwrap_or_default();
        if let Some(apex) = &mut apex {
            apex.soa.serial = serial;
        }
        Ok(Some(ZoneAt {
            serial,
            occurred_at,
            recordsets,
            apex,
        }))
    }
}

fn number(value: &Value) -> u32 {
    value.as_u64().and_then(|n| u32::try_from(n).ok()).unwrap_or_default()
}

/// A zone's apex from its `ZoneCreated` event: the pool's name servers by priority, the first one the
/// SOA MNAME.
fn apex_of(created: &Value) -> Option<Apex> {
    let mut nameservers: Vec<(u64, String)> = created["ns_records"]
        .as_array()?
        .iter()
        .filter_map(|ns| Some((ns["priority"].as_u64()?, ns["hostname"].as_str()?.to_owned())))
        .collect();
    nameservers.sort();
    let nameservers: Vec<String> = nameservers.into_iter().map(|(_, host)| host).collect();
    let soa = &created["soa"];
    Some(Apex {
        origin: created["name"].as_str()?.to_owned(),
        ttl: number(&created["ttl"]),
        soa: Soa {
            mname: nameservers.first().cloned().unwrap_or_else(|| "ns.invalid.".to_owned()),
            email: created["email"].as_str()?.to_owned(),
            serial: number(&created["serial"]),
            timers: [
                number(&soa["refresh"]),
                number(&soa["retry"]),
                number(&soa["expire"]),
                number(&soa["minimum"]),
            ],
        },
        nameservers,
    })
}
