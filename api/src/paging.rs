//! Designate's list parameters (`limit`, `marker`, `sort_key`, `sort_dir`, whitelisted filters) and the
//! collection envelope (`links.self`, `links.next`, `metadata.total_count`).

use std::collections::HashMap;

use axum::http::{HeaderMap, Uri};
use nsplane_projection::read::ListQuery;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::error::ApiError;

/// Default page size (`default_limit_v2`).
pub(crate) const LIMIT_DEFAULT: i64 = 20;
/// Largest page size (`max_limit_v2`).
const LIMIT_MAX: i64 = 1000;

/// What a resource allows in its lists.
pub(crate) struct ListSpec {
    /// Filter keys and the columns they map to.
    pub(crate) filters: &'static [(&'static str, &'static str)],
    /// Sort keys and their columns.
    pub(crate) sort_keys: &'static [(&'static str, &'static str)],
}

/// Parses the query string into a [`ListQuery`] (project and zone scope are set by the caller).
pub(crate) fn parse(uri: &Uri, headers: &HeaderMap, spec: &ListSpec) -> Result<ListQuery, ApiError> {
    let mut seen: HashMap<String, String> = HashMap::new();
    for (key, value) in pairs(uri) {
        if seen.insert(key.clone(), value).is_some() {
            return Err(ApiError::BadRequest {
                kind: "bad_request",
                message: format!("Duplicate filters {key}"),
            });
        }
    }
    let mut query = ListQuery {
        limit: LIMIT_DEFAULT,
        sort_key: "created_at",
        ..Default::default()
    };
    for (key, value) in seen {
        match key.as_str() {
            "limit" => query.limit = limit(&value)?,
            "marker" => {
                query.marker = Some(Uuid::try_parse(&value).map_err(|_| ApiError::BadRequest {
                    kind: "invalid_marker",
                    message: "Invalid marker: it must be a UUID".into(),
                })?);
            }
            "sort_dir" => match value.as_str() {
                "asc" => query.sort_desc = false,
                "desc" => query.sort_desc = true,
                _ => {
                    return Err(ApiError::BadRequest {
                        kind: "invalid_sort_dir",
                        message: "Unknown sort direction, must be 'desc' or 'asc'".into(),
                    })
                }
            },
            "sort_key" => {
                query.sort_key = spec
                    .sort_keys
                    .iter()
                    .find(|(k, _)| *k == value)
                    .map(|(_, c)| *c)
                    .ok_or_else(|| ApiError::BadRequest {
                        kind: "invalid_sort_key",
                        message: format!(
                            "sort key must be one of {:?}",
                            spec.sort_keys.iter().map(|k| k.0).collect::<Vec<_>>()
                        ),
                    })?;
            }
            "all_projects" | "all_tenants" => {}
            other => {
                let column = spec
                    .filters
                    .iter()
                    .find(|(k, _)| *k == other)
                    .map(|(_, c)| *c)
                    .ok_or_else(|| ApiError::BadRequest {
                        kind: "bad_request",
                        message: format!("Invalid filters {other}"),
                    })?;
                query.filters.push((column, value));
            }
        }
    }
    query.filters.sort();
    query.hide_count = headers
        .get("openstack-dns-hide-counts")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    Ok(query)
}

/// The query string's `key=value` pairs, percent-decoded, in order.
pub(crate) fn pairs(uri: &Uri) -> Vec<(String, String)> {
    uri.query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(key), decode(value))
        })
        .collect()
}

/// A page size: `max`, or 1 and up (capped at 1000).
pub(crate) fn limit(value: &str) -> Result<i64, ApiError> {
    if value == "max" {
        return Ok(LIMIT_MAX);
    }
    match value.parse::<i64>() {
        Ok(n) if n > 0 => Ok(n.min(LIMIT_MAX)),
        _ => Err(ApiError::BadRequest {
            kind: "invalid_limit",
            message: "limit should be an integer greater than 0".into(),
        }),
    }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'*' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The collection envelope. `next` is present when the page is full, as Designate does.
pub(crate) fn envelope(
    collection: &str,
    base: &str,
    uri: &Uri,
    total_count: Option<i64>,
    items: Vec<Value>,
    last_id: Option<String>,
    limit: i64,
) -> crate::views::Collection {
    let path = uri.path();
    let self_link = match uri.query() {
        Some(q) if !q.is_empty() => format!("{base}{path}?{q}"),
        _ => format!("{base}{path}"),
    };
    let mut links = json!({"self": self_link});
    if i64::try_from(items.len()).unwrap_or(0) >= limit {
        if let Some(last) = last_id {
            let mut params: Vec<String> = uri
                .query()
                .unwrap_or("")
                .split('&')
                .filter(|p| !p.is_empty() && !p.starts_with("marker=") && !p.starts_with("limit="))
                .map(str::to_owned)
                .collect();
            params.push(format!("limit={limit}"));
            params.push(format!("marker={}", encode(&last)));
            links["next"] = Value::String(format!("{base}{path}?{}", params.join("&")));
        }
    }
    crate::views::Collection {
        key: collection.to_owned(),
        items: Value::Array(items),
        links,
        metadata: Some(match total_count {
            Some(total) => json!({"total_count": total}),
            None => json!({}),
        }),
    }
}
