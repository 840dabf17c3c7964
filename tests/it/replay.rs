//! `nsplane replay`, the real binary: a stream written by a mixed load (zones, record sets, shares,
//! quotas, TLDs, blacklists, deletes) rebuilds into a shadow schema that verifies equal to the live
//! models; a live row altered by hand is reported as a difference (exit 3) and stops a swap; a replay
//! that crashes after its first batch resumes and ends equal; a verified shadow swaps in and the roles
//! go on with it; one zone rebuilds alone.

use nsplane_testkit::*;
use serde_json::{json, Value};

async fn ok(http: &reqwest::Client, method: &str, url: &str, who: &[(&str, &str)], body: Option<Value>) -> Value {
    let (status, body) = call(http, method, url, who, body).await;
    assert!((200..300).contains(&status), "{method} {url}: {status} {body}");
    body
}

/// `nsplane replay <args> --json`: its exit code and report.
async fn replay(ns: &Namespace, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, Value) {
    let mut all = args.to_vec();
    all.push("--json");
    let (code, out) = crate::tool::run_env(ns, "replay", &all, env).await;
    (code, serde_json::from_str(&out).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replayed_stream_verifies_equal_to_the_live_models() {
    let ns = namespace().await;
    let node = Node::start(&ns, true).await;
    let (http, base) = (http(), node.base.clone());
    let admin = [("x-auth-project-id", "ops"), ("x-roles", "admin")];
    ok(
        &http,
        "POST",
        &format!("{base}/v2/tlds"),
        &admin,
        Some(json!({"name": "org"})),
    )
    .await;
    ok(
        &http,
        "POST",
        &format!("{base}/v2/blacklists"),
        &admin,
        Some(json!({"pattern": "^evil\\\\..*"})),
    )
    .await;
    ok(
        &http,
        "PATCH",
        &format!("{base}/v2/quotas/p1"),
        &admin,
        Some(json!({"zones": 5})),
    )
    .await;
    let mut zones = Vec::new();
    for (project, name) in [
        ("p1", "one.replay.org."),
        ("p1", "two.replay.org."),
        ("p2", "three.replay.org."),
    ] {
        let who = [("x-auth-project-id", project), ("x-roles", "member")];
        let zone = ok(
            &http,
            "POST",
            &format!("{base}/v2/zones"),
            &who,
            Some(json!({"name": name, "email": "h@example.org"})),
        )
        .await["id"]
            .as_str()
            .expect("id")
            .to_owned();
        for n in 0..4 {
            let rs = ok(
                &http,
                "POST",
                &format!("{base}/v2/zones/{zone}/recordsets"),
                &who,
                Some(json!({"name": format!("r{n}.{name}"), "type": "A", "records": [format!("192.0.2.{n}")]})),
            )
            .await;
            let rs_url = format!("{base}/v2/zones/{zone}/recordsets/{}", rs["id"].as_str().expect("id"));
            match n {
                1 => drop(
                    ok(
                        &http,
                        "PUT",
                        &rs_url,
                        &who,
                        Some(json!({"records": ["198.51.100.1"], "ttl": 60})),
                    )
                    .await,
                ),
                2 => drop(ok(&http, "DELETE", &rs_url, &who, None).await),
                _ => {}
            }
        }
        zones.push((zone, who));
    }
    ok(
        &http,
        "POST",
        &format!("{base}/v2/zones/{}/shares", zones[2].0),
        &zones[2].1,
        Some(json!({"target_project_id": "p1"})),
    )
    .await;
    ok(
        &http,
        "DELETE",
        &format!("{base}/v2/zones/{}", zones[1].0),
        &zones[1].1,
        None,
    )
    .await;
    // Every write is read back once, so the live models hold all of them.
    let (status, _) = call(
        &http,
        "GET",
        &format!("{base}/v2/zones/{}", zones[1].0),
        &zones[1].1,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(
        &http,
        "GET",
        &format!("{base}/v2/zones/{}/shares", zones[2].0),
        &zones[2].1,
        None,
    )
    .await;
    assert_eq!(status, 200);

    // The whole stream, two commits a transaction: equal.
    let (code, report) = replay(&ns, &["--fresh", "--verify", "--batch", "2"], &[]).await;
    assert_eq!(code, Some(0), "{report}");
    let commits = node.shared.store.message_count().await.expect("count");
    assert_eq!(report["replay"]["commits"], commits, "every commit: {report}");
    let verification = &report["verification"];
    assert_eq!(verification["differences"], json!([]), "{report}");
    assert_eq!(verification["moving"], json!([]), "{report}");
    assert!(verification["groups_compared"].as_u64() > Some(10), "{report}");

    // A live row altered by hand is a difference, with the rows that differ.
    let (db, connection) = tokio_postgres::connect(&ns.database_url, tokio_postgres::NoTls)
        .await
        .expect("postgres");
    tokio::spawn(connection);
    let altered = db
        .execute(
            "UPDATE public.recordsets SET records = '{203.0.113.99}' WHERE name = 'r0.one.replay.org.'",
            &[],
        )
        .await
        .expect("alter");
    assert_eq!(altered, 1);
    let (code, report) = replay(&ns, &["--verify"], &[]).await;
    assert_eq!(code, Some(3), "differences exit 3: {report}");
    let differences = report["verification"]["differences"].as_array().expect("differences");
    assert_eq!(differences.len(), 1, "{report}");
    assert_eq!(differences[0]["table"], "recordsets");
    assert_eq!(differences[0]["group"], zones[0].0.as_str());
    assert!(
        differences[0]["only_live"][0]
            .as_str()
            .expect("row")
            .contains("203.0.113.99"),
        "{report}"
    );
    assert!(
        differences[0]["only_shadow"][0]
            .as_str()
            .expect("row")
            .contains("192.0.2.0"),
        "{report}"
    );
    assert_eq!(report["replay"]["commits"], 0, "resumed at the end: nothing new");
    // A swap is refused while they differ.
    let (code, report) = replay(&ns, &["--verify", "--swap"], &[]).await;
    assert_eq!(code, Some(3), "{report}");
    assert_eq!(report["swap"], Value::Null, "no swap: {report}");
    db.execute(
        "UPDATE public.recordsets SET records = '{192.0.2.0}' WHERE name = 'r0.one.replay.org.'",
        &[],
    )
    .await
    .expect("restore");

    // A replay that dies after its first batch (as `kill -9` would) resumes and ends equal.
    let (code, _) = replay(
        &ns,
        &["--fresh", "--batch", "2"],
        &[("NSPLANE_FAILPOINTS", "replay.crash")],
    )
    .await;
    assert_ne!(code, Some(0), "the crash ends the process");
    let (code, report) = replay(&ns, &["--verify", "--batch", "2"], &[]).await;
    assert_eq!(code, Some(0), "{report}");
    // The first batch holds one or two commits (whatever the stream had ready); this namespace's
    // stream holds only its own commits, numbered from 1.
    let resumed = report["replay"]["resumed_after_seq"].as_u64().expect("resumed");
    assert!((1..=2).contains(&resumed), "it resumed after the first batch: {report}");
    assert_eq!(
        report["replay"]["commits"].as_u64().expect("commits") + resumed,
        commits,
        "the rest only: {report}"
    );
    assert_eq!(report["verification"]["differences"], json!([]), "{report}");
    // The bulk load the crash interrupted still ended: the shadow has every index the live models have
    // (the ones it defers are built at the end), and its bookkeeping is gone.
    let indexes = |schema: &'static str| {
        let db = &db;
        async move {
            db.query(
                "SELECT tablename, indexname, replace(indexdef, schemaname || '.', '') FROM pg_indexes \
                 WHERE schemaname = $1 AND tablename <> 'schema_migrations' ORDER BY 1, 2",
                &[&schema],
            )
            .await
            .expect("indexes")
            .iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1), r.get::<_, String>(2)))
            .collect::<Vec<_>>()
        }
    };
    let live = indexes("public").await;
    assert!(live.iter().any(|i| i.1 == "audit_events_recordset"), "{live:?}");
    assert_eq!(indexes("nsplane_replay").await, live);

    // Equal: the shadow becomes the live models; the API reads them, central writes into them, and they
    // verify equal to a fresh replay again.
    let (code, report) = replay(&ns, &["--verify", "--swap"], &[]).await;
    assert_eq!(code, Some(0), "{report}");
    let retired = report["swap"]["retired_schema"].as_str().expect("swapped").to_owned();
    assert!(report["swap"]["read_stall_ms"].as_f64().is_some(), "{report}");
    let in_live: i64 = db
        .query_one("SELECT count(*) FROM public.recordsets WHERE NOT managed", &[])
        .await
        .expect("count")
        .get(0);
    let in_retired: i64 = db
        .query_one(
            &format!("SELECT count(*) FROM {retired}.recordsets WHERE NOT managed"),
            &[],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!((in_live, in_retired), (9, 9), "both hold the same record sets");
    let (zone, who) = &zones[0];
    let after = ok(
        &http,
        "POST",
        &format!("{base}/v2/zones/{zone}/recordsets"),
        who,
        Some(json!({"name": "after.one.replay.org.", "type": "A", "records": ["192.0.2.77"]})),
    )
    .await;
    let (status, shown) = call(
        &http,
        "GET",
        &format!(
            "{base}/v2/zones/{zone}/recordsets/{}",
            after["id"].as_str().expect("id")
        ),
        who,
        None,
    )
    .await;
    assert_eq!(
        (status, shown["records"].clone()),
        (200, json!(["192.0.2.77"])),
        "{shown}"
    );
    let (code, report) = replay(&ns, &["--fresh", "--verify"], &[]).await;
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["verification"]["differences"], json!([]), "{report}");

    // A zone that changes while the digests are taken is moving, not different: it is caught up and
    // compared again.
    let pause = std::env::temp_dir().join(format!("nsplane-replay-pause-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&pause).expect("pause dir");
    let slow = {
        let (ns, dir) = (ns.clone(), pause.display().to_string());
        tokio::spawn(async move {
            let env = [
                ("NSPLANE_FAILPOINTS", "replay.pause_verify"),
                ("NSPLANE_FAILPOINT_DIR", dir.as_str()),
            ];
            replay(&ns, &["--verify"], &env).await
        })
    };
    eventually(
        "the verification pauses",
        std::time::Duration::from_secs(30),
        || async { pause.join("paused").exists() },
    )
    .await;
    let during = ok(
        &http,
        "POST",
        &format!("{base}/v2/zones/{zone}/recordsets"),
        who,
        Some(json!({"name": "during.one.replay.org.", "type": "A", "records": ["192.0.2.78"]})),
    )
    .await;
    // Read back: the live models hold it before the verification goes on.
    let (status, _) = call(
        &http,
        "GET",
        &format!(
            "{base}/v2/zones/{zone}/recordsets/{}",
            during["id"].as_str().expect("id")
        ),
        who,
        None,
    )
    .await;
    assert_eq!(status, 200);
    std::fs::write(pause.join("resume"), b"").expect("resume");
    let (code, report) = slow.await.expect("replay");
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["verification"]["differences"], json!([]), "{report}");
    let _ = std::fs::remove_dir_all(&pause);

    // One zone alone.
    let (code, report) = replay(&ns, &["--fresh", "--verify", "--zone", &zones[0].0], &[]).await;
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["verification"]["differences"], json!([]), "{report}");
    assert!(
        report["replay"]["commits"].as_u64() >= Some(8),
        "the zone's commits: {report}"
    );
    node.stop().await;
}
