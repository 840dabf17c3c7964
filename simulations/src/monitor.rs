//! What is watched while a scenario runs: every zone's SOA serial on both mdns instances and both
//! secondaries, sampled twice a second (a serial that goes backwards on any server is recorded), and,
//! after each fault is healed, how long the secondaries take to serve the serials the read model had at
//! that moment.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use nsplane_dataplane::client::{self, SoaAnswer};
use nsplane_schema::serial::serial_reached;
use serde::Serialize;
use tokio::sync::watch;

use crate::load::History;

/// Timeout of one SOA query.
const QUERY_TIMEOUT: Duration = Duration::from_millis(400);

/// A serial that went backwards.
#[derive(Debug, Clone, Serialize)]
pub struct Regression {
    /// The server (`mdns-0`, `bind`, ...).
    pub server: String,
    /// The zone.
    pub zone: String,
    /// The serial seen before.
    pub before: u32,
    /// The serial seen after it.
    pub after: u32,
    /// When, in seconds since the run started.
    pub at_s: f64,
}

/// What the sampler saw.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Samples {
    /// SOA answers with a serial.
    pub serials_seen: u64,
    /// Serials that went backwards.
    pub regressions: Vec<Regression>,
}

/// Every server to sample: `(name, address)`.
pub fn servers(mdns: &[SocketAddr], secondaries: &[(String, SocketAddr)]) -> Vec<(String, SocketAddr)> {
    let mut out: Vec<(String, SocketAddr)> = mdns
        .iter()
        .enumerate()
        .map(|(i, a)| (format!("mdns-{i}"), *a))
        .collect();
    out.extend(secondaries.iter().cloned());
    out
}

/// Samples SOA serials until `stop` turns true.
pub async fn sample(
    servers: Vec<(String, SocketAddr)>,
    zones: Vec<String>,
    history: History,
    mut stop: watch::Receiver<bool>,
) -> Samples {
    let mut last: HashMap<(usize, usize), u32> = HashMap::new();
    let mut out = Samples::default();
    loop {
        let mut queries = Vec::new();
        for (s, (_, addr)) in servers.iter().enumerate() {
            for (z, zone) in zones.iter().enumerate() {
                let (addr, zone) = (*addr, zone.clone());
                queries.push(async move { ((s, z), client::soa(addr, &zone, QUERY_TIMEOUT).await) });
            }
        }
        for (key, answer) in futures::future::join_all(queries).await {
            if let Ok(SoaAnswer::Serial(serial)) = answer {
                out.serials_seen += 1;
                if let Some(before) = last.insert(key, serial) {
                    if !serial_reached(serial, before) {
                        out.regressions.push(Regression {
                            server: servers[key.0].0.clone(),
                            zone: zones[key.1].clone(),
                            before,
                            after: serial,
                            at_s: history.now_s(),
                        });
                    }
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = stop.wait_for(|s| *s) => return out,
        }
    }
}

/// Every zone's serial in the read model, by zone name (retried while PostgreSQL is unreachable).
pub async fn read_model_serials(database_url: &str, limit: Duration) -> anyhow::Result<HashMap<String, u32>> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match try_read_model_serials(database_url).await {
            Ok(serials) => return Ok(serials),
            Err(e) if tokio::time::Instant::now() > deadline => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

async fn try_read_model_serials(database_url: &str) -> anyhow::Result<HashMap<String, u32>> {
    let (pg, connection) = tokio_postgres::connect(database_url, tokio_postgres::NoTls).await?;
    let task = tokio::spawn(connection);
    let rows = pg.query("SELECT name, serial FROM zones", &[]).await?;
    task.abort();
    Ok(rows
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1) as u32))
        .collect())
}

/// Seconds from `heal_s` until every secondary serves, for every zone in `zones`, at least the serial
/// the read model had when this was called; `None` if that took longer than `limit`.
pub async fn convergence_after(
    heal_s: f64,
    database_url: String,
    secondaries: Vec<(String, SocketAddr)>,
    zones: Vec<String>,
    history: History,
    limit: Duration,
) -> Option<f64> {
    let targets = read_model_serials(&database_url, limit).await.ok()?;
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let mut pending = 0;
        for (_, addr) in &secondaries {
            for zone in &zones {
                let Some(target) = targets.get(zone) else { continue };
                match client::soa(*addr, zone, QUERY_TIMEOUT).await {
                    Ok(SoaAnswer::Serial(s)) if serial_reached(s, *target) => {}
                    _ => pending += 1,
                }
            }
        }
        if pending == 0 {
            return Some((history.now_s() - heal_s).max(0.0));
        }
        if tokio::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
