//! API behaviour beyond the write path: roles (reader, member, admin, sudo), the nameservers and
//! limits endpoints, and the record-set redirect.

mod support;

use serde_json::json;
use support::*;

async fn post_as(
    http: &reqwest::Client,
    url: &str,
    headers: &[(&str, &str)],
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let mut request = http.post(url).json(&body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("post");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(serde_json::Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_decide_who_may_write_and_impersonate() {
    let ns = namespace().await;
    let node = Node::start(&ns, true).await;
    let http = http();
    let zones = format!("{}/v2/zones", node.base);
    let body = |name: &str| json!({"name": name, "email": "a@example.org"});
    // A reader may not write; a member may.
    let reader = [("x-auth-project-id", "p1"), ("x-roles", "reader")];
    let (status, error) = post_as(&http, &zones, &reader, body("reader.example.org.")).await;
    assert_eq!(status, 403, "{error}");
    assert_eq!(error["type"], "forbidden");
    let member = [("x-auth-project-id", "p1"), ("x-roles", "member,reader")];
    let (status, zone) = post_as(&http, &zones, &member, body("member.example.org.")).await;
    assert_eq!(status, 202, "{zone}");
    // The reader sees the member's zone (same project) but cannot change it.
    let zone_url = format!("{zones}/{}", zone["id"].as_str().expect("id"));
    let response = http
        .get(&zone_url)
        .header("x-auth-project-id", "p1")
        .header("x-roles", "reader")
        .send()
        .await
        .expect("get");
    assert_eq!(response.status().as_u16(), 200);
    let response = http
        .delete(&zone_url)
        .header("x-auth-project-id", "p1")
        .header("x-roles", "reader")
        .send()
        .await
        .expect("delete");
    assert_eq!(response.status().as_u16(), 403);
    // Sudo: refused to a member, honoured for an admin (the zone belongs to the impersonated project).
    let sudo_member = [
        ("x-auth-project-id", "p1"),
        ("x-roles", "member"),
        ("x-auth-sudo-project-id", "p2"),
    ];
    let (status, _) = post_as(&http, &zones, &sudo_member, body("sudo1.example.org.")).await;
    assert_eq!(status, 403);
    let sudo_admin = [
        ("x-auth-project-id", "ops"),
        ("x-roles", "admin"),
        ("x-auth-sudo-project-id", "p2"),
    ];
    let (status, zone) = post_as(&http, &zones, &sudo_admin, body("sudo2.example.org.")).await;
    assert_eq!(status, 202, "{zone}");
    assert_eq!(zone["project_id"], "p2");
    // All-projects is for admins only.
    let response = http
        .get(&zones)
        .header("x-auth-project-id", "p1")
        .header("x-roles", "member")
        .header("x-auth-all-projects", "true")
        .send()
        .await
        .expect("get");
    assert_eq!(response.status().as_u16(), 403);
    let response = http
        .get(&zones)
        .header("x-roles", "admin")
        .header("x-auth-all-projects", "true")
        .send()
        .await
        .expect("get");
    let all: serde_json::Value = response.json().await.expect("json");
    assert_eq!(all["metadata"]["total_count"], 2, "{all}");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nameservers_limits_and_the_recordset_redirect() {
    let ns = namespace().await;
    let node = Node::start(&ns, true).await;
    let http = http();
    let zone_id = create_zone(&http, &node.base, "extras.example.org.").await;
    let (status, body) = get(&http, &format!("{}/v2/zones/{zone_id}/nameservers", node.base)).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"nameservers": [{"hostname": "ns1.example.net.", "priority": 1}]})
    );
    let (status, body) = get(&http, &format!("{}/v2/limits", node.base)).await;
    assert_eq!(status, 200);
    assert_eq!(body["max_page_limit"], 1000);
    let (status, created) = post(
        &http,
        &format!("{}/v2/zones/{zone_id}/recordsets", node.base),
        json!({"name": "www.extras.example.org.", "type": "A", "records": ["192.0.2.1"]}),
    )
    .await;
    assert_eq!(status, 202);
    let id = created["id"].as_str().expect("id");
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let response = no_redirects
        .get(format!("{}/v2/recordsets/{id}", node.base))
        .send()
        .await
        .expect("get");
    assert_eq!(response.status().as_u16(), 301);
    let location = response.headers()["location"].to_str().expect("location").to_owned();
    assert!(
        location.ends_with(&format!("/v2/zones/{zone_id}/recordsets/{id}")),
        "{location}"
    );
    let (status, _) = get(
        &http,
        &format!("{}/v2/zones/{zone_id}/nameservers", node.base).replace(&zone_id, &uuid::Uuid::new_v4().to_string()),
    )
    .await;
    assert_eq!(status, 404);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn quotas_are_set_per_project_and_hold_under_races() {
    let ns = namespace().await;
    let node = Node::start(&ns, true).await;
    let http = http();
    let quotas = |project: &str| format!("{}/v2/quotas/{project}", node.base);
    // Only an admin sets quotas; unknown resources are refused.
    let member = http
        .patch(quotas("racer"))
        .header("x-auth-project-id", "racer")
        .header("x-roles", "member")
        .json(&json!({"zones": 100}))
        .send()
        .await
        .expect("patch");
    assert_eq!(member.status().as_u16(), 403);
    let bad = http
        .patch(quotas("racer"))
        .json(&json!({"zonez": 1}))
        .send()
        .await
        .expect("patch");
    assert_eq!(bad.status().as_u16(), 400);
    let set = http
        .patch(quotas("racer"))
        .json(&json!({"zones": 2, "zone_recordsets": 3}))
        .send()
        .await
        .expect("patch");
    assert_eq!(set.status().as_u16(), 200);
    let body: serde_json::Value = set.json().await.expect("json");
    assert_eq!(body["zones"], 2);
    assert_eq!(
        body["recordset_records"], 20,
        "untouched resources keep their default: {body}"
    );
    // The project reads its own quotas.
    let response = http
        .get(format!("{}/v2/quotas", node.base))
        .header("x-auth-project-id", "racer")
        .header("x-roles", "reader")
        .send()
        .await
        .expect("get");
    assert_eq!(response.json::<serde_json::Value>().await.expect("json")["zones"], 2);
    // Eight racing creates for two slots: exactly two win.
    let mut tasks = Vec::new();
    for n in 0..8 {
        let base = node.base.clone();
        tasks.push(tokio::spawn(async move {
            let response = support::http()
                .post(format!("{base}/v2/zones"))
                .header("x-auth-project-id", "racer")
                .header("x-roles", "member")
                .json(&json!({"name": format!("race{n}.example.org."), "email": "a@example.org"}))
                .send()
                .await
                .expect("post");
            let status = response.status().as_u16();
            (status, response.json::<serde_json::Value>().await.expect("json"))
        }));
    }
    let mut created = Vec::new();
    for task in tasks {
        let (status, body) = task.await.expect("task");
        match status {
            202 => created.push(body["id"].as_str().expect("id").to_owned()),
            413 => assert_eq!(body["type"], "over_quota"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(created.len(), 2, "the zones quota held under the race");
    // zone_recordsets = 3: SOA and NS count, so one record set fits and a second does not.
    let zone: serde_json::Value = http
        .get(format!("{}/v2/zones/{}", node.base, created[0]))
        .header("x-auth-project-id", "racer")
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let zone_name = zone["name"].as_str().expect("name").to_owned();
    let rrsets = format!("{}/v2/zones/{}/recordsets", node.base, created[0]);
    let member = [("x-auth-project-id", "racer"), ("x-roles", "member")];
    let (status, body) = post_as(
        &http,
        &rrsets,
        &member,
        json!({"name": format!("a.{zone_name}"), "type": "A", "records": ["192.0.2.1"]}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = post_as(
        &http,
        &rrsets,
        &member,
        json!({"name": format!("b.{zone_name}"), "type": "A", "records": ["192.0.2.2"]}),
    )
    .await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["type"], "over_quota");
    let reset = http.delete(quotas("racer")).send().await.expect("delete");
    assert_eq!(reset.status().as_u16(), 204);
    let (_, body) = get(&http, &quotas("racer")).await;
    assert_eq!(
        body["zones"], -1,
        "back to the deployment's default (unlimited in tests)"
    );
    node.stop().await;
}

async fn call(
    http: &reqwest::Client,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = http.request(method, url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("send");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(serde_json::Value::Null))
}

/// Project B's member and reader against project A's zone and record set, on every endpoint and
/// method: nothing seen (404, never 403, so existence does not leak), nothing changed; readers
/// cannot write even in their own project; admin-only headers are refused to non-admins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_projects_can_neither_see_nor_change_a_zone() {
    let ns = namespace().await;
    let node = Node::start(&ns, true).await;
    let http = no_redirect_http();
    let base = &node.base;
    let owner = [("x-auth-project-id", "tenant-a"), ("x-roles", "member,reader")];
    let (status, zone) = call(
        &http,
        "POST",
        &format!("{base}/v2/zones"),
        &owner,
        Some(json!({"name": "owned.example.org.", "email": "a@example.org"})),
    )
    .await;
    assert_eq!(status, 202, "{zone}");
    let zone_id = zone["id"].as_str().expect("zone id").to_owned();
    let (status, recordset) = call(
        &http,
        "POST",
        &format!("{base}/v2/zones/{zone_id}/recordsets"),
        &owner,
        Some(json!({"name": "www.owned.example.org.", "type": "A", "records": ["192.0.2.1"]})),
    )
    .await;
    assert_eq!(status, 202, "{recordset}");
    let rs_id = recordset["id"].as_str().expect("recordset id").to_owned();
    let (_, before) = call(&http, "GET", &format!("{base}/v2/zones/{zone_id}"), &owner, None).await;

    let zone_url = format!("{base}/v2/zones/{zone_id}");
    let rs_url = format!("{zone_url}/recordsets/{rs_id}");
    let rs_body = json!({"name": "x.owned.example.org.", "type": "A", "records": ["192.0.2.9"]});
    // (method, url, body): every endpoint that names A's zone or record set.
    let targeted: Vec<(&str, String, Option<serde_json::Value>)> = vec![
        ("GET", zone_url.clone(), None),
        ("PATCH", zone_url.clone(), Some(json!({"ttl": 600}))),
        ("DELETE", zone_url.clone(), None),
        ("GET", format!("{zone_url}/nameservers"), None),
        ("GET", format!("{zone_url}/recordsets"), None),
        ("POST", format!("{zone_url}/recordsets"), Some(rs_body.clone())),
        ("GET", rs_url.clone(), None),
        ("PUT", rs_url.clone(), Some(json!({"records": ["192.0.2.66"]}))),
        ("DELETE", rs_url.clone(), None),
        ("GET", format!("{base}/v2/recordsets/{rs_id}"), None),
        ("GET", format!("{zone_url}/shares"), None),
        // B may not share A's zone with itself.
        (
            "POST",
            format!("{zone_url}/shares"),
            Some(json!({"target_project_id": "tenant-b"})),
        ),
        ("GET", format!("{zone_url}/shares/{}", uuid::Uuid::new_v4()), None),
        ("DELETE", format!("{zone_url}/shares/{}", uuid::Uuid::new_v4()), None),
    ];
    for roles in ["member", "reader"] {
        let other = [("x-auth-project-id", "tenant-b"), ("x-roles", roles)];
        for (method, url, body) in &targeted {
            let (status, error) = call(&http, method, url, &other, body.clone()).await;
            let allowed: &[u16] = if *method == "GET" || roles == "member" {
                &[404]
            } else {
                // A reader is refused any write before the zone is looked up, for every zone id.
                &[403]
            };
            assert!(
                allowed.contains(&status),
                "{roles} of tenant-b: {method} {url} answered {status} {error}"
            );
        }
        // Lists show nothing of A's.
        for url in [format!("{base}/v2/zones"), format!("{base}/v2/recordsets")] {
            let (status, list) = call(&http, "GET", &url, &other, None).await;
            assert_eq!(status, 200, "{url}: {list}");
            let text = list.to_string();
            assert!(
                !text.contains(&zone_id) && !text.contains(&rs_id),
                "{roles}: {url} shows A's data: {text}"
            );
        }
        let filtered = format!("{base}/v2/zones?name=owned.example.org.");
        let (_, list) = call(&http, "GET", &filtered, &other, None).await;
        assert_eq!(list["zones"], json!([]), "{roles}: a name filter finds A's zone");
        // Quotas: another project's are not readable or writable.
        let (status, _) = call(&http, "GET", &format!("{base}/v2/quotas/tenant-a"), &other, None).await;
        assert_eq!(status, 403, "{roles} read tenant-a's quotas");
        let (status, _) = call(
            &http,
            "PATCH",
            &format!("{base}/v2/quotas/tenant-a"),
            &other,
            Some(json!({"zones": 1000})),
        )
        .await;
        assert_eq!(status, 403, "{roles} changed tenant-a's quotas");
        // Admin-only headers are refused, not ignored.
        for header in [
            ("x-auth-all-projects", "true"),
            ("x-auth-sudo-project-id", "tenant-a"),
            ("x-auth-sudo-tenant-id", "tenant-a"),
            ("x-designate-edit-managed-records", "true"),
            ("x-designate-hard-delete", "true"),
        ] {
            let headers = [other[0], other[1], header];
            let (status, error) = call(&http, "GET", &zone_url, &headers, None).await;
            assert_eq!(status, 403, "{roles} with {header:?}: {error}");
            let (status, error) = call(&http, "GET", &format!("{base}/v2/zones"), &headers, None).await;
            assert_eq!(status, 403, "{roles} with {header:?} listing: {error}");
        }
    }
    // A's zone and record set are as they were.
    let (status, after) = call(&http, "GET", &zone_url, &owner, None).await;
    assert_eq!(status, 200);
    assert_eq!(after["version"], before["version"], "A's zone changed: {after}");
    assert_eq!(after["ttl"], before["ttl"]);
    let (status, rs_after) = call(&http, "GET", &rs_url, &owner, None).await;
    assert_eq!(status, 200, "{rs_after}");
    assert_eq!(rs_after["records"], json!(["192.0.2.1"]));
    let (_, list) = call(&http, "GET", &format!("{zone_url}/recordsets"), &owner, None).await;
    assert!(
        !list.to_string().contains("x.owned.example.org."),
        "B created a record set in A's zone: {list}"
    );
    // An admin with all-projects sees A's zone; the owner's reader sees it but cannot write.
    let admin = [
        ("x-auth-project-id", "ops"),
        ("x-roles", "admin"),
        ("x-auth-all-projects", "true"),
    ];
    let (status, _) = call(&http, "GET", &zone_url, &admin, None).await;
    assert_eq!(status, 200);
    let owner_reader = [("x-auth-project-id", "tenant-a"), ("x-roles", "reader")];
    for (method, url, body) in &targeted {
        if *method == "GET" {
            continue;
        }
        let (status, error) = call(&http, method, url, &owner_reader, body.clone()).await;
        assert_eq!(status, 403, "tenant-a reader: {method} {url}: {error}");
    }
    node.stop().await;
}

fn no_redirect_http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// What gophercloud (Terraform, ExternalDNS, cert-manager) relies on: timestamps in
/// `%Y-%m-%dT%H:%M:%S.%f` (no zone), and `links.next` pagination that visits each of 2,500 record
/// sets exactly once, at the default page size and at the largest.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gophercloud_walks_every_page_of_2500_recordsets_once() {
    let ns = namespace().await;
    let node = Node::start(&ns, true).await;
    let http = http();
    let base = node.base.clone();
    let zone_id = create_zone(&http, &base, "pages.example.org.").await;
    let (status, body) = call(
        &http,
        "PATCH",
        &format!("{base}/v2/quotas/noauth-project"),
        &[],
        Some(json!({"zone_recordsets": 3000, "zone_records": 3000})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    const COUNT: usize = 2500;
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let (http, base, zone_id) = (http.clone(), base.clone(), zone_id.clone());
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in (worker..COUNT).step_by(8) {
                let (status, body) = post(
                    &http,
                    &format!("{base}/v2/zones/{zone_id}/recordsets"),
                    json!({"name": format!("host{i:04}.pages.example.org."), "type": "A", "records": ["192.0.2.1"]}),
                )
                .await;
                assert_eq!(status, 202, "{body}");
                ids.push(body["id"].as_str().expect("id").to_owned());
            }
            ids
        }));
    }
    let mut created = std::collections::BTreeSet::new();
    for task in tasks {
        created.extend(task.await.expect("creator"));
    }
    assert_eq!(created.len(), COUNT);
    for first in [
        format!("{base}/v2/zones/{zone_id}/recordsets"),
        format!("{base}/v2/zones/{zone_id}/recordsets?limit=1000"),
        // Across zones (this project has only this one); `zone_id` is not among Designate's filters.
        format!("{base}/v2/recordsets?limit=max"),
        format!("{base}/v2/recordsets?limit=7&sort_key=name&sort_dir=desc"),
    ] {
        let mut seen = std::collections::BTreeMap::<String, usize>::new();
        let mut next = Some(first.clone());
        let mut pages = 0;
        let mut total_count = None;
        while let Some(url) = next {
            let (status, page) = get(&http, &url).await;
            assert_eq!(status, 200, "{url}: {page}");
            pages += 1;
            assert!(pages < 1000, "pagination does not end");
            for rs in page["recordsets"].as_array().expect("recordsets") {
                *seen.entry(rs["id"].as_str().expect("id").to_owned()).or_default() += 1;
                for field in ["created_at", "updated_at"] {
                    if let Some(ts) = rs[field].as_str() {
                        chrono::NaiveDateTime::parse_from_str(ts, "%Y-%m-%dT%H:%M:%S%.f")
                            .unwrap_or_else(|e| panic!("{field} {ts:?} is not gophercloud's format: {e}"));
                        assert!(!ts.ends_with('Z') && !ts.contains('+'), "{field} {ts:?} carries a zone");
                    }
                }
            }
            total_count = page["metadata"]["total_count"].as_u64().or(total_count);
            next = page["links"]["next"].as_str().map(str::to_owned);
        }
        let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "{first}: seen more than once: {twice:?}");
        let missing: Vec<_> = created.iter().filter(|id| !seen.contains_key(*id)).collect();
        assert!(missing.is_empty(), "{first}: {} never seen", missing.len());
        // The created ones plus the zone's managed SOA and NS.
        assert_eq!(seen.len(), COUNT + 2, "{first}");
        assert_eq!(total_count, Some((COUNT + 2) as u64), "{first}");
    }
    node.stop().await;
}

/// TLDs and blacklists (admin only): with TLDs configured a zone must sit under one and may not be
/// one; a blacklisted name is refused to members and allowed to admins; duplicates are 409.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tlds_and_blacklists_rule_zone_names() {
    let ns = namespace().await;
    let node = Node::start(&ns, true).await;
    let http = http();
    let base = &node.base;
    let admin = [("x-auth-project-id", "ops"), ("x-roles", "admin")];
    let member = [("x-auth-project-id", "tenant-a"), ("x-roles", "member")];
    let zone = |name: &str| Some(json!({"name": name, "email": "a@example.org"}));
    let zones = format!("{base}/v2/zones");
    // No TLDs yet: anything goes.
    let (status, body) = call(&http, "POST", &zones, &member, zone("free.example.com.")).await;
    assert_eq!(status, 202, "{body}");
    // Only admins manage TLDs.
    let tlds = format!("{base}/v2/tlds");
    let (status, _) = call(&http, "POST", &tlds, &member, Some(json!({"name": "org"}))).await;
    assert_eq!(status, 403);
    let (status, tld) = call(
        &http,
        "POST",
        &tlds,
        &admin,
        Some(json!({"name": "org", "description": "d"})),
    )
    .await;
    assert_eq!(status, 201, "{tld}");
    assert_eq!(tld["name"], "org");
    let (status, body) = call(&http, "POST", &tlds, &admin, Some(json!({"name": "org."}))).await;
    assert_eq!((status, body["type"].clone()), (409, json!("duplicate_tld")), "{body}");
    let (status, body) = call(&http, "POST", &tlds, &admin, Some(json!({"name": "not a name"}))).await;
    assert_eq!((status, body["type"].clone()), (400, json!("invalid_object")), "{body}");
    // Zones must now sit under a TLD.
    let (status, body) = call(&http, "POST", &zones, &member, zone("x.example.com.")).await;
    assert_eq!(
        (status, body["type"].clone()),
        (400, json!("invalid_zone_name")),
        "{body}"
    );
    let (status, body) = call(&http, "POST", &zones, &member, zone("y.example.org.")).await;
    assert_eq!(status, 202, "{body}");
    // Blacklists.
    let blacklists = format!("{base}/v2/blacklists");
    let (status, body) = call(&http, "POST", &blacklists, &admin, Some(json!({"pattern": "("}))).await;
    assert_eq!(status, 400, "{body}");
    let (status, entry) = call(&http, "POST", &blacklists, &admin, Some(json!({"pattern": "^bad\\."}))).await;
    assert_eq!(status, 201, "{entry}");
    let (status, body) = call(&http, "POST", &blacklists, &admin, Some(json!({"pattern": "^bad\\."}))).await;
    assert_eq!((status, body["type"].clone()), (409, json!("duplicate_blacklist")));
    let (status, body) = call(&http, "POST", &zones, &member, zone("bad.example.org.")).await;
    assert_eq!(
        (status, body["type"].clone()),
        (400, json!("invalid_zone_name")),
        "{body}"
    );
    let (status, body) = call(&http, "POST", &zones, &admin, zone("bad.example.org.")).await;
    assert_eq!(status, 202, "admins may use a blacklisted name: {body}");
    // Show, list, update, delete.
    let entry_url = format!("{blacklists}/{}", entry["id"].as_str().expect("id"));
    let (status, shown) = call(&http, "GET", &entry_url, &admin, None).await;
    assert_eq!((status, shown["pattern"].clone()), (200, json!("^bad\\.")));
    let (status, _) = call(&http, "GET", &entry_url, &member, None).await;
    assert_eq!(status, 403);
    let (status, changed) = call(
        &http,
        "PATCH",
        &entry_url,
        &admin,
        Some(json!({"pattern": "^worse\\."})),
    )
    .await;
    assert_eq!(
        (status, changed["pattern"].clone()),
        (200, json!("^worse\\.")),
        "{changed}"
    );
    let (status, body) = call(&http, "POST", &zones, &member, zone("bad.other.org.")).await;
    assert_eq!(status, 202, "the old pattern still applies: {body}");
    let (status, body) = call(&http, "POST", &zones, &member, zone("worse.other.org.")).await;
    assert_eq!(status, 400, "{body}");
    let (status, list) = call(&http, "GET", &blacklists, &admin, None).await;
    assert_eq!(status, 200);
    assert_eq!(list["blacklists"].as_array().map(Vec::len), Some(1), "{list}");
    let (status, _) = call(&http, "DELETE", &entry_url, &admin, None).await;
    assert_eq!(status, 204);
    let (status, _) = call(&http, "GET", &entry_url, &admin, None).await;
    assert_eq!(status, 404);
    let (status, body) = call(&http, "POST", &zones, &member, zone("worse.other.org.")).await;
    assert_eq!(status, 202, "{body}");
    // Without TLDs, other TLDs are allowed again.
    let tld_url = format!("{tlds}/{}", tld["id"].as_str().expect("id"));
    let (status, _) = call(&http, "DELETE", &tld_url, &admin, None).await;
    assert_eq!(status, 204);
    let (status, body) = call(&http, "POST", &zones, &member, zone("x.example.com.")).await;
    assert_eq!(status, 202, "{body}");
    node.stop().await;
}

/// Zone attributes: string key/values kept from create through the event to the read model.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zone_attributes_are_kept() {
    let ns = namespace().await;
    let node = Node::start(&ns, true).await;
    let http = http();
    let zones = format!("{}/v2/zones", node.base);
    let attributes = json!({"service_tier": "gold", "region": "eu-1"});
    let (status, zone) = call(
        &http,
        "POST",
        &zones,
        &[],
        Some(json!({"name": "attrs.example.org.", "email": "a@example.org", "attributes": attributes})),
    )
    .await;
    assert_eq!(status, 202, "{zone}");
    assert_eq!(zone["attributes"], attributes);
    let (status, shown) = get(&http, &format!("{zones}/{}", zone["id"].as_str().expect("id"))).await;
    assert_eq!(status, 200);
    assert_eq!(shown["attributes"], attributes, "{shown}");
    for bad in [json!({"tier": 3}), json!({"": "x"}), json!(["a"])] {
        let (status, body) = call(
            &http,
            "POST",
            &zones,
            &[],
            Some(json!({"name": "bad-attrs.example.org.", "email": "a@example.org", "attributes": bad})),
        )
        .await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    node.stop().await;
}

/// Shared zones: the owner shares a zone with project B, which then sees it, lists it and manages
/// its own record sets in it (not the owner's, not the zone); project C still sees nothing; a
/// shared zone is deleted only with its shares.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_zone_is_seen_and_used_by_the_project_it_is_shared_with() {
    let ns = namespace().await;
    let node = Node::start(&ns, true).await;
    let http = no_redirect_http();
    let base = &node.base;
    let owner = [("x-auth-project-id", "owner"), ("x-roles", "member")];
    let guest = [("x-auth-project-id", "guest"), ("x-roles", "member")];
    let stranger = [("x-auth-project-id", "stranger"), ("x-roles", "member")];
    let (status, zone) = call(
        &http,
        "POST",
        &format!("{base}/v2/zones"),
        &owner,
        Some(json!({"name": "shared.example.org.", "email": "a@example.org"})),
    )
    .await;
    assert_eq!(status, 202, "{zone}");
    let zone_url = format!("{base}/v2/zones/{}", zone["id"].as_str().expect("id"));
    let (status, owners_rs) = call(
        &http,
        "POST",
        &format!("{zone_url}/recordsets"),
        &owner,
        Some(json!({"name": "owner.shared.example.org.", "type": "A", "records": ["192.0.2.1"]})),
    )
    .await;
    assert_eq!(status, 202, "{owners_rs}");
    // Before sharing, the guest sees nothing.
    let (status, _) = call(&http, "GET", &zone_url, &guest, None).await;
    assert_eq!(status, 404);
    // Only the owner shares; not with itself; not twice.
    let shares = format!("{zone_url}/shares");
    let (status, _) = call(
        &http,
        "POST",
        &shares,
        &guest,
        Some(json!({"target_project_id": "guest"})),
    )
    .await;
    assert_eq!(status, 404);
    let (status, body) = call(
        &http,
        "POST",
        &shares,
        &owner,
        Some(json!({"target_project_id": "owner"})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, share) = call(
        &http,
        "POST",
        &shares,
        &owner,
        Some(json!({"target_project_id": "guest"})),
    )
    .await;
    assert_eq!(status, 201, "{share}");
    assert_eq!(share["target_project_id"], "guest");
    let (status, body) = call(
        &http,
        "POST",
        &shares,
        &owner,
        Some(json!({"target_project_id": "guest"})),
    )
    .await;
    assert_eq!(
        (status, body["type"].clone()),
        (409, json!("duplicate_zone_share")),
        "{body}"
    );
    // The guest sees the zone (shared), in lists too; the stranger does not.
    let (status, shown) = call(&http, "GET", &zone_url, &guest, None).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["shared"], true);
    let (_, list) = call(&http, "GET", &format!("{base}/v2/zones"), &guest, None).await;
    assert_eq!(list["zones"].as_array().map(Vec::len), Some(1), "{list}");
    let (status, _) = call(&http, "GET", &zone_url, &stranger, None).await;
    assert_eq!(status, 404);
    // The guest manages its own record sets in the zone, not the owner's, and not the zone.
    let (status, guests_rs) = call(
        &http,
        "POST",
        &format!("{zone_url}/recordsets"),
        &guest,
        Some(json!({"name": "guest.shared.example.org.", "type": "A", "records": ["192.0.2.2"]})),
    )
    .await;
    assert_eq!(status, 202, "{guests_rs}");
    assert_eq!(guests_rs["project_id"], "guest");
    let guest_rs_url = format!("{zone_url}/recordsets/{}", guests_rs["id"].as_str().expect("id"));
    let (status, body) = call(
        &http,
        "PUT",
        &guest_rs_url,
        &guest,
        Some(json!({"records": ["192.0.2.3"]})),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let owner_rs_url = format!("{zone_url}/recordsets/{}", owners_rs["id"].as_str().expect("id"));
    let (status, _) = call(
        &http,
        "PUT",
        &owner_rs_url,
        &guest,
        Some(json!({"records": ["192.0.2.9"]})),
    )
    .await;
    assert_eq!(status, 404, "the guest changed the owner's record set");
    let (status, _) = call(&http, "DELETE", &owner_rs_url, &guest, None).await;
    assert_eq!(status, 404);
    let (status, _) = call(&http, "PATCH", &zone_url, &guest, Some(json!({"ttl": 60}))).await;
    assert_eq!(status, 404);
    let (status, _) = call(&http, "DELETE", &zone_url, &guest, None).await;
    assert_eq!(status, 404);
    // Both see the zone's record sets; the owner manages the guest's.
    let (_, list) = call(&http, "GET", &format!("{zone_url}/recordsets"), &guest, None).await;
    assert_eq!(
        list["metadata"]["total_count"], 4,
        "SOA, NS and both record sets: {list}"
    );
    let (_, list) = call(&http, "GET", &format!("{zone_url}/recordsets"), &owner, None).await;
    assert_eq!(list["metadata"]["total_count"], 4, "{list}");
    let (_, list) = call(&http, "GET", &format!("{base}/v2/recordsets"), &stranger, None).await;
    assert_eq!(list["recordsets"], json!([]));
    // Deleting a shared zone needs its shares to go too.
    let (status, body) = call(&http, "DELETE", &zone_url, &owner, None).await;
    assert_eq!(
        (status, body["type"].clone()),
        (400, json!("zone_has_shares")),
        "{body}"
    );
    // Unsharing: the guest loses sight of the zone.
    let share_url = format!("{shares}/{}", share["id"].as_str().expect("id"));
    let (status, listed) = call(&http, "GET", &shares, &owner, None).await;
    assert_eq!(
        (status, listed["shared_zones"].as_array().map(Vec::len)),
        (200, Some(1))
    );
    let (status, _) = call(&http, "DELETE", &share_url, &guest, None).await;
    assert_eq!(status, 404, "the guest removed the owner's share");
    let (status, _) = call(&http, "DELETE", &share_url, &owner, None).await;
    assert_eq!(status, 204);
    let (status, _) = call(&http, "GET", &zone_url, &guest, None).await;
    assert_eq!(status, 404);
    // Shared again, then deleted with delete_shares=true.
    let (status, _) = call(
        &http,
        "POST",
        &shares,
        &owner,
        Some(json!({"target_project_id": "guest"})),
    )
    .await;
    assert_eq!(status, 201);
    let (status, body) = call(&http, "DELETE", &format!("{zone_url}?delete_shares=true"), &owner, None).await;
    assert_eq!(status, 202, "{body}");
    node.stop().await;
}

/// Managed record sets (apex NS) change only for an admin with `X-Designate-Edit-Managed-Records`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managed_recordsets_change_only_with_the_edit_managed_header() {
    let ns = namespace().await;
    let node = Node::start(&ns, true).await;
    let http = http();
    let zone_id = create_zone(&http, &node.base, "managed.example.org.").await;
    let (_, list) = get(&http, &format!("{}/v2/zones/{zone_id}/recordsets?type=NS", node.base)).await;
    let ns_id = list["recordsets"][0]["id"].as_str().expect("apex NS").to_owned();
    let url = format!("{}/v2/zones/{zone_id}/recordsets/{ns_id}", node.base);
    let body = Some(json!({"records": ["ns1.example.net.", "ns2.example.net."]}));
    let admin = [("x-roles", "admin")];
    let (status, error) = call(&http, "PUT", &url, &admin, body.clone()).await;
    assert_eq!(status, 400, "{error}");
    let edit = [("x-roles", "admin"), ("x-designate-edit-managed-records", "true")];
    let (status, changed) = call(&http, "PUT", &url, &edit, body).await;
    assert_eq!(status, 202, "{changed}");
    assert_eq!(changed["records"], json!(["ns1.example.net.", "ns2.example.net."]));
    let (status, shown) = get(&http, &url).await;
    assert_eq!(
        (status, shown["records"].clone()),
        (200, json!(["ns1.example.net.", "ns2.example.net."]))
    );
    node.stop().await;
}
