//! SVCB and HTTPS parameters (RFC 9460, RFC 9461): keys, values, their wire form and their order.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use super::data::*;
use super::lex::*;
use super::RecordType;

/// The SvcParamKeys Designate accepts, with their key numbers (RFC 9460, RFC 9461).
pub(super) const SVC_KEYS: &[(&str, u16)] = &[
    ("mandatory", 0),
    ("alpn", 1),
    ("no-default-alpn", 2),
    ("port", 3),
    ("ipv4hint", 4),
    ("ech", 5),
    ("ipv6hint", 6),
    ("dohpath", 7),
];

/// ALPN identifiers Designate accepts.
pub(super) const ALPN_IDS: &[&str] = &["h3", "h2", "h2c", "http/1.1", "http/1.0"];

/// The key number of an accepted SvcParamKey for the type, or why it is refused.
pub(super) fn svc_key(rtype: RecordType, key: &str) -> Result<u16, Reason> {
    if rtype == RecordType::HTTPS && key == "dohpath" {
        return Err("parameter dohpath is only allowed in SVCB records".to_string());
    }
    SVC_KEYS
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, n)| *n)
        .ok_or_else(|| {
            let allowed: Vec<&str> = SVC_KEYS
                .iter()
                .map(|(k, _)| *k)
                .filter(|k| rtype == RecordType::SVCB || *k != "dohpath")
                .collect();
            format!("parameter `{key}` is not supported; allowed: {}", allowed.join(", "))
        })
}

/// Splits a comma-separated list, refusing empty items.
pub(super) fn comma_list<'a>(value: &'a str, key: &str) -> Result<Vec<&'a str>, Reason> {
    let items: Vec<&str> = value.split(',').collect();
    if items.iter().any(|i| i.is_empty()) {
        return Err(format!("parameter {key} has an empty list item in `{value}`"));
    }
    Ok(items)
}

pub(super) fn validate_svcb(rtype: RecordType, data: &str) -> Result<ServiceBinding, Reason> {
    let parts = fields(data);
    if parts.len() < 2 {
        return Err("expected `priority target [key=value ...]`".to_string());
    }
    let priority = int16(parts[0], "priority", u16::MAX)?;
    let target = parse_target(parts[1], "target")?;
    let raw_params = &parts[2..];
    if priority == 0 && !raw_params.is_empty() {
        return Err("priority 0 is the alias form, which may not have parameters".to_string());
    }
    // (key number, key, raw value)
    let mut params: Vec<(u16, &str, &str)> = Vec::with_capacity(raw_params.len());
    for token in raw_params {
        let (key, raw_value) = match token.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (*token, None),
        };
        let number = svc_key(rtype, key)?;
        if params.iter().any(|(n, _, _)| *n == number) {
            return Err(format!("parameter {key} is given more than once"));
        }
        let value = match raw_value {
            Some(v) => unquote(v, key)?,
            None => "",
        };
        if key == "no-default-alpn" {
            if !value.is_empty() {
                return Err("parameter no-default-alpn takes no value".to_string());
            }
        } else if value.is_empty() {
            return Err(format!("parameter {key} needs a value (key=value)"));
        }
        params.push((number, key, value));
    }
    let has = |k: &str| params.iter().any(|(_, key, _)| *key == k);
    let mut rendered: Vec<SvcParam> = Vec::with_capacity(params.len());
    for (number, key, value) in &params {
        // (canonical presentation of the value, its wire form)
        let (canonical, wire): (String, Vec<u8>) = match *key {
            "alpn" => {
                let ids = comma_list(value, key)?;
                let mut wire = Vec::new();
                for id in &ids {
                    if !ALPN_IDS.contains(id) {
                        return Err(format!(
                            "alpn `{id}` is not supported; allowed: {}",
                            ALPN_IDS.join(", ")
                        ));
                    }
                    wire.push(id.len() as u8);
                    wire.extend_from_slice(id.as_bytes());
                }
                (value.to_string(), wire)
            }
            "ipv4hint" => {
                let ips = comma_list(value, key)?
                    .into_iter()
                    .map(|ip| {
                        Ipv4Addr::from_str(ip).map_err(|_| format!("ipv4hint `{ip}` is not a valid IPv4 address"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let text: Vec<String> = ips.iter().map(ToString::to_string).collect();
                (text.join(","), ips.iter().flat_map(|ip| ip.octets()).collect())
            }
            "ipv6hint" => {
                let ips = comma_list(value, key)?
                    .into_iter()
                    .map(|ip| {
                        Ipv6Addr::from_str(ip).map_err(|_| format!("ipv6hint `{ip}` is not a valid IPv6 address"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let text: Vec<String> = ips.iter().map(ToString::to_string).collect();
                (text.join(","), ips.iter().flat_map(|ip| ip.octets()).collect())
            }
            "port" => {
                let port = int16(value, "port", u16::MAX)?;
                (port.to_string(), port.to_be_bytes().to_vec())
            }
            "ech" => {
                check_base64(value, "ech")?;
                (value.to_string(), decode_base64(value))
            }
            "no-default-alpn" => {
                if !has("alpn") {
                    return Err("no-default-alpn requires an alpn parameter".to_string());
                }
                (String::new(), Vec::new())
            }
            "mandatory" => {
                let mut keys: Vec<(u16, &str)> = Vec::new();
                for k in comma_list(value, key)? {
                    let n = svc_key(rtype, k)?;
                    if k == "mandatory" {
                        return Err("mandatory may not list itself".to_string());
                    }
                    if keys.iter().any(|(m, _)| *m == n) {
                        return Err(format!("mandatory lists {k} more than once"));
                    }
                    if !has(k) {
                        return Err(format!("mandatory lists {k}, but the record has no {k} parameter"));
                    }
                    keys.push((n, k));
                }
                keys.sort_unstable();
                let text = keys.iter().map(|(_, k)| *k).collect::<Vec<_>>().join(",");
                (text, keys.iter().flat_map(|(n, _)| n.to_be_bytes()).collect())
            }
            "dohpath" => {
                if !value.starts_with('/') {
                    return Err(format!("dohpath `{value}` must start with `/`"));
                }
                if value.chars().count() < 7 {
                    return Err(format!("dohpath `{value}` must be at least 7 characters"));
                }
                if !value.contains("{?dns}") {
                    return Err(format!("dohpath `{value}` must contain `{{?dns}}`"));
                }
                (value.to_string(), value.as_bytes().to_vec())
            }
            other => return Err(format!("parameter `{other}` is not supported")),
        };
        if wire.len() > usize::from(u16::MAX) {
            return Err(format!("parameter {key} is longer than 65535 bytes"));
        }
        let text = if canonical.is_empty() {
            (*key).to_string()
        } else {
            format!("{key}={canonical}")
        };
        rendered.push(SvcParam {
            key: *number,
            text,
            value: wire,
        });
    }
    rendered.sort_unstable_by_key(|p| p.key);
    Ok(ServiceBinding {
        priority,
        target,
        params: rendered,
    })
}
