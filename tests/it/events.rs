//! `nsplane events`, the real binary, on a stream the API wrote: `tail` prints a zone's commits in
//! order with who/why/when (all of them, the latest few, a table, and new ones as they come with
//! `--follow`), `show` prints one commit by stream sequence and every commit of a request id.

use std::io::{BufRead as _, BufReader};
use std::process::Stdio;
use std::time::Duration;

use nsplane_testkit::*;
use serde_json::{json, Value};

/// `nsplane events <args>` on the namespace: whether it succeeded, and its stdout.
async fn events(ns: &Namespace, args: &[&str]) -> (bool, String) {
    crate::tool::run(ns, "events", args).await
}

/// Every line of `text` as JSON.
fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect()
}

/// The next line a follower printed, as JSON (within 10 s).
async fn next_line(received: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> Value {
    let line = tokio::time::timeout(Duration::from_secs(10), received.recv())
        .await
        .expect("a line in time")
        .expect("a line");
    lines(&line).remove(0)
}

fn event_types(commit: &Value) -> Vec<String> {
    commit["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["type"].as_str().expect("type").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_event_log_shows_every_change_with_who_why_and_when() {
    let ns = namespace().await;
    let node = Node::start(&ns, true).await;
    let (http, base) = (http(), node.base.clone());
    let zone = create_zone(&http, &base, "log.example.org.").await;
    let request_id = format!("req-{}", uuid::Uuid::new_v4());
    let (status, body) = call(
        &http,
        "POST",
        &format!("{base}/v2/zones/{zone}/recordsets"),
        &[("x-openstack-request-id", &request_id)],
        Some(json!({"name": "www.log.example.org.", "type": "A", "records": ["192.0.2.1"]})),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = post(
        &http,
        &format!("{base}/v2/zones/{zone}/recordsets"),
        json!({"name": "mail.log.example.org.", "type": "A", "records": ["192.0.2.2"]}),
    )
    .await;
    assert_eq!(status, 202, "{body}");

    // Every commit of the zone, in order, with who/why/when.
    let (ok, out) = events(&ns, &["tail", "--zone", &zone, "--last", "0", "--json"]).await;
    assert!(ok, "{out}");
    let all = lines(&out);
    assert_eq!(all.len(), 3, "{out}");
    assert_eq!(event_types(&all[0]), ["ZoneCreated.v1"], "{out}");
    assert_eq!(event_types(&all[1]), ["RecordsetCreated.v1"], "{out}");
    assert_eq!(all[1]["events"][0]["name"], "www.log.example.org.", "{out}");
    for (i, commit) in all.iter().enumerate() {
        assert_eq!(commit["aggregate_type"], "zone");
        assert_eq!(commit["aggregate_id"], zone.as_str());
        assert_eq!(commit["version"], i + 1, "versions count up: {out}");
        assert_eq!(commit["metadata"]["source_role"], "api");
        assert_eq!(commit["metadata"]["project_id"], "noauth-project");
        assert!(commit["metadata"]["time"].is_string() && commit["stored_at"].is_string());
        if i > 0 {
            assert!(commit["stream_seq"].as_u64() > all[i - 1]["stream_seq"].as_u64());
        }
    }
    assert_eq!(all[0]["metadata"]["command"], "CreateZone");
    assert_eq!(all[1]["metadata"]["request_id"], request_id.as_str());

    // The latest one only, and a stream position onwards.
    let (ok, out) = events(&ns, &["tail", "--zone", &zone, "--last", "1", "--json"]).await;
    assert!(ok);
    assert_eq!(lines(&out), all[2..].to_vec());
    let from = all[1]["stream_seq"].as_u64().expect("seq").to_string();
    let (ok, out) = events(&ns, &["tail", "--zone", &zone, "--from", &from, "--json"]).await;
    assert!(ok);
    assert_eq!(lines(&out), all[1..].to_vec());
    // One kind: the zone's commits are the only zone commits of this namespace; the test pool's
    // configuration is another kind, committed by the test harness.
    let (ok, out) = events(&ns, &["tail", "--kind", "zone", "--last", "0", "--json"]).await;
    assert!(ok);
    assert_eq!(lines(&out), all, "only this namespace's zone");
    let (ok, out) = events(&ns, &["tail", "--kind", "pools", "--last", "0", "--json"]).await;
    assert!(ok);
    let pools = lines(&out);
    assert_eq!(pools.len(), 1, "{out}");
    assert_eq!(event_types(&pools[0]), ["PoolsConfigured.v1"], "{out}");
    assert_eq!(pools[0]["metadata"]["source_role"], "test", "{out}");
    let (ok, out) = events(&ns, &["tail", "--last", "0", "--json"]).await;
    assert!(ok);
    assert_eq!(lines(&out).len(), 4, "every kind: {out}");

    // A table for people.
    let (ok, out) = events(&ns, &["tail", "--zone", &zone]).await;
    assert!(ok);
    let table: Vec<&str> = out.lines().collect();
    assert_eq!(table.len(), 4, "a header and three rows: {out}");
    assert!(table[0].contains("SEQ") && table[0].contains("EVENTS"), "{out}");
    assert!(
        table[2].contains("RecordsetCreated.v1") && table[2].contains(&zone),
        "{out}"
    );

    // One commit by stream sequence, and a request's commits by its id.
    let seq = all[1]["stream_seq"].as_u64().expect("seq").to_string();
    let (ok, out) = events(&ns, &["show", &seq, "--json"]).await;
    assert!(ok);
    assert_eq!(lines(&out), all[1..2].to_vec());
    let (ok, out) = events(&ns, &["show", &seq]).await;
    assert!(ok);
    assert!(out.contains(&request_id) && out.contains("192.0.2.1"), "{out}");
    eventually("the request's commit is projected", Duration::from_secs(10), || async {
        let (ok, out) = events(&ns, &["show", "--request-id", &request_id, "--json"]).await;
        ok && lines(&out) == all[1..2].to_vec()
    })
    .await;
    let (ok, _) = events(&ns, &["show", "999999999"]).await;
    assert!(!ok, "no commit there");
    let (ok, _) = events(&ns, &["show", "--request-id", &format!("req-{}", uuid::Uuid::new_v4())]).await;
    assert!(!ok, "no such request");

    // --follow prints the zone's commits, then each new one as it is stored.
    let mut child = crate::tool::command(
        &ns,
        "events",
        &["tail", "--zone", &zone, "--last", "0", "--follow", "--json"],
    )
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .expect("follow");
    let (sender, mut received) = tokio::sync::mpsc::unbounded_channel();
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    for expected in &all {
        assert_eq!(&next_line(&mut received).await, expected);
    }
    let (status, body) = post(
        &http,
        &format!("{base}/v2/zones/{zone}/recordsets"),
        json!({"name": "new.log.example.org.", "type": "TXT", "records": ["\"followed\""]}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let followed = next_line(&mut received).await;
    assert_eq!(event_types(&followed), ["RecordsetCreated.v1"]);
    assert_eq!(followed["events"][0]["name"], "new.log.example.org.");
    assert_eq!(followed["version"], 4);
    child.kill().expect("kill");
    child.wait().expect("wait");
    node.stop().await;
}
