//! A throwaway RabbitMQ broker (Debian's `rabbitmq-server`) for tests: its own node name, AMQP and
//! distribution ports and directory, so runs never collide with each other or with a system broker.
//! One per test binary; tests isolate themselves by exchange and queue names.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::Context as _;
use nsplane_runtime::devmode::{free_port, wait_for_port};

/// Where Debian's package puts the broker's own start script (the `/usr/sbin` wrapper insists on
/// running as the `rabbitmq` user and its system directories).
const RABBITMQ_SERVER: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";

/// A broker this process started.
pub struct LocalRabbit {
    /// Its AMQP port on 127.0.0.1.
    pub port: u16,
    /// Its directory (data, logs, the Erlang cookie).
    pub dir: PathBuf,
    dist_port: u16,
    child: Option<Child>,
    /// Whether dropping it removes `dir` (a directory the caller named is kept).
    owns_dir: bool,
}

impl LocalRabbit {
    /// Starts a broker in a new temporary directory and waits until it listens (about 8 s).
    pub fn start() -> anyhow::Result<LocalRabbit> {
        let dir = std::env::temp_dir().join(format!("nsplane-rabbit-{}", uuid::Uuid::new_v4()));
        let mut broker = Self::start_in(&dir)?;
        broker.owns_dir = true;
        Ok(broker)
    }

    /// Starts a broker keeping its data and logs in `dir` (kept when it stops), and waits until it
    /// listens.
    pub fn start_in(dir: &std::path::Path) -> anyhow::Result<LocalRabbit> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("enabled_plugins"), "[].\n")?;
        let mut broker = LocalRabbit {
            port: free_port()?,
            dir: dir.to_owned(),
            dist_port: free_port()?,
            child: None,
            owns_dir: false,
        };
        broker.spawn()?;
        Ok(broker)
    }

    /// Starts the broker process (same node, ports and data) and waits until it listens.
    fn spawn(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("out.log"))?;
        let child = Command::new(RABBITMQ_SERVER)
            .current_dir(&self.dir)
            .env("HOME", &self.dir)
            .env("RABBITMQ_NODENAME", format!("nsplane-test-{}@localhost", self.port))
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("RABBITMQ_MNESIA_BASE", self.dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", self.dir.join("log"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", self.dir.join("enabled_plugins"))
            .env("RABBITMQ_CONFIG_FILE", self.dir.join("rabbitmq"))
            .env("RABBITMQ_PID_FILE", self.dir.join("pid"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("failed to start {RABBITMQ_SERVER} (Debian: apt-get install rabbitmq-server)"))?;
        self.child = Some(child);
        if let Err(e) = wait_for_port(self.port, Duration::from_secs(60), "rabbitmq-server") {
            let out = std::fs::read_to_string(self.dir.join("out.log")).unwrap_or_default();
            self.kill9();
            return Err(e.context(out));
        }
        Ok(())
    }

    /// Kills the broker at once (SIGKILL of the Erlang VM, as a crash), keeping its data.
    pub fn kill9(&mut self) {
        if let Some(pid) = self.vm_pid() {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
        let _ = std::fs::remove_file(self.dir.join("pid"));
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again after [`LocalRabbit::kill9`], on the same port with the same data (durable
    /// queues and persistent messages survive), and waits until it listens.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        anyhow::ensure!(self.child.is_none(), "the broker is running");
        self.spawn()
    }

    /// Whether it was started and not killed.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// `amqp://guest:guest@127.0.0.1:<port>/%2f` (the guest user may connect from loopback).
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// The Erlang VM's pid (the start script's child), if it wrote one.
    pub fn vm_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.dir.join("pid")).ok()?.trim().parse().ok()
    }

    fn stop(&mut self) {
        if let Some(pid) = self.vm_pid() {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if self.owns_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Drop for LocalRabbit {
    fn drop(&mut self) {
        self.stop();
    }
}

static BROKER: OnceLock<LocalRabbit> = OnceLock::new();

/// The test binary's broker, started on first use. A watchdog stops it when the test process exits.
pub fn rabbitmq() -> &'static LocalRabbit {
    BROKER.get_or_init(|| {
        let broker = LocalRabbit::start().expect("start rabbitmq-server");
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; kill $(cat {dir}/pid) 2>/dev/null; kill {child}; sleep 2; rm -rf {dir}",
            pid = std::process::id(),
            child = broker.child.as_ref().map(Child::id).expect("a started broker has a process"),
            dir = broker.dir.display(),
        );
        // Outlives this process by design (statics are never dropped), so it is never waited for.
        #[allow(clippy::zombie_processes)]
        Command::new("setsid")
            .args(["bash", "-c"])
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("watchdog");
        broker
    })
}
