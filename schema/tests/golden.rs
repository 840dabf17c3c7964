//! One golden JSON file per event type and version, and one for the commit envelope. Editing a golden
//! file means changing the contract: add a new version instead. `NSPLANE_UPDATE_GOLDEN=1` writes
//! missing or changed files (review the diff before committing it).

use std::path::PathBuf;

use chrono::{TimeZone, Utc};
use nsplane_schema::event::{
    CommitEnvelope, Metadata, NameserverSync, NsRecord, SoaTimers, ZoneEvent, ENVELOPE_VERSION,
};
use nsplane_schema::{
    DnsName, PoolId, ProjectId, RecordType, RecordsetId, RecordsetName, RequestId, Ttl, ZoneId, ZoneName,
};
use uuid::Uuid;

fn examples() -> Vec<(&'static str, ZoneEvent)> {
    let rs = RecordsetId(Uuid::from_u128(0x2222));
    vec![
        (
            "ZoneCreated.v1",
            ZoneEvent::ZoneCreated {
                zone_id: ZoneId(Uuid::from_u128(0x1111)),
                project_id: ProjectId("project-a".into()),
                name: ZoneName::parse("example.org.").expect("name"),
                email: "hostmaster@example.org".into(),
                ttl: Ttl::new(3600).expect("ttl"),
                description: Some("a zone".into()),
                pool_id: PoolId(Uuid::from_u128(0x3333)),
                serial: 1_795_000_000,
                soa: SoaTimers {
                    refresh: 3600,
                    retry: 600,
                    expire: 86400,
                    minimum: 3600,
                },
                ns_records: vec![NsRecord {
                    hostname: DnsName::parse("ns1.example.net.").expect("ns"),
                    priority: 1,
                }],
                // Empty: the field is absent, as in events written before it existed.
                attributes: Default::default(),
            },
        ),
        (
            "ZoneUpdated.v1",
            ZoneEvent::ZoneUpdated {
                email: "admin@example.org".into(),
                ttl: Ttl::new(300).expect("ttl"),
                description: None,
                serial: 1_795_000_001,
            },
        ),
        ("ZoneDeleteRequested.v1", ZoneEvent::ZoneDeleteRequested {}),
        (
            "RecordsetCreated.v1",
            ZoneEvent::RecordsetCreated {
                recordset_id: rs,
                project_id: ProjectId("project-a".into()),
                name: RecordsetName::parse("www.example.org.").expect("name"),
                rtype: RecordType::A,
                records: vec!["192.0.2.1".into()],
                ttl: Some(Ttl::new(60).expect("ttl")),
                description: None,
                serial: 1_795_000_002,
            },
        ),
        (
            "RecordsetUpdated.v1",
            ZoneEvent::RecordsetUpdated {
                recordset_id: rs,
                records: vec!["192.0.2.2".into()],
                ttl: None,
                description: Some("changed".into()),
                serial: 1_795_000_003,
            },
        ),
        (
            "RecordsetDeleted.v1",
            ZoneEvent::RecordsetDeleted {
                recordset_id: rs,
                serial: 1_795_000_004,
            },
        ),
        (
            "ZoneShared.v1",
            ZoneEvent::ZoneShared {
                share_id: Uuid::from_u128(0x5555),
                target_project_id: ProjectId("project-b".into()),
            },
        ),
        (
            "ZoneUnshared.v1",
            ZoneEvent::ZoneUnshared {
                share_id: Uuid::from_u128(0x5555),
            },
        ),
        (
            "ZoneSyncReported.v1",
            ZoneEvent::ZoneSyncReported {
                serial: 1_795_000_004,
                synced: true,
                nameservers: vec![NameserverSync {
                    nameserver: "192.0.2.53:53".into(),
                    serial: Some(1_795_000_004),
                    status: "SYNCED".into(),
                    error: None,
                }],
            },
        ),
        (
            "ZoneDeleted.v1",
            ZoneEvent::ZoneDeleted {
                nameservers: vec![NameserverSync {
                    nameserver: "192.0.2.53:53".into(),
                    serial: None,
                    status: "SYNCED".into(),
                    error: None,
                }],
            },
        ),
    ]
}

fn golden_dir() -> PathBuf {
    // Read at run time: a test binary reused from a clone at another path must not look there.
    PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()))
        .join("tests")
        .join("golden")
}

fn check(name: &str, value: &serde_json::Value) {
    let path = golden_dir().join(format!("{name}.json"));
    let rendered = serde_json::to_string_pretty(value).expect("render") + "\n";
    if std::env::var("NSPLANE_UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(golden_dir()).expect("dir");
        std::fs::write(&path, &rendered).expect("write golden");
    }
    let golden = std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("missing golden file {}", path.display()));
    assert_eq!(
        golden, rendered,
        "{name} no longer serializes as its golden file: the contract changed"
    );
}

#[test]
fn every_event_matches_its_golden_file_both_ways() {
    let examples = examples();
    for (name, event) in &examples {
        assert_eq!(*name, format!("{}.v{}", event.event_type(), event.event_version()));
        let value = serde_json::to_value(event).expect("serialize");
        assert_eq!(value["type"], *name);
        check(name, &value);
        let golden = std::fs::read_to_string(golden_dir().join(format!("{name}.json"))).expect("golden");
        let parsed: ZoneEvent = serde_json::from_str(&golden).expect("golden parses");
        assert_eq!(&parsed, event);
    }
    // Every variant has an example: a new event type needs its golden file.
    let mut types: Vec<&str> = examples.iter().map(|(_, e)| e.event_type()).collect();
    types.sort();
    types.dedup();
    assert_eq!(types.len(), 10);
}

#[test]
fn the_envelope_matches_its_golden_file() {
    let envelope = CommitEnvelope {
        envelope_version: ENVELOPE_VERSION,
        aggregate_type: "zone".into(),
        aggregate_id: ZoneId(Uuid::from_u128(0x1111)).to_string(),
        version: 7,
        events: vec![ZoneEvent::RecordsetDeleted {
            recordset_id: RecordsetId(Uuid::from_u128(0x2222)),
            serial: 9,
        }],
        metadata: Metadata {
            project_id: ProjectId("project-a".into()),
            user_id: "user-a".into(),
            roles: vec!["member".into(), "reader".into()],
            request_id: RequestId("req-00000000-0000-0000-0000-000000000001".into()),
            source_role: "api".into(),
            command: "DeleteRecordset".into(),
            time: Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).single().expect("time"),
        },
    };
    let value = serde_json::to_value(&envelope).expect("serialize");
    check("CommitEnvelope.v1", &value);
    let parsed: CommitEnvelope = serde_json::from_value(value).expect("parse");
    assert_eq!(parsed, envelope);
}

#[test]
fn invalid_values_are_refused_when_reading_events() {
    let bad = serde_json::json!({"type": "RecordsetDeleted.v1", "recordset_id": "not-a-uuid", "serial": 1});
    assert!(serde_json::from_value::<ZoneEvent>(bad).is_err());
    let bad_name =
        serde_json::json!({"type": "ZoneUpdated.v1", "email": "a@b", "ttl": -5, "description": null, "serial": 1});
    assert!(
        serde_json::from_value::<ZoneEvent>(bad_name).is_err(),
        "a negative TTL never enters through an event"
    );
}
