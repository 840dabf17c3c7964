//! One golden JSON file per event type and version, and one for the commit envelope. Editing a golden
//! file means changing the contract: add a new version instead. `NSPLANE_UPDATE_GOLDEN=1` writes
//! missing or changed files (review the diff before committing it).

use std::path::PathBuf;

use chrono::{TimeZone, Utc};
use nsplane_schema::envelope::{event_tag, CommitEnvelope, Event, Fence, Metadata, RawCommit, ENVELOPE_VERSION};
use nsplane_schema::exports::ExportEvent;
use nsplane_schema::imports::ImportEvent;
use nsplane_schema::naming::NamingEvent;
use nsplane_schema::pools::PoolsEvent;
use nsplane_schema::quotas::QuotaEvent;
use nsplane_schema::tsigkeys::{TsigKeyEvent, TsigScope};
use nsplane_schema::zone::{NameserverSync, NsRecord, SoaTimers, ZoneEvent};
use nsplane_schema::{
    DnsName, NameserverStatus, PoolId, ProjectId, RecordType, RecordsetId, RecordsetName, RequestId, Ttl, ZoneId,
    ZoneName,
};
use uuid::Uuid;

fn zone_examples() -> Vec<(&'static str, ZoneEvent)> {
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
                // False: the field is absent, as in events written before it existed.
                managed: false,
            },
        ),
        (
            "ManagedRecordsClaimed.v1",
            ZoneEvent::ManagedRecordsClaimed {
                resource_type: "instance".into(),
                resource_id: "8ab0e1a4-4f0c-4d2b-9d7a-3a1c2b3c4d5e".into(),
                recordset_id: rs,
                records: vec!["192.0.2.1".into()],
            },
        ),
        (
            "ManagedResourceReleased.v1",
            ZoneEvent::ManagedResourceReleased {
                resource_type: "instance".into(),
                resource_id: "8ab0e1a4-4f0c-4d2b-9d7a-3a1c2b3c4d5e".into(),
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
                    status: NameserverStatus::Synced,
                    error: None,
                }],
            },
        ),
        (
            "ZoneRecoveryRequested.v1",
            ZoneEvent::ZoneRecoveryRequested {
                reason: "PENDING for 12 s".into(),
            },
        ),
        (
            "ZoneDeleted.v1",
            ZoneEvent::ZoneDeleted {
                nameservers: vec![NameserverSync {
                    nameserver: "192.0.2.53:53".into(),
                    serial: None,
                    status: NameserverStatus::Synced,
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

fn pools_examples() -> Vec<(&'static str, PoolsEvent)> {
    vec![(
        "PoolsConfigured.v1",
        PoolsEvent::PoolsConfigured {
            pools_yaml: "- name: default\n  ns_records:\n    - hostname: ns1.example.net.\n      priority: 1\n".into(),
        },
    )]
}

fn naming_examples() -> Vec<(&'static str, NamingEvent)> {
    let tld = Uuid::from_u128(0x7777);
    let blacklist = Uuid::from_u128(0x8888);
    vec![
        (
            "TldCreated.v1",
            NamingEvent::TldCreated {
                tld_id: tld,
                name: "org".into(),
                description: Some("generic".into()),
            },
        ),
        (
            "TldUpdated.v1",
            NamingEvent::TldUpdated {
                tld_id: tld,
                name: "net".into(),
                description: None,
            },
        ),
        ("TldDeleted.v1", NamingEvent::TldDeleted { tld_id: tld }),
        (
            "BlacklistCreated.v1",
            NamingEvent::BlacklistCreated {
                blacklist_id: blacklist,
                pattern: "^example\\.org\\.$".into(),
                description: None,
            },
        ),
        (
            "BlacklistUpdated.v1",
            NamingEvent::BlacklistUpdated {
                blacklist_id: blacklist,
                pattern: "^example\\.net\\.$".into(),
                description: Some("reserved".into()),
            },
        ),
        (
            "BlacklistDeleted.v1",
            NamingEvent::BlacklistDeleted {
                blacklist_id: blacklist,
            },
        ),
    ]
}

fn quota_examples() -> Vec<(&'static str, QuotaEvent)> {
    vec![
        (
            "QuotasSet.v1",
            QuotaEvent::QuotasSet {
                project_id: ProjectId("project-a".into()),
                changes: [("zones".to_owned(), 20), ("zone_records".to_owned(), -1)].into(),
            },
        ),
        (
            "QuotasReset.v1",
            QuotaEvent::QuotasReset {
                project_id: ProjectId("project-a".into()),
            },
        ),
    ]
}

fn tsigkey_examples() -> Vec<(&'static str, TsigKeyEvent)> {
    let key = Uuid::from_u128(0x9999);
    let pool = Uuid::from_u128(0x794c_cc2c_d751_44fe_b57f_8894_c9f5_c842);
    vec![
        (
            "TsigKeyCreated.v1",
            TsigKeyEvent::TsigKeyCreated {
                tsigkey_id: key,
                name: "pool-key".into(),
                algorithm: "hmac-sha256".into(),
                secret: "c2VjcmV0".into(),
                scope: TsigScope::Pool,
                resource_id: pool,
            },
        ),
        (
            "TsigKeyUpdated.v1",
            TsigKeyEvent::TsigKeyUpdated {
                tsigkey_id: key,
                name: "zone-key".into(),
                algorithm: "hmac-sha512".into(),
                secret: "b3RoZXI=".into(),
                scope: TsigScope::Zone,
                resource_id: Uuid::from_u128(0x1234),
            },
        ),
        ("TsigKeyDeleted.v1", TsigKeyEvent::TsigKeyDeleted { tsigkey_id: key }),
    ]
}

fn export_examples() -> Vec<(&'static str, ExportEvent)> {
    let export = Uuid::from_u128(0xe0e0);
    vec![
        (
            "ZoneExportCreated.v1",
            ExportEvent::ZoneExportCreated {
                export_id: export,
                zone_id: Uuid::from_u128(0x1234),
                project_id: ProjectId("project-a".into()),
                serial: 1_700_000_000,
            },
        ),
        (
            "ZoneExportDeleted.v1",
            ExportEvent::ZoneExportDeleted { export_id: export },
        ),
    ]
}

fn import_examples() -> Vec<(&'static str, ImportEvent)> {
    let import = Uuid::from_u128(0x1e1e);
    vec![
        (
            "ZoneImportRequested.v1",
            ImportEvent::ZoneImportRequested {
                import_id: import,
                project_id: ProjectId("project-a".into()),
                user_id: "user-a".into(),
                zone_file: "example.org. 3600 IN SOA ns1.example.org. h.example.org. 1 3600 600 86400 300\n".into(),
                // Empty: the file is the shape of a plain import (and of imports before attributes existed).
                attributes: Default::default(),
            },
        ),
        (
            "ZoneImportCompleted.v1",
            ImportEvent::ZoneImportCompleted {
                import_id: import,
                zone_id: Uuid::from_u128(0x1234),
            },
        ),
        (
            "ZoneImportFailed.v1",
            ImportEvent::ZoneImportFailed {
                import_id: import,
                message: "line 2: $INCLUDE is not supported: import one self-contained file".into(),
                zone_id: None,
            },
        ),
        (
            "ZoneImportDeleted.v1",
            ImportEvent::ZoneImportDeleted { import_id: import },
        ),
    ]
}

/// Checks each example against its golden file both ways, and that every variant of `E` has one.
fn check_kind<E: Event>(examples: &[(&'static str, E)], variants: usize) {
    for (name, event) in examples {
        assert_eq!(*name, format!("{}.v{}", event.event_type(), event.event_version()));
        let value = serde_json::to_value(event).expect("serialize");
        assert_eq!(value["type"], *name);
        check(name, &value);
        let golden = std::fs::read_to_string(golden_dir().join(format!("{name}.json"))).expect("golden");
        let parsed: E = serde_json::from_str(&golden).expect("golden parses");
        assert_eq!(&parsed, event);
        let raw = serde_json::value::RawValue::from_string(golden).expect("raw");
        let tag = event_tag(&raw).expect("tag");
        assert_eq!(
            (tag.name.as_str(), tag.version),
            (event.event_type(), event.event_version())
        );
    }
    // Every variant has an example: a new event type needs its golden file.
    let mut types: Vec<&str> = examples.iter().map(|(_, e)| e.event_type()).collect();
    types.sort();
    types.dedup();
    assert_eq!(types.len(), variants, "examples of {}", E::AGGREGATE_TYPE);
}

#[test]
fn every_event_matches_its_golden_file_both_ways() {
    check_kind(&zone_examples(), 13);
    check_kind(&pools_examples(), 1);
    check_kind(&naming_examples(), 6);
    check_kind(&quota_examples(), 2);
    check_kind(&tsigkey_examples(), 3);
    check_kind(&export_examples(), 2);
    check_kind(&import_examples(), 4);
}

fn metadata() -> Metadata {
    Metadata {
        project_id: ProjectId("project-a".into()),
        user_id: "user-a".into(),
        roles: vec!["member".into(), "reader".into()],
        request_id: RequestId("req-00000000-0000-0000-0000-000000000001".into()),
        source_role: "api".into(),
        command: "DeleteRecordset".into(),
        time: Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).single().expect("time"),
        fence: None,
    }
}

/// A producer's command carries its lease; commits without one (every commit written before fences
/// existed) read as unfenced.
#[test]
fn a_producers_commit_carries_its_fence() {
    let mut metadata = metadata();
    metadata.source_role = "producer".into();
    metadata.command = "RequestRecovery".into();
    metadata.fence = Some(Fence {
        lease: "range.07".into(),
        token: 4242,
    });
    let envelope = CommitEnvelope {
        envelope_version: ENVELOPE_VERSION,
        aggregate_type: "zone".into(),
        aggregate_id: ZoneId(Uuid::from_u128(0x1111)).to_string(),
        version: 8,
        events: vec![ZoneEvent::ZoneRecoveryRequested {
            reason: "PENDING for 12 s".into(),
        }],
        metadata,
    };
    let value = serde_json::to_value(&envelope).expect("serialize");
    check("CommitEnvelope.v1.fenced", &value);
    assert_eq!(value["metadata"]["fence"]["token"], 4242);
    let parsed: CommitEnvelope<ZoneEvent> = serde_json::from_value(value).expect("parse");
    assert_eq!(parsed, envelope);
    let golden = std::fs::read(golden_dir().join("CommitEnvelope.v1.json")).expect("golden");
    let unfenced: CommitEnvelope<ZoneEvent> = serde_json::from_slice(&golden).expect("parse");
    assert_eq!(unfenced.metadata.fence, None);
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
        metadata: metadata(),
    };
    let value = serde_json::to_value(&envelope).expect("serialize");
    check("CommitEnvelope.v1", &value);
    let parsed: CommitEnvelope<ZoneEvent> = serde_json::from_value(value).expect("parse");
    assert_eq!(parsed, envelope);
    // Readers of every kind see the same commit with its events undecoded.
    let golden = std::fs::read(golden_dir().join("CommitEnvelope.v1.json")).expect("golden");
    let raw = RawCommit::decode(&golden).expect("raw decode");
    assert_eq!(raw.aggregate_type, "zone");
    assert_eq!(raw.typed::<ZoneEvent>().expect("typed"), envelope);
    assert!(
        raw.typed::<PoolsEvent>().is_err(),
        "a zone commit is not a pools commit"
    );
}

/// Before the envelope was generic, the pool configuration was committed in a shape of its own. Data
/// dirs hold such commits; they must keep reading, as one `PoolsConfigured.v1` event.
#[test]
fn the_legacy_pools_commit_still_reads() {
    let golden = std::fs::read(golden_dir().join("legacy").join("PoolsCommit.v1.json")).expect("golden");
    let raw = RawCommit::decode(&golden).expect("the legacy shape decodes");
    let commit = raw.typed::<PoolsEvent>().expect("as pools events");
    assert_eq!(commit.aggregate_type, "pools");
    assert_eq!(commit.aggregate_id, "all");
    assert_eq!(commit.version, 2);
    assert_eq!(commit.metadata.command, "UpdatePools");
    assert_eq!(
        commit.events,
        vec![PoolsEvent::PoolsConfigured {
            pools_yaml: "- name: default\n  ns_records:\n    - hostname: ns1.example.net.\n      priority: 1\n".into()
        }]
    );
    assert!(RawCommit::decode(b"{\"something\": \"else\"}").is_err());
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
