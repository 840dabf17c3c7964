//! Test support: one real nats-server (2.11+) and one real PostgreSQL cluster per test binary, a
//! fresh prefix (streams, buckets, consumers) and database per test, and in-process nsplane nodes.
#![allow(dead_code, unreachable_pub)]

pub mod secondaries;

use std::path::PathBuf;
use std::sync::OnceLock;

use nsplane::config::CommonArgs;
use nsplane::devmode::{LocalNats, LocalPostgres};
use nsplane::roles::{self, Shared};
use tokio::sync::watch;

pub struct Servers {
    pub nats: LocalNats,
    pub postgres: LocalPostgres,
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

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_test_writer()
        .try_init();
}

/// A fresh namespace: its own prefix (streams, KV, consumers) and its own database.
pub struct Namespace {
    pub prefix: String,
    pub database_url: String,
}

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

impl Namespace {
    pub fn args(&self) -> CommonArgs {
        CommonArgs {
            nats_url: Some(servers().nats.url.clone()),
            database_url: Some(self.database_url.clone()),
            prefix: self.prefix.clone(),
            stream_replicas: 1,
            duplicate_window_secs: 120,
            // Tests create many zones per project; the quota test sets limits per project.
            quota_zones: -1,
            quota_api_export_size: 1000,
            quota_zone_recordsets: 500,
            quota_zone_records: 500,
            quota_recordset_records: 20,
            pools: None,
            database_pool_size: 8,
            check_config: false,
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

    pub async fn connect(&self) -> Shared {
        let connections = self.args().connections().expect("connections");
        roles::connect(&connections, "test").await.expect("connect")
    }
}

/// An in-process API (and optionally central) on a free port.
pub struct Node {
    pub base: String,
    pub shared: Shared,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

pub fn api_config() -> nsplane_api::ApiConfig {
    let ns = nsplane_schema::event::NsRecord {
        hostname: nsplane_schema::DnsName::parse("ns1.example.net.").expect("name"),
        priority: 1,
    };
    nsplane_api::ApiConfig {
        default_pool: nsplane_api::DefaultPool {
            id: nsplane_schema::ids::DEFAULT_POOL_ID,
            ns_records: vec![ns],
        },
        ..Default::default()
    }
}

impl Node {
    pub async fn start(ns: &Namespace, with_central: bool) -> Node {
        Self::start_with(ns, with_central, api_config()).await
    }

    pub async fn start_with(ns: &Namespace, with_central: bool, config: nsplane_api::ApiConfig) -> Node {
        let shared = ns.connect().await;
        let (stop, shutdown) = watch::channel(false);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let mut tasks = Vec::new();
        {
            let shared = shared.clone();
            let shutdown = shutdown.clone();
            tasks.push(tokio::spawn(async move {
                let pools =
                    nsplane_dataplane::PoolsHandle::new(1, nsplane_dataplane::Pools::parse(TEST_POOL).expect("pools"));
                roles::run_api(&shared, config, pools, 1000, listener, shutdown).await
            }));
        }
        if with_central {
            let shared = shared.clone();
            tasks.push(tokio::spawn(async move { roles::run_central(&shared, shutdown).await }));
        }
        Node {
            base,
            shared,
            stop,
            tasks,
        }
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// The pool of API-only nodes.
pub const TEST_POOL: &str = "- name: default\n  ns_records:\n    - hostname: ns1.example.net.\n      priority: 1\n";

/// Every role in-process, with mdns on a free port and pools built from its address.
pub struct FullNode {
    pub node: Node,
    pub mdns: std::net::SocketAddr,
}

impl FullNode {
    pub async fn start(
        ns: &Namespace,
        mdns: (tokio::net::UdpSocket, tokio::net::TcpListener),
        pools_yaml: &str,
    ) -> FullNode {
        Self::start_with_tsig(ns, mdns, pools_yaml, roles::MdnsTsig::default()).await
    }

    pub async fn start_with_tsig(
        ns: &Namespace,
        mdns: (tokio::net::UdpSocket, tokio::net::TcpListener),
        pools_yaml: &str,
        tsig: roles::MdnsTsig,
    ) -> FullNode {
        let (udp, tcp) = mdns;
        let mdns_addr = udp.local_addr().expect("mdns addr");
        let shared = ns.connect().await;
        // The pools go through the event stream, as `nsplane pool update` commits them.
        nsplane_command::pools::update(&shared.store, pools_yaml, roles::tool_metadata("test"))
            .await
            .expect("commit pools");
        let pools = roles::pools(&shared, None, None).await.expect("pools");
        let (stop, shutdown) = watch::channel(false);
        roles::watch_pools(&shared, pools.clone(), shutdown.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let api_config = nsplane_api::ApiConfig::default();
        let mut tasks = Vec::new();
        {
            let (shared, shutdown, pools) = (shared.clone(), shutdown.clone(), pools.clone());
            tasks.push(tokio::spawn(async move {
                roles::run_api(&shared, api_config, pools, 1000, listener, shutdown).await
            }));
        }
        {
            let (shared, shutdown) = (shared.clone(), shutdown.clone());
            tasks.push(tokio::spawn(async move { roles::run_central(&shared, shutdown).await }));
        }
        {
            let (shared, shutdown, pools) = (shared.clone(), shutdown.clone(), pools.clone());
            tasks.push(tokio::spawn(async move {
                roles::run_mdns(&shared, pools, tsig, udp, tcp, shutdown).await
            }));
        }
        {
            let (shared, shutdown, pools) = (shared.clone(), shutdown.clone(), pools.clone());
            let mut config = roles::worker_config(&shared);
            config.sync_timeout = std::time::Duration::from_secs(5);
            tasks.push(tokio::spawn(async move {
                roles::run_worker(&shared, pools, config, shutdown).await
            }));
        }
        FullNode {
            node: Node {
                base,
                shared,
                stop,
                tasks,
            },
            mdns: mdns_addr,
        }
    }
}

/// A JSON HTTP client that remembers nothing between requests.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder().build().expect("client")
}

pub async fn post(http: &reqwest::Client, url: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let response = http.post(url).json(&body).send().await.expect("post");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(serde_json::Value::Null))
}

pub async fn get(http: &reqwest::Client, url: &str) -> (u16, serde_json::Value) {
    let response = http.get(url).send().await.expect("get");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(serde_json::Value::Null))
}

pub async fn create_zone(http: &reqwest::Client, base: &str, name: &str) -> String {
    let (status, body) = post(
        http,
        &format!("{base}/v2/zones"),
        serde_json::json!({"name": name, "email": "hostmaster@example.org"}),
    )
    .await;
    assert_eq!(status, 202, "zone create: {body}");
    body["id"].as_str().expect("zone id").to_owned()
}

/// Number of commits on an aggregate's subject.
pub async fn commits_on(shared: &Shared, subject: &str) -> usize {
    match shared.store.last_on_subject(subject).await.expect("last") {
        Some(last) => last.envelope.version as usize,
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

/// Waits (bounded) until `check` holds.
pub async fn eventually<F, Fut>(what: &str, limit: std::time::Duration, mut check: F)
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
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// One request with extra headers and an optional JSON body: `(status, JSON body or null)`.
pub async fn call(
    http: &reqwest::Client,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = http.request(method, url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("send");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(serde_json::Value::Null))
}

/// A client that shows redirects instead of following them.
pub fn no_redirect_http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}
