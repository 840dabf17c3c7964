//! Reading the event log as it is stored, for tools: every commit of every aggregate kind (or of one
//! kind, or of one aggregate) in stream order, with its position and the time the stream took it, and
//! single commits by stream sequence. Events stay undecoded ([`RawCommit`]): a reader of the log needs
//! no code of the kinds it shows.

use std::pin::Pin;

use anyhow::Context as _;
use async_nats::jetstream::{self, consumer::DeliverPolicy, stream::DirectGetErrorKind};
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt as _};
use nsplane_schema::envelope::RawCommit;
use serde::Serialize;

use crate::store::{ConsumerGuard, EventStore};

/// Which commits a reader wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogFilter {
    /// Every commit.
    All,
    /// The commits of one aggregate kind (`zone`, `pools`, `naming`, `quotas`, …).
    Kind(String),
    /// The commits of one aggregate.
    Aggregate {
        /// Its kind.
        kind: String,
        /// Its id.
        id: String,
    },
}

/// One commit as the log holds it.
#[derive(Debug, Clone, Serialize)]
pub struct LoggedCommit {
    /// Its position in the stream.
    pub stream_seq: u64,
    /// When the stream stored it.
    pub stored_at: DateTime<Utc>,
    /// The envelope: aggregate, version, who/why/when, the events.
    #[serde(flatten)]
    pub commit: RawCommit,
}

/// Commits in stream order, as they are read.
pub type Commits = Pin<Box<dyn Stream<Item = anyhow::Result<LoggedCommit>> + Send>>;

/// A reader's position: where it starts and how many commits matched when it started.
pub struct Reader {
    /// Matching commits from the start position that were stored when the reader was made.
    pub matching: u64,
    /// Those commits and, if the caller keeps reading, every later one.
    pub commits: Commits,
    /// Removes the server's consumer once the reader is dropped.
    _consumer: ConsumerGuard,
}

impl EventStore {
    /// A reader of the commits `filter` selects, from stream sequence `from` (1: the beginning).
    pub async fn read_log(&self, filter: &LogFilter, from: u64) -> anyhow::Result<Reader> {
        let layout = self.layout();
        let subject = match filter {
            LogFilter::All => layout.all_events(),
            LogFilter::Kind(kind) => layout.all_events_of(kind),
            LogFilter::Aggregate { kind, id } => layout.events_subject(kind, id),
        };
        let consumer = self
            .stream()
            .create_consumer(jetstream::consumer::pull::OrderedConfig {
                filter_subject: subject.clone(),
                deliver_policy: DeliverPolicy::ByStartSequence {
                    start_sequence: from.max(1),
                },
                ..Default::default()
            })
            .await
            .with_context(|| format!("failed to create a reader for {subject}"))?;
        let matching = consumer.cached_info().num_pending;
        let guard = ConsumerGuard {
            stream: self.stream().clone(),
            name: consumer.cached_info().name.clone(),
        };
        let messages = consumer.messages().await.context("failed to read the log")?;
        let commits = messages.map(|message| {
            let message = message.map_err(|e| anyhow::anyhow!("failed to read a commit: {e}"))?;
            Self::logged(&message)
        });
        Ok(Reader {
            matching,
            commits: Box::pin(commits),
            _consumer: guard,
        })
    }

    /// The durable consumer `name` of every commit, shared by every instance that opens it (work is
    /// spread over them; a commit not acknowledged within `ack_wait` is delivered again), from the
    /// beginning of the stream the first time it is created.
    pub async fn durable_reader(
        &self,
        name: &str,
        ack_wait: std::time::Duration,
        max_ack_pending: i64,
    ) -> anyhow::Result<jetstream::consumer::Consumer<jetstream::consumer::pull::Config>> {
        self.stream()
            .get_or_create_consumer(
                name,
                jetstream::consumer::pull::Config {
                    durable_name: Some(name.to_owned()),
                    filter_subject: self.layout().all_events(),
                    ack_policy: jetstream::consumer::AckPolicy::Explicit,
                    ack_wait,
                    max_ack_pending,
                    deliver_policy: DeliverPolicy::All,
                    ..Default::default()
                },
            )
            .await
            .with_context(|| format!("failed to open the durable reader {name}"))
    }

    /// Decodes a commit a durable reader delivered.
    pub fn logged(message: &jetstream::Message) -> anyhow::Result<LoggedCommit> {
        let info = message.info().map_err(|e| anyhow::anyhow!("bad message info: {e}"))?;
        let (seq, published) = (info.stream_sequence, info.published);
        logged(
            seq,
            published.unix_timestamp(),
            published.nanosecond(),
            &message.payload,
        )
    }

    /// The commit at stream sequence `seq`, or `None` if there is none (never written, or removed).
    pub async fn commit_at(&self, seq: u64) -> anyhow::Result<Option<LoggedCommit>> {
        match self.stream().direct_get(seq).await {
            Ok(message) => {
                let time = message.time;
                logged(seq, time.unix_timestamp(), time.nanosecond(), &message.payload).map(Some)
            }
            Err(e) if e.kind() == DirectGetErrorKind::NotFound => Ok(None),
            Err(e) => Err(anyhow::Error::new(e).context(format!("failed to read the commit at stream seq {seq}"))),
        }
    }
}

fn logged(seq: u64, secs: i64, nanos: u32, payload: &[u8]) -> anyhow::Result<LoggedCommit> {
    let commit = RawCommit::decode(payload).with_context(|| format!("undecodable commit at stream seq {seq}"))?;
    Ok(LoggedCommit {
        stream_seq: seq,
        stored_at: DateTime::from_timestamp(secs, nanos).unwrap_or_default(),
        commit,
    })
}
