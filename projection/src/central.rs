//! `nsplane central`: the projector. Every instance pulls from one durable JetStream consumer over the
//! commits of every aggregate kind, applies batches of them to PostgreSQL (dispatching each commit to
//! its kind's projector), and after each batch announces "projected" and publishes zone changes to the
//! zone-change work queue.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, consumer::pull, AckKind};
use deadpool_postgres::Pool;
use futures::StreamExt as _;
use nsplane_schema::messages::{Projected, ZoneChange};
use nsplane_schema::{Layout, RawCommit};
use tokio::sync::watch;
use tracing::{debug, error, info, warn};

use crate::apply::{apply_batch, Delivered, Outcome};
use crate::db::PgConfig;
use crate::projectors::Projectors;
use nsplane_runtime::NatsConfig;

/// Everything central needs, validated.
#[derive(Clone)]
pub struct CentralConfig {
    /// NATS.
    pub nats: NatsConfig,
    /// The read models.
    pub pg: PgConfig,
    /// Every name, from the prefix.
    pub layout: Layout,
    /// The durable consumer every instance shares (the layout's central consumer; another name builds a
    /// second, independent projection of the same stream).
    pub consumer: String,
    /// Most commits applied in one transaction.
    pub batch_max: usize,
    /// The projector of each aggregate kind.
    pub projectors: Projectors,
}

impl CentralConfig {
    /// Batches of up to 256 commits, the standard projectors.
    pub fn new(nats: NatsConfig, pg: PgConfig, layout: Layout) -> Self {
        Self {
            nats,
            pg,
            consumer: layout.central_consumer(),
            layout,
            batch_max: 256,
            projectors: Projectors::standard(),
        }
    }
}

/// Redelivery delay for a commit whose predecessor is not projected yet.
const GAP_RETRY_DELAY: Duration = Duration::from_millis(20);
/// Redelivery delay for a commit no projector here knows (a newer writer; an upgraded central takes it).
const UNKNOWN_KIND_RETRY_DELAY: Duration = Duration::from_secs(30);

/// Opens the durable consumer over every commit. A consumer created by an older version (zone commits
/// only) is replaced by one that starts at the beginning of the stream: every commit is read once more,
/// those already projected are skipped by their version, and the commits of the other kinds that the
/// old consumer never saw are projected.
async fn open_consumer(
    config: &CentralConfig,
    stream: &jetstream::stream::Stream,
) -> anyhow::Result<jetstream::consumer::Consumer<pull::Config>> {
    let durable = config.consumer.clone();
    let filter = config.layout.all_events();
    if let Ok(mut existing) = stream.get_consumer::<pull::Config>(&durable).await {
        let info = existing.info().await.context("failed to read the central consumer")?;
        if info.config.filter_subject == filter {
            return Ok(existing);
        }
        info!(
            consumer = %durable,
            old_filter = %info.config.filter_subject,
            "upgrading the central consumer to every aggregate kind; commits are read once more and those already projected are skipped"
        );
        stream
            .delete_consumer(&durable)
            .await
            .context("failed to replace the central consumer")?;
    }
    stream
        .get_or_create_consumer(
            &durable,
            pull::Config {
                durable_name: Some(durable.clone()),
                filter_subject: filter,
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                // A commit delivered to an instance that died is redelivered after this; successors
                // wait for it (as gaps), so it bounds how long a crash stalls an aggregate's projection.
                // A batch slower than this is redelivered and skipped by the version check.
                ack_wait: Duration::from_secs(10),
                max_ack_pending: 20_000,
                deliver_policy: jetstream::consumer::DeliverPolicy::All,
                ..Default::default()
            },
        )
        .await
        .context("failed to open the central consumer")
}

/// Whether opening the stream failed because it does not exist yet, or NATS did not answer in time.
fn stream_missing_or_unreachable(error: &jetstream::context::GetStreamError) -> bool {
    match error.kind() {
        jetstream::context::GetStreamErrorKind::JetStream(e) => {
            e.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND
        }
        jetstream::context::GetStreamErrorKind::Request => true,
        _ => false,
    }
}

/// How long central waits between looks for the event stream, before a writer has created it.
const STREAM_WAIT: Duration = Duration::from_secs(1);

/// `nsplane central`: connects to NATS and PostgreSQL, waits for the event stream (a writer creates it),
/// and projects until `shutdown` turns true; the batch in hand is finished first.
pub async fn run(config: CentralConfig, mut shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
    let client = nsplane_runtime::connect(&config.nats, "nsplane-central").await?;
    let pool = crate::db::connect_pool(&config.pg)?;
    crate::db::migrate(&pool)
        .await
        .context("failed to migrate the read models")?;
    let js = jetstream::new(client.clone());
    let name = config.layout.events_stream();
    let mut announced = false;
    let stream = loop {
        match js.get_stream(&name).await {
            Ok(stream) => break stream,
            Err(e) if stream_missing_or_unreachable(&e) => {
                if !announced {
                    info!(stream = %name, "waiting for the event stream (the API or any writer creates it)");
                    announced = true;
                }
                tokio::select! {
                    _ = shutdown.wait_for(|stop| *stop) => return Ok(()),
                    _ = tokio::time::sleep(STREAM_WAIT) => {}
                }
            }
            Err(e) => return Err(anyhow::Error::new(e).context("failed to open the event stream")),
        }
    };
    let consumer = open_consumer(&config, &stream).await?;
    let start_pull = || async {
        consumer
            .stream()
            .max_messages_per_batch(config.batch_max.max(1) * 2)
            .heartbeat(Duration::from_secs(5))
            .expires(Duration::from_secs(10))
            .messages()
            .await
            .context("failed to start consuming")
            .map(|messages| messages.ready_chunks(config.batch_max.max(1)))
    };
    let mut chunks = start_pull().await?;
    info!(consumer = %config.consumer, "central consuming");
    let mut applying = nsplane_runtime::ops::Outage::new("central: applying commits");
    let mut reading = nsplane_runtime::ops::Outage::new("central: reading the event stream");
    loop {
        let chunk = tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => break,
            chunk = chunks.next() => chunk,
        };
        let Some(chunk) = chunk else {
            anyhow::bail!("the central consumer's message stream ended");
        };
        nsplane_runtime::failpoint::check("central.batch")?;
        let mut delivered = Vec::with_capacity(chunk.len());
        let mut pull_again = false;
        for message in chunk {
            match message {
                Ok(m) => delivered.push(m),
                Err(e) => {
                    // The node that held our pull request may be gone (a NATS node died): ask again
                    // at once instead of waiting for the request to expire.
                    pull_again |= matches!(e.kind(), pull::MessagesErrorKind::MissingHeartbeat);
                    reading.failed(&e.to_string());
                }
            }
        }
        if !delivered.is_empty() {
            reading.worked();
        }
        match handle_chunk(&config, &js, &client, &pool, delivered).await {
            Ok(()) => applying.worked(),
            Err(e) => {
                // Unacknowledged messages are redelivered after ack_wait; nothing is lost.
                applying.failed(&format!("{e:#}"));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        if pull_again {
            match start_pull().await {
                Ok(fresh) => chunks = fresh,
                Err(e) => warn!(
                    error = format!("{e:#}"),
                    "cannot pull again yet; keeping the old request"
                ),
            }
        }
    }
    info!("central stopped");
    Ok(())
}

async fn handle_chunk(
    config: &CentralConfig,
    js: &jetstream::Context,
    client: &async_nats::Client,
    pool: &Pool,
    messages: Vec<jetstream::Message>,
) -> anyhow::Result<()> {
    let mut commits = Vec::with_capacity(messages.len());
    let mut decoded_messages = Vec::with_capacity(messages.len());
    for message in messages {
        let stream_seq = message.info().map(|i| i.stream_sequence).unwrap_or(0);
        match RawCommit::decode(&message.payload) {
            Ok(commit) => {
                commits.push(Delivered { stream_seq, commit });
                decoded_messages.push(message);
            }
            Err(e) => {
                // Skipping a commit would corrupt the read models: stall it and ask for a human.
                error!(stream_seq, error = %e, subject = %message.subject, "undecodable commit; it will be retried");
                let _ = message.ack_with(AckKind::Nak(Some(Duration::from_secs(30)))).await;
            }
        }
    }
    if commits.is_empty() {
        return Ok(());
    }
    let mut conn = match pool.get().await {
        Ok(conn) => conn,
        Err(e) => {
            // Nothing was applied: hand the batch back now. Left unacknowledged, it would wait out the
            // consumer's ack_wait and stall these aggregates' projection that long after PostgreSQL is back.
            for message in &decoded_messages {
                let _ = message.ack_with(AckKind::Nak(Some(Duration::from_secs(1)))).await;
            }
            return Err(anyhow::Error::new(e).context("failed to get a postgres connection"));
        }
    };
    let applying = std::time::Instant::now();
    let outcomes = match apply_batch(&mut conn, &config.projectors, &commits).await {
        Ok(outcomes) => outcomes,
        Err(e) => {
            // Usually a race with another instance on a brand-new aggregate: retry one by one.
            debug!(
                error = format!("{e:#}"),
                batch = commits.len(),
                "batch failed; applying one by one"
            );
            let mut outcomes = Vec::with_capacity(commits.len());
            for commit in &commits {
                match apply_batch(&mut conn, &config.projectors, std::slice::from_ref(commit)).await {
                    Ok(mut one) => outcomes.push(one.pop().unwrap_or(Outcome::Gap { projected: 0 })),
                    Err(e) => {
                        warn!(
                            stream_seq = commit.stream_seq,
                            error = format!("{e:#}"),
                            "commit failed to apply; will retry"
                        );
                        outcomes.push(Outcome::Gap { projected: 0 });
                    }
                }
            }
            outcomes
        }
    };
    drop(conn);
    metrics::histogram!("nsplane_projection_batch_seconds").record(applying.elapsed().as_secs_f64());
    let applied = outcomes.iter().filter(|o| matches!(o, Outcome::Applied)).count();
    metrics::counter!("nsplane_projected_commits_total").increment(applied as u64);
    if let Some(last) = commits
        .iter()
        .zip(&outcomes)
        .rev()
        .find(|(_, o)| matches!(o, Outcome::Applied))
    {
        // From the command's decision to its read models: what a reader waits for at worst.
        let lag = chrono::Utc::now() - last.0.commit.metadata.time;
        metrics::gauge!("nsplane_projection_lag_seconds").set(lag.as_seconds_f64().max(0.0));
    }
    // Newest projected version per aggregate in this batch.
    let mut newest: HashMap<(&str, &str), &Delivered> = HashMap::new();
    for (delivered, outcome) in commits.iter().zip(&outcomes) {
        if matches!(outcome, Outcome::Applied | Outcome::AlreadyApplied) {
            let key = (
                delivered.commit.aggregate_type.as_str(),
                delivered.commit.aggregate_id.as_str(),
            );
            let entry = newest.entry(key).or_insert(delivered);
            if delivered.commit.version > entry.commit.version {
                *entry = delivered;
            }
        }
    }
    let published = publish(config, js, client, newest.values().copied()).await;
    for ((message, delivered), outcome) in decoded_messages.into_iter().zip(&commits).zip(outcomes) {
        let ack = match outcome {
            Outcome::Applied | Outcome::AlreadyApplied if published.is_ok() => AckKind::Ack,
            Outcome::Applied | Outcome::AlreadyApplied => AckKind::Nak(Some(Duration::from_millis(500))),
            Outcome::Gap { projected } => {
                debug!(
                    aggregate_type = %delivered.commit.aggregate_type,
                    aggregate_id = %delivered.commit.aggregate_id,
                    version = delivered.commit.version,
                    projected,
                    "predecessor not projected yet"
                );
                AckKind::Nak(Some(GAP_RETRY_DELAY))
            }
            Outcome::UnknownKind => {
                error!(
                    aggregate_type = %delivered.commit.aggregate_type,
                    stream_seq = delivered.stream_seq,
                    "no projection for this aggregate kind in this build; it waits for an upgraded central"
                );
                AckKind::Nak(Some(UNKNOWN_KIND_RETRY_DELAY))
            }
        };
        if let Err(e) = message.ack_with(ack).await {
            debug!(error = %e, "ack failed; the commit will be redelivered and skipped");
        }
    }
    published
}

/// Publishes what the newest projected commit of each aggregate asks for (zone changes, durably), and
/// announces each as projected.
async fn publish(
    config: &CentralConfig,
    js: &jetstream::Context,
    client: &async_nats::Client,
    newest: impl Iterator<Item = &Delivered>,
) -> anyhow::Result<()> {
    let layout = &config.layout;
    let mut acks = Vec::new();
    for delivered in newest {
        let commit = &delivered.commit;
        if let Some(change) = config
            .projectors
            .get(&commit.aggregate_type)
            .and_then(|p| p.after_commit(delivered))
        {
            acks.push(publish_zone_change(js, layout, &change).await?);
        }
        // "Projected" is a hint for read-your-writes waiters; losing one only delays a reader's poll.
        let projected = Projected {
            aggregate_type: commit.aggregate_type.clone(),
            aggregate_id: commit.aggregate_id.clone(),
            version: commit.version,
        };
        let _ = client
            .publish(
                layout.projected_subject(&commit.aggregate_type, &commit.aggregate_id),
                serde_json::to_vec(&projected)?.into(),
            )
            .await;
    }
    for ack in acks {
        ack.await
            .context("the zone-change queue did not acknowledge a zone change")?;
    }
    Ok(())
}

async fn publish_zone_change(
    js: &jetstream::Context,
    layout: &Layout,
    change: &ZoneChange,
) -> anyhow::Result<jetstream::context::PublishAckFuture> {
    let publish = jetstream::message::PublishMessage::build()
        .payload(serde_json::to_vec(change)?.into())
        .message_id(format!("zc.{}.{}", change.zone_id, change.version));
    Ok(js
        .send_publish(layout.zone_change_subject(change.zone_id), publish)
        .await?)
}
