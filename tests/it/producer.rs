//! The producer: leases on shard ranges shared between instances and taken over from a dead holder
//! (in process, and from a real `nsplane producer` killed with `kill -9`), a stale holder's command
//! refused by its fencing token, and a zone left PENDING by a lost zone change recovered.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nsplane_command::leases::{self, LeaseConfig, Leaseholder};
use nsplane_command::service::Actor;
use nsplane_command::zone::ZoneCommand;
use nsplane_command::{Commands, ExecuteError};
use nsplane_runtime::Shutdown;
use nsplane_schema::{ZoneEvent, ZoneId};
use nsplane_testkit::process::ProcessGuard;
use nsplane_testkit::*;

pub(crate) fn short_leases(ranges: u16) -> LeaseConfig {
    LeaseConfig {
        ranges,
        ttl: Duration::from_secs(2),
        renew_every: Duration::from_millis(300),
    }
}

/// Rounds of every holder until `done` says so (bounded).
async fn rounds_until(holders: &mut [&mut Leaseholder], what: &str, done: impl Fn(&[&mut Leaseholder]) -> bool) {
    let started = Instant::now();
    while !done(holders) {
        assert!(started.elapsed() < Duration::from_secs(30), "{what}: not within 30 s");
        for holder in holders.iter_mut() {
            holder.round().await.expect("lease round");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn pending_zone(base: &str, name: &str) -> ZoneId {
    let id = create_zone(&http(), base, name).await;
    ZoneId(id.parse().expect("zone id"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_are_shared_taken_over_from_a_silent_holder_and_a_stale_token_is_refused() {
    let ns = namespace().await;
    let node = nodes::Node::start(&ns, true).await;
    let store = node.shared.store.clone();
    let config = short_leases(4);
    let mut a = Leaseholder::new(&store, config, "producer-a".into()).await.expect("a");
    let mut b = Leaseholder::new(&store, config, "producer-b".into()).await.expect("b");

    // Alone, A takes every range; once B is a member, A gives up ranges until each holds its share.
    rounds_until(&mut [&mut a], "A holds every range", |h| h[0].holding().len() == 4).await;
    rounds_until(&mut [&mut a, &mut b], "the ranges are shared", |h| {
        h[0].holding().len() == 2 && h[1].holding().len() == 2
    })
    .await;
    let held = leases::holders(&store, &config).await.expect("holders");
    assert_eq!(held.len(), 4, "every range has exactly one holder: {held:?}");
    let mut by_a: Vec<_> = a.holding();
    let by_b: Vec<_> = b.holding();
    assert!(
        by_a.iter().all(|(r, _)| by_b.iter().all(|(s, _)| r != s)),
        "no range is held twice: {by_a:?} {by_b:?}"
    );

    // A zone in one of A's ranges, PENDING (no worker runs here).
    let zone_id = loop {
        let id = pending_zone(&node.base, &format!("fence-{}.example.org.", uuid::Uuid::new_v4())).await;
        if by_a.iter().any(|(r, _)| *r == config.range_of(id.shard())) {
            break id;
        }
    };
    let range = config.range_of(zone_id.shard());
    let stale = a.fence(range).expect("A's fence");
    let commands = Commands::open(store.clone(), Default::default(), Default::default(), 16, false)
        .await
        .expect("commands");
    let recover = |reason: &str| ZoneCommand::RequestRecovery { reason: reason.into() };
    let mut actor = Actor::service("producer");
    actor.metadata.fence = Some(stale.clone());
    commands
        .zone(zone_id, recover("while A holds the lease"), &actor)
        .await
        .expect("A's command commits while its lease is current");

    // A stops renewing (as if paused or killed): B takes A's ranges once their TTL runs out.
    let stopped = Instant::now();
    rounds_until(&mut [&mut b], "B takes over A's ranges", |h| h[0].holding().len() == 4).await;
    let takeover = stopped.elapsed();
    eprintln!("takeover after the holder went silent: {takeover:?} (TTL 2 s)");
    let fresh = b.fence(range).expect("B's fence");
    assert_eq!(fresh.lease, stale.lease);
    assert!(
        fresh.token > stale.token,
        "a new holder's token is higher: {fresh:?} {stale:?}"
    );

    // A resumes with its old token: refused before anything is appended.
    let before = commits_on::<ZoneEvent>(&node.shared, &zone_id.to_string()).await;
    let mut stale_actor = Actor::service("producer");
    stale_actor.metadata.fence = Some(stale.clone());
    let refused = commands
        .zone(zone_id, recover("A, resumed after its lease expired"), &stale_actor)
        .await;
    assert!(
        matches!(refused, Err(ExecuteError::Fenced(ref lease)) if *lease == stale.lease),
        "a stale token is refused: {refused:?}"
    );
    // B's command goes through, and afterwards A's token stays refused.
    let mut fresh_actor = Actor::service("producer");
    fresh_actor.metadata.fence = Some(fresh.clone());
    commands
        .zone(zone_id, recover("B holds the lease"), &fresh_actor)
        .await
        .expect("the current holder's command commits");
    let again = commands.zone(zone_id, recover("A again"), &stale_actor).await;
    assert!(matches!(again, Err(ExecuteError::Fenced(_))), "{again:?}");
    assert_eq!(
        commits_on::<ZoneEvent>(&node.shared, &zone_id.to_string()).await,
        before + 1,
        "only the current holder's command was appended"
    );
    let last = store
        .last::<ZoneEvent>(&zone_id.to_string())
        .await
        .expect("read")
        .expect("a commit");
    assert_eq!(last.envelope.metadata.fence, Some(fresh));
    assert_eq!(last.envelope.metadata.source_role, "producer");

    // A clean stop gives the leases back at once.
    by_a.clear();
    b.release_all().await;
    let held = leases::holders(&store, &config).await.expect("holders");
    assert!(held.is_empty(), "released: {held:?}");
    node.stop().await;
}

/// A zone whose zone change was lost (Designate's lost RPC) waits PENDING until the producer asks for
/// it to be pushed again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zone_left_pending_by_a_lost_change_is_recovered() {
    let ns = namespace().await;
    let node = nodes::Node::start(&ns, true).await;
    let http = http();
    let zone_id = create_zone(&http, &node.base, "stuck.example.org.").await;
    // Central publishes the change; it is lost before any worker takes it.
    eventually("the zone change is queued", Duration::from_secs(10), || async {
        let js = node.shared.store.context();
        let mut stream = js.get_stream(ns.layout().zone_changes_stream()).await.expect("stream");
        stream.info().await.expect("info").state.messages == 1
    })
    .await;
    let js = node.shared.store.context();
    js.get_stream(ns.layout().zone_changes_stream())
        .await
        .expect("stream")
        .purge()
        .await
        .expect("purge");

    // The pool's name server is this node's own mdns; a worker runs, with nothing to push.
    let (udp, tcp) = nodes::mdns_sockets().await;
    let mdns_addr = udp.local_addr().expect("addr");
    nsplane_command::PoolsStore::new(node.shared.store.clone())
        .update(
            &pools::yaml(&[pools::PoolBuilder::default_pool().nameserver(mdns_addr)]),
            nsplane_schema::Metadata::service("test"),
        )
        .await
        .expect("pools");
    let shutdown = Shutdown::new();
    let mdns = nsplane_dataplane::mdns::MdnsConfig {
        nats: ns.nats(),
        store: ns.store(),
        pg: ns.pg(),
        keys: Default::default(),
        require_tsig: false,
    };
    let mut roles = vec![
        tokio::spawn(nsplane_dataplane::mdns::run(mdns, udp, tcp, shutdown.receiver())),
        tokio::spawn(nsplane_dataplane::worker::run(
            nsplane_dataplane::WorkerConfig::new(ns.nats(), ns.store(), ns.pg()),
            shutdown.receiver(),
        )),
    ];
    let status = |body: &serde_json::Value| body["status"].as_str().unwrap_or_default().to_owned();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, zone) = get(&http, &format!("{}/v2/zones/{zone_id}", node.base)).await;
    assert_eq!(
        status(&zone),
        "PENDING",
        "nothing pushes a zone whose change was lost: {zone}"
    );

    let mut producer = nsplane_producer::ProducerConfig::new(ns.nats(), ns.store(), ns.pg());
    producer.leases = short_leases(16);
    producer.recover_after = Duration::from_secs(2);
    let started = Instant::now();
    roles.push(tokio::spawn(nsplane_producer::run(producer, shutdown.receiver())));
    eventually("the producer recovers the zone", Duration::from_secs(30), || async {
        let (_, zone) = get(&http, &format!("{}/v2/zones/{zone_id}", node.base)).await;
        status(&zone) == "ACTIVE"
    })
    .await;
    eprintln!(
        "recovered {:?} after the producer started (recover_after 2 s)",
        started.elapsed()
    );
    let commits = node
        .shared
        .store
        .commits_between::<ZoneEvent>(&zone_id, 0, u64::MAX)
        .await
        .expect("history");
    let recovery = commits
        .iter()
        .find(|c| matches!(c.envelope.events[..], [ZoneEvent::ZoneRecoveryRequested { .. }]))
        .expect("a recovery commit");
    assert_eq!(recovery.envelope.metadata.source_role, "producer");
    assert!(
        recovery.envelope.metadata.fence.is_some(),
        "the producer's command carries its lease"
    );
    assert_eq!(recovery.envelope.metadata.command, "RequestRecovery");

    shutdown.trigger();
    for role in roles {
        role.await.expect("role task").expect("role stopped cleanly");
    }
    node.stop().await;
}

fn producer_process(ns: &Namespace) -> ProcessGuard {
    let log = std::env::temp_dir().join(format!("nsplane-producer-{}.log", uuid::Uuid::new_v4()));
    let child = Command::new(env!("CARGO_BIN_EXE_nsplane"))
        .args(["producer", "--nats-url", &servers::servers().nats.url])
        .args(["--database-url", &ns.database_url, "--prefix", &ns.prefix])
        .args(["--lease-ranges", "8", "--lease-ttl-secs", "2"])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("start nsplane producer");
    ProcessGuard::new("nsplane-producer", child, Some(log))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_producers_ranges_are_taken_over() {
    let ns = namespace().await;
    let shared = ns.connect().await;
    let config = short_leases(8);
    let first = producer_process(&ns);
    let second = producer_process(&ns);
    let holders = || async { leases::holders(&shared.store, &config).await.expect("holders") };
    // Balanced, 4 each: the steady state a kill strikes (while they still rebalance, the survivor may
    // be giving up and taking back its own ranges).
    eventually(
        "two producers share the 8 ranges, 4 each",
        Duration::from_secs(60),
        || async {
            let held = holders().await;
            let distinct: std::collections::HashSet<_> = held.iter().map(|h| h.holder.clone()).collect();
            held.len() == 8
                && distinct.len() == 2
                && distinct
                    .iter()
                    .all(|d| held.iter().filter(|h| &h.holder == d).count() == 4)
        },
    )
    .await;
    let before = holders().await;
    let status = Command::new("kill")
        .args(["-9", &first.pid().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let killed = Instant::now();
    eventually("the survivor holds every range", Duration::from_secs(30), || async {
        let held = holders().await;
        let distinct: std::collections::HashSet<_> = held.iter().map(|h| h.holder.clone()).collect();
        held.len() == 8 && distinct.len() == 1
    })
    .await;
    eprintln!("takeover after kill -9: {:?} (TTL 2 s)", killed.elapsed());
    let after = holders().await;
    let survivor = &after[0].holder;
    for (old, new) in before.iter().zip(&after) {
        assert_eq!(old.lease, new.lease);
        if &old.holder != survivor {
            assert!(
                new.token > old.token,
                "a taken-over range has a newer token: {old:?} {new:?}"
            );
        } else {
            assert_eq!(new.token, old.token, "the survivor's own ranges keep their token");
        }
    }
    drop(second);
    drop(first);
}

async fn ns_records(server: std::net::SocketAddr, zone: &str) -> Vec<String> {
    use hickory_proto::rr::{RData, RecordType};
    let Ok(reply) = nsplane_dataplane::client::query(server, zone, RecordType::NS, crate::dataplane::QUERY).await
    else {
        return Vec::new();
    };
    let mut out: Vec<String> = reply
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::NS(ns) => Some(ns.0.to_string()),
            _ => None,
        })
        .collect();
    out.sort();
    out
}

/// `nsplane pool update` with new NS records: the producer rewrites every existing zone of the pool,
/// and a real BIND secondary serves the new NS set.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pool_ns_change_reaches_existing_zones_and_a_real_bind() {
    let ns = namespace().await;
    let mdns = nodes::mdns_sockets().await;
    let mdns_port = mdns.0.local_addr().expect("addr").port();
    let bind = secondaries::bind(mdns_port, crate::dataplane::CATALOG);
    let pool = crate::dataplane::catalog_pool(mdns_port, &[bind.addr()]);
    let node = nodes::FullNode::start(&ns, mdns, &pool).await;
    let base = node.node.base.clone();
    let http = http();
    let names = ["ns-a.example.org.", "ns-b.example.org."];
    let mut zones = Vec::new();
    for name in names {
        zones.push(create_zone(&http, &base, name).await);
    }
    for (id, name) in zones.iter().zip(names) {
        eventually(
            "BIND serves the zone's first NS set",
            crate::dataplane::WAIT,
            || async {
                get(&http, &format!("{base}/v2/zones/{id}")).await.1["status"] == "ACTIVE"
                    && ns_records(bind.addr(), name).await == ["ns1.example.net."]
            },
        )
        .await;
    }

    let shutdown = Shutdown::new();
    let mut producer = nsplane_producer::ProducerConfig::new(ns.nats(), ns.store(), ns.pg());
    producer.leases = short_leases(16);
    let running = tokio::spawn(nsplane_producer::run(producer, shutdown.receiver()));
    let changed = pool.replace(
        "    - hostname: ns1.example.net.\n      priority: 1\n",
        "    - hostname: ns3.example.net.\n      priority: 2\n    - hostname: ns2.example.net.\n      priority: 1\n",
    );
    assert_ne!(changed, pool, "the pool's NS records changed");
    nsplane_command::PoolsStore::new(node.node.shared.store.clone())
        .update(&changed, nsplane_schema::Metadata::service("pool-update"))
        .await
        .expect("pool update");
    for (id, name) in zones.iter().zip(names) {
        eventually("BIND serves the pool's new NS set", crate::dataplane::WAIT, || async {
            ns_records(bind.addr(), name).await == ["ns2.example.net.", "ns3.example.net."]
        })
        .await;
        let (_, listed) = get(&http, &format!("{base}/v2/zones/{id}/recordsets?type=NS")).await;
        assert_eq!(
            listed["recordsets"][0]["records"],
            serde_json::json!(["ns2.example.net.", "ns3.example.net."]),
            "the API shows the new NS records in priority order: {listed}"
        );
        let history = node
            .node
            .shared
            .store
            .commits_between::<ZoneEvent>(id, 0, u64::MAX)
            .await
            .expect("history");
        let rewrites: Vec<_> = history
            .iter()
            .filter(|c| c.envelope.metadata.source_role == "producer")
            .collect();
        assert_eq!(rewrites.len(), 1, "one NS rewrite per zone");
        assert!(rewrites[0].envelope.metadata.fence.is_some());
        assert!(matches!(
            rewrites[0].envelope.events[..],
            [ZoneEvent::RecordsetUpdated { .. }]
        ));
    }
    shutdown.trigger();
    running.await.expect("producer task").expect("producer stopped cleanly");
    node.node.stop().await;
}
