//! The sink against a real RabbitMQ broker and NATS: Nova's and Neutron's notifications (fixtures with
//! the fields they send) become managed records, each exactly once (a duplicate changes nothing), a
//! delete that arrives before its create leaves no record, and tenants cannot edit what the sink owns.

use std::time::Duration;

use lapin::options::{BasicPublishOptions, ExchangeDeclareOptions};
use lapin::types::FieldTable;
use nsplane_runtime::Shutdown;
use nsplane_schema::ZoneEvent;
use nsplane_sink::handlers::HandlerConfig;
use nsplane_sink::SinkConfig;
use nsplane_testkit::rabbitmq::rabbitmq;
use nsplane_testkit::*;
use serde_json::{json, Value};

/// A fixture with its placeholders filled and a message id of its own (unless `message_id` is given).
fn fixture(file: &str, replace: &[(&str, &str)], message_id: Option<&str>) -> Value {
    let path = format!("{}/tests/fixtures/sink/{file}", env!("CARGO_MANIFEST_DIR"));
    let mut text = std::fs::read_to_string(&path).expect("fixture");
    for (from, to) in replace {
        text = text.replace(from, to);
    }
    let mut message: Value = serde_json::from_str(&text).expect("fixture JSON");
    message["message_id"] = match message_id {
        Some(id) => id.into(),
        None => uuid::Uuid::new_v4().to_string().into(),
    };
    message
}

/// oslo.messaging's v2 envelope around a message.
fn v2(message: &Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"oslo.version": "2.0", "oslo.message": message.to_string()})).expect("JSON")
}

struct Rabbit {
    channel: lapin::Channel,
    _connection: lapin::Connection,
}

impl Rabbit {
    /// Declares the exchanges, and the sink's queue bound to them (as the sink will), so nothing
    /// published before the sink is up is dropped.
    async fn open(exchanges: &[&str], queue: &str) -> Rabbit {
        let connection = lapin::Connection::connect(&rabbitmq().url(), lapin::ConnectionProperties::default())
            .await
            .expect("connect");
        let channel = connection.create_channel().await.expect("channel");
        for exchange in exchanges {
            // As oslo.messaging declares its control exchanges: topic, not durable.
            channel
                .exchange_declare(
                    (*exchange).into(),
                    lapin::ExchangeKind::Topic,
                    ExchangeDeclareOptions::default(),
                    FieldTable::default(),
                )
                .await
                .expect("exchange");
        }
        channel
            .queue_declare(
                queue.into(),
                lapin::options::QueueDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("queue");
        for exchange in exchanges {
            channel
                .queue_bind(
                    queue.into(),
                    (*exchange).into(),
                    "notifications.info".into(),
                    lapin::options::QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .expect("bind");
        }
        Rabbit {
            channel,
            _connection: connection,
        }
    }

    async fn publish(&self, exchange: &str, body: &[u8]) {
        self.channel
            .basic_publish(
                exchange.into(),
                "notifications.info".into(),
                BasicPublishOptions::default(),
                body,
                lapin::BasicProperties::default(),
            )
            .await
            .expect("publish")
            .await
            .expect("confirm");
    }
}

/// The records of the record set `name`/`rtype`, if there is one.
async fn records(base: &str, zone_id: &str, name: &str, rtype: &str) -> Option<Vec<String>> {
    let (status, body) = get(
        &http(),
        &format!("{base}/v2/zones/{zone_id}/recordsets?name={name}&type={rtype}"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let rs = body["recordsets"].as_array()?.first()?.clone();
    let mut out: Vec<String> = rs["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| r.as_str().expect("a string").to_owned())
        .collect();
    out.sort();
    Some(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nova_and_neutron_notifications_become_records_exactly_once() {
    let ns = namespace().await;
    let node = Node::start(&ns, true).await;
    let base = node.base.clone();
    let zone_id = create_zone(&http(), &base, "cloud.example.org.").await;
    let tag = uuid::Uuid::new_v4();
    let (nova, neutron) = (format!("nova-{tag}"), format!("neutron-{tag}"));
    let rabbit = Rabbit::open(&[&nova, &neutron], &format!("sink-{tag}")).await;

    let mut config = SinkConfig::new(ns.nats(), ns.store());
    config.amqp_url = Some(rabbitmq().url());
    config.amqp_queue = format!("sink-{tag}");
    config.nova_exchange = nova.clone();
    config.neutron_exchange = neutron.clone();
    config.from_nats = true;
    config.nova = HandlerConfig {
        zone_id: Some(zone_id.clone()),
        ..Default::default()
    };
    config.neutron = HandlerConfig {
        zone_id: Some(zone_id.clone()),
        formatv4: vec!["fip-%(octet3)s.%(zone)s".into(), "%(no_such_key)s.%(zone)s".into()],
        formatv6: vec![],
    };
    let shutdown = Shutdown::new();
    let sink = tokio::spawn(nsplane_sink::run(config, shutdown.receiver()));
    let wait = Duration::from_secs(30);

    // An instance with an IPv4 and an IPv6 fixed address; its notification arrives twice.
    let create = fixture(
        "nova_compute.instance.create.end.json",
        &[("INSTANCE_ID", "i-1"), ("HOSTNAME", "vm1")],
        None,
    );
    rabbit.publish(&nova, &v2(&create)).await;
    rabbit.publish(&nova, &v2(&create)).await;
    eventually("vm1's A and AAAA records", wait, || async {
        records(&base, &zone_id, "vm1.cloud.example.org.", "A").await == Some(vec!["10.0.0.5".into()])
            && records(&base, &zone_id, "vm1.cloud.example.org.", "AAAA").await == Some(vec!["fd00:10::5".into()])
    })
    .await;

    // A floating IP: associated, then disassociated (the template with an unknown key makes no name).
    let fip = |fixed: Value| {
        let mut m = fixture("neutron_floatingip.update.end.json", &[("FLOATINGIP_ID", "f-1")], None);
        m["payload"]["floatingip"]["fixed_ip_address"] = fixed;
        m
    };
    rabbit.publish(&neutron, &v2(&fip(json!("10.0.0.5")))).await;
    eventually("the floating IP's record", wait, || async {
        records(&base, &zone_id, "fip-7.cloud.example.org.", "A").await == Some(vec!["203.0.113.7".into()])
    })
    .await;
    rabbit.publish(&neutron, &v2(&fip(Value::Null))).await;
    eventually("the disassociated floating IP's record is gone", wait, || async {
        records(&base, &zone_id, "fip-7.cloud.example.org.", "A")
            .await
            .is_none()
    })
    .await;

    // Out of order: vm2's delete comes before its create (v1 envelope for the delete).
    let delete2 = fixture(
        "nova_compute.instance.delete.start.json",
        &[("INSTANCE_ID", "i-2"), ("HOSTNAME", "vm2")],
        None,
    );
    rabbit
        .publish(&nova, &serde_json::to_vec(&delete2).expect("JSON"))
        .await;
    let create2 = fixture(
        "nova_compute.instance.create.end.json",
        &[
            ("INSTANCE_ID", "i-2"),
            ("HOSTNAME", "vm2"),
            ("10.0.0.5", "10.0.0.6"),
            ("fd00:10::5", "fd00:10::6"),
        ],
        None,
    );
    rabbit.publish(&nova, &v2(&create2)).await;
    // And from NATS: vm3 (handled after everything above on its own consumer, so wait for it).
    let create3 = fixture(
        "nova_compute.instance.create.end.json",
        &[
            ("INSTANCE_ID", "i-3"),
            ("HOSTNAME", "vm3"),
            ("10.0.0.5", "10.0.0.7"),
            ("fd00:10::5", "fd00:10::7"),
        ],
        None,
    );
    let subject = format!("{}.sink.nova", ns.prefix);
    let js = node.shared.store.context();
    eventually("the sink's NATS input exists", wait, || async {
        js.get_stream(ns.layout().sink_stream()).await.is_ok()
    })
    .await;
    js.publish(subject, v2(&create3).into())
        .await
        .expect("publish")
        .await
        .expect("stored");
    // A marker after vm2's pair on RabbitMQ: once it is applied, so are they.
    rabbit
        .publish(
            &neutron,
            &v2(&fixture(
                "neutron_floatingip.update.end.json",
                &[("FLOATINGIP_ID", "f-2")],
                None,
            )),
        )
        .await;
    eventually("vm3 from NATS and the marker from RabbitMQ", wait, || async {
        records(&base, &zone_id, "vm3.cloud.example.org.", "A").await == Some(vec!["10.0.0.7".into()])
            && records(&base, &zone_id, "fip-7.cloud.example.org.", "A")
                .await
                .is_some()
    })
    .await;
    assert_eq!(
        records(&base, &zone_id, "vm2.cloud.example.org.", "A").await,
        None,
        "a create after its instance's delete adds nothing"
    );

    // Tenants may not change what the sink owns.
    let (_, listed) = get(
        &http(),
        &format!("{base}/v2/zones/{zone_id}/recordsets?name=vm1.cloud.example.org.&type=A"),
    )
    .await;
    let vm1 = listed["recordsets"][0]["id"].as_str().expect("id").to_owned();
    let (status, body) = call(
        &http(),
        "PUT",
        &format!("{base}/v2/zones/{zone_id}/recordsets/{vm1}"),
        &[],
        Some(json!({"records": ["10.9.9.9"]})),
    )
    .await;
    // Designate's answer: 400 "Managed records may not be updated".
    assert_eq!(
        (status, body["message"].clone()),
        (400, json!("Managed records may not be updated"))
    );

    // The instance goes: its records go.
    rabbit
        .publish(
            &nova,
            &v2(&fixture(
                "nova_compute.instance.delete.start.json",
                &[("INSTANCE_ID", "i-1"), ("HOSTNAME", "vm1")],
                None,
            )),
        )
        .await;
    eventually("vm1's records are gone", wait, || async {
        records(&base, &zone_id, "vm1.cloud.example.org.", "A").await.is_none()
            && records(&base, &zone_id, "vm1.cloud.example.org.", "AAAA")
                .await
                .is_none()
    })
    .await;

    // Exactly once: the duplicated create claimed vm1's records once.
    let history = node
        .shared
        .store
        .commits_between::<ZoneEvent>(&zone_id, 0, u64::MAX)
        .await
        .expect("history");
    let claims_for = |id: &str| {
        history
            .iter()
            .flat_map(|c| c.envelope.events.iter())
            .filter(|e| matches!(e, ZoneEvent::ManagedRecordsClaimed { resource_id, .. } if resource_id == id))
            .count()
    };
    assert_eq!(
        claims_for("i-1"),
        2,
        "A and AAAA, once each, though the notification came twice"
    );
    assert_eq!(claims_for("i-2"), 0, "vm2 was released before its create");
    assert!(history
        .iter()
        .filter(|c| c.envelope.metadata.source_role == "sink")
        .all(|c| c.envelope.metadata.request_id.0.starts_with("sink-")));
    shutdown.trigger();
    sink.await.expect("sink task").expect("the sink stopped cleanly");
    node.stop().await;
}
