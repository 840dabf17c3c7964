//! What `schema` accepts, mdns serves and a real BIND transfers (the issue "one door for every change",
//! point 8: a zone name with an underscore made mdns SERVFAIL the whole catalog zone, an SVCB `dohpath`
//! made a zone unservable). Generated zone names, owner names and record data of every type: each is
//! accepted by the API, encoded by the data plane to exactly the length `schema` promises, served by
//! mdns, transferred by BIND byte for byte, and the catalog zone keeps being served throughout.

use std::collections::BTreeSet;
use std::time::Duration;

use nsplane_dataplane::client::{self, SoaAnswer};
use nsplane_dataplane::records;
use nsplane_schema::serial::serial_reached;
use nsplane_schema::{RecordData, RecordType};
use nsplane_testkit::arbitrary::{rdata, zone_case, ZoneCase, PLACED_TYPES};
use nsplane_testkit::*;
use proptest::prelude::*;
use proptest::strategy::ValueTree as _;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::json;

const CATALOG: &str = "catalog.prop.test.";
const WAIT: Duration = Duration::from_secs(90);
/// Zones of generated data in the end-to-end test (each with a record set of every type).
const ZONES: usize = 12;

/// What BIND's own parser makes of a record's presentation text: its RDATA in hex (`named-rrchecker -u`),
/// an oracle independent of nsplane's encoder.
fn bind_wire(rtype: RecordType, text: &str) -> String {
    use std::io::Write as _;
    let mut child = std::process::Command::new("named-rrchecker")
        .arg("-u")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run named-rrchecker (apt-get install bind9-utils)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("IN {rtype} {text}\n").as_bytes())
        .expect("write");
    let output = child.wait_with_output().expect("named-rrchecker");
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "BIND's parser refuses {rtype} {text:?}, which schema accepted: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // CLASS1 TYPEnn \# length hex...
    out.split_whitespace().skip(4).collect::<String>().to_uppercase()
}

fn accepted(rtype: &str, text: &str) -> RecordData {
    let rtype = RecordType::parse(rtype).expect("a supported type");
    RecordData::parse(rtype, text)
        .unwrap_or_else(|e| panic!("the generator made {rtype} {text:?}, which schema refuses: {e}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Every accepted record: the data plane encodes exactly the bytes BIND's parser makes of its
    /// canonical text, of the length `schema` promises; the record encodes as a whole; and its canonical
    /// form reads back as the same value.
    #[test]
    fn every_accepted_record_is_encoded_as_bind_reads_it(
        (rtype, text) in prop::sample::select(PLACED_TYPES.to_vec()).prop_flat_map(|(t, _)| (Just(t), rdata(t)))
    ) {
        let data = accepted(rtype, &text);
        let wire = records::encode(&data);
        prop_assert_eq!(hex(&wire), bind_wire(data.rtype(), &data.to_string()));
        prop_assert_eq!(wire.len(), data.wire_len());
        let owner = records::name("www.example.org.").expect("owner");
        let record = records::record(owner, 300, &data).expect("record");
        let encoded = hickory_proto::serialize::binary::BinEncodable::to_bytes(&record).expect("the record encodes");
        prop_assert!(encoded.len() >= wire.len().min(10));
        let again = RecordData::parse(data.rtype(), &data.to_string()).expect("the canonical form is valid");
        prop_assert_eq!(again, data);
    }
}

/// A zone transfer as `dig` prints it with every RDATA in RFC 3597 form: `(owner, type, rdata hex)`.
async fn transfer(server: std::net::SocketAddr, zone: &str) -> BTreeSet<(String, String, String)> {
    let output = tokio::process::Command::new("dig")
        .arg(format!("@{}", server.ip()))
        .args([
            "-p",
            &server.port().to_string(),
            zone,
            "AXFR",
            "+unknownformat",
            "+nocmd",
            "+nostats",
            "+nocomments",
        ])
        .output()
        .await
        .expect("run dig");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        !text.contains("Transfer failed"),
        "AXFR of {zone} from {server} failed:\n{text}"
    );
    text.lines()
        .filter(|line| !line.starts_with(';') && !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // owner ttl class type \# length hex...
            let hex = fields.iter().skip(6).copied().collect::<String>();
            (fields[0].to_lowercase(), fields[3].to_owned(), hex.to_uppercase())
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

async fn serves(server: std::net::SocketAddr, zone: &str, serial: u32) -> bool {
    matches!(client::soa(server, zone, Duration::from_millis(300)).await, Ok(SoaAnswer::Serial(s)) if serial_reached(s, serial))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn everything_schema_accepts_mdns_serves_and_bind_transfers() {
    let seed: u64 = std::env::var("PROPTEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand_seed);
    eprintln!("generated zones from seed {seed} (replay with PROPTEST_SEED={seed})");
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(Config::default(), TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes));
    let cases: Vec<ZoneCase> = (0..ZONES)
        .map(|_| zone_case().new_tree(&mut runner).expect("generate").current())
        .collect();

    let ns = namespace().await;
    let mdns = mdns_sockets().await;
    let mdns_addr = mdns.0.local_addr().expect("mdns addr");
    let bind = nsplane_testkit::secondaries::bind(mdns_addr.port(), CATALOG);
    let node = FullNode::start(&ns, mdns, &pools::catalog_pool(mdns_addr, &[bind.addr()], CATALOG)).await;
    let base = node.node.base.clone();
    let http = http();
    let mut zones = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let zone = format!("{}.z{i}.prop.test.", case.label);
        let (status, body) = post(
            &http,
            &format!("{base}/v2/zones"),
            json!({"name": zone, "email": case.email}),
        )
        .await;
        assert_eq!(status, 202, "zone {zone} ({case:?}): {body}");
        let zone_id = body["id"].as_str().expect("id").to_owned();
        let mut expected = BTreeSet::new();
        for (owner, rtype, records) in &case.recordsets {
            let name = if *owner == "@" {
                zone.clone()
            } else {
                format!("{owner}.{zone}")
            };
            let (status, body) = post(
                &http,
                &format!("{base}/v2/zones/{zone_id}/recordsets"),
                json!({"name": name, "type": rtype, "records": records}),
            )
            .await;
            assert_eq!(status, 202, "{name} {rtype} {records:?}: {body}");
            // What the API stored, as BIND itself reads it, is what must be served.
            let rtype = RecordType::parse(rtype).expect("type");
            for canonical in body["records"].as_array().expect("records") {
                let canonical = canonical.as_str().expect("text");
                expected.insert((name.clone(), bind_wire(rtype, canonical)));
            }
        }
        zones.push((zone, zone_id, expected));
    }
    for (zone, zone_id, expected) in &zones {
        let (_, shown) = get(&http, &format!("{base}/v2/zones/{zone_id}")).await;
        let serial = u32::try_from(shown["serial"].as_u64().expect("serial")).expect("u32");
        let deadline = tokio::time::Instant::now() + WAIT;
        while !serves(bind.addr(), zone, serial).await {
            if tokio::time::Instant::now() > deadline {
                let log = bind.log();
                let about: Vec<&str> = log.lines().filter(|l| l.contains(zone.trim_end_matches('.'))).collect();
                panic!(
                    "BIND does not serve {zone} at {serial}; its log says:\n{}",
                    about.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let from_mdns = transfer(mdns_addr, zone).await;
        let from_bind = transfer(bind.addr(), zone).await;
        assert!(
            from_mdns.len() > expected.len(),
            "mdns transferred {zone}: {from_mdns:?}"
        );
        assert_eq!(from_bind, from_mdns, "BIND holds exactly what mdns served for {zone}");
        let served: BTreeSet<(String, String)> = from_mdns.iter().map(|(o, _, h)| (o.clone(), h.clone())).collect();
        let missing: Vec<_> = expected.difference(&served).collect();
        assert!(missing.is_empty(), "accepted but not served in {zone}: {missing:?}");
        eventually(&format!("{zone} turns ACTIVE"), WAIT, || async {
            get(&http, &format!("{base}/v2/zones/{zone_id}")).await.1["status"] == "ACTIVE"
        })
        .await;
    }
    // The catalog lists every one of them, and keeps bringing new zones to BIND.
    let catalog = transfer(mdns_addr, CATALOG).await;
    for (zone, _, _) in &zones {
        let member = bind_wire(RecordType::PTR, zone);
        assert!(catalog.iter().any(|(_, _, h)| *h == member), "{zone} is in the catalog");
    }
    let after = create_zone(&http, &base, "after.prop.test.").await;
    let (_, shown) = get(&http, &format!("{base}/v2/zones/{after}")).await;
    let serial = u32::try_from(shown["serial"].as_u64().expect("serial")).expect("u32");
    eventually("a zone created afterwards reaches BIND", WAIT, || {
        serves(bind.addr(), "after.prop.test.", serial)
    })
    .await;
    node.node.stop().await;
}

fn rand_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(7)
}
