//! The Zone aggregate's rules, one per test, given/when/then with cqrs-es's TestFramework (no I/O).

use std::sync::Arc;

use cqrs_es::test::TestFramework;
use futures::future::BoxFuture;
use nsplane_command::zone::{Event, Zone, ZoneCommand, ZoneDirectory, ZoneError, ZoneServices};
use nsplane_command::Domain;
use nsplane_schema::zone::{NsRecord, SoaTimers};
use nsplane_schema::{
    DnsName, PoolId, ProjectId, RecordType, RecordsetId, RecordsetName, Ttl, ZoneEvent, ZoneId, ZoneName,
};
use uuid::Uuid;

const ZONE_ID: ZoneId = ZoneId(Uuid::from_u128(1));
const RS_ID: RecordsetId = RecordsetId(Uuid::from_u128(2));
const SOA: SoaTimers = SoaTimers {
    refresh: 3600,
    retry: 600,
    expire: 86400,
    minimum: 3600,
};

/// Child zones the directory knows.
struct FakeDirectory(Vec<&'static str>);

impl ZoneDirectory for FakeDirectory {
    fn zone_exists<'a>(&'a self, name: &'a DnsName) -> BoxFuture<'a, anyhow::Result<bool>> {
        Box::pin(async move { Ok(self.0.iter().any(|z| *z == name.as_str())) })
    }
}

fn test(children: Vec<&'static str>) -> TestFramework<Zone> {
    TestFramework::with(ZoneServices {
        directory: Arc::new(FakeDirectory(children)),
        quotas: Arc::new(nsplane_command::zone::ZoneQuotas {
            zone_recordsets: 4,
            zone_records: 3,
            recordset_records: 2,
        }),
    })
}

fn rs_name(s: &str) -> RecordsetName {
    RecordsetName::parse(s).expect("name")
}

fn created() -> Event {
    Domain(ZoneEvent::ZoneCreated {
        zone_id: ZONE_ID,
        project_id: ProjectId("p".into()),
        name: ZoneName::parse("example.org.").expect("name"),
        email: "hostmaster@example.org".into(),
        ttl: Ttl::new(3600).expect("ttl"),
        description: None,
        pool_id: PoolId(Uuid::from_u128(3)),
        serial: 100,
        soa: SOA,
        ns_records: vec![NsRecord {
            hostname: DnsName::parse("ns1.example.net.").expect("ns"),
            priority: 1,
        }],
        attributes: Default::default(),
    })
}

fn www_a() -> Event {
    Domain(ZoneEvent::RecordsetCreated {
        recordset_id: RS_ID,
        project_id: ProjectId("p".into()),
        name: rs_name("www.example.org."),
        rtype: RecordType::A,
        records: vec!["192.0.2.1".into()],
        ttl: None,
        description: None,
        serial: 101,
        managed: false,
    })
}

fn records_of(rtype: RecordType, records: &[&str]) -> nsplane_schema::Records {
    let given: Vec<String> = records.iter().map(|r| (*r).to_owned()).collect();
    nsplane_schema::Records::validate(rtype, &given).expect("valid records")
}

fn create_rs(name: &str, rtype: RecordType, records: &[&str]) -> ZoneCommand {
    ZoneCommand::CreateRecordset {
        recordset_id: RecordsetId(Uuid::from_u128(9)),
        project_id: ProjectId("p".into()),
        name: rs_name(name),
        records: records_of(rtype, records),
        ttl: None,
        description: None,
    }
}

#[test]
fn a_zone_can_only_be_created_once() {
    test(vec![])
        .given(vec![created()])
        .when(ZoneCommand::CreateZone {
            zone_id: ZONE_ID,
            project_id: ProjectId("p".into()),
            name: ZoneName::parse("example.org.").expect("name"),
            email: nsplane_schema::email::Email::parse("a@example.org").expect("email"),
            ttl: Ttl::new(60).expect("ttl"),
            description: None,
            pool_id: PoolId(Uuid::from_u128(3)),
            ns_records: vec![],
            soa: SOA,
            attributes: Default::default(),
        })
        .then_expect_error(ZoneError::AlreadyExists);
}

#[test]
fn record_sets_need_a_zone() {
    test(vec![])
        .given_no_previous_events()
        .when(create_rs("www.example.org.", RecordType::A, &["192.0.2.1"]))
        .then_expect_error(ZoneError::NotFound);
}

#[test]
fn a_record_set_must_be_inside_the_zone() {
    test(vec![])
        .given(vec![created()])
        .when(create_rs("www.example.net.", RecordType::A, &["192.0.2.1"]))
        .then_expect_error(ZoneError::OutsideZone);
}

#[test]
fn a_record_set_may_not_fall_inside_a_child_zone() {
    test(vec!["sub.example.org."])
        .given(vec![created()])
        .when(create_rs("www.sub.example.org.", RecordType::A, &["192.0.2.1"]))
        .then_expect_error(ZoneError::InChildZone {
            child: "sub.example.org.".into(),
        });
}

#[test]
fn cname_is_not_allowed_at_the_apex() {
    test(vec![])
        .given(vec![created()])
        .when(create_rs("example.org.", RecordType::CNAME, &["x.example.net."]))
        .then_expect_error(ZoneError::CnameAtApex);
}

#[test]
fn cname_may_not_share_its_name() {
    test(vec![])
        .given(vec![created(), www_a()])
        .when(create_rs("www.example.org.", RecordType::CNAME, &["x.example.net."]))
        .then_expect_error(ZoneError::CnameNotAlone);
}

#[test]
fn nothing_may_join_a_cname() {
    let cname = Domain(ZoneEvent::RecordsetCreated {
        recordset_id: RS_ID,
        project_id: ProjectId("p".into()),
        name: rs_name("alias.example.org."),
        rtype: RecordType::CNAME,
        records: vec!["x.example.net.".into()],
        ttl: None,
        description: None,
        serial: 101,
        managed: false,
    });
    test(vec![])
        .given(vec![created(), cname])
        .when(create_rs("alias.example.org.", RecordType::TXT, &["\"x\""]))
        .then_expect_error(ZoneError::CnameNotAlone);
}

#[test]
fn a_cname_holds_one_record() {
    test(vec![])
        .given(vec![created()])
        .when(create_rs(
            "c.example.org.",
            RecordType::CNAME,
            &["a.example.net.", "b.example.net."],
        ))
        .then_expect_error(ZoneError::CnameTooManyRecords);
}

#[test]
fn the_apex_ns_is_managed() {
    test(vec![])
        .given(vec![created()])
        .when(create_rs("example.org.", RecordType::NS, &["ns9.example.net."]))
        .then_expect_error(ZoneError::ApexNsManaged);
}

#[test]
fn delegations_below_the_apex_are_allowed() {
    let events = test(vec![])
        .given(vec![created()])
        .when(create_rs("child.example.org.", RecordType::NS, &["ns9.example.net."]))
        .inspect_result();
    assert!(events.is_ok());
}

#[test]
fn a_name_and_type_exist_once() {
    test(vec![])
        .given(vec![created(), www_a()])
        .when(create_rs("www.example.org.", RecordType::A, &["192.0.2.2"]))
        .then_expect_error(ZoneError::DuplicateRecordset);
}

#[test]
fn managed_record_sets_cannot_be_changed_without_edit_managed() {
    let ns_id = RecordsetId::managed(ZONE_ID, "NS");
    test(vec![])
        .given(vec![created()])
        .when(ZoneCommand::UpdateRecordset {
            recordset_id: ns_id,
            records: Some(records_of(RecordType::NS, &["ns2.example.net."])),
            ttl: None,
            description: None,
            edit_managed: false,
        })
        .then_expect_error(ZoneError::Managed);
    test(vec![])
        .given(vec![created()])
        .when(ZoneCommand::DeleteRecordset {
            recordset_id: ns_id,
            edit_managed: false,
        })
        .then_expect_error(ZoneError::Managed);
}

#[test]
fn the_soa_cannot_be_deleted() {
    let soa_id = RecordsetId::managed(ZONE_ID, "SOA");
    test(vec![])
        .given(vec![created()])
        .when(ZoneCommand::DeleteRecordset {
            recordset_id: soa_id,
            edit_managed: true,
        })
        .then_expect_error(ZoneError::SoaNotAllowed);
}

#[test]
fn a_deleting_zone_refuses_changes() {
    test(vec![])
        .given(vec![created(), Domain(ZoneEvent::ZoneDeleteRequested {})])
        .when(create_rs("www.example.org.", RecordType::A, &["192.0.2.1"]))
        .then_expect_error(ZoneError::Deleting);
}

#[test]
fn duplicate_records_collapse_and_the_serial_moves_forward() {
    let result = test(vec![])
        .given(vec![created(), www_a()])
        .when(create_rs(
            "mail.example.org.",
            RecordType::A,
            &["192.0.2.5", "192.0.2.5", "192.0.2.6"],
        ))
        .inspect_result()
        .expect("accepted");
    match &result[..] {
        [Domain(ZoneEvent::RecordsetCreated { records, serial, .. })] => {
            assert_eq!(records, &vec!["192.0.2.5".to_owned(), "192.0.2.6".to_owned()]);
            // Whatever the clock says, the serial moves forward.
            assert!(*serial > 101);
        }
        other => panic!("unexpected events {other:?}"),
    }
}

#[test]
fn updating_a_missing_record_set_is_not_found() {
    test(vec![])
        .given(vec![created()])
        .when(ZoneCommand::UpdateRecordset {
            recordset_id: RS_ID,
            records: None,
            ttl: Some(None),
            description: None,
            edit_managed: false,
        })
        .then_expect_error(ZoneError::RecordsetNotFound);
}

fn report(serial: u32, synced: bool) -> ZoneCommand {
    ZoneCommand::ReportSync {
        serial,
        synced,
        nameservers: vec![nsplane_schema::zone::NameserverSync {
            nameserver: "127.0.0.1:53".into(),
            serial: Some(serial),
            status: if synced {
                nsplane_schema::NameserverStatus::Synced
            } else {
                nsplane_schema::NameserverStatus::Behind
            },
            error: None,
        }],
    }
}

#[test]
fn a_sync_report_for_the_current_serial_is_recorded() {
    let events = test(vec![])
        .given(vec![created(), www_a()])
        .when(report(101, true))
        .inspect_result()
        .expect("accepted");
    let mut zone = Zone::default();
    for event in [created(), www_a()].into_iter().chain(events) {
        cqrs_es::Aggregate::apply(&mut zone, event);
    }
    assert_eq!(zone.status, nsplane_schema::Status::Active);
    assert_eq!(zone.action, nsplane_schema::Action::None);
    assert!(zone.pending.is_empty(), "every record set up to serial 101 is served");
    assert!(zone
        .recordsets
        .values()
        .all(|rs| rs.status == nsplane_schema::Status::Active));
}

#[test]
fn a_sync_report_for_an_older_serial_is_superseded() {
    test(vec![])
        .given(vec![created(), www_a()])
        .when(report(100, true))
        .then_expect_error(ZoneError::Superseded);
}

#[test]
fn only_a_deleting_zone_can_be_confirmed_deleted() {
    test(vec![])
        .given(vec![created()])
        .when(ZoneCommand::ConfirmDeleted { nameservers: vec![] })
        .then_expect_error(ZoneError::Superseded);
    let events = test(vec![])
        .given(vec![created(), Domain(ZoneEvent::ZoneDeleteRequested {})])
        .when(ZoneCommand::ConfirmDeleted { nameservers: vec![] })
        .inspect_result();
    assert!(matches!(events.as_deref(), Ok([Domain(ZoneEvent::ZoneDeleted { .. })])));
}

#[test]
fn quotas_bound_a_zone_and_a_record_set() {
    // The test quotas: 4 record sets (SOA and NS count), 3 unmanaged records, 2 records per set.
    test(vec![])
        .given(vec![created()])
        .when(create_rs(
            "three.example.org.",
            RecordType::A,
            &["192.0.2.1", "192.0.2.2", "192.0.2.3"],
        ))
        .then_expect_error(ZoneError::OverQuota {
            resource: "recordset_records",
        });
    // www_a holds 1 record; 2 more fit, a third does not.
    test(vec![])
        .given(vec![created(), www_a()])
        .when(create_rs(
            "two.example.org.",
            RecordType::A,
            &["192.0.2.1", "192.0.2.2"],
        ))
        .inspect_result()
        .expect("3 records fit");
    let second = Domain(ZoneEvent::RecordsetCreated {
        recordset_id: RecordsetId(Uuid::from_u128(7)),
        project_id: ProjectId("p".into()),
        name: rs_name("two.example.org."),
        rtype: RecordType::A,
        records: vec!["192.0.2.1".into(), "192.0.2.2".into()],
        ttl: None,
        description: None,
        serial: 102,
        managed: false,
    });
    test(vec![])
        .given(vec![created(), www_a(), second.clone()])
        .when(create_rs("four.example.org.", RecordType::TXT, &["\"x\""]))
        .then_expect_error(ZoneError::OverQuota {
            resource: "zone_recordsets",
        });
    test(vec![])
        .given(vec![created(), www_a(), second])
        .when(ZoneCommand::UpdateRecordset {
            recordset_id: RS_ID,
            records: Some(records_of(RecordType::A, &["192.0.2.8", "192.0.2.9"])),
            ttl: None,
            description: None,
            edit_managed: false,
        })
        .then_expect_error(ZoneError::OverQuota {
            resource: "zone_records",
        });
}

fn shared_with(project: &str) -> Event {
    Domain(ZoneEvent::ZoneShared {
        share_id: Uuid::from_u128(77),
        target_project_id: ProjectId(project.into()),
    })
}

#[test]
fn a_shared_zone_is_deleted_only_with_its_shares() {
    test(vec![])
        .given(vec![created(), shared_with("guest")])
        .when(ZoneCommand::DeleteZone { hard: false })
        .then_expect_error(ZoneError::Shared);
    test(vec![])
        .given(vec![created(), shared_with("guest")])
        .when(ZoneCommand::DeleteZone { hard: true })
        .then_expect_events(vec![Domain(ZoneEvent::ZoneDeleteRequested {})]);
}

#[test]
fn a_zone_is_shared_once_per_project_and_never_with_its_owner() {
    let share = |project: &str| ZoneCommand::ShareZone {
        share_id: Uuid::from_u128(78),
        target_project_id: ProjectId(project.into()),
    };
    test(vec![])
        .given(vec![created()])
        .when(share("p"))
        .then_expect_error(ZoneError::ShareWithOwner);
    test(vec![])
        .given(vec![created(), shared_with("guest")])
        .when(share("guest"))
        .then_expect_error(ZoneError::DuplicateShare);
    test(vec![])
        .given(vec![created()])
        .when(ZoneCommand::UnshareZone {
            share_id: Uuid::from_u128(77),
        })
        .then_expect_error(ZoneError::ShareNotFound);
}
