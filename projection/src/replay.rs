//! Rebuilding the read models from the event stream into a shadow schema while the live ones keep
//! serving, and comparing the two.
//!
//! Replay applies every commit in stream order with central's own code ([`apply_batch`]) to a schema of
//! its own, so the rebuilt models are what central would build. It has no side effects: zone-change
//! messages are central's to publish after a batch, and replay publishes nothing. It resumes where it
//! stopped, even after `kill -9`: a batch is one transaction, and the shadow's `projection_versions`
//! say how far it got.
//!
//! Verification compares the shadow and the live models group by group (a zone, an aggregate, a
//! project's quotas, or a whole table), by digest first and then row by row where digests differ, and
//! only where both hold the same version of the group's aggregate: a zone that changed on the live side
//! meanwhile is caught up once more, then reported as moving rather than as a difference.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_nats::jetstream::{self, consumer::DeliverPolicy};
use deadpool_postgres::Pool;
use futures::StreamExt as _;
use nsplane_runtime::NatsConfig;
use nsplane_schema::{Layout, RawCommit};
use serde::Serialize;
use tracing::info;

use crate::apply::{apply_batch, Delivered, Outcome};
use crate::db::PgConfig;
use crate::projectors::Projectors;

/// What to replay, and where to.
#[derive(Debug, Clone)]
pub struct ReplayConfig {
    /// NATS.
    pub nats: NatsConfig,
    /// PostgreSQL (the live read models are in its default schema).
    pub pg: PgConfig,
    /// Stream names.
    pub layout: Layout,
    /// The schema the live read models are in.
    pub live_schema: String,
    /// The schema to rebuild into.
    pub shadow_schema: String,
    /// Commits per transaction.
    pub batch: usize,
    /// Only this zone's commits.
    pub zone: Option<String>,
}

/// What a replay did.
#[derive(Debug, Clone, Serialize)]
pub struct Replayed {
    /// The shadow's position before (0: empty).
    pub resumed_after_seq: u64,
    /// The stream position it reached.
    pub reached_seq: u64,
    /// Commits applied now.
    pub commits: u64,
    /// Events in them.
    pub events: u64,
    /// Seconds spent.
    pub seconds: f64,
}

/// A shadow schema's name must be a plain identifier: it is spliced into statements.
fn check_schema(name: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        !name.is_empty()
            && name.len() <= 63
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit()),
        "schema name {name:?}: use lowercase letters, digits and _ (at most 63, not starting with a digit)"
    );
    Ok(())
}

/// A pool whose connections see only `schema`.
fn pool_in(pg: &PgConfig, schema: &str) -> anyhow::Result<Pool> {
    pool_with(pg, schema, "")
}

/// A pool whose connections see only `schema`, with more `-c` settings.
fn pool_with(pg: &PgConfig, schema: &str, settings: &str) -> anyhow::Result<Pool> {
    check_schema(schema)?;
    let mut config: tokio_postgres::Config = pg.url.parse().context("bad postgres url")?;
    config.options(format!("-c search_path={schema} {settings}"));
    let manager = deadpool_postgres::Manager::from_config(
        config,
        tokio_postgres::NoTls,
        deadpool_postgres::ManagerConfig {
            recycling_method: deadpool_postgres::RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(2)
        .build()
        .context("failed to build the postgres pool")
}

/// The shadow schema for a config: the one given, with the zone appended for a one-zone replay.
pub fn shadow_of(config: &ReplayConfig) -> String {
    match &config.zone {
        Some(zone) => format!("{}_{}", config.shadow_schema, zone.replace('-', "")),
        None => config.shadow_schema.clone(),
    }
}

/// Drops the shadow schema (to start over).
pub async fn drop_shadow(config: &ReplayConfig) -> anyhow::Result<()> {
    let shadow = shadow_of(config);
    let pool = pool_in(&config.pg, &shadow)?;
    let client = pool.get().await.context("failed to connect to postgres")?;
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {shadow} CASCADE"))
        .await
        .with_context(|| format!("failed to drop schema {shadow}"))?;
    Ok(())
}

/// Replays the stream into the shadow schema (created and migrated if needed) from where it stopped
/// up to the stream's end as it is now. `progress(done, total)` is called after every batch.
pub async fn replay(config: &ReplayConfig, mut progress: impl FnMut(u64, u64)) -> anyhow::Result<Replayed> {
    let started = Instant::now();
    let shadow = shadow_of(config);
    // A transaction of the shadow lost to a crash of PostgreSQL is replayed again (its position goes
    // with it): no need to wait for each one to be flushed.
    let pool = pool_with(
        &config.pg,
        &shadow,
        "-c synchronous_commit=off -c maintenance_work_mem=256MB",
    )?;
    {
        let client = pool.get().await.context("failed to connect to postgres")?;
        client
            .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {shadow}"))
            .await
            .with_context(|| format!("failed to create schema {shadow}"))?;
    }
    crate::db::migrate(&pool)
        .await
        .context("failed to migrate the shadow schema")?;
    let mut conn = pool.get().await.context("failed to connect to postgres")?;
    let resumed: i64 = conn
        .query_one("SELECT coalesce(max(stream_seq), 0) FROM projection_versions", &[])
        .await
        .context("failed to read the shadow's position")?
        .get(0);
    let resumed = u64::try_from(resumed).unwrap_or(0);
    if resumed == 0 {
        begin_bulk(&mut conn, &shadow).await?;
    }
    let client = nsplane_runtime::connect(&config.nats, "nsplane-replay").await?;
    let js = jetstream::new(client);
    let stream = js
        .get_stream(config.layout.events_stream())
        .await
        .context("failed to open the event stream")?;
    let filter = match &config.zone {
        Some(zone) => config.layout.events_subject(nsplane_schema::zone::ZONE_AGGREGATE, zone),
        None => config.layout.all_events(),
    };
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::OrderedConfig {
            filter_subject: filter,
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: resumed + 1,
            },
            ..Default::default()
        })
        .await
        .context("failed to create the replay reader")?;
    let total = consumer.cached_info().num_pending;
    let reader_name = consumer.cached_info().name.clone();
    let mut replayed = Replayed {
        resumed_after_seq: resumed,
        reached_seq: resumed,
        commits: 0,
        events: 0,
        seconds: 0.0,
    };
    if total == 0 {
        progress(0, 0);
        finish_bulk(&mut conn).await?;
        replayed.seconds = started.elapsed().as_secs_f64();
        return Ok(replayed);
    }
    let projectors = Projectors::standard();
    let chunks = consumer
        .messages()
        .await
        .context("failed to read the stream")?
        .ready_chunks(config.batch.max(1));
    // Commits are read and decoded while the batch before them is written.
    let (batches, mut decoded) = tokio::sync::mpsc::channel(2);
    let reader = tokio::spawn(read_batches(chunks, batches));
    while replayed.commits < total {
        let batch = decoded.recv().await.context("the stream reader ended")??;
        let outcomes = apply_batch(&mut conn, &projectors, &batch).await?;
        for (delivered, outcome) in batch.iter().zip(&outcomes) {
            match outcome {
                Outcome::Applied | Outcome::AlreadyApplied => {}
                Outcome::Gap { projected } => anyhow::bail!(
                    "commit at stream seq {} is version {} of {} {}, but the shadow holds version {projected}: \
                     the stream is missing commits (was it purged?)",
                    delivered.stream_seq,
                    delivered.commit.version,
                    delivered.commit.aggregate_type,
                    delivered.commit.aggregate_id
                ),
                Outcome::UnknownKind => anyhow::bail!(
                    "no projector for {} commits (stream seq {}): this build is older than the writer",
                    delivered.commit.aggregate_type,
                    delivered.stream_seq
                ),
            }
            replayed.events += delivered.commit.events.len() as u64;
        }
        replayed.commits += batch.len() as u64;
        replayed.reached_seq = batch.last().map_or(replayed.reached_seq, |d| d.stream_seq);
        if nsplane_runtime::failpoint::armed("replay.crash") {
            // As `kill -9` would: no cleanup, the batch above committed, the rest not.
            std::process::abort();
        }
        // A batch may bring commits stored after the replay began: they are applied too.
        progress(replayed.commits, total.max(replayed.commits));
    }
    drop(decoded);
    reader.abort();
    // The server would keep it for 30 s; nats-server 2.15 allows 1,000 consumers per stream.
    if let Err(e) = stream.delete_consumer(&reader_name).await {
        tracing::debug!(consumer = reader_name, error = %e, "could not delete the replay reader");
    }
    finish_bulk(&mut conn).await?;
    replayed.seconds = started.elapsed().as_secs_f64();
    info!(
        commits = replayed.commits,
        reached_seq = replayed.reached_seq,
        seconds = replayed.seconds,
        "replay done"
    );
    Ok(replayed)
}

/// Reads the stream in chunks, decodes them and hands them on, until the receiver goes away.
async fn read_batches(
    mut chunks: impl futures::Stream<Item = Vec<Result<jetstream::Message, async_nats::jetstream::consumer::pull::OrderedError>>>
        + Unpin,
    batches: tokio::sync::mpsc::Sender<anyhow::Result<Vec<Delivered>>>,
) {
    loop {
        let batch = async {
            let chunk = tokio::time::timeout(Duration::from_secs(30), chunks.next())
                .await
                .context("the stream stopped answering")?
                .context("the stream reader ended")?;
            let mut batch = Vec::with_capacity(chunk.len());
            for message in chunk {
                let message = message.map_err(|e| anyhow::anyhow!("failed to read a commit: {e}"))?;
                let seq = message
                    .info()
                    .map_err(|e| anyhow::anyhow!("bad message info: {e}"))?
                    .stream_sequence;
                let commit = RawCommit::decode(&message.payload)
                    .with_context(|| format!("undecodable commit at stream seq {seq}"))?;
                batch.push(Delivered {
                    stream_seq: seq,
                    commit,
                });
            }
            Ok(batch)
        }
        .await;
        let failed = batch.is_err();
        if batches.send(batch).await.is_err() || failed {
            return;
        }
    }
}

/// Indexes the projection's own statements need while they apply commits (a synced zone's record sets
/// are found by zone): kept during a bulk replay.
const NEEDED_WHILE_APPLYING: [&str; 1] = ["recordsets_zone"];

/// Starts the bulk load of an empty shadow: the indexes only readers use are dropped, to be built once
/// at the end (one sorted build costs a fraction of a million single inserts), and autovacuum leaves
/// the tables alone while they fill. Their definitions are kept in the shadow (`replay_deferred_indexes`)
/// in the same transaction, so a replay resumed after `kill -9` still builds them.
async fn begin_bulk(conn: &mut deadpool_postgres::Object, shadow: &str) -> anyhow::Result<()> {
    let txn = conn.transaction().await.context("failed to begin")?;
    txn.batch_execute(
        "CREATE TABLE IF NOT EXISTS replay_deferred_indexes (name text PRIMARY KEY, definition text NOT NULL)",
    )
    .await
    .context("failed to prepare the bulk load")?;
    let needed: Vec<&str> = NEEDED_WHILE_APPLYING.to_vec();
    let deferred = txn
        .query(
            "INSERT INTO replay_deferred_indexes (name, definition) \
             SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i \
             JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND NOT i.indisunique AND NOT i.indisprimary AND c.relname <> ALL($2) \
             ON CONFLICT DO NOTHING RETURNING name",
            &[&shadow, &needed],
        )
        .await
        .context("failed to list the shadow's indexes")?;
    let mut statements = String::new();
    for row in &deferred {
        let name: String = row.get(0);
        check_schema(&name)?;
        statements.push_str(&format!("DROP INDEX {shadow}.{name};"));
    }
    for spec in &TABLES {
        statements.push_str(&format!(
            "ALTER TABLE {shadow}.{} SET (autovacuum_enabled = false);",
            spec.table
        ));
    }
    txn.batch_execute(&statements)
        .await
        .context("failed to drop the shadow's read indexes")?;
    txn.commit().await.context("failed to commit")?;
    info!(
        deferred = deferred.len(),
        "bulk load: read indexes are built at the end"
    );
    Ok(())
}

/// Ends a bulk load, if one is under way: builds the deferred indexes, gives the tables back to
/// autovacuum and analyses them, in one transaction.
async fn finish_bulk(conn: &mut deadpool_postgres::Object) -> anyhow::Result<()> {
    let under_way: bool = conn
        .query_one("SELECT to_regclass('replay_deferred_indexes') IS NOT NULL", &[])
        .await
        .context("failed to read the shadow's state")?
        .get(0);
    if !under_way {
        return Ok(());
    }
    let started = Instant::now();
    let txn = conn.transaction().await.context("failed to begin")?;
    let mut statements = String::new();
    for row in txn
        .query("SELECT definition FROM replay_deferred_indexes ORDER BY name", &[])
        .await
        .context("failed to read the deferred indexes")?
    {
        let definition: String = row.get(0);
        statements.push_str(&definition);
        statements.push(';');
    }
    for spec in &TABLES {
        statements.push_str(&format!(
            "ALTER TABLE {} RESET (autovacuum_enabled); ANALYZE {};",
            spec.table, spec.table
        ));
    }
    statements.push_str("DROP TABLE replay_deferred_indexes;");
    txn.batch_execute(&statements)
        .await
        .context("failed to build the shadow's read indexes")?;
    txn.commit().await.context("failed to commit")?;
    info!(
        seconds = started.elapsed().as_secs_f64(),
        "bulk load: read indexes built"
    );
    Ok(())
}

/// A read-model table and what groups its rows.
struct TableSpec {
    table: &'static str,
    /// The column whose value names the group (a zone, an aggregate, a project); `None`: the whole table.
    group: Option<&'static str>,
    /// Columns whose values legitimately differ between two builds of the same history.
    ignore: &'static [&'static str],
}

const TABLES: [TableSpec; 14] = [
    TableSpec {
        table: "zones",
        group: Some("id"),
        ignore: &[],
    },
    TableSpec {
        table: "recordsets",
        group: Some("zone_id"),
        ignore: &[],
    },
    TableSpec {
        table: "zone_shares",
        group: Some("zone_id"),
        ignore: &[],
    },
    TableSpec {
        table: "zone_journal",
        group: Some("zone_id"),
        ignore: &[],
    },
    // When central wrote a row is not part of the history.
    TableSpec {
        table: "audit_events",
        group: Some("aggregate_id"),
        ignore: &["projected_at"],
    },
    TableSpec {
        table: "projection_versions",
        group: Some("aggregate_id"),
        ignore: &[],
    },
    TableSpec {
        table: "quota_overrides",
        group: Some("project_id"),
        ignore: &[],
    },
    TableSpec {
        table: "tlds",
        group: None,
        ignore: &[],
    },
    TableSpec {
        table: "blacklists",
        group: None,
        ignore: &[],
    },
    TableSpec {
        table: "tsigkeys",
        group: None,
        ignore: &[],
    },
    TableSpec {
        table: "zone_exports",
        group: None,
        ignore: &[],
    },
    TableSpec {
        table: "zone_imports",
        group: None,
        ignore: &[],
    },
    TableSpec {
        table: "pools",
        group: None,
        ignore: &[],
    },
    TableSpec {
        table: "pool_catalogs",
        group: None,
        ignore: &[],
    },
];

/// Rows that differ in one group of one table.
#[derive(Debug, Clone, Serialize)]
pub struct Difference {
    /// The table.
    pub table: String,
    /// The group (a zone or aggregate id, a project, or `*` for the whole table).
    pub group: String,
    /// Rows only the live models have (at most 20).
    pub only_live: Vec<String>,
    /// Rows only the shadow has (at most 20).
    pub only_shadow: Vec<String>,
}

/// What a verification found.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Verification {
    /// Groups compared.
    pub groups_compared: u64,
    /// Groups equal.
    pub groups_equal: u64,
    /// Groups not compared because the live side moved on while verifying (table/group).
    pub moving: Vec<String>,
    /// Groups that differ.
    pub differences: Vec<Difference>,
}

impl Verification {
    /// Whether every compared group is equal.
    pub fn equal(&self) -> bool {
        self.differences.is_empty()
    }
}

/// Compares the shadow (as the last replay left it) with the live models.
pub async fn verify(config: &ReplayConfig) -> anyhow::Result<Verification> {
    let shadow = shadow_of(config);
    check_schema(&config.live_schema)?;
    let pool = pool_in(&config.pg, &shadow)?;
    let client = pool.get().await.context("failed to connect to postgres")?;
    let versions = |schema: String| {
        let client = &client;
        async move {
            let rows = client
                .query(
                    &format!(
                        "SELECT aggregate_id, aggregate_type, version FROM {schema}.projection_versions \
                         ORDER BY aggregate_id, aggregate_type"
                    ),
                    &[],
                )
                .await
                .with_context(|| format!("failed to read {schema}.projection_versions"))?;
            // By id, every kind's version: aggregates of two kinds may share an id (the singletons).
            let mut by_id: HashMap<String, Vec<(String, i64)>> = HashMap::new();
            for r in &rows {
                by_id
                    .entry(r.get::<_, String>(0))
                    .or_default()
                    .push((r.get::<_, String>(1), r.get::<_, i64>(2)));
            }
            anyhow::Ok(by_id)
        }
    };
    let live_versions = versions(config.live_schema.clone()).await?;
    let shadow_versions = versions(shadow.clone()).await?;
    if nsplane_runtime::failpoint::armed("replay.pause_verify") {
        // A test changes the live models here: it sees `paused` appear in NSPLANE_FAILPOINT_DIR and
        // writes `resume` when done (at most 30 s).
        let dir = std::path::PathBuf::from(std::env::var("NSPLANE_FAILPOINT_DIR").unwrap_or_default());
        std::fs::write(dir.join("paused"), b"").context("failpoint: cannot write paused")?;
        let until = Instant::now() + Duration::from_secs(30);
        while !dir.join("resume").exists() && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let same_version = |group: &str| live_versions.get(group) == shadow_versions.get(group);
    let all_same = match &config.zone {
        Some(_) => false,
        None => live_versions == shadow_versions,
    };
    let mut found = Verification::default();
    // Groups whose digests differ: judged once the live versions are read again.
    let mut suspects: Vec<(&TableSpec, String, String)> = Vec::new();
    for spec in &TABLES {
        if config.zone.is_some()
            && !matches!(
                spec.table,
                "zones" | "recordsets" | "zone_shares" | "zone_journal" | "audit_events" | "projection_versions"
            )
        {
            continue;
        }
        let columns: Vec<String> = client
            .query(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 \
                 ORDER BY ordinal_position",
                &[&config.live_schema, &spec.table],
            )
            .await
            .context("failed to read a table's columns")?
            .iter()
            .map(|r| r.get::<_, String>(0))
            .filter(|c| !spec.ignore.contains(&c.as_str()))
            .collect();
        anyhow::ensure!(!columns.is_empty(), "no table {}.{}", config.live_schema, spec.table);
        let row = format!("ROW({})::text", columns.join(", "));
        let group = spec.group.map_or("'*'".to_owned(), |g| format!("{g}::text"));
        let only_zone = match (&config.zone, spec.group) {
            (Some(zone), Some(g)) => format!(" WHERE {g}::text = '{}'", zone.replace('\'', "")),
            _ => String::new(),
        };
        let digests = |schema: String| {
            let (client, row, group, only_zone) = (&client, &row, &group, &only_zone);
            async move {
                let sql = format!(
                    "SELECT {group}, md5(string_agg({row}, '|' ORDER BY {row})) FROM {schema}.{table}{only_zone} GROUP BY 1",
                    table = spec.table
                );
                let rows = client
                    .query(&sql, &[])
                    .await
                    .with_context(|| format!("failed to digest {schema}.{}", spec.table))?;
                anyhow::Ok(
                    rows.iter()
                        .map(|r| (r.get::<_, String>(0), r.get::<_, Option<String>>(1).unwrap_or_default()))
                        .collect::<BTreeMap<String, String>>(),
                )
            }
        };
        let live = digests(config.live_schema.clone()).await?;
        let mirror = digests(shadow.clone()).await?;
        let mut groups: Vec<&String> = live.keys().chain(mirror.keys()).collect();
        groups.sort();
        groups.dedup();
        for key in groups {
            let comparable = match spec.group {
                Some(_) => same_version(key),
                None => all_same,
            };
            if !comparable {
                found.moving.push(format!("{}/{key}", spec.table));
                continue;
            }
            if live.get(key) == mirror.get(key) {
                found.groups_compared += 1;
                found.groups_equal += 1;
                continue;
            }
            suspects.push((spec, row.clone(), key.clone()));
        }
    }
    // A group whose live version moved while its digests were taken is moving, not different: every
    // change to a group's rows commits together with its version.
    let live_after = versions(config.live_schema.clone()).await?;
    for (spec, row, key) in suspects {
        let stable = match spec.group {
            Some(_) => live_after.get(&key) == live_versions.get(&key),
            None => live_after == live_versions,
        };
        if !stable {
            found.moving.push(format!("{}/{key}", spec.table));
            continue;
        }
        found.groups_compared += 1;
        let filter = spec.group.map_or(String::new(), |g| format!(" WHERE {g}::text = $1"));
        let rows_only_in = |a: &str, b: &str| {
            let sql = format!(
                "(SELECT {row} AS r FROM {a}.{t}{filter} EXCEPT ALL SELECT {row} FROM {b}.{t}{filter}) ORDER BY 1 LIMIT 20",
                t = spec.table
            );
            let (client, key) = (&client, &key);
            async move {
                let rows = match spec.group {
                    Some(_) => client.query(&sql, &[key]).await,
                    None => client.query(&sql, &[]).await,
                }
                .context("failed to list differing rows")?;
                anyhow::Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect::<Vec<String>>())
            }
        };
        found.differences.push(Difference {
            table: spec.table.to_owned(),
            group: key.clone(),
            only_live: rows_only_in(&config.live_schema, &shadow).await?,
            only_shadow: rows_only_in(&shadow, &config.live_schema).await?,
        });
    }
    Ok(found)
}

/// What a swap did.
#[derive(Debug, Clone, Serialize)]
pub struct Swapped {
    /// The schema the replaced live tables went to (kept for a look back; drop it when done).
    pub retired_schema: String,
    /// Commits replayed into the shadow while the live tables were locked.
    pub caught_up_commits: u64,
    /// How long readers and central waited on the locked tables, in milliseconds.
    pub read_stall_ms: f64,
}

/// Makes the shadow the live read models, in one transaction: locks the live tables (readers and
/// central wait), replays into the shadow what was committed meanwhile, moves the live tables to a
/// retired schema and the shadow's into the live schema. Central then goes on from the stream; commits
/// it delivers again are already in the tables and change nothing. Whole-stream shadows only.
pub async fn swap(config: &ReplayConfig) -> anyhow::Result<Swapped> {
    anyhow::ensure!(
        config.zone.is_none(),
        "a one-zone shadow cannot replace the live models"
    );
    let shadow = shadow_of(config);
    check_schema(&config.live_schema)?;
    let retired = format!(
        "{}_retired_{}",
        config.shadow_schema,
        chrono::Utc::now().format("%Y%m%d%H%M%S")
    );
    check_schema(&retired)?;
    let pool = pool_in(&config.pg, &shadow)?;
    let mut client = pool.get().await.context("failed to connect to postgres")?;
    let mut tables: Vec<&str> = TABLES.iter().map(|t| t.table).collect();
    tables.push("schema_migrations");
    let txn = client.transaction().await.context("failed to begin")?;
    let locked = tables
        .iter()
        .map(|t| format!("{}.{t}", config.live_schema))
        .collect::<Vec<_>>()
        .join(", ");
    // Readers queue behind the lock from the moment it is asked for.
    let stalled_from = Instant::now();
    txn.batch_execute(&format!("LOCK TABLE {locked} IN ACCESS EXCLUSIVE MODE"))
        .await
        .context("failed to lock the live tables")?;
    let caught_up = replay(config, |_, _| {}).await?;
    let mut moves = format!("CREATE SCHEMA {retired};");
    for table in &tables {
        moves.push_str(&format!(
            "ALTER TABLE {live}.{table} SET SCHEMA {retired}; ALTER TABLE {shadow}.{table} SET SCHEMA {live};",
            live = config.live_schema
        ));
    }
    txn.batch_execute(&moves).await.context("failed to move the tables")?;
    txn.commit().await.context("failed to commit the swap")?;
    let swapped = Swapped {
        retired_schema: retired,
        caught_up_commits: caught_up.commits,
        read_stall_ms: stalled_from.elapsed().as_secs_f64() * 1000.0,
    };
    info!(
        retired = %swapped.retired_schema,
        stall_ms = swapped.read_stall_ms,
        "the shadow is now the live read models"
    );
    Ok(swapped)
}
