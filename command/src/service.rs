//! The workflows every caller of the write side shares (the API today; the worker, and later the
//! producer, the sink, imports, transfers and the CLI): zone creation with its cross-aggregate steps,
//! record-set changes whose data is validated into [`Records`], the confirmation of a zone's deletion
//! that gives its name and quota slot back, and the operator's rules. Callers map their input to these
//! and their errors to their own answers; none of them repeats a step.

use std::collections::BTreeMap;
use std::sync::Arc;

use nsplane_schema::email::Email;
use nsplane_schema::rdata::validate_owner_name;
use nsplane_schema::zone::{NameserverSync, SoaTimers};
use nsplane_schema::{
    Metadata, ProjectId, RdataError, RecordType, Records, RecordsetId, RecordsetName, Ttl, ZoneId, ZoneName,
};
use tracing::{info, warn};
use uuid::Uuid;

use crate::executor::{Committed, ExecuteError, Executor};
use crate::exports::{ExportCommand, ExportError, ZoneExport};
use crate::imports::{ImportCommand, ImportError, ImportStatus, ZoneImport};
use crate::names::{ReserveError, ZoneNames};
use crate::naming::{Kind, NamingCommand, NamingError, NamingRules};
use crate::pools::{PoolsHandle, PoolsStore};
use crate::quotas::{CachedQuotas, QuotaError, QuotaStore};
use crate::store::EventStore;
use crate::tsigkeys::{TsigKeyCommand, TsigKeyError, TsigKeys};
use crate::zone::{RevertTarget, Zone, ZoneCommand, ZoneError, ZoneServices};

/// Who runs a command: what the commit records (who, why, when), whether the caller is an admin, and
/// which project's resources it may act on (`None`: every project).
#[derive(Debug, Clone)]
pub struct Actor {
    /// The commit's metadata (`command` and `time` are filled in when it commits).
    pub metadata: Metadata,
    /// The caller has the admin role (blacklists do not bind it).
    pub admin: bool,
    /// The project whose resources the caller may act on; `None` for every project.
    pub scope: Option<ProjectId>,
}

impl Actor {
    /// A role or tool acting on its own behalf: admin, every project.
    pub fn service(source_role: &str) -> Self {
        Self {
            metadata: Metadata::service(source_role),
            admin: true,
            scope: None,
        }
    }
}

/// What new zones get unless the request says otherwise.
#[derive(Debug, Clone, Copy)]
pub struct ZoneDefaults {
    /// TTL of zones created without one.
    pub ttl: Ttl,
    /// SOA timers of new zones.
    pub soa: SoaTimers,
}

impl Default for ZoneDefaults {
    fn default() -> Self {
        Self {
            ttl: Ttl::new(3600).expect("3600 is a valid TTL"),
            soa: SoaTimers {
                refresh: 3600,
                retry: 600,
                expire: 86400,
                minimum: 3600,
            },
        }
    }
}

/// A zone to create, its values validated.
#[derive(Debug, Clone)]
pub struct NewZone {
    /// Its name.
    pub name: ZoneName,
    /// The hostmaster address.
    pub email: Email,
    /// Default TTL of its record sets (the deployment's default when absent).
    pub ttl: Option<Ttl>,
    /// Free text.
    pub description: Option<String>,
    /// Designate's zone attributes.
    pub attributes: BTreeMap<String, String>,
}

/// Why a zone was not created. Each variant says how the API answers.
#[derive(Debug, thiserror::Error)]
pub enum CreateZoneError {
    /// 400 `invalid_zone_name`: a TLD or blacklist rule refused the name.
    #[error(transparent)]
    Naming(NamingError),
    /// 413 `over_quota` (or 500).
    #[error(transparent)]
    Quota(#[from] QuotaError),
    /// 409 `duplicate_zone`, 403 `illegal_child` / `illegal_parent` (or 500).
    #[error(transparent)]
    Reserve(#[from] ReserveError),
    /// The zone's own rules or the store.
    #[error(transparent)]
    Execute(#[from] ExecuteError<ZoneError>),
    /// 500: the pool new zones go to has no name servers.
    #[error("the default pool has no ns_records")]
    NoNameservers,
    /// 403 `forbidden`: only admins pin a zone's pool (`attributes.pool_id`, Designate's
    /// `zone_create_forced_pool` policy).
    #[error("You are not authorized to choose the zone's pool")]
    PoolNotAllowed,
    /// 404 `no_valid_pool_found`: `attributes.pool_id` names no pool.
    #[error("Could not find any valid pool")]
    NoValidPool,
}

/// A record set to create, as given.
#[derive(Debug, Clone)]
pub struct NewRecordset {
    /// Owner name.
    pub name: RecordsetName,
    /// Type.
    pub rtype: RecordType,
    /// Record data as given (validated here).
    pub records: Vec<String>,
    /// TTL, or inherit the zone's.
    pub ttl: Option<Ttl>,
    /// Free text.
    pub description: Option<String>,
}

/// A change to a record set (`None` = unchanged), as given.
#[derive(Debug, Clone)]
pub struct RecordsetChange {
    /// New record data as given (validated here against the record set's type).
    pub records: Option<Vec<String>>,
    /// New TTL (`Some(None)` = inherit the zone's).
    pub ttl: Option<Option<Ttl>>,
    /// New description.
    pub description: Option<Option<String>>,
    /// The caller may change managed record sets.
    pub edit_managed: bool,
}

/// Why a record-set change was refused. Each variant says how the API answers.
#[derive(Debug, thiserror::Error)]
pub enum RecordsetError {
    /// 400 `invalid_recordset_name`: the name does not fit the type.
    #[error(transparent)]
    BadName(RdataError),
    /// 400 `invalid_object`: the record data.
    #[error(transparent)]
    BadRecords(#[from] nsplane_schema::rdata::RecordsError),
    /// The zone's rules or the store.
    #[error(transparent)]
    Execute(#[from] ExecuteError<ZoneError>),
}

/// The write side, as every role and tool uses it.
pub struct Commands {
    zones: Arc<Executor<Zone>>,
    naming: Arc<Executor<NamingRules>>,
    tsigkeys: Arc<Executor<TsigKeys>>,
    exports: Arc<Executor<ZoneExport>>,
    imports: Arc<Executor<ZoneImport>>,
    names: ZoneNames,
    quotas: QuotaStore,
    pools: PoolsStore,
    defaults: ZoneDefaults,
}

/// The id of the naming-rules aggregate.
const NAMING: &str = nsplane_schema::naming::NAMING_ID;

impl Commands {
    /// Opens the write side over the event store: `quota_defaults` for projects without overrides,
    /// `zone_cache` zones kept per process, `enforce_quotas` false for roles that only report (the worker).
    pub async fn open(
        store: EventStore,
        quota_defaults: nsplane_schema::quotas::Quotas,
        defaults: ZoneDefaults,
        zone_cache: usize,
        enforce_quotas: bool,
    ) -> anyhow::Result<Self> {
        let names = ZoneNames::open(store.clone()).await?;
        let quotas = QuotaStore::open(store.clone(), quota_defaults).await?;
        let zone_quotas: Arc<dyn crate::quotas::ZoneQuotaLookup> = if enforce_quotas {
            Arc::new(CachedQuotas::new(quotas.clone()))
        } else {
            Arc::new(crate::zone::ZoneQuotas::UNLIMITED)
        };
        let services = ZoneServices {
            directory: Arc::new(names.clone()),
            quotas: zone_quotas,
        };
        Ok(Self {
            zones: Arc::new(Executor::new(store.clone(), services, zone_cache)),
            naming: Arc::new(Executor::new(store.clone(), (), 16)),
            tsigkeys: Arc::new(Executor::new(store.clone(), (), 4)),
            exports: Arc::new(Executor::new(store.clone(), (), 64)),
            imports: Arc::new(Executor::new(store.clone(), (), 64)),
            names,
            quotas,
            pools: PoolsStore::new(store),
            defaults,
        })
    }

    /// The zone executor (commands on one zone, and its current state).
    pub fn zones(&self) -> &Executor<Zone> {
        &self.zones
    }

    /// The event store.
    pub fn store(&self) -> &EventStore {
        self.zones.store()
    }

    /// Quotas and zone slots.
    pub fn quotas(&self) -> &QuotaStore {
        &self.quotas
    }

    /// The pool configuration.
    pub fn pools(&self) -> &PoolsStore {
        &self.pools
    }

    /// Zone-name reservations.
    pub fn names(&self) -> &ZoneNames {
        &self.names
    }

    /// Creates a zone in the caller's project: checks the operator's naming rules, takes a `zones` quota
    /// slot, reserves the name, commits `CreateZone` into the default pool, and gives the name and the
    /// slot back if the zone was not created after all. A retry of the same request creates nothing new.
    pub async fn create_zone(
        &self,
        zone: NewZone,
        actor: &Actor,
        pools: &PoolsHandle,
    ) -> Result<Committed<Zone>, CreateZoneError> {
        let (rules, _) = self.naming.load(NAMING).await.map_err(internal)?;
        rules
            .check_zone_name(zone.name.as_str(), actor.admin)
            .map_err(CreateZoneError::Naming)?;
        let project = &actor.metadata.project_id;
        let current = pools.current();
        // The scheduler: Designate's `pool_id_attribute` filter (an admin may pin the pool), then
        // `default_pool`.
        let (pool_id, pool) = match zone.attributes.get("pool_id") {
            Some(_) if !actor.admin => return Err(CreateZoneError::PoolNotAllowed),
            Some(wanted) => {
                let id = Uuid::parse_str(wanted).map_err(|_| CreateZoneError::NoValidPool)?;
                let id = nsplane_schema::PoolId(id);
                (id, current.get(id).ok_or(CreateZoneError::NoValidPool)?)
            }
            None => current.default_pool(),
        };
        let ns_records = pool.ns_records();
        if ns_records.is_empty() {
            return Err(CreateZoneError::NoNameservers);
        }
        let zone_id = ZoneId::derived(project, &actor.metadata.request_id);
        // The zones quota first (a numbered slot per zone: racing creates cannot share the last one).
        self.quotas.take_zone_slot(project, zone_id).await?;
        if let Err(refused) = self.names.reserve(&zone.name, zone_id, project).await {
            let _ = self.quotas.release_zone_slot(project, zone_id).await;
            return Err(refused.into());
        }
        let command = ZoneCommand::CreateZone {
            zone_id,
            project_id: project.clone(),
            name: zone.name.clone(),
            email: zone.email,
            ttl: zone.ttl.unwrap_or(self.defaults.ttl),
            description: zone.description,
            pool_id,
            attributes: zone.attributes,
            ns_records,
            soa: self.defaults.soa,
        };
        match self
            .zones
            .execute(&zone_id.to_string(), command, actor.metadata.clone(), None)
            .await
        {
            Ok(committed) => Ok(committed),
            Err(e) => {
                // Give the name back unless the zone exists after all (an earlier attempt committed).
                if !matches!(e, ExecuteError::Unavailable(_)) {
                    if let Ok((state, _)) = self.zones.load(&zone_id.to_string()).await {
                        if state.name.is_none() {
                            let _ = self.names.release(zone.name.as_dns_name(), zone_id).await;
                            let _ = self.quotas.release_zone_slot(project, zone_id).await;
                        }
                    }
                }
                Err(e.into())
            }
        }
    }

    /// Runs a command on a zone; with `actor.scope` set, a zone the caller may not act on is not found.
    pub async fn zone(
        &self,
        zone_id: ZoneId,
        command: ZoneCommand,
        actor: &Actor,
    ) -> Result<Committed<Zone>, ExecuteError<ZoneError>> {
        self.zones
            .execute(
                &zone_id.to_string(),
                command,
                actor.metadata.clone(),
                actor.scope.as_ref(),
            )
            .await
    }

    /// A zone's state as this process knows it after catching up with the stream.
    pub async fn load_zone(&self, zone_id: ZoneId) -> Result<Zone, ExecuteError<ZoneError>> {
        self.zones.load(&zone_id.to_string()).await.map(|(zone, _)| zone)
    }

    /// Creates a record set; its name and records are validated for its type first.
    pub async fn create_recordset(
        &self,
        zone_id: ZoneId,
        recordset: NewRecordset,
        actor: &Actor,
    ) -> Result<(RecordsetId, Committed<Zone>), RecordsetError> {
        validate_owner_name(recordset.rtype, &recordset.name).map_err(RecordsetError::BadName)?;
        let records = Records::validate(recordset.rtype, &recordset.records)?;
        let recordset_id = RecordsetId::derived(zone_id, &actor.metadata.request_id);
        let command = ZoneCommand::CreateRecordset {
            recordset_id,
            project_id: actor.metadata.project_id.clone(),
            name: recordset.name,
            records,
            ttl: recordset.ttl,
            description: recordset.description,
        };
        Ok((recordset_id, self.zone(zone_id, command, actor).await?))
    }

    /// Restores the tenant record sets the zone had at `to_serial` (`target`: each with its id and owner
    /// then), in one commit; every record set is validated again as a create would be.
    pub async fn revert_zone(
        &self,
        zone_id: ZoneId,
        to_serial: u32,
        target: Vec<(RecordsetId, ProjectId, NewRecordset)>,
        actor: &Actor,
    ) -> Result<Committed<Zone>, RecordsetError> {
        let mut sets = Vec::with_capacity(target.len());
        for (recordset_id, project_id, recordset) in target {
            validate_owner_name(recordset.rtype, &recordset.name).map_err(RecordsetError::BadName)?;
            sets.push(RevertTarget {
                recordset_id,
                project_id,
                records: Records::validate(recordset.rtype, &recordset.records)?,
                name: recordset.name,
                ttl: recordset.ttl,
                description: recordset.description,
            });
        }
        let command = ZoneCommand::Revert {
            to_serial,
            target: sets,
        };
        Ok(self.zone(zone_id, command, actor).await?)
    }

    /// Changes a record set; new record data is validated against the record set's type.
    pub async fn update_recordset(
        &self,
        zone_id: ZoneId,
        recordset_id: RecordsetId,
        change: RecordsetChange,
        actor: &Actor,
    ) -> Result<Committed<Zone>, RecordsetError> {
        let records = match change.records {
            Some(records) => {
                // The type of a record set never changes, so the cached zone tells it.
                let zone = self.load_zone(zone_id).await?;
                let probe = ZoneCommand::DeleteRecordset {
                    recordset_id,
                    edit_managed: true,
                };
                let visible = actor.scope.as_ref().is_none_or(|p| zone.permits(p, &probe));
                let rtype = zone
                    .recordsets
                    .get(&recordset_id)
                    .filter(|_| visible)
                    .map(|rs| rs.rtype)
                    .ok_or(ExecuteError::Rejected(ZoneError::RecordsetNotFound))?;
                Some(Records::validate(rtype, &records)?)
            }
            None => None,
        };
        let command = ZoneCommand::UpdateRecordset {
            recordset_id,
            records,
            ttl: change.ttl,
            description: change.description,
            edit_managed: change.edit_managed,
        };
        Ok(self.zone(zone_id, command, actor).await?)
    }

    /// Records that the pool no longer serves a zone being deleted, then gives its name and its quota
    /// slot back (a failure there only delays their reuse: a later create takes them over).
    pub async fn confirm_zone_deleted(
        &self,
        zone_id: ZoneId,
        nameservers: Vec<NameserverSync>,
        actor: &Actor,
    ) -> Result<Committed<Zone>, ExecuteError<ZoneError>> {
        let committed = self
            .zone(zone_id, ZoneCommand::ConfirmDeleted { nameservers }, actor)
            .await?;
        self.release_claims(zone_id, &committed, "zone removed from the pool")
            .await;
        Ok(committed)
    }

    /// Abandons a zone (admin): it is gone from nsplane at once, its name and quota slot are given
    /// back, and nothing is pushed to the pool's servers (a backend managed by `rndc` or an HTTP API
    /// keeps it; catalog consumers drop it with the catalog's member).
    pub async fn abandon_zone(
        &self,
        zone_id: ZoneId,
        actor: &Actor,
    ) -> Result<Committed<Zone>, ExecuteError<ZoneError>> {
        let committed = self.zone(zone_id, ZoneCommand::Abandon, actor).await?;
        self.release_claims(zone_id, &committed, "zone abandoned").await;
        Ok(committed)
    }

    /// Gives a gone zone's name and quota slot back (a failure is left to the next create, which takes
    /// them over).
    async fn release_claims(&self, zone_id: ZoneId, committed: &Committed<Zone>, what: &str) {
        if let (Some(name), Some(project)) = (&committed.state.name, &committed.state.project_id) {
            info!(zone = %name, "{what}");
            if let Err(e) = self.quotas.release_zone_slot(project, zone_id).await {
                warn!(
                    error = format!("{e:#}"),
                    "failed to give the deleted zone's quota slot back; a later create takes it over"
                );
            }
            if let Err(e) = self.names.release(name.as_dns_name(), zone_id).await {
                warn!(
                    error = format!("{e:#}"),
                    "failed to give the deleted zone's name back; a later create takes it over"
                );
            }
        }
    }

    /// The operator's naming rules now.
    pub async fn naming_rules(&self) -> Result<NamingRules, ExecuteError<NamingError>> {
        self.naming.load(NAMING).await.map(|(rules, _)| rules)
    }

    /// Adds, changes or removes a naming rule.
    pub async fn naming(
        &self,
        command: NamingCommand,
        actor: &Actor,
    ) -> Result<Committed<NamingRules>, ExecuteError<NamingError>> {
        self.naming.execute(NAMING, command, actor.metadata.clone(), None).await
    }
}

impl Commands {
    /// Every TSIG key now.
    pub async fn tsigkeys(&self) -> Result<TsigKeys, ExecuteError<TsigKeyError>> {
        self.tsigkeys.load(TSIGKEYS).await.map(|(keys, _)| keys)
    }

    /// Registers, changes or removes a TSIG key. The pool or zone a key's scope names must exist (as
    /// Designate checks since 23.0.0).
    pub async fn tsigkey(
        &self,
        command: TsigKeyCommand,
        actor: &Actor,
    ) -> Result<Committed<TsigKeys>, ExecuteError<TsigKeyError>> {
        let resource = match &command {
            TsigKeyCommand::Create { fields, .. } => fields.scope.zip(fields.resource_id),
            TsigKeyCommand::Update { id, fields } if fields.scope.is_some() || fields.resource_id.is_some() => {
                let keys = self.tsigkeys().await?;
                let key = keys
                    .keys
                    .get(id)
                    .ok_or(ExecuteError::Rejected(TsigKeyError::NotFound))?;
                Some((
                    fields.scope.unwrap_or(key.scope),
                    fields.resource_id.unwrap_or(key.resource_id),
                ))
            }
            _ => None,
        };
        if let Some((scope, resource_id)) = resource {
            self.check_tsig_resource(scope, resource_id).await?;
        }
        self.tsigkeys
            .execute(TSIGKEYS, command, actor.metadata.clone(), None)
            .await
    }

    async fn check_tsig_resource(
        &self,
        scope: nsplane_schema::tsigkeys::TsigScope,
        resource_id: Uuid,
    ) -> Result<(), ExecuteError<TsigKeyError>> {
        use nsplane_schema::tsigkeys::TsigScope;
        let exists = match scope {
            TsigScope::Zone => {
                let zone = self
                    .load_zone(ZoneId(resource_id))
                    .await
                    .map_err(|e| ExecuteError::Internal(anyhow::anyhow!("{e}")))?;
                zone.name.is_some() && zone.status != nsplane_schema::Status::Deleted
            }
            TsigScope::Pool => match self.pools.current().await {
                Ok(Some((_, yaml))) => nsplane_schema::pools::Pools::parse(&yaml)
                    .map(|pools| pools.iter().any(|(id, _)| id.0 == resource_id))
                    .unwrap_or(false),
                Ok(None) => false,
                Err(e) => return Err(ExecuteError::Internal(anyhow::anyhow!("{e}"))),
            },
        };
        if exists {
            Ok(())
        } else {
            Err(ExecuteError::Rejected(TsigKeyError::Invalid(format!(
                "resource_id {resource_id} is not an existing {}",
                scope.as_str().to_ascii_lowercase()
            ))))
        }
    }
}

impl Commands {
    /// Records an export of the zone as it is now (its serial), for the project that owns it, when its
    /// record sets fit the project's `api_export_size` quota.
    pub async fn export_zone(
        &self,
        zone_id: ZoneId,
        actor: &Actor,
    ) -> Result<Committed<ZoneExport>, ExecuteError<ExportError>> {
        let zone = self
            .load_zone(zone_id)
            .await
            .map_err(|e| ExecuteError::Internal(anyhow::anyhow!("{e}")))?;
        let owner = zone.project_id.clone();
        let visible = owner
            .as_ref()
            .is_some_and(|owner| actor.scope.as_ref().is_none_or(|p| p == owner));
        let (Some(project_id), true, false) = (owner, visible, zone.status == nsplane_schema::Status::Deleted) else {
            return Err(ExecuteError::Rejected(ExportError::ZoneNotFound));
        };
        if zone.name.is_none() {
            return Err(ExecuteError::Rejected(ExportError::ZoneNotFound));
        }
        let limit = self
            .quotas
            .effective(&project_id)
            .await
            .map_err(ExecuteError::Internal)?
            .get("api_export_size")
            .copied()
            .unwrap_or(-1);
        let size = zone.recordsets.len();
        if limit >= 0 && i64::try_from(size).unwrap_or(i64::MAX) > limit {
            return Err(ExecuteError::Rejected(ExportError::OverQuota(format!(
                "Quota exceeded for api_export_size: the zone has {size} record sets, the limit is {limit}"
            ))));
        }
        let id = nsplane_schema::ids::derived_uuid("zoneexport", &actor.metadata.request_id);
        let command = ExportCommand::Create {
            id,
            zone_id: zone_id.0,
            project_id,
            serial: zone.serial,
        };
        self.exports
            .execute(&id.to_string(), command, actor.metadata.clone(), None)
            .await
    }

    /// Deletes an export the caller's project made (any, for all projects).
    pub async fn delete_export(
        &self,
        id: Uuid,
        actor: &Actor,
    ) -> Result<Committed<ZoneExport>, ExecuteError<ExportError>> {
        self.exports
            .execute(
                &id.to_string(),
                ExportCommand::Delete,
                actor.metadata.clone(),
                actor.scope.as_ref(),
            )
            .await
    }
}

/// Why an import's zone or record sets could not be made: a refusal (the import fails with this
/// message) or a failure to retry (the import stays pending).
enum ImportStep {
    Refused(String),
    Retry(anyhow::Error),
}

impl From<CreateZoneError> for ImportStep {
    fn from(error: CreateZoneError) -> Self {
        match error {
            CreateZoneError::Quota(QuotaError::Internal(e)) | CreateZoneError::Reserve(ReserveError::Internal(e)) => {
                ImportStep::Retry(e)
            }
            CreateZoneError::Execute(ExecuteError::Rejected(e)) => ImportStep::Refused(e.to_string()),
            CreateZoneError::Execute(e) => ImportStep::Retry(anyhow::anyhow!("{e}")),
            other => ImportStep::Refused(other.to_string()),
        }
    }
}

impl Commands {
    /// An import as it stands.
    pub async fn load_import(&self, id: Uuid) -> Result<ZoneImport, ExecuteError<ImportError>> {
        self.load_import_at(id).await.map(|(import, _)| import)
    }

    /// An import as it stands, and its version (for read-your-writes).
    pub async fn load_import_at(&self, id: Uuid) -> Result<(ZoneImport, u64), ExecuteError<ImportError>> {
        self.imports.load(&id.to_string()).await
    }

    /// Accepts a zone file for import into the caller's project (not yet run: see [`Self::run_import`]).
    pub async fn request_import(
        &self,
        zone_file: String,
        attributes: BTreeMap<String, String>,
        actor: &Actor,
    ) -> Result<Committed<ZoneImport>, ExecuteError<ImportError>> {
        let id = nsplane_schema::ids::derived_uuid("zoneimport", &actor.metadata.request_id);
        let command = ImportCommand::Request {
            id,
            project_id: actor.metadata.project_id.clone(),
            user_id: actor.metadata.user_id.clone(),
            zone_file,
            attributes,
        };
        self.imports
            .execute(&id.to_string(), command, actor.metadata.clone(), None)
            .await
    }

    /// Deletes an import's record (the zone it made stays).
    pub async fn delete_import(
        &self,
        id: Uuid,
        actor: &Actor,
    ) -> Result<Committed<ZoneImport>, ExecuteError<ImportError>> {
        self.imports
            .execute(
                &id.to_string(),
                ImportCommand::Delete,
                actor.metadata.clone(),
                actor.scope.as_ref(),
            )
            .await
    }

    /// Finishes a pending import: parses its file, creates the zone in the import's project, then every
    /// record set in one commit, and records the outcome. Every step carries a request id derived from
    /// the import, so running it again (another instance, after a crash) finds each step done and
    /// changes nothing. An error means it could not finish now and stays pending.
    pub async fn run_import(&self, id: Uuid, pools: &PoolsHandle, source_role: &str) -> anyhow::Result<ImportStatus> {
        let state = self.load_import(id).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let Some(import) = state.import else {
            return Ok(ImportStatus::Error);
        };
        if import.status != ImportStatus::Pending {
            return Ok(import.status);
        }
        let actor_for = |step: &str| {
            let mut metadata = nsplane_schema::Metadata::service(source_role);
            metadata.project_id = import.project_id.clone();
            metadata.user_id.clone_from(&import.user_id);
            metadata.roles = vec!["member".into()];
            metadata.request_id = nsplane_schema::RequestId(format!("import-{id}-{step}"));
            Actor {
                metadata,
                admin: false,
                scope: Some(import.project_id.clone()),
            }
        };
        let (outcome, zone_id) = match self
            .import_zone(&import.zone_file, &import.attributes, pools, &actor_for)
            .await
        {
            Ok(zone_id) => (ImportCommand::Complete { zone_id: zone_id.0 }, Some(zone_id)),
            Err((ImportStep::Refused(message), zone_id)) => (
                ImportCommand::Fail {
                    message,
                    zone_id: zone_id.map(|z| z.0),
                },
                zone_id,
            ),
            Err((ImportStep::Retry(e), _)) => return Err(e),
        };
        let done = self
            .imports
            .execute(&id.to_string(), outcome, actor_for("done").metadata, None)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let status = done.state.import.map_or(ImportStatus::Error, |i| i.status);
        info!(import = %id, zone = ?zone_id, status = status.as_str(), "zone import finished");
        Ok(status)
    }

    async fn import_zone(
        &self,
        zone_file: &str,
        attributes: &BTreeMap<String, String>,
        pools: &PoolsHandle,
        actor_for: &impl Fn(&str) -> Actor,
    ) -> Result<ZoneId, (ImportStep, Option<ZoneId>)> {
        let refused = |message: String| (ImportStep::Refused(message), None);
        let parsed = nsplane_schema::zonefile::parse(zone_file).map_err(|e| refused(e.to_string()))?;
        let name = ZoneName::parse(&parsed.origin).map_err(|e| refused(format!("{}: {e}", parsed.origin)))?;
        let email = Email::parse(&parsed.email).map_err(|e| refused(format!("the SOA's RNAME: {e}")))?;
        let ttl = parsed
            .ttl
            .map(|t| Ttl::new(i64::from(t)))
            .transpose()
            .map_err(|e| refused(format!("the zone's TTL: {e}")))?;
        // Record sets by owner and type, in file order; the apex NS records are the pool's.
        let mut sets: Vec<(String, String, Option<u32>, Vec<String>)> = Vec::new();
        for (owner, ttl, rtype, data) in parsed.records {
            if rtype == "NS" && owner == parsed.origin {
                continue;
            }
            match sets.iter_mut().find(|(o, t, ..)| *o == owner && *t == rtype) {
                Some((.., records)) => records.push(data),
                None => sets.push((owner, rtype, ttl, vec![data])),
            }
        }
        // Every record set is checked before the zone is made: a file with a bad record makes nothing.
        let zone_actor = actor_for("zone");
        let project = zone_actor.metadata.project_id.clone();
        let mut checked = Vec::with_capacity(sets.len());
        for (owner, rtype, ttl, records) in sets {
            let what = format!("{owner} {rtype}");
            let bad = |e: &dyn std::fmt::Display| refused(format!("{what}: {e}"));
            let rtype = RecordType::parse(&rtype).map_err(|e| bad(&e))?;
            let name = RecordsetName::parse(&owner).map_err(|e| bad(&e))?;
            validate_owner_name(rtype, &name).map_err(|e| bad(&e))?;
            let records = Records::validate(rtype, &records).map_err(|e| bad(&e))?;
            let ttl = ttl
                .filter(|t| Some(*t) != parsed.ttl)
                .map(|t| Ttl::new(i64::from(t)))
                .transpose()
                .map_err(|e| bad(&e))?;
            checked.push((name, records, ttl));
        }
        let zone = NewZone {
            name,
            email,
            ttl,
            description: Some("Imported".into()),
            attributes: attributes.clone(),
        };
        let zone_id = match self.create_zone(zone, &zone_actor, pools).await {
            Ok(committed) => committed
                .state
                .id
                .ok_or_else(|| (ImportStep::Retry(anyhow::anyhow!("the created zone has no id")), None))?,
            Err(e) => return Err((e.into(), None)),
        };
        let made = |step: ImportStep| (step, Some(zone_id));
        let target = checked
            .into_iter()
            .enumerate()
            .map(|(n, (name, records, ttl))| RevertTarget {
                recordset_id: RecordsetId::derived(zone_id, &nsplane_schema::RequestId(format!("import-{n}"))),
                project_id: project.clone(),
                name,
                records,
                ttl,
                description: None,
            })
            .collect();
        match self
            .zone(zone_id, ZoneCommand::ImportRecordsets { target }, &actor_for("records"))
            .await
        {
            Ok(_) => Ok(zone_id),
            Err(ExecuteError::Rejected(e)) => Err(made(ImportStep::Refused(e.to_string()))),
            Err(e) => Err(made(ImportStep::Retry(anyhow::anyhow!("{e}")))),
        }
    }
}

/// The id of the TSIG-keys aggregate.
const TSIGKEYS: &str = nsplane_schema::tsigkeys::TSIGKEYS_ID;

/// The id of a TSIG key a request creates: the same request (retried) names the same key.
pub fn tsigkey_id(actor: &Actor) -> Uuid {
    nsplane_schema::ids::derived_uuid("tsigkey", &actor.metadata.request_id)
}

/// The id of a rule a request creates: the same request (retried) names the same rule.
pub fn rule_id(kind: Kind, actor: &Actor) -> Uuid {
    let tag = match kind {
        Kind::Tld => "tld",
        Kind::Blacklist => "blacklist",
    };
    nsplane_schema::ids::derived_uuid(tag, &actor.metadata.request_id)
}

fn internal<E: std::fmt::Display>(error: E) -> CreateZoneError {
    CreateZoneError::Execute(ExecuteError::Internal(anyhow::anyhow!("{error}")))
}
