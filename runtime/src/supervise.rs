//! Several roles in one process (`nsplane all`), supervised: a role that ends while the process is not
//! shutting down has failed for good (roles ride out outages by retrying, so ending means they could
//! not); the supervisor then stops every other role, lets them drain, and returns that role's error, so
//! the process exits non-zero with it.

use std::time::Duration;

use futures::future::BoxFuture;
use tokio::task::JoinSet;
use tracing::{error, info, warn};

use crate::Shutdown;

/// A role to run: its name and its `run` future.
pub struct Role {
    /// `api`, `central`, `mdns`, `worker`, ...
    pub name: &'static str,
    /// The role's `run(config, listeners, shutdown)`.
    pub task: BoxFuture<'static, anyhow::Result<()>>,
}

impl Role {
    /// A role from its future.
    pub fn new(
        name: &'static str,
        task: impl std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
    ) -> Self {
        Self {
            name,
            task: Box::pin(task),
        }
    }
}

/// Runs `roles` until `shutdown` turns on or one of them ends. Every role then gets `drain` to finish
/// the work it has in flight; any still running after that is aborted. Returns the error of the first
/// role that ended on its own, or else of a role that failed or overran `drain` while stopping.
pub async fn supervise(roles: Vec<Role>, shutdown: &Shutdown, drain: Duration) -> anyhow::Result<()> {
    let mut set = JoinSet::new();
    for role in roles {
        let name = role.name;
        let task = role.task;
        set.spawn(async move { (name, task.await) });
    }
    let mut signal = shutdown.receiver();
    let mut failure: Option<anyhow::Error> = None;
    tokio::select! {
        _ = signal.wait_for(|stop| *stop) => {}
        ended = set.join_next() => {
            match ended {
                // The signal and this role's end raced: the role saw the signal first and stopped.
                Some(Ok((name, Ok(())))) if shutdown.is_triggered() => info!(role = name, "role stopped"),
                Some(ended) => {
                    let error = ended_on_its_own(ended);
                    error!(error = format!("{error:#}"), "a role failed; stopping the others");
                    failure = Some(error);
                }
                None => {}
            }
            shutdown.trigger();
        }
    }
    let drained = tokio::time::timeout(drain, async {
        while let Some(ended) = set.join_next().await {
            match ended {
                Ok((name, Ok(()))) => info!(role = name, "role stopped"),
                Ok((name, Err(e))) => {
                    warn!(role = name, error = format!("{e:#}"), "role stopped with an error");
                    failure.get_or_insert(e.context(format!("role {name} failed while stopping")));
                }
                Err(e) => {
                    warn!(error = %e, "a role's task failed while stopping");
                    failure.get_or_insert(anyhow::anyhow!("a role's task failed while stopping: {e}"));
                }
            }
        }
    })
    .await;
    if drained.is_err() {
        warn!(left = set.len(), ?drain, "roles did not stop in time; aborting them");
        failure.get_or_insert(anyhow::anyhow!(
            "{} roles did not stop within {drain:?} and were aborted",
            set.len()
        ));
        set.abort_all();
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn ended_on_its_own(ended: Result<(&'static str, anyhow::Result<()>), tokio::task::JoinError>) -> anyhow::Error {
    match ended {
        Ok((name, Err(e))) => e.context(format!("role {name} failed")),
        Ok((name, Ok(()))) => anyhow::anyhow!("role {name} stopped on its own"),
        Err(e) if e.is_panic() => anyhow::anyhow!("a role panicked: {e}"),
        Err(e) => anyhow::Error::new(e).context("a role's task ended"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A role that stops because the signal turned on is not a failure, even when the supervisor sees
    /// the role end before it sees the signal (both are ready at once; `select!` picks either).
    #[tokio::test]
    async fn a_role_that_stops_at_the_signal_is_not_a_failure() {
        for _ in 0..32 {
            let shutdown = Shutdown::new();
            let signal = shutdown.clone();
            let role = Role::new("central", async move {
                signal.trigger();
                Ok(())
            });
            supervise(vec![role], &shutdown, Duration::from_secs(1))
                .await
                .expect("a clean stop");
        }
    }

    #[tokio::test]
    async fn a_role_that_ends_on_its_own_fails_the_process() {
        let shutdown = Shutdown::new();
        let idle = shutdown.receiver();
        let roles = vec![
            Role::new("central", async { anyhow::bail!("database gone for good") }),
            Role::new("api", async move {
                let mut idle = idle;
                let _ = idle.wait_for(|stop| *stop).await;
                Ok(())
            }),
        ];
        let error = supervise(roles, &shutdown, Duration::from_secs(1))
            .await
            .expect_err("fails");
        assert!(shutdown.is_triggered(), "the other roles were told to stop");
        let text = format!("{error:#}");
        assert!(
            text.contains("role central failed") && text.contains("database gone for good"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_role_that_does_not_stop_in_time_fails_the_process() {
        let shutdown = Shutdown::new();
        let roles = vec![Role::new("worker", async {
            std::future::pending::<()>().await;
            Ok(())
        })];
        let signal = shutdown.clone();
        tokio::spawn(async move { signal.trigger() });
        let error = supervise(roles, &shutdown, Duration::from_millis(50))
            .await
            .expect_err("fails");
        assert!(format!("{error:#}").contains("did not stop within"), "{error:#}");
    }
}
