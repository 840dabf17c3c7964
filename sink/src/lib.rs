//! `nsplane sink`: compute and network notifications turned into records, as Designate's sink does with
//! its `nova_fixed` and `neutron_floatingip` handlers. Notifications come from RabbitMQ (a durable queue
//! bound to the `nova` and `neutron` exchanges with `<topic>.info`, shared by every sink instance) and
//! from NATS (the `<PREFIX>_SINK` stream, a durable consumer shared the same way).
//!
//! Each takes effect exactly once: every command a notification causes carries a request id derived
//! from the notification's `message_id`, so a redelivered or duplicated notification is answered from
//! the zone's history; a message is acknowledged only once its commands are committed (or refused for
//! good). A delete that arrives before its create leaves the resource released in the zone, and the
//! create then adds nothing.

pub mod handlers;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures::StreamExt as _;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::FieldTable;
use nsplane_command::service::Actor;
use nsplane_command::zone::ZoneCommand;
use nsplane_command::{Commands, EventStore, ExecuteError, StoreConfig, ZoneError};
use nsplane_runtime::ops::Outage;
use nsplane_runtime::NatsConfig;
use nsplane_schema::{RecordType, Records, RecordsetId, RecordsetName, RequestId, ZoneId};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use handlers::{Action, HandlerConfig};

/// Zones the sink's write side keeps per process.
const SINK_ZONE_CACHE: usize = 1000;

/// Where notifications come from and what the handlers do.
#[derive(Clone)]
pub struct SinkConfig {
    /// NATS (the event stream; the sink's input stream when `from_nats`).
    pub nats: NatsConfig,
    /// The event stream's layout.
    pub store: StoreConfig,
    /// RabbitMQ URL, if notifications come from there.
    pub amqp_url: Option<String>,
    /// The queue every sink instance consumes.
    pub amqp_queue: String,
    /// The notification topic (`notifications`): queues are bound with `<topic>.info`.
    pub topic: String,
    /// Nova's exchange (`nova`).
    pub nova_exchange: String,
    /// Neutron's exchange (`neutron`).
    pub neutron_exchange: String,
    /// Consume the `<PREFIX>_SINK` stream.
    pub from_nats: bool,
    /// `nova_fixed`.
    pub nova: HandlerConfig,
    /// `neutron_floatingip`.
    pub neutron: HandlerConfig,
}

impl std::fmt::Debug for SinkConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The AMQP URL carries a password.
        f.debug_struct("SinkConfig")
            .field("amqp", &self.amqp_url.is_some())
            .field("amqp_queue", &self.amqp_queue)
            .field("from_nats", &self.from_nats)
            .field("nova", &self.nova)
            .field("neutron", &self.neutron)
            .finish_non_exhaustive()
    }
}

impl SinkConfig {
    /// Nothing configured yet: no input, no handler zone.
    pub fn new(nats: NatsConfig, store: StoreConfig) -> Self {
        Self {
            nats,
            store,
            amqp_url: None,
            amqp_queue: "nsplane-sink".into(),
            topic: "notifications".into(),
            nova_exchange: "nova".into(),
            neutron_exchange: "neutron".into(),
            from_nats: false,
            nova: HandlerConfig::default(),
            neutron: HandlerConfig::default(),
        }
    }
}

/// How handling a notification ended.
enum Handled {
    /// Committed, or nothing to do, or refused for good: acknowledge.
    Done,
    /// Could not commit now: deliver again later.
    Retry(String),
}

/// The handlers and the write side.
struct Sink {
    config: SinkConfig,
    commands: Commands,
}

impl Sink {
    /// Decides and commits what one notification asks for.
    async fn handle(&self, body: &[u8]) -> Handled {
        let notification = match handlers::parse(body) {
            Ok(n) => n,
            Err(e) => {
                warn!(error = %e, "not a notification; dropped");
                return Handled::Done;
            }
        };
        let (handler, run): (&HandlerConfig, fn(&HandlerConfig, &str, &handlers::Notification) -> _) =
            if handlers::NOVA_EVENTS.contains(&notification.event_type.as_str()) {
                (&self.config.nova, handlers::nova_fixed)
            } else if handlers::NEUTRON_EVENTS.contains(&notification.event_type.as_str()) {
                (&self.config.neutron, handlers::neutron_floatingip)
            } else {
                debug!(event_type = %notification.event_type, "not a notification the sink handles");
                return Handled::Done;
            };
        let Some(zone_id) = handler.zone_id.as_deref() else {
            warn!(event_type = %notification.event_type, "the handler has no zone_id; notification ignored");
            return Handled::Done;
        };
        let Ok(zone_id) = ZoneId::parse(zone_id) else {
            warn!(zone_id, "the handler's zone_id is not a zone id; notification ignored");
            return Handled::Done;
        };
        let zone_name = match self.commands.load_zone(zone_id).await {
            Ok(zone) => match zone.name {
                Some(name) => name.to_string(),
                None => {
                    warn!(%zone_id, "the handler's zone does not exist; notification ignored");
                    return Handled::Done;
                }
            },
            Err(e) => return Handled::Retry(format!("cannot read the zone: {e}")),
        };
        let actions = match run(handler, &zone_name, &notification) {
            Ok(actions) => actions,
            Err(e) => {
                warn!(event_type = %notification.event_type, error = %e, "malformed notification; dropped");
                return Handled::Done;
            }
        };
        // The same notification, delivered again, makes the same request ids.
        // A message id unfit for a request id (control characters, very long) is replaced by a digest.
        let base = match &notification.message_id {
            Some(id) if !id.contains(char::is_control) && id.len() <= 200 => id.clone(),
            _ => uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, body).to_string(),
        };
        for (index, action) in actions.into_iter().enumerate() {
            let request = RequestId(format!("sink-{base}-{index}"));
            let mut actor = Actor::service("sink");
            actor.metadata.request_id = request.clone();
            let command = match &action {
                Action::Add {
                    resource_type,
                    resource_id,
                    name,
                    rtype,
                    records,
                    ..
                } => {
                    let rtype = match RecordType::parse(rtype) {
                        Ok(t) => t,
                        Err(e) => {
                            warn!(error = %e, "unexpected record type; skipped");
                            continue;
                        }
                    };
                    let (Ok(name), Ok(records)) = (RecordsetName::parse(name), Records::validate(rtype, records))
                    else {
                        warn!(%name, ?records, "the notification makes a name or address that is not valid; skipped");
                        continue;
                    };
                    ZoneCommand::AddManagedRecords {
                        resource_type: (*resource_type).to_owned(),
                        resource_id: resource_id.clone(),
                        recordset_id: RecordsetId::derived(zone_id, &request),
                        name,
                        records,
                    }
                }
                Action::Remove {
                    resource_type,
                    resource_id,
                    ..
                } => ZoneCommand::RemoveManagedRecords {
                    resource_type: (*resource_type).to_owned(),
                    resource_id: resource_id.clone(),
                },
            };
            match self.commands.zone(zone_id, command, &actor).await {
                Ok(committed) => {
                    metrics::counter!("nsplane_sink_commands_total", "outcome" => "committed").increment(1);
                    if !committed.events.is_empty() {
                        info!(%zone_id, event_type = %notification.event_type, ?action, "notification applied");
                    }
                }
                Err(ExecuteError::Rejected(e)) => {
                    metrics::counter!("nsplane_sink_commands_total", "outcome" => "refused").increment(1);
                    let level_warn = !matches!(e, ZoneError::Superseded);
                    if level_warn {
                        warn!(%zone_id, event_type = %notification.event_type, ?action, error = %e, "refused; the notification changes nothing");
                    }
                }
                Err(e) => return Handled::Retry(e.to_string()),
            }
        }
        Handled::Done
    }
}

/// `nsplane sink`: consumes the configured inputs until `shutdown` turns true.
pub async fn run(config: SinkConfig, shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
    anyhow::ensure!(
        config.amqp_url.is_some() || config.from_nats,
        "the sink has no input: give --sink-amqp-url or --sink-nats"
    );
    let client = nsplane_runtime::connect(&config.nats, "nsplane-sink").await?;
    let store = EventStore::open(client.clone(), config.store.clone()).await?;
    let commands = Commands::open(store, Default::default(), Default::default(), SINK_ZONE_CACHE, false).await?;
    let sink = Arc::new(Sink {
        config: config.clone(),
        commands,
    });
    info!(?config, "sink running");
    let mut inputs = Vec::new();
    if let Some(url) = config.amqp_url.clone() {
        inputs.push(tokio::spawn(from_amqp(sink.clone(), url, shutdown.clone())));
    }
    if config.from_nats {
        inputs.push(tokio::spawn(from_nats(sink.clone(), client, shutdown.clone())));
    }
    let mut result = Ok(());
    for input in inputs {
        match input.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => result = Err(e),
            Err(e) => result = Err(anyhow::anyhow!("a sink input panicked: {e}")),
        }
    }
    info!("sink stopped");
    result
}

/// Delay before a notification that could not be applied is handed back.
const RETRY_DELAY: Duration = Duration::from_secs(1);

/// Declares `exchange` as oslo.messaging does (a topic exchange), keeping it as it is when it exists.
async fn ensure_exchange(connection: &lapin::Connection, exchange: &str) -> anyhow::Result<()> {
    let channel = connection.create_channel().await?;
    let passive = channel
        .exchange_declare(
            exchange.into(),
            lapin::ExchangeKind::Topic,
            ExchangeDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await;
    if passive.is_ok() {
        return Ok(());
    }
    // The failed passive declare closed that channel.
    let channel = connection.create_channel().await?;
    channel
        .exchange_declare(
            exchange.into(),
            lapin::ExchangeKind::Topic,
            ExchangeDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .with_context(|| format!("failed to declare the exchange {exchange}"))
}

async fn from_amqp(sink: Arc<Sink>, url: String, mut shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
    let config = &sink.config;
    let mut outage = Outage::new("the sink's RabbitMQ");
    loop {
        let session = async {
            let connection = lapin::Connection::connect(&url, lapin::ConnectionProperties::default())
                .await
                .context("failed to connect to RabbitMQ")?;
            for exchange in [&config.nova_exchange, &config.neutron_exchange] {
                ensure_exchange(&connection, exchange).await?;
            }
            let channel = connection.create_channel().await?;
            channel
                .basic_qos(32, BasicQosOptions::default())
                .await
                .context("failed to set the prefetch")?;
            channel
                .queue_declare(
                    config.amqp_queue.as_str().into(),
                    QueueDeclareOptions {
                        durable: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await
                .with_context(|| format!("failed to declare the queue {}", config.amqp_queue))?;
            let routing_key = format!("{}.info", config.topic);
            for exchange in [&config.nova_exchange, &config.neutron_exchange] {
                channel
                    .queue_bind(
                        config.amqp_queue.as_str().into(),
                        exchange.as_str().into(),
                        routing_key.as_str().into(),
                        QueueBindOptions::default(),
                        FieldTable::default(),
                    )
                    .await
                    .with_context(|| format!("failed to bind the queue to {exchange}"))?;
            }
            let consumer = channel
                .basic_consume(
                    config.amqp_queue.as_str().into(),
                    format!("nsplane-sink-{}", uuid::Uuid::new_v4()).as_str().into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await
                .context("failed to consume")?;
            anyhow::Ok((connection, consumer))
        };
        let opened = tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => None,
            opened = session => Some(opened),
        };
        let (connection, mut consumer) = match opened {
            None => return Ok(()),
            Some(Ok(opened)) => opened,
            Some(Err(e)) => {
                outage.failed(&format!("{e:#}"));
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        };
        outage.worked();
        info!(queue = %config.amqp_queue, "sink consuming from RabbitMQ");
        loop {
            let next = tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => None,
                next = consumer.next() => Some(next),
            };
            let Some(next) = next else {
                let _ = connection.close(200, "stopping".into()).await;
                return Ok(());
            };
            let delivery = match next {
                Some(Ok(delivery)) => delivery,
                Some(Err(e)) => {
                    outage.failed(&format!("{e}"));
                    break;
                }
                None => {
                    outage.failed("the consumer ended");
                    break;
                }
            };
            match sink.handle(&delivery.data).await {
                Handled::Done => {
                    let _ = delivery.ack(BasicAckOptions::default()).await;
                }
                Handled::Retry(reason) => {
                    warn!(%reason, "notification not applied yet; handed back");
                    tokio::time::sleep(RETRY_DELAY).await;
                    let _ = delivery
                        .nack(BasicNackOptions {
                            requeue: true,
                            ..Default::default()
                        })
                        .await;
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn from_nats(
    sink: Arc<Sink>,
    client: async_nats::Client,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    use async_nats::jetstream::{self, consumer::pull, AckKind};
    let layout = &sink.config.store.layout;
    let js = jetstream::new(client);
    let stream = js
        .get_or_create_stream(jetstream::stream::Config {
            name: layout.sink_stream(),
            subjects: vec![layout.all_sink_inputs()],
            storage: jetstream::stream::StorageType::File,
            num_replicas: sink.config.store.replicas,
            duplicate_window: sink.config.store.duplicate_window,
            max_age: Duration::from_secs(7 * 86_400),
            ..Default::default()
        })
        .await
        .context("failed to open the sink's input stream")?;
    let durable = layout.sink_consumer();
    let consumer = stream
        .get_or_create_consumer(
            &durable,
            pull::Config {
                durable_name: Some(durable.clone()),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ack_wait: Duration::from_secs(30),
                ..Default::default()
            },
        )
        .await
        .context("failed to open the sink's consumer")?;
    let mut messages = consumer
        .stream()
        .heartbeat(Duration::from_secs(5))
        .expires(Duration::from_secs(10))
        .messages()
        .await
        .context("failed to consume the sink's input")?;
    info!(consumer = %durable, "sink consuming from NATS");
    loop {
        let next = tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => return Ok(()),
            next = messages.next() => next,
        };
        let message = match next {
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                warn!(error = %e, "error from the sink's NATS consumer; continuing");
                continue;
            }
            None => anyhow::bail!("the sink's NATS input ended"),
        };
        match sink.handle(&message.payload).await {
            Handled::Done => {
                let _ = message.ack().await;
            }
            Handled::Retry(reason) => {
                warn!(%reason, "notification not applied yet; handed back");
                let _ = message.ack_with(AckKind::Nak(Some(RETRY_DELAY))).await;
            }
        }
    }
}
