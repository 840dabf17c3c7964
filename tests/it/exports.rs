//! Zone exports: `POST /v2/zones/{id}/tasks/export`, the exports list, show and delete, and the zone
//! file at the serial of the export (later changes do not leak in), per project, within
//! `api_export_size`.

use nsplane_testkit::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_is_the_zone_file_at_its_serial_for_its_project_only() {
    let ns = namespace().await;
    let node = Node::start(&ns, true).await;
    let http = http();
    let base = &node.base;
    let owner = [("x-auth-project-id", "exporter"), ("x-roles", "member")];
    let other = [("x-auth-project-id", "someone-else"), ("x-roles", "member")];
    let operator = [
        ("x-auth-project-id", "ops"),
        ("x-roles", "admin"),
        ("x-auth-all-projects", "true"),
    ];
    let (status, zone) = call(
        &http,
        "POST",
        &format!("{base}/v2/zones"),
        &owner,
        Some(json!({"name": "exported.example.org.", "email": "h@example.org", "ttl": 600})),
    )
    .await;
    assert_eq!(status, 202, "{zone}");
    let zone_id = zone["id"].as_str().expect("id").to_owned();
    let recordsets = format!("{base}/v2/zones/{zone_id}/recordsets");
    for (name, ip) in [("www", "192.0.2.1"), ("mail", "192.0.2.2")] {
        let (status, body) = call(
            &http,
            "POST",
            &recordsets,
            &owner,
            Some(json!({"name": format!("{name}.exported.example.org."), "type": "A", "records": [ip]})),
        )
        .await;
        assert_eq!(status, 202, "{body}");
    }
    let (_, zone) = call(&http, "GET", &format!("{base}/v2/zones/{zone_id}"), &owner, None).await;
    let serial = zone["serial"].as_u64().expect("serial");

    let export_url = format!("{base}/v2/zones/{zone_id}/tasks/export");
    let (status, body) = call(&http, "POST", &export_url, &other, None).await;
    assert_eq!((status, body["type"].clone()), (404, json!("zone_not_found")), "{body}");
    let (status, export) = call(&http, "POST", &export_url, &owner, None).await;
    assert_eq!(status, 202, "{export}");
    assert_eq!(export["status"], "COMPLETE");
    assert_eq!(export["zone_id"], zone_id.as_str());
    let id = export["id"].as_str().expect("id").to_owned();
    assert_eq!(
        export["location"],
        format!("designate://v2/zones/tasks/exports/{id}/export")
    );

    // A change after the export is not in its file.
    let (status, _) = call(
        &http,
        "POST",
        &recordsets,
        &owner,
        Some(json!({"name": "late.exported.example.org.", "type": "A", "records": ["192.0.2.3"]})),
    )
    .await;
    assert_eq!(status, 202);
    let file_url = format!("{base}/v2/zones/tasks/exports/{id}/export");
    let response = http
        .get(&file_url)
        .header("x-auth-project-id", "exporter")
        .header("x-roles", "member")
        .send()
        .await
        .expect("GET export");
    assert_eq!(response.status(), 200);
    assert!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/dns")),
        "{:?}",
        response.headers()
    );
    let text = response.text().await.expect("body");
    assert!(text.contains("$ORIGIN exported.example.org."), "{text}");
    assert!(
        text.contains(&format!(" {serial} ")),
        "the SOA at the export's serial {serial}:\n{text}"
    );
    assert!(
        text.contains("www.exported.example.org.") && text.contains("192.0.2.1"),
        "{text}"
    );
    assert!(
        text.contains("mail.exported.example.org.") && text.contains("192.0.2.2"),
        "{text}"
    );
    assert!(
        !text.contains("late.exported.example.org."),
        "a later change leaked in:\n{text}"
    );

    // Listed and shown for the owner (and all projects), not for another project.
    let exports = format!("{base}/v2/zones/tasks/exports");
    let (_, list) = call(&http, "GET", &exports, &owner, None).await;
    assert_eq!(list["exports"].as_array().map(Vec::len), Some(1), "{list}");
    let (_, list) = call(&http, "GET", &exports, &other, None).await;
    assert_eq!(list["exports"], json!([]), "{list}");
    let (_, list) = call(&http, "GET", &exports, &operator, None).await;
    assert_eq!(list["exports"].as_array().map(Vec::len), Some(1), "{list}");
    let show = format!("{exports}/{id}");
    let (status, _) = call(&http, "GET", &show, &other, None).await;
    assert_eq!(status, 404);
    let (status, _) = call(&http, "GET", &file_url, &other, None).await;
    assert_eq!(status, 404);
    let (status, _) = call(&http, "DELETE", &show, &other, None).await;
    assert_eq!(status, 404, "another project cannot delete it");

    // api_export_size: a zone with more record sets than the quota is refused.
    let (status, body) = call(
        &http,
        "PATCH",
        &format!("{base}/v2/quotas/exporter"),
        &operator,
        Some(json!({"api_export_size": 2})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(&http, "POST", &export_url, &owner, None).await;
    assert_eq!((status, body["type"].clone()), (413, json!("over_quota")), "{body}");

    let (status, _) = call(&http, "DELETE", &show, &owner, None).await;
    assert_eq!(status, 204);
    let (status, body) = call(&http, "GET", &show, &owner, None).await;
    assert_eq!(
        (status, body["type"].clone()),
        (404, json!("zone_export_not_found")),
        "{body}"
    );
    let (status, _) = call(&http, "DELETE", &show, &owner, None).await;
    assert_eq!(status, 404);
    node.stop().await;
}
