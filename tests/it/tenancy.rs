//! Tenancy in noauth mode: roles (reader, member, admin, sudo), the cross-tenant matrix (another
//! project neither sees nor changes a zone, on every endpoint) and shared zones.

use nsplane_testkit::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_decide_who_may_write_and_impersonate() {
    let ns = namespace().await;
    let node = Node::start(&ns, true).await;
    let http = http();
    let zones = format!("{}/v2/zones", node.base);
    let body = |name: &str| json!({"name": name, "email": "a@example.org"});
    // A reader may not write; a member may.
    let reader = [("x-auth-project-id", "p1"), ("x-roles", "reader")];
    let (status, error) = call(&http, "POST", &zones, &reader, Some(body("reader.example.org."))).await;
    assert_eq!(status, 403, "{error}");
    assert_eq!(error["type"], "forbidden");
    let member = [("x-auth-project-id", "p1"), ("x-roles", "member,reader")];
    let (status, zone) = call(&http, "POST", &zones, &member, Some(body("member.example.org."))).await;
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
    let (status, _) = call(&http, "POST", &zones, &sudo_member, Some(body("sudo1.example.org."))).await;
    assert_eq!(status, 403);
    let sudo_admin = [
        ("x-auth-project-id", "ops"),
        ("x-roles", "admin"),
        ("x-auth-sudo-project-id", "p2"),
    ];
    let (status, zone) = call(&http, "POST", &zones, &sudo_admin, Some(body("sudo2.example.org."))).await;
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
