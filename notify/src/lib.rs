//! Notifications out: every event committed on the stream becomes Designate's notification
//! (`dns.zone.create`, `dns.recordset.update`, …, payloads in Designate's shapes, oslo.messaging's v2
//! envelope), published to NATS (the `<PREFIX>_NOTIFICATIONS` stream, subject
//! `<prefix>.notifications.<event type>`) and, when configured, to RabbitMQ (exchange `designate`,
//! routing key `notifications.info`, as Designate's notifier sends them).
//!
//! They come from the log, not from requests: the notifiers (any number) share one durable consumer of
//! the event stream, and a commit is acknowledged only once every notification it makes is confirmed
//! by every output. A commit delivered again (a notifier died before acknowledging it) makes the same
//! notifications with the same message ids: NATS drops them as duplicates within its duplicate window,
//! RabbitMQ consumers see the same `message_id`.

pub mod amqp;
pub mod payload;

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, AckKind};
use futures::StreamExt as _;
use nsplane_command::log::LoggedCommit;
use nsplane_command::zone::Zone;
use nsplane_command::{Decider as _, EventStore, StoreConfig};
use nsplane_runtime::ops::Outage;
use nsplane_runtime::NatsConfig;
use nsplane_schema::ZoneEvent;
use tokio::sync::watch;
use tracing::{debug, info, warn};

pub use payload::Notification;

/// How long the notifications stream remembers a message id to drop a repeated publish. A commit
/// redelivered later than this (every notifier down longer) is published to NATS again.
pub const NOTIFICATION_DEDUPE_WINDOW: Duration = Duration::from_secs(600);
/// A commit not acknowledged within this is delivered again (to any notifier): it bounds how late a
/// notification is when its notifier dies or its pull was on a NATS node that died (central's too).
const ACK_WAIT: Duration = Duration::from_secs(10);
/// Zone states kept to build payloads without reading a zone's history again.
const ZONE_STATES_MAX: usize = 10_000;

/// Where notifications go.
#[derive(Debug, Clone)]
pub struct NotifyConfig {
    /// NATS (the event stream, and the notifications stream when `to_nats`).
    pub nats: NatsConfig,
    /// The event stream's layout.
    pub store: StoreConfig,
    /// Publish to the `<PREFIX>_NOTIFICATIONS` stream.
    pub to_nats: bool,
    /// Publish to RabbitMQ.
    pub amqp: Option<amqp::AmqpConfig>,
    /// `publisher_id` of every notification (Designate: `central.<host>`).
    pub publisher_id: String,
    /// How long the notifications stream keeps a notification.
    pub keep: Duration,
}

impl NotifyConfig {
    /// Notifications to NATS only, kept a day.
    pub fn new(nats: NatsConfig, store: StoreConfig) -> Self {
        Self {
            nats,
            store,
            to_nats: true,
            amqp: None,
            publisher_id: format!("central.{}", nsplane_command::services::hostname()),
            keep: Duration::from_secs(86_400),
        }
    }
}

/// Creates (or updates) the notifications stream.
pub async fn open_stream(js: &jetstream::Context, config: &NotifyConfig) -> anyhow::Result<()> {
    let layout = &config.store.layout;
    js.create_or_update_stream(jetstream::stream::Config {
        name: layout.notifications_stream(),
        subjects: vec![layout.all_notifications()],
        storage: jetstream::stream::StorageType::File,
        num_replicas: config.store.replicas,
        duplicate_window: NOTIFICATION_DEDUPE_WINDOW,
        max_age: config.keep,
        discard: jetstream::stream::DiscardPolicy::Old,
        ..Default::default()
    })
    .await
    .with_context(|| format!("failed to create or update stream {}", layout.notifications_stream()))?;
    Ok(())
}

/// Where notifications are published: the NATS stream and RabbitMQ, as configured.
pub struct Outputs {
    config: NotifyConfig,
    js: jetstream::Context,
    amqp: Option<amqp::Publisher>,
    /// The notifications stream was created (or found).
    stream_ready: bool,
}

impl Outputs {
    /// The outputs of `config`; nothing is opened until the first publish (RabbitMQ's connection and
    /// the notifications stream), so an outage at start is ridden out like any other.
    pub async fn open(config: NotifyConfig, client: async_nats::Client) -> anyhow::Result<Outputs> {
        let js = jetstream::new(client);
        let amqp = config.amqp.clone().map(amqp::Publisher::new);
        Ok(Outputs {
            config,
            js,
            amqp,
            stream_ready: false,
        })
    }

    /// Publishes `notifications` and waits until every output confirmed every one.
    pub async fn publish(&mut self, notifications: &[Notification]) -> anyhow::Result<()> {
        if self.config.to_nats && !self.stream_ready {
            open_stream(&self.js, &self.config).await?;
            self.stream_ready = true;
        }
        if self.config.to_nats {
            let mut acks = Vec::with_capacity(notifications.len());
            for n in notifications {
                let body = serde_json::to_vec(&n.envelope(&self.config.publisher_id))?;
                let publish = jetstream::message::PublishMessage::build()
                    .payload(body.into())
                    .message_id(n.message_id.to_string());
                acks.push(
                    self.js
                        .send_publish(self.config.store.layout.notification_subject(n.event_type), publish)
                        .await
                        .context("failed to publish a notification to NATS")?,
                );
            }
            for ack in acks {
                ack.await.context("NATS did not confirm a notification")?;
            }
        }
        if let Some(amqp) = &mut self.amqp {
            amqp.publish(notifications, &self.config.publisher_id).await?;
        }
        Ok(())
    }
}

/// `nsplane producer --notify-…`: turns committed events into notifications until `shutdown` turns
/// true.
pub async fn run(config: NotifyConfig, mut shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
    let client = nsplane_runtime::connect(&config.nats, "nsplane-notifier").await?;
    let store = EventStore::open(client.clone(), config.store.clone()).await?;
    let mut outputs = Outputs::open(config.clone(), client).await?;
    let mut outage = Outage::new("notifications");
    // Creating the consumer can time out while a cluster is busy (a new R3 asset): ride it out.
    let consumer = loop {
        match store
            .durable_reader(&config.store.layout.notifier_consumer(), ACK_WAIT, 1_000)
            .await
        {
            Ok(consumer) => break consumer,
            Err(e) => outage.failed(&format!("{e:#}")),
        }
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => return Ok(()),
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    };
    let start_pull = || async {
        consumer
            .stream()
            .max_messages_per_batch(100)
            .heartbeat(Duration::from_secs(5))
            .expires(Duration::from_secs(10))
            .messages()
            .await
            .context("failed to start reading the event stream")
    };
    let mut messages = loop {
        match start_pull().await {
            Ok(messages) => break messages,
            Err(e) => outage.failed(&format!("{e:#}")),
        }
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => return Ok(()),
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    };
    let mut notifier = Notifier {
        store: &store,
        zones: HashMap::new(),
    };
    info!(nats = config.to_nats, amqp = config.amqp.is_some(), "notifier running");
    loop {
        let next = tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => break,
            next = messages.next() => next,
        };
        let Some(message) = next else {
            anyhow::bail!("the event stream ended")
        };
        let message = match message {
            Ok(m) => m,
            Err(e) => {
                warn!(error = %e, "error from the notifier's consumer; continuing");
                if matches!(e.kind(), jetstream::consumer::pull::MessagesErrorKind::MissingHeartbeat) {
                    if let Ok(fresh) = start_pull().await {
                        messages = fresh;
                    }
                }
                continue;
            }
        };
        let deliveries = message.info().map(|i| i.delivered).unwrap_or(1);
        match notifier.handle(&message, &mut outputs).await {
            Ok(sent) => {
                outage.worked();
                metrics::counter!("nsplane_notifications_total").increment(sent as u64);
                if let Err(e) = message.ack().await {
                    debug!(error = %e, "ack failed; the commit will be delivered again and its notifications dropped as duplicates");
                }
            }
            Err(e) => {
                outage.failed(&format!("{e:#}"));
                let delay = Duration::from_millis(250 << deliveries.clamp(1, 4));
                let _ = message.ack_with(AckKind::Nak(Some(delay))).await;
            }
        }
    }
    info!("notifier stopped");
    Ok(())
}

struct Notifier<'a> {
    store: &'a EventStore,
    /// Each zone's state after the last commit this notifier handled: `(version, state)`.
    zones: HashMap<String, (u64, Zone)>,
}

impl Notifier<'_> {
    /// Publishes every notification of one commit; returns how many.
    async fn handle(&mut self, message: &jetstream::Message, outputs: &mut Outputs) -> anyhow::Result<usize> {
        let logged = EventStore::logged(message)?;
        let notifications = self.notifications(&logged).await?;
        outputs.publish(&notifications).await?;
        Ok(notifications.len())
    }

    async fn notifications(&mut self, logged: &LoggedCommit) -> anyhow::Result<Vec<Notification>> {
        let commit = &logged.commit;
        match commit.aggregate_type.as_str() {
            "zone" => {
                let id = commit.aggregate_id.clone();
                let mut state = match self.zones.remove(&id) {
                    Some((version, state)) if version + 1 == commit.version => state,
                    _ => self.zone_before(&id, logged).await?,
                };
                let out = payload::zone_notifications(logged.stream_seq, commit, &mut state)?;
                if self.zones.len() >= ZONE_STATES_MAX {
                    self.zones.clear();
                }
                self.zones.insert(id, (commit.version, state));
                Ok(out)
            }
            "naming" => payload::naming_notifications(logged.stream_seq, commit),
            "tsigkey" => payload::tsigkey_notifications(logged.stream_seq, commit),
            // Pools and quotas are operators' settings; Designate sends no notifications for them
            // through this path.
            _ => Ok(Vec::new()),
        }
    }

    /// The zone as it was before `logged`, from its history in the stream.
    async fn zone_before(&self, id: &str, logged: &LoggedCommit) -> anyhow::Result<Zone> {
        let mut state = Zone::default();
        let mut version = 0;
        for commit in self
            .store
            .commits_between::<ZoneEvent>(id, 0, logged.stream_seq.saturating_sub(1))
            .await?
        {
            for event in &commit.envelope.events {
                state.evolve(event, commit.envelope.metadata.time);
            }
            version = commit.envelope.version;
        }
        anyhow::ensure!(
            version + 1 == logged.commit.version,
            "zone {id}: its history before stream seq {} ends at version {version}, not {}",
            logged.stream_seq,
            logged.commit.version - 1
        );
        Ok(state)
    }
}
