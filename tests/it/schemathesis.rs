//! schemathesis (PyPI, pinned, installed by scripts/setup.sh) generates requests from the API's own
//! `/openapi.json` and checks every answer: no 5xx, status codes, content types and bodies as the
//! document says. Also: every operation in the document is routed.

use std::process::Command;

use nsplane_testkit::*;

fn schemathesis_binary() -> std::path::PathBuf {
    if let Ok(path) = std::env::var("NSPLANE_SCHEMATHESIS") {
        return path.into();
    }
    let tools =
        std::env::var("HOME").map(|h| std::path::PathBuf::from(h).join(".cache/nsplane/tools/bin/schemathesis"));
    match tools {
        Ok(path) if path.exists() => path,
        _ => "schemathesis".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_is_routed() {
    let ns = namespace().await;
    let node = Node::start(&ns, true).await;
    let http = http();
    let (status, doc) = get(&http, &format!("{}/openapi.json", node.base)).await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{doc}");
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() >= 10, "only {} paths documented", paths.len());
    let mut operations = 0;
    for (path, item) in paths {
        let url = format!(
            "{}{}",
            node.base,
            path.replace("{zone_id}", &uuid::Uuid::new_v4().to_string())
                .replace("{recordset_id}", &uuid::Uuid::new_v4().to_string())
                .replace("{project_id}", "someone")
        );
        for method in item.as_object().expect("path item").keys() {
            operations += 1;
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let response = http
                .request(method.clone(), &url)
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .expect("send");
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            // The router's fallbacks answer `not_found` / 405; handlers answer with their own types.
            assert_ne!(status, 405, "{method} {path} is documented but not routed");
            assert!(
                !(status == 404 && body["type"] == "not_found"),
                "{method} {path} is documented but not routed"
            );
        }
    }
    assert!(operations >= 19, "{operations} operations");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_schema_violation() {
    let ns = namespace().await;
    let node = Node::start(&ns, true).await;
    let report = tempfile::tempdir().expect("report dir");
    let base = node.base.clone();
    let binary = schemathesis_binary();
    let report_dir = report.path().to_owned();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(binary)
            .arg("run")
            .arg(format!("{base}/openapi.json"))
            .args(["--url", &base])
            .args([
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            ])
            .args(["--phases", "examples,coverage,fuzzing"])
            .args(["--max-examples", "30", "--seed", "20261124", "--workers", "1"])
            .args(["--request-timeout", "20", "--max-redirects", "0", "--no-color"])
            .args(["-H", "X-Auth-Project-ID: fuzz-project", "-H", "X-Roles: admin"])
            .arg("--report-dir")
            .arg(&report_dir)
            .env("HOME", &report_dir)
            .current_dir(&report_dir)
            .output()
            .expect("run schemathesis (scripts/setup.sh installs it)")
    })
    .await
    .expect("schemathesis task");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{stdout}");
    assert!(
        output.status.success(),
        "schemathesis failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    // It must have tested every operation, not skipped them.
    let tested = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("Tested: "))
        .and_then(|n| n.trim().parse::<usize>().ok());
    assert!(
        tested.is_some_and(|n| n >= 19),
        "operations tested: {tested:?}\n{stdout}"
    );
    let cases = stdout
        .lines()
        .find_map(|l| l.trim().split_once(" generated, "))
        .map(|(generated, passed)| (generated.trim().to_owned(), passed.trim().to_owned()));
    let (generated, passed) = cases.unwrap_or_else(|| panic!("no test-case summary:\n{stdout}"));
    assert_eq!(
        format!("{generated} passed"),
        passed,
        "not every case passed:\n{stdout}"
    );
    assert!(
        generated.parse::<usize>().is_ok_and(|n| n >= 200),
        "{generated} cases:\n{stdout}"
    );
    node.stop().await;
}
