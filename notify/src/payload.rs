//! From a commit to Designate's notifications: each event's `event_type` and payload (the object as
//! Designate's default notification plugin serialises it: the zone, the record set, the TLD or the
//! blacklist after the change), wrapped as oslo.messaging's v2 envelope. Pure functions of the commit
//! and the zone's state before it, so a commit read again yields the same notifications, with the same
//! message ids.

use chrono::{DateTime, Utc};
use nsplane_command::zone::{Recordset, Zone};
use nsplane_command::Decider as _;
use nsplane_schema::envelope::{Metadata, RawCommit};
use nsplane_schema::naming::NamingEvent;
use nsplane_schema::{RecordsetId, ZoneEvent};
use serde_json::{json, Value};
use uuid::Uuid;

/// Namespace of notification message ids: one id per (stream sequence, event index).
const MESSAGE_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6e73706c_616e_6500_8000_00000000000e);

/// One notification, before it is wrapped.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// Stable across every delivery of the same event: `uuid5(stream sequence, event index)`.
    pub message_id: Uuid,
    /// `dns.zone.create`, `dns.recordset.update`, …
    pub event_type: &'static str,
    /// The object after the change.
    pub payload: Value,
    /// Who asked, why and when.
    pub metadata: Metadata,
}

impl Notification {
    /// oslo.messaging's v2 envelope: `{"oslo.version": "2.0", "oslo.message": "<the message as a JSON
    /// string>"}`, the message carrying the request context as `_context_*` keys.
    pub fn envelope(&self, publisher_id: &str) -> Value {
        let m = &self.metadata;
        let message = json!({
            "message_id": self.message_id.to_string(),
            "publisher_id": publisher_id,
            "event_type": self.event_type,
            "priority": "INFO",
            "payload": self.payload,
            "timestamp": m.time.format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
            "_context_request_id": m.request_id.0,
            "_context_project_id": m.project_id.0,
            "_context_project": m.project_id.0,
            "_context_user_id": m.user_id,
            "_context_user": m.user_id,
            "_context_roles": m.roles,
            "_context_is_admin": m.roles.iter().any(|r| r == "admin"),
        });
        json!({"oslo.version": "2.0", "oslo.message": message.to_string()})
    }
}

/// The message id of event `index` of the commit at `stream_seq`.
pub fn message_id(stream_seq: u64, index: usize) -> Uuid {
    Uuid::new_v5(&MESSAGE_ID_NAMESPACE, format!("{stream_seq}/{index}").as_bytes())
}

/// The message id of a zone's `dns.zone.exists` for the audit period starting at `period_start` (unix
/// seconds): whoever sends it, and however often, it is the same notification.
pub fn exists_message_id(zone_id: Uuid, period_start: i64) -> Uuid {
    Uuid::new_v5(
        &MESSAGE_ID_NAMESPACE,
        format!("exists/{zone_id}/{period_start}").as_bytes(),
    )
}

fn time(t: Option<DateTime<Utc>>) -> Value {
    t.map(|t| Value::from(t.format("%Y-%m-%dT%H:%M:%S.%6f").to_string()))
        .unwrap_or(Value::Null)
}

/// A zone as Designate's notifications show it.
pub fn zone_payload(zone: &Zone) -> Value {
    let soa = zone.soa;
    json!({
        "id": zone.id.map(|id| id.to_string()),
        "pool_id": zone.pool_id.map(|id| id.to_string()),
        "project_id": zone.project_id.as_ref().map(|p| p.0.clone()),
        "tenant_id": zone.project_id.as_ref().map(|p| p.0.clone()),
        "name": zone.name.as_ref().map(|n| n.to_string()),
        "email": zone.email,
        "ttl": zone.ttl.map(|t| t.secs()),
        "serial": zone.serial,
        "refresh": soa.map(|s| s.refresh),
        "retry": soa.map(|s| s.retry),
        "expire": soa.map(|s| s.expire),
        "minimum": soa.map(|s| s.minimum),
        "status": zone.status.to_string(),
        "action": zone.action.to_string(),
        "type": "PRIMARY",
        "description": zone.description,
        "attributes": zone.attributes,
        "masters": [],
        "shard": zone.id.map(|id| id.shard()),
        "version": zone.version,
        "created_at": time(zone.created_at),
        "updated_at": time(zone.updated_at),
    })
}

/// A record set as Designate's notifications show it (its records as objects, as Designate's
/// `RecordSet` serialises them).
pub fn recordset_payload(zone: &Zone, rs: &Recordset) -> Value {
    let records: Vec<Value> = rs
        .records
        .iter()
        .map(|data| json!({"data": data, "status": rs.status.to_string(), "action": rs.action.to_string(), "managed": rs.managed}))
        .collect();
    json!({
        "id": rs.id.to_string(),
        "zone_id": zone.id.map(|id| id.to_string()),
        "zone_name": zone.name.as_ref().map(|n| n.to_string()),
        "project_id": rs.project_id.0,
        "tenant_id": rs.project_id.0,
        "name": rs.name.to_string(),
        "type": rs.rtype.as_str(),
        "ttl": rs.ttl.map(|t| t.secs()),
        "description": rs.description,
        "records": records,
        "status": rs.status.to_string(),
        "action": rs.action.to_string(),
        "managed": rs.managed,
        "version": rs.version,
        "created_at": time(Some(rs.created_at)),
        "updated_at": time(rs.updated_at),
    })
}

/// The notifications of a zone commit. `state` is the zone before the commit; it is left as the zone
/// after it. Events that are nsplane's own bookkeeping (a recovery asked for) make none.
pub fn zone_notifications(stream_seq: u64, commit: &RawCommit, state: &mut Zone) -> anyhow::Result<Vec<Notification>> {
    let typed = commit.typed::<ZoneEvent>()?;
    let time = typed.metadata.time;
    let mut out = Vec::new();
    for (index, event) in typed.events.iter().enumerate() {
        // Record sets a delete removes are shown as they were.
        let before: Option<std::sync::Arc<Recordset>> = match event {
            ZoneEvent::RecordsetDeleted { recordset_id, .. } => state.recordsets.get(recordset_id).cloned(),
            _ => None,
        };
        state.commit_time = time;
        state.evolve(event, time);
        let recordset =
            |id: &RecordsetId, state: &Zone| state.recordsets.get(id).map(|rs| recordset_payload(state, rs));
        let (event_type, payload) = match event {
            ZoneEvent::ZoneCreated { .. } => ("dns.zone.create", Some(zone_payload(state))),
            ZoneEvent::ZoneUpdated { .. } | ZoneEvent::ZoneSyncReported { .. } | ZoneEvent::ZoneDeleted { .. } => {
                ("dns.zone.update", Some(zone_payload(state)))
            }
            ZoneEvent::ZoneDeleteRequested {} => ("dns.zone.delete", Some(zone_payload(state))),
            ZoneEvent::ZoneShared {
                share_id,
                target_project_id,
            } => (
                "dns.zone.share",
                Some(json!({
                    "id": share_id.to_string(),
                    "zone_id": state.id.map(|id| id.to_string()),
                    "project_id": state.project_id.as_ref().map(|p| p.0.clone()),
                    "target_project_id": target_project_id.0,
                })),
            ),
            ZoneEvent::ZoneUnshared { share_id } => (
                "dns.zone.unshare",
                Some(json!({
                    "id": share_id.to_string(),
                    "zone_id": state.id.map(|id| id.to_string()),
                })),
            ),
            ZoneEvent::RecordsetCreated { recordset_id, .. } => {
                ("dns.recordset.create", recordset(recordset_id, state))
            }
            ZoneEvent::RecordsetUpdated { recordset_id, .. } => {
                ("dns.recordset.update", recordset(recordset_id, state))
            }
            ZoneEvent::RecordsetDeleted { .. } => (
                "dns.recordset.delete",
                before.map(|rs| {
                    let mut payload = recordset_payload(state, &rs);
                    payload["status"] = "PENDING".into();
                    payload["action"] = "DELETE".into();
                    payload
                }),
            ),
            // Bookkeeping: the record-set events beside them are notified.
            ZoneEvent::ZoneRecoveryRequested { .. }
            | ZoneEvent::ManagedRecordsClaimed { .. }
            | ZoneEvent::ManagedResourceReleased { .. } => continue,
        };
        let Some(payload) = payload else {
            anyhow::bail!(
                "zone {} at stream seq {stream_seq}: event {index} names a record set the zone does not have",
                typed.aggregate_id
            );
        };
        out.push(Notification {
            message_id: message_id(stream_seq, index),
            event_type,
            payload,
            metadata: typed.metadata.clone(),
        });
    }
    Ok(out)
}

/// The notifications of a naming commit (TLDs and blacklists).
pub fn naming_notifications(stream_seq: u64, commit: &RawCommit) -> anyhow::Result<Vec<Notification>> {
    let typed = commit.typed::<NamingEvent>()?;
    let time = typed.metadata.time.format("%Y-%m-%dT%H:%M:%S.%6f").to_string();
    let mut out = Vec::new();
    for (index, event) in typed.events.iter().enumerate() {
        let (event_type, payload) = match event {
            NamingEvent::TldCreated {
                tld_id,
                name,
                description,
            } => (
                "dns.tld.create",
                json!({"id": tld_id.to_string(), "name": name, "description": description, "created_at": time}),
            ),
            NamingEvent::TldUpdated {
                tld_id,
                name,
                description,
            } => (
                "dns.tld.update",
                json!({"id": tld_id.to_string(), "name": name, "description": description, "updated_at": time}),
            ),
            NamingEvent::TldDeleted { tld_id } => ("dns.tld.delete", json!({"id": tld_id.to_string()})),
            NamingEvent::BlacklistCreated {
                blacklist_id,
                pattern,
                description,
            } => (
                "dns.blacklist.create",
                json!({"id": blacklist_id.to_string(), "pattern": pattern, "description": description, "created_at": time}),
            ),
            NamingEvent::BlacklistUpdated {
                blacklist_id,
                pattern,
                description,
            } => (
                "dns.blacklist.update",
                json!({"id": blacklist_id.to_string(), "pattern": pattern, "description": description, "updated_at": time}),
            ),
            NamingEvent::BlacklistDeleted { blacklist_id } => {
                ("dns.blacklist.delete", json!({"id": blacklist_id.to_string()}))
            }
        };
        out.push(Notification {
            message_id: message_id(stream_seq, index),
            event_type,
            payload,
            metadata: typed.metadata.clone(),
        });
    }
    Ok(out)
}

/// The notifications of a TSIG-key commit (`dns.tsigkey.*`), the secret redacted: a notification
/// leaves nsplane for whoever listens on the bus.
pub fn tsigkey_notifications(stream_seq: u64, commit: &RawCommit) -> anyhow::Result<Vec<Notification>> {
    use nsplane_schema::tsigkeys::{TsigKeyEvent, REDACTED};
    let typed = commit.typed::<TsigKeyEvent>()?;
    let time = typed.metadata.time.format("%Y-%m-%dT%H:%M:%S.%6f").to_string();
    let mut out = Vec::new();
    for (index, event) in typed.events.iter().enumerate() {
        let (event_type, payload) = match event {
            TsigKeyEvent::TsigKeyCreated {
                tsigkey_id,
                name,
                algorithm,
                scope,
                resource_id,
                ..
            }
            | TsigKeyEvent::TsigKeyUpdated {
                tsigkey_id,
                name,
                algorithm,
                scope,
                resource_id,
                ..
            } => {
                let (event_type, stamp) = if matches!(event, TsigKeyEvent::TsigKeyCreated { .. }) {
                    ("dns.tsigkey.create", "created_at")
                } else {
                    ("dns.tsigkey.update", "updated_at")
                };
                (
                    event_type,
                    json!({"id": tsigkey_id.to_string(), "name": name, "algorithm": algorithm, "secret": REDACTED,
                        "scope": scope.as_str(), "resource_id": resource_id.to_string(), stamp: time}),
                )
            }
            TsigKeyEvent::TsigKeyDeleted { tsigkey_id } => {
                ("dns.tsigkey.delete", json!({"id": tsigkey_id.to_string()}))
            }
        };
        out.push(Notification {
            message_id: message_id(stream_seq, index),
            event_type,
            payload,
            metadata: typed.metadata.clone(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nsplane_schema::{ProjectId, RequestId};

    #[test]
    fn a_notification_reads_as_oslo_messagings_v2_envelope_with_a_stable_id() {
        assert_eq!(message_id(42, 1), message_id(42, 1), "the same event, the same id");
        assert_ne!(message_id(42, 1), message_id(42, 2));
        assert_ne!(message_id(42, 1), message_id(43, 1));
        let mut metadata = Metadata::service("api");
        metadata.project_id = ProjectId("p1".into());
        metadata.request_id = RequestId("req-1".into());
        let n = Notification {
            message_id: message_id(7, 0),
            event_type: "dns.zone.create",
            payload: json!({"name": "example.org."}),
            metadata,
        };
        let envelope = n.envelope("central.host");
        assert_eq!(envelope["oslo.version"], "2.0");
        let message: Value =
            serde_json::from_str(envelope["oslo.message"].as_str().expect("a JSON string")).expect("JSON");
        assert_eq!(message["message_id"], message_id(7, 0).to_string());
        assert_eq!(message["event_type"], "dns.zone.create");
        assert_eq!(message["publisher_id"], "central.host");
        assert_eq!(message["priority"], "INFO");
        assert_eq!(message["payload"]["name"], "example.org.");
        assert_eq!(message["_context_project_id"], "p1");
        assert_eq!(message["_context_request_id"], "req-1");
        assert_eq!(message["_context_is_admin"], true);
    }

    #[test]
    fn a_tsig_keys_notification_never_carries_its_secret() {
        use nsplane_schema::tsigkeys::{TsigKeyEvent, TsigScope};
        let event = TsigKeyEvent::TsigKeyCreated {
            tsigkey_id: uuid::Uuid::nil(),
            name: "k".into(),
            algorithm: "hmac-sha256".into(),
            secret: "dG9wLXNlY3JldA==".into(),
            scope: TsigScope::Zone,
            resource_id: uuid::Uuid::nil(),
        };
        let typed = nsplane_schema::CommitEnvelope::new("all".into(), 1, vec![event], Metadata::service("api"));
        let commit: RawCommit =
            serde_json::from_value(serde_json::to_value(&typed).expect("JSON")).expect("a raw commit");
        let out = tsigkey_notifications(9, &commit).expect("notifications");
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].event_type, "dns.tsigkey.create");
        assert_eq!(out[0].payload["name"], "k");
        assert_eq!(out[0].payload["scope"], "ZONE");
        assert!(!out[0].envelope("central").to_string().contains("dG9wLXNlY3JldA=="));
    }
}
