//! The simulation's side of RabbitMQ: a publisher that counts a message as sent only once the broker
//! confirms it as routed (as Nova's and Neutron's notifiers should, and retrying across a broker
//! restart), and a watcher that consumes Designate-style notifications from the `designate` exchange for
//! the whole life of a cluster, so the checker can ask which notifications arrived and how often.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use futures::StreamExt as _;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions,
    QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::Confirmation;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use tracing::{debug, info};

/// Declares `exchange` as a topic exchange: durable as nsplane's notifier declares `designate`, or not,
/// as oslo.messaging declares Nova's and Neutron's by default (`amqp_durable_queues = false`: the
/// exchange and its bindings are gone after a broker restart until a consumer declares them again).
async fn declare_exchange(channel: &Channel, exchange: &str, durable: bool) -> anyhow::Result<()> {
    channel
        .exchange_declare(
            exchange.into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .with_context(|| format!("failed to declare the exchange {exchange}"))
}

/// Publishes to one exchange with publisher confirms and `mandatory`: a message counts as published
/// only when the broker confirms it and did not return it unroutable.
pub struct Publisher {
    url: String,
    exchange: String,
    durable: bool,
    open: Option<(Connection, Channel)>,
}

impl Publisher {
    /// Not connected yet; `durable` as the exchange is declared.
    pub fn new(url: &str, exchange: &str, durable: bool) -> Self {
        Self {
            url: url.to_owned(),
            exchange: exchange.to_owned(),
            durable,
            open: None,
        }
    }

    async fn channel(&mut self) -> anyhow::Result<Channel> {
        if let Some((connection, channel)) = &self.open {
            if connection.status().connected() && channel.status().connected() {
                return Ok(channel.clone());
            }
        }
        self.open = None;
        let connection = Connection::connect(&self.url, ConnectionProperties::default()).await?;
        let channel = connection.create_channel().await?;
        channel.confirm_select(ConfirmSelectOptions::default()).await?;
        declare_exchange(&channel, &self.exchange, self.durable).await?;
        self.open = Some((connection, channel.clone()));
        Ok(channel)
    }

    /// One attempt: published, confirmed and routed.
    pub async fn publish(&mut self, routing_key: &str, message_id: &str, body: &[u8]) -> anyhow::Result<()> {
        let result = async {
            let channel = self.channel().await?;
            let properties = BasicProperties::default()
                .with_message_id(message_id.into())
                .with_content_type("application/json".into())
                .with_delivery_mode(2);
            let confirm = channel
                .basic_publish(
                    self.exchange.as_str().into(),
                    routing_key.into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..Default::default()
                    },
                    body,
                    properties,
                )
                .await?;
            match tokio::time::timeout(Duration::from_secs(5), confirm).await {
                Ok(Ok(Confirmation::Ack(None))) => Ok(()),
                Ok(Ok(Confirmation::Ack(Some(_)))) => anyhow::bail!("returned unroutable (no queue bound yet)"),
                Ok(Ok(other)) => anyhow::bail!("not confirmed: {other:?}"),
                Ok(Err(e)) => Err(e.into()),
                Err(_) => anyhow::bail!("no confirm within 5 s"),
            }
        }
        .await;
        if result.is_err() {
            self.open = None;
        }
        result
    }

    /// Publishes until confirmed or `limit` passes (a broker restart takes seconds); says whether it was.
    pub async fn publish_until(
        &mut self,
        routing_key: &str,
        message_id: &str,
        body: &[u8],
        limit: tokio::time::Instant,
    ) -> bool {
        loop {
            match self.publish(routing_key, message_id, body).await {
                Ok(()) => return true,
                Err(e) => {
                    debug!(error = %format!("{e:#}"), "publish failed; trying again");
                    if tokio::time::Instant::now() > limit {
                        return false;
                    }
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            }
        }
    }
}

/// What the watcher saw: per message id, how many distinct deliveries (a broker's redelivery of a
/// message already counted is not a second one).
#[derive(Debug, Clone, Default)]
pub struct Seen(Arc<Mutex<HashMap<String, u32>>>);

impl Seen {
    /// Message ids seen, with their counts.
    pub fn snapshot(&self) -> HashMap<String, u32> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn record(&self, id: String, redelivered: bool) {
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let count = seen.entry(id).or_insert(0);
        if *count == 0 || !redelivered {
            *count += 1;
        }
    }
}

/// The queue the watcher consumes; durable, so a broker restart keeps what was not yet read.
const WATCH_QUEUE: &str = "sim-notifications";

/// Declares the watcher's queue and binds it (before any notifier publishes), then consumes it until
/// aborted, opening the connection again after a broker restart.
pub async fn watch_notifications(
    url: String,
    exchange: String,
    routing_key: String,
) -> anyhow::Result<(Seen, tokio::task::JoinHandle<()>)> {
    let seen = Seen::default();
    let (connection, consumer) = open_watch(&url, &exchange, &routing_key).await?;
    let task = {
        let seen = seen.clone();
        tokio::spawn(async move {
            let mut open = Some((connection, consumer));
            loop {
                let (_connection, mut consumer) = match open.take() {
                    Some(open) => open,
                    None => match open_watch(&url, &exchange, &routing_key).await {
                        Ok(open) => {
                            info!("notification watcher consuming again");
                            open
                        }
                        Err(_) => {
                            tokio::time::sleep(Duration::from_millis(500)).await;
                            continue;
                        }
                    },
                };
                while let Some(Ok(delivery)) = consumer.next().await {
                    let id = delivery
                        .properties
                        .message_id()
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default();
                    seen.record(id, delivery.redelivered);
                    let _ = delivery.ack(BasicAckOptions::default()).await;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };
    Ok((seen, task))
}

async fn open_watch(url: &str, exchange: &str, routing_key: &str) -> anyhow::Result<(Connection, lapin::Consumer)> {
    let connection = Connection::connect(url, ConnectionProperties::default())
        .await
        .context("failed to connect to RabbitMQ")?;
    let channel = connection.create_channel().await?;
    declare_exchange(&channel, exchange, true).await?;
    channel
        .queue_declare(
            WATCH_QUEUE.into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_bind(
            WATCH_QUEUE.into(),
            exchange.into(),
            routing_key.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let consumer = channel
        .basic_consume(
            WATCH_QUEUE.into(),
            "sim-watcher".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok((connection, consumer))
}
