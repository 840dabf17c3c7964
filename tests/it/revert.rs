//! Reverting a zone to an earlier serial, end to end: the API's dry run and revert, the history's new
//! entry, a real BIND secondary serving the reverted zone, and the same from `nsplane zone revert`.

use nsplane_dataplane::client::{self, SoaAnswer};
use nsplane_testkit::secondaries::bind as start_bind;
use nsplane_testkit::*;
use serde_json::json;

use crate::dataplane::{a_records, catalog_pool, CATALOG, QUERY, WAIT};

/// A zone reverted to an earlier serial: a dry run changes nothing; the revert brings back the record
/// sets of that serial under a new serial (one history entry), and BIND serves them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reverted_zone_is_served_by_bind_as_it_was() {
    let ns = namespace().await;
    let mdns = mdns_sockets().await;
    let mdns_port = mdns.0.local_addr().expect("addr").port();
    let bind = start_bind(mdns_port, CATALOG);
    let node = FullNode::start(&ns, mdns, &catalog_pool(mdns_port, &[bind.addr()])).await;
    let (http, base) = (http(), node.node.base.clone());
    let zone_id = create_zone(&http, &base, "revert.example.org.").await;
    let zone_url = format!("{base}/v2/zones/{zone_id}");
    let rs = format!("{zone_url}/recordsets");
    let serial_now = || async { get(&http, &zone_url).await.1["serial"].as_u64().expect("serial") };
    let (status, www) = post(
        &http,
        &rs,
        json!({"name": "www.revert.example.org.", "type": "A", "records": ["192.0.2.1"]}),
    )
    .await;
    assert_eq!(status, 202, "{www}");
    let (status, _) = post(
        &http,
        &rs,
        json!({"name": "api.revert.example.org.", "type": "A", "records": ["192.0.2.5"]}),
    )
    .await;
    assert_eq!(status, 202);
    let good = serial_now().await;
    // A bad deploy: www changed, api deleted, a stray record added.
    let www_id = www["id"].as_str().expect("id");
    let (status, _) = call(
        &http,
        "PUT",
        &format!("{rs}/{www_id}"),
        &[],
        Some(json!({"records": ["203.0.113.66"]})),
    )
    .await;
    assert_eq!(status, 202);
    let (_, list) = get(&http, &format!("{rs}?name=api.revert.example.org.")).await;
    let api_id = list["recordsets"][0]["id"].as_str().expect("api").to_owned();
    let (status, _) = call(&http, "DELETE", &format!("{rs}/{api_id}"), &[], None).await;
    assert_eq!(status, 202);
    let (status, _) = post(
        &http,
        &rs,
        json!({"name": "stray.revert.example.org.", "type": "A", "records": ["203.0.113.1"]}),
    )
    .await;
    assert_eq!(status, 202);
    let bad = serial_now().await;
    eventually("BIND serves the bad state", WAIT, || async {
        a_records(bind.addr(), "www.revert.example.org.").await == Some(vec!["203.0.113.66".into()])
    })
    .await;

    // A dry run says what would change and changes nothing.
    let (status, plan) = call(
        &http,
        "POST",
        &format!("{zone_url}/tasks/revert"),
        &[],
        Some(json!({"serial": good, "dry_run": true})),
    )
    .await;
    assert_eq!(status, 200, "{plan}");
    assert_eq!(plan["changes"]["added"][0]["name"], "api.revert.example.org.", "{plan}");
    assert_eq!(
        plan["changes"]["removed"][0]["name"], "stray.revert.example.org.",
        "{plan}"
    );
    assert_eq!(
        plan["changes"]["changed"][0]["after"]["records"],
        json!(["192.0.2.1"]),
        "{plan}"
    );
    assert_eq!(serial_now().await, bad, "a dry run commits nothing");

    // The revert: one new serial, the records of `good`, served by BIND.
    let (status, done) = call(
        &http,
        "POST",
        &format!("{zone_url}/tasks/revert"),
        &[],
        Some(json!({"serial": good})),
    )
    .await;
    assert_eq!(status, 202, "{done}");
    let reverted = done["serial"].as_u64().expect("serial");
    assert!(reverted > bad, "a new serial: {done}");
    let (_, now) = get(&http, &format!("{zone_url}/history/as_of?serial={reverted}")).await;
    let (_, then) = get(&http, &format!("{zone_url}/history/as_of?serial={good}")).await;
    assert_eq!(
        now["recordsets"], then["recordsets"],
        "the record sets of {good}, ids included"
    );
    let (_, history) = get(&http, &format!("{zone_url}/history")).await;
    let last = history["history"]
        .as_array()
        .and_then(|h| h.last())
        .cloned()
        .expect("last");
    assert_eq!(last["command"], "RevertZone");
    assert_eq!(last["serial"], reverted);
    for (name, records) in [
        ("www.revert.example.org.", Some(vec!["192.0.2.1".to_owned()])),
        ("api.revert.example.org.", Some(vec!["192.0.2.5".to_owned()])),
        ("stray.revert.example.org.", None),
    ] {
        eventually("BIND serves the reverted zone", WAIT, || async {
            a_records(bind.addr(), name).await == records
        })
        .await;
    }
    eventually("the zone is ACTIVE", WAIT, || async {
        get(&http, &zone_url).await.1["status"] == "ACTIVE"
    })
    .await;
    assert_eq!(
        client::soa(bind.addr(), "revert.example.org.", QUERY).await.ok(),
        Some(SoaAnswer::Serial(u32::try_from(serial_now().await).expect("u32")))
    );
    // Reverting again to the same serial has nothing to do; an unknown serial is not found.
    let (status, body) = call(
        &http,
        "POST",
        &format!("{zone_url}/tasks/revert"),
        &[],
        Some(json!({"serial": good})),
    )
    .await;
    assert_eq!(
        (status, body["type"].clone()),
        (400, json!("nothing_to_revert")),
        "{body}"
    );
    let (status, _) = call(
        &http,
        "POST",
        &format!("{zone_url}/tasks/revert"),
        &[],
        Some(json!({"serial": 7})),
    )
    .await;
    assert_eq!(status, 404);

    // The same from the command line, as an operator would: back to the bad state.
    let before_cli = serial_now().await;
    let bad_text = bad.to_string();
    let (ok_, out) = crate::tool::run(&ns, "zone", &["revert", &zone_id, "--serial", &bad_text, "--dry-run"]).await;
    assert!(ok_, "{out}");
    assert!(out.contains("+ stray.revert.example.org. A"), "{out}");
    assert!(out.contains("- api.revert.example.org. A"), "{out}");
    assert_eq!(serial_now().await, before_cli, "a dry run commits nothing");
    let (ok_, out) = crate::tool::run(&ns, "zone", &["revert", &zone_id, "--serial", &bad_text, "--json"]).await;
    assert!(ok_, "{out}");
    let answer: serde_json::Value = serde_json::from_str(out.trim()).expect("JSON");
    let by_cli = answer["serial"].as_u64().expect("serial");
    assert!(by_cli > before_cli, "{answer}");
    eventually("the history shows the operator's revert", WAIT, || async {
        let (_, history) = get(&http, &format!("{zone_url}/history")).await;
        history["history"]
            .as_array()
            .and_then(|h| h.last())
            .is_some_and(|last| last["serial"] == by_cli && last["source"] == "cli" && last["command"] == "RevertZone")
    })
    .await;
    eventually("BIND serves the state the operator chose", WAIT, || async {
        a_records(bind.addr(), "stray.revert.example.org.").await == Some(vec!["203.0.113.1".into()])
    })
    .await;
    node.node.stop().await;
}
