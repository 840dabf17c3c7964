//! Deciding a command against the zone's state: the rules, and the event a command would commit.

use chrono::{DateTime, Utc};
use nsplane_schema::serial::next_serial;
use nsplane_schema::{Action, RecordType, Records, RecordsetId, RecordsetName, Status, ZoneEvent};

use super::command::RevertTarget;
use super::{unix_secs, within, Zone, ZoneCommand, ZoneError, ZoneServices};
use crate::aggregate::Decider as _;

impl Zone {
    /// Decides a revert to `target` (the tenant record sets of `to_serial`): deletions first (so a name
    /// can change hands between types), then updates, then creations under the old ids, each decided
    /// with every rule on the state the ones before it leave, all in one commit. Refused as a whole
    /// when any step is.
    pub(super) async fn decide_revert(
        &self,
        to_serial: u32,
        target: Vec<RevertTarget>,
        services: &ZoneServices,
        now: DateTime<Utc>,
    ) -> Result<Vec<ZoneEvent>, ZoneError> {
        self.writable()?;
        let wanted: std::collections::HashMap<_, _> = target.iter().map(|t| (t.recordset_id, t)).collect();
        let mut steps = Vec::new();
        for rs in self.recordsets.values().filter(|rs| !rs.managed) {
            match wanted.get(&rs.id) {
                Some(t) if t.name == rs.name && t.records.rtype() == rs.rtype => {
                    let records = t.records.to_strings();
                    if records != rs.records || t.ttl != rs.ttl || t.description != rs.description {
                        steps.push((
                            1,
                            ZoneCommand::UpdateRecordset {
                                recordset_id: rs.id,
                                records: Some(t.records.clone()),
                                ttl: Some(t.ttl),
                                description: Some(t.description.clone()),
                                edit_managed: false,
                            },
                        ));
                    }
                }
                _ => steps.push((
                    0,
                    ZoneCommand::DeleteRecordset {
                        recordset_id: rs.id,
                        edit_managed: false,
                    },
                )),
            }
        }
        for t in &target {
            let same = self
                .recordsets
                .get(&t.recordset_id)
                .is_some_and(|rs| t.name == rs.name && t.records.rtype() == rs.rtype);
            if !same {
                steps.push((
                    2,
                    ZoneCommand::CreateRecordset {
                        recordset_id: t.recordset_id,
                        project_id: t.project_id.clone(),
                        name: t.name.clone(),
                        records: t.records.clone(),
                        ttl: t.ttl,
                        description: t.description.clone(),
                    },
                ));
            }
        }
        if steps.is_empty() {
            return Err(ZoneError::NothingToRevert(to_serial));
        }
        steps.sort_by_key(|(order, _)| *order);
        let mut state = self.clone();
        let mut events = Vec::with_capacity(steps.len());
        for (_, step) in steps {
            let event = state.decide_one(step, services, now).await?;
            state.evolve(&event, now);
            events.push(event);
        }
        Ok(events)
    }

    /// Decides the sink's records for a resource: the managed record set of that name and type gets
    /// them (created if missing, with every rule a tenant's create meets), and the resource's ownership
    /// is recorded, in one commit. Nothing for a released resource or records it already owns; a
    /// tenant's record set of that name and type is left alone (refused).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn decide_managed_add(
        &self,
        resource_type: &str,
        resource_id: &str,
        recordset_id: RecordsetId,
        name: RecordsetName,
        records: Records,
        services: &ZoneServices,
        now: DateTime<Utc>,
    ) -> Result<Vec<ZoneEvent>, ZoneError> {
        self.writable()?;
        let key = format!("{resource_type}/{resource_id}");
        if self.released_resources.contains(&key) {
            return Ok(Vec::new());
        }
        let rtype = records.rtype();
        let wanted = records.to_strings();
        let (recordset_id, first) = match self.find(&name, rtype) {
            Some(rs) if !rs.managed => return Err(ZoneError::DuplicateRecordset),
            Some(rs) => {
                let missing: Vec<String> = wanted.iter().filter(|r| !rs.records.contains(r)).cloned().collect();
                let owned = self.managed_resources.get(&key);
                let claimed = wanted
                    .iter()
                    .all(|r| owned.is_some_and(|o| o.contains(&(rs.id, r.clone()))));
                if missing.is_empty() && claimed {
                    return Ok(Vec::new());
                }
                let mut all = rs.records.clone();
                all.extend(missing.iter().cloned());
                let merged = Records::validate(rtype, &all).map_err(|e| ZoneError::Lookup(e.to_string()))?;
                let update = ZoneCommand::UpdateRecordset {
                    recordset_id: rs.id,
                    records: Some(merged),
                    ttl: None,
                    description: None,
                    edit_managed: true,
                };
                let event = if missing.is_empty() {
                    None
                } else {
                    Some(self.decide_one(update, services, now).await?)
                };
                (rs.id, event)
            }
            None => {
                let owner = self.project_id.clone().ok_or(ZoneError::NotFound)?;
                let create = ZoneCommand::CreateRecordset {
                    recordset_id,
                    project_id: owner,
                    name,
                    records,
                    ttl: None,
                    description: None,
                };
                let mut event = self.decide_one(create, services, now).await?;
                if let ZoneEvent::RecordsetCreated { managed, .. } = &mut event {
                    *managed = true;
                }
                (recordset_id, Some(event))
            }
        };
        let mut events: Vec<ZoneEvent> = first.into_iter().collect();
        events.push(ZoneEvent::ManagedRecordsClaimed {
            resource_type: resource_type.to_owned(),
            resource_id: resource_id.to_owned(),
            recordset_id,
            records: wanted,
        });
        Ok(events)
    }

    /// Decides the removal of a resource's records: each record set it added to loses them (deleted
    /// when left empty), and the resource is remembered as gone, in one commit. A resource already
    /// released is nothing to do.
    pub(super) async fn decide_managed_remove(
        &self,
        resource_type: &str,
        resource_id: &str,
        services: &ZoneServices,
        now: DateTime<Utc>,
    ) -> Result<Vec<ZoneEvent>, ZoneError> {
        self.writable()?;
        let key = format!("{resource_type}/{resource_id}");
        if self.released_resources.contains(&key) && !self.managed_resources.contains_key(&key) {
            return Ok(Vec::new());
        }
        let owned = self.managed_resources.get(&key).cloned().unwrap_or_default();
        // Records another resource also owns stay.
        let shared: std::collections::HashSet<(RecordsetId, String)> = self
            .managed_resources
            .iter()
            .filter(|(other, _)| **other != key)
            .flat_map(|(_, pairs)| pairs.iter().cloned())
            .collect();
        let mut by_recordset: std::collections::BTreeMap<RecordsetId, Vec<String>> = Default::default();
        for (rs, record) in owned {
            if !shared.contains(&(rs, record.clone())) {
                by_recordset.entry(rs).or_default().push(record);
            }
        }
        let mut state = self.clone();
        let mut events = Vec::new();
        for (rs_id, gone) in by_recordset {
            let Some(rs) = state.recordsets.get(&rs_id).cloned() else {
                continue;
            };
            let left: Vec<String> = rs.records.iter().filter(|r| !gone.contains(r)).cloned().collect();
            if left.len() == rs.records.len() {
                continue;
            }
            let command = if left.is_empty() {
                ZoneCommand::DeleteRecordset {
                    recordset_id: rs_id,
                    edit_managed: true,
                }
            } else {
                let records = Records::validate(rs.rtype, &left).map_err(|e| ZoneError::Lookup(e.to_string()))?;
                ZoneCommand::UpdateRecordset {
                    recordset_id: rs_id,
                    records: Some(records),
                    ttl: None,
                    description: None,
                    edit_managed: true,
                }
            };
            let event = state.decide_one(command, services, now).await?;
            state.evolve(&event, now);
            events.push(event);
        }
        events.push(ZoneEvent::ManagedResourceReleased {
            resource_type: resource_type.to_owned(),
            resource_id: resource_id.to_owned(),
        });
        Ok(events)
    }

    /// The quotas of the zone's owner (they bind whoever writes into the zone).
    async fn quotas(&self, services: &ZoneServices) -> Result<super::ZoneQuotas, ZoneError> {
        let Some(owner) = &self.project_id else {
            return Err(ZoneError::NotFound);
        };
        services
            .quotas
            .zone_quotas(owner)
            .await
            .map_err(|e| ZoneError::Lookup(e.to_string()))
    }

    /// Decides a command against the current state without changing it: the event it would commit at
    /// `now`. The executor decides in place and applies the event only once the commit is stored, so a
    /// zone's state is never copied to decide.
    pub async fn decide_one(
        &self,
        command: ZoneCommand,
        services: &ZoneServices,
        now: DateTime<Utc>,
    ) -> Result<ZoneEvent, ZoneError> {
        match command {
            ZoneCommand::CreateZone {
                zone_id,
                project_id,
                name,
                email,
                ttl,
                description,
                pool_id,
                ns_records,
                soa,
                attributes,
            } => {
                if self.name.is_some() {
                    return Err(ZoneError::AlreadyExists);
                }
                let serial = next_serial(0, unix_secs(now).max(1));
                let event = ZoneEvent::ZoneCreated {
                    zone_id,
                    project_id,
                    name,
                    email: email.into(),
                    ttl,
                    description,
                    pool_id,
                    serial,
                    soa,
                    ns_records,
                    attributes,
                };
                Ok(event)
            }
            ZoneCommand::UpdateZone {
                email,
                ttl,
                description,
            } => {
                self.writable()?;
                let event = ZoneEvent::ZoneUpdated {
                    email: email.map(String::from).unwrap_or_else(|| self.email.clone()),
                    ttl: ttl.or(self.ttl).ok_or(ZoneError::NotFound)?,
                    description: description.unwrap_or_else(|| self.description.clone()),
                    serial: self.next_serial(now),
                };
                Ok(event)
            }
            ZoneCommand::DeleteZone { hard } => {
                self.writable()?;
                if !hard && !self.shares.is_empty() {
                    return Err(ZoneError::Shared);
                }
                Ok(ZoneEvent::ZoneDeleteRequested {})
            }
            ZoneCommand::ShareZone {
                share_id,
                target_project_id,
            } => {
                self.writable()?;
                if self.project_id.as_ref() == Some(&target_project_id) {
                    return Err(ZoneError::ShareWithOwner);
                }
                if self.shares.values().any(|s| s.target_project_id == target_project_id) {
                    return Err(ZoneError::DuplicateShare);
                }
                Ok(ZoneEvent::ZoneShared {
                    share_id,
                    target_project_id,
                })
            }
            ZoneCommand::UnshareZone { share_id } => {
                self.writable()?;
                if !self.shares.contains_key(&share_id) {
                    return Err(ZoneError::ShareNotFound);
                }
                Ok(ZoneEvent::ZoneUnshared { share_id })
            }
            ZoneCommand::CreateRecordset {
                recordset_id,
                project_id,
                name,
                records,
                ttl,
                description,
            } => {
                let zone_name = self.writable()?.clone();
                if self.recordsets.contains_key(&recordset_id) {
                    return Err(ZoneError::DuplicateRecordset);
                }
                let rtype = records.rtype();
                let records = records.to_strings();
                let quotas = self.quotas(services).await?;
                if !within(records.len(), quotas.recordset_records) {
                    return Err(ZoneError::OverQuota {
                        resource: "recordset_records",
                    });
                }
                if !within(self.recordsets.len() + 1, quotas.zone_recordsets) {
                    return Err(ZoneError::OverQuota {
                        resource: "zone_recordsets",
                    });
                }
                if !within(self.unmanaged_records + records.len(), quotas.zone_records) {
                    return Err(ZoneError::OverQuota {
                        resource: "zone_records",
                    });
                }
                let at_apex = name.as_dns_name() == zone_name.as_dns_name();
                match rtype {
                    RecordType::SOA => return Err(ZoneError::SoaNotAllowed),
                    RecordType::NS if at_apex => return Err(ZoneError::ApexNsManaged),
                    RecordType::CNAME if at_apex => return Err(ZoneError::CnameAtApex),
                    RecordType::CNAME if records.len() > 1 => return Err(ZoneError::CnameTooManyRecords),
                    _ => {}
                }
                if self.find(&name, rtype).is_some() {
                    return Err(ZoneError::DuplicateRecordset);
                }
                let same_name = self.types_at(&name);
                if !same_name.is_empty() && (rtype == RecordType::CNAME || same_name.contains(&RecordType::CNAME)) {
                    return Err(ZoneError::CnameNotAlone);
                }
                self.check_placement(&zone_name, &name, services).await?;
                let event = ZoneEvent::RecordsetCreated {
                    recordset_id,
                    project_id,
                    name,
                    rtype,
                    records,
                    ttl,
                    description,
                    serial: self.next_serial(now),
                    managed: false,
                };
                Ok(event)
            }
            ZoneCommand::UpdateRecordset {
                recordset_id,
                records,
                ttl,
                description,
                edit_managed,
            } => {
                self.writable()?;
                let rs = self.recordsets.get(&recordset_id).ok_or(ZoneError::RecordsetNotFound)?;
                if rs.rtype == RecordType::SOA {
                    return Err(ZoneError::SoaNotAllowed);
                }
                if rs.managed && !edit_managed {
                    return Err(ZoneError::Managed);
                }
                let records = match records {
                    Some(records) if records.rtype() != rs.rtype => return Err(ZoneError::TypeChanged),
                    Some(records) => records.to_strings(),
                    None => rs.records.clone(),
                };
                if rs.rtype == RecordType::CNAME && records.len() > 1 {
                    return Err(ZoneError::CnameTooManyRecords);
                }
                let quotas = self.quotas(services).await?;
                if !within(records.len(), quotas.recordset_records) {
                    return Err(ZoneError::OverQuota {
                        resource: "recordset_records",
                    });
                }
                let after = self.unmanaged_records.saturating_sub(rs.records.len()) + records.len();
                if !rs.managed && records.len() > rs.records.len() && !within(after, quotas.zone_records) {
                    return Err(ZoneError::OverQuota {
                        resource: "zone_records",
                    });
                }
                let event = ZoneEvent::RecordsetUpdated {
                    recordset_id,
                    records,
                    ttl: ttl.unwrap_or(rs.ttl),
                    description: description.unwrap_or_else(|| rs.description.clone()),
                    serial: self.next_serial(now),
                };
                Ok(event)
            }
            ZoneCommand::DeleteRecordset {
                recordset_id,
                edit_managed,
            } => {
                self.writable()?;
                let rs = self.recordsets.get(&recordset_id).ok_or(ZoneError::RecordsetNotFound)?;
                if rs.rtype == RecordType::SOA {
                    return Err(ZoneError::SoaNotAllowed);
                }
                if rs.managed && !edit_managed {
                    return Err(ZoneError::Managed);
                }
                let event = ZoneEvent::RecordsetDeleted {
                    recordset_id,
                    serial: self.next_serial(now),
                };
                Ok(event)
            }
            ZoneCommand::Revert { .. } | ZoneCommand::ImportRecordsets { .. } => Err(ZoneError::RevertPiecemeal),
            ZoneCommand::AddManagedRecords { .. } | ZoneCommand::RemoveManagedRecords { .. } => {
                Err(ZoneError::RevertPiecemeal)
            }
            ZoneCommand::ReportSync {
                serial,
                synced,
                nameservers,
            } => {
                self.created()?;
                let deleting = self.action == Action::Delete;
                // Reports about an older serial, or a success about a zone being deleted, are moot.
                if serial != self.serial || (deleting && synced) || self.status == Status::Deleted {
                    return Err(ZoneError::Superseded);
                }
                let status = if synced { Status::Active } else { Status::Error };
                if self.status == status && self.nameservers == nameservers {
                    return Err(ZoneError::Superseded);
                }
                Ok(ZoneEvent::ZoneSyncReported {
                    serial,
                    synced,
                    nameservers,
                })
            }
            ZoneCommand::RequestRecovery { reason } => {
                self.created()?;
                if !matches!(self.status, Status::Pending | Status::Error) {
                    return Err(ZoneError::Superseded);
                }
                Ok(ZoneEvent::ZoneRecoveryRequested { reason })
            }
            ZoneCommand::ConfirmDeleted { nameservers } => {
                self.created()?;
                if self.action != Action::Delete || self.status == Status::Deleted {
                    return Err(ZoneError::Superseded);
                }
                Ok(ZoneEvent::ZoneDeleted { nameservers })
            }
            // The zone's end without the data plane's part: no name server reports on it.
            ZoneCommand::Abandon => {
                self.created()?;
                if self.status == Status::Deleted {
                    return Err(ZoneError::NotFound);
                }
                Ok(ZoneEvent::ZoneDeleted {
                    nameservers: Vec::new(),
                })
            }
        }
    }
}
