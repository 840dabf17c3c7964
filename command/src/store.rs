//! The event store: one JetStream stream, one message per command on `<prefix>.events.<aggregate>.<id>`,
//! appended with `Nats-Expected-Last-Subject-Sequence` (optimistic concurrency) and `Nats-Msg-Id`
//! (a retried request commits once).

use std::error::Error as _;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, context::PublishErrorKind, stream, ErrorCode};
use futures::StreamExt as _;
use nsplane_schema::{event::CommitEnvelope, subjects};

/// How the event stream is laid out.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Subject prefix, e.g. `nsplane`.
    pub prefix: String,
    /// Stream name, e.g. `NSPLANE_EVENTS`.
    pub stream_name: String,
    /// Replicas of the stream (1 for dev, 3 in production clusters).
    pub replicas: usize,
    /// How long JetStream remembers a `Nats-Msg-Id` for de-duplication.
    pub duplicate_window: Duration,
}

impl StoreConfig {
    /// Defaults for a prefix: stream `<PREFIX>_EVENTS`, one replica, a two-minute duplicate window.
    pub fn for_prefix(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
            stream_name: format!("{}_EVENTS", prefix.to_uppercase().replace(['.', '-'], "_")),
            replicas: 1,
            duplicate_window: Duration::from_secs(120),
        }
    }

    /// Name of the ZONE_CHANGES work-queue stream for this prefix.
    pub fn zone_changes_stream(&self) -> String {
        format!("{}_ZONE_CHANGES", self.prefix.to_uppercase().replace(['.', '-'], "_"))
    }
}

/// Why an append did not commit.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// Someone else appended to the subject first (10071, or 10164 while another CAS write is in
    /// flight). The caller reloads and re-decides.
    #[error("the aggregate changed concurrently")]
    Conflict,
    /// The outcome is unknown or the server is briefly unable to take writes (timeout, leader
    /// election, 10163, 10158). Retrying with the same message id is safe.
    #[error("append outcome unknown or store unavailable: {0}")]
    Indefinite(String),
    /// Anything else; not retried.
    #[error(transparent)]
    Other(anyhow::Error),
}

/// A successful append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Stream sequence of the commit.
    pub stream_seq: u64,
    /// True when JetStream recognised the message id: the commit had already been stored.
    pub duplicate: bool,
}

/// A commit read back from the stream.
#[derive(Debug, Clone)]
pub struct StoredCommit {
    /// Its stream sequence.
    pub stream_seq: u64,
    /// Its `Nats-Msg-Id`.
    pub message_id: Option<String>,
    /// The decoded envelope.
    pub envelope: CommitEnvelope,
}

/// The JetStream event store.
#[derive(Clone)]
pub struct EventStore {
    config: StoreConfig,
    js: jetstream::Context,
    stream: stream::Stream,
}

impl EventStore {
    /// Creates (or updates) the event stream and the ZONE_CHANGES work queue, and returns the store.
    pub async fn open(client: async_nats::Client, config: StoreConfig) -> anyhow::Result<Self> {
        let js = jetstream::new(client);
        let events = stream::Config {
            name: config.stream_name.clone(),
            subjects: vec![subjects::all_events(&config.prefix)],
            storage: stream::StorageType::File,
            num_replicas: config.replicas,
            duplicate_window: config.duplicate_window,
            allow_direct: true,
            retention: stream::RetentionPolicy::Limits,
            discard: stream::DiscardPolicy::New,
            ..Default::default()
        };
        js.create_or_update_stream(events)
            .await
            .with_context(|| format!("failed to create or update stream {}", config.stream_name))?;
        // One pending message per zone: a newer change replaces the pending one.
        let changes = stream::Config {
            name: config.zone_changes_stream(),
            subjects: vec![subjects::all_zone_changes(&config.prefix)],
            storage: stream::StorageType::File,
            num_replicas: config.replicas,
            retention: stream::RetentionPolicy::WorkQueue,
            max_messages_per_subject: 1,
            discard: stream::DiscardPolicy::Old,
            duplicate_window: config.duplicate_window,
            ..Default::default()
        };
        js.create_or_update_stream(changes)
            .await
            .with_context(|| format!("failed to create or update stream {}", config.zone_changes_stream()))?;
        let stream = js
            .get_stream(&config.stream_name)
            .await
            .with_context(|| format!("failed to open stream {}", config.stream_name))?;
        Ok(Self { config, js, stream })
    }

    /// The layout.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// The JetStream context (for reservations).
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    /// Appends one commit. `expected_subject_seq` is the stream sequence of the subject's last message
    /// (0 if the aggregate has none yet).
    pub async fn append(
        &self,
        subject: &str,
        envelope: &CommitEnvelope,
        expected_subject_seq: u64,
        message_id: &str,
    ) -> Result<Appended, AppendError> {
        let payload = serde_json::to_vec(envelope).map_err(|e| AppendError::Other(e.into()))?;
        self.append_bytes(subject, payload, expected_subject_seq, message_id)
            .await
    }

    /// Appends an encoded commit of any aggregate, with the same concurrency and de-duplication rules.
    pub async fn append_bytes(
        &self,
        subject: &str,
        payload: Vec<u8>,
        expected_subject_seq: u64,
        message_id: &str,
    ) -> Result<Appended, AppendError> {
        let publish = jetstream::message::PublishMessage::build()
            .payload(payload.into())
            .message_id(message_id)
            .expected_last_subject_sequence(expected_subject_seq);
        let ack = self
            .js
            .send_publish(subject.to_owned(), publish)
            .await
            .map_err(|e| classify(e.kind(), e.source(), e.to_string()))?
            .await
            .map_err(|e| classify(e.kind(), e.source(), e.to_string()))?;
        Ok(Appended {
            stream_seq: ack.sequence,
            duplicate: ack.duplicate,
        })
    }

    /// The last commit on a subject, if any.
    pub async fn last_on_subject(&self, subject: &str) -> anyhow::Result<Option<StoredCommit>> {
        match self.stream.direct_get_last_for_subject(subject).await {
            Ok(message) => Ok(Some(decode(message)?)),
            Err(e) if e.kind() == stream::DirectGetErrorKind::NotFound => Ok(None),
            Err(e) => Err(anyhow::Error::new(e).context(format!("failed to read last commit of {subject}"))),
        }
    }

    /// Every commit on `subject` with a stream sequence above `after_seq` and at most `up_to_seq`,
    /// in order. Streams them through an ordered consumer, so a long history costs one round trip per
    /// batch rather than per commit.
    pub async fn commits_between(
        &self,
        subject: &str,
        after_seq: u64,
        up_to_seq: u64,
    ) -> anyhow::Result<Vec<StoredCommit>> {
        if up_to_seq <= after_seq {
            return Ok(Vec::new());
        }
        let consumer = self
            .stream
            .create_consumer(jetstream::consumer::pull::OrderedConfig {
                filter_subject: subject.to_owned(),
                deliver_policy: jetstream::consumer::DeliverPolicy::ByStartSequence {
                    start_sequence: after_seq + 1,
                },
                ..Default::default()
            })
            .await
            .with_context(|| format!("failed to create a reader for {subject}"))?;
        let mut messages = consumer.messages().await.context("failed to read commits")?;
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let next = tokio::time::timeout_at(deadline, messages.next())
                .await
                .with_context(|| format!("timed out reading commits of {subject}"))?;
            let Some(message) = next else { break };
            let message = message.map_err(|e| anyhow::anyhow!("failed to read a commit: {e}"))?;
            let info = message.info().map_err(|e| anyhow::anyhow!("bad message info: {e}"))?;
            let seq = info.stream_sequence;
            let pending = info.pending;
            let message_id = message
                .headers
                .as_ref()
                .and_then(|h| h.get("Nats-Msg-Id"))
                .map(|v| v.as_str().to_owned());
            let envelope: CommitEnvelope = serde_json::from_slice(&message.payload)
                .with_context(|| format!("undecodable commit at stream seq {seq}"))?;
            if seq <= up_to_seq {
                out.push(StoredCommit {
                    stream_seq: seq,
                    message_id,
                    envelope,
                });
            }
            if seq >= up_to_seq || pending == 0 {
                break;
            }
        }
        Ok(out)
    }

    /// The last message on a subject, undecoded: `(stream seq, payload)`.
    pub async fn last_raw(&self, subject: &str) -> anyhow::Result<Option<(u64, bytes::Bytes)>> {
        match self.stream.direct_get_last_for_subject(subject).await {
            Ok(message) => Ok(Some((message.sequence, message.payload))),
            Err(e) if e.kind() == stream::DirectGetErrorKind::NotFound => Ok(None),
            Err(e) => Err(anyhow::Error::new(e).context(format!("failed to read the last message of {subject}"))),
        }
    }

    /// Opens (creating if needed) the KV bucket `<prefix>_<suffix>`: file storage, one value per key,
    /// the event stream's replica count. Returns the bucket and its name.
    pub async fn open_bucket(&self, suffix: &str) -> anyhow::Result<(jetstream::kv::Store, String)> {
        let bucket = format!("{}_{suffix}", self.config.prefix.replace(['.', '-'], "_"));
        let kv = match self.js.get_key_value(&bucket).await {
            Ok(kv) => kv,
            Err(_) => self
                .js
                .create_key_value(jetstream::kv::Config {
                    bucket: bucket.clone(),
                    history: 1,
                    storage: stream::StorageType::File,
                    num_replicas: self.config.replicas,
                    ..Default::default()
                })
                .await
                .or(self.js.get_key_value(&bucket).await)
                .with_context(|| format!("failed to open KV bucket {bucket}"))?,
        };
        Ok((kv, bucket))
    }

    /// Number of messages in the event stream (for tests and tools).
    pub async fn message_count(&self) -> anyhow::Result<u64> {
        let mut stream = self.stream.clone();
        Ok(stream
            .info()
            .await
            .context("failed to read stream info")?
            .state
            .messages)
    }
}

fn decode(message: jetstream::message::StreamMessage) -> anyhow::Result<StoredCommit> {
    let message_id = message.headers.get("Nats-Msg-Id").map(|v| v.as_str().to_owned());
    let envelope: CommitEnvelope = serde_json::from_slice(&message.payload)
        .with_context(|| format!("undecodable commit at stream seq {}", message.sequence))?;
    Ok(StoredCommit {
        stream_seq: message.sequence,
        message_id,
        envelope,
    })
}

fn classify(kind: PublishErrorKind, source: Option<&(dyn std::error::Error + 'static)>, text: String) -> AppendError {
    match kind {
        PublishErrorKind::WrongLastSequence => AppendError::Conflict,
        PublishErrorKind::TimedOut | PublishErrorKind::BrokenPipe | PublishErrorKind::StreamNotFound => {
            AppendError::Indefinite(text)
        }
        PublishErrorKind::Other => {
            let code = source
                .and_then(|s| s.downcast_ref::<async_nats::jetstream::Error>())
                .map(|e| e.error_code());
            match code {
                Some(ErrorCode::STREAM_WRONG_LAST_SEQUENCE_CONSTANT) => AppendError::Conflict,
                Some(ErrorCode::STREAM_EXPECTED_LAST_SEQ_PER_SUBJECT_NOT_READY)
                | Some(ErrorCode::STREAM_DUPLICATE_MESSAGE_CONFLICT) => AppendError::Indefinite(text),
                _ => AppendError::Other(anyhow::anyhow!("append failed: {text}")),
            }
        }
        _ => AppendError::Other(anyhow::anyhow!("append failed: {text}")),
    }
}
