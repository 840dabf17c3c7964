//! The data plane against real secondaries: a change accepted by the API is served by BIND (through
//! the pool's catalog zone) and the zone's status says so; a one-record change travels as IXFR; a
//! deleted zone stops being served.

use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};
use nsplane_dataplane::client::{self, SoaAnswer};
use nsplane_testkit::secondaries::{bind as start_bind, knot as start_knot};
use nsplane_testkit::*;
use serde_json::json;

pub(crate) const CATALOG: &str = "catalog.nsplane.test.";
pub(crate) const WAIT: Duration = Duration::from_secs(30);
pub(crate) const QUERY: Duration = Duration::from_millis(500);

pub(crate) fn catalog_pool(mdns_port: u16, secondaries: &[std::net::SocketAddr]) -> String {
    let mut yaml = String::from(
        "- name: default\n  ns_records:\n    - hostname: ns1.example.net.\n      priority: 1\n  nameservers:\n",
    );
    for s in secondaries {
        yaml.push_str(&format!("    - host: {}\n      port: {}\n", s.ip(), s.port()));
    }
    yaml.push_str("  targets:\n");
    for s in secondaries {
        yaml.push_str(&format!(
            "    - type: catalog\n      masters:\n        - host: 127.0.0.1\n          port: {mdns_port}\n      options:\n        host: {}\n        port: {}\n",
            s.ip(),
            s.port()
        ));
    }
    yaml.push_str(&format!(
        "  catalog_zone:\n    catalog_zone_fqdn: {CATALOG}\n    catalog_zone_refresh: 60\n"
    ));
    yaml
}

pub(crate) async fn a_records(server: std::net::SocketAddr, name: &str) -> Option<Vec<String>> {
    let reply = client::query(server, name, RecordType::A, QUERY).await.ok()?;
    if reply.metadata.response_code != ResponseCode::NoError {
        return None;
    }
    let mut out: Vec<String> = reply
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.to_string()),
            _ => None,
        })
        .collect();
    out.sort();
    Some(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bind_serves_what_the_api_accepted_through_the_catalog() {
    let ns = namespace().await;
    let mdns = mdns_sockets().await;
    let mdns_port = mdns.0.local_addr().expect("addr").port();
    let bind = start_bind(mdns_port, CATALOG);
    let knot = start_knot(mdns_port, CATALOG);
    let node = FullNode::start(&ns, mdns, &catalog_pool(mdns_port, &[bind.addr(), knot.addr()])).await;
    let base = node.node.base.clone();
    let http = http();

    // Create: BIND and Knot learn the zone from the catalog and answers its SOA; the zone turns ACTIVE.
    let zone_id = create_zone(&http, &base, "bound.example.org.").await;
    let zone_url = format!("{base}/v2/zones/{zone_id}");
    eventually("zone ACTIVE", WAIT, || async {
        get(&http, &zone_url).await.1["status"] == "ACTIVE"
    })
    .await;
    let (_, zone) = get(&http, &zone_url).await;
    let serial = zone["serial"].as_u64().expect("serial") as u32;
    assert_eq!(
        client::soa(bind.addr(), "bound.example.org.", QUERY)
            .await
            .expect("soa"),
        SoaAnswer::Serial(serial)
    );
    assert_eq!(zone["nameservers_sync"][0]["status"], "SYNCED", "{zone}");

    // A record set: BIND serves it, the record set and zone are ACTIVE.
    let (status, created) = post(
        &http,
        &format!("{zone_url}/recordsets"),
        json!({"name": "www.bound.example.org.", "type": "A", "records": ["192.0.2.10", "192.0.2.11"]}),
    )
    .await;
    assert_eq!(status, 202);
    let rs_url = format!("{zone_url}/recordsets/{}", created["id"].as_str().expect("id"));
    for server in [bind.addr(), knot.addr()] {
        eventually("BIND and Knot serve the new record set", WAIT, || async {
            a_records(server, "www.bound.example.org.").await == Some(vec!["192.0.2.10".into(), "192.0.2.11".into()])
        })
        .await;
    }
    eventually("record set ACTIVE", WAIT, || async {
        get(&http, &rs_url).await.1["status"] == "ACTIVE"
    })
    .await;

    // Grow the zone, then change one record: BIND must fetch only the difference (IXFR).
    for n in 0..30 {
        let (status, _) = post(
            &http,
            &format!("{zone_url}/recordsets"),
            json!({"name": format!("t{n}.bound.example.org."), "type": "TXT", "records": [format!("\"filler {n}\"")]}),
        )
        .await;
        assert_eq!(status, 202);
    }
    let (_, zone) = get(&http, &zone_url).await;
    let grown = zone["serial"].as_u64().expect("serial") as u32;
    eventually("BIND caught up with the fillers", WAIT, || async {
        client::soa(bind.addr(), "bound.example.org.", QUERY).await.ok() == Some(SoaAnswer::Serial(grown))
    })
    .await;
    let response = http
        .put(&rs_url)
        .json(&json!({"records": ["192.0.2.12"]}))
        .send()
        .await
        .expect("put");
    assert_eq!(response.status().as_u16(), 202);
    for server in [bind.addr(), knot.addr()] {
        eventually("BIND and Knot serve the update", WAIT, || async {
            a_records(server, "www.bound.example.org.").await == Some(vec!["192.0.2.12".into()])
        })
        .await;
    }
    let (_, zone) = get(&http, &zone_url).await;
    let serial = zone["serial"].as_u64().expect("serial");
    let log = bind.log();
    let transferred: Option<u64> = log
        .lines()
        .filter(|l| {
            l.contains("'bound.example.org/IN'")
                && l.contains("Transfer completed")
                && l.contains(&format!("(serial {serial})"))
        })
        .find_map(|l| l.split(" records").next()?.rsplit(' ').next()?.parse().ok());
    let transferred = transferred.unwrap_or_else(|| panic!("no transfer of serial {serial} in BIND's log:\n{log}"));
    // An AXFR would carry all 34 records; the IXFR carries 4 SOAs, the 2 removed and the 1 added A record.
    assert!(
        transferred <= 7,
        "the one-record change cost {transferred} records: not incremental\n{log}"
    );
    let response = http.delete(&rs_url).send().await.expect("delete");
    assert_eq!(response.status().as_u16(), 202);
    eventually("BIND no longer serves the deleted record set", WAIT, || async {
        a_records(bind.addr(), "www.bound.example.org.").await.is_none()
    })
    .await;

    // Delete the zone: BIND drops it (catalog), the zone is DELETED and gone from the API.
    let response = http.delete(&zone_url).send().await.expect("delete");
    assert_eq!(response.status().as_u16(), 202);
    eventually("BIND stops serving the zone", WAIT, || async {
        matches!(
            client::soa(bind.addr(), "bound.example.org.", QUERY).await,
            Ok(SoaAnswer::NotServed(_))
        )
    })
    .await;
    eventually("zone gone from the API", WAIT, || async {
        get(&http, &zone_url).await.0 == 404
    })
    .await;
    // Its name is free again.
    let again = create_zone(&http, &base, "bound.example.org.").await;
    assert_ne!(again, zone_id);
    node.node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stopped_secondary_turns_its_zones_to_error_and_back_without_help() {
    let ns = namespace().await;
    let mdns = mdns_sockets().await;
    let mdns_port = mdns.0.local_addr().expect("addr").port();
    let healthy = start_bind(mdns_port, CATALOG);
    let mut flaky = start_bind(mdns_port, CATALOG);
    let node = FullNode::start(&ns, mdns, &catalog_pool(mdns_port, &[healthy.addr(), flaky.addr()])).await;
    let base = node.node.base.clone();
    let http = http();
    let zone_id = create_zone(&http, &base, "flaky.example.org.").await;
    let zone_url = format!("{base}/v2/zones/{zone_id}");
    eventually("zone ACTIVE on both", WAIT, || async {
        get(&http, &zone_url).await.1["status"] == "ACTIVE"
    })
    .await;

    flaky.stop();
    let (status, _) = post(
        &http,
        &format!("{zone_url}/recordsets"),
        json!({"name": "www.flaky.example.org.", "type": "A", "records": ["192.0.2.77"]}),
    )
    .await;
    assert_eq!(status, 202);
    // The bound (the worker's sync timeout, 5 s here) passes: ERROR, with the per-server detail.
    eventually("zone ERROR", WAIT, || async {
        get(&http, &zone_url).await.1["status"] == "ERROR"
    })
    .await;
    let (_, zone) = get(&http, &zone_url).await;
    let sync = zone["nameservers_sync"].as_array().expect("sync").clone();
    let by_server = |addr: std::net::SocketAddr| sync.iter().find(|s| s["nameserver"] == addr.to_string()).cloned();
    assert_eq!(
        by_server(healthy.addr()).expect("healthy")["status"],
        "SYNCED",
        "{zone}"
    );
    assert_eq!(by_server(flaky.addr()).expect("flaky")["status"], "ERROR", "{zone}");
    assert_eq!(
        a_records(healthy.addr(), "www.flaky.example.org.").await,
        Some(vec!["192.0.2.77".to_owned()])
    );

    // Back up: the worker's retries turn the zone ACTIVE by themselves.
    flaky.restart().expect("restart named");
    eventually("zone ACTIVE again", Duration::from_secs(90), || async {
        get(&http, &zone_url).await.1["status"] == "ACTIVE"
    })
    .await;
    assert_eq!(
        a_records(flaky.addr(), "www.flaky.example.org.").await,
        Some(vec!["192.0.2.77".to_owned()])
    );
    node.node.stop().await;
}

/// Drives one zone through create, a record set, and delete, checking at each step that `secondary`
/// follows and that the zone's status says so.
async fn zone_lifecycle(node: &FullNode, secondary: std::net::SocketAddr, zone: &str) {
    let http = http();
    let base = &node.node.base;
    let zone_id = create_zone(&http, base, zone).await;
    let zone_url = format!("{base}/v2/zones/{zone_id}");
    eventually("zone ACTIVE", WAIT, || async {
        get(&http, &zone_url).await.1["status"] == "ACTIVE"
    })
    .await;
    let www = format!("www.{zone}");
    let (status, _) = post(
        &http,
        &format!("{zone_url}/recordsets"),
        json!({"name": www, "type": "A", "records": ["192.0.2.53"]}),
    )
    .await;
    assert_eq!(status, 202);
    eventually("the secondary serves the record set", WAIT, || async {
        a_records(secondary, &www).await == Some(vec!["192.0.2.53".to_owned()])
    })
    .await;
    eventually("zone ACTIVE after the change", WAIT, || async {
        get(&http, &zone_url).await.1["status"] == "ACTIVE"
    })
    .await;
    let response = http.delete(&zone_url).send().await.expect("delete");
    assert_eq!(response.status().as_u16(), 202);
    eventually("the secondary no longer serves the zone", WAIT, || async {
        !matches!(client::soa(secondary, zone, QUERY).await, Ok(SoaAnswer::Serial(_)))
    })
    .await;
    eventually("zone gone from the API", WAIT, || async {
        get(&http, &zone_url).await.0 == 404
    })
    .await;
}

/// A zone's content as sorted presentation lines, without the duplicate closing SOA.
async fn zone_text(server: std::net::SocketAddr, zone: &str) -> Vec<String> {
    let mut records = client::axfr(server, zone, Duration::from_secs(10)).await.expect("axfr");
    records.pop();
    let mut lines: Vec<String> = records.iter().map(|r| r.to_string().to_lowercase()).collect();
    lines.sort();
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_a_thousand_changes_leaves_every_secondary_equal_to_mdns() {
    let ns = namespace().await;
    let mdns = mdns_sockets().await;
    let mdns_port = mdns.0.local_addr().expect("addr").port();
    let bind = start_bind(mdns_port, CATALOG);
    let knot = start_knot(mdns_port, CATALOG);
    let node = FullNode::start(&ns, mdns, &catalog_pool(mdns_port, &[bind.addr(), knot.addr()])).await;
    let base = node.node.base.clone();
    let http = http();
    let mut zones = Vec::new();
    for z in 0..20 {
        let name = format!("burst{z}.example.org.");
        zones.push((create_zone(&http, &base, &name).await, name));
    }
    // 1,000 changes: creates, updates and deletes, from 8 concurrent clients.
    let mut tasks = Vec::new();
    for client_idx in 0..8usize {
        let (base, zones) = (base.clone(), zones.clone());
        tasks.push(tokio::spawn(async move {
            let http = nsplane_testkit::http();
            let mut done = 0;
            let mut n = 0usize;
            while done < 125 {
                let (zone_id, zone) = &zones[(client_idx * 7 + n) % zones.len()];
                let url = format!("{base}/v2/zones/{zone_id}/recordsets");
                let body = json!({"name": format!("c{client_idx}n{n}.{zone}"), "type": "A", "records": [format!("198.51.100.{}", n % 250)]});
                let (status, created) = post(&http, &url, body).await;
                assert_eq!(status, 202, "{created}");
                done += 1;
                let id = created["id"].as_str().expect("id").to_owned();
                if n.is_multiple_of(3) && done < 125 {
                    let response = http.put(format!("{url}/{id}")).json(&json!({"records": ["203.0.113.1", "203.0.113.2"]})).send().await.expect("put");
                    assert_eq!(response.status().as_u16(), 202);
                    done += 1;
                }
                if n.is_multiple_of(5) && done < 125 {
                    let response = http.delete(format!("{url}/{id}")).send().await.expect("delete");
                    assert_eq!(response.status().as_u16(), 202);
                    done += 1;
                }
                n += 1;
            }
        }));
    }
    for task in tasks {
        task.await.expect("client");
    }
    // Every type's presentation form must survive mdns's encoding and the secondaries' parsing alike.
    let (zone_id, zone) = &zones[0];
    let diverse = [
        ("mail", "MX", "10 mx.example.net."),
        ("v6", "AAAA", "2001:db8::53"),
        ("text", "TXT", "\"v=spf1 -all\" \"second string\""),
        ("spf", "SPF", "\"v=spf1 include:example.net -all\""),
        ("_sip._tcp", "SRV", "10 60 5060 sip.example.net."),
        ("caa", "CAA", "0 issue \"letsencrypt.org\""),
        ("alias", "CNAME", "target.example.net."),
        ("ssh", "SSHFP", "1 1 0123456789abcdef0123456789abcdef01234567"),
        (
            "_443._tcp",
            "TLSA",
            "3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ),
        ("naptr", "NAPTR", "100 10 \"S\" \"SIP+D2U\" \"\" _sip._udp.example.net."),
        ("ptr", "PTR", "host.example.net."),
        ("sub", "NS", "ns.sub.example.net."),
    ];
    for (label, rtype, data) in diverse {
        let (status, body) = post(
            &http,
            &format!("{base}/v2/zones/{zone_id}/recordsets"),
            json!({"name": format!("{label}.{zone}"), "type": rtype, "records": [data]}),
        )
        .await;
        assert_eq!(status, 202, "{rtype}: {body}");
    }
    for (zone_id, _) in &zones {
        let url = format!("{base}/v2/zones/{zone_id}");
        eventually("every zone ACTIVE", Duration::from_secs(60), || async {
            get(&http, &url).await.1["status"] == "ACTIVE"
        })
        .await;
    }
    for (_, zone) in &zones {
        let expected = zone_text(node.mdns, zone).await;
        assert!(
            expected.len() > 20,
            "{zone} has the burst's records: {}",
            expected.len()
        );
        assert_eq!(
            zone_text(bind.addr(), zone).await,
            expected,
            "BIND's copy of {zone} differs from mdns"
        );
    }
    node.node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tsig_required_pool_serves_only_signed_transfers() {
    let ns = namespace().await;
    let mdns = mdns_sockets().await;
    let mdns_addr = mdns.0.local_addr().expect("addr");
    let pool_id = nsplane_schema::ids::DEFAULT_POOL_ID.0;
    let keys_yaml = format!(
        "- name: pool-key.\n  algorithm: hmac-sha256\n  secret: c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ==\n  scope: POOL\n  resource_id: {pool_id}\n\
         - name: big-key.\n  algorithm: hmac-sha512\n  secret: YW5vdGhlci1zZWNyZXQtZm9yLXNoYTUxMi1rZXlzIQ==\n  scope: POOL\n  resource_id: {pool_id}\n\
         - name: other-pool-key.\n  algorithm: hmac-sha256\n  secret: b3RoZXItcG9vbC1zZWNyZXQtb3RoZXItcG9vbCE=\n  scope: POOL\n  resource_id: 00000000-0000-0000-0000-000000000001\n"
    );
    let keys = nsplane_dataplane::tsig::Keys::parse(&keys_yaml).expect("keys");
    let tsig = Tsig { keys, required: true };
    // The pool's only name server is mdns itself (signed queries are not needed for SOA polls).
    let pools = format!(
        "- name: default\n  ns_records:\n    - hostname: ns1.example.net.\n      priority: 1\n  nameservers:\n    - host: 127.0.0.1\n      port: {}\n",
        mdns_addr.port()
    );
    let node = FullNode::start_with_tsig(&ns, mdns, &pools, tsig).await;
    let http = http();
    let zone_id = create_zone(&http, &node.node.base, "signed.example.org.").await;
    let zone_url = format!("{}/v2/zones/{zone_id}", node.node.base);
    eventually("zone ACTIVE", WAIT, || async {
        get(&http, &zone_url).await.1["status"] == "ACTIVE"
    })
    .await;
    let signer = |name: &str, alg: &str, secret: &str| {
        let yaml = format!(
            "- name: {name}\n  algorithm: {alg}\n  secret: {secret}\n  scope: POOL\n  resource_id: {pool_id}\n"
        );
        nsplane_dataplane::tsig::Key::new(
            &serde_yaml::from_str::<Vec<nsplane_dataplane::tsig::KeyConfig>>(&yaml).expect("yaml")[0],
        )
        .expect("key")
    };
    let zone = "signed.example.org.";
    let t = Duration::from_secs(5);
    // Unsigned: refused.
    let unsigned = client::axfr(node.mdns, zone, t).await;
    assert!(
        unsigned.is_err_and(|e| e.to_string().contains("REFUSED") || format!("{e:#}").contains("Refused")),
        "unsigned AXFR must be refused"
    );
    // Signed with the pool's keys (sha256 and sha512): the whole zone, every message verified.
    for (name, alg, secret) in [
        ("pool-key.", "hmac-sha256", "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ=="),
        (
            "big-key.",
            "hmac-sha512",
            "YW5vdGhlci1zZWNyZXQtZm9yLXNoYTUxMi1rZXlzIQ==",
        ),
    ] {
        let key = signer(name, alg, secret);
        let records = client::axfr_signed(node.mdns, zone, Some(key.signer()), t)
            .await
            .expect("signed AXFR");
        assert!(records.len() >= 3, "SOA, NS, SOA: {records:?}");
    }
    // A wrong secret, an unknown key, and a key of another pool: nothing.
    let wrong_secret = signer("pool-key.", "hmac-sha256", "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldCE=");
    assert!(client::axfr_signed(node.mdns, zone, Some(wrong_secret.signer()), t)
        .await
        .is_err());
    let unknown = signer("nobody.", "hmac-sha256", "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ==");
    assert!(client::axfr_signed(node.mdns, zone, Some(unknown.signer()), t)
        .await
        .is_err());
    let other_pool = signer(
        "other-pool-key.",
        "hmac-sha256",
        "b3RoZXItcG9vbC1zZWNyZXQtb3RoZXItcG9vbCE=",
    );
    assert!(client::axfr_signed(node.mdns, zone, Some(other_pool.signer()), t)
        .await
        .is_err());
    node.node.stop().await;
}

/// A key registered through `/v2/tsigkeys` signs transfers within seconds, a changed secret replaces
/// the old one, and a deleted key stops working: no file, no restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mdns_uses_tsig_keys_as_they_are_registered_changed_and_deleted() {
    let ns = namespace().await;
    let mdns = mdns_sockets().await;
    let mdns_addr = mdns.0.local_addr().expect("addr");
    let tsig = Tsig {
        keys: nsplane_dataplane::tsig::Keys::default(),
        required: true,
    };
    let pools = format!(
        "- name: default\n  ns_records:\n    - hostname: ns1.example.net.\n      priority: 1\n  nameservers:\n    - host: 127.0.0.1\n      port: {}\n",
        mdns_addr.port()
    );
    let node = FullNode::start_with_tsig(&ns, mdns, &pools, tsig).await;
    let http = http();
    let base = node.node.base.clone();
    let zone = "live-keys.example.org.";
    let zone_id = create_zone(&http, &base, zone).await;
    let admin = [("x-auth-project-id", "ops"), ("x-roles", "admin")];
    let (old, new) = (
        "b2xkLXNlY3JldC1vbGQtc2VjcmV0LW9sZC1zZWNyZXQ=",
        "bmV3LXNlY3JldC1uZXctc2VjcmV0LW5ldy1zZWNyZXQ=",
    );
    let signer = |secret: &str| {
        nsplane_dataplane::tsig::Key::new(&nsplane_dataplane::tsig::KeyConfig {
            name: "api-key.".into(),
            algorithm: "hmac-sha256".into(),
            secret: secret.into(),
            scope: nsplane_dataplane::tsig::Scope::Zone,
            resource_id: uuid::Uuid::parse_str(&zone_id).expect("zone id"),
        })
        .expect("key")
    };
    let t = Duration::from_secs(5);
    let transfers = |secret: &'static str| {
        let key = signer(secret);
        async move {
            client::axfr_signed(node.mdns, zone, Some(key.signer()), t)
                .await
                .is_ok()
        }
    };
    assert!(!transfers(old).await, "no key registered yet");
    let (status, key) = call(
        &http,
        "POST",
        &format!("{base}/v2/tsigkeys"),
        &admin,
        Some(
            serde_json::json!({"name": "api-key.", "algorithm": "hmac-sha256", "secret": old,
            "scope": "ZONE", "resource_id": zone_id}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{key}");
    let key_url = format!("{base}/v2/tsigkeys/{}", key["id"].as_str().expect("id"));
    eventually("mdns accepts the registered key", WAIT, || transfers(old)).await;
    let (status, body) = call(
        &http,
        "PATCH",
        &key_url,
        &admin,
        Some(serde_json::json!({"secret": new})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    eventually("mdns uses the new secret", WAIT, || transfers(new)).await;
    assert!(!transfers(old).await, "the old secret no longer signs");
    let (status, _) = call(&http, "DELETE", &key_url, &admin, None).await;
    assert_eq!(status, 204);
    eventually("mdns forgets the deleted key", WAIT, || async { !transfers(new).await }).await;
    node.node.stop().await;
}

/// A name server with a `tsigkey_id` is polled with that key's signature, and only an answer that
/// verifies counts: with the registered key's secret wrong (mdns knows the name with another secret)
/// the zone does not go ACTIVE; with it right, it does.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_worker_signs_soa_polls_with_the_name_servers_key() {
    let ns = namespace().await;
    let mdns = mdns_sockets().await;
    let mdns_addr = mdns.0.local_addr().expect("addr");
    let pool_id = nsplane_schema::ids::DEFAULT_POOL_ID.0;
    let right = "bnMta2V5LXJpZ2h0LXNlY3JldC1ucy1rZXktcmlnaHQ=";
    let wrong = "bnMta2V5LXdyb25nLXNlY3JldC1ucy1rZXktd3Jvbmc=";
    let keys = nsplane_dataplane::tsig::Keys::parse(&format!(
        "- name: ns-key.\n  algorithm: hmac-sha256\n  secret: {right}\n  scope: POOL\n  resource_id: {pool_id}\n"
    ))
    .expect("keys");
    // The key's id follows from the request that registers it.
    let request = format!("req-{}", uuid::Uuid::new_v4());
    let key_id = nsplane_schema::ids::derived_uuid("tsigkey", &nsplane_schema::RequestId(request.clone()));
    let pools = format!(
        "- name: default\n  ns_records:\n    - hostname: ns1.example.net.\n      priority: 1\n  nameservers:\n    - host: 127.0.0.1\n      port: {}\n      tsigkey_id: {key_id}\n",
        mdns_addr.port()
    );
    let node = FullNode::start_with_tsig(&ns, mdns, &pools, Tsig { keys, required: false }).await;
    let http = http();
    let base = node.node.base.clone();
    let admin = [
        ("x-auth-project-id", "ops"),
        ("x-roles", "admin"),
        ("x-openstack-request-id", request.as_str()),
    ];
    let (status, key) = call(
        &http,
        "POST",
        &format!("{base}/v2/tsigkeys"),
        &admin,
        Some(
            serde_json::json!({"name": "ns-key.", "algorithm": "hmac-sha256", "secret": wrong,
            "scope": "POOL", "resource_id": pool_id.to_string()}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{key}");
    assert_eq!(key["id"], key_id.to_string());
    // Let the worker read the key, then create the zone: every poll it signs fails verification.
    tokio::time::sleep(nsplane_dataplane::tsig::KEYS_REFRESH * 2).await;
    let zone_id = create_zone(&http, &base, "signed-polls.example.org.").await;
    let zone_url = format!("{base}/v2/zones/{zone_id}");
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (_, zone) = get(&http, &zone_url).await;
    assert_ne!(
        zone["status"], "ACTIVE",
        "a poll signed with the wrong secret counted: {zone}"
    );
    // mdns answers a poll signed with the right secret with a signed answer that verifies.
    let right_key = nsplane_dataplane::tsig::Key::new(&nsplane_dataplane::tsig::KeyConfig {
        name: "ns-key.".into(),
        algorithm: "hmac-sha256".into(),
        secret: right.into(),
        scope: nsplane_dataplane::tsig::Scope::Pool,
        resource_id: pool_id,
    })
    .expect("key");
    let answer = client::soa_signed(
        node.mdns,
        "signed-polls.example.org.",
        Some(right_key.signer()),
        Duration::from_secs(2),
    )
    .await;
    assert!(
        matches!(answer, Ok(client::SoaAnswer::Serial(_))),
        "a signed poll with the right key: {answer:?}"
    );
    let key_url = format!("{base}/v2/tsigkeys/{key_id}");
    let admin = [("x-auth-project-id", "ops"), ("x-roles", "admin")];
    let (status, body) = call(
        &http,
        "PATCH",
        &key_url,
        &admin,
        Some(serde_json::json!({"secret": right})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // A change after the worker has the right secret: its push's polls verify. (The failed push before
    // may already have given up: its repeated failure report changed nothing; the producer's recovery
    // would push it again after 10 s, and it does not run here.)
    tokio::time::sleep(nsplane_dataplane::tsig::KEYS_REFRESH * 2).await;
    let operator = [
        ("x-auth-project-id", "ops"),
        ("x-roles", "admin"),
        ("x-auth-all-projects", "true"),
    ];
    let (status, body) = call(
        &http,
        "PATCH",
        &zone_url,
        &operator,
        Some(serde_json::json!({"ttl": 600})),
    )
    .await;
    assert!(status == 200 || status == 202, "{status} {body}");
    eventually("the zone goes ACTIVE once the polls verify", WAIT, || async {
        get(&http, &zone_url).await.1["status"] == "ACTIVE"
    })
    .await;
    node.node.stop().await;
}

/// End to end with a real BIND that signs everything it asks mdns and takes only signed NOTIFYs: mdns
/// refuses unsigned transfers and knows the key only through `/v2/tsigkeys`; the worker signs its
/// NOTIFYs and SOA polls with the key the pool's target and name server name. The zone reaches BIND
/// and turns ACTIVE; a record set follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bind_transfers_signed_with_a_key_registered_through_the_api() {
    let ns = namespace().await;
    let mdns = mdns_sockets().await;
    let mdns_port = mdns.0.local_addr().expect("addr").port();
    let secret = "YmluZC10cmFuc2Zlci1rZXktc2VjcmV0LWJpbmQtdHJhbnNmZXI=";
    let bind = nsplane_testkit::secondaries::LocalBind::start_keyed(
        mdns_port,
        CATALOG,
        Some(("transfer-key", "hmac-sha256", secret)),
    )
    .expect("start BIND");
    let request = format!("req-{}", uuid::Uuid::new_v4());
    let key_id = nsplane_schema::ids::derived_uuid("tsigkey", &nsplane_schema::RequestId(request.clone()));
    // The pool's name server and target both name the key.
    let pools = format!(
        "- name: default\n  ns_records:\n    - hostname: ns1.example.net.\n      priority: 1\n  nameservers:\n    \
         - host: 127.0.0.1\n      port: {p}\n      tsigkey_id: {key_id}\n  targets:\n    - type: catalog\n      \
         tsigkey_id: {key_id}\n      masters:\n        - host: 127.0.0.1\n          port: {mdns_port}\n      \
         options:\n        host: 127.0.0.1\n        port: {p}\n  catalog_zone:\n    catalog_zone_fqdn: {CATALOG}\n    \
         catalog_zone_refresh: 60\n",
        p = bind.addr().port()
    );
    assert_eq!(pools.matches("tsigkey_id").count(), 2, "{pools}");
    let tsig = Tsig {
        keys: nsplane_dataplane::tsig::Keys::default(),
        required: true,
    };
    let node = FullNode::start_with_tsig(&ns, mdns, &pools, tsig).await;
    let http = http();
    let base = node.node.base.clone();
    let admin = [
        ("x-auth-project-id", "ops"),
        ("x-roles", "admin"),
        ("x-openstack-request-id", request.as_str()),
    ];
    let (status, key) = call(
        &http,
        "POST",
        &format!("{base}/v2/tsigkeys"),
        &admin,
        Some(
            serde_json::json!({"name": "transfer-key", "algorithm": "hmac-sha256", "secret": secret,
            "scope": "POOL", "resource_id": nsplane_schema::ids::DEFAULT_POOL_ID.0.to_string()}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{key}");
    let zone_id = create_zone(&http, &base, "tsig-bind.example.org.").await;
    let zone_url = format!("{base}/v2/zones/{zone_id}");
    eventually("the zone ACTIVE on a BIND that signs everything", WAIT, || async {
        get(&http, &zone_url).await.1["status"] == "ACTIVE"
    })
    .await;
    let (status, _) = post(
        &http,
        &format!("{zone_url}/recordsets"),
        json!({"name": "www.tsig-bind.example.org.", "type": "A", "records": ["192.0.2.53"]}),
    )
    .await;
    assert_eq!(status, 202);
    eventually("BIND serves the record set", WAIT, || async {
        a_records(bind.addr(), "www.tsig-bind.example.org.").await == Some(vec!["192.0.2.53".into()])
    })
    .await;
    let log = bind.log();
    assert!(
        log.contains("transfer-key"),
        "BIND's log names the key of its transfers:\n{log}"
    );
    // An unsigned transfer from mdns is still refused.
    assert!(client::axfr(node.mdns, "tsig-bind.example.org.", QUERY).await.is_err());
    node.node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn powerdns_gets_its_zones_through_its_http_api() {
    let ns = namespace().await;
    let mdns = mdns_sockets().await;
    let mdns_port = mdns.0.local_addr().expect("addr").port();
    let pdns = nsplane_testkit::secondaries::pdns();
    let pools = format!(
        "- name: default\n  ns_records:\n    - hostname: ns1.example.net.\n      priority: 1\n  nameservers:\n    - host: 127.0.0.1\n      port: {p}\n  \
         targets:\n    - type: pdns4\n      masters:\n        - host: 127.0.0.1\n          port: {mdns_port}\n      options:\n        host: 127.0.0.1\n        port: {p}\n        \
         api_endpoint: {api}\n        api_token: {key}\n",
        p = pdns.port,
        api = pdns.api_endpoint,
        key = pdns.api_key
    );
    let node = FullNode::start(&ns, mdns, &pools).await;
    zone_lifecycle(&node, pdns.addr(), "powered.example.org.").await;
    node.node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bind_managed_with_rndc_gets_zones_added_and_removed() {
    let ns = namespace().await;
    let mdns = mdns_sockets().await;
    let mdns_port = mdns.0.local_addr().expect("addr").port();
    let bind = nsplane_testkit::secondaries::bind_rndc();
    let (rndc_port, key_file) = bind.rndc.clone().expect("control channel");
    let pools = format!(
        "- name: default\n  ns_records:\n    - hostname: ns1.example.net.\n      priority: 1\n  nameservers:\n    - host: 127.0.0.1\n      port: {p}\n  \
         targets:\n    - type: bind9\n      masters:\n        - host: 127.0.0.1\n          port: {mdns_port}\n      options:\n        host: 127.0.0.1\n        port: {p}\n        \
         rndc_host: 127.0.0.1\n        rndc_port: {rndc_port}\n        rndc_key_file: {key}\n",
        p = bind.port,
        key = key_file.display()
    );
    let node = FullNode::start(&ns, mdns, &pools).await;
    zone_lifecycle(&node, bind.addr(), "rndc.example.org.").await;
    assert!(
        bind.log().contains("added zone rndc.example.org"),
        "rndc addzone reached BIND:\n{}",
        bind.log()
    );
    node.node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_committed_pool_change_reaches_every_role() {
    let ns = namespace().await;
    let mdns = mdns_sockets().await;
    let mdns_port = mdns.0.local_addr().expect("addr").port();
    let pool = |ns_host: &str| {
        format!(
            "- name: default\n  ns_records:\n    - hostname: {ns_host}\n      priority: 1\n  nameservers:\n    - host: 127.0.0.1\n      port: {mdns_port}\n"
        )
    };
    let node = FullNode::start(&ns, mdns, &pool("ns1.example.net.")).await;
    let http = http();
    let base = node.node.base.clone();
    let ns_of = |zone_id: String| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let (_, list) = get(&http, &format!("{base}/v2/zones/{zone_id}/recordsets?type=NS")).await;
            list["recordsets"][0]["records"].clone()
        }
    };
    let first = create_zone(&http, &base, "before.example.org.").await;
    assert_eq!(ns_of(first).await, json!(["ns1.example.net."]));
    // `nsplane pool update`: a command on the event stream; the running roles pick it up.
    let version = nsplane_command::PoolsStore::new(node.node.shared.store.clone())
        .update(&pool("ns9.example.net."), nsplane_schema::Metadata::service("test"))
        .await
        .expect("commit");
    assert_eq!(version, 2);
    let mut n = 0;
    eventually("new zones get the new pool's name server", WAIT, || {
        n += 1;
        let name = format!("after{n}.example.org.");
        let (http, base) = (http.clone(), base.clone());
        let ns_of = &ns_of;
        async move { ns_of(create_zone(&http, &base, &name).await).await == json!(["ns9.example.net."]) }
    })
    .await;
    node.node.stop().await;
}

/// Record data that cannot be served (here an SSHFP fingerprint of the wrong length, which the version
/// before this one accepted, committed as such a version would have) fails its own zone, with the
/// reason, and nothing else: the catalog keeps being served and other zones keep reaching BIND.
/// Regression test for the issue "one door for every change", point 8.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_zone_mdns_cannot_serve_fails_alone_with_its_reason() {
    let ns = namespace().await;
    let mdns = mdns_sockets().await;
    let mdns_addr = mdns.0.local_addr().expect("addr");
    let bind = start_bind(mdns_addr.port(), CATALOG);
    let node = FullNode::start(&ns, mdns, &catalog_pool(mdns_addr.port(), &[bind.addr()])).await;
    let base = node.node.base.clone();
    let http = http();
    let bad = create_zone(&http, &base, "bad-data.example.org.").await;
    let bad_url = format!("{base}/v2/zones/{bad}");
    eventually("the zone is ACTIVE first", WAIT, || async {
        get(&http, &bad_url).await.1["status"] == "ACTIVE"
    })
    .await;
    // A record written by an older, laxer validation: committed straight to the stream, as it was.
    let store = &node.node.shared.store;
    let last = store
        .last::<nsplane_schema::ZoneEvent>(&bad)
        .await
        .expect("read")
        .expect("the zone's commits");
    let serial = match &last.envelope.events[..] {
        [nsplane_schema::ZoneEvent::ZoneSyncReported { serial, .. }] => *serial + 1,
        other => panic!("unexpected last commit {other:?}"),
    };
    let legacy_id = uuid::Uuid::new_v4();
    let legacy = nsplane_schema::ZoneEvent::RecordsetCreated {
        recordset_id: nsplane_schema::RecordsetId(legacy_id),
        project_id: nsplane_schema::ProjectId("noauth-project".into()),
        name: nsplane_schema::RecordsetName::parse("ssh.bad-data.example.org.").expect("name"),
        rtype: nsplane_schema::RecordType::SSHFP,
        records: vec!["1 1 abcdef0123".into()],
        ttl: None,
        description: None,
        serial,
        managed: false,
    };
    let envelope = nsplane_schema::CommitEnvelope::new(
        bad.clone(),
        last.envelope.version + 1,
        vec![legacy],
        nsplane_schema::Metadata::service("test"),
    );
    store
        .append(&envelope, last.stream_seq, &format!("legacy.{bad}"))
        .await
        .expect("append");
    // The zone turns ERROR, and says why.
    eventually("the zone turns ERROR", WAIT, || async {
        get(&http, &bad_url).await.1["status"] == "ERROR"
    })
    .await;
    let (_, zone) = get(&http, &bad_url).await;
    let reason = zone["nameservers_sync"][0]["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(reason.contains("mdns cannot serve this zone"), "{zone}");
    assert!(
        reason.contains("SSHFP") && reason.contains("abcdef0123"),
        "names the record: {reason}"
    );
    // mdns refuses that zone at that serial, and nothing else.
    let reply = client::query(mdns_addr, "bad-data.example.org.", RecordType::SOA, QUERY)
        .await
        .expect("answer");
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
    let catalog = client::axfr(mdns_addr, CATALOG, Duration::from_secs(5))
        .await
        .expect("the catalog is still served");
    assert!(catalog.iter().any(|r| r.record_type() == RecordType::PTR));
    let good = create_zone(&http, &base, "good-data.example.org.").await;
    eventually("a zone created afterwards turns ACTIVE", WAIT, || async {
        get(&http, &format!("{base}/v2/zones/{good}")).await.1["status"] == "ACTIVE"
    })
    .await;
    assert_eq!(
        client::soa(bind.addr(), "good-data.example.org.", QUERY)
            .await
            .ok()
            .map(|a| matches!(a, SoaAnswer::Serial(_))),
        Some(true),
        "BIND serves the other zone"
    );
    // Deleting the record mends the zone. The journal from the serial BIND has still holds the record,
    // so mdns answers that IXFR with a full transfer of the zone as it is now.
    let (status, body) = call(&http, "DELETE", &format!("{bad_url}/recordsets/{legacy_id}"), &[], None).await;
    assert_eq!(status, 202, "{body}");
    eventually("the zone is ACTIVE again", WAIT, || async {
        get(&http, &bad_url).await.1["status"] == "ACTIVE"
    })
    .await;
    let serial = get(&http, &bad_url).await.1["serial"].as_u64().expect("serial");
    assert_eq!(
        client::soa(bind.addr(), "bad-data.example.org.", QUERY).await.ok(),
        Some(SoaAnswer::Serial(u32::try_from(serial).expect("u32"))),
        "BIND serves the mended zone at its serial"
    );
    node.node.stop().await;
}
