//! A guard around a child process of a test: dropping it kills and reaps the process and prints the
//! tail of its log with its name in front, so a failing test shows what its processes said.

use std::path::PathBuf;
use std::process::Child;

/// A child process that is killed, reaped and reported when the guard is dropped.
pub struct ProcessGuard {
    name: String,
    child: Child,
    log: Option<PathBuf>,
}

impl ProcessGuard {
    /// Guards `child`; `log` is the file its output goes to, if any.
    pub fn new(name: &str, child: Child, log: Option<PathBuf>) -> Self {
        Self {
            name: name.to_owned(),
            child,
            log,
        }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to exit on its own, at most `limit`; `None` if it is still running.
    pub fn wait_exit(&mut self, limit: std::time::Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if std::time::Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        self.log
            .as_ref()
            .and_then(|path| std::fs::read_to_string(path).ok())
            .unwrap_or_default()
    }
}

impl Drop for ProcessGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            for line in tail.into_iter().rev() {
                eprintln!("{}: {line}", self.name);
            }
        }
    }
}
