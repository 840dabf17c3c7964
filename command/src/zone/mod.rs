//! The Zone aggregate: a zone, its record sets, its serial and its status, and the rules that decide
//! commands against them (cqrs-es `Aggregate`, run by the executor as a [`Decider`]). Rules that need
//! other aggregates (child zones, the owner's quotas) ask [`ZoneServices`].

use std::sync::Arc;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use futures::future::BoxFuture;
use nsplane_schema::serial::next_serial;
use nsplane_schema::zone::{soa_rdata, NameserverSync, NsRecord, SoaTimers};
use nsplane_schema::{
    Action, DnsName, PoolId, ProjectId, RecordType, RecordsetId, RecordsetName, Status, Ttl, ZoneEvent, ZoneId,
    ZoneName,
};
use serde::{Deserialize, Serialize};

use crate::aggregate::{Decider, Domain};

mod command;
mod decide;
mod error;

pub use command::{RevertTarget, ZoneCommand};
pub use error::ZoneError;

/// A record set as the aggregate keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recordset {
    /// Its id.
    pub id: RecordsetId,
    /// Owning project.
    pub project_id: ProjectId,
    /// Owner name.
    pub name: RecordsetName,
    /// Type.
    pub rtype: RecordType,
    /// Record data, canonical, no duplicates.
    pub records: Vec<String>,
    /// TTL, or inherit the zone's.
    pub ttl: Option<Ttl>,
    /// Free text.
    pub description: Option<String>,
    /// SOA and apex NS: maintained by nsplane.
    pub managed: bool,
    /// Status.
    pub status: Status,
    /// Pending action.
    pub action: Action,
    /// Bumped on every change.
    pub version: u64,
    /// Zone serial of its last change.
    pub serial: u32,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: Option<DateTime<Utc>>,
}

/// The Zone aggregate's state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Zone {
    /// Set once created.
    pub id: Option<ZoneId>,
    /// Owner.
    pub project_id: Option<ProjectId>,
    /// Name.
    pub name: Option<ZoneName>,
    /// Hostmaster address.
    pub email: String,
    /// Default TTL.
    pub ttl: Option<Ttl>,
    /// Free text.
    pub description: Option<String>,
    /// Serving pool.
    pub pool_id: Option<PoolId>,
    /// Operator key/values.
    pub attributes: std::collections::BTreeMap<String, String>,
    /// Shares by id.
    pub shares: imbl::OrdMap<uuid::Uuid, Share>,
    /// Current serial.
    pub serial: u32,
    /// SOA timers.
    pub soa: Option<SoaTimers>,
    /// The pool's name servers.
    pub ns_records: Vec<NsRecord>,
    /// Status.
    pub status: Status,
    /// Pending action.
    pub action: Action,
    /// Designate's object version: bumped on every change.
    pub version: u64,
    /// Creation time.
    pub created_at: Option<DateTime<Utc>>,
    /// Last change.
    pub updated_at: Option<DateTime<Utc>>,
    /// What each name server of the pool last answered for the zone (from the worker's reports).
    pub nameservers: Vec<NameserverSync>,
    /// Record sets not yet confirmed served (PENDING), so a sync report touches only those.
    pub pending: imbl::OrdSet<RecordsetId>,
    /// Records in record sets that are not managed (what the `zone_records` quota counts).
    pub unmanaged_records: usize,
    /// Record sets by id. Persistent maps: cloning the zone to decide a command costs O(1), however
    /// many record sets it has.
    pub recordsets: imbl::OrdMap<RecordsetId, Arc<Recordset>>,
    /// Index of record sets by name and type.
    pub by_name: imbl::OrdMap<RecordsetName, Vec<(RecordType, RecordsetId)>>,
    /// The records the sink added, by resource (`<type>/<id>`): `(record set, record)` pairs.
    #[serde(default)]
    pub managed_resources: imbl::OrdMap<String, Vec<(RecordsetId, String)>>,
    /// Resources whose records were removed (`<type>/<id>`): a later add for them adds nothing.
    #[serde(default)]
    pub released_resources: imbl::OrdSet<String>,
    /// When the commit being decided or applied happened. Set by the executor before `handle` and
    /// before applying a stored commit, so timestamps in the state equal the commit's time.
    #[serde(skip)]
    pub commit_time: DateTime<Utc>,
}

/// Lookups the zone rules need from outside the aggregate.
pub trait ZoneDirectory: Send + Sync {
    /// Whether a live zone (of any project) has exactly this name.
    fn zone_exists<'a>(&'a self, name: &'a DnsName) -> BoxFuture<'a, anyhow::Result<bool>>;
}

/// Services passed to `handle`.
#[derive(Clone)]
pub struct ZoneServices {
    /// Zone-name lookups (child zones).
    pub directory: Arc<dyn ZoneDirectory>,
    /// Limits on a zone's content, per project.
    pub quotas: Arc<dyn crate::quotas::ZoneQuotaLookup>,
}

/// Designate's per-zone quotas; a negative value means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneQuotas {
    /// Record sets in a zone, the managed SOA and NS included (`zone_recordsets`, default 500).
    pub zone_recordsets: i64,
    /// Records in a zone, managed ones excluded (`zone_records`, default 500).
    pub zone_records: i64,
    /// Records in one record set (`recordset_records`, default 20).
    pub recordset_records: i64,
}

impl ZoneQuotas {
    /// Designate's defaults.
    pub const DESIGNATE: ZoneQuotas = ZoneQuotas {
        zone_recordsets: 500,
        zone_records: 500,
        recordset_records: 20,
    };
    /// No limits.
    pub const UNLIMITED: ZoneQuotas = ZoneQuotas {
        zone_recordsets: -1,
        zone_records: -1,
        recordset_records: -1,
    };
}

/// Whether `count` fits under `limit` (negative: unlimited).
pub(crate) fn within(count: usize, limit: i64) -> bool {
    limit < 0 || i64::try_from(count).unwrap_or(i64::MAX) <= limit
}

/// The aggregate's event type: the contract's [`ZoneEvent`] wrapped for cqrs-es.
pub type Event = Domain<ZoneEvent>;

/// The zone is shared with another project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Share {
    /// The project it is shared with.
    pub target_project_id: ProjectId,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl Zone {
    /// Whether `caller` may run `command` on this zone: its owner may run anything; a project the
    /// zone is shared with may create record sets and change or delete its own; anyone else sees
    /// nothing (the zone is reported as not found).
    pub fn permits(&self, caller: &ProjectId, command: &ZoneCommand) -> bool {
        if self.project_id.as_ref().is_none_or(|owner| owner == caller) {
            return true;
        }
        if !self.shares.values().any(|s| s.target_project_id == *caller) {
            return false;
        }
        match command {
            ZoneCommand::CreateRecordset { .. } => true,
            ZoneCommand::UpdateRecordset { recordset_id, .. } | ZoneCommand::DeleteRecordset { recordset_id, .. } => {
                self.recordsets
                    .get(recordset_id)
                    .is_some_and(|rs| rs.project_id == *caller)
            }
            _ => false,
        }
    }

    /// Whether `project` owns the zone or has it shared with it.
    pub fn visible_to(&self, project: &ProjectId) -> bool {
        self.project_id.as_ref() == Some(project) || self.shares.values().any(|s| s.target_project_id == *project)
    }

    fn created(&self) -> Result<&ZoneName, ZoneError> {
        self.name.as_ref().ok_or(ZoneError::NotFound)
    }

    fn writable(&self) -> Result<&ZoneName, ZoneError> {
        let name = self.created()?;
        if self.action == Action::Delete {
            return Err(ZoneError::Deleting);
        }
        Ok(name)
    }

    fn next_serial(&self, now: DateTime<Utc>) -> u32 {
        next_serial(self.serial, unix_secs(now))
    }

    /// The id of the zone's managed SOA record set.
    pub fn soa_recordset_id(&self) -> Option<RecordsetId> {
        self.id.map(|id| RecordsetId::managed(id, "SOA"))
    }

    /// The SOA MNAME: the pool name server with the lowest priority.
    pub fn mname(&self) -> Option<&DnsName> {
        self.ns_records
            .iter()
            .min_by_key(|ns| ns.priority)
            .map(|ns| &ns.hostname)
    }

    /// The record set with this name and type, if any.
    pub fn find(&self, name: &RecordsetName, rtype: RecordType) -> Option<&Recordset> {
        let (_, id) = self.by_name.get(name)?.iter().find(|(t, _)| *t == rtype)?;
        self.recordsets.get(id).map(|rs| rs.as_ref())
    }

    /// The types of the record sets at a name.
    pub fn types_at(&self, name: &RecordsetName) -> Vec<RecordType> {
        self.by_name
            .get(name)
            .map(|at| at.iter().map(|(t, _)| *t).collect())
            .unwrap_or_default()
    }

    fn insert_recordset(&mut self, rs: Recordset) {
        if !rs.managed {
            self.unmanaged_records += rs.records.len();
        }
        self.pending.insert(rs.id);
        self.by_name.entry(rs.name.clone()).or_default().push((rs.rtype, rs.id));
        self.recordsets.insert(rs.id, Arc::new(rs));
    }

    fn remove_recordset(&mut self, id: &RecordsetId) {
        self.pending.remove(id);
        if let Some(rs) = self.recordsets.remove(id) {
            if !rs.managed {
                self.unmanaged_records = self.unmanaged_records.saturating_sub(rs.records.len());
            }
            if let Some(at) = self.by_name.get_mut(&rs.name) {
                at.retain(|(_, other)| other != id);
                if at.is_empty() {
                    self.by_name.remove(&rs.name);
                }
            }
        }
    }

    fn mark_zone_changed(&mut self, serial: u32) {
        self.serial = serial;
        self.version += 1;
        self.updated_at = Some(self.commit_time);
        self.status = Status::Pending;
        if self.action != Action::Create {
            self.action = Action::Update;
        }
        self.refresh_soa();
    }

    fn refresh_soa(&mut self) {
        let (Some(id), Some(soa), Some(mname)) = (self.soa_recordset_id(), self.soa, self.mname().cloned()) else {
            return;
        };
        let data = soa_rdata(&mname, &self.email, self.serial, soa);
        let (serial, time) = (self.serial, self.commit_time);
        if let Some(rs) = self.recordsets.get_mut(&id).map(Arc::make_mut) {
            if rs.records.first() != Some(&data) {
                rs.records = vec![data];
                rs.serial = serial;
                rs.version += 1;
                rs.updated_at = Some(time);
                rs.status = Status::Pending;
                rs.action = if rs.action == Action::Create {
                    Action::Create
                } else {
                    Action::Update
                };
                self.pending.insert(id);
            }
        }
    }

    async fn check_placement(
        &self,
        zone_name: &ZoneName,
        name: &RecordsetName,
        services: &ZoneServices,
    ) -> Result<(), ZoneError> {
        let zone_dns = zone_name.as_dns_name();
        if !name.as_dns_name().is_same_or_below(zone_dns) {
            return Err(ZoneError::OutsideZone);
        }
        // Every name from the record set's own up to (not including) the apex could be a child zone.
        let mut candidate = Some(name.as_dns_name().clone());
        while let Some(current) = candidate {
            if &current == zone_dns {
                break;
            }
            if !current.is_wildcard()
                && services
                    .directory
                    .zone_exists(&current)
                    .await
                    .map_err(|e| ZoneError::Lookup(e.to_string()))?
            {
                return Err(ZoneError::InChildZone {
                    child: current.to_string(),
                });
            }
            candidate = current.parent();
        }
        Ok(())
    }
}

/// Seconds since the Unix epoch, clamped to a serial's range.
pub(crate) fn unix_secs(time: DateTime<Utc>) -> u32 {
    u32::try_from(time.timestamp().max(0)).unwrap_or(u32::MAX)
}

impl Decider for Zone {
    type Contract = ZoneEvent;

    fn command_name(command: &ZoneCommand) -> &'static str {
        command.name()
    }

    async fn decide(
        &self,
        command: ZoneCommand,
        services: &ZoneServices,
        now: DateTime<Utc>,
    ) -> Result<Vec<ZoneEvent>, ZoneError> {
        match command {
            // Deleting a zone already being deleted changes nothing (Designate accepts it again).
            ZoneCommand::DeleteZone { .. }
                if self.name.is_some() && self.action == Action::Delete && self.status != Status::Deleted =>
            {
                Ok(Vec::new())
            }
            ZoneCommand::Revert { to_serial, target } => self.decide_revert(to_serial, target, services, now).await,
            // A zone made by an import holds no tenant record sets yet: a revert to the file's creates
            // them all; a file with none creates nothing.
            ZoneCommand::ImportRecordsets { target } => {
                match self.decide_revert(self.serial, target, services, now).await {
                    Err(ZoneError::NothingToRevert(_)) => Ok(Vec::new()),
                    other => other,
                }
            }
            ZoneCommand::AddManagedRecords {
                resource_type,
                resource_id,
                recordset_id,
                name,
                records,
            } => {
                self.decide_managed_add(&resource_type, &resource_id, recordset_id, name, records, services, now)
                    .await
            }
            ZoneCommand::RemoveManagedRecords {
                resource_type,
                resource_id,
            } => {
                self.decide_managed_remove(&resource_type, &resource_id, services, now)
                    .await
            }
            command => self.decide_one(command, services, now).await.map(|event| vec![event]),
        }
    }

    fn evolve(&mut self, event: &ZoneEvent, time: DateTime<Utc>) {
        self.commit_time = time;
        self.apply(Domain(event.clone()));
    }

    fn not_found() -> ZoneError {
        ZoneError::NotFound
    }

    fn permits(&self, caller: &ProjectId, command: &ZoneCommand) -> bool {
        Zone::permits(self, caller, command)
    }
}

impl Aggregate for Zone {
    const TYPE: &'static str = nsplane_schema::zone::ZONE_AGGREGATE;
    type Command = ZoneCommand;
    type Event = Event;
    type Error = ZoneError;
    type Services = ZoneServices;

    async fn handle(
        &mut self,
        command: Self::Command,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let event = self.decide_one(command, services, Utc::now()).await?;
        sink.write(Domain(event), self).await;
        Ok(())
    }

    fn apply(&mut self, Domain(event): Self::Event) {
        let now = self.commit_time;
        match event {
            ZoneEvent::ZoneCreated {
                zone_id,
                project_id,
                name,
                email,
                ttl,
                description,
                pool_id,
                serial,
                soa,
                ns_records,
                attributes,
            } => {
                let apex = RecordsetName::from(name.clone());
                self.attributes = attributes;
                self.id = Some(zone_id);
                self.project_id = Some(project_id.clone());
                self.name = Some(name);
                self.email = email;
                self.ttl = Some(ttl);
                self.description = description;
                self.pool_id = Some(pool_id);
                self.serial = serial;
                self.soa = Some(soa);
                self.status = Status::Pending;
                self.action = Action::Create;
                self.version = 1;
                self.created_at = Some(now);
                let managed = |rtype: RecordType, records: Vec<String>| Recordset {
                    id: RecordsetId::managed(zone_id, rtype.as_str()),
                    project_id: project_id.clone(),
                    name: apex.clone(),
                    rtype,
                    records,
                    ttl: None,
                    description: None,
                    managed: true,
                    status: Status::Pending,
                    action: Action::Create,
                    version: 1,
                    serial,
                    created_at: now,
                    updated_at: None,
                };
                let mut ns_sorted = ns_records.clone();
                ns_sorted.sort_by_key(|ns| ns.priority);
                let ns_data: Vec<String> = ns_sorted.iter().map(|ns| ns.hostname.to_string()).collect();
                self.ns_records = ns_records;
                let soa_rs = managed(RecordType::SOA, Vec::new());
                let ns_rs = managed(RecordType::NS, ns_data);
                self.insert_recordset(soa_rs);
                if !ns_rs.records.is_empty() {
                    self.insert_recordset(ns_rs);
                }
                self.refresh_soa();
            }
            ZoneEvent::ZoneUpdated {
                email,
                ttl,
                description,
                serial,
            } => {
                self.email = email;
                self.ttl = Some(ttl);
                self.description = description;
                self.mark_zone_changed(serial);
            }
            ZoneEvent::ZoneDeleteRequested {} => {
                self.status = Status::Pending;
                self.action = Action::Delete;
                self.version += 1;
                self.updated_at = Some(now);
            }
            ZoneEvent::RecordsetCreated {
                recordset_id,
                project_id,
                name,
                rtype,
                records,
                ttl,
                description,
                serial,
                managed,
            } => {
                self.insert_recordset(Recordset {
                    id: recordset_id,
                    project_id,
                    name,
                    rtype,
                    records,
                    ttl,
                    description,
                    managed,
                    status: Status::Pending,
                    action: Action::Create,
                    version: 1,
                    serial,
                    created_at: now,
                    updated_at: None,
                });
                self.mark_zone_changed(serial);
            }
            ZoneEvent::RecordsetUpdated {
                recordset_id,
                records,
                ttl,
                description,
                serial,
            } => {
                self.pending.insert(recordset_id);
                let mut unmanaged = self.unmanaged_records;
                if let Some(rs) = self.recordsets.get_mut(&recordset_id).map(Arc::make_mut) {
                    if !rs.managed {
                        unmanaged = unmanaged.saturating_sub(rs.records.len()) + records.len();
                    }
                    rs.records = records;
                    rs.ttl = ttl;
                    rs.description = description;
                    rs.status = Status::Pending;
                    rs.action = if rs.action == Action::Create {
                        Action::Create
                    } else {
                        Action::Update
                    };
                    rs.version += 1;
                    rs.serial = serial;
                    rs.updated_at = Some(now);
                }
                self.unmanaged_records = unmanaged;
                self.mark_zone_changed(serial);
            }
            ZoneEvent::RecordsetDeleted { recordset_id, serial } => {
                self.remove_recordset(&recordset_id);
                self.mark_zone_changed(serial);
            }
            ZoneEvent::ZoneShared {
                share_id,
                target_project_id,
            } => {
                self.shares.insert(
                    share_id,
                    Share {
                        target_project_id,
                        created_at: now,
                    },
                );
            }
            ZoneEvent::ZoneUnshared { share_id } => {
                self.shares.remove(&share_id);
            }
            ZoneEvent::ZoneSyncReported {
                serial,
                synced,
                nameservers,
            } => {
                self.nameservers = nameservers;
                if serial == self.serial {
                    if synced {
                        self.status = Status::Active;
                        self.action = Action::None;
                        let served: Vec<RecordsetId> = self
                            .pending
                            .iter()
                            .filter(|id| self.recordsets.get(*id).is_none_or(|rs| rs.serial <= serial))
                            .copied()
                            .collect();
                        for id in served {
                            self.pending.remove(&id);
                            if let Some(rs) = self.recordsets.get_mut(&id).map(Arc::make_mut) {
                                rs.status = Status::Active;
                                rs.action = Action::None;
                            }
                        }
                    } else {
                        self.status = Status::Error;
                    }
                }
            }
            // Nothing changes but the push it asks for.
            ZoneEvent::ZoneRecoveryRequested { .. } => {}
            ZoneEvent::ManagedRecordsClaimed {
                resource_type,
                resource_id,
                recordset_id,
                records,
            } => {
                let owned = self
                    .managed_resources
                    .entry(format!("{resource_type}/{resource_id}"))
                    .or_default();
                for record in records {
                    if !owned.contains(&(recordset_id, record.clone())) {
                        owned.push((recordset_id, record));
                    }
                }
            }
            ZoneEvent::ManagedResourceReleased {
                resource_type,
                resource_id,
            } => {
                let key = format!("{resource_type}/{resource_id}");
                self.managed_resources.remove(&key);
                self.released_resources.insert(key);
            }
            ZoneEvent::ZoneDeleted { nameservers } => {
                self.nameservers = nameservers;
                self.status = Status::Deleted;
                self.action = Action::None;
                self.updated_at = Some(now);
            }
        }
    }
}
