//! Record data rules per type: valid examples and their canonical form, and refusals.
#![allow(clippy::unwrap_used)]

use nsplane_schema::name::RecordsetName;
use nsplane_schema::rdata::*;

fn ok(t: RecordType, data: &str) -> String {
    match validate_record(t, data) {
        Ok(s) => s,
        Err(e) => panic!("{t} `{data}` should be valid: {e}"),
    }
}

fn invalid(t: RecordType, data: &str) {
    match validate_record(t, data) {
        Err(RdataError::Invalid { rtype, .. }) => assert_eq!(rtype, t),
        other => panic!("{t} `{data}` should be Invalid, got {other:?}"),
    }
}

fn rs(name: &str) -> RecordsetName {
    RecordsetName::parse(name).unwrap()
}

const SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

#[test]
fn type_names_codes_and_parsing() {
    assert_eq!(RecordType::ALL.len(), 17);
    for t in RecordType::ALL {
        assert_eq!(RecordType::parse(t.as_str()), Ok(t));
        assert_eq!(t.as_str().parse::<RecordType>(), Ok(t));
        assert_eq!(t.to_string(), t.as_str());
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, format!("\"{}\"", t.as_str()));
    }
    assert_eq!(RecordType::A.code(), 1);
    assert_eq!(RecordType::CAA.code(), 257);
    assert_eq!(RecordType::HTTPS.code(), 65);
    assert_eq!(RecordType::TLSA.code(), 52);
    assert_eq!(RecordType::SPF.code(), 99);
    for s in [
        "DS", "DNSKEY", "LOC", "URI", "ALIAS", "ANY", "AXFR", "TYPE99", "a", "txt",
    ] {
        assert!(
            matches!(RecordType::parse(s), Err(RdataError::UnsupportedType { .. })),
            "{s}"
        );
    }
    for s in ["", "FOO", "TYPE", "TYPE99999", "A "] {
        assert!(
            matches!(RecordType::parse(s), Err(RdataError::UnknownType { .. })),
            "{s}"
        );
    }
    assert_eq!(
        RecordType::parse("FOO").unwrap_err().to_string(),
        "`FOO` is not a valid record type"
    );
}

#[test]
fn newlines_are_refused_for_every_type() {
    for t in RecordType::ALL {
        assert_eq!(validate_record(t, "a\nb"), Err(RdataError::Newline));
        assert_eq!(validate_record(t, "a\rb"), Err(RdataError::Newline));
    }
    assert_eq!(
        validate_record(RecordType::TXT, "\"line1\nline2\""),
        Err(RdataError::Newline)
    );
    for t in RecordType::ALL {
        invalid(t, "   ");
    }
}

#[test]
fn a_records() {
    assert_eq!(ok(RecordType::A, " 192.0.2.1 "), "192.0.2.1");
    invalid(RecordType::A, "192.0.2.256");
    invalid(RecordType::A, "192.0.2");
    invalid(RecordType::A, "::1");
    invalid(RecordType::A, "192.0.2.1 192.0.2.2");
}

#[test]
fn aaaa_records() {
    assert_eq!(ok(RecordType::AAAA, "2001:DB8:0:0:0:0:0:1"), "2001:db8::1");
    assert_eq!(ok(RecordType::AAAA, "::1"), "::1");
    invalid(RecordType::AAAA, "192.0.2.1");
    invalid(RecordType::AAAA, "2001:db8::g");
    invalid(RecordType::AAAA, "2001:db8:::1");
}

#[test]
fn cname_ns_ptr_records() {
    for t in [RecordType::CNAME, RecordType::NS, RecordType::PTR] {
        assert_eq!(ok(t, "WWW.Example.org."), "www.example.org.");
        invalid(t, "www.example.org");
        invalid(t, "*.example.org.");
        invalid(t, "a b.");
        invalid(t, ".");
        invalid(t, "-x.example.org.");
    }
}

#[test]
fn mx_records() {
    assert_eq!(ok(RecordType::MX, "10   Mail.Example.org."), "10 mail.example.org.");
    assert_eq!(ok(RecordType::MX, "0 mail.example.org."), "0 mail.example.org.");
    invalid(RecordType::MX, "010 mail.example.org.");
    invalid(RecordType::MX, "65536 mail.example.org.");
    invalid(RecordType::MX, "-1 mail.example.org.");
    invalid(RecordType::MX, "10 mail.example.org");
    invalid(RecordType::MX, "mail.example.org.");
    invalid(RecordType::MX, "10 mail.example.org. extra");
}

#[test]
fn soa_records() {
    assert_eq!(
        ok(
            RecordType::SOA,
            "NS1.example.org. Host\\.master.Example.org. 1 3600 600 86400 3600"
        ),
        "ns1.example.org. host\\.master.example.org. 1 3600 600 86400 3600"
    );
    assert_eq!(
        ok(
            RecordType::SOA,
            "ns1.example.org. hostmaster.example.org. 4294967295 0 0 2147483647 0"
        ),
        "ns1.example.org. hostmaster.example.org. 4294967295 0 0 2147483647 0"
    );
    invalid(
        RecordType::SOA,
        "ns1.example.org. hostmaster.example.org. 0 3600 600 86400 3600",
    );
    invalid(
        RecordType::SOA,
        "ns1.example.org. hostmaster.example.org. 4294967296 3600 600 86400 3600",
    );
    invalid(
        RecordType::SOA,
        "ns1.example.org. hostmaster.example.org. 1 2147483648 600 86400 3600",
    );
    invalid(
        RecordType::SOA,
        "ns1.example.org. hostmaster.example.org 1 3600 600 86400 3600",
    );
    invalid(RecordType::SOA, "ns1.example.org. hostmaster. 1 3600 600 86400 3600");
    invalid(
        RecordType::SOA,
        "ns1.example.org. hostmaster.example.org. 1 3600 600 86400",
    );
}

#[test]
fn soa_with_an_escaped_dot_in_the_mailbox_round_trips() {
    // The shape `event::soa_rdata` produces for `host.master@example.org`.
    let soa = "ns1.example.org. host\\.master.example.org. 7 3600 600 86400 3600";
    assert_eq!(ok(RecordType::SOA, soa), soa);
    invalid(
        RecordType::SOA,
        "ns1.example.org. host\\ master.example.org. 7 3600 600 86400 3600",
    );
    invalid(
        RecordType::SOA,
        "ns1.example.org. host@master.example.org. 7 3600 600 86400 3600",
    );
}

#[test]
fn srv_records() {
    assert_eq!(
        ok(RecordType::SRV, "10 060 5060 SIP.example.org."),
        "10 60 5060 sip.example.org."
    );
    assert_eq!(ok(RecordType::SRV, "0 0 0 ."), "0 0 0 .");
    invalid(RecordType::SRV, "10 60 65536 sip.example.org.");
    invalid(RecordType::SRV, "10 60 5060 sip.example.org");
    invalid(RecordType::SRV, "10 60 sip.example.org.");
    invalid(RecordType::SRV, "10 x 5060 sip.example.org.");
}

#[test]
fn sshfp_records() {
    assert_eq!(ok(RecordType::SSHFP, "4 0 ABCDEF0123"), "4 0 abcdef0123");
    assert_eq!(
        ok(RecordType::SSHFP, &format!("4 2 {}", SHA256.to_uppercase())),
        format!("4 2 {SHA256}")
    );
    assert_eq!(ok(RecordType::SSHFP, &format!("1 2 {SHA256}")), format!("1 2 {SHA256}"));
    // SHA-1 is 20 bytes and SHA-256 32: BIND refuses a transfer with any other length.
    invalid(RecordType::SSHFP, "4 2 abcdef0123");
    invalid(RecordType::SSHFP, "1 1 abcdef0123");
    invalid(RecordType::SSHFP, &format!("1 1 {}", "a".repeat(38)));
    assert!(validate_record(RecordType::SSHFP, &format!("1 1 {}", "a".repeat(40))).is_ok());
    invalid(RecordType::SSHFP, "5 1 abcdef0123");
    invalid(RecordType::SSHFP, "1 3 abcdef0123");
    invalid(RecordType::SSHFP, "1 1 abcdef012");
    invalid(RecordType::SSHFP, &format!("1 1 {}", "a".repeat(41)));
    invalid(RecordType::SSHFP, "1 1 abcdefghij");
}

#[test]
fn txt_and_spf_records() {
    for t in [RecordType::TXT, RecordType::SPF] {
        assert_eq!(ok(t, "  v=spf1 "), "v=spf1");
        assert_eq!(ok(t, "\"v=spf1 -all\""), "\"v=spf1 -all\"");
        assert_eq!(ok(t, "\"say \\\"hi\\\"\""), "\"say \\\"hi\\\"\"");
        assert_eq!(ok(t, "\"\""), "\"\"");
        let long = format!("\"{}\" \"{}\"", "a".repeat(255), "b".repeat(100));
        assert_eq!(ok(t, &long), long);
        assert!(validate_record(t, &"a".repeat(255)).is_ok());
        invalid(t, &"a".repeat(256));
        invalid(t, &format!("\"{}\"", "a".repeat(256)));
        invalid(t, "two words");
        invalid(t, "\"unbalanced");
        invalid(t, "unbalanced\"");
        invalid(t, "\"inner \" quote\"");
        invalid(t, "inner\"quote");
        invalid(t, "trailing\\");
        invalid(t, "\"trailing\\\"");
        invalid(t, "\"a\"b");
        // `;` starts a comment in zone files, `(` and `)` group lines: quoted or escaped only.
        invalid(t, "v=spf1;x");
        invalid(t, "(x)");
        assert_eq!(ok(t, "\"v=spf1;x\""), "\"v=spf1;x\"");
        assert_eq!(ok(t, "v=spf1\\;x"), "v=spf1\\;x");
    }
}

#[test]
fn caa_records() {
    assert_eq!(
        ok(RecordType::CAA, "0 issue letsencrypt.org"),
        "0 issue letsencrypt.org"
    );
    assert_eq!(
        ok(RecordType::CAA, "0  issue \"ca.example.net; account=230123\""),
        "0 issue \"ca.example.net; account=230123\""
    );
    assert_eq!(ok(RecordType::CAA, "1 issuewild ;"), "1 issuewild ;");
    assert_eq!(
        ok(RecordType::CAA, "0 iodef mailto:security@example.org"),
        "0 iodef mailto:security@example.org"
    );
    assert_eq!(
        ok(RecordType::CAA, "0 iodef \"https://iodef.example.org/report\""),
        "0 iodef \"https://iodef.example.org/report\""
    );
    invalid(RecordType::CAA, "2 issue letsencrypt.org");
    invalid(RecordType::CAA, "0 policy letsencrypt.org");
    invalid(RecordType::CAA, "0 issue -bad-.org");
    invalid(RecordType::CAA, "0 issue ca.example.net; account");
    invalid(RecordType::CAA, "0 iodef ftp://example.org/");
    invalid(RecordType::CAA, "0 iodef mailto:nobody");
    invalid(RecordType::CAA, "0 iodef https://exa mple.org/");
    invalid(RecordType::CAA, "0 issue");
    invalid(RecordType::CAA, "0 issue \"letsencrypt.org");
}

#[test]
fn naptr_records() {
    assert_eq!(
        ok(
            RecordType::NAPTR,
            "100 10 \"S\" \"SIP+D2U\" \"\" _sip._udp.Example.org."
        ),
        "100 10 \"S\" \"SIP+D2U\" \"\" _sip._udp.example.org."
    );
    assert_eq!(
        ok(RecordType::NAPTR, "100 10 u E2U+sip \"!^.*$!sip:info@example.org!\" ."),
        "100 10 \"u\" \"E2U+sip\" \"!^.*$!sip:info@example.org!\" ."
    );
    invalid(RecordType::NAPTR, "100 10 \"X\" \"SIP+D2U\" \"\" .");
    invalid(RecordType::NAPTR, "65536 10 \"S\" \"SIP+D2U\" \"\" .");
    invalid(RecordType::NAPTR, "100 10 \"S\" \"SIP+D2U\" \"\"");
    invalid(RecordType::NAPTR, "100 10 \"S\" \"SIP+D2U\" \"!^.*$!\" .");
    invalid(RecordType::NAPTR, "100 10 \"S\" \"1SIP\" \"\" .");
    invalid(RecordType::NAPTR, "100 10 \"S\" \"SIP+D2U\" \"\" example.org");
    invalid(RecordType::NAPTR, "100 10 \"S \"SIP+D2U\" \"\" .");
}

#[test]
fn cert_records() {
    assert_eq!(
        ok(RecordType::CERT, "PGP 0 RSASHA256 aGVs bG8="),
        "PGP 0 RSASHA256 aGVsbG8="
    );
    assert_eq!(ok(RecordType::CERT, "00001 65535 8 aGVsbG8h"), "1 65535 8 aGVsbG8h");
    assert_eq!(
        ok(RecordType::CERT, "IPKIX 1 DSA-NSEC3-SHA1 aGk="),
        "IPKIX 1 DSA-NSEC3-SHA1 aGk="
    );
    invalid(RecordType::CERT, "FOO 0 RSASHA256 aGVsbG8=");
    invalid(RecordType::CERT, "PGP 65536 RSASHA256 aGVsbG8=");
    invalid(RecordType::CERT, "PGP 0 256 aGVsbG8=");
    invalid(RecordType::CERT, "PGP 0 SHA1 aGVsbG8=");
    invalid(RecordType::CERT, "PGP 0 RSASHA256 aGVsbG8");
    invalid(RecordType::CERT, "PGP 0 RSASHA256 aGVs*G8=");
    invalid(RecordType::CERT, "PGP 0 RSASHA256");
}

#[test]
fn svcb_and_https_records() {
    assert_eq!(
        ok(RecordType::HTTPS, "0 Pool.svc.Example.org."),
        "0 pool.svc.example.org."
    );
    assert_eq!(
        ok(
            RecordType::HTTPS,
            "1 . ipv6hint=2001:DB8:0::1 port=0443 alpn=\"h2,h3\" ipv4hint=192.0.2.1,192.0.2.2 mandatory=port,alpn"
        ),
        "1 . mandatory=alpn,port alpn=h2,h3 port=443 ipv4hint=192.0.2.1,192.0.2.2 ipv6hint=2001:db8::1"
    );
    assert_eq!(
        ok(
            RecordType::SVCB,
            "1 dns.example.org. alpn=h2 no-default-alpn dohpath=/dns-query{?dns} ech=aGVsbG8="
        ),
        "1 dns.example.org. alpn=h2 no-default-alpn ech=aGVsbG8= dohpath=/dns-query{?dns}"
    );
    invalid(RecordType::HTTPS, "0 . alpn=h2");
    invalid(RecordType::HTTPS, "1 . dohpath=/dns-query{?dns}");
    invalid(RecordType::SVCB, "1 . dohpath=dns-query{?dns}");
    invalid(RecordType::SVCB, "1 . dohpath=/{?dns");
    invalid(RecordType::SVCB, "1 . alpn=h4");
    invalid(RecordType::SVCB, "1 . no-default-alpn");
    invalid(RecordType::SVCB, "1 . mandatory=port");
    invalid(RecordType::SVCB, "1 . ipv4hint=2001:db8::1");
    invalid(RecordType::SVCB, "1 . ipv6hint=192.0.2.1");
    invalid(RecordType::SVCB, "1 . port=65536");
    invalid(RecordType::SVCB, "1 . ech=***");
    invalid(RecordType::SVCB, "1 . foo=bar");
    invalid(RecordType::SVCB, "1 . port=1 port=2");
    invalid(RecordType::SVCB, "1 . port");
    invalid(RecordType::SVCB, "65536 .");
    invalid(RecordType::SVCB, "1 svc.example.org");
    invalid(RecordType::SVCB, "1");
}

#[test]
fn tlsa_records() {
    assert_eq!(
        ok(RecordType::TLSA, &format!("3 1 1 {}", SHA256.to_uppercase())),
        format!("3 1 1 {SHA256}")
    );
    assert_eq!(
        ok(
            RecordType::TLSA,
            &format!("3 1 1 ( {} {} )", &SHA256[..32], &SHA256[32..])
        ),
        format!("3 1 1 {SHA256}")
    );
    assert_eq!(ok(RecordType::TLSA, "0 0 0 abcd"), "0 0 0 abcd");
    assert!(validate_record(RecordType::TLSA, &format!("3 1 2 {SHA256}{SHA256}")).is_ok());
    invalid(RecordType::TLSA, "3 1 1 abcd");
    invalid(RecordType::TLSA, &format!("3 1 2 {SHA256}"));
    invalid(RecordType::TLSA, "3 1 0 abc");
    invalid(RecordType::TLSA, "3 1 0 xyzw");
    invalid(RecordType::TLSA, "256 1 0 abcd");
    invalid(RecordType::TLSA, "3 1 0");
}

#[test]
fn owner_names() {
    assert!(validate_owner_name(RecordType::SRV, &rs("_sip._tcp.example.org.")).is_ok());
    for bad in [
        "sip._tcp.example.org.",
        "_sip.tcp.example.org.",
        "_sip._tcp.",
        "*.example.org.",
    ] {
        assert!(matches!(
            validate_owner_name(RecordType::SRV, &rs(bad)),
            Err(RdataError::BadOwnerName {
                rtype: RecordType::SRV,
                ..
            })
        ));
    }
    assert!(validate_owner_name(RecordType::TLSA, &rs("_443._tcp.www.example.org.")).is_ok());
    assert!(validate_owner_name(RecordType::TLSA, &rs("_65535._udp.example.org.")).is_ok());
    for bad in [
        "_65536._tcp.example.org.",
        "_https._tcp.example.org.",
        "_443.tcp.example.org.",
        "443._tcp.example.org.",
        "_443._tcp.",
    ] {
        assert!(matches!(
            validate_owner_name(RecordType::TLSA, &rs(bad)),
            Err(RdataError::BadOwnerName {
                rtype: RecordType::TLSA,
                ..
            })
        ));
    }
    assert!(validate_owner_name(RecordType::NS, &rs("sub.example.org.")).is_ok());
    assert!(matches!(
        validate_owner_name(RecordType::NS, &rs("*.example.org.")),
        Err(RdataError::BadOwnerName {
            rtype: RecordType::NS,
            ..
        })
    ));
    assert!(validate_owner_name(RecordType::CNAME, &rs("*.example.org.")).is_ok());
    assert!(validate_owner_name(RecordType::A, &rs("*.example.org.")).is_ok());
}
