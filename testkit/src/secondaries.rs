//! Real DNS secondaries for tests and benchmarks, each in its own temp dir on free loopback ports: a
//! BIND catalog consumer, a BIND managed through `rndc`, a Knot catalog consumer, a PowerDNS with its
//! HTTP API. Each stops and removes its dir when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context as _;
use nsplane_runtime::devmode::{free_port, wait_for_port};

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
        Self::start_keyed(mdns_port, catalog, None)
    }

    /// [`LocalBind::start`], and with `key` (`(name, algorithm, base64 secret)`) every request BIND
    /// sends to mdns (SOA refresh queries, transfers of the catalog and its members) is signed with it,
    /// and only NOTIFYs signed with it are taken.
    pub fn start_keyed(mdns_port: u16, catalog: &str, key: Option<(&str, &str, &str)>) -> anyhow::Result<LocalBind> {
        let (key_clause, allow_notify) = match key {
            Some((name, algorithm, secret)) => (
                format!(
                    "key \"{name}\" {{ algorithm {algorithm}; secret \"{secret}\"; }};\nserver 127.0.0.1 {{ keys {{ \"{name}\"; }}; }};\n"
                ),
                format!("key \"{name}\";"),
            ),
            None => (String::new(), "any;".to_owned()),
        };
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
  allow-notify {{ {allow_notify} }};
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
{key_clause}zone "{catalog}" {{ type secondary; primaries {{ 127.0.0.1 port {mdns_port}; }}; file "catalog.db"; }};
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

/// A BIND secondary of `catalog`, served by mdns at `mdns_port` (panics if it cannot start: tests need it).
pub fn bind(mdns_port: u16, catalog: &str) -> LocalBind {
    LocalBind::start(mdns_port, catalog).expect("start named")
}

/// A Knot secondary of `catalog`, served by mdns at `mdns_port`.
pub fn knot(mdns_port: u16, catalog: &str) -> LocalKnot {
    LocalKnot::start(mdns_port, catalog).expect("start knotd")
}

/// A PowerDNS secondary with its HTTP API.
pub fn pdns() -> LocalPdns {
    LocalPdns::start().expect("start pdns_server")
}

/// A BIND server managed through rndc (the bind9 backend).
pub fn bind_rndc() -> LocalBind {
    LocalBind::start_rndc().expect("start named with a control channel")
}
