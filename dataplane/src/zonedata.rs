//! Zone snapshots for mdns: one zone at one serial, read from the read models in one consistent
//! snapshot (so a transfer never mixes two versions), turned into wire records from schema's validated
//! values, and cached per (zone, serial). Catalog zones (RFC 9432, version 2) are synthesised the same
//! way. A stored record that cannot be served fails its own zone at that serial (remembered, logged once,
//! counted), never the catalog or another zone.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use hickory_proto::rr::rdata;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType as WireType};
use nsplane_projection::read::dataplane::{JournalRecord, ServedRecordset, ZoneHead};
use nsplane_projection::read::{ReadError, ReadModels};
use nsplane_schema::RecordData;
use tracing::{error, warn};
use uuid::Uuid;

use crate::records;

/// Snapshots kept in memory.
const CACHE_MAX: usize = 1024;
/// Zones remembered as unservable at a serial.
const UNSERVABLE_MAX: usize = 10_000;

/// One zone at one serial.
#[derive(Debug)]
pub struct Snapshot {
    /// Zone id (nil for a catalog zone).
    pub zone_id: Uuid,
    /// Apex.
    pub origin: Name,
    /// Serial.
    pub serial: u32,
    /// The SOA record.
    pub soa: Record,
    /// Every other record, grouped by owner and type.
    pub rrsets: BTreeMap<(Name, WireType), Vec<Record>>,
    /// Owner names present (for NXDOMAIN versus NODATA).
    pub names: HashSet<Name>,
}

impl Snapshot {
    /// All records of the zone except the SOA, in a stable order.
    pub fn records(&self) -> impl Iterator<Item = &Record> {
        self.rrsets.values().flatten()
    }

    fn new(zone_id: Uuid, origin: Name, serial: u32, soa: Record, records: Vec<Record>) -> Self {
        let mut rrsets: BTreeMap<(Name, WireType), Vec<Record>> = BTreeMap::new();
        for record in records {
            rrsets
                .entry((record.name.clone(), record.record_type()))
                .or_default()
                .push(record);
        }
        let names = rrsets.keys().map(|(n, _)| n.clone()).chain([origin.clone()]).collect();
        Self {
            zone_id,
            origin,
            serial,
            soa,
            rrsets,
            names,
        }
    }
}

/// Why a zone could not be served.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The read models could not be read (transient).
    #[error(transparent)]
    Read(#[from] ReadError),
    /// A stored value of the zone cannot be put on the wire: the zone fails at this serial.
    #[error("zone {zone} cannot be served at serial {serial}: {reason}")]
    Unservable {
        /// The zone's name.
        zone: String,
        /// The serial.
        serial: u32,
        /// What cannot be served.
        reason: String,
    },
}

/// One IXFR step, as wire records.
#[derive(Debug, Clone)]
pub struct Step {
    /// Serial before.
    pub prev_serial: u32,
    /// Serial after.
    pub serial: u32,
    /// Removed records.
    pub removed: Vec<Record>,
    /// Added records.
    pub added: Vec<Record>,
}

/// Reads zones from the read models, with a snapshot cache.
pub struct ZoneSource {
    read: ReadModels,
    cache: Mutex<HashMap<(Uuid, u32), Arc<Snapshot>>>,
    /// Zones whose snapshot failed to build, with the serial and why: their SOA is not answered either,
    /// so no server takes a serial mdns cannot transfer.
    unservable: Mutex<HashMap<Uuid, (u32, String)>>,
    unservable_total: AtomicU64,
}

impl ZoneSource {
    /// A source over the read models.
    pub fn new(read: ReadModels) -> Self {
        Self {
            read,
            cache: Mutex::new(HashMap::new()),
            unservable: Mutex::new(HashMap::new()),
            unservable_total: AtomicU64::new(0),
        }
    }

    /// How many times a zone was found unservable since start.
    pub fn unservable_total(&self) -> u64 {
        self.unservable_total.load(Ordering::Relaxed)
    }

    /// The served zone that is the closest enclosing zone of `qname` (zones being deleted are not served).
    pub async fn find_zone(&self, qname: &Name) -> Result<Option<ZoneHead>, SourceError> {
        let mut candidates = Vec::new();
        let mut name = qname.clone();
        name.set_fqdn(true);
        while name.num_labels() >= 2 {
            candidates.push(name.to_ascii().to_lowercase());
            name = name.base_name();
        }
        Ok(self.read.enclosing_zone(&candidates).await?)
    }

    /// Why the zone cannot be served at its current serial, if a snapshot of it failed to build.
    pub fn unservable_reason(&self, zone: &ZoneHead) -> Option<String> {
        let unservable = self.unservable.lock().unwrap_or_else(|p| p.into_inner());
        unservable
            .get(&zone.id)
            .filter(|(serial, _)| *serial == zone.serial)
            .map(|(_, reason)| reason.clone())
    }

    /// The zone's SOA at its serial, unless the zone cannot be served at that serial.
    pub fn soa(&self, zone: &ZoneHead) -> Result<Record, SourceError> {
        if let Some(reason) = self.unservable_reason(zone) {
            return Err(SourceError::Unservable {
                zone: zone.name.clone(),
                serial: zone.serial,
                reason,
            });
        }
        records::soa(zone, zone.serial).map_err(|e| self.fail(zone, format!("{e:#}")))
    }

    /// The zone's snapshot at its current serial (one consistent read, then cached).
    pub async fn snapshot(&self, zone_id: Uuid) -> Result<Option<Arc<Snapshot>>, SourceError> {
        let read = self
            .read
            .zone_snapshot(zone_id, |zone| self.cached(zone.id, zone.serial).is_some())
            .await?;
        let Some((zone, recordsets)) = read else {
            return Ok(None);
        };
        let Some(recordsets) = recordsets else {
            if let Some(hit) = self.cached(zone.id, zone.serial) {
                return Ok(Some(hit));
            }
            // Evicted between the check and now: read again.
            return Box::pin(self.snapshot(zone_id)).await;
        };
        let snapshot = match build(&zone, &recordsets) {
            Ok(snapshot) => Arc::new(snapshot),
            Err(reason) => return Err(self.fail(&zone, reason)),
        };
        self.forget_failure(&zone);
        self.store(snapshot.clone());
        Ok(Some(snapshot))
    }

    /// Records that the zone cannot be served at its serial: logged the first time, counted always.
    fn fail(&self, zone: &ZoneHead, reason: String) -> SourceError {
        self.unservable_total.fetch_add(1, Ordering::Relaxed);
        let mut unservable = self.unservable.lock().unwrap_or_else(|p| p.into_inner());
        let first = unservable
            .get(&zone.id)
            .is_none_or(|(serial, _)| *serial != zone.serial);
        if first {
            error!(zone = %zone.name, zone_id = %zone.id, serial = zone.serial, %reason, "mdns cannot serve this zone at this serial; other zones are not affected");
            if unservable.len() >= UNSERVABLE_MAX {
                unservable.clear();
            }
            unservable.insert(zone.id, (zone.serial, reason.clone()));
        }
        SourceError::Unservable {
            zone: zone.name.clone(),
            serial: zone.serial,
            reason,
        }
    }

    fn forget_failure(&self, zone: &ZoneHead) {
        self.unservable
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&zone.id);
    }

    fn cached(&self, zone_id: Uuid, serial: u32) -> Option<Arc<Snapshot>> {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(zone_id, serial))
            .cloned()
    }

    fn store(&self, snapshot: Arc<Snapshot>) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_MAX {
            // Older serials of the same zone are useless; beyond that, forget everything (cheap to reload).
            cache.retain(|(id, _), _| *id != snapshot.zone_id);
            if cache.len() >= CACHE_MAX {
                cache.clear();
            }
        }
        cache.retain(|(id, serial), _| *id != snapshot.zone_id || *serial == snapshot.serial);
        cache.insert((snapshot.zone_id, snapshot.serial), snapshot);
    }

    /// The journal from `from_serial` to the zone's current serial as wire records, or `None` if it
    /// does not reach back to `from_serial`, or holds a record mdns cannot serve (then a full transfer is
    /// the answer: a removed record older validation let through says nothing about the zone's data now).
    pub async fn journal(&self, zone: &ZoneHead, from_serial: u32) -> Result<Option<Vec<Step>>, SourceError> {
        let Some(steps) = self.read.journal_since(zone, from_serial).await? else {
            return Ok(None);
        };
        let wire = |entries: &[JournalRecord]| -> Result<Vec<Record>, String> {
            entries
                .iter()
                .map(|entry| {
                    let data = RecordData::parse(entry.rtype, &entry.data)
                        .map_err(|e| format!("journal record {} {} {:?}: {e}", entry.name, entry.rtype, entry.data))?;
                    let owner = records::name(&entry.name).map_err(|e| format!("{e:#}"))?;
                    records::record(owner, entry.ttl, &data).map_err(|e| format!("{e:#}"))
                })
                .collect()
        };
        let mut out = Vec::with_capacity(steps.len());
        for step in steps {
            let (removed, added) = match (wire(&step.removed), wire(&step.added)) {
                (Ok(removed), Ok(added)) => (removed, added),
                (Err(reason), _) | (_, Err(reason)) => {
                    warn!(zone = %zone.name, from_serial, %reason, "the journal holds a record mdns cannot serve; sending a full transfer instead");
                    return Ok(None);
                }
            };
            out.push(Step {
                prev_serial: step.prev_serial,
                serial: step.serial,
                removed,
                added,
            });
        }
        Ok(Some(out))
    }

    /// Zones of a pool that its catalog lists, and the catalog's serial.
    pub async fn catalog_members(&self, pool_id: Uuid) -> Result<(u32, Vec<(Uuid, String)>), SourceError> {
        Ok(self.read.catalog_members(pool_id).await?)
    }
}

/// Builds a zone's snapshot from its stored record sets, or says which value cannot be served.
fn build(zone: &ZoneHead, recordsets: &[ServedRecordset]) -> Result<Snapshot, String> {
    let origin = records::name(&zone.name).map_err(|e| format!("{e:#}"))?;
    let soa = records::soa(zone, zone.serial).map_err(|e| format!("{e:#}"))?;
    let mut all = Vec::with_capacity(recordsets.len());
    for rs in recordsets {
        let owner = records::name(&rs.name).map_err(|e| format!("{e:#}"))?;
        let ttl = rs.ttl.unwrap_or(zone.ttl);
        for text in &rs.records {
            let data = RecordData::parse(rs.rtype, text)
                .map_err(|e| format!("record {} {} {text:?}: {e}", rs.name, rs.rtype))?;
            all.push(records::record(owner.clone(), ttl, &data).map_err(|e| format!("{e:#}"))?);
        }
    }
    Ok(Snapshot::new(zone.id, origin, zone.serial, soa, all))
}

/// The catalog zone of a pool (RFC 9432 version 2): SOA, `NS invalid.`, `version TXT "2"`, and a PTR
/// per member zone at `<zone id>.zones.<catalog>`. A member whose name cannot be put on the wire (only
/// possible for data stored before validation matched the wire) is left out and logged; the catalog and
/// every other member are still served.
pub fn catalog_snapshot(fqdn: &str, refresh: u32, serial: u32, members: &[(Uuid, String)]) -> anyhow::Result<Snapshot> {
    let origin = records::name(fqdn).context("bad catalog name")?;
    let (soa, ns) = records::catalog_apex(&origin, serial, refresh)?;
    let catalog_labels: Vec<Vec<u8>> = origin.iter().map(<[u8]>::to_vec).collect();
    let at = |prefix: &[&[u8]]| -> anyhow::Result<Name> {
        let labels = prefix.iter().map(|l| l.to_vec()).chain(catalog_labels.iter().cloned());
        let mut name = Name::from_labels(labels)?;
        name.set_fqdn(true);
        Ok(name)
    };
    let mut all = vec![ns];
    let mut version = Record::from_rdata(at(&[b"version"])?, 0, RData::TXT(rdata::TXT::from_bytes(vec![b"2"])));
    version.dns_class = DNSClass::IN;
    all.push(version);
    for (id, name) in members {
        let member = match records::name(name) {
            Ok(member) => member,
            Err(e) => {
                warn!(zone = %name, zone_id = %id, error = format!("{e:#}"), "a catalog member cannot be put on the wire; left out");
                continue;
            }
        };
        let id = id.simple().to_string();
        let mut ptr = Record::from_rdata(at(&[id.as_bytes(), b"zones"])?, 0, RData::PTR(rdata::PTR(member)));
        ptr.dns_class = DNSClass::IN;
        all.push(ptr);
    }
    Ok(Snapshot::new(Uuid::nil(), origin, serial, soa, all))
}
