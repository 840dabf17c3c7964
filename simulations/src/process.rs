//! One child process the simulation owns: spawned with its output appended to a log file, killed with
//! SIGKILL, paused with SIGSTOP/SIGCONT, restarted with the same command line. The guard's `Drop`
//! kills and reaps it, so no process outlives the run.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;

/// A process started from a fixed command line, restartable.
pub struct Process {
    /// Short name for reports and logs, e.g. `api-0`.
    pub name: String,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// Where stdout and stderr go (appended across restarts).
    pub log: PathBuf,
    child: Option<Child>,
    paused: bool,
}

impl Process {
    /// Describes a process; nothing runs until [`Process::start`].
    pub fn new(name: &str, program: &Path, args: Vec<String>, env: Vec<(String, String)>, log: PathBuf) -> Self {
        Self {
            name: name.to_owned(),
            program: program.to_owned(),
            args,
            env,
            log,
            child: None,
            paused: false,
        }
    }

    /// Replaces the command line (used for a restart that must name another NATS node).
    pub fn set_args(&mut self, args: Vec<String>) {
        self.args = args;
    }

    /// Starts it; returns the log's length before the start, so a caller can wait for lines written since.
    pub fn start(&mut self) -> anyhow::Result<u64> {
        anyhow::ensure!(self.child.is_none(), "{} is already running", self.name);
        let offset = std::fs::metadata(&self.log).map(|m| m.len()).unwrap_or(0);
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("failed to open {}", self.log.display()))?;
        let err = out.try_clone()?;
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .env("NO_COLOR", "1");
        for (k, v) in &self.env {
            command.env(k, v);
        }
        let child = command
            .spawn()
            .with_context(|| format!("failed to start {} ({})", self.name, self.program.display()))?;
        self.child = Some(child);
        self.paused = false;
        Ok(offset)
    }

    /// Its pid while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// True while started and not reaped (a crashed process counts as stopped).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => true,
            Some(_) => {
                self.child = None;
                false
            }
            None => false,
        }
    }

    fn signal(&self, signal: &str) -> anyhow::Result<()> {
        let pid = self.pid().with_context(|| format!("{} is not running", self.name))?;
        let status = Command::new("kill").args([signal, &pid.to_string()]).status()?;
        anyhow::ensure!(status.success(), "kill {signal} {pid} ({}) failed", self.name);
        Ok(())
    }

    /// SIGKILL and reap.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.paused = false;
    }

    /// SIGSTOP.
    pub fn pause(&mut self) -> anyhow::Result<()> {
        self.signal("-STOP")?;
        self.paused = true;
        Ok(())
    }

    /// SIGCONT.
    pub fn resume(&mut self) -> anyhow::Result<()> {
        if self.paused {
            self.signal("-CONT")?;
            self.paused = false;
        }
        Ok(())
    }

    /// Waits until a line containing `needle` is written after byte `offset` of the log.
    pub async fn wait_for_line(&mut self, offset: u64, needle: &str, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            if log_since(&self.log, offset).lines().any(|l| l.contains(needle)) {
                return Ok(());
            }
            anyhow::ensure!(
                self.is_running(),
                "{} exited before logging {needle:?}; its log:\n{}",
                self.name,
                tail(&log_since(&self.log, offset), 30)
            );
            anyhow::ensure!(
                Instant::now() < deadline,
                "{} did not log {needle:?} within {limit:?}; its log:\n{}",
                self.name,
                tail(&log_since(&self.log, offset), 30)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Length of its log so far.
    pub fn log_len(&self) -> u64 {
        std::fs::metadata(&self.log).map(|m| m.len()).unwrap_or(0)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The text of a log from byte `offset` on (lossy UTF-8).
pub fn log_since(path: &Path, offset: u64) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    let start = usize::try_from(offset).unwrap_or(usize::MAX).min(bytes.len());
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
