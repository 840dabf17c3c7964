//! The KV claims (zone-name reservations, `zones` quota slots) are state the stream can rebuild:
//! `nsplane claims rebuild`, the real binary, puts back what a lost bucket held, changes nothing on a
//! second run, and names two live zones that share a name.

use std::process::{Command, Stdio};

use nsplane_schema::layout::Bucket;
use nsplane_testkit::*;
use serde_json::{json, Value};

/// Runs `nsplane claims rebuild --json` on the namespace, with the test API's quota defaults
/// (unlimited `zones`). Returns whether it succeeded and its report.
async fn rebuild(ns: &Namespace) -> (bool, Value) {
    let (database_url, prefix) = (ns.database_url.clone(), ns.prefix.clone());
    tokio::task::spawn_blocking(move || run_rebuild(&database_url, &prefix))
        .await
        .expect("rebuild")
}

fn run_rebuild(database_url: &str, prefix: &str) -> (bool, Value) {
    let output = Command::new(env!("CARGO_BIN_EXE_nsplane"))
        .args([
            "claims",
            "--nats-url",
            &servers::servers().nats.url,
            "--database-url",
            database_url,
            "--prefix",
            prefix,
            "--quota-zones",
            "-1",
            "rebuild",
            "--json",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run nsplane claims rebuild");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.success(), report)
}

/// Empties a KV bucket, as a bucket restored from a backup older than the stream would be.
async fn lose(shared: &Shared, bucket: Bucket) {
    let name = format!("KV_{}", shared.store.layout().bucket(bucket));
    let mut stream = shared.store.jetstream().get_stream(&name).await.expect("kv stream");
    stream.purge().await.expect("purge");
    assert_eq!(stream.info().await.expect("info").state.messages, 0, "{name} is empty");
}

async fn zone_of(http: &reqwest::Client, base: &str, project: &str, name: &str) -> (u16, Value) {
    call(
        http,
        "POST",
        &format!("{base}/v2/zones"),
        &[("x-auth-project-id", project), ("x-roles", "member")],
        Some(json!({"name": name, "email": "hostmaster@example.org"})),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lost_claims_are_rebuilt_from_the_stream() {
    let ns = namespace().await;
    let node = Node::start(&ns, false).await;
    let (http, base) = (http(), node.base.clone());
    let (status, _) = call(
        &http,
        "PATCH",
        &format!("{base}/v2/quotas/p1"),
        &[("x-auth-project-id", "ops"), ("x-roles", "admin")],
        Some(json!({"zones": 2})),
    )
    .await;
    assert_eq!(status, 200);
    // A zone deleted for good (the worker confirmed it) holds nothing.
    let (status, old) = zone_of(&http, &base, "p2", "old.claims.test.").await;
    assert_eq!(status, 202, "{old}");
    let old_id = nsplane_schema::ZoneId(uuid::Uuid::parse_str(old["id"].as_str().expect("id")).expect("uuid"));
    let (status, _) = call(
        &http,
        "DELETE",
        &format!("{base}/v2/zones/{}", old_id.0),
        &[("x-auth-project-id", "p2")],
        None,
    )
    .await;
    assert_eq!(status, 202);
    confirm_zone_deleted(&node.shared, old_id).await;
    let mut ids = Vec::new();
    for (project, name) in [
        ("p1", "alpha.claims.test."),
        ("p1", "beta.claims.test."),
        ("p2", "gamma.claims.test."),
    ] {
        let (status, zone) = zone_of(&http, &base, project, name).await;
        assert_eq!(status, 202, "{zone}");
        ids.push(zone["id"].as_str().expect("id").to_owned());
    }
    lose(&node.shared, Bucket::ZoneNames).await;
    lose(&node.shared, Bucket::Quotas).await;

    let (ok, report) = rebuild(&ns).await;
    assert!(ok, "{report}");
    assert_eq!(report["zones"], 4, "{report}");
    assert_eq!(report["deleted"], 1, "{report}");
    assert_eq!(report["names_restored"], 3, "{report}");
    assert_eq!(report["names_present"], 0, "{report}");
    // p1's two zones take its two slots back; p2 has no limit, so no slots.
    assert_eq!(report["slots_restored"], 2, "{report}");
    assert_eq!(report["slots_present"], 0, "{report}");
    assert_eq!(report["slots_not_needed"], 1, "{report}");
    assert_eq!(report["name_conflicts"], json!([]), "{report}");
    assert_eq!(report["over_quota"], json!([]), "{report}");
    // The claims hold again: the name is taken, and p1 is at its quota.
    let (status, body) = zone_of(&http, &base, "p2", "beta.claims.test.").await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = zone_of(&http, &base, "p1", "delta.claims.test.").await;
    assert_eq!(status, 413, "{body}");

    // A second run finds everything in place.
    let (ok, again) = rebuild(&ns).await;
    assert!(ok, "{again}");
    assert_eq!(again["names_present"], 3, "{again}");
    assert_eq!(again["names_restored"], 0, "{again}");
    assert_eq!(again["slots_present"], 2, "{again}");
    assert_eq!(again["slots_not_needed"], 1, "{again}");
    assert_eq!(again["slots_restored"], 0, "{again}");

    // A quota lowered below the zones a project has: the oldest zone keeps the one slot, the newer is
    // reported over quota (and p1 still cannot create).
    let (status, _) = call(
        &http,
        "PATCH",
        &format!("{base}/v2/quotas/p1"),
        &[("x-auth-project-id", "ops"), ("x-roles", "admin")],
        Some(json!({"zones": 1})),
    )
    .await;
    assert_eq!(status, 200);
    lose(&node.shared, Bucket::Quotas).await;
    let (ok, report) = rebuild(&ns).await;
    assert!(ok, "over quota is reported, not an error: {report}");
    assert_eq!(report["slots_restored"], 1, "{report}");
    assert_eq!(
        report["over_quota"],
        json!([{"zone_id": ids[1], "project_id": "p1"}]),
        "{report}"
    );
    let (status, body) = zone_of(&http, &base, "p1", "delta.claims.test.").await;
    assert_eq!(status, 413, "{body}");

    // With the reservations lost again, a second zone of an existing name gets through (the hazard the
    // rebuild repairs); the rebuild names the pair and fails.
    lose(&node.shared, Bucket::ZoneNames).await;
    let (status, twin) = zone_of(&http, &base, "p2", "alpha.claims.test.").await;
    assert_eq!(status, 202, "{twin}");
    let twin_id = twin["id"].as_str().expect("id");
    let (ok, report) = rebuild(&ns).await;
    assert!(!ok, "two zones with one name fail the rebuild: {report}");
    assert_eq!(report["zones"], 5, "{report}");
    assert_eq!(report["names_restored"], 2, "beta and gamma: {report}");
    assert_eq!(report["names_present"], 1, "the twin reserved its name: {report}");
    assert_eq!(
        report["name_conflicts"],
        json!([{"name": "alpha.claims.test.", "zone_id": ids[0], "held_by": twin_id}]),
        "{report}"
    );
    node.stop().await;
}
