//! The event store: one JetStream stream, one message per command on `<prefix>.events.<aggregate>.<id>`,
//! appended with `Nats-Expected-Last-Subject-Sequence` (optimistic concurrency) and `Nats-Msg-Id`
//! (a retried request commits once). Commits of every aggregate kind go through the same two functions.

use std::error::Error as _;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, context::PublishErrorKind, stream, ErrorCode};
use futures::StreamExt as _;
use nsplane_schema::envelope::{CommitEnvelope, RawCommit};
use nsplane_schema::layout::Bucket;
use nsplane_schema::{Event, Layout};

/// How the event stream is laid out.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Every name, from the prefix.
    pub layout: Layout,
    /// Replicas of the streams and buckets (1 for dev, 3 in production clusters).
    pub replicas: usize,
    /// How long JetStream remembers a `Nats-Msg-Id` for de-duplication.
    pub duplicate_window: Duration,
}

impl StoreConfig {
    /// One replica and a two-minute duplicate window.
    pub fn new(layout: Layout) -> Self {
        Self {
            layout,
            replicas: 1,
            duplicate_window: Duration::from_secs(120),
        }
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
pub struct StoredCommit<E> {
    /// Its stream sequence.
    pub stream_seq: u64,
    /// Its `Nats-Msg-Id`.
    pub message_id: Option<String>,
    /// The decoded envelope.
    pub envelope: CommitEnvelope<E>,
}

/// The JetStream event store.
#[derive(Clone)]
pub struct EventStore {
    config: StoreConfig,
    js: jetstream::Context,
    stream: stream::Stream,
    /// The producers' leases bucket, opened at the first fenced command.
    leases: std::sync::Arc<tokio::sync::OnceCell<jetstream::kv::Store>>,
}

impl EventStore {
    /// Creates (or updates) the event stream and the zone-change work queue, and returns the store.
    pub async fn open(client: async_nats::Client, config: StoreConfig) -> anyhow::Result<Self> {
        let js = jetstream::new(client);
        let layout = &config.layout;
        let events = stream::Config {
            name: layout.events_stream(),
            subjects: vec![layout.all_events()],
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
            .with_context(|| format!("failed to create or update stream {}", layout.events_stream()))?;
        // One pending message per zone: a newer change replaces the pending one.
        let changes = stream::Config {
            name: layout.zone_changes_stream(),
            subjects: vec![layout.all_zone_changes()],
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
            .with_context(|| format!("failed to create or update stream {}", layout.zone_changes_stream()))?;
        let stream = js
            .get_stream(layout.events_stream())
            .await
            .with_context(|| format!("failed to open stream {}", layout.events_stream()))?;
        Ok(Self {
            config,
            js,
            stream,
            leases: Default::default(),
        })
    }

    /// The leases bucket's handle, once opened (see `leases.rs`).
    pub(crate) fn leases_cell(&self) -> &tokio::sync::OnceCell<jetstream::kv::Store> {
        &self.leases
    }

    /// The layout and replication.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// Every name of this deployment.
    pub fn layout(&self) -> &Layout {
        &self.config.layout
    }

    /// The event stream (for the log reader).
    pub(crate) fn stream(&self) -> &stream::Stream {
        &self.stream
    }

    /// The JetStream context (for reservations).
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    /// Appends one commit of any kind. `expected_subject_seq` is the stream sequence of the subject's last
    /// message (0 if the aggregate has none yet).
    pub async fn append<E: Event>(
        &self,
        envelope: &CommitEnvelope<E>,
        expected_subject_seq: u64,
        message_id: &str,
    ) -> Result<Appended, AppendError> {
        let subject = self
            .layout()
            .events_subject(&envelope.aggregate_type, &envelope.aggregate_id);
        // A header value cannot hold a line break (async-nats panics on one): an id made from such input
        // is refused here, whatever let it through.
        if message_id.contains(['\r', '\n']) {
            return Err(AppendError::Other(anyhow::anyhow!(
                "a message id with a line break: {message_id:?}"
            )));
        }
        let payload = serde_json::to_vec(envelope).map_err(|e| AppendError::Other(e.into()))?;
        let publish = jetstream::message::PublishMessage::build()
            .payload(payload.into())
            .message_id(message_id)
            .expected_last_subject_sequence(expected_subject_seq);
        let ack = self
            .js
            .send_publish(subject, publish)
            .await
            .map_err(|e| classify(e.kind(), e.source(), e.to_string()))?
            .await
            .map_err(|e| classify(e.kind(), e.source(), e.to_string()))?;
        metrics::counter!("nsplane_commits_total", "aggregate" => envelope.aggregate_type.clone()).increment(1);
        Ok(Appended {
            stream_seq: ack.sequence,
            duplicate: ack.duplicate,
        })
    }

    /// The last commit of an aggregate, if any.
    pub async fn last<E: Event>(&self, aggregate_id: &str) -> anyhow::Result<Option<StoredCommit<E>>> {
        let subject = self.layout().events_subject(E::AGGREGATE_TYPE, aggregate_id);
        match self.stream.direct_get_last_for_subject(&subject).await {
            Ok(message) => {
                let message_id = message.headers.get("Nats-Msg-Id").map(|v| v.as_str().to_owned());
                let envelope = decode::<E>(&message.payload, message.sequence)?;
                Ok(Some(StoredCommit {
                    stream_seq: message.sequence,
                    message_id,
                    envelope,
                }))
            }
            Err(e) if e.kind() == stream::DirectGetErrorKind::NotFound => Ok(None),
            Err(e) => Err(anyhow::Error::new(e).context(format!("failed to read the last commit of {subject}"))),
        }
    }

    /// The stream sequence of an aggregate's last commit (0 if it has none).
    pub async fn last_seq<E: Event>(&self, aggregate_id: &str) -> anyhow::Result<u64> {
        let subject = self.layout().events_subject(E::AGGREGATE_TYPE, aggregate_id);
        match self.stream.direct_get_last_for_subject(&subject).await {
            Ok(message) => Ok(message.sequence),
            Err(e) if e.kind() == stream::DirectGetErrorKind::NotFound => Ok(0),
            Err(e) => Err(anyhow::Error::new(e).context(format!("failed to read the last commit of {subject}"))),
        }
    }

    /// Every commit of an aggregate with a stream sequence above `after_seq` and at most `up_to_seq`, in
    /// order. Streams them through an ordered consumer, so a long history costs one round trip per batch
    /// rather than per commit.
    pub async fn commits_between<E: Event>(
        &self,
        aggregate_id: &str,
        after_seq: u64,
        up_to_seq: u64,
    ) -> anyhow::Result<Vec<StoredCommit<E>>> {
        if up_to_seq <= after_seq {
            return Ok(Vec::new());
        }
        let subject = self.layout().events_subject(E::AGGREGATE_TYPE, aggregate_id);
        let consumer = self
            .stream
            .create_consumer(jetstream::consumer::pull::OrderedConfig {
                filter_subject: subject.clone(),
                deliver_policy: jetstream::consumer::DeliverPolicy::ByStartSequence {
                    start_sequence: after_seq + 1,
                },
                ..Default::default()
            })
            .await
            .with_context(|| format!("failed to create a reader for {subject}"))?;
        // The server keeps an unused ordered consumer for 30 s, and nats-server 2.15 allows 1,000 per
        // stream by default: a role catching up often (the worker before each sync report) filled them
        // all, and every reader after it (replay, `events tail`) was refused. Remove it once read.
        let _reader = ConsumerGuard {
            stream: self.stream.clone(),
            name: consumer.cached_info().name.clone(),
        };
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
            let (seq, pending) = (info.stream_sequence, info.pending);
            let message_id = message
                .headers
                .as_ref()
                .and_then(|h| h.get("Nats-Msg-Id"))
                .map(|v| v.as_str().to_owned());
            if seq <= up_to_seq {
                out.push(StoredCommit {
                    stream_seq: seq,
                    message_id,
                    envelope: decode::<E>(&message.payload, seq)?,
                });
            }
            if seq >= up_to_seq || pending == 0 {
                break;
            }
        }
        Ok(out)
    }

    /// The JetStream context (for the buckets of liveness, which are not events).
    pub fn context(&self) -> &jetstream::Context {
        &self.js
    }

    /// How many consumers the event stream has (readers left behind count too).
    pub async fn consumer_count(&self) -> anyhow::Result<usize> {
        let mut stream = self.stream.clone();
        let info = stream.info().await.context("failed to read the event stream's info")?;
        Ok(info.state.consumer_count)
    }

    /// Opens (creating if needed) one of nsplane's KV buckets: file storage, one value per key, the
    /// event stream's replica count.
    pub async fn open_bucket(&self, bucket: Bucket) -> anyhow::Result<jetstream::kv::Store> {
        self.open_bucket_with(bucket, |_| {}).await
    }

    /// [`EventStore::open_bucket`], with `adjust` setting what that bucket needs beyond the defaults
    /// (an age limit, per-message TTLs) when it is created. Another process creating it first is fine.
    pub async fn open_bucket_with(
        &self,
        bucket: Bucket,
        adjust: impl FnOnce(&mut jetstream::kv::Config),
    ) -> anyhow::Result<jetstream::kv::Store> {
        let name = self.layout().bucket(bucket);
        match self.js.get_key_value(&name).await {
            Ok(kv) => Ok(kv),
            Err(_) => {
                let mut config = jetstream::kv::Config {
                    bucket: name.clone(),
                    history: 1,
                    storage: stream::StorageType::File,
                    num_replicas: self.config.replicas,
                    ..Default::default()
                };
                adjust(&mut config);
                match self.js.create_key_value(config).await {
                    Ok(kv) => Ok(kv),
                    Err(_) => self
                        .js
                        .get_key_value(&name)
                        .await
                        .with_context(|| format!("failed to open KV bucket {name}")),
                }
            }
        }
    }

    /// The id of every aggregate of `E`'s kind that has a commit, sorted (for tools that walk them all).
    pub async fn aggregate_ids<E: Event>(&self) -> anyhow::Result<Vec<String>> {
        let filter = self.layout().all_events_of(E::AGGREGATE_TYPE);
        let prefix = filter.trim_end_matches('>').to_owned();
        let mut subjects = self
            .stream
            .info_with_subjects(&filter)
            .await
            .with_context(|| format!("failed to list the subjects of {filter}"))?;
        let mut ids = Vec::new();
        while let Some(subject) = subjects.next().await {
            let (subject, _) = subject.context("failed to list subjects")?;
            let token = subject.strip_prefix(&prefix).unwrap_or(&subject);
            let id = nsplane_schema::layout::id_of_token(token)
                .with_context(|| format!("subject {subject} names no aggregate id"))?;
            ids.push(id);
        }
        ids.sort_unstable();
        Ok(ids)
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

fn decode<E: Event>(payload: &[u8], stream_seq: u64) -> anyhow::Result<CommitEnvelope<E>> {
    RawCommit::decode(payload)
        .and_then(|raw| raw.typed::<E>())
        .with_context(|| format!("undecodable commit at stream seq {stream_seq}"))
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

/// Deletes an ephemeral consumer when dropped (in the background: nobody waits for it). An ordered
/// consumer that was recreated after a gap leaves its newer self to the server's 30 s inactivity clean-up.
pub(crate) struct ConsumerGuard {
    pub(crate) stream: jetstream::stream::Stream,
    pub(crate) name: String,
}

impl Drop for ConsumerGuard {
    fn drop(&mut self) {
        let (stream, name) = (self.stream.clone(), std::mem::take(&mut self.name));
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = stream.delete_consumer(&name).await {
                    tracing::debug!(consumer = name, error = %e, "could not delete a reader");
                }
            });
        }
    }
}
