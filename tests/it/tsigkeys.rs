//! `/v2/tsigkeys`: Designate's rules (admin only, known algorithms, no empty secret, an existing pool or
//! zone for the scope, unique names), the list's filters, and the secret kept out of the audit trail.

use nsplane_testkit::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tsig_keys_follow_designates_rules_and_their_secrets_stay_out_of_the_audit_trail() {
    let ns = namespace().await;
    let node = Node::start(&ns, true).await;
    let http = http();
    let base = &node.base;
    let admin = [("x-auth-project-id", "ops"), ("x-roles", "admin")];
    let member = [("x-auth-project-id", "tenant-a"), ("x-roles", "member")];
    let operator = [
        ("x-auth-project-id", "ops"),
        ("x-roles", "admin"),
        ("x-auth-all-projects", "true"),
    ];
    let keys = format!("{base}/v2/tsigkeys");
    let secret = "c2VjcmV0LW9mLXRoZS1wb29sLWtleQ==";
    let default_pool = nsplane_schema::ids::DEFAULT_POOL_ID.0.to_string();
    let pool_key = json!({"name": "pool-key", "algorithm": "hmac-sha256", "secret": secret,
        "scope": "POOL", "resource_id": default_pool});

    let (status, _) = call(&http, "POST", &keys, &member, Some(pool_key.clone())).await;
    assert_eq!(status, 403, "only admins manage TSIG keys");
    let (status, _) = call(&http, "GET", &keys, &member, None).await;
    assert_eq!(status, 403);

    let (status, created) = call(&http, "POST", &keys, &admin, Some(pool_key.clone())).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["name"], "pool-key");
    assert_eq!(created["algorithm"], "hmac-sha256");
    assert_eq!(created["secret"], secret, "admins see the secret, as in Designate");
    assert_eq!(created["scope"], "POOL");
    assert_eq!(created["resource_id"], default_pool.as_str());
    let id = created["id"].as_str().expect("id").to_owned();
    let key_url = format!("{keys}/{id}");

    let (status, body) = call(&http, "POST", &keys, &admin, Some(pool_key.clone())).await;
    assert_eq!(
        (status, body["type"].clone()),
        (409, json!("duplicate_tsigkey")),
        "{body}"
    );
    for (field, value) in [
        ("algorithm", json!("hmac-sha3")),
        ("secret", json!("")),
        ("scope", json!("TENANT")),
        ("resource_id", json!("not-a-uuid")),
        ("resource_id", json!(uuid::Uuid::new_v4().to_string())),
    ] {
        let mut body = pool_key.clone();
        body["name"] = json!("other-key");
        body[field] = value.clone();
        let (status, answer) = call(&http, "POST", &keys, &admin, Some(body)).await;
        assert_eq!(
            (status, answer["type"].clone()),
            (400, json!("invalid_object")),
            "{field}={value}: {answer}"
        );
    }
    let (status, answer) = call(
        &http,
        "POST",
        &keys,
        &admin,
        Some(json!({"name": "no-scope",
        "algorithm": "hmac-sha1", "secret": secret})),
    )
    .await;
    assert_eq!(status, 400, "{answer}");

    // A ZONE key names an existing zone.
    let (status, zone) = call(
        &http,
        "POST",
        &format!("{base}/v2/zones"),
        &member,
        Some(json!({"name": "tsig.example.org.", "email": "a@example.org"})),
    )
    .await;
    assert_eq!(status, 202, "{zone}");
    let zone_id = zone["id"].as_str().expect("zone id");
    let (status, zone_key) = call(
        &http,
        "POST",
        &keys,
        &admin,
        Some(json!({"name": "zone-key",
        "algorithm": "hmac-sha512", "secret": "em9uZS1zZWNyZXQ=", "scope": "ZONE", "resource_id": zone_id})),
    )
    .await;
    assert_eq!(status, 201, "{zone_key}");

    let (status, list) = call(&http, "GET", &keys, &admin, None).await;
    assert_eq!(status, 200);
    assert_eq!(list["tsigkeys"].as_array().map(Vec::len), Some(2), "{list}");
    assert_eq!(list["metadata"]["total_count"], 2);
    let (_, list) = call(&http, "GET", &format!("{keys}?scope=ZONE"), &admin, None).await;
    let names: Vec<&str> = list["tsigkeys"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|k| k["name"].as_str())
        .collect();
    assert_eq!(names, ["zone-key"], "{list}");

    // Rename, then a rename onto another key's name.
    let (status, changed) = call(&http, "PATCH", &key_url, &admin, Some(json!({"name": "pool-key-2"}))).await;
    assert_eq!(
        (status, changed["name"].clone()),
        (200, json!("pool-key-2")),
        "{changed}"
    );
    assert_eq!(changed["secret"], secret, "an update keeps what it does not name");
    let (status, body) = call(&http, "PATCH", &key_url, &admin, Some(json!({"name": "zone-key"}))).await;
    assert_eq!(
        (status, body["type"].clone()),
        (409, json!("duplicate_tsigkey")),
        "{body}"
    );
    let (status, shown) = call(&http, "GET", &key_url, &admin, None).await;
    assert_eq!((status, shown["name"].clone()), (200, json!("pool-key-2")));

    // Every change is in the audit trail, without the secret.
    let (status, audit) = call(
        &http,
        "GET",
        &format!("{base}/v2/audit_events?event_type=TsigKeyCreated"),
        &operator,
        None,
    )
    .await;
    assert_eq!(status, 200, "{audit}");
    assert_eq!(audit["audit_events"].as_array().map(Vec::len), Some(2), "{audit}");
    let (_, updates) = call(
        &http,
        "GET",
        &format!("{base}/v2/audit_events?event_type=TsigKeyUpdated"),
        &operator,
        None,
    )
    .await;
    assert_eq!(updates["audit_events"].as_array().map(Vec::len), Some(1), "{updates}");
    for text in [audit.to_string(), updates.to_string()] {
        assert!(!text.contains(secret), "a secret in the audit trail: {text}");
        assert!(
            !text.contains("em9uZS1zZWNyZXQ="),
            "a secret in the audit trail: {text}"
        );
    }
    let pg = node.shared.pool.get().await.expect("PostgreSQL");
    let rows = pg
        .query(
            "SELECT payload::text FROM audit_events WHERE aggregate_type = 'tsigkey'",
            &[],
        )
        .await
        .expect("audit rows");
    assert_eq!(rows.len(), 3);
    for row in rows {
        let payload: String = row.get(0);
        assert!(payload.contains("<redacted>") && !payload.contains(secret), "{payload}");
    }

    let (status, _) = call(&http, "DELETE", &key_url, &admin, None).await;
    assert_eq!(status, 204);
    let (status, body) = call(&http, "GET", &key_url, &admin, None).await;
    assert_eq!(
        (status, body["type"].clone()),
        (404, json!("tsigkey_not_found")),
        "{body}"
    );
    let (status, _) = call(&http, "DELETE", &key_url, &admin, None).await;
    assert_eq!(status, 404);
    node.stop().await;
}
