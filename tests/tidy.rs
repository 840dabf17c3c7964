//! Tidy checks that keep the layout honest: the dependency direction between crates, a `//!` line
//! at the top of every Rust file, and no ignored tests.

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

#[test]
fn dependencies_point_one_way() {
    let root = root();
    let forbidden: &[(&str, &[&str])] = &[
        (
            "schema",
            &[
                "nsplane-command",
                "nsplane-projection",
                "nsplane-api",
                "async-nats",
                "tokio-postgres",
                "deadpool-postgres",
                "axum",
                "hickory-server",
                "tokio",
                "cqrs-es",
            ],
        ),
        (
            "command",
            &[
                "nsplane-projection",
                "nsplane-api",
                "tokio-postgres",
                "deadpool-postgres",
                "axum",
            ],
        ),
        ("projection", &["nsplane-command", "nsplane-api", "axum", "cqrs-es"]),
        ("api", &["hickory-server", "hickory-proto"]),
    ];
    for (krate, banned) in forbidden {
        let deps = dependencies(&root.join(krate).join("Cargo.toml"));
        assert!(!deps.is_empty() || *krate == "schema", "{krate} has dependencies");
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

#[test]
fn every_rust_file_says_what_it_owns_and_no_test_is_ignored() {
    let mut files = Vec::new();
    for dir in ["src", "schema", "command", "projection", "api", "tests", "simulations"] {
        rust_files(&root().join(dir), &mut files);
    }
    assert!(files.len() > 20, "found the sources: {}", files.len());
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
