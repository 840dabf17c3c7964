//! `GET /v2/audit_events`: every filter alone and combined, paging across pages with `links.next`,
//! record-set values before and after each change, and who sees what (a project its own zones' and its
//! shared zones' history, an admin with all projects everything, operator changes included).

use nsplane_testkit::*;
use serde_json::{json, Value};

fn member(project: &str) -> [(&str, &str); 3] {
    [
        ("x-auth-project-id", project),
        ("x-auth-user-id", "alice"),
        ("x-roles", "member"),
    ]
}

const ALL: [(&str, &str); 3] = [
    ("x-auth-project-id", "ops"),
    ("x-roles", "admin"),
    ("x-auth-all-projects", "true"),
];

/// `GET /v2/audit_events?<query>` as `who`; asserts 200 and returns the entries and the body.
async fn audit(http: &reqwest::Client, base: &str, who: &[(&str, &str)], query: &str) -> (Vec<Value>, Value) {
    let (status, body) = call(http, "GET", &format!("{base}/v2/audit_events?{query}"), who, None).await;
    assert_eq!(status, 200, "{query}: {body}");
    (body["audit_events"].as_array().expect("entries").clone(), body)
}

/// An export: the body of `GET /v2/audit_events?<query>` with `Accept: <accept>`.
async fn export(http: &reqwest::Client, base: &str, who: &[(&str, &str)], accept: &str, query: &str) -> String {
    let mut request = http
        .get(format!("{base}/v2/audit_events?{query}"))
        .header("accept", accept);
    for (name, value) in who {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("export");
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers()["content-type"].to_str().expect("type").to_owned();
    assert!(content_type.starts_with(accept), "{content_type}");
    response.text().await.expect("body")
}

/// RFC 4180: fields separated by commas, lines by CRLF, quoted fields with doubled quotes.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut field) = (Vec::new(), Vec::new(), String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(
        !quoted && field.is_empty() && row.is_empty(),
        "the export ends with a whole line"
    );
    rows
}

fn types(entries: &[Value]) -> Vec<&str> {
    entries
        .iter()
        .map(|e| e["event_type"].as_str().expect("type"))
        .collect()
}

async fn write(http: &reqwest::Client, method: &str, url: &str, who: &[(&str, &str)], body: Option<Value>) -> Value {
    let (status, body) = call(http, method, url, who, body).await;
    assert!(status == 201 || status == 202, "{method} {url}: {status} {body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn audit_events_filter_page_and_show_values_before_and_after() {
    let ns = namespace().await;
    let node = Node::start(&ns, true).await;
    let (http, base) = (http(), node.base.clone());
    let p1 = member("p1");
    let zone = write(
        &http,
        "POST",
        &format!("{base}/v2/zones"),
        &p1,
        Some(json!({"name": "audit.example.org.", "email": "h@example.org"})),
    )
    .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let rs_url = format!("{base}/v2/zones/{zone}/recordsets");
    let request = format!("req-{}", uuid::Uuid::new_v4());
    let mut with_request = p1.to_vec();
    with_request.push(("x-openstack-request-id", &request));
    let www = write(
        &http,
        "POST",
        &rs_url,
        &with_request,
        Some(json!({"name": "www.audit.example.org.", "type": "A", "records": ["192.0.2.1"]})),
    )
    .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    write(
        &http,
        "PUT",
        &format!("{rs_url}/{www}"),
        &p1,
        Some(json!({"records": ["192.0.2.2", "192.0.2.3"], "ttl": 600})),
    )
    .await;
    write(
        &http,
        "POST",
        &rs_url,
        &p1,
        Some(json!({"name": "txt.audit.example.org.", "type": "TXT", "records": ["\"v=1\""]})),
    )
    .await;
    write(&http, "DELETE", &format!("{rs_url}/{www}"), &p1, None).await;
    // Another project's zone, shared with p3; and an operator change.
    let p2 = member("p2");
    let other = write(
        &http,
        "POST",
        &format!("{base}/v2/zones"),
        &p2,
        Some(json!({"name": "other.example.org.", "email": "h@example.org"})),
    )
    .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    write(
        &http,
        "POST",
        &format!("{base}/v2/zones/{other}/shares"),
        &p2,
        Some(json!({"target_project_id": "p3"})),
    )
    .await;
    write(
        &http,
        "POST",
        &format!("{base}/v2/tlds"),
        &[("x-auth-project-id", "ops"), ("x-roles", "admin")],
        Some(json!({"name": "org"})),
    )
    .await;

    // p1 sees its zone's history, in order, with who/why/when.
    let (mine, body) = audit(&http, &base, &p1, "limit=100").await;
    assert_eq!(
        types(&mine),
        [
            "ZoneCreated",
            "RecordsetCreated",
            "RecordsetUpdated",
            "RecordsetCreated",
            "RecordsetDeleted"
        ],
        "{body}"
    );
    for entry in &mine {
        assert_eq!(entry["zone_id"], zone.as_str());
        assert_eq!(entry["zone_name"], "audit.example.org.");
        assert_eq!(entry["project_id"], "p1");
        assert_eq!(entry["user_id"], "alice");
        assert_eq!(entry["source"], "api");
        assert!(entry["occurred_at"].is_string() && entry["request_id"].is_string());
    }
    assert!(body["links"].get("next").is_none(), "one page: {body}");
    // Values before and after each record-set change.
    let (created, updated, deleted) = (&mine[1], &mine[2], &mine[4]);
    assert_eq!(created["recordset_id"], www.as_str());
    assert_eq!(created["recordset_name"], "www.audit.example.org.");
    assert_eq!(created["recordset_type"], "A");
    assert_eq!(created["command"], "CreateRecordset");
    assert_eq!(created["request_id"], request.as_str());
    assert_eq!(created["before"], Value::Null);
    assert_eq!(created["after"]["records"], json!(["192.0.2.1"]));
    assert_eq!(created["after"]["ttl"], Value::Null);
    assert_eq!(updated["before"]["records"], json!(["192.0.2.1"]));
    assert_eq!(updated["after"]["records"], json!(["192.0.2.2", "192.0.2.3"]));
    assert_eq!(updated["after"]["ttl"], 600);
    assert_eq!(
        updated["recordset_name"], "www.audit.example.org.",
        "the name comes from the creation"
    );
    assert_eq!(deleted["before"]["records"], json!(["192.0.2.2", "192.0.2.3"]));
    assert_eq!(deleted["after"], Value::Null);
    assert_eq!(mine[0]["before"], Value::Null, "not a record-set change");

    // Filters alone.
    let single: [(&str, &[&str]); 9] = [
        ("event_type=RecordsetUpdated", &["RecordsetUpdated"]),
        (
            "event_type=RecordsetCreated.v1",
            &["RecordsetCreated", "RecordsetCreated"],
        ),
        (
            "recordset_name=www.audit.example.org",
            &["RecordsetCreated", "RecordsetUpdated", "RecordsetDeleted"],
        ),
        ("recordset_type=txt", &["RecordsetCreated"]),
        (&format!("zone_id={zone}"), &types(&mine)),
        ("zone_name=audit.example.org.", &types(&mine)),
        (&format!("request_id={request}"), &["RecordsetCreated"]),
        ("user_id=alice", &types(&mine)),
        ("source=worker", &[]),
    ];
    for (query, expected) in single {
        let (entries, _) = audit(&http, &base, &p1, query).await;
        assert_eq!(types(&entries), expected.to_vec(), "{query}");
    }
    // Combined.
    let (entries, _) = audit(
        &http,
        &base,
        &p1,
        "recordset_name=www.audit.example.org.&event_type=RecordsetDeleted&project_id=p1",
    )
    .await;
    assert_eq!(types(&entries), ["RecordsetDeleted"]);
    let (entries, _) = audit(&http, &base, &p1, "recordset_type=A&source=api&user_id=bob").await;
    assert!(entries.is_empty());
    // A time range: everything since the zone was created, nothing after now, nothing before 2000.
    let since = mine[0]["occurred_at"].as_str().expect("time").to_owned();
    let (entries, _) = audit(&http, &base, &p1, &format!("since={since}")).await;
    assert_eq!(entries.len(), 5);
    let (entries, _) = audit(&http, &base, &p1, "until=2000-01-01").await;
    assert!(entries.is_empty());
    let (entries, _) = audit(
        &http,
        &base,
        &p1,
        "since=2000-01-01T00:00:00Z&until=2999-01-01T00:00:00%2B02:00",
    )
    .await;
    assert_eq!(entries.len(), 5);

    // Paging: two at a time, following links.next, gives the same entries once each.
    let mut url = format!("{base}/v2/audit_events?limit=2");
    let mut paged = Vec::new();
    loop {
        let (status, body) = call(&http, "GET", &url, &p1, None).await;
        assert_eq!(status, 200, "{body}");
        paged.extend(body["audit_events"].as_array().expect("entries").clone());
        match body["links"]["next"].as_str() {
            Some(next) => url = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(paged, mine, "pages walk every entry once, in order");

    // Exports: every matching entry whatever the limit, as NDJSON and as CSV.
    let ndjson = export(&http, &base, &p1, "application/x-ndjson", "limit=2").await;
    let exported: Vec<Value> = ndjson
        .lines()
        .map(|line| serde_json::from_str(line).expect("an NDJSON line"))
        .collect();
    assert_eq!(exported, mine, "the NDJSON export holds every entry");
    let csv = parse_csv(&export(&http, &base, &p1, "text/csv", "").await);
    assert_eq!(csv[0][0], "id");
    let column = |name: &str| csv[0].iter().position(|c| c == name).expect(name);
    assert_eq!(csv.len(), 1 + mine.len(), "a header and a row per entry: {csv:?}");
    for (row, entry) in csv[1..].iter().zip(&mine) {
        assert_eq!(row.len(), csv[0].len());
        assert_eq!(row[column("id")], entry["id"].as_str().expect("id"));
        assert_eq!(row[column("event_type")], entry["event_type"].as_str().expect("type"));
    }
    let update = &csv[3];
    assert_eq!(update[column("before_records")], "192.0.2.1");
    assert_eq!(update[column("after_records")], "192.0.2.2 192.0.2.3");
    assert_eq!(update[column("after_ttl")], "600");
    assert_eq!(
        csv[4][column("after_records")],
        "\"v=1\"",
        "quotes survive the CSV quoting"
    );

    // Who sees what.
    let (p2_sees, _) = audit(&http, &base, &member("p2"), "").await;
    assert_eq!(types(&p2_sees), ["ZoneCreated", "ZoneShared"], "p2 sees only its zone");
    let (p3_sees, _) = audit(&http, &base, &member("p3"), "").await;
    assert_eq!(p3_sees, p2_sees, "p3 sees the zone shared with it");
    let (nothing, _) = audit(&http, &base, &member("p4"), "").await;
    assert!(nothing.is_empty(), "p4 sees nothing");
    let (none, _) = audit(&http, &base, &member("p2"), &format!("zone_id={zone}")).await;
    assert!(none.is_empty(), "p2 cannot read p1's zone by its id");
    let (everything, _) = audit(&http, &base, &ALL, "limit=max").await;
    assert!(
        everything.len() > mine.len() + p2_sees.len(),
        "an admin with all projects sees everything"
    );
    assert!(
        everything
            .iter()
            .any(|e| e["aggregate_type"] == "naming" && e["zone_id"].is_null()),
        "operator changes included"
    );

    // The same queries on the command line, over every project.
    let (ok, out) = crate::tool::run(
        &ns,
        "audit",
        &["--zone-name", "audit.example.org", "--json", "--limit", "0"],
    )
    .await;
    assert!(ok);
    let lines: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).expect("JSON")).collect();
    assert_eq!(lines, mine, "the command line shows what the API shows");
    let (ok, out) = crate::tool::run(&ns, "audit", &["--limit", "2", "--json"]).await;
    assert!(ok);
    assert_eq!(out.lines().count(), 2, "{out}");
    let (ok, out) = crate::tool::run(
        &ns,
        "audit",
        &[
            "--recordset-name",
            "www.audit.example.org.",
            "--event-type",
            "RecordsetDeleted",
            "--csv",
        ],
    )
    .await;
    assert!(ok);
    let csv = parse_csv(&out);
    assert_eq!(csv.len(), 2, "{out}");
    assert_eq!(csv[1][column("event_type")], "RecordsetDeleted");
    let (ok, out) = crate::tool::run(&ns, "audit", &["--zone-id", &zone]).await;
    assert!(ok);
    let table: Vec<&str> = out.lines().collect();
    assert_eq!(table.len(), 1 + mine.len(), "{out}");
    assert!(table[0].starts_with("ID") && table[0].contains("CHANGE"), "{out}");
    assert!(table[3].contains("192.0.2.1 → 192.0.2.2 192.0.2.3"), "{out}");
    let (ok, out) = crate::tool::run(&ns, "audit", &["--event-type", "TldCreated", "--json"]).await;
    assert!(ok);
    assert_eq!(out.lines().count(), 1, "operator changes too: {out}");
    let (ok, _) = crate::tool::run(&ns, "audit", &["--since", "yesterday"]).await;
    assert!(!ok, "a bad time is refused");

    // Bad input: Designate's error shape.
    for query in [
        "marker=abc",
        "zone_id=nope",
        "since=yesterday",
        "limit=0",
        "colour=blue",
        "user_id=a&user_id=b",
    ] {
        let (status, body) = call(&http, "GET", &format!("{base}/v2/audit_events?{query}"), &p1, None).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["code"], 400, "{query}: {body}");
    }
    node.stop().await;
}
