//! A JSON HTTP client for the API as tests and benchmarks use it: plain calls that return the status
//! and the body, and typed shortcuts for the common resources.

use serde_json::{json, Value};

/// A JSON HTTP client that remembers nothing between requests.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder().build().expect("client")
}

/// A client that shows redirects instead of following them.
pub fn no_redirect_http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// `POST url` with a JSON body: `(status, JSON body or null)`.
pub async fn post(http: &reqwest::Client, url: &str, body: Value) -> (u16, Value) {
    let response = http.post(url).json(&body).send().await.expect("post");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// `GET url`: `(status, JSON body or null)`.
pub async fn get(http: &reqwest::Client, url: &str) -> (u16, Value) {
    let response = http.get(url).send().await.expect("get");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// One request with extra headers and an optional JSON body: `(status, JSON body or null)`.
pub async fn call(
    http: &reqwest::Client,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = http.request(method, url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("send");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Creates a zone (hostmaster `hostmaster@example.org`); asserts the 202 and returns its id.
pub async fn create_zone(http: &reqwest::Client, base: &str, name: &str) -> String {
    let (status, body) = post(
        http,
        &format!("{base}/v2/zones"),
        json!({"name": name, "email": "hostmaster@example.org"}),
    )
    .await;
    assert_eq!(status, 202, "zone create: {body}");
    body["id"].as_str().expect("zone id").to_owned()
}

/// Creates a record set; asserts the 202 and returns its id.
pub async fn create_recordset(
    http: &reqwest::Client,
    base: &str,
    zone_id: &str,
    name: &str,
    rtype: &str,
    records: &[&str],
) -> String {
    let (status, body) = post(
        http,
        &format!("{base}/v2/zones/{zone_id}/recordsets"),
        json!({"name": name, "type": rtype, "records": records}),
    )
    .await;
    assert_eq!(status, 202, "record set create {name} {rtype} {records:?}: {body}");
    body["id"].as_str().expect("record set id").to_owned()
}
