//! One real nats-server (2.11+) and one real PostgreSQL cluster per test binary, started on first use in
//! a temp dir on free ports, and a fresh [`Namespace`] per test: its own prefix (streams, buckets,
//! consumers) and its own database, so tests never see each other's data.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use nsplane_command::{EventStore, StoreConfig};
use nsplane_projection::PgConfig;
use nsplane_runtime::devmode::{LocalNats, LocalPostgres};
use nsplane_runtime::NatsConfig;
use nsplane_schema::Layout;

/// The servers of a test binary.
pub struct Servers {
    /// nats-server with JetStream.
    pub nats: LocalNats,
    /// PostgreSQL.
    pub postgres: LocalPostgres,
    /// Their temp dir.
    pub dir: PathBuf,
}

static SERVERS: OnceLock<Servers> = OnceLock::new();

/// The shared servers, started on first use. A watchdog stops them when the test process exits
/// (statics are never dropped).
pub fn servers() -> &'static Servers {
    SERVERS.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("nsplane-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let nats = LocalNats::start(&dir.join("nats"), 0).expect("start nats-server 2.11+");
        let postgres = LocalPostgres::start(&dir.join("postgres"), 0).expect("start postgres");
        let pid = std::process::id();
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; kill {nats_pid}; {pg_stop} >/dev/null 2>&1; rm -rf {dir}",
            nats_pid = nats.pid(),
            pg_stop = postgres.shell_stop_command(),
            dir = dir.display(),
        );
        // In its own session, so whatever reaps the test's process group does not take the watchdog too.
        // It outlives this process by design, so it is never waited for.
        #[allow(clippy::zombie_processes)]
        std::process::Command::new("setsid")
            .args(["bash", "-c"])
            .arg(script)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("watchdog");
        Servers { nats, postgres, dir }
    })
}

/// Installs the test log writer once (`RUST_LOG`, default `warn`).
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_test_writer()
        .try_init();
}

/// A fresh namespace: its own prefix (streams, KV, consumers) and its own database.
#[derive(Debug, Clone)]
pub struct Namespace {
    /// The prefix of every name.
    pub prefix: String,
    /// Its database.
    pub database_url: String,
}

/// A new namespace on the shared servers.
pub async fn namespace() -> Namespace {
    init_tracing();
    let servers = servers();
    let id = uuid::Uuid::new_v4().simple().to_string();
    let prefix = format!("t{}", &id[..12]);
    let database_url = servers
        .postgres
        .ensure_database(&prefix)
        .await
        .expect("create database");
    Namespace { prefix, database_url }
}

/// Direct handles on a namespace's NATS and PostgreSQL, for tests that look behind the API.
#[derive(Clone)]
pub struct Shared {
    /// A NATS connection.
    pub client: async_nats::Client,
    /// The event store (streams created).
    pub store: EventStore,
    /// A PostgreSQL pool on the namespace's database (migrations applied).
    pub pool: deadpool_postgres::Pool,
}

impl Namespace {
    /// The namespace's names.
    pub fn layout(&self) -> Layout {
        Layout::new(&self.prefix).expect("test prefix")
    }

    /// NATS settings.
    pub fn nats(&self) -> NatsConfig {
        NatsConfig {
            url: servers().nats.url.clone(),
        }
    }

    /// Event store settings (one replica, two-minute duplicate window).
    pub fn store(&self) -> StoreConfig {
        StoreConfig::new(self.layout())
    }

    /// PostgreSQL settings.
    pub fn pg(&self) -> PgConfig {
        self.pg_of(&self.database_url)
    }

    /// PostgreSQL settings of another database.
    pub fn pg_of(&self, database_url: &str) -> PgConfig {
        PgConfig {
            url: database_url.to_owned(),
            pool_size: 8,
        }
    }

    /// Another database for the same prefix (to project the same stream twice).
    pub async fn second_database(&self, suffix: &str) -> String {
        let name = format!("{}_{suffix}", self.prefix);
        servers()
            .postgres
            .ensure_database(&name)
            .await
            .expect("create database")
    }

    /// Handles on the namespace's NATS and PostgreSQL.
    pub async fn connect(&self) -> Shared {
        let client = nsplane_runtime::connect(&self.nats(), "test").await.expect("nats");
        let store = EventStore::open(client.clone(), self.store())
            .await
            .expect("event store");
        let pool = nsplane_projection::connect_pool(&self.pg()).expect("pool");
        nsplane_projection::migrate(&pool).await.expect("migrate");
        Shared { client, store, pool }
    }
}

/// Number of commits of an aggregate.
pub async fn commits_on<E: nsplane_schema::Event>(shared: &Shared, id: &str) -> usize {
    match shared.store.last::<E>(id).await.expect("last") {
        Some(last) => usize::try_from(last.envelope.version).unwrap_or(usize::MAX),
        None => 0,
    }
}

/// Every row of the read models, as text, in a stable order (without wall-clock projection times).
pub async fn dump_read_models(database_url: &str) -> Vec<String> {
    let (client, connection) = tokio_postgres::connect(database_url, tokio_postgres::NoTls)
        .await
        .expect("pg");
    tokio::spawn(connection);
    let queries = [
        "SELECT row_to_json(t)::text FROM (SELECT * FROM zones ORDER BY id) t",
        "SELECT row_to_json(t)::text FROM (SELECT * FROM recordsets ORDER BY id) t",
        "SELECT row_to_json(t)::text FROM (SELECT stream_seq, event_idx, aggregate_type, aggregate_id, version, event_type, \
         event_version, payload, project_id, user_id, roles, request_id, source_role, command, occurred_at \
         FROM audit_events ORDER BY aggregate_id, version, event_idx) t",
        "SELECT row_to_json(t)::text FROM (SELECT * FROM zone_journal ORDER BY zone_id, serial, seq) t",
        "SELECT row_to_json(t)::text FROM (SELECT * FROM projection_versions ORDER BY aggregate_type, aggregate_id) t",
    ];
    let mut out = Vec::new();
    for query in queries {
        for row in client.query(query, &[]).await.expect("dump") {
            out.push(row.get::<_, String>(0));
        }
    }
    out
}

/// Waits (bounded) until `check` holds; panics naming `what` when it does not in time.
pub async fn eventually<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if check().await {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
