//! `nsplane central`: the projector. Every instance pulls from one durable JetStream consumer, applies
//! batches of commits to PostgreSQL, and after each commit announces "projected" and publishes the
//! zone's change to the ZONE_CHANGES work queue.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, consumer::pull, AckKind};
use deadpool_postgres::Pool;
use futures::StreamExt as _;
use nsplane_schema::event::CommitEnvelope;
use nsplane_schema::{subjects, ZoneId};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tracing::{debug, error, info, warn};

use crate::apply::{apply_batch, Delivered, Outcome};

/// How central consumes.
#[derive(Debug, Clone)]
pub struct CentralConfig {
    /// Subject prefix.
    pub prefix: String,
    /// The event stream.
    pub stream_name: String,
    /// The ZONE_CHANGES stream.
    pub zone_changes_stream: String,
    /// The durable consumer all instances share.
    pub durable_name: String,
    /// Most commits applied in one transaction.
    pub batch_max: usize,
}

/// The message a zone change leaves for the worker: the newest projected state of the zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneChange {
    /// The zone.
    pub zone_id: ZoneId,
    /// Its aggregate version in the read models.
    pub version: u64,
    /// Its stream sequence.
    pub stream_seq: u64,
}

/// Redelivery delay for a commit whose predecessor is not projected yet.
const GAP_RETRY_DELAY: Duration = Duration::from_millis(20);

/// Runs central until `shutdown` turns true.
pub async fn run(
    config: CentralConfig,
    client: async_nats::Client,
    pool: Pool,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let js = jetstream::new(client.clone());
    let stream = js
        .get_stream(&config.stream_name)
        .await
        .context("failed to open the event stream")?;
    let consumer: jetstream::consumer::Consumer<pull::Config> = stream
        .get_or_create_consumer(
            &config.durable_name,
            pull::Config {
                durable_name: Some(config.durable_name.clone()),
                filter_subject: subjects::all_zone_events(&config.prefix),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                // A commit delivered to an instance that died is redelivered after this; successors
                // wait for it (as gaps), so it bounds how long a crash stalls a zone's projection.
                // A batch slower than this is redelivered and skipped by the version check.
                ack_wait: Duration::from_secs(10),
                max_ack_pending: 20_000,
                deliver_policy: jetstream::consumer::DeliverPolicy::All,
                ..Default::default()
            },
        )
        .await
        .context("failed to open the central consumer")?;
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
    info!(consumer = %config.durable_name, "central consuming");
    loop {
        let chunk = tokio::select! {
            _ = shutdown.changed() => break,
            chunk = chunks.next() => chunk,
        };
        let Some(chunk) = chunk else {
            anyhow::bail!("the central consumer's message stream ended");
        };
        let mut delivered = Vec::with_capacity(chunk.len());
        let mut pull_again = false;
        for message in chunk {
            match message {
                Ok(m) => delivered.push(m),
                Err(e) => {
                    // The node that held our pull request may be gone (a NATS node died): ask again
                    // at once instead of waiting for the request to expire.
                    pull_again |= matches!(e.kind(), pull::MessagesErrorKind::MissingHeartbeat);
                    warn!(error = %e, "error from the central consumer; continuing");
                }
            }
        }
        if let Err(e) = handle_chunk(&config, &js, &client, &pool, delivered).await {
            // Unacknowledged messages are redelivered after ack_wait; nothing is lost.
            error!(error = format!("{e:#}"), "central failed to handle a batch");
            tokio::time::sleep(Duration::from_millis(200)).await;
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
    let pools_subject = subjects::pools_events(&config.prefix);
    for message in messages {
        let stream_seq = message.info().map(|i| i.stream_sequence).unwrap_or(0);
        if message.subject.as_str() == pools_subject {
            // Not a read model's business (consumers created before the zone-only filter still see them).
            let _ = message.ack().await;
            continue;
        }
        match serde_json::from_slice::<CommitEnvelope>(&message.payload) {
            Ok(envelope) => {
                commits.push(Delivered { stream_seq, envelope });
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
            // consumer's ack_wait (30 s) and stall these zones' projection that long after PostgreSQL is back.
            for message in &decoded_messages {
                let _ = message.ack_with(AckKind::Nak(Some(Duration::from_secs(1)))).await;
            }
            return Err(anyhow::Error::new(e).context("failed to get a postgres connection"));
        }
    };
    let outcomes = match apply_batch(&mut conn, &commits).await {
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
                match apply_batch(&mut conn, std::slice::from_ref(commit)).await {
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
    // Newest projected version per zone in this batch.
    let mut changed: HashMap<String, (u64, u64)> = HashMap::new();
    for (commit, outcome) in commits.iter().zip(&outcomes) {
        if matches!(outcome, Outcome::Applied | Outcome::AlreadyApplied) {
            let entry = changed.entry(commit.envelope.aggregate_id.clone()).or_insert((0, 0));
            if commit.envelope.version > entry.0 {
                *entry = (commit.envelope.version, commit.stream_seq);
            }
        }
    }
    let published = publish_changes(config, js, client, &changed).await;
    for ((message, commit), outcome) in decoded_messages.into_iter().zip(&commits).zip(outcomes) {
        let ack = match outcome {
            Outcome::Applied | Outcome::AlreadyApplied if published.is_ok() => AckKind::Ack,
            Outcome::Applied | Outcome::AlreadyApplied => AckKind::Nak(Some(Duration::from_millis(500))),
            Outcome::Gap { projected } => {
                debug!(
                    aggregate_id = %commit.envelope.aggregate_id,
                    version = commit.envelope.version,
                    projected,
                    "predecessor not projected yet"
                );
                AckKind::Nak(Some(GAP_RETRY_DELAY))
            }
        };
        if let Err(e) = message.ack_with(ack).await {
            debug!(error = %e, "ack failed; the commit will be redelivered and skipped");
        }
    }
    published
}

async fn publish_changes(
    config: &CentralConfig,
    js: &jetstream::Context,
    client: &async_nats::Client,
    changed: &HashMap<String, (u64, u64)>,
) -> anyhow::Result<()> {
    let mut acks = Vec::with_capacity(changed.len());
    for (aggregate_id, (version, stream_seq)) in changed {
        let Ok(zone_id) = ZoneId::parse(aggregate_id) else {
            continue;
        };
        let change = ZoneChange {
            zone_id,
            version: *version,
            stream_seq: *stream_seq,
        };
        let payload = serde_json::to_vec(&change)?;
        let publish = jetstream::message::PublishMessage::build()
            .payload(payload.clone().into())
            .message_id(format!("zc.{zone_id}.{version}"));
        acks.push(
            js.send_publish(subjects::zone_change(&config.prefix, zone_id), publish)
                .await?,
        );
        // "Projected" is a hint for read-your-writes waiters; losing one only delays a reader's poll.
        let _ = client
            .publish(
                subjects::projected(&config.prefix, subjects::ZONE_AGGREGATE, aggregate_id),
                payload.into(),
            )
            .await;
    }
    for ack in acks {
        ack.await.context("ZONE_CHANGES did not acknowledge a zone change")?;
    }
    Ok(())
}
