//! A zone's history: every serial with who/why/when and what changed, the record sets as of a serial
//! and as of a time, the difference between two serials, who may read it, and that it outlives the
//! zone.

use nsplane_testkit::*;
use serde_json::{json, Value};

const P1: [(&str, &str); 3] = [
    ("x-auth-project-id", "p1"),
    ("x-auth-user-id", "alice"),
    ("x-roles", "member"),
];
const ALL: [(&str, &str); 3] = [
    ("x-auth-project-id", "ops"),
    ("x-roles", "admin"),
    ("x-auth-all-projects", "true"),
];

async fn ok(http: &reqwest::Client, method: &str, url: &str, who: &[(&str, &str)], body: Option<Value>) -> Value {
    let (status, body) = call(http, method, url, who, body).await;
    assert!((200..300).contains(&status), "{method} {url}: {status} {body}");
    body
}

/// The names and records of an as-of answer's record sets.
fn contents(state: &Value) -> Vec<(String, Value, Value)> {
    state["recordsets"]
        .as_array()
        .expect("recordsets")
        .iter()
        .map(|r| {
            (
                r["name"].as_str().expect("name").to_owned(),
                r["records"].clone(),
                r["ttl"].clone(),
            )
        })
        .collect()
}

fn www(records: &[&str], ttl: Value) -> (String, Value, Value) {
    ("www.history.example.org.".into(), json!(records), ttl)
}

fn mail() -> (String, Value, Value) {
    (
        "history.example.org.".into(),
        json!(["10 mx.example.org."]),
        Value::Null,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_zone_history_shows_each_serial_its_state_and_differences() {
    let ns = namespace().await;
    let node = Node::start(&ns, true).await;
    let (http, base) = (http(), node.base.clone());
    let zone = ok(
        &http,
        "POST",
        &format!("{base}/v2/zones"),
        &P1,
        Some(json!({"name": "history.example.org.", "email": "h@example.org"})),
    )
    .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let zone_url = format!("{base}/v2/zones/{zone}");
    let rs = format!("{zone_url}/recordsets");
    let www_id = ok(
        &http,
        "POST",
        &rs,
        &P1,
        Some(json!({"name": "www.history.example.org.", "type": "A", "records": ["192.0.2.1"]})),
    )
    .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let mx_id = ok(
        &http,
        "POST",
        &rs,
        &P1,
        Some(json!({"name": "history.example.org.", "type": "MX", "records": ["10 mx.example.org."]})),
    )
    .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    ok(
        &http,
        "PUT",
        &format!("{rs}/{www_id}"),
        &P1,
        Some(json!({"records": ["192.0.2.9"], "ttl": 300})),
    )
    .await;
    ok(&http, "DELETE", &format!("{rs}/{mx_id}"), &P1, None).await;
    ok(&http, "PATCH", &zone_url, &P1, Some(json!({"ttl": 7200}))).await;

    // One entry per serial, in order, with who/why/when and what changed.
    let history = ok(&http, "GET", &format!("{zone_url}/history"), &P1, None).await;
    let entries = history["history"].as_array().expect("history");
    let commands: Vec<&str> = entries
        .iter()
        .map(|e| e["command"].as_str().expect("command"))
        .collect();
    assert_eq!(
        commands,
        [
            "CreateZone",
            "CreateRecordset",
            "CreateRecordset",
            "UpdateRecordset",
            "DeleteRecordset",
            "UpdateZone"
        ],
        "{history}"
    );
    let serials: Vec<u64> = entries.iter().map(|e| e["serial"].as_u64().expect("serial")).collect();
    assert!(serials.windows(2).all(|w| w[0] < w[1]), "serials grow: {serials:?}");
    let current = ok(&http, "GET", &zone_url, &P1, None).await;
    assert_eq!(
        serials[5],
        current["serial"].as_u64().expect("serial"),
        "the last is the zone's serial"
    );
    for entry in entries {
        assert_eq!(entry["user_id"], "alice");
        assert_eq!(entry["project_id"], "p1");
        assert_eq!(entry["source"], "api");
    }
    let counts = |i: usize| {
        [
            entries[i]["recordsets_created"].as_i64(),
            entries[i]["recordsets_updated"].as_i64(),
            entries[i]["recordsets_deleted"].as_i64(),
        ]
    };
    assert_eq!(counts(1), [Some(1), Some(0), Some(0)]);
    assert_eq!(counts(3), [Some(0), Some(1), Some(0)]);
    assert_eq!(counts(4), [Some(0), Some(0), Some(1)]);

    // As of each serial.
    let at = |serial: u64| {
        let (http, url) = (http.clone(), format!("{zone_url}/history/as_of?serial={serial}"));
        async move { ok(&http, "GET", &url, &P1, None).await }
    };
    assert_eq!(contents(&at(serials[0]).await), []);
    assert_eq!(contents(&at(serials[1]).await), [www(&["192.0.2.1"], Value::Null)]);
    assert_eq!(
        contents(&at(serials[2]).await),
        [mail(), www(&["192.0.2.1"], Value::Null)]
    );
    assert_eq!(
        contents(&at(serials[3]).await),
        [mail(), www(&["192.0.2.9"], json!(300))]
    );
    assert_eq!(contents(&at(serials[4]).await), [www(&["192.0.2.9"], json!(300))]);
    assert_eq!(at(serials[2]).await["serial"], serials[2]);
    // As of a time: the state after the last change at or before it.
    let time = entries[2]["occurred_at"].as_str().expect("time");
    let by_time = ok(
        &http,
        "GET",
        &format!("{zone_url}/history/as_of?time={time}"),
        &P1,
        None,
    )
    .await;
    assert_eq!(by_time["serial"], serials[2]);
    assert_eq!(contents(&by_time), contents(&at(serials[2]).await));
    for missing in ["serial=1", "time=2000-01-01"] {
        let (status, body) = call(&http, "GET", &format!("{zone_url}/history/as_of?{missing}"), &P1, None).await;
        assert_eq!(status, 404, "{missing}: {body}");
    }

    // Differences between two serials.
    let diff = |from: u64, to: u64| {
        let (http, url) = (http.clone(), format!("{zone_url}/history/diff?from={from}&to={to}"));
        async move { ok(&http, "GET", &url, &P1, None).await }
    };
    let d = diff(serials[1], serials[3]).await;
    assert_eq!(d["added"].as_array().map(Vec::len), Some(1), "{d}");
    assert_eq!(d["added"][0]["type"], "MX");
    assert_eq!(d["removed"], json!([]));
    assert_eq!(d["changed"][0]["id"], www_id.as_str());
    assert_eq!(d["changed"][0]["before"]["records"], json!(["192.0.2.1"]));
    assert_eq!(d["changed"][0]["after"]["records"], json!(["192.0.2.9"]));
    assert_eq!(d["changed"][0]["after"]["ttl"], 300);
    let d = diff(serials[3], serials[4]).await;
    assert_eq!(d["removed"][0]["id"], mx_id.as_str(), "{d}");
    assert_eq!((d["added"].clone(), d["changed"].clone()), (json!([]), json!([])));
    let d = diff(serials[4], serials[5]).await;
    assert_eq!(
        (d["added"].clone(), d["removed"].clone(), d["changed"].clone()),
        (json!([]), json!([]), json!([])),
        "a zone TTL change changes no record set"
    );

    // As text: a zone file a real parser accepts, and the change as an IXFR sends it.
    let text = |url: String| {
        let http = http.clone();
        async move {
            let mut request = http.get(&url).header("accept", "text/dns");
            for (name, value) in P1 {
                request = request.header(name, value);
            }
            let response = request.send().await.expect("get");
            assert_eq!(response.status(), 200, "{url}");
            assert_eq!(
                response.headers()["content-type"].to_str().ok(),
                Some("text/dns; charset=utf-8")
            );
            response.text().await.expect("text")
        }
    };
    let file = text(format!("{zone_url}/history/as_of?serial={}", serials[3])).await;
    assert!(
        file.contains("www.history.example.org.\t300\tIN\tA\t192.0.2.9\n"),
        "{file}"
    );
    assert!(
        file.contains("history.example.org.\t3600\tIN\tMX\t10 mx.example.org.\n"),
        "{file}"
    );
    assert!(
        file.contains(&format!(" {} 3600 600 86400 3600\n", serials[3])),
        "the SOA at that serial: {file}"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("history.zone");
    std::fs::write(&path, &file).expect("write");
    let checked = std::process::Command::new("named-checkzone")
        .args(["history.example.org.", &path.to_string_lossy()])
        .output()
        .expect("named-checkzone");
    let said = String::from_utf8_lossy(&checked.stdout);
    assert!(checked.status.success(), "BIND refuses the zone file: {said}\n{file}");
    assert!(said.contains(&format!("loaded serial {}", serials[3])), "{said}");
    let ixfr = text(format!("{zone_url}/history/diff?from={}&to={}", serials[3], serials[5])).await;
    let lines: Vec<&str> = ixfr.lines().filter(|l| !l.starts_with(';')).collect();
    let soa = |serial: u64| format!(" {serial} 3600 600 86400 3600");
    assert!(
        lines[0].contains("\tSOA\t") && lines[0].ends_with(&soa(serials[5])),
        "{ixfr}"
    );
    assert!(
        lines[1].contains("\tSOA\t") && lines[1].ends_with(&soa(serials[3])),
        "{ixfr}"
    );
    let removed_end = lines
        .iter()
        .skip(2)
        .position(|l| l.contains("\tSOA\t"))
        .expect("second SOA")
        + 2;
    let removed: Vec<&str> = lines[2..removed_end].to_vec();
    let added: Vec<&str> = lines[removed_end + 1..lines.len() - 1].to_vec();
    assert!(lines[lines.len() - 1].ends_with(&soa(serials[5])), "{ixfr}");
    assert!(
        removed.contains(&"history.example.org.\t3600\tIN\tMX\t10 mx.example.org."),
        "{ixfr}"
    );
    assert!(
        removed
            .iter()
            .any(|l| l.starts_with("history.example.org.\t3600\tIN\tNS\t"))
            && added
                .iter()
                .any(|l| l.starts_with("history.example.org.\t7200\tIN\tNS\t")),
        "the zone's TTL moved its NS records: {ixfr}"
    );
    assert!(!ixfr.contains("www."), "www kept its own TTL and records: {ixfr}");

    // Who may read it.
    let p2 = [("x-auth-project-id", "p2"), ("x-roles", "member")];
    for path in ["history", "history/as_of?serial=1", "history/diff?from=1&to=2"] {
        let (status, _) = call(&http, "GET", &format!("{zone_url}/{path}"), &p2, None).await;
        assert_eq!(status, 404, "another project: {path}");
    }
    for bad in [
        "history/as_of",
        "history/as_of?serial=x",
        "history/diff?from=1",
        "history?colour=blue",
    ] {
        let (status, body) = call(&http, "GET", &format!("{zone_url}/{bad}"), &P1, None).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }

    // It outlives the zone.
    ok(&http, "DELETE", &zone_url, &P1, None).await;
    let zone_id = nsplane_schema::ZoneId(uuid::Uuid::parse_str(&zone).expect("uuid"));
    confirm_zone_deleted(&node.shared, zone_id).await;
    eventually("the zone is gone", std::time::Duration::from_secs(10), || async {
        call(&http, "GET", &zone_url, &P1, None).await.0 == 404
    })
    .await;
    let after = ok(&http, "GET", &format!("{zone_url}/history"), &ALL, None).await;
    assert_eq!(
        after["history"].as_array().map(Vec::len),
        Some(6),
        "an admin reads a deleted zone's history"
    );
    let old = ok(
        &http,
        "GET",
        &format!("{zone_url}/history/as_of?serial={}", serials[3]),
        &P1,
        None,
    )
    .await;
    assert_eq!(
        contents(&old),
        [mail(), www(&["192.0.2.9"], json!(300))],
        "and so does its owner"
    );

    // The same on the command line, over every project, for the deleted zone.
    let (ok_, out) = crate::tool::run(&ns, "zone", &["history", &zone, "--json"]).await;
    assert!(ok_);
    let serials_cli: Vec<u64> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).expect("JSON")["serial"]
                .as_u64()
                .expect("serial")
        })
        .collect();
    assert_eq!(serials_cli, serials, "{out}");
    let (ok_, out) = crate::tool::run(&ns, "zone", &["at", &zone, "--serial", &serials[3].to_string()]).await;
    assert!(ok_);
    assert!(out.contains("www.history.example.org. 300 IN A 192.0.2.9"), "{out}");
    assert!(out.contains("history.example.org. IN MX 10 mx.example.org."), "{out}");
    let (ok_, out) = crate::tool::run(
        &ns,
        "zone",
        &["diff", &zone, &serials[3].to_string(), &serials[4].to_string()],
    )
    .await;
    assert!(ok_);
    assert!(out.contains("- history.example.org. IN MX 10 mx.example.org."), "{out}");
    assert!(!out.contains("+ "), "nothing added: {out}");
    let (ok_, _) = crate::tool::run(&ns, "zone", &["history", &uuid::Uuid::new_v4().to_string()]).await;
    assert!(!ok_, "an unknown zone is an error");
    node.stop().await;
}
