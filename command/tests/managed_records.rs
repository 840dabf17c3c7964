//! The sink's commands on the Zone aggregate (several events per command, so decided through
//! `Decider::decide` on a state built from events): records shared by two resources, a release before
//! the add, a tenant's record set in the way, and adds that change nothing.

use std::sync::Arc;

use chrono::Utc;
use futures::future::BoxFuture;
use nsplane_command::zone::{Zone, ZoneCommand, ZoneDirectory, ZoneError, ZoneQuotas, ZoneServices};
use nsplane_command::Decider as _;
use nsplane_schema::zone::{NsRecord, SoaTimers};
use nsplane_schema::{
    DnsName, PoolId, ProjectId, RecordType, Records, RecordsetId, RecordsetName, Ttl, ZoneEvent, ZoneId, ZoneName,
};
use uuid::Uuid;

const ZONE_ID: ZoneId = ZoneId(Uuid::from_u128(1));

struct NoChildren;

impl ZoneDirectory for NoChildren {
    fn zone_exists<'a>(&'a self, _name: &'a DnsName) -> BoxFuture<'a, anyhow::Result<bool>> {
        Box::pin(async { Ok(false) })
    }
}

fn services() -> ZoneServices {
    ZoneServices {
        directory: Arc::new(NoChildren),
        quotas: Arc::new(ZoneQuotas::DESIGNATE),
    }
}

fn zone() -> Zone {
    let mut zone = Zone::default();
    zone.evolve(
        &ZoneEvent::ZoneCreated {
            zone_id: ZONE_ID,
            project_id: ProjectId("p".into()),
            name: ZoneName::parse("cloud.example.org.").expect("name"),
            email: "hostmaster@example.org".into(),
            ttl: Ttl::new(3600).expect("ttl"),
            description: None,
            pool_id: PoolId(Uuid::from_u128(3)),
            serial: 100,
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
            attributes: Default::default(),
        },
        Utc::now(),
    );
    zone
}

fn add(instance: &str, address: &str, new_id: u128) -> ZoneCommand {
    ZoneCommand::AddManagedRecords {
        resource_type: "instance".into(),
        resource_id: instance.into(),
        recordset_id: RecordsetId(Uuid::from_u128(new_id)),
        name: RecordsetName::parse("vm.cloud.example.org.").expect("name"),
        records: Records::validate(RecordType::A, &[address.to_owned()]).expect("records"),
    }
}

fn remove(instance: &str) -> ZoneCommand {
    ZoneCommand::RemoveManagedRecords {
        resource_type: "instance".into(),
        resource_id: instance.into(),
    }
}

/// Decides `command` and applies what it decided; returns the events.
fn run(zone: &mut Zone, command: ZoneCommand) -> Result<Vec<ZoneEvent>, ZoneError> {
    let now = Utc::now();
    let events = futures::executor::block_on(zone.decide(command, &services(), now))?;
    for event in &events {
        zone.evolve(event, now);
    }
    Ok(events)
}

fn vm_records(zone: &Zone) -> Option<Vec<String>> {
    let rs = zone.find(
        &RecordsetName::parse("vm.cloud.example.org.").expect("name"),
        RecordType::A,
    )?;
    assert!(rs.managed, "the sink's record sets are managed");
    Some(rs.records.clone())
}

#[test]
fn two_instances_share_a_name_and_each_takes_only_its_own_record_away() {
    let mut zone = zone();
    let first = run(&mut zone, add("i-1", "10.0.0.1", 10)).expect("add");
    assert!(matches!(
        &first[..],
        [
            ZoneEvent::RecordsetCreated { managed: true, .. },
            ZoneEvent::ManagedRecordsClaimed { .. }
        ]
    ));
    let second = run(&mut zone, add("i-2", "10.0.0.2", 11)).expect("add");
    assert!(matches!(
        &second[..],
        [
            ZoneEvent::RecordsetUpdated { .. },
            ZoneEvent::ManagedRecordsClaimed { .. }
        ]
    ));
    assert_eq!(vm_records(&zone), Some(vec!["10.0.0.1".into(), "10.0.0.2".into()]));
    run(&mut zone, remove("i-1")).expect("remove");
    assert_eq!(vm_records(&zone), Some(vec!["10.0.0.2".into()]));
    let last = run(&mut zone, remove("i-2")).expect("remove");
    assert!(matches!(
        &last[..],
        [
            ZoneEvent::RecordsetDeleted { .. },
            ZoneEvent::ManagedResourceReleased { .. }
        ]
    ));
    assert_eq!(
        vm_records(&zone),
        None,
        "the last owner's removal deletes the record set"
    );
}

#[test]
fn an_add_that_changes_nothing_commits_nothing() {
    let mut zone = zone();
    run(&mut zone, add("i-1", "10.0.0.1", 10)).expect("add");
    assert_eq!(run(&mut zone, add("i-1", "10.0.0.1", 12)).expect("again"), vec![]);
}

#[test]
fn a_release_before_the_add_leaves_nothing() {
    let mut zone = zone();
    let released = run(&mut zone, remove("i-9")).expect("remove");
    assert!(matches!(&released[..], [ZoneEvent::ManagedResourceReleased { .. }]));
    assert_eq!(run(&mut zone, add("i-9", "10.0.0.9", 13)).expect("add"), vec![]);
    assert_eq!(vm_records(&zone), None);
    assert_eq!(run(&mut zone, remove("i-9")).expect("again"), vec![], "released once");
}

#[test]
fn a_tenants_record_set_is_not_taken_over() {
    let mut zone = zone();
    run(
        &mut zone,
        ZoneCommand::CreateRecordset {
            recordset_id: RecordsetId(Uuid::from_u128(20)),
            project_id: ProjectId("p".into()),
            name: RecordsetName::parse("vm.cloud.example.org.").expect("name"),
            records: Records::validate(RecordType::A, &["192.0.2.1".to_owned()]).expect("records"),
            ttl: None,
            description: None,
        },
    )
    .expect("the tenant's record set");
    assert_eq!(
        run(&mut zone, add("i-1", "10.0.0.1", 10)),
        Err(ZoneError::DuplicateRecordset)
    );
}
