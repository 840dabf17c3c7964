//! Runs the real `nsplane` binary's tools against a test namespace.

use std::process::{Command, Stdio};

use nsplane_testkit::{servers, Namespace};

/// `nsplane <tool> --nats-url .. --database-url .. --prefix .. <args>` on the namespace, not run yet.
pub(crate) fn command(ns: &Namespace, tool: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_nsplane"));
    command.args([
        tool,
        "--nats-url",
        &servers::servers().nats.url,
        "--database-url",
        &ns.database_url,
        "--prefix",
        &ns.prefix,
    ]);
    command.args(args);
    command
}

/// Runs `nsplane <tool> <args>` to its end: whether it succeeded, and its stdout (its stderr goes to
/// the test's output when it fails).
pub(crate) async fn run(ns: &Namespace, tool: &str, args: &[&str]) -> (bool, String) {
    let mut command = command(ns, tool, args);
    tokio::task::spawn_blocking(move || {
        let output = command.stdin(Stdio::null()).output().expect("run nsplane");
        if !output.status.success() {
            eprintln!("nsplane failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    })
    .await
    .expect("nsplane")
}

/// Runs `nsplane <tool> <args>` with extra environment variables to its end: its exit code (`None`
/// when a signal or an abort ended it) and its stdout.
pub(crate) async fn run_env(ns: &Namespace, tool: &str, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut command = command(ns, tool, args);
    for (key, value) in env {
        command.env(key, value);
    }
    tokio::task::spawn_blocking(move || {
        let output = command.stdin(Stdio::null()).output().expect("run nsplane");
        if !output.status.success() {
            eprintln!(
                "nsplane ended with {}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    })
    .await
    .expect("nsplane")
}
