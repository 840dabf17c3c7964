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
