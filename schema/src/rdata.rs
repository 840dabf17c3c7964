//! Record types and record data: the 17 [`RecordType`]s Designate supports, per-type validation
//! and canonicalisation of record data in presentation format ([`validate_record`]), and the
//! type-specific rules on a record set's owner name ([`validate_owner_name`]) (designate.md §3.2, §3.3).

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::name::{DnsName, RecordsetName};

/// The 17 record types Designate supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RecordType {
    /// IPv4 address.
    A,
    /// IPv6 address.
    AAAA,
    /// Certification authority authorization.
    CAA,
    /// Certificate.
    CERT,
    /// Canonical name (alias).
    CNAME,
    /// HTTPS service binding.
    HTTPS,
    /// Mail exchange.
    MX,
    /// Naming authority pointer.
    NAPTR,
    /// Name server.
    NS,
    /// Pointer (reverse lookup).
    PTR,
    /// Start of authority (system-managed).
    SOA,
    /// Sender policy framework (legacy type; TXT rules).
    SPF,
    /// Service locator.
    SRV,
    /// SSH key fingerprint.
    SSHFP,
    /// General-purpose service binding.
    SVCB,
    /// TLS certificate association (DANE).
    TLSA,
    /// Text.
    TXT,
}

/// Record types that exist in DNS but that Designate does not support (plus the meta types and
/// ALIAS). Parsing one of these gives [`RdataError::UnsupportedType`] rather than
/// [`RdataError::UnknownType`].
const KNOWN_UNSUPPORTED: &[&str] = &[
    "A6",
    "AFSDB",
    "ALIAS",
    "AMTRELAY",
    "ANAME",
    "ANY",
    "APL",
    "ATMA",
    "AVC",
    "AXFR",
    "CDNSKEY",
    "CDS",
    "CSYNC",
    "DHCID",
    "DLV",
    "DNAME",
    "DNSKEY",
    "DOA",
    "DS",
    "DSYNC",
    "EID",
    "EUI48",
    "EUI64",
    "GID",
    "GPOS",
    "HINFO",
    "HIP",
    "IPSECKEY",
    "ISDN",
    "IXFR",
    "KEY",
    "KX",
    "L32",
    "L64",
    "LOC",
    "LP",
    "MAILA",
    "MAILB",
    "MB",
    "MD",
    "MF",
    "MG",
    "MINFO",
    "MR",
    "NID",
    "NIMLOC",
    "NINFO",
    "NSAP",
    "NSAP-PTR",
    "NSEC",
    "NSEC3",
    "NSEC3PARAM",
    "NULL",
    "NXNAME",
    "NXT",
    "OPENPGPKEY",
    "OPT",
    "PX",
    "RESINFO",
    "RKEY",
    "RP",
    "RRSIG",
    "RT",
    "SIG",
    "SINK",
    "SMIMEA",
    "TA",
    "TALINK",
    "TKEY",
    "TSIG",
    "UID",
    "UINFO",
    "UNSPEC",
    "URI",
    "WALLET",
    "WKS",
    "X25",
    "ZONEMD",
];

impl RecordType {
    /// Every supported type, in alphabetical order.
    pub const ALL: [RecordType; 17] = [
        RecordType::A,
        RecordType::AAAA,
        RecordType::CAA,
        RecordType::CERT,
        RecordType::CNAME,
        RecordType::HTTPS,
        RecordType::MX,
        RecordType::NAPTR,
        RecordType::NS,
        RecordType::PTR,
        RecordType::SOA,
        RecordType::SPF,
        RecordType::SRV,
        RecordType::SSHFP,
        RecordType::SVCB,
        RecordType::TLSA,
        RecordType::TXT,
    ];

    /// Parses a type name. Only the exact upper-case names of the 17 supported types are accepted;
    /// a type DNS knows but Designate does not support (DS, DNSKEY, LOC, URI, ALIAS, ANY, AXFR,
    /// `TYPEnnn`, a lower-case spelling, …) gives [`RdataError::UnsupportedType`], anything else
    /// [`RdataError::UnknownType`].
    pub fn parse(s: &str) -> Result<RecordType, RdataError> {
        if let Some(t) = RecordType::ALL.iter().find(|t| t.as_str() == s) {
            return Ok(*t);
        }
        let upper = s.to_ascii_uppercase();
        let generic = upper
            .strip_prefix("TYPE")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && n.parse::<u16>().is_ok());
        if generic || KNOWN_UNSUPPORTED.contains(&upper.as_str()) || RecordType::ALL.iter().any(|t| t.as_str() == upper)
        {
            Err(RdataError::UnsupportedType { rtype: s.to_string() })
        } else {
            Err(RdataError::UnknownType { rtype: s.to_string() })
        }
    }

    /// The upper-case type name.
    pub fn as_str(&self) -> &'static str {
        match self {
            RecordType::A => "A",
            RecordType::AAAA => "AAAA",
            RecordType::CAA => "CAA",
            RecordType::CERT => "CERT",
            RecordType::CNAME => "CNAME",
            RecordType::HTTPS => "HTTPS",
            RecordType::MX => "MX",
            RecordType::NAPTR => "NAPTR",
            RecordType::NS => "NS",
            RecordType::PTR => "PTR",
            RecordType::SOA => "SOA",
            RecordType::SPF => "SPF",
            RecordType::SRV => "SRV",
            RecordType::SSHFP => "SSHFP",
            RecordType::SVCB => "SVCB",
            RecordType::TLSA => "TLSA",
            RecordType::TXT => "TXT",
        }
    }

    /// The type code used on the wire.
    pub fn code(&self) -> u16 {
        match self {
            RecordType::A => 1,
            RecordType::NS => 2,
            RecordType::CNAME => 5,
            RecordType::SOA => 6,
            RecordType::PTR => 12,
            RecordType::MX => 15,
            RecordType::TXT => 16,
            RecordType::AAAA => 28,
            RecordType::SRV => 33,
            RecordType::NAPTR => 35,
            RecordType::CERT => 37,
            RecordType::SSHFP => 44,
            RecordType::TLSA => 52,
            RecordType::SVCB => 64,
            RecordType::HTTPS => 65,
            RecordType::SPF => 99,
            RecordType::CAA => 257,
        }
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RecordType {
    type Err = RdataError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RecordType::parse(s)
    }
}

/// Why a record type, record data or owner name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RdataError {
    /// Not a DNS record type at all.
    #[error("`{rtype}` is not a valid record type")]
    UnknownType {
        /// The type as given.
        rtype: String,
    },
    /// A DNS record type that Designate does not support.
    #[error("`{rtype}` is not a supported record type")]
    UnsupportedType {
        /// The type as given.
        rtype: String,
    },
    /// The record data breaks a rule of its type.
    #[error("invalid {rtype} record data: {reason}")]
    Invalid {
        /// The record type.
        rtype: RecordType,
        /// What is wrong, as a sentence fragment.
        reason: String,
    },
    /// The record data contains a line feed or carriage return.
    #[error("record data may not contain a newline or carriage return")]
    Newline,
    /// The record set name does not fit its type.
    #[error("invalid name for a {rtype} record set: {reason}")]
    BadOwnerName {
        /// The record type.
        rtype: RecordType,
        /// What is wrong, as a sentence fragment.
        reason: String,
    },
}

/// Validates one record's data in presentation format for the type, Designate's rules (designate.md §3.3),
/// and returns it in a canonical presentation form: fields separated by single spaces, integers in plain
/// decimal, IPv6 in RFC 5952 compressed lower-case form (std's Display gives that), IPv4 dotted quad,
/// domain names in rdata lower-cased and required to be absolute (trailing dot). TXT/SPF keep their quoting as given
/// (canonical: trimmed). Newlines (\n or \r) anywhere are rejected for every type (Designate's 2026 security fix).
///
/// Hex data (SSHFP, TLSA) is lower-cased; whitespace and parentheses inside TLSA data and
/// whitespace inside a CERT certificate are removed; NAPTR text fields are always quoted; SVCB and
/// HTTPS parameters are unquoted and sorted by their key number. CAA values are kept as given.
pub fn validate_record(rtype: RecordType, data: &str) -> Result<String, RdataError> {
    if data.contains(['\n', '\r']) {
        return Err(RdataError::Newline);
    }
    let data = data.trim();
    if data.is_empty() {
        return Err(RdataError::Invalid {
            rtype,
            reason: "record data is empty".to_string(),
        });
    }
    let result = match rtype {
        RecordType::A => validate_a(data),
        RecordType::AAAA => validate_aaaa(data),
        RecordType::CNAME | RecordType::NS | RecordType::PTR => validate_single_name(data),
        RecordType::MX => validate_mx(data),
        RecordType::SOA => validate_soa(data),
        RecordType::SRV => validate_srv(data),
        RecordType::SSHFP => validate_sshfp(data),
        RecordType::TXT | RecordType::SPF => validate_txt(data).map(|()| data.to_string()),
        RecordType::CAA => validate_caa(data),
        RecordType::NAPTR => validate_naptr(data),
        RecordType::CERT => validate_cert(data),
        RecordType::SVCB | RecordType::HTTPS => validate_svcb(rtype, data),
        RecordType::TLSA => validate_tlsa(data),
    };
    result.map_err(|reason| RdataError::Invalid { rtype, reason })
}

/// Type-specific rules on the record set's owner name: SRV names must start with `_service._proto.`
/// (two underscore labels), TLSA names with `_port._proto.` (port a number <= 65535), NS names may not be wildcards,
/// and CNAME/others have no extra rule here.
pub fn validate_owner_name(rtype: RecordType, name: &RecordsetName) -> Result<(), RdataError> {
    let labels = name.as_dns_name().labels();
    let bad = |reason: String| Err(RdataError::BadOwnerName { rtype, reason });
    let is_underscore_label = |l: &str| l.len() > 1 && l.starts_with('_');
    match rtype {
        RecordType::SRV => {
            if labels.len() < 3 || !is_underscore_label(labels[0]) || !is_underscore_label(labels[1]) {
                return bad(format!(
                    "`{name}` must look like `_service._proto.name.` (two labels starting with `_`, then the domain)"
                ));
            }
            Ok(())
        }
        RecordType::TLSA => {
            if labels.len() < 3 || !is_underscore_label(labels[1]) {
                return bad(format!(
                    "`{name}` must look like `_port._proto.name.` (for example `_443._tcp.www.example.org.`)"
                ));
            }
            let port = labels[0].strip_prefix('_').unwrap_or("");
            if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
                return bad(format!(
                    "the first label of `{name}` must be `_` followed by a port number"
                ));
            }
            match port.parse::<u32>() {
                Ok(p) if p <= 65535 => Ok(()),
                _ => bad(format!(
                    "port `{port}` in `{name}` is out of range: it must be between 0 and 65535"
                )),
            }
        }
        RecordType::NS => {
            if name.as_dns_name().is_wildcard() {
                return bad(format!("`{name}` is a wildcard; NS record sets may not be"));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// Shared helpers. Each returns the reason of a refusal as a String; `validate_record` wraps it.
// ---------------------------------------------------------------------------------------------

/// A refusal reason.
type Reason = String;

/// Splits on runs of whitespace.
fn fields(data: &str) -> Vec<&str> {
    data.split_ascii_whitespace().collect()
}

/// Requires exactly `names.len()` fields.
fn expect_fields<'a>(data: &'a str, names: &[&str]) -> Result<Vec<&'a str>, Reason> {
    let parts = fields(data);
    if parts.len() != names.len() {
        return Err(format!(
            "expected {} space-separated fields ({}), found {}",
            names.len(),
            names.join(" "),
            parts.len()
        ));
    }
    Ok(parts)
}

/// Parses a decimal integer of digits only (leading zeros tolerated) in `min..=max`.
fn parse_int(s: &str, what: &str, min: u64, max: u64) -> Result<u64, Reason> {
    let out_of_range = || format!("{what} must be an integer between {min} and {max}, not `{s}`");
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(out_of_range());
    }
    let trimmed = s.trim_start_matches('0');
    if trimmed.len() > 20 {
        return Err(out_of_range());
    }
    let value = if trimmed.is_empty() {
        0
    } else {
        trimmed.parse::<u64>().map_err(|_| out_of_range())?
    };
    if value < min || value > max {
        return Err(out_of_range());
    }
    Ok(value)
}

/// Parses an absolute domain name in rdata (zone-name syntax: no wildcard), lower-cased.
/// With `allow_root`, the root `.` is accepted as well.
fn parse_target(s: &str, what: &str, allow_root: bool) -> Result<String, Reason> {
    if allow_root && s == "." {
        return Ok(".".to_string());
    }
    let name = DnsName::parse(s).map_err(|e| format!("{what} `{s}` is not a valid domain name: {e}"))?;
    if name.is_wildcard() {
        return Err(format!("{what} `{s}` may not be a wildcard name"));
    }
    Ok(name.as_str().to_string())
}

/// Checks a host name that need not be absolute (CAA issuer and iodef domains).
fn check_relative_domain(s: &str, what: &str) -> Result<(), Reason> {
    let absolute = if s.ends_with('.') {
        s.to_string()
    } else {
        format!("{s}.")
    };
    let name = DnsName::parse(&absolute).map_err(|e| format!("{what} `{s}` is not a valid domain: {e}"))?;
    if name.is_wildcard() {
        return Err(format!("{what} `{s}` may not be a wildcard name"));
    }
    Ok(())
}

/// Whether every character is a hex digit.
fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Checks standard base64 with padding (RFC 4648 §4).
fn check_base64(s: &str, what: &str) -> Result<(), Reason> {
    if s.is_empty() {
        return Err(format!("{what} is empty"));
    }
    if !s.len().is_multiple_of(4) {
        return Err(format!(
            "{what} is not valid base64: its length must be a multiple of 4 (padded with `=`)"
        ));
    }
    let body = s.trim_end_matches('=');
    if s.len() - body.len() > 2 {
        return Err(format!("{what} is not valid base64: too much `=` padding"));
    }
    if !body
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    {
        return Err(format!(
            "{what} is not valid base64: only `A-Z a-z 0-9 + /` and final `=` padding are allowed"
        ));
    }
    Ok(())
}

/// Removes one pair of surrounding double quotes if present; refuses a quote at one end only.
fn unquote<'a>(s: &'a str, what: &str) -> Result<&'a str, Reason> {
    match (s.starts_with('"'), s.ends_with('"')) {
        (true, true) if s.len() >= 2 => Ok(&s[1..s.len() - 1]),
        (false, false) => Ok(s),
        _ => Err(format!("{what} `{s}` has unbalanced double quotes")),
    }
}

/// Splits off the first whitespace-separated word, returning it and the trimmed rest.
fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(|c: char| c.is_ascii_whitespace()) {
        Some(i) => (&s[..i], s[i..].trim_start()),
        None => (s, ""),
    }
}

// ---------------------------------------------------------------------------------------------
// Per-type validators.
// ---------------------------------------------------------------------------------------------

fn validate_a(data: &str) -> Result<String, Reason> {
    Ipv4Addr::from_str(data)
        .map(|ip| ip.to_string())
        .map_err(|_| format!("`{data}` is not a valid IPv4 address"))
}

fn validate_aaaa(data: &str) -> Result<String, Reason> {
    Ipv6Addr::from_str(data)
        .map(|ip| ip.to_string())
        .map_err(|_| format!("`{data}` is not a valid IPv6 address"))
}

fn validate_single_name(data: &str) -> Result<String, Reason> {
    let parts = expect_fields(data, &["target"])?;
    parse_target(parts[0], "target", false)
}

fn validate_mx(data: &str) -> Result<String, Reason> {
    let parts = expect_fields(data, &["priority", "exchange"])?;
    let prio = parts[0];
    // Designate: the priority must be a plain integer string (what int() would print back).
    let plain = !prio.is_empty() && prio.bytes().all(|b| b.is_ascii_digit()) && (prio == "0" || !prio.starts_with('0'));
    if !plain {
        return Err(format!(
            "priority must be a plain integer between 0 and 65535, not `{prio}`"
        ));
    }
    let prio = parse_int(prio, "priority", 0, 65535)?;
    let exchange = parse_target(parts[1], "exchange", false)?;
    Ok(format!("{prio} {exchange}"))
}

/// Characters allowed unescaped in the first (mailbox) label of an SOA RNAME, beyond letters and digits.
const MAILBOX_CHARS: &[u8] = b"_-+!#%&'*/=?^`{|}~";

/// Checks an SOA RNAME: an absolute name of at least two labels whose first label is a mailbox
/// local part (which may hold `\`-escaped characters such as `\.`). Lower-cased.
fn parse_rname(s: &str) -> Result<String, Reason> {
    let bad = |why: &str| format!("rname `{s}` is not a valid mailbox name: {why}");
    // Find the first unescaped dot: the end of the mailbox label.
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut local_len = 0usize;
    let mut end = None;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\\' {
            match bytes.get(i + 1) {
                Some(n) if n.is_ascii_graphic() => {
                    i += 2;
                    local_len += 1;
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
        local_len += 1;
        i += 1;
    }
    let end = end.ok_or_else(|| bad("it must end with a dot (fully qualified)"))?;
    if local_len == 0 {
        return Err(bad("the mailbox label is empty"));
    }
    if local_len > 63 {
        return Err(bad("the mailbox label is longer than 63 characters"));
    }
    if s.len() > 254 {
        return Err(bad("it is longer than 254 characters"));
    }
    let domain = &s[end + 1..];
    let domain = parse_target(domain, "rname domain", false)?;
    Ok(format!("{}.{domain}", s[..end].to_ascii_lowercase()))
}

fn validate_soa(data: &str) -> Result<String, Reason> {
    let parts = expect_fields(
        data,
        &["mname", "rname", "serial", "refresh", "retry", "expire", "minimum"],
    )?;
    let mname = parse_target(parts[0], "mname", false)?;
    let rname = parse_rname(parts[1])?;
    let serial = parse_int(parts[2], "serial", 1, u64::from(u32::MAX))?;
    let max = 2_147_483_647;
    let refresh = parse_int(parts[3], "refresh", 0, max)?;
    let retry = parse_int(parts[4], "retry", 0, max)?;
    let expire = parse_int(parts[5], "expire", 0, max)?;
    let minimum = parse_int(parts[6], "minimum", 0, max)?;
    Ok(format!("{mname} {rname} {serial} {refresh} {retry} {expire} {minimum}"))
}

fn validate_srv(data: &str) -> Result<String, Reason> {
    let parts = expect_fields(data, &["priority", "weight", "port", "target"])?;
    let prio = parse_int(parts[0], "priority", 0, 65535)?;
    let weight = parse_int(parts[1], "weight", 0, 65535)?;
    let port = parse_int(parts[2], "port", 0, 65535)?;
    let target = parse_target(parts[3], "target", true)?;
    Ok(format!("{prio} {weight} {port} {target}"))
}

fn validate_sshfp(data: &str) -> Result<String, Reason> {
    let parts = expect_fields(data, &["algorithm", "fp_type", "fingerprint"])?;
    let alg = parse_int(parts[0], "algorithm", 0, 4)?;
    let fp_type = parse_int(parts[1], "fingerprint type", 0, 2)?;
    let fp = parts[2];
    let len_ok = (10..=40).contains(&fp.len()) || fp.len() == 64;
    if !is_hex(fp) || !len_ok {
        return Err(format!(
            "fingerprint must be 10 to 40 or exactly 64 hex characters, not `{fp}`"
        ));
    }
    Ok(format!("{alg} {fp_type} {}", fp.to_ascii_lowercase()))
}

/// The longest character-string in TXT data.
const MAX_TXT_STRING: usize = 255;

/// Designate's TXT/SPF rules, on trimmed, non-empty data.
fn validate_txt(data: &str) -> Result<(), Reason> {
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
                _ => {}
            }
        }
        return Ok(());
    }
    // One or more quoted strings separated by whitespace.
    let mut chars = data.chars().peekable();
    loop {
        // At an opening quote.
        match chars.next() {
            Some('"') => {}
            _ => return Err("after a quoted string only whitespace and another quoted string may follow".to_string()),
        }
        let mut len = 0usize;
        let mut closed = false;
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    if chars.next().is_none() {
                        return Err("the value may not end with a backslash (it escapes the closing quote)".to_string());
                    }
                    len += 2;
                }
                '"' => {
                    closed = true;
                    break;
                }
                _ => len += 1,
            }
        }
        if !closed {
            return Err("double quotes must be balanced: a quoted string is not closed".to_string());
        }
        if len > MAX_TXT_STRING {
            return Err(format!(
                "a quoted string is {len} characters; each may be at most 255 (split longer values into \"...\" \"...\")"
            ));
        }
        match chars.peek() {
            None => return Ok(()),
            Some(c) if c.is_whitespace() => {
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
            }
            Some(_) => return Err("double quotes inside the value must be escaped with a backslash".to_string()),
        }
    }
}

fn validate_caa(data: &str) -> Result<String, Reason> {
    let (flags, rest) = split_word(data);
    let (tag, value) = split_word(rest);
    if tag.is_empty() || value.is_empty() {
        return Err("expected `flags tag value`".to_string());
    }
    let flags = parse_int(flags, "flags", 0, 1)?;
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
    Ok(format!("{flags} {tag} {value}"))
}

/// Checks a NAPTR service field: empty, or `+`-separated parts each starting with a letter.
fn check_naptr_service(s: &str) -> Result<(), Reason> {
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
fn check_naptr_regexp(s: &str) -> Result<(), Reason> {
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

fn validate_naptr(data: &str) -> Result<String, Reason> {
    let parts = expect_fields(
        data,
        &["order", "preference", "flags", "service", "regexp", "replacement"],
    )?;
    let order = parse_int(parts[0], "order", 0, 65535)?;
    let pref = parse_int(parts[1], "preference", 0, 65535)?;
    let mut texts = Vec::with_capacity(3);
    for (field, what) in parts[2..5].iter().zip(["flags", "service", "regexp"]) {
        let inner = unquote(field, what)?;
        if inner.contains('"') {
            return Err(format!("{what} `{field}` may not contain inner double quotes"));
        }
        if inner.chars().count() > MAX_TXT_STRING {
            return Err(format!("{what} may be at most 255 characters"));
        }
        texts.push(inner);
    }
    let (flags, service, regexp) = (texts[0], texts[1], texts[2]);
    if !flags.bytes().all(|b| b"APSUapsu".contains(&b)) {
        return Err(format!(
            "flags `{flags}` are not valid: only A, P, S and U (either case) are allowed"
        ));
    }
    check_naptr_service(service)?;
    check_naptr_regexp(regexp)?;
    let replacement = parse_target(parts[5], "replacement", true)?;
    Ok(format!(
        "{order} {pref} \"{flags}\" \"{service}\" \"{regexp}\" {replacement}"
    ))
}

/// CERT type mnemonics (RFC 4398).
const CERT_TYPES: &[&str] = &[
    "PKIX", "SPKI", "PGP", "IPKIX", "ISPKI", "IPGP", "ACPKIX", "IACPKIX", "URI", "OID", "DPKIX", "DPTR",
];

/// CERT algorithm mnemonics (DNSSEC algorithm numbers).
const CERT_ALGORITHMS: &[&str] = &[
    "RSAMD5",
    "DH",
    "DSA",
    "ECC",
    "RSASHA1",
    "DSA-NSEC3-SHA1",
    "RSASHA1-NSEC3-SHA1",
    "RSASHA256",
    "RSASHA512",
    "ECC-GOST",
    "ECDSAP256SHA256",
    "ECDSAP384SHA384",
    "ED25519",
    "ED448",
    "INDIRECT",
    "PRIVATEDNS",
    "PRIVATEOID",
];

/// A number in `0..=max` (canonicalised), or one of `mnemonics` (kept as given).
fn number_or_mnemonic(s: &str, what: &str, max: u64, mnemonics: &[&str]) -> Result<String, Reason> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return parse_int(s, what, 0, max).map(|n| n.to_string());
    }
    if mnemonics.contains(&s) {
        return Ok(s.to_string());
    }
    Err(format!(
        "{what} `{s}` is not valid: it must be a number between 0 and {max} or one of {}",
        mnemonics.join(", ")
    ))
}

fn validate_cert(data: &str) -> Result<String, Reason> {
    let parts = fields(data);
    if parts.len() < 4 {
        return Err(format!(
            "expected `type key_tag algorithm certificate`, found {} fields",
            parts.len()
        ));
    }
    let cert_type = number_or_mnemonic(parts[0], "certificate type", 65535, CERT_TYPES)?;
    let key_tag = parse_int(parts[1], "key tag", 0, 65535)?;
    let algo = number_or_mnemonic(parts[2], "algorithm", 255, CERT_ALGORITHMS)?;
    let cert: String = parts[3..].concat();
    check_base64(&cert, "certificate")?;
    Ok(format!("{cert_type} {key_tag} {algo} {cert}"))
}

/// The SvcParamKeys Designate accepts, with their key numbers (RFC 9460, RFC 9461).
const SVC_KEYS: &[(&str, u16)] = &[
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
const ALPN_IDS: &[&str] = &["h3", "h2", "h2c", "http/1.1", "http/1.0"];

/// The key number of an accepted SvcParamKey for the type, or why it is refused.
fn svc_key(rtype: RecordType, key: &str) -> Result<u16, Reason> {
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
fn comma_list<'a>(value: &'a str, key: &str) -> Result<Vec<&'a str>, Reason> {
    let items: Vec<&str> = value.split(',').collect();
    if items.iter().any(|i| i.is_empty()) {
        return Err(format!("parameter {key} has an empty list item in `{value}`"));
    }
    Ok(items)
}

fn validate_svcb(rtype: RecordType, data: &str) -> Result<String, Reason> {
    let parts = fields(data);
    if parts.len() < 2 {
        return Err("expected `priority target [key=value ...]`".to_string());
    }
    let priority = parse_int(parts[0], "priority", 0, 65535)?;
    let target = parse_target(parts[1], "target", true)?;
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
    let mut rendered: Vec<(u16, String)> = Vec::with_capacity(params.len());
    for (number, key, value) in &params {
        let canonical = match *key {
            "alpn" => {
                for id in comma_list(value, key)? {
                    if !ALPN_IDS.contains(&id) {
                        return Err(format!(
                            "alpn `{id}` is not supported; allowed: {}",
                            ALPN_IDS.join(", ")
                        ));
                    }
                }
                value.to_string()
            }
            "ipv4hint" => comma_list(value, key)?
                .into_iter()
                .map(|ip| {
                    Ipv4Addr::from_str(ip)
                        .map(|a| a.to_string())
                        .map_err(|_| format!("ipv4hint `{ip}` is not a valid IPv4 address"))
                })
                .collect::<Result<Vec<_>, _>>()?
                .join(","),
            "ipv6hint" => comma_list(value, key)?
                .into_iter()
                .map(|ip| {
                    Ipv6Addr::from_str(ip)
                        .map(|a| a.to_string())
                        .map_err(|_| format!("ipv6hint `{ip}` is not a valid IPv6 address"))
                })
                .collect::<Result<Vec<_>, _>>()?
                .join(","),
            "port" => parse_int(value, "port", 0, 65535)?.to_string(),
            "ech" => {
                check_base64(value, "ech")?;
                value.to_string()
            }
            "no-default-alpn" => {
                if !has("alpn") {
                    return Err("no-default-alpn requires an alpn parameter".to_string());
                }
                String::new()
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
                keys.iter().map(|(_, k)| *k).collect::<Vec<_>>().join(",")
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
                value.to_string()
            }
            other => return Err(format!("parameter `{other}` is not supported")),
        };
        let text = if canonical.is_empty() {
            (*key).to_string()
        } else {
            format!("{key}={canonical}")
        };
        rendered.push((*number, text));
    }
    rendered.sort_unstable_by_key(|(n, _)| *n);
    let mut out = format!("{priority} {target}");
    for (_, text) in rendered {
        out.push(' ');
        out.push_str(&text);
    }
    Ok(out)
}

fn validate_tlsa(data: &str) -> Result<String, Reason> {
    let cleaned = data.replace(['(', ')'], " ");
    let parts = fields(&cleaned);
    if parts.len() < 4 {
        return Err(format!(
            "expected `usage selector matching_type data`, found {} fields",
            parts.len()
        ));
    }
    let usage = parse_int(parts[0], "usage", 0, 255)?;
    let selector = parse_int(parts[1], "selector", 0, 255)?;
    let mtype = parse_int(parts[2], "matching type", 0, 255)?;
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
    let expected = match mtype {
        1 => Some(64),
        2 => Some(128),
        _ => None,
    };
    if let Some(expected) = expected {
        if cert.len() != expected {
            return Err(format!(
                "matching type {mtype} needs exactly {expected} hex characters of data, not {}",
                cert.len()
            ));
        }
    }
    Ok(format!("{usage} {selector} {mtype} {}", cert.to_ascii_lowercase()))
}
