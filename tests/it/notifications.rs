//! Notifications out: every event committed becomes one Designate notification on NATS and on a real
//! RabbitMQ broker, with the same message id on both, after a restart of the notifier too, and a
//! notifier killed with `kill -9` in the middle of a burst loses nothing and doubles nothing on NATS.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::Duration;

use futures::StreamExt as _;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use nsplane_command::log::LogFilter;
use nsplane_notify::payload::message_id;
use nsplane_notify::NotifyConfig;
use nsplane_runtime::Shutdown;
use nsplane_testkit::process::ProcessGuard;
use nsplane_testkit::rabbitmq::rabbitmq;
use nsplane_testkit::*;
use serde_json::{json, Value};

const ADMIN: [(&str, &str); 1] = [("x-roles", "admin")];

/// The message ids every zone and naming event in the log must have made (recoveries make none).
async fn expected_ids(shared: &Shared) -> BTreeMap<String, String> {
    let mut reader = shared.store.read_log(&LogFilter::All, 1).await.expect("log");
    let mut out = BTreeMap::new();
    for _ in 0..reader.matching {
        let logged = reader.commits.next().await.expect("a commit").expect("readable");
        let commit = &logged.commit;
        if !matches!(commit.aggregate_type.as_str(), "zone" | "naming") {
            continue;
        }
        for (index, event) in commit.events.iter().enumerate() {
            let tag = event.get().to_owned();
            if tag.contains("ZoneRecoveryRequested") {
                continue;
            }
            out.insert(message_id(logged.stream_seq, index).to_string(), tag);
        }
    }
    out
}

/// Every notification on the NATS stream: `message id -> the oslo message`.
async fn nats_notifications(shared: &Shared, ns: &Namespace) -> (usize, BTreeMap<String, Value>) {
    let js = shared.store.context();
    // Not there until a notifier has started.
    let Ok(mut stream) = js.get_stream(ns.layout().notifications_stream()).await else {
        return (0, BTreeMap::new());
    };
    let count = stream.info().await.expect("info").state.messages as usize;
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig::default())
        .await
        .expect("consumer");
    let mut messages = consumer.messages().await.expect("messages");
    let mut out = BTreeMap::new();
    for _ in 0..count {
        let message = messages.next().await.expect("a message").expect("readable");
        let id = message
            .headers
            .as_ref()
            .and_then(|h| h.get("Nats-Msg-Id"))
            .map(|v| v.as_str().to_owned())
            .expect("a message id");
        out.insert(id, oslo_message(&message.payload));
    }
    (count, out)
}

/// The message inside oslo.messaging's v2 envelope.
fn oslo_message(body: &[u8]) -> Value {
    let envelope: Value = serde_json::from_slice(body).expect("JSON");
    assert_eq!(envelope["oslo.version"], "2.0");
    serde_json::from_str(envelope["oslo.message"].as_str().expect("a string")).expect("the message is JSON")
}

/// A queue bound to `exchange` with `notifications.info`, as a Designate notification consumer binds.
async fn amqp_queue(url: &str, exchange: &str) -> (lapin::Connection, lapin::Consumer) {
    let connection = lapin::Connection::connect(url, lapin::ConnectionProperties::default())
        .await
        .expect("connect to RabbitMQ");
    let channel = connection.create_channel().await.expect("channel");
    channel
        .exchange_declare(
            exchange.into(),
            lapin::ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("exchange");
    let queue = format!("{exchange}-listener");
    channel
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("queue");
    channel
        .queue_bind(
            queue.as_str().into(),
            exchange.into(),
            "notifications.info".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("bind");
    let consumer = channel
        .basic_consume(
            queue.as_str().into(),
            "test".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("consume");
    (connection, consumer)
}

/// Reads the queue until `count` messages arrived, then for one more second: `(message id, oslo message)`
/// in arrival order.
async fn amqp_drain(consumer: &mut lapin::Consumer, count: usize) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let wait = if out.len() >= count {
            Duration::from_secs(1)
        } else {
            deadline.saturating_duration_since(tokio::time::Instant::now())
        };
        match tokio::time::timeout(wait, consumer.next()).await {
            Ok(Some(Ok(delivery))) => {
                let id = delivery
                    .properties
                    .message_id()
                    .as_ref()
                    .map(|id| id.to_string())
                    .expect("a message id");
                out.push((id, oslo_message(&delivery.data)));
                delivery.ack(BasicAckOptions::default()).await.expect("ack");
            }
            Ok(other) => panic!("the AMQP consumer ended: {other:?}"),
            Err(_) => break,
        }
    }
    out
}

fn notifier(ns: &Namespace, exchange: &str) -> NotifyConfig {
    let mut config = NotifyConfig::new(ns.nats(), ns.store());
    config.amqp = Some(nsplane_notify::amqp::AmqpConfig {
        url: rabbitmq().url(),
        exchange: exchange.to_owned(),
        topic: "notifications".into(),
    });
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_becomes_one_notification_on_nats_and_rabbitmq_across_a_restart() {
    let ns = namespace().await;
    let node = Node::start(&ns, true).await;
    let (base, http) = (node.base.clone(), http());
    let exchange = format!("designate-{}", uuid::Uuid::new_v4());
    let (_connection, mut queue) = amqp_queue(&rabbitmq().url(), &exchange).await;

    let first = Shutdown::new();
    let running = tokio::spawn(nsplane_notify::run(notifier(&ns, &exchange), first.receiver()));
    let zone_id = create_zone(&http, &base, "notified.example.org.").await;
    let rs_url = format!("{base}/v2/zones/{zone_id}/recordsets");
    let (status, rs) = post(
        &http,
        &rs_url,
        json!({"name": "www.notified.example.org.", "type": "A", "records": ["192.0.2.1"]}),
    )
    .await;
    assert_eq!(status, 202, "{rs}");
    let rs_id = rs["id"].as_str().expect("id").to_owned();
    eventually(
        "the first two notifications are out",
        Duration::from_secs(20),
        || async { nats_notifications(&node.shared, &ns).await.0 == 2 },
    )
    .await;
    first.trigger();
    running.await.expect("task").expect("the notifier stopped cleanly");

    // While no notifier runs: more changes, a TLD among them.
    let (status, _) = call(
        &http,
        "PUT",
        &format!("{rs_url}/{rs_id}"),
        &[],
        Some(json!({"records": ["192.0.2.2"]})),
    )
    .await;
    assert_eq!(status, 202);
    let (status, _) = call(&http, "DELETE", &format!("{rs_url}/{rs_id}"), &[], None).await;
    assert_eq!(status, 202);
    let (status, body) = call(
        &http,
        "POST",
        &format!("{base}/v2/tlds"),
        &ADMIN,
        Some(json!({"name": "org"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    // A new notifier picks up where the first stopped.
    let second = Shutdown::new();
    let running = tokio::spawn(nsplane_notify::run(notifier(&ns, &exchange), second.receiver()));
    let (status, _) = call(&http, "DELETE", &format!("{base}/v2/zones/{zone_id}"), &[], None).await;
    assert_eq!(status, 202);

    let expected = expected_ids(&node.shared).await;
    assert_eq!(expected.len(), 6, "six events: {expected:?}");
    eventually("every event is notified on NATS", Duration::from_secs(20), || async {
        nats_notifications(&node.shared, &ns).await.0 >= expected.len()
    })
    .await;
    let (count, on_nats) = nats_notifications(&node.shared, &ns).await;
    assert_eq!(count, expected.len(), "one notification per event, none twice");
    assert_eq!(
        on_nats.keys().collect::<BTreeSet<_>>(),
        expected.keys().collect::<BTreeSet<_>>(),
        "the notifications are the log's events"
    );
    let types: Vec<&str> = on_nats
        .values()
        .map(|m| m["event_type"].as_str().unwrap_or_default())
        .collect();
    for wanted in [
        "dns.zone.create",
        "dns.recordset.create",
        "dns.recordset.update",
        "dns.recordset.delete",
        "dns.tld.create",
        "dns.zone.delete",
    ] {
        assert!(types.contains(&wanted), "{wanted} in {types:?}");
    }
    let created = on_nats
        .values()
        .find(|m| m["event_type"] == "dns.recordset.create")
        .expect("the record set's create");
    assert_eq!(created["priority"], "INFO");
    assert!(created["publisher_id"]
        .as_str()
        .is_some_and(|p| p.starts_with("central.")));
    let payload = &created["payload"];
    assert_eq!(payload["name"], "www.notified.example.org.");
    assert_eq!(payload["type"], "A");
    assert_eq!(payload["zone_id"], zone_id.as_str());
    assert_eq!(payload["zone_name"], "notified.example.org.");
    assert_eq!(payload["records"][0]["data"], "192.0.2.1");
    let deleted = on_nats
        .values()
        .find(|m| m["event_type"] == "dns.recordset.delete")
        .expect("the record set's delete");
    assert_eq!(
        deleted["payload"]["name"], "www.notified.example.org.",
        "a delete shows what went"
    );
    assert_eq!(deleted["payload"]["action"], "DELETE");
    let zone_delete = on_nats
        .values()
        .find(|m| m["event_type"] == "dns.zone.delete")
        .expect("the zone's delete");
    assert_eq!(zone_delete["payload"]["action"], "DELETE");
    assert_eq!(zone_delete["payload"]["name"], "notified.example.org.");

    // RabbitMQ got the same notifications, once each, with the same message ids.
    let on_amqp = amqp_drain(&mut queue, expected.len()).await;
    let ids: BTreeSet<&String> = on_amqp.iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), on_amqp.len(), "no notification twice on RabbitMQ");
    assert_eq!(ids, expected.keys().collect::<BTreeSet<_>>());
    for (id, message) in &on_amqp {
        assert_eq!(
            &message["message_id"],
            id.as_str(),
            "the AMQP message id is the notification's"
        );
        assert_eq!(message, &on_nats[id], "the same notification on both");
    }
    second.trigger();
    running.await.expect("task").expect("the notifier stopped cleanly");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notifier_killed_mid_burst_loses_nothing_and_nats_gets_each_once() {
    let ns = namespace().await;
    let node = Node::start(&ns, true).await;
    let (base, http) = (node.base.clone(), http());
    let exchange = format!("designate-{}", uuid::Uuid::new_v4());
    let (_connection, mut queue) = amqp_queue(&rabbitmq().url(), &exchange).await;
    let zone_id = create_zone(&http, &base, "burst.example.org.").await;
    for i in 0..60 {
        create_recordset(
            &http,
            &base,
            &zone_id,
            &format!("h{i}.burst.example.org."),
            "A",
            &[&format!("192.0.2.{}", i + 1)],
        )
        .await;
    }
    let start = |log: &str| {
        let log = std::env::temp_dir().join(format!("nsplane-notifier-{log}-{}.log", uuid::Uuid::new_v4()));
        let child = Command::new(env!("CARGO_BIN_EXE_nsplane"))
            .args(["producer", "--nats-url", &servers::servers().nats.url])
            .args(["--database-url", &ns.database_url, "--prefix", &ns.prefix])
            .args(["--notify-nats", "--notify-amqp-url", &rabbitmq().url()])
            .args(["--notify-amqp-exchange", &exchange])
            // Only the log's notifications here (dns.zone.exists has its own test).
            .args(["--exists-every-secs", "0"])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start nsplane producer");
        ProcessGuard::new("nsplane-notifier", child, Some(log))
    };
    let first = start("first");
    eventually("the notifier is under way", Duration::from_secs(30), || async {
        nats_notifications(&node.shared, &ns).await.0 >= 5
    })
    .await;
    let status = Command::new("kill")
        .args(["-9", &first.pid().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let notified_at_kill = nats_notifications(&node.shared, &ns).await.0;
    drop(first);
    let _second = start("second");
    let expected = expected_ids(&node.shared).await;
    assert_eq!(expected.len(), 61);
    // Up to the consumer's ack wait (10 s) for what the killed one held.
    eventually(
        "every event is notified after the kill",
        Duration::from_secs(60),
        || async { nats_notifications(&node.shared, &ns).await.0 >= expected.len() },
    )
    .await;
    let (count, on_nats) = nats_notifications(&node.shared, &ns).await;
    eprintln!(
        "{notified_at_kill} of {} notified when the notifier was killed",
        expected.len()
    );
    assert_eq!(
        count,
        expected.len(),
        "NATS keeps one per event (redeliveries are dropped by id)"
    );
    assert_eq!(
        on_nats.keys().collect::<BTreeSet<_>>(),
        expected.keys().collect::<BTreeSet<_>>()
    );
    // RabbitMQ has no de-duplication: a commit whose notifications were confirmed but not yet
    // acknowledged when the notifier died is sent again, with the same message ids.
    let on_amqp = amqp_drain(&mut queue, expected.len()).await;
    let ids: BTreeSet<&String> = on_amqp.iter().map(|(id, _)| id).collect();
    assert_eq!(ids, expected.keys().collect::<BTreeSet<_>>(), "none lost on RabbitMQ");
    eprintln!(
        "RabbitMQ: {} deliveries for {} notifications",
        on_amqp.len(),
        expected.len()
    );
    node.stop().await;
}

/// The producer's `dns.zone.exists`: every zone once per period, with the period in the payload and an
/// id that only the zone and the period make.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_producer_sends_zone_exists_once_per_period() {
    let ns = namespace().await;
    let node = Node::start(&ns, true).await;
    let http = http();
    let zones = [
        create_zone(&http, &node.base, "exists-a.example.org.").await,
        create_zone(&http, &node.base, "exists-b.example.org.").await,
    ];
    let mut producer = nsplane_producer::ProducerConfig::new(ns.nats(), ns.store(), ns.pg());
    producer.leases = nsplane_command::leases::LeaseConfig {
        ranges: 4,
        ttl: Duration::from_secs(2),
        renew_every: Duration::from_millis(300),
    };
    let mut notify = NotifyConfig::new(ns.nats(), ns.store());
    notify.to_nats = true;
    producer.exists = Some((notify, Duration::from_secs(3)));
    let shutdown = Shutdown::new();
    let running = tokio::spawn(nsplane_producer::run(producer, shutdown.receiver()));
    let exists = || async {
        nats_notifications(&node.shared, &ns)
            .await
            .1
            .into_iter()
            .filter(|(_, m)| m["event_type"] == "dns.zone.exists")
            .collect::<Vec<_>>()
    };
    eventually(
        "two periods of dns.zone.exists for both zones",
        Duration::from_secs(30),
        || async { exists().await.len() >= 4 },
    )
    .await;
    shutdown.trigger();
    running.await.expect("task").expect("the producer stopped cleanly");
    let sent = exists().await;
    let mut per_zone: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (id, message) in &sent {
        let payload = &message["payload"];
        let zone = payload["id"].as_str().expect("zone id").to_owned();
        assert!(zones.contains(&zone), "{payload}");
        let (begin, end) = (
            payload["audit_period_beginning"].as_str().expect("beginning"),
            payload["audit_period_ending"].as_str().expect("ending"),
        );
        assert!(begin < end, "{begin} < {end}");
        let start = chrono::NaiveDateTime::parse_from_str(begin, "%Y-%m-%d %H:%M:%S")
            .expect("a time")
            .and_utc()
            .timestamp();
        assert_eq!(
            id,
            &nsplane_notify::payload::exists_message_id(zone.parse().expect("uuid"), start).to_string()
        );
        assert!(
            per_zone.entry(zone).or_default().insert(begin.to_owned()),
            "one per zone and period"
        );
    }
    assert_eq!(per_zone.len(), 2, "both zones: {per_zone:?}");
    node.stop().await;
}
