//! The operations door of every role: `GET /healthcheck` in the manner of oslo.middleware's healthcheck
//! (200 `OK`, or 503 with one line per failing dependency, so a load balancer takes the instance out)
//! and `GET /metrics` in Prometheus' text format. Roles without HTTP serve them on their own listener
//! (`--ops-listen`); the API answers them on its port too.
//!
//! Dependencies are checked in the background every [`CHECK_EVERY`] from connections of their own, so
//! a health request never waits on a dead server; an outage is logged once when it starts and once when
//! it ends (with how long and how many failed checks), never once per retry.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracing::{info, warn};

/// How often dependencies are checked.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);
/// How long one check may take before it counts as failed.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

type CheckFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// One dependency to check.
pub trait Probe: Send + Sync {
    /// Its name in the health answer and in the metrics (`nats`, `postgres`, `consumer …`).
    fn name(&self) -> String;
    /// Checks it; `Err` says what is wrong.
    fn check(&self) -> CheckFuture<'_>;
}

/// NATS, through a connection of the probe's own.
pub struct NatsProbe {
    client: async_nats::Client,
}

impl NatsProbe {
    /// Connects (in the background: an unreachable server is a failed check, not an error here).
    pub async fn connect(url: &str) -> anyhow::Result<NatsProbe> {
        let client = async_nats::ConnectOptions::new()
            .name("nsplane-healthcheck")
            .retry_on_initial_connect()
            .max_reconnects(None)
            .connection_timeout(CHECK_TIMEOUT)
            .connect(url)
            .await?;
        // The handshake finishes in the background; give it the time of one check, so a process that
        // starts while NATS is up does not log an outage.
        let deadline = Instant::now() + CHECK_TIMEOUT;
        while client.connection_state() != async_nats::connection::State::Connected && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(NatsProbe { client })
    }

    /// The probe's connection (other probes of the same NATS share it).
    pub fn client(&self) -> async_nats::Client {
        self.client.clone()
    }
}

impl Probe for NatsProbe {
    fn name(&self) -> String {
        "nats".to_owned()
    }

    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            if self.client.connection_state() != async_nats::connection::State::Connected {
                return Err("not connected".to_owned());
            }
            match tokio::time::timeout(CHECK_TIMEOUT, self.client.flush()).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("no answer to a flush".to_owned()),
            }
        })
    }
}

/// PostgreSQL, through a connection of the probe's own (made again after a failure).
pub struct PostgresProbe {
    url: String,
    client: tokio::sync::Mutex<Option<tokio_postgres::Client>>,
}

impl PostgresProbe {
    /// A probe of the database at `url` (not connected yet).
    pub fn new(url: &str) -> PostgresProbe {
        PostgresProbe {
            url: url.to_owned(),
            client: tokio::sync::Mutex::new(None),
        }
    }
}

impl Probe for PostgresProbe {
    fn name(&self) -> String {
        "postgres".to_owned()
    }

    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            let mut client = self.client.lock().await;
            if client.as_ref().is_none_or(tokio_postgres::Client::is_closed) {
                let connected =
                    tokio::time::timeout(CHECK_TIMEOUT, tokio_postgres::connect(&self.url, tokio_postgres::NoTls))
                        .await
                        .map_err(|_| "no answer to a connection".to_owned())?
                        .map_err(|e| e.to_string())?;
                let (fresh, connection) = connected;
                tokio::spawn(connection);
                *client = Some(fresh);
            }
            let Some(open) = client.as_ref() else {
                return Err("not connected".to_owned());
            };
            let answer = tokio::time::timeout(CHECK_TIMEOUT, open.simple_query("SELECT 1")).await;
            match answer {
                Ok(Ok(_)) => Ok(()),
                failed => {
                    *client = None;
                    Err(match failed {
                        Ok(Err(e)) => e.to_string(),
                        _ => "no answer to a query".to_owned(),
                    })
                }
            }
        })
    }
}

/// A durable consumer: how much work waits for it (the `nsplane_consumer_pending` gauge) and, with
/// `stall_after`, whether it has work waiting but its acknowledged position has not moved for that
/// long: its role is stuck even if it can reach everything. Without `stall_after` it only measures
/// (the worker's queue may wait on a name server that is down, which is not the worker's fault).
pub struct ConsumerProbe {
    js: async_nats::jetstream::Context,
    stream: String,
    consumer: String,
    stall_after: Option<Duration>,
    /// The acknowledged position last seen, and since when.
    seen: Mutex<Option<(u64, Instant)>>,
}

impl ConsumerProbe {
    /// A probe of `consumer` on `stream`, through `client`.
    pub fn new(
        client: async_nats::Client,
        stream: &str,
        consumer: &str,
        stall_after: Option<Duration>,
    ) -> ConsumerProbe {
        ConsumerProbe {
            js: async_nats::jetstream::new(client),
            stream: stream.to_owned(),
            consumer: consumer.to_owned(),
            stall_after,
            seen: Mutex::new(None),
        }
    }
}

impl Probe for ConsumerProbe {
    fn name(&self) -> String {
        format!("consumer {}", self.consumer)
    }

    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            let read = async {
                let stream = self.js.get_stream(&self.stream).await.map_err(|e| e.to_string())?;
                let mut consumer: async_nats::jetstream::consumer::Consumer<
                    async_nats::jetstream::consumer::pull::Config,
                > = stream.get_consumer(&self.consumer).await.map_err(|e| e.to_string())?;
                let info = consumer.info().await.map_err(|e| e.to_string())?;
                Ok::<_, String>((
                    info.ack_floor.stream_sequence,
                    info.num_pending + u64::try_from(info.num_ack_pending).unwrap_or(0),
                ))
            };
            let (acked, waiting) = match tokio::time::timeout(CHECK_TIMEOUT, read).await {
                Ok(Ok(state)) => state,
                // Not created yet (its role has not started consuming), or NATS is down: the NATS
                // probe says the latter.
                Ok(Err(_)) | Err(_) => return Ok(()),
            };
            metrics::gauge!("nsplane_consumer_pending", "consumer" => self.consumer.clone()).set(waiting as f64);
            let Some(stall_after) = self.stall_after else {
                return Ok(());
            };
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            match *seen {
                Some((position, since)) if position == acked && waiting > 0 => {
                    let stuck = now.duration_since(since);
                    if stuck > stall_after {
                        return Err(format!(
                            "stalled: {waiting} commits waiting, no progress for {} s",
                            stuck.as_secs()
                        ));
                    }
                }
                _ => *seen = Some((acked, now)),
            }
            if waiting == 0 {
                *seen = Some((acked, now));
            }
            Ok(())
        })
    }
}

/// What the last round of checks found: each dependency's name and its failure, if any.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// `(name, None)` for a healthy dependency, `(name, Some(why))` for a failing one.
    pub checks: Vec<(String, Option<String>)>,
}

impl Report {
    /// Whether every dependency answered.
    pub fn healthy(&self) -> bool {
        self.checks.iter().all(|(_, failure)| failure.is_none())
    }

    /// The answer's body: `OK`, or one line per failing dependency.
    pub fn body(&self) -> String {
        if self.healthy() {
            return "OK\n".to_owned();
        }
        self.checks
            .iter()
            .filter_map(|(name, failure)| failure.as_ref().map(|why| format!("{name}: {why}\n")))
            .collect()
    }
}

/// The health of one process: its probes, checked in the background, and the latest report.
#[derive(Clone)]
pub struct Health {
    report: watch::Receiver<Report>,
}

impl Health {
    /// Checks `probes` every [`CHECK_EVERY`] until `shutdown` turns true, logging each outage's start
    /// and end and setting the `nsplane_dependency_up` gauge. Until the first round ends the process
    /// reports itself unhealthy ("starting").
    pub fn start(probes: Vec<Box<dyn Probe>>, mut shutdown: watch::Receiver<bool>) -> Health {
        let starting = Report {
            checks: vec![("nsplane".to_owned(), Some("starting".to_owned()))],
        };
        let (tx, report) = watch::channel(starting);
        tokio::spawn(async move {
            let mut outages: Vec<Option<(Instant, u64)>> = vec![None; probes.len()];
            loop {
                let results = futures::future::join_all(probes.iter().map(|p| p.check())).await;
                let mut checks = Vec::with_capacity(probes.len());
                for ((probe, result), outage) in probes.iter().zip(results).zip(outages.iter_mut()) {
                    let name = probe.name();
                    let up = if result.is_ok() { 1.0 } else { 0.0 };
                    metrics::gauge!("nsplane_dependency_up", "dependency" => name.clone()).set(up);
                    if result.is_err() {
                        metrics::counter!("nsplane_dependency_failed_checks_total", "dependency" => name.clone())
                            .increment(1);
                    }
                    match (&result, outage.as_mut()) {
                        (Err(why), None) => {
                            warn!(dependency = %name, error = %why, "dependency unavailable; unhealthy until it answers again");
                            *outage = Some((Instant::now(), 1));
                        }
                        (Err(_), Some((_, failed))) => *failed += 1,
                        (Ok(()), Some((since, failed))) => {
                            info!(
                                dependency = %name,
                                seconds = since.elapsed().as_secs_f64(),
                                failed_checks = *failed,
                                "dependency available again"
                            );
                            *outage = None;
                        }
                        (Ok(()), None) => {}
                    }
                    checks.push((name, result.err()));
                }
                tx.send_replace(Report { checks });
                tokio::select! {
                    _ = shutdown.wait_for(|stop| *stop) => return,
                    _ = tokio::time::sleep(CHECK_EVERY) => {}
                }
            }
        });
        Health { report }
    }

    /// The latest report.
    pub fn report(&self) -> Report {
        self.report.borrow().clone()
    }
}

/// The process's Prometheus recorder: installed once, on first use (later calls get the same handle).
pub fn metrics_handle() -> anyhow::Result<metrics_exporter_prometheus::PrometheusHandle> {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> = std::sync::OnceLock::new();
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    // Latency buckets from 0.5 ms to 30 s.
    let buckets = [
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    ];
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(&buckets)?
        .build_recorder();
    let handle = recorder.handle();
    if metrics::set_global_recorder(recorder).is_err() {
        anyhow::bail!("another metrics recorder is installed");
    }
    let handle = HANDLE.get_or_init(|| handle).clone();
    let upkeep = handle.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

/// `/healthcheck` and `/metrics` as a router (the API merges it into its own).
pub fn router(health: Health, metrics: metrics_exporter_prometheus::PrometheusHandle) -> axum::Router {
    use axum::http::{header, StatusCode};
    use axum::routing::get;
    axum::Router::new()
        .route(
            "/healthcheck",
            get(move || {
                let report = health.report();
                async move {
                    let status = if report.healthy() {
                        StatusCode::OK
                    } else {
                        StatusCode::SERVICE_UNAVAILABLE
                    };
                    (
                        status,
                        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                        report.body(),
                    )
                }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let text = metrics.render();
                async move {
                    (
                        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
                        text,
                    )
                }
            }),
        )
}

/// Serves [`router`] on `listener` until `shutdown` turns true.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await?;
    Ok(())
}

/// A durable consumer to watch: its stream, its name, and how long it may hold waiting work without
/// progress before its role is unhealthy (`None`: only measured).
pub type Watched<'a> = (&'a str, &'a str, Option<Duration>);

/// The probes of a role that uses NATS (and PostgreSQL, when `database_url` is given), and of the
/// durable consumers it reads.
pub async fn standard_probes(
    nats_url: &str,
    database_url: Option<&str>,
    consumers: &[Watched<'_>],
) -> anyhow::Result<Vec<Box<dyn Probe>>> {
    let nats = NatsProbe::connect(nats_url).await?;
    let client = nats.client();
    let mut probes: Vec<Box<dyn Probe>> = vec![Box::new(nats)];
    if let Some(url) = database_url {
        probes.push(Box::new(PostgresProbe::new(url)));
    }
    for (stream, name, stall_after) in consumers {
        probes.push(Box::new(ConsumerProbe::new(client.clone(), stream, name, *stall_after)));
    }
    Ok(probes)
}

/// Logs a failing dependency once when it starts failing and once when it works again (with how long
/// and how many attempts failed), instead of once per retry.
#[derive(Debug)]
pub struct Outage {
    what: &'static str,
    since: Option<(Instant, u64)>,
}

impl Outage {
    /// An outage tracker for `what` (e.g. "applying commits to PostgreSQL").
    pub fn new(what: &'static str) -> Outage {
        Outage { what, since: None }
    }

    /// An attempt failed.
    pub fn failed(&mut self, error: &str) {
        match &mut self.since {
            None => {
                warn!(
                    what = self.what,
                    error, "failing; retrying quietly until it works again"
                );
                self.since = Some((Instant::now(), 1));
            }
            Some((_, failures)) => {
                *failures += 1;
                tracing::debug!(what = self.what, error, failures = *failures, "still failing");
            }
        }
    }

    /// An attempt worked.
    pub fn worked(&mut self) {
        if let Some((since, failures)) = self.since.take() {
            info!(
                what = self.what,
                seconds = since.elapsed().as_secs_f64(),
                failures,
                "working again"
            );
        }
    }

    /// Whether it is failing now.
    pub fn failing(&self) -> bool {
        self.since.is_some()
    }
}
