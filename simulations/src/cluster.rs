//! The cluster a scenario runs against, all on loopback with its own ports and temp dirs: three routed
//! nats-server nodes (JetStream, the streams and KV buckets with 3 replicas), one PostgreSQL, two
//! `nsplane` processes of each role (api, central, mdns, worker, producer, sink) spawned from the built
//! binary, a RabbitMQ broker (the producers' notifications go there as well as to NATS; the sinks consume
//! Nova's notifications from it), a BIND and a Knot secondary consuming the pool's catalog zone, and a
//! proxy in front of each secondary in each direction so a secondary can be cut off.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use nsplane_runtime::devmode::{free_port, LocalPostgres};
use nsplane_testkit::secondaries::{LocalBind, LocalKnot};

use crate::process::Process;
use nsplane_testkit::proxy::Proxy;
use nsplane_testkit::rabbitmq::LocalRabbit;

/// The prefix of every subject, stream and bucket in a simulation.
pub const PREFIX: &str = "sim";
/// Every name of the simulation's deployment.
pub fn layout() -> nsplane_schema::Layout {
    #[allow(clippy::expect_used)]
    nsplane_schema::Layout::new(PREFIX).expect("the simulation's prefix is valid")
}

/// The pool's catalog zone.
pub const CATALOG: &str = "catalog.sim.test.";
/// The roles, in the order instances are numbered.
pub const ROLES: [&str; 6] = ["api", "central", "mdns", "worker", "producer", "sink"];
/// The zone the sinks' `nova_fixed` handler writes instances' records to.
pub const SINK_ZONE: &str = "sink.sim.test.";
/// The exchange the producers' notifications go to on RabbitMQ (Designate's default).
pub const NOTIFY_EXCHANGE: &str = "designate";
/// Instances per role.
pub const PER_ROLE: usize = 2;
/// NATS nodes.
pub const NATS_NODES: usize = 3;

/// Finds the `nsplane` binary: `NSPLANE_BIN`, else next to this executable (or one directory up, for a
/// test binary under `target/<profile>/deps`).
pub fn find_nsplane() -> anyhow::Result<PathBuf> {
    if let Ok(path) = std::env::var("NSPLANE_BIN") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe()?;
    let mut dir = exe.parent().map(Path::to_path_buf);
    for _ in 0..2 {
        let Some(d) = dir else { break };
        let candidate = d.join("nsplane");
        if candidate.is_file() {
            return Ok(candidate);
        }
        dir = d.parent().map(Path::to_path_buf);
    }
    anyhow::bail!(
        "no nsplane binary next to {} (build it: cargo build -p nsplane --bin nsplane, or set NSPLANE_BIN)",
        exe.display()
    )
}

/// One nats-server of the cluster.
pub struct NatsNode {
    /// `n0`, `n1`, `n2` (its `server_name`).
    pub name: String,
    /// Client port.
    pub port: u16,
    /// Monitoring port (`/jsz`).
    pub http_port: u16,
    /// The process.
    pub process: Process,
}

impl NatsNode {
    /// Its client URL.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

/// One `nsplane` role process.
pub struct Instance {
    /// One of [`ROLES`].
    pub role: &'static str,
    /// 0 or 1.
    pub idx: usize,
    /// The NATS node it connects to (it learns the others from the cluster).
    pub nats_node: usize,
    /// Its listen port (api, mdns), else 0.
    pub port: u16,
    /// Where it serves `/healthcheck` and `/metrics`.
    pub ops_port: u16,
    /// The process.
    pub process: Process,
}

/// Addresses that do not change for the life of a cluster: what the load, the sampler and the checker use
/// without locking the cluster.
#[derive(Clone, Debug)]
pub struct Topology {
    /// Base URLs of the API instances.
    pub apis: Vec<String>,
    /// mdns instances.
    pub mdns: Vec<SocketAddr>,
    /// Secondaries as `(name, address)`, queried directly (not through a proxy).
    pub secondaries: Vec<(String, SocketAddr)>,
    /// The read models' URL.
    pub database_url: String,
    /// A URL of every NATS node.
    pub nats_urls: Vec<String>,
    /// Monitoring ports of the NATS nodes.
    pub nats_http_ports: Vec<u16>,
    /// The run's directory (logs).
    pub dir: PathBuf,
    /// Each instance's ops port (`/healthcheck`, `/metrics`), by instance name (`central-0`).
    pub ops: Vec<(String, u16)>,
    /// The RabbitMQ broker's URL.
    pub amqp_url: String,
    /// The notifications that arrived on RabbitMQ since the cluster started.
    pub amqp_notifications: crate::amqp::Seen,
    /// The sinks' zone: `(id, name)`.
    pub sink_zone: (String, String),
}

/// The running cluster.
pub struct Cluster {
    /// The run's directory: logs, NATS stores, PostgreSQL data, pools.yaml.
    pub dir: PathBuf,
    nsplane: PathBuf,
    /// The NATS nodes.
    pub nats: Vec<NatsNode>,
    postgres: Option<LocalPostgres>,
    pg_port: u16,
    /// URL of the read models.
    pub database_url: String,
    /// Every role instance.
    pub instances: Vec<Instance>,
    /// The BIND secondary.
    pub bind: LocalBind,
    /// The Knot secondary.
    pub knot: LocalKnot,
    /// Per secondary (`bind`, `knot`): the proxy it transfers through and the proxy workers reach it by.
    pub proxies: Vec<(String, Proxy, Proxy)>,
    /// The RabbitMQ broker (`None` only while a fault restarts it).
    pub rabbit: Option<LocalRabbit>,
    amqp_url: String,
    amqp_notifications: crate::amqp::Seen,
    watcher: tokio::task::JoinHandle<()>,
    /// The sinks' zone: `(id, name)`, once created.
    pub sink_zone: (String, String),
}

fn nats_config(node: usize, ports: &[(u16, u16, u16)], dir: &Path) -> String {
    let (port, cluster_port, http_port) = ports[node];
    let routes: Vec<String> = ports
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != node)
        .map(|(_, (_, c, _))| format!("nats-route://127.0.0.1:{c}"))
        .collect();
    format!(
        "server_name: n{node}\nlisten: 127.0.0.1:{port}\nhttp: 127.0.0.1:{http_port}\n\
         jetstream {{\n  store_dir: \"{store}\"\n}}\n\
         cluster {{\n  name: sim\n  listen: 127.0.0.1:{cluster_port}\n  routes: [{routes}]\n}}\n",
        store = dir.join("store").display(),
        routes = routes.join(", ")
    )
}

impl Cluster {
    /// Starts everything and waits until every role instance is ready.
    pub async fn start(dir: &Path) -> anyhow::Result<Cluster> {
        std::fs::create_dir_all(dir)?;
        let dir = dir.canonicalize()?;
        let nsplane = find_nsplane()?;
        let nats_server = nsplane_runtime::devmode::find_nats_server()?;

        // NATS: three routed nodes with fixed ports, so a killed node comes back where it was.
        let mut ports = Vec::new();
        for _ in 0..NATS_NODES {
            ports.push((free_port()?, free_port()?, free_port()?));
        }
        let mut nats = Vec::new();
        for node in 0..NATS_NODES {
            let node_dir = dir.join(format!("nats-{node}"));
            std::fs::create_dir_all(&node_dir)?;
            let conf = node_dir.join("nats.conf");
            std::fs::write(&conf, nats_config(node, &ports, &node_dir))?;
            let mut process = Process::new(
                &format!("nats-{node}"),
                &nats_server,
                vec!["-c".into(), conf.display().to_string()],
                Vec::new(),
                dir.join(format!("nats-{node}.log")),
            );
            process.start()?;
            nats.push(NatsNode {
                name: format!("n{node}"),
                port: ports[node].0,
                http_port: ports[node].2,
                process,
            });
        }
        let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut with_leader = 0;
            for node in &nats {
                if let Ok(jsz) = jsz(&http, node.http_port, "").await {
                    if jsz["meta_cluster"]["leader"].as_str().is_some_and(|l| !l.is_empty()) {
                        with_leader += 1;
                    }
                }
            }
            if with_leader == NATS_NODES {
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the NATS cluster elected no JetStream meta leader within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }

        let pg_dir = dir.join("postgres");
        let postgres = tokio::task::spawn_blocking(move || LocalPostgres::start(&pg_dir, 0)).await??;
        let database_url = postgres.ensure_database("nsplane").await?;
        let pg_port = postgres.port;

        // RabbitMQ, and a queue that sees every notification from the first commit on.
        let rabbit_dir = dir.join("rabbitmq");
        let rabbit = tokio::task::spawn_blocking(move || LocalRabbit::start_in(&rabbit_dir)).await??;
        let amqp_url = rabbit.url();
        let (amqp_notifications, watcher) =
            crate::amqp::watch_notifications(amqp_url.clone(), NOTIFY_EXCHANGE.into(), "notifications.info".into())
                .await?;

        // Ports first: the pool names the proxies, the proxies name the mdns instances.
        let api_ports = [free_port()?, free_port()?];
        let mdns_ports = [free_port()?, free_port()?];
        let mdns_addrs: Vec<SocketAddr> = mdns_ports
            .iter()
            .map(|p| SocketAddr::from(([127, 0, 0, 1], *p)))
            .collect();
        let bind_up = Proxy::start(vec![mdns_addrs[0], mdns_addrs[1]]).await?;
        let knot_up = Proxy::start(vec![mdns_addrs[1], mdns_addrs[0]]).await?;
        let (bind_port, knot_port) = (bind_up.addr.port(), knot_up.addr.port());
        let bind = tokio::task::spawn_blocking(move || LocalBind::start(bind_port, CATALOG)).await??;
        let knot = tokio::task::spawn_blocking(move || LocalKnot::start(knot_port, CATALOG)).await??;
        let bind_front = Proxy::start(vec![bind.addr()]).await?;
        let knot_front = Proxy::start(vec![knot.addr()]).await?;

        let pools = pools_yaml(&mdns_addrs, &[bind_front.addr, knot_front.addr]);
        let pools_file = dir.join("pools.yaml");
        std::fs::write(&pools_file, pools)?;

        let mut cluster = Cluster {
            dir: dir.clone(),
            nsplane,
            nats,
            postgres: Some(postgres),
            pg_port,
            database_url,
            instances: Vec::new(),
            bind,
            knot,
            proxies: vec![
                ("bind".into(), bind_up, bind_front),
                ("knot".into(), knot_up, knot_front),
            ],
            rabbit: Some(rabbit),
            amqp_url,
            amqp_notifications,
            watcher,
            sink_zone: (String::new(), SINK_ZONE.to_owned()),
        };
        // `nsplane pool update --file`: the pool every role uses, committed to the event stream.
        let mut update = Process::new(
            "pool-update",
            &cluster.nsplane,
            [
                vec!["pool".to_owned()],
                cluster.common_args(0),
                vec!["update".into(), "--file".into(), pools_file.display().to_string()],
            ]
            .concat(),
            Vec::new(),
            dir.join("pool-update.log"),
        );
        // A cluster that has just elected its meta leader can still refuse to place a replicated stream
        // for a moment: try again (bounded), as an operator would.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let offset = update.start()?;
            while update.is_running() {
                anyhow::ensure!(Instant::now() < deadline, "nsplane pool update did not finish in 60 s");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let log = crate::process::log_since(&update.log, offset);
            if log.contains("pool configuration committed") {
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "nsplane pool update failed:\n{log}");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }

        for (role_idx, role) in ROLES.iter().enumerate() {
            for idx in 0..PER_ROLE {
                let port = match *role {
                    "api" => api_ports[idx],
                    "mdns" => mdns_ports[idx],
                    _ => 0,
                };
                let name = format!("{role}-{idx}");
                let nats_node = (role_idx + idx) % NATS_NODES;
                let process = Process::new(
                    &name,
                    &cluster.nsplane,
                    Vec::new(),
                    vec![("RUST_LOG".into(), log_filter(role).into())],
                    dir.join(format!("{name}.log")),
                );
                cluster.instances.push(Instance {
                    role,
                    idx,
                    nats_node,
                    port,
                    ops_port: free_port()?,
                    process,
                });
            }
        }
        // Every role but the sinks, which need their zone, created through the API once it serves.
        let (sinks, others): (Vec<usize>, Vec<usize>) =
            (0..cluster.instances.len()).partition(|i| cluster.instances[*i].role == "sink");
        cluster.start_and_wait(&others).await?;
        let apis: Vec<String> = api_ports.iter().map(|p| format!("http://127.0.0.1:{p}")).collect();
        cluster.sink_zone.0 = create_sink_zone(&apis).await?;
        cluster.start_and_wait(&sinks).await?;
        Ok(cluster)
    }

    async fn start_and_wait(&mut self, instances: &[usize]) -> anyhow::Result<()> {
        let mut offsets = Vec::new();
        for i in instances {
            offsets.push((*i, self.start_instance(*i)?));
        }
        for (i, offset) in offsets {
            self.instances[i]
                .process
                .wait_for_line(offset, READY_LINE, Duration::from_secs(90))
                .await?;
        }
        Ok(())
    }

    fn common_args(&self, nats_node: usize) -> Vec<String> {
        [
            "--nats-url",
            &self.nats[nats_node].url(),
            "--database-url",
            &self.database_url,
            "--prefix",
            PREFIX,
            "--stream-replicas",
            "3",
            "--quota-zones",
            "-1",
            "--database-pool-size",
            "6",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
    }

    /// Starts instance `i` (again), connected to its NATS node or, if that one is down, to a running one.
    /// Returns its log offset before the start.
    pub fn start_instance(&mut self, i: usize) -> anyhow::Result<u64> {
        let preferred = self.instances[i].nats_node;
        let node = (0..NATS_NODES)
            .map(|k| (preferred + k) % NATS_NODES)
            .find(|n| self.nats[*n].process.is_running())
            .context("no NATS node is running")?;
        let instance = &self.instances[i];
        let mut args = vec![instance.role.to_owned()];
        args.extend(self.common_args(node));
        match instance.role {
            "api" => args.extend(["--api-listen".into(), format!("127.0.0.1:{}", instance.port)]),
            "mdns" => args.extend(["--mdns-listen".into(), format!("127.0.0.1:{}", instance.port)]),
            // Every committed event as a notification on NATS and RabbitMQ, checked by the checker.
            "producer" => args.extend([
                "--notify-nats".into(),
                "--notify-amqp-url".into(),
                self.amqp_url.clone(),
                "--notify-amqp-exchange".into(),
                NOTIFY_EXCHANGE.into(),
                "--exists-every-secs".into(),
                "0".into(),
            ]),
            "sink" => args.extend([
                "--sink-amqp-url".into(),
                self.amqp_url.clone(),
                "--nova-fixed-zone-id".into(),
                self.sink_zone.0.clone(),
            ]),
            _ => {}
        }
        args.extend(["--ops-listen".into(), format!("127.0.0.1:{}", instance.ops_port)]);
        let instance = &mut self.instances[i];
        instance.process.set_args(args);
        instance.process.start()
    }

    /// The addresses the load, the sampler and the checker use.
    pub fn topology(&self) -> Topology {
        let by_role = |role: &'static str| self.instances.iter().filter(move |i| i.role == role);
        Topology {
            apis: by_role("api").map(|i| format!("http://127.0.0.1:{}", i.port)).collect(),
            mdns: by_role("mdns")
                .map(|i| SocketAddr::from(([127, 0, 0, 1], i.port)))
                .collect(),
            secondaries: vec![("bind".into(), self.bind.addr()), ("knot".into(), self.knot.addr())],
            database_url: self.database_url.clone(),
            nats_urls: self.nats.iter().map(NatsNode::url).collect(),
            nats_http_ports: self.nats.iter().map(|n| n.http_port).collect(),
            dir: self.dir.clone(),
            ops: self
                .instances
                .iter()
                .map(|i| (format!("{}-{}", i.role, i.idx), i.ops_port))
                .collect(),
            amqp_url: self.amqp_url.clone(),
            amqp_notifications: self.amqp_notifications.clone(),
            sink_zone: self.sink_zone.clone(),
        }
    }

    /// Stops PostgreSQL at once (`pg_ctl stop -m immediate`, as a crash).
    pub fn stop_postgres(&mut self) -> anyhow::Result<()> {
        if let Some(postgres) = self.postgres.take() {
            let status = std::process::Command::new("bash")
                .args(["-c", &postgres.shell_stop_command()])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()?;
            anyhow::ensure!(status.success(), "pg_ctl stop -m immediate failed");
            // Its guard's own (fast) stop now finds nothing to stop.
            drop(postgres);
        }
        Ok(())
    }

    /// Starts PostgreSQL again on the same port and data.
    pub async fn start_postgres(&mut self) -> anyhow::Result<()> {
        if self.postgres.is_none() {
            let (dir, port) = (self.dir.join("postgres"), self.pg_port);
            self.postgres = Some(tokio::task::spawn_blocking(move || LocalPostgres::start(&dir, port)).await??);
        }
        Ok(())
    }

    /// The NATS node that leads the event stream, from the monitoring endpoint of any running node.
    pub async fn stream_leader(&mut self) -> anyhow::Result<usize> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
        let stream = layout().events_stream();
        for i in 0..self.nats.len() {
            if !self.nats[i].process.is_running() {
                continue;
            }
            let Ok(jsz) = jsz(&http, self.nats[i].http_port, "?streams=true&config=true").await else {
                continue;
            };
            if let Some(leader) = stream_leader_in(&jsz, &stream) {
                if let Some(idx) = self.nats.iter().position(|n| n.name == leader) {
                    return Ok(idx);
                }
            }
        }
        anyhow::bail!("no running NATS node names a leader of {stream}")
    }

    /// Stops everything (also done by dropping), keeping the secondaries' logs in the run's directory.
    pub fn stop(&mut self) {
        let _ = std::fs::write(self.dir.join("bind.log"), self.bind.log());
        let _ = std::fs::write(self.dir.join("knot.log"), self.knot.log());
        for instance in &mut self.instances {
            instance.process.kill9();
        }
        for node in &mut self.nats {
            node.process.kill9();
        }
        self.watcher.abort();
        if let Some(mut rabbit) = self.rabbit.take() {
            rabbit.kill9();
        }
        if let Some(mut postgres) = self.postgres.take() {
            postgres.stop();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Creates the sinks' zone through the API (trying again while the cluster settles); returns its id.
async fn create_sink_zone(apis: &[String]) -> anyhow::Result<String> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    for attempt in 0.. {
        // Alternate between the API instances, as a client with two endpoints would.
        let api = &apis[attempt % apis.len()];
        let answer = http
            .post(format!("{api}/v2/zones"))
            .header("x-openstack-request-id", "req-sim-sink-zone")
            .header("x-auth-project-id", "sim-compute-project")
            .header("x-roles", "member")
            .json(&serde_json::json!({"name": SINK_ZONE, "email": "hostmaster@sim.test", "ttl": 300}))
            .send()
            .await;
        if let Ok(response) = answer {
            let status = response.status();
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            if status.is_success() {
                if let Some(id) = body["id"].as_str() {
                    return Ok(id.to_owned());
                }
            }
            anyhow::ensure!(
                status.is_server_error() || (status.as_u16() == 409 && Instant::now() < deadline),
                "creating the sink zone: {status} {body}"
            );
        }
        anyhow::ensure!(Instant::now() < deadline, "the sink zone was not created within 60 s");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    unreachable!("the loop above returns")
}

/// The line each role logs once it serves.
pub const READY_LINE: &str = "nsplane: ready";

fn log_filter(role: &str) -> &'static str {
    match role {
        // The worker's push steps, so a fault can strike in the middle of one.
        "worker" => "info,nsplane_dataplane::worker=debug",
        // RabbitMQ outages are logged by nsplane itself, once per outage (see DEFAULT_LOG_FILTER).
        _ => "info,lapin=off",
    }
}

/// `GET /jsz<query>` of a node's monitoring endpoint.
pub async fn jsz(http: &reqwest::Client, http_port: u16, query: &str) -> anyhow::Result<serde_json::Value> {
    Ok(http
        .get(format!("http://127.0.0.1:{http_port}/jsz{query}"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?)
}

/// The leader's server name of `stream` in a `/jsz?streams=true` answer.
pub fn stream_leader_in(jsz: &serde_json::Value, stream: &str) -> Option<String> {
    jsz["account_details"]
        .as_array()?
        .iter()
        .flat_map(|a| a["stream_detail"].as_array().cloned().unwrap_or_default())
        .find(|s| s["name"] == stream)
        .and_then(|s| s["cluster"]["leader"].as_str().map(str::to_owned))
        .filter(|l| !l.is_empty())
}

/// The pool: both mdns instances as masters, a catalog target per secondary reached through its proxy.
fn pools_yaml(mdns: &[SocketAddr], secondaries: &[SocketAddr]) -> String {
    let mut yaml = String::from(
        "- name: default\n  ns_records:\n    - hostname: ns1.sim.test.\n      priority: 1\n  nameservers:\n",
    );
    for s in secondaries {
        yaml.push_str(&format!("    - host: {}\n      port: {}\n", s.ip(), s.port()));
    }
    yaml.push_str("  targets:\n");
    for s in secondaries {
        yaml.push_str("    - type: catalog\n      masters:\n");
        for m in mdns {
            yaml.push_str(&format!("        - host: {}\n          port: {}\n", m.ip(), m.port()));
        }
        yaml.push_str(&format!(
            "      options:\n        host: {}\n        port: {}\n",
            s.ip(),
            s.port()
        ));
    }
    yaml.push_str(&format!(
        "  catalog_zone:\n    catalog_zone_fqdn: {CATALOG}\n    catalog_zone_refresh: 60\n"
    ));
    yaml
}
