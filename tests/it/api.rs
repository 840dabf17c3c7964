//! API behaviour beyond the write path and tenancy: the nameservers and limits endpoints, the
//! record-set redirect, quotas, gophercloud-shaped paging, TLDs and blacklists, zone attributes and
//! managed record sets.

use nsplane_testkit::*;
use serde_json::json;

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
    // The deployment's quota defaults (the test API's `zones` is unlimited).
    assert_eq!(body["max_zones"], -1, "{body}");
    assert_eq!(body["max_zone_recordsets"], 500, "{body}");
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
    // A project id with a line break (schemathesis found one reaching a NATS header) is refused.
    let (status, body) = call(
        &http,
        "PATCH",
        &quotas("bad%0D%0Aproject"),
        &[("x-auth-project-id", "ops"), ("x-roles", "admin")],
        Some(json!({"zones": 5})),
    )
    .await;
    assert_eq!(
        (status, body["type"].clone()),
        (400, json!("invalid_project")),
        "{body}"
    );
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
            let response = nsplane_testkit::http()
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
    let (status, body) = call(
        &http,
        "POST",
        &rrsets,
        &member,
        Some(json!({"name": format!("a.{zone_name}"), "type": "A", "records": ["192.0.2.1"]})),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = call(
        &http,
        "POST",
        &rrsets,
        &member,
        Some(json!({"name": format!("b.{zone_name}"), "type": "A", "records": ["192.0.2.2"]})),
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
    let (status, body) = call(&http, "POST", &tlds, &admin, Some(json!({"name": "ORG"}))).await;
    assert_eq!((status, body["type"].clone()), (409, json!("duplicate_tld")), "{body}");
    let (status, body) = call(&http, "POST", &tlds, &admin, Some(json!({"name": "net."}))).await;
    assert_eq!(
        (status, body["type"].clone()),
        (400, json!("invalid_object")),
        "a TLD has no trailing dot, as in Designate: {body}"
    );
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

/// `tasks/abandon` (admin): the zone is gone at once, with no delete pushed, its name free again; the
/// audit trail names the command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_abandons_a_zone() {
    let ns = namespace().await;
    let node = Node::start(&ns, true).await;
    let http = http();
    let base = &node.base;
    let member = [("x-auth-project-id", "tenant-a"), ("x-roles", "member")];
    let operator = [
        ("x-auth-project-id", "ops"),
        ("x-roles", "admin"),
        ("x-auth-all-projects", "true"),
    ];
    let body = || Some(json!({"name": "abandoned.example.org.", "email": "h@example.org"}));
    let (status, zone) = call(&http, "POST", &format!("{base}/v2/zones"), &member, body()).await;
    assert_eq!(status, 202, "{zone}");
    let zone_id = zone["id"].as_str().expect("id").to_owned();
    let abandon = format!("{base}/v2/zones/{zone_id}/tasks/abandon");
    let (status, _) = call(&http, "POST", &abandon, &member, None).await;
    assert_eq!(status, 403, "only admins abandon");
    let (status, _) = call(&http, "POST", &abandon, &operator, None).await;
    assert_eq!(status, 204);
    let (status, _) = call(&http, "GET", &format!("{base}/v2/zones/{zone_id}"), &member, None).await;
    assert_eq!(status, 404);
    let (status, _) = call(&http, "POST", &abandon, &operator, None).await;
    assert_eq!(status, 404, "a gone zone cannot be abandoned again");
    let (status, again) = call(&http, "POST", &format!("{base}/v2/zones"), &member, body()).await;
    assert_eq!(status, 202, "the name is free again: {again}");
    let (_, audit) = call(
        &http,
        "GET",
        &format!("{base}/v2/audit_events?zone_id={zone_id}&event_type=ZoneDeleted"),
        &operator,
        None,
    )
    .await;
    assert_eq!(audit["audit_events"][0]["command"], "AbandonZone", "{audit}");
    node.stop().await;
}
