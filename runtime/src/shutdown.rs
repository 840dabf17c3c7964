//! The shutdown signal every role of a process watches: it turns on at Ctrl-C or SIGTERM, or when the
//! supervisor stops the process because one role failed.

use tokio::sync::watch;
use tracing::info;

/// A process's shutdown signal.
#[derive(Clone)]
pub struct Shutdown {
    tx: watch::Sender<bool>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// A signal that is off.
    pub fn new() -> Self {
        let (tx, _) = watch::channel(false);
        Self { tx }
    }

    /// A signal that also turns on at Ctrl-C or SIGTERM.
    pub fn on_signals() -> Self {
        let shutdown = Self::new();
        let tx = shutdown.tx.clone();
        tokio::spawn(async move {
            let ctrl_c = tokio::signal::ctrl_c();
            #[cfg(unix)]
            let term = async {
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(mut signal) => {
                        signal.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            #[cfg(not(unix))]
            let term = std::future::pending::<()>();
            tokio::select! {
                _ = ctrl_c => {}
                _ = term => {}
            }
            info!("shutting down");
            tx.send_replace(true);
        });
        shutdown
    }

    /// What roles watch: it turns true once.
    pub fn receiver(&self) -> watch::Receiver<bool> {
        self.tx.subscribe()
    }

    /// Turns the signal on.
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    /// Whether the signal is on.
    pub fn is_triggered(&self) -> bool {
        *self.tx.borrow()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A signal turned on while no role listens is not lost: roles that start listening later see it.
    #[tokio::test]
    async fn a_signal_with_no_listener_is_kept() {
        let shutdown = Shutdown::new();
        shutdown.trigger();
        assert!(shutdown.is_triggered());
        let mut late = shutdown.receiver();
        tokio::time::timeout(std::time::Duration::from_secs(1), late.wait_for(|stop| *stop))
            .await
            .expect("seen at once")
            .expect("sender alive");
    }
}
