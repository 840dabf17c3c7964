//! Keystone mode against a real Keystone (PyPI `keystone`, SQLite, started by scripts/keystone.sh):
//! no token or a bad one is 401, project and roles come from the token and never from headers,
//! readers cannot write, other projects see 404, an unscoped token is 401 `missing_project_id`, and a
//! revoked token stops working once the cache's time is up.

use std::time::Duration;

use nsplane_testkit::*;
use serde_json::{json, Value};

struct Keystone {
    url: String,
    dir: tempfile::TempDir,
}

impl Drop for Keystone {
    fn drop(&mut self) {
        let _ = std::process::Command::new("bash")
            .arg(script())
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

fn script() -> std::path::PathBuf {
    std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into()))
        .join("scripts/keystone.sh")
}

fn start_keystone() -> Keystone {
    let dir = tempfile::tempdir().expect("keystone dir");
    let port = nsplane_runtime::devmode::free_port().expect("port");
    let output = std::process::Command::new("bash")
        .arg(script())
        .arg("start")
        .arg(dir.path())
        .arg(port.to_string())
        .output()
        .expect("run scripts/keystone.sh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "keystone did not start:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let url = stdout
        .lines()
        .find_map(|l| l.strip_prefix("KEYSTONE_URL="))
        .expect("KEYSTONE_URL line")
        .trim()
        .to_owned();
    Keystone { url, dir }
}

/// A token for `user`, scoped to `project` (or unscoped).
async fn token(http: &reqwest::Client, keystone: &str, user: &str, project: Option<&str>) -> (String, Value) {
    let mut auth = json!({"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "password": "secret", "domain": {"name": "Default"}
    }}}});
    auth["scope"] = match project {
        Some(project) => json!({"project": {"name": project, "domain": {"name": "Default"}}}),
        // Explicitly unscoped, whatever the user's default project.
        None => json!("unscoped"),
    };
    let response = http
        .post(format!("{keystone}/auth/tokens?nocatalog"))
        .json(&json!({ "auth": auth }))
        .send()
        .await
        .expect("keystone auth");
    assert_eq!(response.status().as_u16(), 201, "token for {user}");
    let token = response.headers()["x-subject-token"]
        .to_str()
        .expect("token")
        .to_owned();
    (token, response.json().await.expect("token body"))
}

async fn call_keeping_headers(
    http: &reqwest::Client,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut request = http.request(reqwest::Method::from_bytes(method.as_bytes()).expect("method"), url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("send");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keystone_tokens_decide_project_and_roles() {
    let keystone = tokio::task::spawn_blocking(start_keystone).await.expect("keystone");
    let ns = namespace().await;
    let mut config = api_config();
    config.auth = nsplane_api::AuthStrategy::Keystone(nsplane_api::KeystoneConfig {
        url: keystone.url.clone(),
        username: "nsplane".into(),
        password: "nsplane-secret".into(),
        project_name: "service".into(),
        user_domain_name: "Default".into(),
        project_domain_name: "Default".into(),
        cache_ttl: Duration::from_secs(1),
        cache_size: 100,
        timeout: Duration::from_secs(10),
    });
    let node = Node::start_with(&ns, true, config).await;
    let http = http();
    let zones = format!("{}/v2/zones", node.base);
    let zone_body = json!({"name": "keystone.example.org.", "email": "a@example.org"});

    // No token, a made-up token: 401 with keystonemiddleware's challenge, headers or not.
    let noauth = [("x-auth-project-id", "alpha"), ("x-roles", "admin")];
    let (status, headers, body) = call_keeping_headers(&http, "GET", &zones, &noauth, None).await;
    assert_eq!(status, 401, "{body}");
    let challenge = headers["www-authenticate"].to_str().expect("challenge");
    assert!(challenge.starts_with("Keystone uri="), "{challenge}");
    let (status, _, _) = call_keeping_headers(&http, "GET", &zones, &[("x-auth-token", "gAAAAAnotatoken")], None).await;
    assert_eq!(status, 401);

    let (member, member_body) = token(&http, &keystone.url, "alpha-member", Some("alpha")).await;
    let alpha_id = member_body["token"]["project"]["id"]
        .as_str()
        .expect("project id")
        .to_owned();
    let (reader, _) = token(&http, &keystone.url, "alpha-reader", Some("alpha")).await;
    let (beta, _) = token(&http, &keystone.url, "beta-member", Some("beta")).await;
    let (cloud_admin, _) = token(&http, &keystone.url, "cloud-admin", Some("alpha")).await;
    let (unscoped, _) = token(&http, &keystone.url, "alpha-member", None).await;

    // The member's zone belongs to the token's project, whatever the headers claim.
    let as_member = [("x-auth-token", member.as_str()), ("x-auth-project-id", "beta")];
    let (status, _, zone) = call_keeping_headers(&http, "POST", &zones, &as_member, Some(zone_body.clone())).await;
    assert_eq!(status, 202, "{zone}");
    assert_eq!(zone["project_id"], json!(alpha_id));
    let zone_url = format!("{zones}/{}", zone["id"].as_str().expect("id"));
    // X-Roles cannot make a member an admin.
    let spoof = [
        ("x-auth-token", member.as_str()),
        ("x-roles", "admin"),
        ("x-auth-all-projects", "true"),
    ];
    let (status, _, body) = call_keeping_headers(&http, "GET", &zones, &spoof, None).await;
    assert_eq!(status, 403, "{body}");
    // The reader reads but cannot write.
    let as_reader = [("x-auth-token", reader.as_str())];
    let (status, _, _) = call_keeping_headers(&http, "GET", &zone_url, &as_reader, None).await;
    assert_eq!(status, 200);
    let (status, _, _) = call_keeping_headers(&http, "PATCH", &zone_url, &as_reader, Some(json!({"ttl": 600}))).await;
    assert_eq!(status, 403);
    // Another project does not see it.
    let as_beta = [("x-auth-token", beta.as_str())];
    let (status, _, _) = call_keeping_headers(&http, "GET", &zone_url, &as_beta, None).await;
    assert_eq!(status, 404);
    let (status, _, list) = call_keeping_headers(&http, "GET", &zones, &as_beta, None).await;
    assert_eq!((status, list["zones"].clone()), (200, json!([])));
    // An admin token may look across projects.
    let as_admin = [("x-auth-token", cloud_admin.as_str()), ("x-auth-all-projects", "true")];
    let (status, _, list) = call_keeping_headers(&http, "GET", &zones, &as_admin, None).await;
    assert_eq!(status, 200);
    assert_eq!(list["zones"].as_array().map(Vec::len), Some(1), "{list}");
    // A token without a project.
    let (status, _, body) =
        call_keeping_headers(&http, "GET", &zones, &[("x-auth-token", unscoped.as_str())], None).await;
    assert_eq!(
        (status, body["type"].clone()),
        (401, json!("missing_project_id")),
        "{body}"
    );

    // Revoked: refused once the cached answer (1 s here) has expired.
    let response = http
        .delete(format!("{}/auth/tokens", keystone.url))
        .header("x-auth-token", &cloud_admin)
        .header("x-subject-token", &member)
        .send()
        .await
        .expect("revoke");
    assert_eq!(response.status().as_u16(), 204, "revocation");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, _, _) = call_keeping_headers(&http, "GET", &zones, &[("x-auth-token", member.as_str())], None).await;
    assert_eq!(status, 401, "a revoked token still works");
    node.stop().await;
}
