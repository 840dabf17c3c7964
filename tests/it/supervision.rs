//! `nsplane all` as an operator runs it, the real binary: a role that fails for good ends the process
//! with that role's error and a non-zero exit; an outage a role rides out by retrying (PostgreSQL
//! restarting) does not stop anything; a signal stops it cleanly.

use std::process::{Command, Stdio};
use std::time::Duration;

use nsplane_runtime::devmode::{free_port, LocalPostgres};
use nsplane_testkit::process::ProcessGuard;
use nsplane_testkit::*;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(60);

/// `nsplane all` against the namespace's NATS and `database_url`, every role, on free ports.
pub(crate) fn nsplane_all(ns: &Namespace, database_url: &str, failpoints: &str) -> (ProcessGuard, String) {
    let api = format!("127.0.0.1:{}", free_port().expect("port"));
    let log = std::env::temp_dir().join(format!("nsplane-all-{}.log", uuid::Uuid::new_v4()));
    let child = Command::new(env!("CARGO_BIN_EXE_nsplane"))
        .args([
            "all",
            "--nats-url",
            &servers::servers().nats.url,
            "--database-url",
            database_url,
        ])
        .args([
            "--prefix",
            &ns.prefix,
            "--api-listen",
            &api,
            "--mdns-listen",
            "127.0.0.1:0",
        ])
        .env("NSPLANE_FAILPOINTS", failpoints)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("start nsplane all");
    (
        ProcessGuard::new("nsplane-all", child, Some(log)),
        format!("http://{api}"),
    )
}

pub(crate) async fn wait_for_api(base: &str) {
    let http = http();
    eventually("the API answers", WAIT, || async {
        http.get(format!("{base}/")).send().await.is_ok()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_that_fails_for_good_stops_nsplane_all_with_its_error() {
    let ns = namespace().await;
    // The first commit central takes (the pool configuration `nsplane all` commits at start) hits the
    // armed failpoint.
    let (mut process, _base) = nsplane_all(&ns, &ns.database_url, "central.batch");
    let status = tokio::task::spawn_blocking(move || {
        let status = process.wait_exit(WAIT);
        (status, process)
    })
    .await
    .expect("wait");
    let (status, process) = status;
    let status = status.expect("nsplane all exits when central fails for good");
    assert!(!status.success(), "exits non-zero: {status}");
    let log = process.log();
    assert!(log.contains("role central failed"), "names the role: {log}");
    assert!(
        log.contains("failpoint central.batch"),
        "carries the role's error: {log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nsplane_all_rides_out_a_postgres_restart_and_stops_cleanly() {
    let ns = namespace().await;
    let dir = std::env::temp_dir().join(format!("nsplane-pg-restart-{}", uuid::Uuid::new_v4()));
    let port = free_port().expect("port");
    let postgres = LocalPostgres::start(&dir, port).expect("postgres");
    let database_url = postgres.ensure_database("nsplane").await.expect("database");
    let (mut process, base) = nsplane_all(&ns, &database_url, "");
    wait_for_api(&base).await;
    let http = http();
    let zone_id = create_zone(&http, &base, "restart.example.org.").await;
    // PostgreSQL goes away for a few seconds and comes back on the same port with the same data.
    drop(postgres);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        process.wait_exit(Duration::ZERO).is_none(),
        "a PostgreSQL outage does not stop nsplane all"
    );
    let (status, body) = get(&http, &format!("{base}/v2/zones")).await;
    assert_eq!(
        status, 503,
        "a list without its database is unavailable, not an error: {body}"
    );
    assert_eq!(body["code"], 503, "Designate's error shape: {body}");
    let postgres = LocalPostgres::start(&dir, port).expect("postgres again");
    let (status, _) = post(
        &http,
        &format!("{base}/v2/zones/{zone_id}/recordsets"),
        json!({"name": "www.restart.example.org.", "type": "A", "records": ["192.0.2.7"]}),
    )
    .await;
    assert_eq!(status, 202);
    eventually("the change is projected after the restart", WAIT, || async {
        let (status, list) = get(&http, &format!("{base}/v2/zones/{zone_id}/recordsets?type=A")).await;
        status == 200 && list["metadata"]["total_count"] == 1
    })
    .await;
    assert!(process.wait_exit(Duration::ZERO).is_none(), "still running");
    // SIGTERM: every role drains and the process exits 0.
    let pid = i32::try_from(process.pid()).expect("pid");
    let killed = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let (status, process) = tokio::task::spawn_blocking(move || (process.wait_exit(WAIT), process))
        .await
        .expect("wait");
    let status = status.expect("stops on SIGTERM");
    assert!(status.success(), "a clean stop exits 0: {status}\n{}", process.log());
    drop(postgres);
    let _ = std::fs::remove_dir_all(dir);
}
