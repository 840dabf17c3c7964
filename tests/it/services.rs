//! Service statuses from the real binary's heartbeats: `nsplane all` shows its five roles UP (and the
//! openstack CLI lists them); a worker stopped by SIGTERM reads STOPPED, one killed with `kill -9`
//! turns DOWN once its heartbeats stop; only admins may look.

use std::process::{Command, Stdio};
use std::time::Duration;

use nsplane_testkit::process::ProcessGuard;
use nsplane_testkit::*;
use serde_json::Value;

const ADMIN: [(&str, &str); 1] = [("x-roles", "admin")];

fn worker(ns: &Namespace) -> ProcessGuard {
    let log = std::env::temp_dir().join(format!("nsplane-worker-{}.log", uuid::Uuid::new_v4()));
    let child = Command::new(env!("CARGO_BIN_EXE_nsplane"))
        .args(["worker", "--nats-url", &servers::servers().nats.url])
        .args(["--database-url", &ns.database_url, "--prefix", &ns.prefix])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("start nsplane worker");
    ProcessGuard::new("nsplane-worker", child, Some(log))
}

fn signal(guard: &ProcessGuard, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &guard.pid().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

async fn statuses(http: &reqwest::Client, base: &str, query: &str) -> Vec<Value> {
    let (status, body) = call(http, "GET", &format!("{base}/v2/service_statuses{query}"), &ADMIN, None).await;
    assert_eq!(status, 200, "{body}");
    body["service_statuses"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_instance_heartbeats_and_a_silent_one_turns_down() {
    let ns = namespace().await;
    let (_all, base) = crate::supervision::nsplane_all(&ns, &ns.database_url, "");
    crate::supervision::wait_for_api(&base).await;
    let http = http();
    let wait = Duration::from_secs(30);
    eventually("nsplane all's five roles are UP", wait, || async {
        let mut names: Vec<String> = statuses(&http, &base, "")
            .await
            .iter()
            .filter(|s| s["status"] == "UP")
            .map(|s| s["service_name"].as_str().unwrap_or_default().to_owned())
            .collect();
        names.sort();
        names == ["api", "central", "mdns", "producer", "worker"]
    })
    .await;
    let all = statuses(&http, &base, "").await;
    let host = nsplane_command::services::hostname();
    assert!(all.iter().all(|s| s["hostname"] == host.as_str()), "{all:?}");
    let central = statuses(&http, &base, "?service_name=central").await;
    assert_eq!(central.len(), 1);
    let id = central[0]["id"].as_str().expect("id");
    let (status, shown) = call(&http, "GET", &format!("{base}/v2/service_statuses/{id}"), &ADMIN, None).await;
    assert_eq!(
        (status, shown["service_name"].clone()),
        (200, Value::from("central")),
        "{shown}"
    );
    let (status, body) = call(&http, "GET", &format!("{base}/v2/service_statuses/nope"), &ADMIN, None).await;
    assert_eq!(
        (status, body["type"].clone()),
        (404, Value::from("service_status_not_found"))
    );
    let member = [("x-roles", "member"), ("x-auth-project-id", "p1")];
    let (status, _) = call(&http, "GET", &format!("{base}/v2/service_statuses"), &member, None).await;
    assert_eq!(status, 403, "admins only");
    let (status, _) = call(
        &http,
        "GET",
        &format!("{base}/v2/service_statuses?colour=blue"),
        &ADMIN,
        None,
    )
    .await;
    assert_eq!(status, 400);

    // The openstack CLI lists them.
    let listed = {
        let base = base.clone();
        tokio::task::spawn_blocking(move || crate::openstack_cli::openstack(&base, &["dns", "service", "list"], true))
            .await
            .expect("cli")
    };
    let names: Vec<&str> = listed
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|s| s["service_name"].as_str())
        .collect();
    assert!(names.contains(&"central") && names.contains(&"mdns"), "{listed}");

    // Two more workers: one stops cleanly, one is killed.
    let stopping = worker(&ns);
    let killed = worker(&ns);
    eventually("three workers are UP", wait, || async {
        statuses(&http, &base, "?service_name=worker&status=UP").await.len() == 3
    })
    .await;
    signal(&stopping, "-TERM");
    eventually("the stopped worker reads STOPPED", wait, || async {
        statuses(&http, &base, "?service_name=worker&status=STOPPED")
            .await
            .len()
            == 1
    })
    .await;
    signal(&killed, "-KILL");
    eventually("the killed worker turns DOWN", wait, || async {
        statuses(&http, &base, "?service_name=worker&status=DOWN").await.len() == 1
    })
    .await;
    assert_eq!(
        statuses(&http, &base, "?service_name=worker&status=UP").await.len(),
        1,
        "nsplane all's own worker is still UP"
    );
}
