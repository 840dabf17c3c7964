//! Zone snapshots for mdns: one zone at one serial, read from the read models in one REPEATABLE READ
//! transaction (so a transfer never mixes two versions), turned into wire records, and cached per
//! (zone, serial). Catalog zones (RFC 9432, version 2) are synthesised the same way.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use deadpool_postgres::Pool as PgPool;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::BinEncodable as _;
use hickory_proto::serialize::txt::Parser;
use nsplane_schema::event::{email_to_rname, SoaTimers};
use uuid::Uuid;

/// Snapshots kept in memory.
const CACHE_MAX: usize = 1024;

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
    pub rrsets: BTreeMap<(Name, RecordType), Vec<Record>>,
    /// Owner names present (for NXDOMAIN versus NODATA).
    pub names: std::collections::HashSet<Name>,
}

impl Snapshot {
    /// All records of the zone except the SOA, in a stable order.
    pub fn records(&self) -> impl Iterator<Item = &Record> {
        self.rrsets.values().flatten()
    }
}

/// The zone header mdns needs to render an SOA.
#[derive(Debug, Clone)]
pub struct ZoneHead {
    /// Zone id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Current serial.
    pub serial: u32,
    /// Default TTL.
    pub ttl: u32,
    /// The pool that serves it.
    pub pool_id: Uuid,
    mname: String,
    email: String,
    timers: SoaTimers,
}

impl ZoneHead {
    /// The SOA record at a serial.
    pub fn soa_record(&self, serial: u32) -> anyhow::Result<Record> {
        let origin = Name::from_ascii(&self.name).context("bad zone name")?;
        parse_lines(&origin, &self.soa_line(serial))?
            .remove(&(origin, RecordType::SOA))
            .and_then(|mut v| v.pop())
            .context("the SOA did not parse")
    }

    /// The SOA line at a serial, in zone-file syntax.
    pub fn soa_line(&self, serial: u32) -> String {
        format!(
            "{} {} IN SOA {} {} {} {} {} {} {}",
            self.name,
            self.ttl,
            self.mname,
            email_to_rname(&self.email),
            serial,
            self.timers.refresh,
            self.timers.retry,
            self.timers.expire,
            self.timers.minimum
        )
    }
}

/// SPF (type 99): hickory knows no such type, so it is served as an unknown type with TXT's wire form.
const SPF: RecordType = RecordType::Unknown(99);

fn record_type(name: &str) -> anyhow::Result<RecordType> {
    if name == "SPF" {
        return Ok(SPF);
    }
    name.parse().with_context(|| format!("bad record type {name:?}"))
}

/// Record data from its (validated) presentation form.
fn rdata(rtype: RecordType, data: &str) -> anyhow::Result<RData> {
    if rtype == SPF {
        let txt = RData::try_from_str(RecordType::TXT, data)
            .with_context(|| format!("stored SPF data {data:?} did not parse"))?;
        let wire = txt
            .to_bytes()
            .map_err(|e| anyhow::anyhow!("failed to encode SPF data: {e}"))?;
        return Ok(RData::Unknown {
            code: SPF,
            rdata: hickory_proto::rr::rdata::NULL::with(wire),
        });
    }
    RData::try_from_str(rtype, data).with_context(|| format!("stored {rtype} data {data:?} did not parse"))
}

/// Parses zone-file lines (`owner ttl IN type data`) into records, grouped by owner and type.
pub fn parse_lines(origin: &Name, lines: &str) -> anyhow::Result<BTreeMap<(Name, RecordType), Vec<Record>>> {
    let text = format!("$ORIGIN {}\n{lines}", origin.to_ascii());
    let (_, sets) = Parser::new(text, None, Some(origin.clone()))
        .parse()
        .context("stored record data did not parse")?;
    let mut out: BTreeMap<(Name, RecordType), Vec<Record>> = BTreeMap::new();
    for (_, set) in sets {
        for record in set {
            out.entry((record.name.clone(), record.record_type()))
                .or_default()
                .push(record);
        }
    }
    Ok(out)
}

/// Reads zones from the read models, with a snapshot cache.
pub struct ZoneSource {
    pg: PgPool,
    cache: Mutex<HashMap<(Uuid, u32), Arc<Snapshot>>>,
}

/// A read-only transaction that sees one snapshot for all its statements.
async fn snapshot_transaction(
    client: &mut deadpool_postgres::Object,
) -> anyhow::Result<deadpool_postgres::Transaction<'_>> {
    client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .context("failed to begin a snapshot")
}

fn timer(row: &tokio_postgres::Row, idx: usize) -> u32 {
    u32::try_from(row.get::<_, i32>(idx)).unwrap_or(0)
}

fn head(row: &tokio_postgres::Row) -> ZoneHead {
    ZoneHead {
        id: row.get(0),
        name: row.get(1),
        serial: u32::try_from(row.get::<_, i64>(2)).unwrap_or(0),
        ttl: u32::try_from(row.get::<_, i32>(3)).unwrap_or(0),
        pool_id: row.get(10),
        mname: row.get(4),
        email: row.get(5),
        timers: SoaTimers {
            refresh: timer(row, 6),
            retry: timer(row, 7),
            expire: timer(row, 8),
            minimum: timer(row, 9),
        },
    }
}

const HEAD_COLUMNS: &str = "id, name, serial, ttl, mname, email, refresh, retry, expire, minimum, pool_id";

impl ZoneSource {
    /// A source over a PostgreSQL pool.
    pub fn new(pg: PgPool) -> Self {
        Self {
            pg,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The pool to read from.
    pub fn pg(&self) -> &PgPool {
        &self.pg
    }

    /// The served zone that is the closest enclosing zone of `qname` (zones being deleted are not served).
    pub async fn find_zone(&self, qname: &Name) -> anyhow::Result<Option<ZoneHead>> {
        let mut candidates = Vec::new();
        let mut name = qname.clone();
        name.set_fqdn(true);
        while name.num_labels() >= 2 {
            candidates.push(name.to_ascii().to_lowercase());
            name = name.base_name();
        }
        if candidates.is_empty() {
            return Ok(None);
        }
        let client = self.pg.get().await.context("postgres unavailable")?;
        let sql = format!(
            "SELECT {HEAD_COLUMNS} FROM zones WHERE name = ANY($1) AND action <> 'DELETE' ORDER BY length(name) DESC LIMIT 1"
        );
        let row = client
            .query_opt(&sql, &[&candidates])
            .await
            .context("failed to find a zone")?;
        Ok(row.as_ref().map(head))
    }

    /// The zone's snapshot at its current serial (one consistent read, then cached).
    pub async fn snapshot(&self, zone_id: Uuid) -> anyhow::Result<Option<Arc<Snapshot>>> {
        let mut client = self.pg.get().await.context("postgres unavailable")?;
        let txn = snapshot_transaction(&mut client).await?;
        let sql = format!("SELECT {HEAD_COLUMNS} FROM zones WHERE id = $1 AND action <> 'DELETE'");
        let Some(row) = txn.query_opt(&sql, &[&zone_id]).await? else {
            return Ok(None);
        };
        let zone = head(&row);
        if let Some(hit) = self.cached(zone.id, zone.serial) {
            return Ok(Some(hit));
        }
        let rows = txn
            .query(
                "SELECT name, type, ttl, records FROM recordsets WHERE zone_id = $1 AND type <> 'SOA'",
                &[&zone_id],
            )
            .await?;
        txn.commit().await?;
        // Records are built directly from their data (the zone-file parser is several times slower).
        let origin = Name::from_ascii(&zone.name).context("bad zone name")?;
        let soa = zone.soa_record(zone.serial)?;
        let mut rrsets: BTreeMap<(Name, RecordType), Vec<Record>> = BTreeMap::new();
        for row in &rows {
            let (name, rtype, ttl, records): (String, String, Option<i32>, Vec<String>) =
                (row.get(0), row.get(1), row.get(2), row.get(3));
            let ttl = ttl.map(|t| u32::try_from(t).unwrap_or(0)).unwrap_or(zone.ttl);
            let owner = Name::from_ascii(&name).with_context(|| format!("bad owner name {name:?}"))?;
            let rtype = record_type(&rtype)?;
            let set = rrsets.entry((owner.clone(), rtype)).or_default();
            for data in records {
                let rdata = rdata(rtype, &data)?;
                let mut record = Record::from_rdata(owner.clone(), ttl, rdata);
                record.dns_class = DNSClass::IN;
                set.push(record);
            }
        }
        let names = rrsets.keys().map(|(n, _)| n.clone()).chain([origin.clone()]).collect();
        let snapshot = Arc::new(Snapshot {
            zone_id: zone.id,
            origin,
            serial: zone.serial,
            soa,
            rrsets,
            names,
        });
        self.store(snapshot.clone());
        Ok(Some(snapshot))
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

    /// The journal from `from_serial` to the zone's current serial: each step's `(prev serial, serial,
    /// removed lines, added lines)`, or `None` if the journal does not reach back to `from_serial`.
    pub async fn journal(&self, zone: &ZoneHead, from_serial: u32) -> anyhow::Result<Option<Vec<Step>>> {
        let client = self.pg.get().await.context("postgres unavailable")?;
        let rows = client
            .query(
                "SELECT serial, prev_serial, op, name, type, ttl, data FROM zone_journal \
                 WHERE zone_id = $1 AND serial > $2 ORDER BY serial, seq",
                &[&zone.id, &i64::from(from_serial)],
            )
            .await
            .context("failed to read the zone journal")?;
        let mut steps: Vec<Step> = Vec::new();
        for row in &rows {
            let serial = u32::try_from(row.get::<_, i64>(0)).unwrap_or(0);
            let prev = u32::try_from(row.get::<_, i64>(1)).unwrap_or(0);
            if steps.last().is_none_or(|s| s.serial != serial) {
                steps.push(Step {
                    prev_serial: prev,
                    serial,
                    removed: Vec::new(),
                    added: Vec::new(),
                });
            }
            let op: String = row.get(2);
            if op == "=" {
                continue;
            }
            let entry = (
                row.get::<_, String>(3),
                row.get::<_, String>(4),
                row.get::<_, i32>(5),
                row.get::<_, String>(6),
            );
            if let Some(step) = steps.last_mut() {
                if op == "-" {
                    step.removed.push(entry);
                } else {
                    step.added.push(entry);
                }
            }
        }
        // The steps must chain from the client's serial to the current one without a gap.
        let mut at = from_serial;
        for step in &steps {
            if step.prev_serial != at {
                return Ok(None);
            }
            at = step.serial;
        }
        Ok((at == zone.serial).then_some(steps))
    }

    /// Zones of a pool that its catalog lists, and the catalog's serial.
    pub async fn catalog_members(&self, pool_id: Uuid) -> anyhow::Result<(u32, Vec<(Uuid, String)>)> {
        let mut client = self.pg.get().await.context("postgres unavailable")?;
        let txn = snapshot_transaction(&mut client).await?;
        let serial = txn
            .query_opt("SELECT serial FROM pool_catalogs WHERE pool_id = $1", &[&pool_id])
            .await?
            .map(|r| u32::try_from(r.get::<_, i64>(0)).unwrap_or(1))
            .unwrap_or(1);
        let rows = txn
            .query(
                "SELECT id, name FROM zones WHERE pool_id = $1 AND action <> 'DELETE' ORDER BY id",
                &[&pool_id],
            )
            .await?;
        txn.commit().await?;
        Ok((serial, rows.iter().map(|r| (r.get(0), r.get(1))).collect()))
    }
}

/// One journal record: `(owner, type, ttl, data)`.
pub type JournalEntry = (String, String, i32, String);

/// Wire records of journal entries.
pub fn journal_records(entries: &[JournalEntry]) -> anyhow::Result<Vec<Record>> {
    entries
        .iter()
        .map(|(name, rtype, ttl, data)| {
            let owner = Name::from_ascii(name).with_context(|| format!("bad owner name {name:?}"))?;
            let mut record = Record::from_rdata(
                owner,
                u32::try_from(*ttl).unwrap_or(0),
                rdata(record_type(rtype)?, data)?,
            );
            record.dns_class = DNSClass::IN;
            Ok(record)
        })
        .collect()
}

/// One IXFR step.
#[derive(Debug, Clone)]
pub struct Step {
    /// Serial before.
    pub prev_serial: u32,
    /// Serial after.
    pub serial: u32,
    /// Removed records: `(owner, type, ttl, data)`.
    pub removed: Vec<JournalEntry>,
    /// Added records.
    pub added: Vec<JournalEntry>,
}

/// Builds a snapshot from zone-file lines whose first line is the SOA.
pub fn build(zone_id: Uuid, origin: Name, serial: u32, lines: &str) -> anyhow::Result<Snapshot> {
    let mut rrsets = parse_lines(&origin, lines)?;
    let soa = rrsets
        .remove(&(origin.clone(), RecordType::SOA))
        .and_then(|mut v| v.pop())
        .context("the zone has no SOA")?;
    let names = rrsets.keys().map(|(n, _)| n.clone()).chain([origin.clone()]).collect();
    Ok(Snapshot {
        zone_id,
        origin,
        serial,
        soa,
        rrsets,
        names,
    })
}

/// The catalog zone of a pool (RFC 9432 version 2): SOA, `NS invalid.`, `version TXT "2"`, and a PTR
/// per member zone at `<zone id>.zones.<catalog>`.
pub fn catalog_snapshot(fqdn: &str, refresh: u32, serial: u32, members: &[(Uuid, String)]) -> anyhow::Result<Snapshot> {
    let origin = Name::from_ascii(fqdn).context("bad catalog name")?;
    let mut lines = format!(
        "{fqdn} 0 IN SOA invalid. hostmaster.invalid. {serial} {refresh} {refresh} 604800 0\n{fqdn} 0 IN NS invalid.\nversion.{fqdn} 0 IN TXT \"2\"\n"
    );
    for (id, name) in members {
        lines.push_str(&format!("{}.zones.{fqdn} 0 IN PTR {name}\n", id.simple()));
    }
    build(Uuid::nil(), origin, serial, &lines)
}
