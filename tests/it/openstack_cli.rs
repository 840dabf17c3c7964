//! The real openstack CLI (python-openstackclient + python-designateclient, pinned and installed by
//! scripts/setup.sh) against nsplane, with `--os-auth-type none` as operators use it against a noauth
//! Designate: zones and record sets created, listed, shown, changed and deleted, outputs parsed.

use std::process::Command;

use nsplane_testkit::*;
use serde_json::Value;

fn openstack_binary() -> std::path::PathBuf {
    if let Ok(path) = std::env::var("NSPLANE_OPENSTACK") {
        return path.into();
    }
    let tools = std::env::var("HOME").map(|h| std::path::PathBuf::from(h).join(".cache/nsplane/tools/bin/openstack"));
    match tools {
        Ok(path) if path.exists() => path,
        _ => "openstack".into(),
    }
}

/// Runs `openstack <args> -f json` (or plain when `json` is false) against the API.
pub(crate) fn openstack(base: &str, args: &[&str], json: bool) -> Value {
    let mut command = Command::new(openstack_binary());
    command
        .args(["--os-auth-type", "none", "--os-endpoint", &format!("{base}/v2")])
        .args(args);
    if json {
        command.args(["-f", "json"]);
    }
    let output = command
        .output()
        .expect("the openstack CLI (scripts/setup.sh installs it)");
    assert!(
        output.status.success(),
        "openstack {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if json {
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "openstack {args:?} printed no JSON ({e}): {}",
                String::from_utf8_lossy(&output.stdout)
            )
        })
    } else {
        Value::String(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openstack_cli_manages_zones_and_recordsets() {
    let ns = namespace().await;
    let node = Node::start(&ns, true).await;
    let base = node.base.clone();
    // The CLI blocks; run it off the async runtime.
    let run = |args: Vec<&'static str>, json: bool| {
        let base = base.clone();
        tokio::task::spawn_blocking(move || openstack(&base, &args, json))
    };
    let created = run(
        vec![
            "zone",
            "create",
            "--email",
            "hostmaster@cli.example.org",
            "--ttl",
            "600",
            "cli.example.org.",
        ],
        true,
    )
    .await
    .expect("cli");
    assert_eq!(created["name"], "cli.example.org.");
    assert_eq!(created["status"], "PENDING");
    assert_eq!(created["ttl"], 600);
    let listed = run(vec!["zone", "list"], true).await.expect("cli");
    assert!(
        listed
            .as_array()
            .expect("list")
            .iter()
            .any(|z| z["name"] == "cli.example.org."),
        "{listed}"
    );
    let shown = run(vec!["zone", "show", "cli.example.org."], true).await.expect("cli");
    assert_eq!(shown["email"], "hostmaster@cli.example.org");
    let changed = run(
        vec![
            "zone",
            "set",
            "--ttl",
            "900",
            "--description",
            "changed by the CLI",
            "cli.example.org.",
        ],
        true,
    )
    .await
    .expect("cli");
    assert_eq!(changed["ttl"], 900);
    assert_eq!(changed["description"], "changed by the CLI");

    let a = run(
        vec![
            "recordset",
            "create",
            "--type",
            "A",
            "--record",
            "192.0.2.1",
            "--record",
            "192.0.2.2",
            "cli.example.org.",
            "www",
        ],
        true,
    )
    .await
    .expect("cli");
    assert_eq!(a["name"], "www.cli.example.org.");
    assert_eq!(a["type"], "A");
    let txt = run(
        vec![
            "recordset",
            "create",
            "--type",
            "TXT",
            "--record",
            "\"hello world\"",
            "cli.example.org.",
            "txt",
        ],
        true,
    )
    .await
    .expect("cli");
    assert_eq!(txt["records"], "\"hello world\"");
    let mx = run(
        vec![
            "recordset",
            "create",
            "--type",
            "MX",
            "--record",
            "10 mail.cli.example.org.",
            "cli.example.org.",
            "cli.example.org.",
        ],
        true,
    )
    .await
    .expect("cli");
    assert_eq!(mx["type"], "MX");
    let records = run(vec!["recordset", "list", "cli.example.org."], true)
        .await
        .expect("cli");
    let types: Vec<&str> = records
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|r| r["type"].as_str())
        .collect();
    for expected in ["SOA", "NS", "A", "TXT", "MX"] {
        assert!(types.contains(&expected), "{expected} missing from {records}");
    }
    let shown = run(
        vec!["recordset", "show", "cli.example.org.", "www.cli.example.org."],
        true,
    )
    .await
    .expect("cli");
    assert!(
        shown["records"]
            .as_str()
            .is_some_and(|r| r.contains("192.0.2.1") && r.contains("192.0.2.2")),
        "{shown}"
    );
    let changed = run(
        vec![
            "recordset",
            "set",
            "--record",
            "192.0.2.9",
            "--ttl",
            "120",
            "cli.example.org.",
            "www.cli.example.org.",
        ],
        true,
    )
    .await
    .expect("cli");
    assert_eq!(changed["records"], "192.0.2.9");
    assert_eq!(changed["ttl"], 120);
    run(
        vec!["recordset", "delete", "cli.example.org.", "www.cli.example.org."],
        false,
    )
    .await
    .expect("cli");
    let records = run(vec!["recordset", "list", "cli.example.org.", "--type", "A"], true)
        .await
        .expect("cli");
    assert_eq!(records.as_array().expect("list").len(), 0, "{records}");
    run(vec!["zone", "delete", "cli.example.org."], false)
        .await
        .expect("cli");
    let shown = run(vec!["zone", "show", "cli.example.org."], true).await.expect("cli");
    assert_eq!(shown["action"], "DELETE");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openstack_cli_reads_limits_and_quotas_and_manages_tlds_and_blacklists() {
    let ns = namespace().await;
    let node = Node::start(&ns, true).await;
    let base = node.base.clone();
    let run = |args: Vec<&'static str>| {
        let base = base.clone();
        tokio::task::spawn_blocking(move || openstack(&base, &args, true))
    };
    let limits = run(vec!["dns", "limit", "list"]).await.expect("cli");
    let text = limits.to_string();
    assert!(text.contains("max_page_limit") && text.contains("1000"), "{text}");
    let quotas = run(vec!["dns", "quota", "list"]).await.expect("cli");
    assert_eq!(quotas["zones"], -1, "the tests' zones quota: {quotas}");
    assert_eq!(quotas["recordset_records"], 20, "{quotas}");
    let tld = run(vec!["tld", "create", "--name", "org", "--description", "for tests"])
        .await
        .expect("cli");
    assert_eq!(tld["name"], "org");
    let tlds = run(vec!["tld", "list"]).await.expect("cli");
    assert_eq!(tlds.as_array().map(Vec::len), Some(1), "{tlds}");
    let blacklist = run(vec!["zone", "blacklist", "create", "--pattern", "^evil\\."])
        .await
        .expect("cli");
    assert_eq!(blacklist["pattern"], "^evil\\.");
    let blacklists = run(vec!["zone", "blacklist", "list"]).await.expect("cli");
    assert_eq!(blacklists[0]["pattern"], "^evil\\.", "{blacklists}");
    // The rules hold for zones created through the CLI too (as a member: admins may use blacklisted names).
    let (status, body) = member_creates(&base, "evil.example.org.").await;
    assert_eq!(
        (status, body["type"].clone()),
        (400, serde_json::json!("invalid_zone_name"))
    );
    let (status, body) = member_creates(&base, "fine.example.com.").await;
    assert_eq!(
        (status, body["type"].clone()),
        (400, serde_json::json!("invalid_zone_name")),
        "not under a TLD"
    );
    let id = tld["id"].as_str().expect("id");
    let base2 = base.clone();
    let id2 = id.to_owned();
    tokio::task::spawn_blocking(move || openstack(&base2, &["tld", "delete", &id2], false))
        .await
        .expect("cli");
    let tlds = run(vec!["tld", "list"]).await.expect("cli");
    assert_eq!(tlds, serde_json::json!([]));
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openstack_cli_manages_tsig_keys() {
    let ns = namespace().await;
    let node = Node::start(&ns, true).await;
    let base = node.base.clone();
    let run = |args: Vec<String>, json: bool| {
        let base = base.clone();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            openstack(&base, &args, json)
        })
    };
    let args = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let pool = nsplane_schema::ids::DEFAULT_POOL_ID.0.to_string();
    let key = run(
        args(&[
            "tsigkey",
            "create",
            "--name",
            "cli-key",
            "--algorithm",
            "hmac-sha512",
            "--secret",
            "Y2xpLWtleS1zZWNyZXQ=",
            "--scope",
            "POOL",
            "--resource-id",
            &pool,
        ]),
        true,
    )
    .await
    .expect("cli");
    assert_eq!(key["name"], "cli-key", "{key}");
    assert_eq!(key["algorithm"], "hmac-sha512");
    assert_eq!(key["scope"], "POOL");
    let id = key["id"].as_str().expect("id").to_owned();
    let list = run(args(&["tsigkey", "list"]), true).await.expect("cli");
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    let changed = run(args(&["tsigkey", "set", &id, "--name", "cli-key-2"]), true)
        .await
        .expect("cli");
    assert_eq!(changed["name"], "cli-key-2", "{changed}");
    let shown = run(args(&["tsigkey", "show", &id]), true).await.expect("cli");
    assert_eq!(shown["name"], "cli-key-2", "{shown}");
    run(args(&["tsigkey", "delete", &id]), false).await.expect("cli");
    let list = run(args(&["tsigkey", "list"]), true).await.expect("cli");
    assert_eq!(list, serde_json::json!([]));
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openstack_cli_imports_and_exports_zones() {
    let ns = namespace().await;
    let node = Node::start(&ns, true).await;
    let base = node.base.clone();
    let run = |args: Vec<String>, json: bool| {
        let base = base.clone();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            openstack(&base, &args, json)
        })
    };
    let dir = std::env::temp_dir().join(format!("nsplane-cli-import-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("cli.example.org.zone");
    std::fs::write(
        &file,
        "$ORIGIN cli.example.org.\n$TTL 600\n@ SOA ns1 admin 1 3600 600 86400 300\nwww A 192.0.2.80\n",
    )
    .expect("zone file");
    let path = file.display().to_string();
    let import = run(vec!["zone".into(), "import".into(), "create".into(), path], true)
        .await
        .expect("cli");
    assert_eq!(import["status"], "COMPLETE", "{import}");
    let zone_id = import["zone_id"].as_str().expect("zone id").to_owned();
    let imports = run(vec!["zone".into(), "import".into(), "list".into()], true)
        .await
        .expect("cli");
    assert_eq!(imports.as_array().map(Vec::len), Some(1), "{imports}");
    let export = run(vec!["zone".into(), "export".into(), "create".into(), zone_id], true)
        .await
        .expect("cli");
    let export_id = export["id"].as_str().expect("export id").to_owned();
    let shown = run(vec!["zone".into(), "export".into(), "showfile".into(), export_id], true)
        .await
        .expect("cli");
    let text = shown.to_string();
    assert!(
        text.contains("www.cli.example.org.") && text.contains("192.0.2.80"),
        "the exported file: {text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    node.stop().await;
}

async fn member_creates(base: &str, zone: &str) -> (u16, Value) {
    let member = [("x-auth-project-id", "cli-member"), ("x-roles", "member")];
    let body = serde_json::json!({"name": zone, "email": "a@example.org"});
    call(&http(), "POST", &format!("{base}/v2/zones"), &member, Some(body)).await
}
