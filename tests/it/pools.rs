//! `/v2/pools` and the scheduler: admins read the committed pools; a zone goes to the default pool
//! unless an admin pins another with `attributes.pool_id` (a member may not; an unknown pool is 404
//! `no_valid_pool_found`, as Designate's `pool_id_attribute` filter answers).

use nsplane_testkit::*;
use serde_json::{json, Value};

const WAIT: std::time::Duration = std::time::Duration::from_secs(10);
const SECOND: &str = "0f7e6c3a-2b1d-4e5f-9a8b-7c6d5e4f3a2b";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_read_the_pools_and_pin_a_zone_to_one() {
    let ns = namespace().await;
    let node = Node::start(&ns, true).await;
    let http = http();
    let base = &node.base;
    let admin = [("x-auth-project-id", "ops"), ("x-roles", "admin")];
    let member = [("x-auth-project-id", "tenant-a"), ("x-roles", "member")];
    let yaml = format!(
        "- name: default\n  description: the default pool\n  ns_records:\n    - hostname: ns1.example.net.\n      priority: 1\n\
         - id: {SECOND}\n  name: second\n  attributes:\n    tier: gold\n  ns_records:\n    - hostname: ns2.second.example.net.\n      priority: 1\n"
    );
    nsplane_command::PoolsStore::new(node.shared.store.clone())
        .update(&yaml, nsplane_schema::Metadata::service("test"))
        .await
        .expect("commit pools");

    let (status, _) = call(&http, "GET", &format!("{base}/v2/pools"), &member, None).await;
    assert_eq!(status, 403);
    let (status, list) = call(&http, "GET", &format!("{base}/v2/pools"), &admin, None).await;
    assert_eq!(status, 200, "{list}");
    let names: Vec<&str> = list["pools"]
        .as_array()
        .expect("pools")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(names, ["default", "second"], "{list}");
    let (status, second) = call(&http, "GET", &format!("{base}/v2/pools/{SECOND}"), &admin, None).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["attributes"], json!({"tier": "gold"}));
    assert_eq!(second["ns_records"][0]["hostname"], "ns2.second.example.net.");
    assert_eq!(second["ns_records"][0]["priority"], 1);
    let (_, filtered) = call(&http, "GET", &format!("{base}/v2/pools?name=second"), &admin, None).await;
    assert_eq!(filtered["pools"].as_array().map(Vec::len), Some(1), "{filtered}");
    let unknown = uuid::Uuid::new_v4();
    let (status, body) = call(&http, "GET", &format!("{base}/v2/pools/{unknown}"), &admin, None).await;
    assert_eq!((status, body["type"].clone()), (404, json!("pool_not_found")), "{body}");

    let zones = format!("{base}/v2/zones");
    let pinned =
        |name: &str, pool: &str| Some(json!({"name": name, "email": "h@example.org", "attributes": {"pool_id": pool}}));
    let (status, body) = call(&http, "POST", &zones, &member, pinned("m.example.org.", SECOND)).await;
    assert_eq!(status, 403, "only admins pin a pool: {body}");
    let (status, body) = call(
        &http,
        "POST",
        &zones,
        &admin,
        pinned("u.example.org.", &unknown.to_string()),
    )
    .await;
    assert_eq!(
        (status, body["type"].clone()),
        (404, json!("no_valid_pool_found")),
        "{body}"
    );
    // The API follows the committed pools as they change: the new pool is there within moments.
    let answer = std::sync::Arc::new(std::sync::Mutex::new(Value::Null));
    eventually("the API schedules onto the new pool", WAIT, || {
        let (http, zones, answer) = (http.clone(), zones.clone(), answer.clone());
        async move {
            let (status, body) = call(&http, "POST", &zones, &admin, pinned("gold.example.org.", SECOND)).await;
            *answer.lock().expect("lock") = body;
            status == 202
        }
    })
    .await;
    let zone = answer.lock().expect("lock").clone();
    assert_eq!(zone["pool_id"], SECOND, "{zone}");
    let zone_id = zone["id"].as_str().expect("id");
    let (_, ns) = call(
        &http,
        "GET",
        &format!("{base}/v2/zones/{zone_id}/recordsets?type=NS"),
        &admin,
        None,
    )
    .await;
    assert_eq!(
        ns["recordsets"][0]["records"],
        json!(["ns2.second.example.net."]),
        "{ns}"
    );
    let (status, plain) = call(
        &http,
        "POST",
        &zones,
        &member,
        Some(json!({"name": "plain.example.org.", "email": "h@example.org"})),
    )
    .await;
    assert_eq!(status, 202, "{plain}");
    assert_eq!(
        plain["pool_id"],
        Value::String(nsplane_schema::ids::DEFAULT_POOL_ID.0.to_string())
    );
    node.stop().await;
}
