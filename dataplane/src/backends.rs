//! Backend drivers: how a target learns that a zone exists or is gone. `catalog` targets learn it
//! from the pool's catalog zone (mdns serves it; the worker only sends NOTIFY), `bind9` targets
//! through `rndc addzone`/`delzone` as Designate does, `pdns4` through the PowerDNS HTTP API.

use std::time::Duration;

use nsplane_projection::read::ZoneRow;
use tokio::process::Command;
use tracing::{debug, warn};

use nsplane_schema::pools::{Pool, Target};

/// Makes every target of the pool hold (or drop) the zone. Failures are logged; the serial poll that
/// follows decides whether the push worked.
pub async fn ensure(pool: &Pool, zone: &ZoneRow, deleting: bool, timeout: Duration) {
    for target in &pool.targets {
        let result = match target.kind.as_str() {
            "bind9" if deleting => rndc_delzone(target, zone, timeout).await,
            "bind9" => rndc_addzone(target, zone, timeout).await,
            "pdns4" if deleting => pdns_delete(target, zone, timeout).await,
            "pdns4" => pdns_create(target, zone, timeout).await,
            _ => Ok(()),
        };
        if let Err(e) = result {
            warn!(target = target.kind, zone = %zone.name, error = format!("{e:#}"), "backend call failed");
        }
    }
}

fn rndc(target: &Target) -> Command {
    let mut command = Command::new(target.option("rndc_bin_path").unwrap_or_else(|| "rndc".into()));
    if let Some(config) = target.option("rndc_config_file") {
        command.args(["-c", &config]);
    }
    if let Some(key) = target.option("rndc_key_file") {
        command.args(["-k", &key]);
    }
    command.args(["-s", &target.option("rndc_host").unwrap_or_else(|| "127.0.0.1".into())]);
    command.args(["-p", &target.option("rndc_port").unwrap_or_else(|| "953".into())]);
    command.kill_on_drop(true);
    command
}

async fn run(mut command: Command, timeout: Duration) -> anyhow::Result<(bool, String)> {
    let output = tokio::time::timeout(timeout.max(Duration::from_secs(5)), command.output())
        .await
        .map_err(|_| anyhow::anyhow!("rndc timed out"))??;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok((output.status.success(), text))
}

async fn rndc_addzone(target: &Target, zone: &ZoneRow, timeout: Duration) -> anyhow::Result<()> {
    let masters: Vec<String> = target
        .masters
        .iter()
        .map(|m| format!("{} port {};", m.host, m.port))
        .collect();
    anyhow::ensure!(!masters.is_empty(), "bind9 target has no masters");
    // The file name carries the zone id so a re-created zone never reuses a stale file.
    let config = format!(
        "{{ type secondary; primaries {{ {} }}; file \"slave.{}{}\"; }};",
        masters.join(" "),
        zone.name,
        zone.id.simple()
    );
    let mut command = rndc(target);
    command.args(["addzone", &zone.name, &config]);
    let (ok, text) = run(command, timeout).await?;
    if ok || text.contains("already exists") {
        debug!(zone = %zone.name, "rndc addzone done");
        return Ok(());
    }
    anyhow::bail!("rndc addzone failed: {}", text.trim())
}

async fn rndc_delzone(target: &Target, zone: &ZoneRow, timeout: Duration) -> anyhow::Result<()> {
    let mut command = rndc(target);
    let clean = target.option("clean_zonefile").is_some_and(|v| v == "true");
    command.arg("delzone");
    if clean {
        command.arg("-clean");
    }
    command.arg(&zone.name);
    let (ok, text) = run(command, timeout).await?;
    if ok || text.contains("not found") {
        debug!(zone = %zone.name, "rndc delzone done");
        return Ok(());
    }
    anyhow::bail!("rndc delzone failed: {}", text.trim())
}

fn pdns(target: &Target, timeout: Duration) -> anyhow::Result<(reqwest::Client, String, String)> {
    let endpoint = target
        .option("api_endpoint")
        .ok_or_else(|| anyhow::anyhow!("pdns4 target has no options.api_endpoint"))?;
    let token = target.option("api_token").unwrap_or_default();
    let client = reqwest::Client::builder()
        .timeout(timeout.max(Duration::from_secs(5)))
        .build()?;
    Ok((client, endpoint.trim_end_matches('/').to_owned(), token))
}

/// PowerDNS HTTP API: create the zone as a secondary of mdns unless it exists.
async fn pdns_create(target: &Target, zone: &ZoneRow, timeout: Duration) -> anyhow::Result<()> {
    let (client, endpoint, token) = pdns(target, timeout)?;
    let url = format!("{endpoint}/api/v1/servers/localhost/zones/{}", zone.name);
    let existing = client.get(&url).header("X-API-Key", &token).send().await?;
    if existing.status().is_success() {
        return Ok(());
    }
    let masters: Vec<String> = target
        .masters
        .iter()
        .map(|m| {
            if m.host.contains(':') {
                format!("[{}]:{}", m.host, m.port)
            } else {
                format!("{}:{}", m.host, m.port)
            }
        })
        .collect();
    anyhow::ensure!(!masters.is_empty(), "pdns4 target has no masters");
    let body = serde_json::json!({"name": zone.name, "kind": "Slave", "masters": masters});
    let created = client
        .post(format!("{endpoint}/api/v1/servers/localhost/zones"))
        .header("X-API-Key", &token)
        .json(&body)
        .send()
        .await?;
    let status = created.status();
    if status.is_success() || status.as_u16() == 409 {
        debug!(zone = %zone.name, "PowerDNS zone created");
        return Ok(());
    }
    anyhow::bail!(
        "PowerDNS refused to create {}: {status} {}",
        zone.name,
        created.text().await.unwrap_or_default()
    )
}

/// PowerDNS HTTP API: delete the zone if it exists.
async fn pdns_delete(target: &Target, zone: &ZoneRow, timeout: Duration) -> anyhow::Result<()> {
    let (client, endpoint, token) = pdns(target, timeout)?;
    let url = format!("{endpoint}/api/v1/servers/localhost/zones/{}", zone.name);
    let deleted = client.delete(&url).header("X-API-Key", &token).send().await?;
    let status = deleted.status();
    if status.is_success() || status.as_u16() == 404 || status.as_u16() == 422 {
        return Ok(());
    }
    anyhow::bail!("PowerDNS refused to delete {}: {status}", zone.name)
}
