//! What a notification asks for, as Designate's `nova_fixed` and `neutron_floatingip` handlers decide
//! it: records to add for a resource (an instance's fixed IPs, a floating IP) named by the handler's
//! `formatv4`/`formatv6` templates, or a resource whose records go. Pure: the notification and the
//! handler's settings in, actions out.

use std::collections::BTreeMap;

use serde_json::Value;

/// One handler's settings (`[handler:nova_fixed]`, `[handler:neutron_floatingip]` in Designate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerConfig {
    /// The zone the records go to; without it the handler ignores every notification.
    pub zone_id: Option<String>,
    /// Record names for IPv4 addresses (one record per template).
    pub formatv4: Vec<String>,
    /// Record names for IPv6 addresses.
    pub formatv6: Vec<String>,
}

impl Default for HandlerConfig {
    fn default() -> Self {
        Self {
            zone_id: None,
            formatv4: vec![DEFAULT_FORMAT.to_owned()],
            formatv6: vec![DEFAULT_FORMAT.to_owned()],
        }
    }
}

/// Designate's default record name.
pub const DEFAULT_FORMAT: &str = "%(hostname)s.%(zone)s";

/// A notification, unwrapped.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// Its id (oslo's `message_id`).
    pub message_id: Option<String>,
    /// `compute.instance.create.end`, …
    pub event_type: String,
    /// The payload.
    pub payload: Value,
    /// The request context's project name or id, if the message carries one.
    pub project: Option<String>,
}

/// Unwraps an oslo.messaging notification: the v2 envelope (`{"oslo.version": "2.0", "oslo.message":
/// "<JSON string>"}`) or the v1 form (the message itself).
pub fn parse(body: &[u8]) -> anyhow::Result<Notification> {
    let outer: Value = serde_json::from_slice(body)?;
    let message = match outer.get("oslo.message") {
        Some(Value::String(inner)) => serde_json::from_str(inner)?,
        Some(_) => anyhow::bail!("oslo.message is not a string"),
        None => outer,
    };
    let event_type = message["event_type"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("a notification without event_type"))?
        .to_owned();
    let text = |key: &str| message.get(key).and_then(Value::as_str).map(str::to_owned);
    Ok(Notification {
        message_id: text("message_id"),
        event_type,
        payload: message.get("payload").cloned().unwrap_or(Value::Null),
        project: text("_context_project_name")
            .or_else(|| text("_context_project_id"))
            .or_else(|| text("_context_tenant")),
    })
}

/// What a notification asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Add `records` of `rtype` (`A` or `AAAA`) at `name` for the resource.
    Add {
        /// The zone.
        zone_id: String,
        /// `instance` or `floatingip`.
        resource_type: &'static str,
        /// The resource's id.
        resource_id: String,
        /// The record set's name (absolute).
        name: String,
        /// `A` or `AAAA`.
        rtype: &'static str,
        /// The addresses.
        records: Vec<String>,
    },
    /// Remove every record of the resource.
    Remove {
        /// The zone.
        zone_id: String,
        /// `instance` or `floatingip`.
        resource_type: &'static str,
        /// The resource's id.
        resource_id: String,
    },
}

/// Fills `%(key)s` placeholders from `vars`; `None` when a key is missing (Designate skips that name).
pub fn format(template: &str, vars: &BTreeMap<String, String>) -> Option<String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("%(") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find(")s")?;
        out.push_str(vars.get(&after[..end])?);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Some(out)
}

/// The format variables of one address: the payload's own scalar keys, then `zone`, `ip_version`,
/// `ip_address` (dots and colons as dashes), `octet0`… and `project`.
fn variables(
    payload: &Value,
    zone: &str,
    address: &str,
    version: u64,
    project: Option<&str>,
) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    if let Some(map) = payload.as_object() {
        for (key, value) in map {
            match value {
                Value::String(s) => {
                    vars.insert(key.clone(), s.clone());
                }
                Value::Number(n) => {
                    vars.insert(key.clone(), n.to_string());
                }
                _ => {}
            }
        }
    }
    vars.insert("zone".into(), zone.trim_end_matches('.').to_owned());
    vars.insert("ip_version".into(), version.to_string());
    vars.insert("ip_address".into(), address.replace(['.', ':'], "-"));
    if version == 4 {
        for (i, octet) in address.split('.').enumerate() {
            vars.insert(format!("octet{i}"), octet.to_owned());
        }
    }
    if let Some(project) = project {
        vars.insert("project".into(), project.to_owned());
    }
    vars
}

/// Record names for one address, by the templates of its version (absolute, with the final dot).
fn names(config: &HandlerConfig, vars: &BTreeMap<String, String>, version: u64) -> Vec<String> {
    let templates = if version == 6 {
        &config.formatv6
    } else {
        &config.formatv4
    };
    templates
        .iter()
        .filter_map(|t| format(t, vars))
        .map(|name| if name.ends_with('.') { name } else { format!("{name}.") })
        .collect()
}

/// Adds, grouped by name and type (several addresses of one name make one record set).
fn adds(
    zone_id: &str,
    resource_type: &'static str,
    resource_id: &str,
    found: Vec<(String, u64, String)>,
) -> Vec<Action> {
    let mut grouped: BTreeMap<(String, &'static str), Vec<String>> = BTreeMap::new();
    for (name, version, address) in found {
        let rtype = if version == 6 { "AAAA" } else { "A" };
        let records = grouped.entry((name, rtype)).or_default();
        if !records.contains(&address) {
            records.push(address);
        }
    }
    grouped
        .into_iter()
        .map(|((name, rtype), records)| Action::Add {
            zone_id: zone_id.to_owned(),
            resource_type,
            resource_id: resource_id.to_owned(),
            name,
            rtype,
            records,
        })
        .collect()
}

/// The event types Nova's handler takes.
pub const NOVA_EVENTS: [&str; 2] = ["compute.instance.create.end", "compute.instance.delete.start"];
/// The event types Neutron's handler takes.
pub const NEUTRON_EVENTS: [&str; 2] = ["floatingip.update.end", "floatingip.delete.start"];

/// `nova_fixed`: an instance's fixed IPs get records when it is created; its records go when it is
/// deleted. `zone` is the configured zone's name.
pub fn nova_fixed(config: &HandlerConfig, zone: &str, n: &Notification) -> anyhow::Result<Vec<Action>> {
    let Some(zone_id) = &config.zone_id else {
        return Ok(Vec::new());
    };
    let instance_id = n.payload["instance_id"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("{} without instance_id", n.event_type))?;
    match n.event_type.as_str() {
        "compute.instance.create.end" => {
            let project = n.project.as_deref().or_else(|| n.payload["tenant_id"].as_str());
            let mut found = Vec::new();
            for ip in n.payload["fixed_ips"].as_array().into_iter().flatten() {
                let Some(address) = ip["address"].as_str() else {
                    continue;
                };
                let version = ip["version"]
                    .as_u64()
                    .unwrap_or(if address.contains(':') { 6 } else { 4 });
                let mut vars = variables(&n.payload, zone, address, version, project);
                if let Some(label) = ip["label"].as_str() {
                    vars.insert("label".into(), label.to_owned());
                }
                for name in names(config, &vars, version) {
                    found.push((name, version, address.to_owned()));
                }
            }
            Ok(adds(zone_id, "instance", instance_id, found))
        }
        "compute.instance.delete.start" => Ok(vec![Action::Remove {
            zone_id: zone_id.clone(),
            resource_type: "instance",
            resource_id: instance_id.to_owned(),
        }]),
        _ => Ok(Vec::new()),
    }
}

/// `neutron_floatingip`: a floating IP associated with a port gets an A record; disassociated or
/// deleted, its record goes.
pub fn neutron_floatingip(config: &HandlerConfig, zone: &str, n: &Notification) -> anyhow::Result<Vec<Action>> {
    let Some(zone_id) = &config.zone_id else {
        return Ok(Vec::new());
    };
    let remove = |id: &str| Action::Remove {
        zone_id: zone_id.clone(),
        resource_type: "floatingip",
        resource_id: id.to_owned(),
    };
    match n.event_type.as_str() {
        "floatingip.update.end" => {
            let fip = &n.payload["floatingip"];
            let id = fip["id"]
                .as_str()
                .ok_or_else(|| anyhow::anyhow!("floatingip.update.end without floatingip.id"))?;
            if fip["fixed_ip_address"].is_null() {
                return Ok(vec![remove(id)]);
            }
            let address = fip["floating_ip_address"]
                .as_str()
                .ok_or_else(|| anyhow::anyhow!("floatingip.update.end without floating_ip_address"))?;
            let version = if address.contains(':') { 6 } else { 4 };
            let project = n
                .project
                .as_deref()
                .or_else(|| fip["project_id"].as_str())
                .or_else(|| fip["tenant_id"].as_str());
            let vars = variables(fip, zone, address, version, project);
            let found = names(config, &vars, version)
                .into_iter()
                .map(|name| (name, version, address.to_owned()))
                .collect();
            Ok(adds(zone_id, "floatingip", id, found))
        }
        "floatingip.delete.start" => {
            let id = n.payload["floatingip_id"]
                .as_str()
                .ok_or_else(|| anyhow::anyhow!("floatingip.delete.start without floatingip_id"))?;
            Ok(vec![remove(id)])
        }
        _ => Ok(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(formats: &[&str]) -> HandlerConfig {
        HandlerConfig {
            zone_id: Some("z1".into()),
            formatv4: formats.iter().map(|f| (*f).to_owned()).collect(),
            formatv6: vec![DEFAULT_FORMAT.into()],
        }
    }

    #[test]
    fn templates_fill_known_keys_and_skip_names_with_unknown_ones() {
        let vars: BTreeMap<String, String> = [("hostname", "vm1"), ("zone", "example.org")]
            .map(|(k, v)| (k.into(), v.into()))
            .into();
        assert_eq!(format(DEFAULT_FORMAT, &vars).as_deref(), Some("vm1.example.org"));
        assert_eq!(format("plain.example.org", &vars).as_deref(), Some("plain.example.org"));
        assert_eq!(format("%(nope)s.%(zone)s", &vars), None);
        assert_eq!(format("%(hostname", &vars), None);
    }

    #[test]
    fn an_instance_gets_one_record_set_per_name_and_type() {
        let n = parse(
            json!({"oslo.version": "2.0", "oslo.message": json!({
                "message_id": "m1",
                "event_type": "compute.instance.create.end",
                "_context_project_name": "demo",
                "payload": {
                    "instance_id": "i-1", "hostname": "vm1", "display_name": "VM 1", "tenant_id": "t1",
                    "fixed_ips": [
                        {"address": "10.0.0.5", "version": 4, "label": "private"},
                        {"address": "10.0.1.5", "version": 4, "label": "other"},
                        {"address": "fd00::5", "version": 6, "label": "private"}
                    ]
                }
            }).to_string()})
            .to_string()
            .as_bytes(),
        )
        .expect("parse");
        assert_eq!(n.message_id.as_deref(), Some("m1"));
        let actions = nova_fixed(
            &config(&[
                DEFAULT_FORMAT,
                "%(octet0)s-%(octet1)s-%(octet2)s-%(octet3)s.%(zone)s",
                "%(label)s.%(project)s.%(zone)s",
                "%(missing)s.%(zone)s",
            ]),
            "example.org.",
            &n,
        )
        .expect("actions");
        let add = |name: &str, rtype: &'static str, records: &[&str]| Action::Add {
            zone_id: "z1".into(),
            resource_type: "instance",
            resource_id: "i-1".into(),
            name: name.into(),
            rtype,
            records: records.iter().map(|r| (*r).to_owned()).collect(),
        };
        assert_eq!(
            actions,
            vec![
                add("10-0-0-5.example.org.", "A", &["10.0.0.5"]),
                add("10-0-1-5.example.org.", "A", &["10.0.1.5"]),
                add("other.demo.example.org.", "A", &["10.0.1.5"]),
                add("private.demo.example.org.", "A", &["10.0.0.5"]),
                add("vm1.example.org.", "A", &["10.0.0.5", "10.0.1.5"]),
                add("vm1.example.org.", "AAAA", &["fd00::5"]),
            ]
        );
        let delete = parse(
            json!({"event_type": "compute.instance.delete.start", "payload": {"instance_id": "i-1"}})
                .to_string()
                .as_bytes(),
        )
        .expect("v1 form");
        assert_eq!(
            nova_fixed(&config(&[DEFAULT_FORMAT]), "example.org.", &delete).expect("actions"),
            vec![Action::Remove {
                zone_id: "z1".into(),
                resource_type: "instance",
                resource_id: "i-1".into()
            }]
        );
        let unconfigured = HandlerConfig::default();
        assert!(nova_fixed(&unconfigured, "example.org.", &delete)
            .expect("ok")
            .is_empty());
    }

    #[test]
    fn a_floating_ip_is_named_while_associated() {
        let update = |fixed: Value| Notification {
            message_id: None,
            event_type: "floatingip.update.end".into(),
            payload: json!({"floatingip": {"id": "f-1", "floating_ip_address": "203.0.113.7",
                "fixed_ip_address": fixed, "project_id": "p1"}}),
            project: None,
        };
        let config = config(&["fip-%(ip_address)s.%(zone)s"]);
        assert_eq!(
            neutron_floatingip(&config, "example.org.", &update(json!("10.0.0.5"))).expect("ok"),
            vec![Action::Add {
                zone_id: "z1".into(),
                resource_type: "floatingip",
                resource_id: "f-1".into(),
                name: "fip-203-0-113-7.example.org.".into(),
                rtype: "A",
                records: vec!["203.0.113.7".into()],
            }]
        );
        let removed = vec![Action::Remove {
            zone_id: "z1".into(),
            resource_type: "floatingip",
            resource_id: "f-1".into(),
        }];
        assert_eq!(
            neutron_floatingip(&config, "example.org.", &update(Value::Null)).expect("ok"),
            removed
        );
        let deleted = Notification {
            message_id: None,
            event_type: "floatingip.delete.start".into(),
            payload: json!({"floatingip_id": "f-1"}),
            project: None,
        };
        assert_eq!(
            neutron_floatingip(&config, "example.org.", &deleted).expect("ok"),
            removed
        );
    }
}
