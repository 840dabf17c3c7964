//! Tidy checks that keep the layout honest: the dependency direction between crates, who may touch
//! what (only `projection` queries the read models, only `dataplane` speaks DNS wire, only `command`
//! appends, `api` and `dataplane` never depend on each other), a `//!` line at the top of every Rust
//! file, and no ignored tests.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    // Read at run time: a test binary reused from a clone at another path must not look there.
    PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()))
}

/// The `[dependencies]` names of a manifest (not dev-dependencies).
fn dependencies(manifest: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(manifest).expect("manifest");
    let mut in_deps = false;
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps {
            if let Some((name, _)) = line.split_once('=') {
                out.push(name.trim().trim_end_matches(".workspace").to_owned());
            }
        }
    }
    out
}

/// The production crates: what ships in the `nsplane` binary.
const PRODUCTION: [&str; 10] = [
    ".",
    "schema",
    "runtime",
    "command",
    "projection",
    "dataplane",
    "producer",
    "notify",
    "sink",
    "api",
];

#[test]
fn dependencies_point_one_way() {
    let root = root();
    let io_and_frameworks = [
        "async-nats",
        "tokio-postgres",
        "deadpool-postgres",
        "axum",
        "tokio",
        "cqrs-es",
    ];
    let dns_wire = ["hickory-server", "hickory-proto"];
    let database = ["tokio-postgres", "deadpool-postgres"];
    let forbidden: Vec<(&str, Vec<&str>)> = vec![
        (
            "schema",
            [
                &[
                    "nsplane-command",
                    "nsplane-projection",
                    "nsplane-api",
                    "nsplane-runtime",
                ][..],
                &io_and_frameworks,
                &dns_wire,
            ]
            .concat(),
        ),
        (
            "runtime",
            vec![
                "nsplane-schema",
                "nsplane-command",
                "nsplane-projection",
                "nsplane-api",
                "nsplane-dataplane",
                "nsplane-producer",
                "nsplane-notify",
            ],
        ),
        (
            "command",
            [
                &[
                    "nsplane-projection",
                    "nsplane-api",
                    "nsplane-dataplane",
                    "nsplane-producer",
                    "nsplane-notify",
                    "axum",
                ][..],
                &database,
                &dns_wire,
            ]
            .concat(),
        ),
        (
            "projection",
            [
                &[
                    "nsplane-command",
                    "nsplane-api",
                    "nsplane-dataplane",
                    "nsplane-producer",
                    "nsplane-notify",
                    "axum",
                    "cqrs-es",
                ][..],
                &dns_wire,
            ]
            .concat(),
        ),
        (
            "api",
            [
                &["nsplane-dataplane", "nsplane-producer", "nsplane-notify"][..],
                &database,
                &dns_wire,
            ]
            .concat(),
        ),
        (
            "dataplane",
            [
                &["nsplane-api", "nsplane-producer", "nsplane-notify", "axum"][..],
                &database,
            ]
            .concat(),
        ),
        (
            "producer",
            [
                &["nsplane-api", "nsplane-dataplane", "axum", "async-nats"][..],
                &database,
                &dns_wire,
            ]
            .concat(),
        ),
        (
            "notify",
            [
                &[
                    "nsplane-projection",
                    "nsplane-api",
                    "nsplane-dataplane",
                    "nsplane-producer",
                    "axum",
                ][..],
                &database,
                &dns_wire,
            ]
            .concat(),
        ),
        (
            "sink",
            [
                &[
                    "nsplane-projection",
                    "nsplane-api",
                    "nsplane-dataplane",
                    "nsplane-producer",
                    "nsplane-notify",
                    "axum",
                ][..],
                &database,
                &dns_wire,
            ]
            .concat(),
        ),
        (".", [&["nsplane-testkit"][..], &database, &dns_wire].concat()),
    ];
    for (krate, banned) in &forbidden {
        let deps = dependencies(&root.join(krate).join("Cargo.toml"));
        assert!(!deps.is_empty(), "{krate} has dependencies");
        for dep in deps {
            assert!(
                !banned.contains(&dep.as_str()),
                "{krate} must not depend on {dep} (see ARCHITECTURE.md)"
            );
        }
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if path.is_dir() {
            if !name.starts_with('.') && name != "target" {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

/// The Rust sources of a production crate (its `src/`; the binary's is the root `src/`).
fn production_sources(krate: &str) -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    rust_files(&root().join(krate).join("src"), &mut files);
    files
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(&f).expect("source");
            (f, text)
        })
        .collect()
}

#[test]
fn only_projection_queries_the_read_models() {
    let tables = [
        "zones",
        "recordsets",
        "zone_journal",
        "audit_events",
        "projection_versions",
        "pool_catalogs",
        "zone_shares",
        "tlds",
        "blacklists",
        "quota_overrides",
        "pools",
    ];
    let verbs = ["FROM ", "INTO ", "UPDATE ", "JOIN ", "TABLE "];
    let mut seen_in_projection = 0;
    for krate in PRODUCTION {
        for (file, text) in production_sources(krate) {
            let upper = text.to_uppercase();
            for table in tables {
                for verb in verbs {
                    let needle = format!("{verb}{}", table.to_uppercase());
                    let hits = upper
                        .match_indices(&needle)
                        .filter(|(i, _)| {
                            // A whole table name, not a prefix of a longer identifier.
                            upper[i + needle.len()..]
                                .chars()
                                .next()
                                .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'))
                        })
                        .count();
                    if krate == "projection" {
                        seen_in_projection += hits;
                    } else {
                        assert_eq!(
                            hits,
                            0,
                            "{} queries the read-model table {table}: only projection may",
                            file.display()
                        );
                    }
                }
            }
        }
    }
    assert!(
        seen_in_projection > 20,
        "the check finds projection's own queries: {seen_in_projection}"
    );
}

#[test]
fn only_command_appends_to_the_event_stream() {
    // Commits go to `Layout::events_subject`; nothing but the event store may publish there. Only the
    // stream's readers name those subjects otherwise: `command`'s log reader and `projection`'s replay.
    let (mut appenders, mut outside) = (Vec::new(), Vec::new());
    for krate in PRODUCTION {
        for (file, text) in production_sources(krate) {
            let defined_here = file.ends_with("schema/src/layout.rs");
            if text.contains(".events_subject(") && !defined_here {
                let path = file.strip_prefix(root()).unwrap_or(&file).display().to_string();
                if text.contains("publish(") {
                    appenders.push(path.clone());
                }
                if !path.starts_with("command/") && !path.starts_with("projection/") {
                    outside.push(path);
                }
            }
        }
    }
    assert_eq!(
        appenders,
        vec!["command/src/store.rs".to_owned()],
        "only the event store publishes to the event stream's subjects"
    );
    assert!(
        outside.is_empty(),
        "only command and projection name the event stream's subjects: {outside:?}"
    );
}

#[test]
fn only_dataplane_speaks_dns_wire() {
    let in_dataplane = production_sources("dataplane")
        .iter()
        .filter(|(_, text)| text.contains("hickory_proto::") || text.contains("hickory_server::"))
        .count();
    assert!(
        in_dataplane >= 3,
        "the check finds the data plane's own use: {in_dataplane} files"
    );
    for krate in PRODUCTION.iter().filter(|k| **k != "dataplane") {
        for (file, text) in production_sources(krate) {
            let uses = ["hickory_proto::", "hickory_server::", "hickory_net::"]
                .iter()
                .any(|path| text.contains(path));
            assert!(
                !uses,
                "{} uses hickory: only dataplane knows the DNS wire format",
                file.display()
            );
        }
    }
}

#[test]
fn every_rust_file_says_what_it_owns_and_no_test_is_ignored() {
    let mut files = Vec::new();
    for dir in [
        "src",
        "schema",
        "runtime",
        "command",
        "projection",
        "dataplane",
        "producer",
        "notify",
        "sink",
        "api",
        "testkit",
        "tests",
        "simulations",
    ] {
        rust_files(&root().join(dir), &mut files);
    }
    assert!(files.len() > 60, "found the sources: {}", files.len());
    let ignore_attribute = ["#[", "ignore]"].concat();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("source");
        assert!(
            text.starts_with("//!"),
            "{} must start with a `//!` line saying what it owns",
            file.display()
        );
        assert!(
            !text.contains(&ignore_attribute),
            "{} ignores a test; gate slow tests by an environment variable instead",
            file.display()
        );
    }
}
