//! Notifications to RabbitMQ, as oslo.messaging's notifier sends them: a durable topic exchange
//! (`designate`), routing key `<topic>.<priority>` (`notifications.info`), persistent messages whose
//! AMQP `message_id` is the notification's, with publisher confirms: a notification counts as sent only
//! once the broker confirms it. A lost connection is opened again at the next commit.

use anyhow::Context as _;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};

use crate::payload::Notification;

/// Where notifications go on RabbitMQ.
#[derive(Clone)]
pub struct AmqpConfig {
    /// `amqp://user:password@host:5672/%2f`.
    pub url: String,
    /// The exchange (Designate: `designate`, its `control_exchange`).
    pub exchange: String,
    /// The topic (`notifications`); messages are routed with `<topic>.info`.
    pub topic: String,
}

impl std::fmt::Debug for AmqpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL carries the password.
        f.debug_struct("AmqpConfig")
            .field("exchange", &self.exchange)
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

/// A connection to RabbitMQ, opened when needed.
pub struct Publisher {
    config: AmqpConfig,
    open: Option<(Connection, Channel)>,
}

impl Publisher {
    /// Not connected yet.
    pub fn new(config: AmqpConfig) -> Self {
        Self { config, open: None }
    }

    async fn channel(&mut self) -> anyhow::Result<&Channel> {
        let usable = self
            .open
            .as_ref()
            .is_some_and(|(connection, channel)| connection.status().connected() && channel.status().connected());
        if !usable {
            self.open = None;
            let connection = Connection::connect(&self.config.url, ConnectionProperties::default())
                .await
                .context("failed to connect to RabbitMQ")?;
            let channel = connection
                .create_channel()
                .await
                .context("failed to open an AMQP channel")?;
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await
                .context("failed to turn on publisher confirms")?;
            channel
                .exchange_declare(
                    self.config.exchange.as_str().into(),
                    ExchangeKind::Topic,
                    ExchangeDeclareOptions {
                        durable: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await
                .with_context(|| format!("failed to declare the exchange {}", self.config.exchange))?;
            self.open = Some((connection, channel));
        }
        self.open
            .as_ref()
            .map(|(_, channel)| channel)
            .context("no AMQP channel")
    }

    /// Publishes `notifications` and waits until the broker confirms every one.
    pub async fn publish(&mut self, notifications: &[Notification], publisher_id: &str) -> anyhow::Result<()> {
        if notifications.is_empty() {
            return Ok(());
        }
        let routing_key = format!("{}.info", self.config.topic);
        let exchange = self.config.exchange.clone();
        let result = async {
            let channel = self.channel().await?;
            let mut confirms = Vec::with_capacity(notifications.len());
            for n in notifications {
                let body = serde_json::to_vec(&n.envelope(publisher_id))?;
                let properties = BasicProperties::default()
                    .with_message_id(n.message_id.to_string().into())
                    .with_content_type("application/json".into())
                    .with_delivery_mode(2);
                confirms.push(
                    channel
                        .basic_publish(
                            exchange.as_str().into(),
                            routing_key.as_str().into(),
                            BasicPublishOptions::default(),
                            &body,
                            properties,
                        )
                        .await
                        .context("failed to publish a notification to RabbitMQ")?,
                );
            }
            for confirm in confirms {
                let confirmation = confirm.await.context("RabbitMQ did not confirm a notification")?;
                anyhow::ensure!(confirmation.is_ack(), "RabbitMQ refused a notification (nack)");
            }
            anyhow::Ok(())
        }
        .await;
        if result.is_err() {
            // Open a fresh connection next time.
            self.open = None;
        }
        result
    }
}
