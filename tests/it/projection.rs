//! Central's projection against real NATS and PostgreSQL: redelivery is harmless, a commit that
//! arrives before its predecessor waits, and several instances build what one instance builds.

use std::time::Duration;

use nsplane_projection::apply::{apply_batch, Delivered, Outcome};
use nsplane_projection::Projectors;
use nsplane_schema::{RawCommit, ZoneEvent};
use nsplane_testkit::*;
use serde_json::json;
use tokio::sync::watch;

fn projectors() -> Projectors {
    Projectors::standard()
}

/// A typed commit as central receives it: its events not decoded.
fn raw(envelope: &nsplane_schema::CommitEnvelope<ZoneEvent>) -> RawCommit {
    RawCommit::decode(&serde_json::to_vec(envelope).expect("encode")).expect("decode")
}

async fn pg(url: &str) -> deadpool_postgres::Object {
    let config = nsplane_projection::PgConfig {
        url: url.to_owned(),
        pool_size: 1,
    };
    let pool = nsplane_projection::connect_pool(&config).expect("pool");
    nsplane_projection::migrate(&pool).await.expect("migrate");
    pool.get().await.expect("connection")
}

/// Writes a small history through the API (no central running) and returns the zone's commits.
async fn history(ns: &Namespace) -> (Node, String, Vec<Delivered>) {
    let node = Node::start(ns, false).await;
    let http = http();
    let zone_id = create_zone(&http, &node.base, "order.example.org.").await;
    for n in 0..3 {
        let (status, _) = post(
            &http,
            &format!("{}/v2/zones/{zone_id}/recordsets", node.base),
            json!({"name": format!("r{n}.order.example.org."), "type": "A", "records": [format!("192.0.2.{n}")]}),
        )
        .await;
        assert_eq!(status, 202);
    }
    let last = node
        .shared
        .store
        .last::<ZoneEvent>(&zone_id)
        .await
        .expect("last")
        .expect("commits");
    let commits = node
        .shared
        .store
        .commits_between::<ZoneEvent>(&zone_id, 0, last.stream_seq)
        .await
        .expect("commits")
        .into_iter()
        .map(|c| Delivered {
            stream_seq: c.stream_seq,
            commit: raw(&c.envelope),
        })
        .collect::<Vec<_>>();
    assert_eq!(commits.len(), 4);
    (node, zone_id, commits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_delivered_twice_changes_nothing_and_one_delivered_early_waits() {
    let ns = namespace().await;
    let (node, _zone_id, commits) = history(&ns).await;
    let mut client = pg(&ns.database_url).await;
    // Version 2 before version 1: it must wait.
    let outcome = apply_batch(&mut client, &projectors(), &commits[1..2])
        .await
        .expect("apply");
    assert_eq!(outcome, vec![Outcome::Gap { projected: 0 }]);
    assert!(
        dump_read_models(&ns.database_url).await.is_empty(),
        "a gap writes nothing"
    );
    // In order, then everything again (a redelivery of the whole history).
    assert_eq!(
        apply_batch(&mut client, &projectors(), &commits[0..1])
            .await
            .expect("apply"),
        vec![Outcome::Applied]
    );
    assert_eq!(
        apply_batch(&mut client, &projectors(), &commits[1..])
            .await
            .expect("apply"),
        vec![Outcome::Applied; 3]
    );
    let once = dump_read_models(&ns.database_url).await;
    assert!(once.len() > 10, "the history produced rows: {}", once.len());
    let again = apply_batch(&mut client, &projectors(), &commits).await.expect("apply");
    assert_eq!(again, vec![Outcome::AlreadyApplied; 4]);
    assert_eq!(
        apply_batch(&mut client, &projectors(), &commits[2..3])
            .await
            .expect("apply"),
        vec![Outcome::AlreadyApplied]
    );
    assert_eq!(
        dump_read_models(&ns.database_url).await,
        once,
        "redelivery changed nothing"
    );
    // A batch mixing old, next and early commits sorts each out.
    let second = ns.second_database("mixed").await;
    let mut client = pg(&second).await;
    let mixed = vec![
        commits[0].clone(),
        commits[2].clone(),
        commits[1].clone(),
        commits[0].clone(),
    ];
    let outcome = apply_batch(&mut client, &projectors(), &mixed).await.expect("apply");
    assert_eq!(
        outcome,
        vec![
            Outcome::Applied,
            Outcome::Gap { projected: 1 },
            Outcome::Applied,
            Outcome::AlreadyApplied
        ]
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_central_instances_build_what_one_builds() {
    let ns = namespace().await;
    // A workload across zones, written with no central running, so central later meets it in batches:
    // record-set changes, a zone TTL change and sync reports between them, and a zone created, changed
    // and removed.
    let node = Node::start(&ns, false).await;
    let http = http();
    let commands = nsplane_command::Commands::open(
        node.shared.store.clone(),
        Default::default(),
        Default::default(),
        100,
        false,
    )
    .await
    .expect("commands");
    let worker = nsplane_command::Actor::service("worker");
    let mut zones = Vec::new();
    for z in 0..4 {
        zones.push(create_zone(&http, &node.base, &format!("z{z}.twice.example.org.")).await);
    }
    let mut tasks = Vec::new();
    for (z, zone_id) in zones.iter().enumerate() {
        let (base, zone_id) = (node.base.clone(), zone_id.clone());
        tasks.push(tokio::spawn(async move {
            let http = nsplane_testkit::http();
            for n in 0..40 {
                let url = format!("{base}/v2/zones/{zone_id}/recordsets");
                let body = json!({"name": format!("h{n}.z{z}.twice.example.org."), "type": "A", "records": [format!("198.51.100.{n}")]});
                let (status, created) = post(&http, &url, body).await;
                assert_eq!(status, 202);
                if n % 5 == 0 {
                    let id = created["id"].as_str().expect("id");
                    let response = http
                        .put(format!("{url}/{id}"))
                        .json(&json!({"records": ["198.51.100.250", "198.51.100.251"], "ttl": 120}))
                        .send()
                        .await
                        .expect("put");
                    assert_eq!(response.status().as_u16(), 202);
                }
                if n % 7 == 0 {
                    let id = created["id"].as_str().expect("id");
                    let response = http.delete(format!("{url}/{id}")).send().await.expect("delete");
                    assert_eq!(response.status().as_u16(), 202);
                }
                if n == 20 {
                    // Record sets after this inherit the new TTL, in the journal too.
                    let response = http
                        .patch(format!("{base}/v2/zones/{zone_id}"))
                        .json(&json!({"ttl": 600 + z}))
                        .send()
                        .await
                        .expect("patch");
                    assert_eq!(response.status().as_u16(), 202);
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("writer");
    }
    for zone_id in &zones {
        let id = nsplane_schema::ZoneId(uuid::Uuid::parse_str(zone_id).expect("uuid"));
        let serial = commands.load_zone(id).await.expect("zone").serial;
        let report = nsplane_command::ZoneCommand::ReportSync {
            serial,
            synced: true,
            nameservers: Vec::new(),
        };
        commands.zone(id, report, &worker).await.expect("sync report");
        let url = format!("{}/v2/zones/{zone_id}/recordsets", node.base);
        let body = json!({"name": format!("after.{zone_id}.twice.example.org."), "type": "TXT", "records": ["\"after the report\""]});
        let _ = post(&http, &url, body).await;
    }
    let gone = create_zone(&http, &node.base, "gone.twice.example.org.").await;
    for n in 0..5 {
        let name = format!("h{n}.gone.twice.example.org.");
        create_recordset(&http, &node.base, &gone, &name, "A", &["192.0.2.1"]).await;
    }
    let response = http
        .delete(format!("{}/v2/zones/{gone}", node.base))
        .send()
        .await
        .expect("delete");
    assert_eq!(response.status().as_u16(), 202);
    let gone_id = nsplane_schema::ZoneId(uuid::Uuid::parse_str(&gone).expect("uuid"));
    commands
        .confirm_zone_deleted(gone_id, Vec::new(), &worker)
        .await
        .expect("removed");
    let total = node.shared.store.message_count().await.expect("count");
    // Database A: two central instances sharing one durable consumer, in small batches so they
    // interleave within zones. Database B: one instance, one commit at a time (nothing coalesced).
    // Database C: one instance in large batches (a zone's changes coalesced across many commits).
    let db_b = ns.second_database("single").await;
    let db_c = ns.second_database("large").await;
    let (stop, shutdown) = watch::channel(false);
    let config = |durable: &str, url: &str, batch_max: usize| {
        let mut config = nsplane_projection::CentralConfig::new(ns.nats(), ns.pg_of(url), ns.layout());
        config.consumer = durable.to_owned();
        config.batch_max = batch_max;
        config
    };
    let mut tasks = Vec::new();
    for (durable, url, batch_max) in [
        ("dup_a", ns.database_url.clone(), 4),
        ("dup_a", ns.database_url.clone(), 4),
        ("single_b", db_b.clone(), 1),
        ("large_c", db_c.clone(), 1024),
    ] {
        let (shutdown, config) = (shutdown.clone(), config(durable, &url, batch_max));
        tasks.push(tokio::spawn(async move {
            nsplane_projection::central::run(config, shutdown).await
        }));
    }
    for url in [&ns.database_url, &db_b, &db_c] {
        let client = pg(url).await;
        eventually("projection caught up", Duration::from_secs(60), || {
            let client = &client;
            async move {
                let row = client
                    .query_one("SELECT coalesce(sum(version), 0)::bigint FROM projection_versions", &[])
                    .await;
                row.map(|r| r.get::<_, i64>(0) as u64 == total).unwrap_or(false)
            }
        })
        .await;
    }
    let _ = stop.send(true);
    for task in tasks {
        task.await.expect("central").expect("central ran cleanly");
    }
    let two = dump_read_models(&ns.database_url).await;
    let one = dump_read_models(&db_b).await;
    let large = dump_read_models(&db_c).await;
    assert!(two.len() > 200, "the workload produced rows: {}", two.len());
    assert_eq!(two.len(), one.len());
    assert_eq!(two, one, "two instances and one instance built the same read models");
    assert_eq!(large.len(), one.len());
    assert_eq!(large, one, "large batches build what single commits build");
    // The removed zone leaves only its audit trail: no zone, record-set or journal rows.
    let client = pg(&db_c).await;
    let left: i64 = client
        .query_one(
            "SELECT (SELECT count(*) FROM zones WHERE id = $1) + (SELECT count(*) FROM recordsets WHERE zone_id = $1) \
             + (SELECT count(*) FROM zone_journal WHERE zone_id = $1)",
            &[&gone_id.0],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(left, 0, "rows of the removed zone");
    // The work queue holds one pending change per zone.
    let js = async_nats::jetstream::new(node.shared.client.clone());
    let mut stream = js.get_stream(ns.layout().zone_changes_stream()).await.expect("stream");
    assert_eq!(
        stream.info().await.expect("info").state.messages,
        5,
        "one pending change per zone (the removed one's included)"
    );
    node.stop().await;
}
