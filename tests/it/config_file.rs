//! `--config FILE` on the real binary: the repository's example file is valid for every role; a key no
//! role has is refused with its name; flags and `NSPLANE_*` variables win over the file; a secret comes
//! from a file.

use std::process::{Command, Stdio};

/// Runs `nsplane <args>` with `env` (and no NSPLANE_* of the test's own): exit success and stderr.
fn nsplane(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_nsplane"));
    command.args(args).stdin(Stdio::null()).env("RUST_LOG", "info");
    for (key, _) in std::env::vars() {
        if key.starts_with("NSPLANE_") {
            command.env_remove(key);
        }
    }
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("run nsplane");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn the_config_file_sets_flags_refuses_unknown_keys_and_yields_to_flags() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/etc/nsplane.toml");
    for role in ["api", "central", "mdns", "worker", "producer", "sink"] {
        let (ok, err) = nsplane(&[role, "--config", example, "--check-config"], &[]);
        assert!(ok, "{role} refuses the example file: {err}");
        assert!(err.contains("configuration is valid"), "{err}");
    }
    // Without the file the URLs are missing.
    let (ok, err) = nsplane(&["central", "--check-config"], &[]);
    assert!(!ok && err.contains("no NATS URL"), "{err}");

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("nsplane.toml");
    let secret = dir.path().join("database-url");
    std::fs::write(&secret, "postgres://nsplane@127.0.0.1:5432/from_the_secret_file\n").expect("write");
    let write = |body: &str| std::fs::write(&file, body).expect("write");
    let path = file.to_string_lossy().into_owned();

    write(&format!(
        "nats_url = \"nats://127.0.0.1:4222\"\ndatabase_url_file = \"{}\"\n[api]\napi_listen = \"not an address\"\n",
        secret.display()
    ));
    let (ok, err) = nsplane(&["api", "--config", &path, "--check-config"], &[]);
    assert!(!ok && err.contains("not an address"), "the file's value is used: {err}");
    let (ok, err) = nsplane(
        &[
            "api",
            "--config",
            &path,
            "--check-config",
            "--api-listen",
            "127.0.0.1:0",
        ],
        &[],
    );
    assert!(ok, "a flag wins over the file: {err}");
    let (ok, err) = nsplane(
        &["api", "--config", &path, "--check-config"],
        &[("NSPLANE_API_LISTEN", "127.0.0.1:0")],
    );
    assert!(ok, "a variable wins over the file: {err}");
    assert!(
        err.contains("from_the_secret_file"),
        "the secret file's URL is used: {err}"
    );

    write("nats_url = \"nats://127.0.0.1:4222\"\ndatabase_ulr = \"postgres://x\"\n");
    let (ok, err) = nsplane(&["central", "--config", &path, "--check-config"], &[]);
    assert!(
        !ok && err.contains("\"database_ulr\""),
        "the unknown key is named: {err}"
    );
}
