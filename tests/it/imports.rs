//! Zone imports: a `text/dns` file becomes a zone and its record sets (and reads back through an
//! export); what an import cannot take ends in ERROR with a message and makes nothing; imports are per
//! project; an import its API left pending is finished by a producer, once.

use std::time::Duration;

use nsplane_command::service::Actor;
use nsplane_command::Commands;
use nsplane_runtime::Shutdown;
use nsplane_schema::imports::ImportEvent;
use nsplane_testkit::*;
use serde_json::{json, Value};

const ZONE_FILE: &str = "$ORIGIN imported.example.org.\n$TTL 3600\n\
@ IN SOA ns1.imported.example.org. admin.imported.example.org. ( 2024010101 3600 600 86400 300 )\n\
@ IN NS ns-elsewhere.example.net.\n\
www 300 IN A 192.0.2.10\n    IN A 192.0.2.11\n\
mail IN MX 10 mx1\n\
mx1 IN A 192.0.2.25\n\
alias IN CNAME www ; a comment\n\
txt IN TXT \"v=spf1 -all\"\n";

async fn import(http: &reqwest::Client, base: &str, project: &str, body: &str) -> (u16, Value) {
    let response = http
        .post(format!("{base}/v2/zones/tasks/imports"))
        .header("x-auth-project-id", project)
        .header("x-roles", "member")
        .header("content-type", "text/dns")
        .body(body.to_owned())
        .send()
        .await
        .expect("POST import");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zone_file_becomes_a_zone_with_its_record_sets_or_an_error_that_makes_nothing() {
    let ns = namespace().await;
    let node = Node::start(&ns, true).await;
    let http = http();
    let base = &node.base;
    let owner = [("x-auth-project-id", "importer"), ("x-roles", "member")];
    let other = [("x-auth-project-id", "someone-else"), ("x-roles", "member")];

    let (status, done) = import(&http, base, "importer", ZONE_FILE).await;
    assert_eq!(status, 202, "{done}");
    assert_eq!(done["status"], "COMPLETE", "{done}");
    let zone_id = done["zone_id"].as_str().expect("zone id").to_owned();
    let (status, zone) = call(&http, "GET", &format!("{base}/v2/zones/{zone_id}"), &owner, None).await;
    assert_eq!(status, 200, "{zone}");
    assert_eq!(zone["name"], "imported.example.org.");
    assert_eq!(zone["email"], "admin@imported.example.org");
    assert_eq!(zone["ttl"], 3600);
    let (_, sets) = call(
        &http,
        "GET",
        &format!("{base}/v2/zones/{zone_id}/recordsets?limit=100"),
        &owner,
        None,
    )
    .await;
    let find = |name: &str, rtype: &str| -> Value {
        sets["recordsets"]
            .as_array()
            .expect("recordsets")
            .iter()
            .find(|r| r["name"] == name && r["type"] == rtype)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let www = find("www.imported.example.org.", "A");
    let mut records: Vec<&str> = www["records"]
        .as_array()
        .expect("www")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    records.sort_unstable();
    assert_eq!(records, ["192.0.2.10", "192.0.2.11"], "{www}");
    assert_eq!(www["ttl"], 300);
    assert_eq!(
        find("mail.imported.example.org.", "MX")["records"],
        json!(["10 mx1.imported.example.org."])
    );
    assert_eq!(
        find("alias.imported.example.org.", "CNAME")["records"],
        json!(["www.imported.example.org."])
    );
    assert_eq!(
        find("txt.imported.example.org.", "TXT")["records"],
        json!(["\"v=spf1 -all\""])
    );
    assert_eq!(
        find("txt.imported.example.org.", "TXT")["ttl"],
        Value::Null,
        "the zone's TTL is inherited"
    );
    let ns_set = find("imported.example.org.", "NS");
    assert_ne!(
        ns_set["records"],
        json!(["ns-elsewhere.example.net."]),
        "the apex NS records are the pool's: {ns_set}"
    );

    // The import reads back through an export.
    let (status, export) = call(
        &http,
        "POST",
        &format!("{base}/v2/zones/{zone_id}/tasks/export"),
        &owner,
        None,
    )
    .await;
    assert_eq!(status, 202, "{export}");
    let text = http
        .get(format!(
            "{base}/v2/zones/tasks/exports/{}/export",
            export["id"].as_str().expect("id")
        ))
        .header("x-auth-project-id", "importer")
        .header("x-roles", "member")
        .send()
        .await
        .expect("export")
        .text()
        .await
        .expect("text");
    for line in [
        "www.imported.example.org.\t300\tIN\tA\t192.0.2.10",
        "mx1.imported.example.org.\t3600\tIN\tA\t192.0.2.25",
    ] {
        assert!(text.contains(line), "{line:?} in the export:\n{text}");
    }

    // Listed for its project only; shown; deleted without touching the zone.
    let imports = format!("{base}/v2/zones/tasks/imports");
    let (_, list) = call(&http, "GET", &imports, &owner, None).await;
    assert_eq!(list["imports"].as_array().map(Vec::len), Some(1), "{list}");
    let (_, list) = call(&http, "GET", &imports, &other, None).await;
    assert_eq!(list["imports"], json!([]));
    let show = format!("{imports}/{}", done["id"].as_str().expect("id"));
    let (status, _) = call(&http, "GET", &show, &other, None).await;
    assert_eq!(status, 404);
    let (status, shown) = call(&http, "GET", &show, &owner, None).await;
    assert_eq!((status, shown["status"].clone()), (200, json!("COMPLETE")));

    // The v2.4 JSON form: the file and the zone's attributes; the answer names the import's URL. (Its
    // zone is deleted again so the count of zones below stays the first import's.)
    let response = http
        .post(format!("{base}/v2/zones/tasks/imports"))
        .header("x-auth-project-id", "importer")
        .header("x-roles", "member")
        .json(&json!({
            "zonefile": ZONE_FILE.replace("imported.example.org", "json.example.org"),
            "attributes": {"tier": "gold"},
        }))
        .send()
        .await
        .expect("POST JSON import");
    assert_eq!(response.status(), 202);
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .expect("a Location header");
    let json_import: Value = response.json().await.expect("body");
    assert_eq!(json_import["status"], "COMPLETE", "{json_import}");
    assert!(location.ends_with(&format!(
        "/v2/zones/tasks/imports/{}",
        json_import["id"].as_str().expect("id")
    )));
    let json_zone_url = format!("{base}/v2/zones/{}", json_import["zone_id"].as_str().expect("zone id"));
    let (_, json_zone) = call(&http, "GET", &json_zone_url, &owner, None).await;
    assert_eq!(json_zone["attributes"]["tier"], "gold", "{json_zone}");
    let (_, complete) = call(&http, "GET", &format!("{imports}?status=COMPLETE"), &owner, None).await;
    assert_eq!(complete["imports"].as_array().map(Vec::len), Some(2), "{complete}");
    let (_, by_zone) = call(&http, "GET", &format!("{imports}?zone_id={zone_id}"), &owner, None).await;
    assert_eq!(by_zone["imports"].as_array().map(Vec::len), Some(1), "{by_zone}");
    let (status, _) = call(&http, "DELETE", &json_zone_url, &owner, None).await;
    assert_eq!(status, 202);

    // Refusals: each an ERROR with its reason, and no zone made.
    for (file, reason) in [
        ("$ORIGIN bad.example.org.\n$INCLUDE /etc/passwd\n", "$INCLUDE"),
        ("$ORIGIN bad.example.org.\nwww A 192.0.2.1\n", "no SOA"),
        (
            "bad.example.org. 3600 IN SOA ns1.bad.example.org. h.bad.example.org. 1 2 3 4 5\nwww.bad.example.org. A 999.0.0.1\n",
            "www.bad.example.org. A",
        ),
        (ZONE_FILE, "Duplicate Zone"),
    ] {
        let (status, failed) = import(&http, base, "importer", file).await;
        assert_eq!(status, 202, "{failed}");
        assert_eq!(failed["status"], "ERROR", "{failed}");
        let message = failed["message"].as_str().unwrap_or_default();
        assert!(message.contains(reason), "{reason:?} in {message:?}");
    }
    let (_, zones) = call(&http, "GET", &format!("{base}/v2/zones"), &owner, None).await;
    assert_eq!(
        zones["zones"]
            .as_array()
            .expect("zones")
            .iter()
            .filter(|z| z["action"] != "DELETE")
            .count(),
        1,
        "only the first import made a zone that stays: {zones}"
    );

    // Not a zone file, or too large.
    let response = http
        .post(&imports)
        .header("x-auth-project-id", "importer")
        .header("x-roles", "member")
        .header("content-type", "application/xml")
        .body("<zone/>")
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 415);
    let huge = format!("{ZONE_FILE}{}", "; padding\n".repeat(60_000));
    let (status, body) = import(&http, base, "importer", &huge).await;
    assert_eq!(status, 413, "{body}");

    let (status, _) = call(&http, "DELETE", &show, &owner, None).await;
    assert_eq!(status, 204);
    let (status, _) = call(&http, "GET", &show, &owner, None).await;
    assert_eq!(status, 404);
    let (status, _) = call(&http, "GET", &format!("{base}/v2/zones/{zone_id}"), &owner, None).await;
    assert_eq!(status, 200, "deleting the import leaves its zone");
    node.stop().await;
}

/// An import accepted but not run (its API died right after) stays PENDING until a producer finishes
/// it; running it again afterwards changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_producer_finishes_an_import_its_api_left_pending() {
    let ns = namespace().await;
    let node = Node::start(&ns, true).await;
    let http = http();
    let store = node.shared.store.clone();
    let commands = Commands::open(store.clone(), Default::default(), Default::default(), 16, false)
        .await
        .expect("commands");
    let mut actor = Actor::service("api");
    actor.metadata.project_id = nsplane_schema::ProjectId("importer".into());
    actor.metadata.request_id = nsplane_schema::RequestId(format!("req-{}", uuid::Uuid::new_v4()));
    actor.scope = Some(actor.metadata.project_id.clone());
    let accepted = commands
        .request_import(
            ZONE_FILE.replace("imported.example.org", "late.example.org"),
            Default::default(),
            &actor,
        )
        .await
        .expect("accepted");
    let id = accepted.state.import.expect("import").id;
    let show = format!("{}/v2/zones/tasks/imports/{id}", node.base);
    let owner = [("x-auth-project-id", "importer"), ("x-roles", "member")];
    let (_, pending) = call(&http, "GET", &show, &owner, None).await;
    assert_eq!(pending["status"], "PENDING", "{pending}");

    let shutdown = Shutdown::new();
    let mut producer = nsplane_producer::ProducerConfig::new(ns.nats(), ns.store(), ns.pg());
    producer.leases = crate::producer::short_leases(16);
    producer.recover_after = Duration::from_secs(1);
    let running = tokio::spawn(nsplane_producer::run(producer, shutdown.receiver()));
    eventually("the producer finishes the import", Duration::from_secs(30), || async {
        call(&http, "GET", &show, &owner, None).await.1["status"] == "COMPLETE"
    })
    .await;
    let (_, done) = call(&http, "GET", &show, &owner, None).await;
    let zone_id = done["zone_id"].as_str().expect("zone id").to_owned();
    let (status, zone) = call(&http, "GET", &format!("{}/v2/zones/{zone_id}", node.base), &owner, None).await;
    assert_eq!(
        (status, zone["name"].clone()),
        (200, json!("late.example.org.")),
        "{zone}"
    );

    // Once finished, running it again appends nothing.
    let before = store
        .last::<ImportEvent>(&id.to_string())
        .await
        .expect("last")
        .expect("commits")
        .envelope
        .version;
    let pools = commands.pools().handle().await.expect("pools");
    let status = commands.run_import(id, &pools, "api").await.expect("run again");
    assert_eq!(status.as_str(), "COMPLETE");
    let after = store
        .last::<ImportEvent>(&id.to_string())
        .await
        .expect("last")
        .expect("commits")
        .envelope
        .version;
    assert_eq!(before, after, "a finished import's record is not touched again");
    assert_eq!(before, 2, "requested, then completed once");
    shutdown.trigger();
    let _ = running.await;
    node.stop().await;
}
