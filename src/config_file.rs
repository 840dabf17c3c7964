//! `--config FILE`: a TOML file with the same keys as the flags (`nats_url` or `nats-url` for
//! `--nats-url`), for the role or tool being run. Flags and `NSPLANE_*` variables override it: each key
//! becomes its flag's environment variable unless that variable is set already, and clap reads flags
//! before variables. A key no flag of the subcommand has is refused with its name; `KEY_file` reads a
//! key's value from a file (secrets: `database_url_file = "/etc/nsplane/database-url"`).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;
use clap::CommandFactory as _;

use crate::config::Cli;

/// The flags a subcommand takes from its environment variables: `(key, variable)`, keys with `_`.
fn settable(subcommand: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let mut cli = Cli::command();
    cli.build();
    let sub = cli
        .find_subcommand(subcommand)
        .with_context(|| format!("no subcommand {subcommand}"))?;
    Ok(sub
        .get_arguments()
        .chain(cli.get_arguments())
        .filter_map(|arg| {
            let long = arg.get_long()?;
            let env = arg.get_env()?.to_str()?;
            Some((long.replace('-', "_"), env.to_owned()))
        })
        .collect())
}

/// Every subcommand's name.
fn subcommands() -> Vec<String> {
    Cli::command()
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect()
}

fn text(key: &str, value: &toml::Value) -> anyhow::Result<String> {
    Ok(match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Array(items) => items
            .iter()
            .map(|item| text(key, item))
            .collect::<anyhow::Result<Vec<_>>>()?
            .join(","),
        other => anyhow::bail!("{key}: a {} is not a flag's value", other.type_str()),
    })
}

/// One `key = value` of the file as `(key with _, value)`, a `KEY_file` read from its file.
fn entry(
    path: &Path,
    known: &BTreeMap<String, String>,
    raw_key: &str,
    value: &toml::Value,
) -> anyhow::Result<(String, String)> {
    let key = raw_key.replace('-', "_");
    match key.strip_suffix("_file") {
        Some(stem) if known.contains_key(stem) && !known.contains_key(&key) => {
            let file = text(raw_key, value)?;
            let secret = std::fs::read_to_string(&file)
                .with_context(|| format!("{raw_key} in {}: failed to read {file}", path.display()))?;
            Ok((stem.to_owned(), secret.trim_end_matches(['\n', '\r']).to_owned()))
        }
        _ => Ok((
            key,
            text(raw_key, value).with_context(|| format!("in {}", path.display()))?,
        )),
    }
}

/// Reads `path` for `subcommand` and returns the variables to set: `(variable, value)` for each of its
/// keys whose variable is not set already.
///
/// Top-level keys are shared by every role (one file for a host): a key of another subcommand is left
/// to it, a key of none is refused with its name. A table named after a subcommand (`[central]`) holds
/// that subcommand's own keys, which win over the top level's. Unreadable secret files and values that
/// are not a flag's are errors naming the key.
pub fn settings(path: &Path, subcommand: &str, is_set: impl Fn(&str) -> bool) -> anyhow::Result<Vec<(String, String)>> {
    let body = std::fs::read_to_string(path).with_context(|| format!("failed to read {}", path.display()))?;
    let table: toml::Table = body
        .parse()
        .with_context(|| format!("{} is not valid TOML", path.display()))?;
    let names = subcommands();
    let mut known_of = BTreeMap::new();
    for name in &names {
        known_of.insert(name.clone(), settable(name)?);
    }
    let known = known_of
        .get(subcommand)
        .with_context(|| format!("no subcommand {subcommand}"))?;
    let unknown = |key: &str, scope: &str| {
        anyhow::anyhow!(
            "unknown key {key:?} in {}: no {scope} flag --{} takes its value from a file",
            path.display(),
            key.replace('_', "-")
        )
    };
    let mut chosen: BTreeMap<String, String> = BTreeMap::new();
    for (raw_key, value) in &table {
        if let toml::Value::Table(section) = value {
            let Some(theirs) = known_of.get(raw_key.as_str()) else {
                anyhow::bail!(
                    "unknown section [{raw_key}] in {}: sections are named after subcommands ({})",
                    path.display(),
                    names.join(", ")
                );
            };
            for (inner, value) in section {
                let (key, value) = entry(path, theirs, inner, value)?;
                if !theirs.contains_key(&key) {
                    return Err(unknown(inner, &format!("`nsplane {raw_key}`")));
                }
                if raw_key == subcommand {
                    chosen.insert(key, value);
                }
            }
            continue;
        }
        let (key, value) = entry(path, known, raw_key, value)?;
        if known.contains_key(&key) {
            chosen.entry(key).or_insert(value);
        } else if !known_of.values().any(|k| k.contains_key(&key)) {
            return Err(unknown(raw_key, "nsplane"));
        }
    }
    Ok(chosen
        .into_iter()
        .filter_map(|(key, value)| {
            let variable = known.get(&key)?;
            (!is_set(variable)).then(|| (variable.clone(), value))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn write(body: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nsplane.toml");
        std::fs::write(&path, body).expect("write");
        (dir, path)
    }

    #[test]
    fn keys_become_their_flags_variables_unless_set() {
        let (dir, path) = write("nats-url = \"nats://n:4222\"\ndatabase_url_file = \"SECRET\"\nroles = [\"api\", \"central\"]\nquota_zones = 50\nrequire_tsig = true\n");
        let secret = dir.path().join("db");
        std::fs::write(&secret, "postgres://db/nsplane\n").expect("write");
        let body = std::fs::read_to_string(&path)
            .expect("read")
            .replace("SECRET", &secret.to_string_lossy());
        std::fs::write(&path, body).expect("write");
        let mut got = settings(&path, "all", |v| v == "NSPLANE_QUOTA_ZONES").expect("settings");
        got.sort();
        assert_eq!(
            got,
            [
                ("NSPLANE_DATABASE_URL".to_owned(), "postgres://db/nsplane".to_owned()),
                ("NSPLANE_NATS_URL".to_owned(), "nats://n:4222".to_owned()),
                ("NSPLANE_REQUIRE_TSIG".to_owned(), "true".to_owned()),
                ("NSPLANE_ROLES".to_owned(), "api,central".to_owned()),
            ]
        );
    }

    #[test]
    fn an_unknown_key_is_refused_by_name() {
        let (_dir, path) = write("nats_url = \"nats://n:4222\"\nnats_ulr = \"typo\"\n");
        let error = format!("{:#}", settings(&path, "central", |_| false).expect_err("refused"));
        assert!(error.contains("\"nats_ulr\""), "{error}");
        let (_dir, path) = write("[centrl]\nnats_url = \"x\"\n");
        assert!(settings(&path, "central", |_| false).is_err(), "an unknown section");
        let (_dir, path) = write("[central]\napi_listen = \"127.0.0.1:9001\"\n");
        let error = format!("{:#}", settings(&path, "api", |_| false).expect_err("refused"));
        assert!(error.contains("\"api_listen\""), "central has no --api-listen: {error}");
    }

    #[test]
    fn one_file_serves_every_role_and_sections_win() {
        let (_dir, path) = write(
            "nats_url = \"nats://n:4222\"\napi_listen = \"127.0.0.1:9001\"\nops_listen = \"127.0.0.1:9100\"\n\
             [central]\nops_listen = \"127.0.0.1:9101\"\n[mdns]\nops_listen = \"127.0.0.1:9102\"\n",
        );
        let central = settings(&path, "central", |_| false).expect("central");
        assert!(
            central.contains(&("NSPLANE_OPS_LISTEN".to_owned(), "127.0.0.1:9101".to_owned())),
            "{central:?}"
        );
        assert!(
            !central.iter().any(|(v, _)| v == "NSPLANE_API_LISTEN"),
            "the API's key is left to it: {central:?}"
        );
        let api = settings(&path, "api", |_| false).expect("api");
        assert!(
            api.contains(&("NSPLANE_OPS_LISTEN".to_owned(), "127.0.0.1:9100".to_owned())),
            "{api:?}"
        );
        assert!(
            api.contains(&("NSPLANE_API_LISTEN".to_owned(), "127.0.0.1:9001".to_owned())),
            "{api:?}"
        );
    }
}
