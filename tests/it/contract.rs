//! The contract as every writer and reader shares it: every state change is a commit on the one stream
//! with who, why and when (TLDs, blacklists, quotas and pools included); a new kind of aggregate needs
//! nothing but its events and its projection; and a data dir written before the envelope was generic
//! keeps working.

use std::time::Duration;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use futures::future::BoxFuture;
use nsplane_command::{Decider, Domain, ExecuteError, Executor};
use nsplane_projection::projectors::Txn;
use nsplane_projection::{Delivered, Projector, Projectors};
use nsplane_schema::naming::NamingEvent;
use nsplane_schema::pools::PoolsEvent;
use nsplane_schema::quotas::QuotaEvent;
use nsplane_schema::{Event, Metadata, RawCommit};
use nsplane_testkit::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(30);

async fn pg(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("pg");
    tokio::spawn(connection);
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn operator_changes_are_events_with_who_why_when() {
    let ns = namespace().await;
    let node = Node::start(&ns, true).await;
    let http = http();
    let started = Utc::now();
    let request_id = format!("req-{}", uuid::Uuid::new_v4());
    let alice = [
        ("x-auth-project-id", "ops"),
        ("x-auth-user-id", "alice"),
        ("x-roles", "admin"),
    ];
    let with_request: Vec<(&str, &str)> = alice
        .iter()
        .copied()
        .chain([("x-openstack-request-id", request_id.as_str())])
        .collect();
    let base = &node.base;
    let (status, tld) = call(
        &http,
        "POST",
        &format!("{base}/v2/tlds"),
        &with_request,
        Some(json!({"name": "org"})),
    )
    .await;
    assert_eq!(status, 201, "{tld}");
    let tld_id = tld["id"].as_str().expect("id");
    let (status, _) = call(
        &http,
        "PATCH",
        &format!("{base}/v2/tlds/{tld_id}"),
        &alice,
        Some(json!({"description": "generic"})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(
        &http,
        "POST",
        &format!("{base}/v2/blacklists"),
        &alice,
        Some(json!({"pattern": "^evil\\."})),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _) = call(&http, "DELETE", &format!("{base}/v2/tlds/{tld_id}"), &alice, None).await;
    assert_eq!(status, 204);
    let (status, _) = call(
        &http,
        "PATCH",
        &format!("{base}/v2/quotas/p1"),
        &alice,
        Some(json!({"zones": 3})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(&http, "DELETE", &format!("{base}/v2/quotas/p1"), &alice, None).await;
    assert_eq!(status, 204);
    let pools = nsplane_command::PoolsStore::new(node.shared.store.clone());
    let yaml = TEST_POOL.replace("ns1.example.net.", "ns2.example.net.");
    let version = pools
        .update(&yaml, Metadata::service("pool-update"))
        .await
        .expect("pool update");
    assert_eq!(version, 2);

    // The stream holds each change with who asked, why and when.
    let store = &node.shared.store;
    let last = store
        .last::<NamingEvent>("all")
        .await
        .expect("read")
        .expect("naming commits");
    let naming = store
        .commits_between::<NamingEvent>("all", 0, last.stream_seq)
        .await
        .expect("read");
    let commands: Vec<&str> = naming.iter().map(|c| c.envelope.metadata.command.as_str()).collect();
    assert_eq!(commands, ["CreateTld", "UpdateTld", "CreateBlacklist", "DeleteTld"]);
    let events: Vec<&str> = naming.iter().map(|c| c.envelope.events[0].event_type()).collect();
    assert_eq!(events, ["TldCreated", "TldUpdated", "BlacklistCreated", "TldDeleted"]);
    for commit in &naming {
        let who = &commit.envelope.metadata;
        assert_eq!((who.user_id.as_str(), who.project_id.0.as_str()), ("alice", "ops"));
        assert_eq!(who.roles, ["admin"]);
        assert_eq!(who.source_role, "api");
        assert!(who.time >= started && who.time <= Utc::now(), "when: {}", who.time);
    }
    assert_eq!(
        naming[0].envelope.metadata.request_id.0, request_id,
        "why: the request that asked"
    );
    let last = store
        .last::<QuotaEvent>("p1")
        .await
        .expect("read")
        .expect("quota commits");
    let quotas = store
        .commits_between::<QuotaEvent>("p1", 0, last.stream_seq)
        .await
        .expect("read");
    assert_eq!(
        quotas.iter().map(|c| c.envelope.events.clone()).collect::<Vec<_>>(),
        vec![
            vec![QuotaEvent::QuotasSet {
                project_id: nsplane_schema::ProjectId("p1".into()),
                changes: [("zones".to_owned(), 3)].into(),
            }],
            vec![QuotaEvent::QuotasReset {
                project_id: nsplane_schema::ProjectId("p1".into()),
            }],
        ]
    );
    assert!(quotas.iter().all(|c| c.envelope.metadata.user_id == "alice"));
    let pools_commit = store
        .last::<PoolsEvent>("all")
        .await
        .expect("read")
        .expect("pools commit");
    assert_eq!(pools_commit.envelope.version, 2);
    assert_eq!(pools_commit.envelope.metadata.command, "UpdatePools");
    assert_eq!(pools_commit.envelope.metadata.source_role, "pool-update");
    assert_eq!(
        pools_commit.envelope.events,
        vec![PoolsEvent::PoolsConfigured {
            pools_yaml: yaml.clone()
        }]
    );

    // Central writes their audit rows like any zone change's, and their read models.
    let client = pg(&ns.database_url).await;
    eventually("audit rows of every kind", WAIT, || async {
        let row = client
            .query_one(
                "SELECT count(*) FROM audit_events WHERE aggregate_type IN ('naming', 'quotas', 'pools')",
                &[],
            )
            .await
            .expect("count");
        row.get::<_, i64>(0) == 8
    })
    .await;
    let rows = client
        .query(
            "SELECT event_type, user_id, request_id, source_role FROM audit_events \
             WHERE aggregate_type = 'naming' ORDER BY stream_seq",
            &[],
        )
        .await
        .expect("audit");
    let audited: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(audited[0], ("TldCreated".to_owned(), "alice".to_owned()));
    assert_eq!(rows[0].get::<_, String>(2), request_id);
    let (_, blacklists) = call(&http, "GET", &format!("{base}/v2/blacklists"), &alice, None).await;
    assert_eq!(blacklists["blacklists"][0]["pattern"], "^evil\\.");
    let (_, tlds) = call(&http, "GET", &format!("{base}/v2/tlds"), &alice, None).await;
    assert_eq!(tlds["tlds"], json!([]));
    eventually("the pools read model has the new configuration", WAIT, || async {
        let row = client
            .query_opt("SELECT ns_records::text FROM pools", &[])
            .await
            .expect("pools");
        row.is_some_and(|r| r.get::<_, String>(0).contains("ns2.example.net."))
    })
    .await;
    node.stop().await;
}

/// A kind of aggregate only this test knows: widgets, made once in a colour and painted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
enum WidgetEvent {
    #[serde(rename = "WidgetMade.v1")]
    WidgetMade { colour: String },
    #[serde(rename = "WidgetPainted.v1")]
    WidgetPainted { colour: String },
}

impl Event for WidgetEvent {
    const AGGREGATE_TYPE: &'static str = "widget";

    fn event_type(&self) -> &'static str {
        match self {
            WidgetEvent::WidgetMade { .. } => "WidgetMade",
            WidgetEvent::WidgetPainted { .. } => "WidgetPainted",
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Widget {
    colour: Option<String>,
}

#[derive(Debug, Clone)]
enum WidgetCommand {
    Make(String),
    Paint(String),
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
enum WidgetError {
    #[error("the widget exists")]
    Exists,
    #[error("no such widget")]
    NotFound,
}

impl Aggregate for Widget {
    const TYPE: &'static str = "widget";
    type Command = WidgetCommand;
    type Event = Domain<WidgetEvent>;
    type Error = WidgetError;
    type Services = ();

    async fn handle(&mut self, command: WidgetCommand, _: &(), sink: &EventSink<Self>) -> Result<(), WidgetError> {
        for event in self.decide(command, &(), Utc::now()).await? {
            sink.write(Domain(event), self).await;
        }
        Ok(())
    }

    fn apply(&mut self, Domain(event): Self::Event) {
        match event {
            WidgetEvent::WidgetMade { colour } | WidgetEvent::WidgetPainted { colour } => self.colour = Some(colour),
        }
    }
}

impl Decider for Widget {
    type Contract = WidgetEvent;

    fn command_name(command: &WidgetCommand) -> &'static str {
        match command {
            WidgetCommand::Make(_) => "MakeWidget",
            WidgetCommand::Paint(_) => "PaintWidget",
        }
    }

    async fn decide(&self, command: WidgetCommand, _: &(), _: DateTime<Utc>) -> Result<Vec<WidgetEvent>, WidgetError> {
        match (command, &self.colour) {
            (WidgetCommand::Make(_), Some(_)) => Err(WidgetError::Exists),
            (WidgetCommand::Make(colour), None) => Ok(vec![WidgetEvent::WidgetMade { colour }]),
            (WidgetCommand::Paint(_), None) => Err(WidgetError::NotFound),
            (WidgetCommand::Paint(colour), Some(_)) => Ok(vec![WidgetEvent::WidgetPainted { colour }]),
        }
    }

    fn evolve(&mut self, event: &WidgetEvent, _: DateTime<Utc>) {
        self.apply(Domain(event.clone()));
    }

    fn not_found() -> WidgetError {
        WidgetError::NotFound
    }
}

/// The widgets' projection: a table of this test's own.
struct WidgetProjector;

impl Projector for WidgetProjector {
    fn aggregate_type(&self) -> &'static str {
        "widget"
    }

    fn apply<'a>(&'a self, txn: &'a Txn<'a>, commits: &'a [&'a Delivered]) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            for commit in commits {
                let typed = commit.commit.typed::<WidgetEvent>()?;
                for event in &typed.events {
                    let (WidgetEvent::WidgetMade { colour } | WidgetEvent::WidgetPainted { colour }) = event;
                    txn.execute(
                        "INSERT INTO test_widgets (id, colour) VALUES ($1, $2) \
                         ON CONFLICT (id) DO UPDATE SET colour = EXCLUDED.colour",
                        &[&typed.aggregate_id, colour],
                    )
                    .await?;
                }
            }
            Ok(())
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_aggregate_kind_needs_only_its_events_and_its_projection() {
    let ns = namespace().await;
    let shared = ns.connect().await;
    let client = pg(&ns.database_url).await;
    client
        .batch_execute("CREATE TABLE test_widgets (id text PRIMARY KEY, colour text NOT NULL)")
        .await
        .expect("table");
    // The generic store and executor run the new kind's commands as they are.
    let widgets: Executor<Widget> = Executor::new(shared.store.clone(), (), 16);
    let meta = || Metadata::service("test");
    widgets
        .execute("w1", WidgetCommand::Make("red".into()), meta(), None)
        .await
        .expect("make w1");
    widgets
        .execute("w1", WidgetCommand::Paint("blue".into()), meta(), None)
        .await
        .expect("paint w1");
    widgets
        .execute("w2", WidgetCommand::Make("green".into()), meta(), None)
        .await
        .expect("make w2");
    assert!(matches!(
        widgets
            .execute("w1", WidgetCommand::Make("red".into()), meta(), None)
            .await,
        Err(ExecuteError::Rejected(WidgetError::Exists))
    ));
    let last = shared
        .store
        .last::<WidgetEvent>("w1")
        .await
        .expect("read")
        .expect("w1's commits");
    assert_eq!(
        (last.envelope.aggregate_type.as_str(), last.envelope.version),
        ("widget", 2)
    );
    // Central, with the kind's projector added and nothing else, projects it and audits it.
    let mut config = nsplane_projection::CentralConfig::new(ns.nats(), ns.pg(), ns.layout());
    config.projectors = Projectors::standard().with(WidgetProjector);
    let shutdown = nsplane_runtime::Shutdown::new();
    let central = tokio::spawn(nsplane_projection::central::run(config, shutdown.receiver()));
    eventually("the widgets are projected", WAIT, || async {
        let rows = client
            .query("SELECT id, colour FROM test_widgets ORDER BY id", &[])
            .await
            .expect("widgets");
        let got: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        got == [
            ("w1".to_owned(), "blue".to_owned()),
            ("w2".to_owned(), "green".to_owned()),
        ]
    })
    .await;
    let audit = client
        .query(
            "SELECT aggregate_id, version, event_type, command FROM audit_events \
             WHERE aggregate_type = 'widget' ORDER BY aggregate_id, version",
            &[],
        )
        .await
        .expect("audit");
    let audit: Vec<(String, i64, String, String)> =
        audit.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect();
    assert_eq!(
        audit,
        [
            ("w1".to_owned(), 1, "WidgetMade".to_owned(), "MakeWidget".to_owned()),
            ("w1".to_owned(), 2, "WidgetPainted".to_owned(), "PaintWidget".to_owned()),
            ("w2".to_owned(), 1, "WidgetMade".to_owned(), "MakeWidget".to_owned()),
        ]
    );
    let version = client
        .query_one(
            "SELECT version FROM projection_versions WHERE aggregate_type = 'widget' AND aggregate_id = 'w1'",
            &[],
        )
        .await
        .expect("version");
    assert_eq!(version.get::<_, i64>(0), 2);
    shutdown.trigger();
    central.await.expect("central task").expect("central ran cleanly");
}

fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

/// A data dir of the version before every change was an event: TLDs, blacklists and quota overrides in
/// KV, the pool configuration in its own commit shape, central's consumer on zone commits only. The new
/// version reads all of it, moves the KV state into events once, and central projects what its old
/// consumer never saw.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_data_dir_of_the_previous_version_keeps_working() {
    let ns = namespace().await;
    let shared = ns.connect().await;
    let layout = ns.layout();
    let js = async_nats::jetstream::new(shared.client.clone());
    let kv_config = |bucket: String| async_nats::jetstream::kv::Config {
        bucket,
        history: 1,
        ..Default::default()
    };
    let naming = js
        .create_key_value(kv_config(layout.bucket(nsplane_schema::layout::Bucket::LegacyNaming)))
        .await
        .expect("naming bucket");
    let tld_id = uuid::Uuid::new_v4();
    let rule = |id: uuid::Uuid, value: &str| -> bytes::Bytes {
        serde_json::to_vec(&json!({"id": id, "value": value, "description": null, "created_at": "2026-11-25T10:00:00Z", "updated_at": null}))
            .expect("json")
            .into()
    };
    naming
        .put(format!("tld.{}", hex("org")), rule(tld_id, "org"))
        .await
        .expect("tld");
    naming
        .put(
            format!("blacklist.{}", hex("^legacy\\.")),
            rule(uuid::Uuid::new_v4(), "^legacy\\."),
        )
        .await
        .expect("blacklist");
    let quotas = shared
        .store
        .open_bucket(nsplane_schema::layout::Bucket::Quotas)
        .await
        .expect("quota bucket");
    quotas
        .put(
            format!("overrides.{}", hex("old-project")),
            serde_json::to_vec(&json!({"zones": 1})).expect("json").into(),
        )
        .await
        .expect("override");
    let legacy_pools = json!({
        "envelope_version": 1,
        "version": 1,
        "pools_yaml": TEST_POOL,
        "metadata": {"project_id": "nsplane", "user_id": "nsplane-config", "roles": ["admin"],
                     "request_id": format!("req-{}", uuid::Uuid::new_v4()), "source_role": "config",
                     "command": "UpdatePools", "time": "2026-11-25T10:00:00Z"}
    });
    js.publish(
        layout.events_subject("pools", "all"),
        serde_json::to_vec(&legacy_pools).expect("json").into(),
    )
    .await
    .expect("publish")
    .await
    .expect("stored");
    let stream = js.get_stream(layout.events_stream()).await.expect("stream");
    stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            durable_name: Some(layout.central_consumer()),
            filter_subject: layout.all_events_of("zone"),
            ack_policy: async_nats::jetstream::consumer::AckPolicy::Explicit,
            ..Default::default()
        })
        .await
        .expect("the old central consumer");

    for round in 0..2 {
        let node = Node::start(&ns, true).await;
        let http = http();
        let base = &node.base;
        let (_, tlds) = get(&http, &format!("{base}/v2/tlds")).await;
        assert_eq!(tlds["tlds"].as_array().map(Vec::len), Some(1), "round {round}: {tlds}");
        assert_eq!(tlds["tlds"][0]["id"], tld_id.to_string(), "the TLD keeps its id");
        let member = [("x-auth-project-id", "old-project"), ("x-roles", "member")];
        let zone = |name: &str| json!({"name": name, "email": "a@example.org"});
        let (status, refused) = call(
            &http,
            "POST",
            &format!("{base}/v2/zones"),
            &member,
            Some(zone("x.net.")),
        )
        .await;
        assert_eq!((status, refused["message"].as_str()), (400, Some("Invalid TLD")));
        let (status, refused) = call(
            &http,
            "POST",
            &format!("{base}/v2/zones"),
            &member,
            Some(zone("legacy.example.org.")),
        )
        .await;
        assert_eq!((status, refused["type"].as_str()), (400, Some("invalid_zone_name")));
        if round == 0 {
            let (status, _) = call(
                &http,
                "POST",
                &format!("{base}/v2/zones"),
                &member,
                Some(zone("one.org.")),
            )
            .await;
            assert_eq!(status, 202);
        }
        let (status, over) = call(
            &http,
            "POST",
            &format!("{base}/v2/zones"),
            &member,
            Some(zone("two.org.")),
        )
        .await;
        assert_eq!(
            (status, over["type"].as_str()),
            (413, Some("over_quota")),
            "the migrated quota holds"
        );
        let (_, mine) = call(&http, "GET", &format!("{base}/v2/quotas"), &member, None).await;
        assert_eq!(mine["zones"], 1);
        node.stop().await;
    }
    // Moved once: the migration's commits are there once, and KV no longer holds what they hold.
    let naming_version = shared
        .store
        .last::<NamingEvent>("all")
        .await
        .expect("read")
        .expect("commit");
    assert_eq!(naming_version.envelope.version, 1, "imported once, not once per start");
    assert_eq!(naming_version.envelope.metadata.source_role, "migration");
    assert_eq!(naming_version.envelope.events.len(), 2);
    assert!(js
        .get_key_value(layout.bucket(nsplane_schema::layout::Bucket::LegacyNaming))
        .await
        .is_err());
    assert!(quotas
        .get(format!("overrides.{}", hex("old-project")))
        .await
        .expect("read")
        .is_none());
    // The old pools commit reads as an envelope, and central (its consumer replaced) projected it.
    let raw = shared
        .store
        .last::<PoolsEvent>("all")
        .await
        .expect("read")
        .expect("pools");
    assert_eq!(raw.envelope.version, 1);
    let client = pg(&ns.database_url).await;
    let pools: Vec<String> = client
        .query("SELECT name FROM pools", &[])
        .await
        .expect("pools")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(pools, ["default"]);
    let mut consumer = stream
        .get_consumer::<async_nats::jetstream::consumer::pull::Config>(&layout.central_consumer())
        .await
        .expect("consumer");
    assert_eq!(
        consumer.info().await.expect("info").config.filter_subject,
        layout.all_events()
    );
    // Every commit still decodes as it is stored.
    let raw_pools = stream
        .direct_get_last_for_subject(layout.events_subject("pools", "all"))
        .await
        .expect("raw");
    let decoded: Value = serde_json::from_slice(&raw_pools.payload).expect("json");
    assert!(
        decoded.get("pools_yaml").is_some(),
        "the stored commit was not rewritten"
    );
    assert!(RawCommit::decode(&raw_pools.payload).is_ok());
}

/// Reading an aggregate's history leaves no consumer behind: the server keeps an unused one for 30 s,
/// and nats-server 2.15 allows 1,000 per stream, so a role catching up often (the worker before each
/// sync report) filled them and every later reader (`nsplane replay`, `events tail`) was refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_history_leaves_no_consumer_behind() {
    let ns = namespace().await;
    let node = Node::start(&ns, false).await;
    let http = http();
    let zone_id = create_zone(&http, &node.base, "readers.example.org.").await;
    let store = &node.shared.store;
    let last = store
        .last::<nsplane_schema::ZoneEvent>(&zone_id)
        .await
        .expect("read")
        .expect("a commit");
    let before = store.consumer_count().await.expect("count");
    for _ in 0..30 {
        let commits = store
            .commits_between::<nsplane_schema::ZoneEvent>(&zone_id, 0, last.stream_seq)
            .await
            .expect("read");
        assert_eq!(commits.len(), 1);
    }
    let reader = store
        .read_log(&nsplane_command::log::LogFilter::All, 1)
        .await
        .expect("reader");
    drop(reader);
    eventually("the readers' consumers are gone", WAIT, || async {
        store.consumer_count().await.expect("count") <= before
    })
    .await;
    node.stop().await;
}
