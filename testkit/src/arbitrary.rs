//! Generators (proptest strategies) of what `schema` accepts, written to reach its corners: labels with
//! underscores and of the full 63 characters, wildcard owners, every record type with every SVCB/HTTPS
//! key, TXT with quotes, backslashes, decimal escapes and non-ASCII text, CERT and CAA mnemonics. Each
//! generated value is meant to be valid; tests assert that `schema` agrees, so a generator that drifts
//! from the rules fails loudly instead of testing less.

use base64::Engine as _;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::subsequence;

/// A DNS label `schema` accepts: letters, digits, `_` and inner `-`, up to 63 characters.
pub fn label() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z0-9_]{1,8}",
        2 => "[a-z0-9_][a-z0-9_-]{0,20}[a-z0-9_]",
        1 => "[a-z_]{63}",
        1 => "_[a-z]{1,10}",
    ]
}

/// A host name ending in `example.net.`, its first labels generated.
pub fn host() -> impl Strategy<Value = String> {
    vec(label(), 1..3).prop_map(|labels| format!("{}.example.net.", labels.join(".")))
}

/// A host name or the root `.` (SRV targets, NAPTR replacements, SVCB targets).
pub fn target_or_root() -> impl Strategy<Value = String> {
    prop_oneof![4 => host(), 1 => Just(".".to_owned())]
}

fn base64_of(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One piece of a quoted TXT string: printable text, an escaped quote or backslash, a decimal escape,
/// or a non-ASCII character.
fn txt_atom() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[A-Za-z0-9 =:;,./_+-]{1,6}",
        1 => Just("\\\"".to_owned()),
        1 => Just("\\\\".to_owned()),
        1 => (0u16..=255).prop_map(|n| format!("\\{n:03}")),
        1 => Just("é".to_owned()),
        1 => Just("☃".to_owned()),
    ]
}

/// TXT (and SPF) data: one unquoted token, or one to three quoted strings.
pub fn txt() -> impl Strategy<Value = String> {
    let quoted = vec(
        vec(txt_atom(), 0..30).prop_map(|atoms| format!("\"{}\"", atoms.concat())),
        1..4,
    )
    .prop_map(|strings| strings.join(" "));
    prop_oneof![
        1 => "[A-Za-z0-9=:.+-]{1,40}(\\\\;[A-Za-z0-9]{1,5})?",
        4 => quoted,
    ]
}

/// SVCB (`dohpath` allowed) or HTTPS data with any combination of keys, in any order, quoted or not.
pub fn service_binding(svcb: bool) -> impl Strategy<Value = String> {
    let alpn = subsequence(vec!["h3", "h2", "h2c", "http/1.1", "http/1.0"], 1..4).prop_map(|ids| ids.join(","));
    let ipv4 = vec(any::<[u8; 4]>(), 1..3).prop_map(|ips| {
        ips.iter()
            .map(|o| std::net::Ipv4Addr::from(*o).to_string())
            .collect::<Vec<_>>()
            .join(",")
    });
    let ipv6 = vec(any::<[u8; 16]>(), 1..3).prop_map(|ips| {
        ips.iter()
            .map(|o| std::net::Ipv6Addr::from(*o).to_string())
            .collect::<Vec<_>>()
            .join(",")
    });
    let ech = vec(any::<u8>(), 1..40).prop_map(|b| base64_of(&b));
    (
        1u16..=65535,
        target_or_root(),
        proptest::option::of(alpn),
        any::<bool>(),
        proptest::option::of(any::<u16>()),
        proptest::option::of(ipv4),
        proptest::option::of(ipv6),
        proptest::option::of(ech),
        proptest::option::of("[a-z/-]{1,12}"),
        any::<bool>(),
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(
            move |(priority, target, alpn, no_default, port, v4, v6, ech, doh, mandatory, quote, order)| {
                let mut params: Vec<(String, String)> = Vec::new();
                if let Some(alpn) = alpn {
                    params.push(("alpn".into(), alpn));
                    if no_default {
                        params.push(("no-default-alpn".into(), String::new()));
                    }
                }
                if let Some(port) = port {
                    params.push(("port".into(), port.to_string()));
                }
                if let Some(v4) = v4 {
                    params.push(("ipv4hint".into(), v4));
                }
                if let Some(v6) = v6 {
                    params.push(("ipv6hint".into(), v6));
                }
                if let Some(ech) = ech {
                    params.push(("ech".into(), ech));
                }
                if svcb {
                    if let Some(path) = doh {
                        params.push(("dohpath".into(), format!("/{path}{{?dns}}")));
                    }
                }
                if mandatory && !params.is_empty() {
                    let keys: Vec<&str> = params
                        .iter()
                        .map(|(k, _)| k.as_str())
                        .filter(|k| *k != "no-default-alpn")
                        .take(2)
                        .collect();
                    if !keys.is_empty() {
                        let listed = keys.join(",");
                        params.push(("mandatory".into(), listed));
                    }
                }
                // Any order in, sorted by key number out: the generator shuffles deterministically.
                let n = params.len().max(1);
                params.rotate_left(usize::try_from(order % n as u64).unwrap_or(0));
                let mut out = format!("{priority} {target}");
                for (key, value) in params {
                    if value.is_empty() {
                        out.push_str(&format!(" {key}"));
                    } else if quote {
                        out.push_str(&format!(" {key}=\"{value}\""));
                    } else {
                        out.push_str(&format!(" {key}={value}"));
                    }
                }
                out
            },
        )
}

/// Record data of `rtype` (every type Designate supports but SOA, which is managed).
pub fn rdata(rtype: &'static str) -> BoxedStrategy<String> {
    match rtype {
        "A" => any::<[u8; 4]>()
            .prop_map(|o| std::net::Ipv4Addr::from(o).to_string())
            .boxed(),
        "AAAA" => any::<[u8; 16]>()
            .prop_map(|o| std::net::Ipv6Addr::from(o).to_string())
            .boxed(),
        "CNAME" | "NS" | "PTR" => host().boxed(),
        "MX" => (any::<u16>(), host()).prop_map(|(p, h)| format!("{p} {h}")).boxed(),
        "SRV" => (any::<u16>(), any::<u16>(), any::<u16>(), target_or_root())
            .prop_map(|(p, w, port, t)| format!("{p} {w} {port} {t}"))
            .boxed(),
        "SSHFP" => (
            0u8..=4,
            prop_oneof![
                (
                    Just(0u8),
                    prop_oneof![vec(any::<u8>(), 5..=20), vec(any::<u8>(), 32..=32)]
                ),
                (Just(1u8), vec(any::<u8>(), 20..=20)),
                (Just(2u8), vec(any::<u8>(), 32..=32)),
            ],
        )
            .prop_map(|(a, (t, fp))| format!("{a} {t} {}", hex_of(&fp)))
            .boxed(),
        "TXT" | "SPF" => txt().boxed(),
        "CAA" => prop_oneof![
            (0u8..=1, host()).prop_map(|(f, h)| format!("{f} issue \"{}; account=230123\"", h.trim_end_matches('.'))),
            (0u8..=1).prop_map(|f| format!("{f} issuewild \";\"")),
            Just("0 iodef \"mailto:security@example.org\"".to_owned()),
            Just("0 iodef \"https://iodef.example.org/report\"".to_owned()),
        ]
        .boxed(),
        "NAPTR" => (
            any::<u16>(),
            any::<u16>(),
            prop::sample::select(vec!["", "S", "A", "U", "P", "s"]),
            prop::sample::select(vec!["", "E2U+sip", "SIP+D2U", "x-a:b"]),
            prop::sample::select(vec!["", "!^.*$!sip:info@example.org!", "!^(.*)$!\\\\1!i"]),
            target_or_root(),
        )
            .prop_map(|(o, p, f, s, r, t)| format!("{o} {p} \"{f}\" \"{s}\" \"{r}\" {t}"))
            .boxed(),
        "CERT" => (
            prop_oneof![
                any::<u16>().prop_map(|n| n.to_string()),
                prop::sample::select(vec!["PKIX", "PGP", "URI", "OID"]).prop_map(str::to_owned)
            ],
            any::<u16>(),
            prop_oneof![
                any::<u8>().prop_map(|n| n.to_string()),
                prop::sample::select(vec!["RSASHA256", "ED25519", "PRIVATEOID"]).prop_map(str::to_owned)
            ],
            vec(any::<u8>(), 1..120),
        )
            .prop_map(|(t, k, a, cert)| format!("{t} {k} {a} {}", base64_of(&cert)))
            .boxed(),
        "SVCB" => service_binding(true).boxed(),
        "HTTPS" => service_binding(false).boxed(),
        "TLSA" => prop_oneof![
            (any::<u8>(), any::<u8>(), vec(any::<u8>(), 32..=32))
                .prop_map(|(u, s, d)| format!("{u} {s} 1 {}", hex_of(&d))),
            (any::<u8>(), any::<u8>(), vec(any::<u8>(), 64..=64))
                .prop_map(|(u, s, d)| format!("{u} {s} 2 {}", hex_of(&d))),
            (any::<u8>(), any::<u8>(), vec(any::<u8>(), 1..100))
                .prop_map(|(u, s, d)| format!("{u} {s} 0 {}", hex_of(&d))),
        ]
        .boxed(),
        other => panic!("no generator for {other}"),
    }
}

/// The types a record set can be created with, and where in a zone each goes (`@` is the zone).
pub const PLACED_TYPES: [(&str, &str); 17] = [
    ("A", "a"),
    ("A", "*.wild"),
    ("AAAA", "aaaa"),
    ("CNAME", "cname"),
    ("NS", "delegated"),
    ("PTR", "ptr"),
    ("MX", "@"),
    ("SRV", "_sip._tcp"),
    ("SSHFP", "host"),
    ("TXT", "txt"),
    ("SPF", "@"),
    ("CAA", "@"),
    ("NAPTR", "naptr"),
    ("CERT", "cert"),
    ("SVCB", "svc"),
    ("HTTPS", "www"),
    ("TLSA", "_443._tcp.www"),
];

/// One zone's worth of generated data: a first label for its name (the rest is fixed per zone by the
/// test), its hostmaster address, and for every placed type one to three records.
#[derive(Debug, Clone)]
pub struct ZoneCase {
    /// The zone's first label.
    pub label: String,
    /// The hostmaster address.
    pub email: String,
    /// `(owner relative to the zone, type, records)`.
    pub recordsets: Vec<(&'static str, &'static str, Vec<String>)>,
}

/// A zone with a record set of every type.
pub fn zone_case() -> impl Strategy<Value = ZoneCase> {
    let recordsets: Vec<BoxedStrategy<(&'static str, &'static str, Vec<String>)>> = PLACED_TYPES
        .iter()
        .map(|(rtype, owner)| {
            let count = if *rtype == "CNAME" { 1..2 } else { 1..4 };
            vec(rdata(rtype), count)
                .prop_map(move |records| (*owner, *rtype, records))
                .boxed()
        })
        .collect();
    (
        label(),
        prop::sample::select(vec![
            "hostmaster@example.org",
            "host.master+dns@example.org",
            "a_b@x.example.net",
        ]),
        recordsets,
    )
        .prop_map(|(label, email, recordsets)| ZoneCase {
            label,
            email: email.to_owned(),
            recordsets,
        })
}
