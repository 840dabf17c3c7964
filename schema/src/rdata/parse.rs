//! One validator per record type (SVCB and HTTPS are in `svcb`): presentation text to typed data.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use super::data::*;
use super::lex::*;
use crate::name::DnsName;

// ---------------------------------------------------------------------------------------------
// Per-type validators.
// ---------------------------------------------------------------------------------------------

pub(super) fn validate_a(data: &str) -> Result<RecordData, Reason> {
    Ipv4Addr::from_str(data)
        .map(RecordData::A)
        .map_err(|_| format!("`{data}` is not a valid IPv4 address"))
}

pub(super) fn validate_aaaa(data: &str) -> Result<RecordData, Reason> {
    Ipv6Addr::from_str(data)
        .map(RecordData::Aaaa)
        .map_err(|_| format!("`{data}` is not a valid IPv6 address"))
}

pub(super) fn validate_single_name(data: &str) -> Result<DnsName, Reason> {
    let parts = expect_fields(data, &["target"])?;
    parse_name(parts[0], "target")
}

pub(super) fn validate_mx(data: &str) -> Result<RecordData, Reason> {
    let parts = expect_fields(data, &["priority", "exchange"])?;
    let prio = parts[0];
    // Designate: the priority must be a plain integer string (what int() would print back).
    let plain = !prio.is_empty() && prio.bytes().all(|b| b.is_ascii_digit()) && (prio == "0" || !prio.starts_with('0'));
    if !plain {
        return Err(format!(
            "priority must be a plain integer between 0 and 65535, not `{prio}`"
        ));
    }
    let preference = int16(prio, "priority", u16::MAX)?;
    let exchange = parse_name(parts[1], "exchange")?;
    Ok(RecordData::Mx { preference, exchange })
}

/// Characters allowed unescaped in the first (mailbox) label of an SOA RNAME, beyond letters and digits.
pub const MAILBOX_CHARS: &[u8] = b"_-+!#%&'*/=?^`{|}~";

/// Checks an SOA RNAME: an absolute name of at least two labels whose first label is a mailbox
/// local part (which may hold `\`-escaped characters such as `\.`). Lower-cased.
pub(super) fn parse_rname(s: &str) -> Result<Mailbox, Reason> {
    let bad = |why: &str| format!("rname `{s}` is not a valid mailbox name: {why}");
    // Find the first unescaped dot: the end of the mailbox label.
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut end = None;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\\' {
            match bytes.get(i + 1) {
                Some(n) if n.is_ascii_graphic() => {
                    i += 2;
                    continue;
                }
                _ => return Err(bad("a backslash must escape a printable character")),
            }
        }
        if b == b'.' {
            end = Some(i);
            break;
        }
        if !(b.is_ascii_alphanumeric() || MAILBOX_CHARS.contains(&b)) {
            return Err(bad("the mailbox label holds a character that is not allowed"));
        }
        i += 1;
    }
    let end = end.ok_or_else(|| bad("it must end with a dot (fully qualified)"))?;
    let local_text = s[..end].to_ascii_lowercase();
    let local = unescape(&local_text, "rname")?;
    if local.is_empty() {
        return Err(bad("the mailbox label is empty"));
    }
    if local.len() > 63 {
        return Err(bad("the mailbox label is longer than 63 characters"));
    }
    if s.len() > 254 {
        return Err(bad("it is longer than 254 characters"));
    }
    let domain = parse_name(&s[end + 1..], "rname domain")?;
    let mailbox = Mailbox {
        presentation: format!("{local_text}.{domain}"),
        local,
        domain,
    };
    if mailbox.wire_len() > 255 {
        return Err(bad("it is longer than 255 bytes on the wire"));
    }
    Ok(mailbox)
}

pub(super) fn validate_soa(data: &str) -> Result<RecordData, Reason> {
    let parts = expect_fields(
        data,
        &["mname", "rname", "serial", "refresh", "retry", "expire", "minimum"],
    )?;
    let mname = parse_name(parts[0], "mname")?;
    let rname = parse_rname(parts[1])?;
    let max = 2_147_483_647;
    let int32 = |s: &str, what: &str, min: u64, max: u64| parse_int(s, what, min, max).map(|v| v as u32);
    Ok(RecordData::Soa {
        mname,
        rname,
        serial: int32(parts[2], "serial", 1, u64::from(u32::MAX))?,
        refresh: int32(parts[3], "refresh", 0, max)?,
        retry: int32(parts[4], "retry", 0, max)?,
        expire: int32(parts[5], "expire", 0, max)?,
        minimum: int32(parts[6], "minimum", 0, max)?,
    })
}

pub(super) fn validate_srv(data: &str) -> Result<RecordData, Reason> {
    let parts = expect_fields(data, &["priority", "weight", "port", "target"])?;
    Ok(RecordData::Srv {
        priority: int16(parts[0], "priority", u16::MAX)?,
        weight: int16(parts[1], "weight", u16::MAX)?,
        port: int16(parts[2], "port", u16::MAX)?,
        target: parse_target(parts[3], "target")?,
    })
}

pub(super) fn validate_sshfp(data: &str) -> Result<RecordData, Reason> {
    let parts = expect_fields(data, &["algorithm", "fp_type", "fingerprint"])?;
    let algorithm = int8(parts[0], "algorithm", 4)?;
    let fp_type = int8(parts[1], "fingerprint type", 2)?;
    let fp = parts[2];
    let len_ok = (10..=40).contains(&fp.len()) || fp.len() == 64;
    if !is_hex(fp) || !len_ok {
        return Err(format!(
            "fingerprint must be 10 to 40 or exactly 64 hex characters, not `{fp}`"
        ));
    }
    // A SHA-1 fingerprint is 20 bytes and a SHA-256 one 32 (RFC 4255, RFC 6594); secondaries refuse a
    // transfer holding any other length, so such a record could never be served.
    let digest_hex = match fp_type {
        1 => Some(40),
        2 => Some(64),
        _ => None,
    };
    if let Some(expected) = digest_hex {
        if fp.len() != expected {
            return Err(format!(
                "fingerprint type {fp_type} needs exactly {expected} hex characters, not {}",
                fp.len()
            ));
        }
    }
    Ok(RecordData::Sshfp {
        algorithm,
        fp_type,
        fingerprint: decode_hex(fp, "fingerprint")?,
    })
}

/// The longest character-string in TXT data.
pub(super) const MAX_TXT_STRING: usize = 255;

/// Designate's TXT/SPF rules, on trimmed, non-empty data.
pub(super) fn validate_txt(data: &str) -> Result<Text, Reason> {
    if !data.starts_with('"') {
        // One unquoted string.
        if data.ends_with('"') {
            return Err(
                "double quotes must be balanced: the value ends with a quote but does not start with one".to_string(),
            );
        }
        let len = data.chars().count();
        if len > MAX_TXT_STRING {
            return Err(format!(
                "an unquoted string is {len} characters; longer values must be split into quoted strings of at most 255 characters each (\"...\" \"...\")"
            ));
        }
        if data.chars().any(char::is_whitespace) {
            return Err("whitespace is only allowed inside double quotes".to_string());
        }
        let mut chars = data.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    chars
                        .next()
                        .ok_or_else(|| "the value may not end with a backslash".to_string())?;
                }
                '"' => return Err("double quotes inside the value must be escaped with a backslash".to_string()),
                // Zone-file syntax gives these a meaning outside quotes (`;` starts a comment), so the
                // canonical text would not say what is served.
                ';' | '(' | ')' => {
                    return Err(format!(
                        "`{c}` must be inside double quotes or escaped with a backslash"
                    ))
                }
                _ => {}
            }
        }
        let string = unescape(data, "the string")?;
        check_string_len(&string, "the string")?;
        return Ok(Text {
            presentation: data.to_string(),
            strings: vec![string],
        });
    }
    // One or more quoted strings separated by whitespace.
    let mut strings = Vec::new();
    let mut chars = data.char_indices().peekable();
    loop {
        // At an opening quote.
        let start = match chars.next() {
            Some((i, '"')) => i + 1,
            _ => return Err("after a quoted string only whitespace and another quoted string may follow".to_string()),
        };
        let mut len = 0usize;
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if chars.next().is_none() {
                        return Err("the value may not end with a backslash (it escapes the closing quote)".to_string());
                    }
                    len += 2;
                }
                '"' => {
                    end = Some(i);
                    break;
                }
                _ => len += 1,
            }
        }
        let Some(end) = end else {
            return Err("double quotes must be balanced: a quoted string is not closed".to_string());
        };
        if len > MAX_TXT_STRING {
            return Err(format!(
                "a quoted string is {len} characters; each may be at most 255 (split longer values into \"...\" \"...\")"
            ));
        }
        let string = unescape(&data[start..end], "a quoted string")?;
        check_string_len(&string, "a quoted string")?;
        strings.push(string);
        match chars.peek() {
            None => {
                return Ok(Text {
                    presentation: data.to_string(),
                    strings,
                })
            }
            Some((_, c)) if c.is_whitespace() => {
                while chars.peek().is_some_and(|(_, c)| c.is_whitespace()) {
                    chars.next();
                }
            }
            Some(_) => return Err("double quotes inside the value must be escaped with a backslash".to_string()),
        }
    }
}

pub(super) fn validate_caa(data: &str) -> Result<RecordData, Reason> {
    let (flags, rest) = split_word(data);
    let (tag, value) = split_word(rest);
    if tag.is_empty() || value.is_empty() {
        return Err("expected `flags tag value`".to_string());
    }
    let flags = int8(flags, "flags", 1)?;
    let inner = unquote(value, "value")?;
    if inner.contains('"') {
        return Err(format!("value `{value}` may not contain inner double quotes"));
    }
    match tag {
        "issue" | "issuewild" => {
            let mut entries = inner.split(';');
            let issuer = entries.next().unwrap_or("").trim();
            if !issuer.is_empty() {
                check_relative_domain(issuer, "issuer domain")?;
            }
            for entry in entries {
                let entry = entry.trim();
                if entry.is_empty() {
                    continue;
                }
                let (k, v) = entry
                    .split_once('=')
                    .ok_or_else(|| format!("parameter `{entry}` must be of the form key=value"))?;
                if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Err(format!("parameter key `{k}` must be letters and digits only"));
                }
                if v.is_empty() || !v.bytes().all(|b| b.is_ascii_graphic() && b != b';') {
                    return Err(format!("parameter `{k}` needs a value without spaces or semicolons"));
                }
            }
        }
        "iodef" => {
            if let Some(addr) = inner.strip_prefix("mailto:") {
                let (local, domain) = addr
                    .split_once('@')
                    .ok_or_else(|| format!("iodef `{inner}` is not a valid mailto: URL"))?;
                let local_ok =
                    !local.is_empty() && local.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-+.".contains(&b));
                if !local_ok {
                    return Err(format!("iodef `{inner}` has an invalid mailbox"));
                }
                check_relative_domain(domain, "iodef domain")?;
            } else if let Some(rest) = inner.strip_prefix("https://").or_else(|| inner.strip_prefix("http://")) {
                let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
                let host = match authority.rsplit_once(':') {
                    Some((host, port)) => {
                        parse_int(port, "iodef URL port", 0, 65535)?;
                        host
                    }
                    None => authority,
                };
                check_relative_domain(host, "iodef URL host")?;
            } else {
                return Err(format!("iodef `{inner}` must be a mailto: or http(s):// URL"));
            }
        }
        other => {
            return Err(format!(
                "tag `{other}` is not supported: it must be issue, issuewild or iodef"
            ))
        }
    }
    Ok(RecordData::Caa {
        flags,
        tag: tag.to_owned(),
        presentation: value.to_owned(),
        value: unescape(inner, "value")?,
    })
}

/// Checks a NAPTR service field: empty, or `+`-separated parts each starting with a letter.
pub(super) fn check_naptr_service(s: &str) -> Result<(), Reason> {
    if s.is_empty() {
        return Ok(());
    }
    for part in s.split('+') {
        let ok = part.len() <= 32
            && part.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b':' || b == b'-');
        if !ok {
            return Err(format!(
                "service `{s}` is not valid: it must be parts like `E2U+sip` or `SIP+D2U`, each starting with a letter"
            ));
        }
    }
    Ok(())
}

/// Checks a NAPTR regexp field: empty, or `<d>ere<d>replacement<d>` with an optional final `i`,
/// where the delimiter `<d>` is not a digit, `i` or a backslash.
pub(super) fn check_naptr_regexp(s: &str) -> Result<(), Reason> {
    let bad =
        || format!("regexp `{s}` is not valid: it must look like `!ere!replacement!` (optionally followed by `i`)");
    let mut chars = s.chars();
    let Some(delim) = chars.next() else {
        return Ok(());
    };
    if delim.is_ascii_digit() || delim == 'i' || delim == '\\' || delim.is_whitespace() {
        return Err(bad());
    }
    let mut parts: Vec<String> = vec![String::new()];
    while let Some(c) = chars.next() {
        if c == '\\' {
            let next = chars.next().ok_or_else(bad)?;
            if let Some(last) = parts.last_mut() {
                last.push(c);
                last.push(next);
            }
        } else if c == delim {
            parts.push(String::new());
        } else if let Some(last) = parts.last_mut() {
            last.push(c);
        }
    }
    // Expect: ere, replacement, flags.
    match parts.as_slice() {
        [ere, repl, flags] if !ere.is_empty() && !repl.is_empty() && (flags.is_empty() || flags == "i") => Ok(()),
        _ => Err(bad()),
    }
}

pub(super) fn validate_naptr(data: &str) -> Result<RecordData, Reason> {
    let parts = expect_fields(
        data,
        &["order", "preference", "flags", "service", "regexp", "replacement"],
    )?;
    let order = int16(parts[0], "order", u16::MAX)?;
    let preference = int16(parts[1], "preference", u16::MAX)?;
    let mut texts = Vec::with_capacity(3);
    let mut wire = Vec::with_capacity(3);
    for (field, what) in parts[2..5].iter().zip(["flags", "service", "regexp"]) {
        let inner = unquote(field, what)?;
        if inner.contains('"') {
            return Err(format!("{what} `{field}` may not contain inner double quotes"));
        }
        if inner.chars().count() > MAX_TXT_STRING {
            return Err(format!("{what} may be at most 255 characters"));
        }
        let bytes = unescape(inner, what)?;
        check_string_len(&bytes, what)?;
        texts.push(inner);
        wire.push(bytes);
    }
    let (flags, service, regexp) = (texts[0], texts[1], texts[2]);
    if !flags.bytes().all(|b| b"APSUapsu".contains(&b)) {
        return Err(format!(
            "flags `{flags}` are not valid: only A, P, S and U (either case) are allowed"
        ));
    }
    check_naptr_service(service)?;
    check_naptr_regexp(regexp)?;
    let replacement = parse_target(parts[5], "replacement")?;
    let mut wire = wire.into_iter();
    Ok(RecordData::Naptr {
        order,
        preference,
        flags: wire.next().unwrap_or_default(),
        service: wire.next().unwrap_or_default(),
        regexp: wire.next().unwrap_or_default(),
        texts: [flags.to_owned(), service.to_owned(), regexp.to_owned()],
        replacement,
    })
}

/// CERT type mnemonics and their numbers (RFC 4398 §2.1, IANA's certificate types). Designate also
/// lists `DPKIX` and `DPTR`, which have no number in any registry, so they cannot be served and are refused.
pub(super) const CERT_TYPES: &[(&str, u16)] = &[
    ("PKIX", 1),
    ("SPKI", 2),
    ("PGP", 3),
    ("IPKIX", 4),
    ("ISPKI", 5),
    ("IPGP", 6),
    ("ACPKIX", 7),
    ("IACPKIX", 8),
    ("URI", 253),
    ("OID", 254),
];

/// CERT algorithm mnemonics and their numbers (DNSSEC algorithm numbers).
pub(super) const CERT_ALGORITHMS: &[(&str, u16)] = &[
    ("RSAMD5", 1),
    ("DH", 2),
    ("DSA", 3),
    ("ECC", 4),
    ("RSASHA1", 5),
    ("DSA-NSEC3-SHA1", 6),
    ("RSASHA1-NSEC3-SHA1", 7),
    ("RSASHA256", 8),
    ("RSASHA512", 10),
    ("ECC-GOST", 12),
    ("ECDSAP256SHA256", 13),
    ("ECDSAP384SHA384", 14),
    ("ED25519", 15),
    ("ED448", 16),
    ("INDIRECT", 252),
    ("PRIVATEDNS", 253),
    ("PRIVATEOID", 254),
];

/// A number in `0..=max` (canonicalised), or one of `mnemonics` (kept as given).
pub(super) fn number_or_mnemonic(s: &str, what: &str, max: u16, mnemonics: &[(&str, u16)]) -> Result<Mnemonic, Reason> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        let value = int16(s, what, max)?;
        return Ok(Mnemonic {
            value,
            text: value.to_string(),
        });
    }
    if let Some((text, value)) = mnemonics.iter().find(|(m, _)| *m == s) {
        return Ok(Mnemonic {
            value: *value,
            text: (*text).to_owned(),
        });
    }
    let names: Vec<&str> = mnemonics.iter().map(|(m, _)| *m).collect();
    Err(format!(
        "{what} `{s}` is not valid: it must be a number between 0 and {max} or one of {}",
        names.join(", ")
    ))
}

pub(super) fn validate_cert(data: &str) -> Result<RecordData, Reason> {
    let parts = fields(data);
    if parts.len() < 4 {
        return Err(format!(
            "expected `type key_tag algorithm certificate`, found {} fields",
            parts.len()
        ));
    }
    let cert_type = number_or_mnemonic(parts[0], "certificate type", u16::MAX, CERT_TYPES)?;
    let key_tag = int16(parts[1], "key tag", u16::MAX)?;
    let algorithm = number_or_mnemonic(parts[2], "algorithm", 255, CERT_ALGORITHMS)?;
    let cert: String = parts[3..].concat();
    check_base64(&cert, "certificate")?;
    Ok(RecordData::Cert {
        cert_type,
        key_tag,
        algorithm,
        certificate: decode_base64(&cert),
        certificate_base64: cert,
    })
}

pub(super) fn validate_tlsa(data: &str) -> Result<RecordData, Reason> {
    let cleaned = data.replace(['(', ')'], " ");
    let parts = fields(&cleaned);
    if parts.len() < 4 {
        return Err(format!(
            "expected `usage selector matching_type data`, found {} fields",
            parts.len()
        ));
    }
    let usage = int8(parts[0], "usage", u8::MAX)?;
    let selector = int8(parts[1], "selector", u8::MAX)?;
    let matching_type = int8(parts[2], "matching type", u8::MAX)?;
    let cert = parts[3..].concat();
    if !is_hex(&cert) {
        return Err("certificate association data must be hex".to_string());
    }
    if !cert.len().is_multiple_of(2) {
        return Err(format!(
            "certificate association data must have an even number of hex characters, not {}",
            cert.len()
        ));
    }
    let expected = match matching_type {
        1 => Some(64),
        2 => Some(128),
        _ => None,
    };
    if let Some(expected) = expected {
        if cert.len() != expected {
            return Err(format!(
                "matching type {matching_type} needs exactly {expected} hex characters of data, not {}",
                cert.len()
            ));
        }
    }
    Ok(RecordData::Tlsa {
        usage,
        selector,
        matching_type,
        data: decode_hex(&cert, "certificate association data")?,
    })
}
