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

/// Validates one record's data in presentation format for the type and returns its canonical
/// presentation form (see [`RecordData::parse`]).
pub fn validate_record(rtype: RecordType, data: &str) -> Result<String, RdataError> {
    RecordData::parse(rtype, data).map(|record| record.to_string())
}

/// The longest RDATA a record may have on the wire: one record must always fit in a DNS message
/// (at most 65,535 bytes) together with the message header, the question, its owner name, its
/// resource-record header and a TSIG signature.
pub const RDATA_MAX_BYTES: usize = 60_000;

/// A target name where the root `.` is allowed (SRV target, NAPTR replacement, SVCB target).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// The root, `.`.
    Root,
    /// A name.
    Name(DnsName),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Root => f.write_str("."),
            Target::Name(name) => name.fmt(f),
        }
    }
}

impl Target {
    /// Length of the name on the wire, uncompressed.
    pub fn wire_len(&self) -> usize {
        match self {
            Target::Root => 1,
            Target::Name(name) => name.wire_len(),
        }
    }
}

/// Text data (TXT, SPF): the presentation form as given, and the character-strings it stands for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Text {
    presentation: String,
    strings: Vec<Vec<u8>>,
}

impl Text {
    /// The character-strings, escapes resolved, each at most 255 bytes.
    pub fn strings(&self) -> &[Vec<u8>] {
        &self.strings
    }
}

/// An SOA RNAME: a mailbox label (any bytes, at most 63) followed by a domain.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mailbox {
    presentation: String,
    local: Vec<u8>,
    domain: DnsName,
}

impl Mailbox {
    /// The mailbox's first label, escapes resolved (`host\.master` is the 11 bytes `host.master`).
    pub fn local_part(&self) -> &[u8] {
        &self.local
    }

    /// The domain after the first label.
    pub fn domain(&self) -> &DnsName {
        &self.domain
    }

    /// Length of the name on the wire.
    pub fn wire_len(&self) -> usize {
        1 + self.local.len() + self.domain.wire_len()
    }
}

/// A number that may be written as a mnemonic: the value, and how it is presented.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mnemonic {
    /// The number.
    pub value: u16,
    text: String,
}

/// One SvcParam of an SVCB or HTTPS record: its key number, its canonical presentation and its value
/// in wire form (RFC 9460 §2.2, RFC 9461 for `dohpath`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SvcParam {
    /// The SvcParamKey number.
    pub key: u16,
    text: String,
    /// The SvcParamValue as sent on the wire.
    pub value: Vec<u8>,
}

/// Service-binding data (SVCB, HTTPS).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServiceBinding {
    /// SvcPriority; 0 is the alias form.
    pub priority: u16,
    /// TargetName.
    pub target: Target,
    /// SvcParams, in increasing key order.
    pub params: Vec<SvcParam>,
}

/// Record data, validated by Designate's rules (designate.md §3.3) and held as typed values: what
/// [`RecordData::parse`] accepts is exactly what these values can represent, and the data plane builds
/// its answers from them, so no second parser can disagree with validation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RecordData {
    /// IPv4 address.
    A(Ipv4Addr),
    /// IPv6 address.
    Aaaa(Ipv6Addr),
    /// Alias target.
    Cname(DnsName),
    /// Name server.
    Ns(DnsName),
    /// Pointer target.
    Ptr(DnsName),
    /// Mail exchange.
    Mx {
        /// Preference.
        preference: u16,
        /// Exchange host.
        exchange: DnsName,
    },
    /// Start of authority.
    Soa {
        /// Primary name server.
        mname: DnsName,
        /// Responsible mailbox.
        rname: Mailbox,
        /// Serial.
        serial: u32,
        /// Refresh seconds.
        refresh: u32,
        /// Retry seconds.
        retry: u32,
        /// Expire seconds.
        expire: u32,
        /// Negative-caching TTL.
        minimum: u32,
    },
    /// Service locator.
    Srv {
        /// Priority.
        priority: u16,
        /// Weight.
        weight: u16,
        /// Port.
        port: u16,
        /// Target host, or the root.
        target: Target,
    },
    /// SSH key fingerprint.
    Sshfp {
        /// Key algorithm.
        algorithm: u8,
        /// Fingerprint type.
        fp_type: u8,
        /// The fingerprint.
        fingerprint: Vec<u8>,
    },
    /// Text.
    Txt(Text),
    /// Sender policy framework (TXT's form, type 99).
    Spf(Text),
    /// Certification authority authorization.
    Caa {
        /// Flags (0 or 1: issuer-critical).
        flags: u8,
        /// Property tag: issue, issuewild or iodef.
        tag: String,
        /// The value as given (quoted or not).
        presentation: String,
        /// The value's bytes, quotes removed and escapes resolved.
        value: Vec<u8>,
    },
    /// Naming authority pointer.
    Naptr {
        /// Order.
        order: u16,
        /// Preference.
        preference: u16,
        /// Flags text.
        flags: Vec<u8>,
        /// Service text.
        service: Vec<u8>,
        /// Regexp text.
        regexp: Vec<u8>,
        /// Presentation of flags, service and regexp (between quotes).
        texts: [String; 3],
        /// Replacement name, or the root.
        replacement: Target,
    },
    /// Certificate.
    Cert {
        /// Certificate type.
        cert_type: Mnemonic,
        /// Key tag.
        key_tag: u16,
        /// Algorithm (fits a byte).
        algorithm: Mnemonic,
        /// The certificate, base64-decoded.
        certificate: Vec<u8>,
        /// The certificate's base64 text.
        certificate_base64: String,
    },
    /// General-purpose service binding.
    Svcb(ServiceBinding),
    /// HTTPS service binding.
    Https(ServiceBinding),
    /// TLS certificate association.
    Tlsa {
        /// Certificate usage.
        usage: u8,
        /// Selector.
        selector: u8,
        /// Matching type.
        matching_type: u8,
        /// Certificate association data.
        data: Vec<u8>,
    },
}

impl RecordData {
    /// Validates one record's data in presentation format for the type, Designate's rules (designate.md
    /// §3.3), into its typed value. Its `Display` is the canonical presentation form: fields separated
    /// by single spaces, integers in plain decimal, IPv6 in RFC 5952 compressed lower-case form (std's
    /// Display gives that), IPv4 dotted quad, domain names in rdata lower-cased and required to be
    /// absolute (trailing dot). TXT/SPF keep their quoting as given (canonical: trimmed). Newlines (\n or
    /// \r) anywhere are rejected for every type (Designate's 2026 security fix).
    ///
    /// Hex data (SSHFP, TLSA) is lower-cased; whitespace and parentheses inside TLSA data and
    /// whitespace inside a CERT certificate are removed; NAPTR text fields are always quoted; SVCB and
    /// HTTPS parameters are unquoted and sorted by their key number. CAA values are kept as given.
    ///
    /// Beyond Designate's rules, what cannot be put on the wire is refused: a character-string longer
    /// than 255 bytes once escapes are resolved, a `\DDD` escape above 255, an odd number of hex digits,
    /// a mailbox label longer than 63 bytes, RDATA longer than [`RDATA_MAX_BYTES`].
    pub fn parse(rtype: RecordType, data: &str) -> Result<RecordData, RdataError> {
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
            RecordType::CNAME => validate_single_name(data).map(RecordData::Cname),
            RecordType::NS => validate_single_name(data).map(RecordData::Ns),
            RecordType::PTR => validate_single_name(data).map(RecordData::Ptr),
            RecordType::MX => validate_mx(data),
            RecordType::SOA => validate_soa(data),
            RecordType::SRV => validate_srv(data),
            RecordType::SSHFP => validate_sshfp(data),
            RecordType::TXT => validate_txt(data).map(RecordData::Txt),
            RecordType::SPF => validate_txt(data).map(RecordData::Spf),
            RecordType::CAA => validate_caa(data),
            RecordType::NAPTR => validate_naptr(data),
            RecordType::CERT => validate_cert(data),
            RecordType::SVCB => validate_svcb(rtype, data).map(RecordData::Svcb),
            RecordType::HTTPS => validate_svcb(rtype, data).map(RecordData::Https),
            RecordType::TLSA => validate_tlsa(data),
        };
        let record = result.map_err(|reason| RdataError::Invalid { rtype, reason })?;
        let len = record.wire_len();
        if len > RDATA_MAX_BYTES {
            return Err(RdataError::Invalid {
                rtype,
                reason: format!("the record data is {len} bytes on the wire; at most {RDATA_MAX_BYTES} are allowed"),
            });
        }
        Ok(record)
    }

    /// The record type.
    pub fn rtype(&self) -> RecordType {
        match self {
            RecordData::A(_) => RecordType::A,
            RecordData::Aaaa(_) => RecordType::AAAA,
            RecordData::Cname(_) => RecordType::CNAME,
            RecordData::Ns(_) => RecordType::NS,
            RecordData::Ptr(_) => RecordType::PTR,
            RecordData::Mx { .. } => RecordType::MX,
            RecordData::Soa { .. } => RecordType::SOA,
            RecordData::Srv { .. } => RecordType::SRV,
            RecordData::Sshfp { .. } => RecordType::SSHFP,
            RecordData::Txt(_) => RecordType::TXT,
            RecordData::Spf(_) => RecordType::SPF,
            RecordData::Caa { .. } => RecordType::CAA,
            RecordData::Naptr { .. } => RecordType::NAPTR,
            RecordData::Cert { .. } => RecordType::CERT,
            RecordData::Svcb(_) => RecordType::SVCB,
            RecordData::Https(_) => RecordType::HTTPS,
            RecordData::Tlsa { .. } => RecordType::TLSA,
        }
    }

    /// The RDATA's length on the wire (RFC 1035 §3.3, names uncompressed): for the size rule; the data
    /// plane's encoder produces exactly this many bytes.
    pub fn wire_len(&self) -> usize {
        let strings = |strings: &[Vec<u8>]| strings.iter().map(|s| 1 + s.len()).sum::<usize>();
        match self {
            RecordData::A(_) => 4,
            RecordData::Aaaa(_) => 16,
            RecordData::Cname(name) | RecordData::Ns(name) | RecordData::Ptr(name) => name.wire_len(),
            RecordData::Mx { exchange, .. } => 2 + exchange.wire_len(),
            RecordData::Soa { mname, rname, .. } => mname.wire_len() + rname.wire_len() + 20,
            RecordData::Srv { target, .. } => 6 + target.wire_len(),
            RecordData::Sshfp { fingerprint, .. } => 2 + fingerprint.len(),
            RecordData::Txt(text) | RecordData::Spf(text) => strings(&text.strings),
            RecordData::Caa { tag, value, .. } => 2 + tag.len() + value.len(),
            RecordData::Naptr {
                flags,
                service,
                regexp,
                replacement,
                ..
            } => 4 + 3 + flags.len() + service.len() + regexp.len() + replacement.wire_len(),
            RecordData::Cert { certificate, .. } => 5 + certificate.len(),
            RecordData::Svcb(binding) | RecordData::Https(binding) => {
                2 + binding.target.wire_len() + binding.params.iter().map(|p| 4 + p.value.len()).sum::<usize>()
            }
            RecordData::Tlsa { data, .. } => 3 + data.len(),
        }
    }
}

impl fmt::Display for RecordData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordData::A(ip) => ip.fmt(f),
            RecordData::Aaaa(ip) => ip.fmt(f),
            RecordData::Cname(name) | RecordData::Ns(name) | RecordData::Ptr(name) => name.fmt(f),
            RecordData::Mx { preference, exchange } => write!(f, "{preference} {exchange}"),
            RecordData::Soa {
                mname,
                rname,
                serial,
                refresh,
                retry,
                expire,
                minimum,
            } => write!(
                f,
                "{mname} {} {serial} {refresh} {retry} {expire} {minimum}",
                rname.presentation
            ),
            RecordData::Srv {
                priority,
                weight,
                port,
                target,
            } => write!(f, "{priority} {weight} {port} {target}"),
            RecordData::Sshfp {
                algorithm,
                fp_type,
                fingerprint,
            } => write!(f, "{algorithm} {fp_type} {}", hex(fingerprint)),
            RecordData::Txt(text) | RecordData::Spf(text) => f.write_str(&text.presentation),
            RecordData::Caa {
                flags,
                tag,
                presentation,
                ..
            } => write!(f, "{flags} {tag} {presentation}"),
            RecordData::Naptr {
                order,
                preference,
                texts,
                replacement,
                ..
            } => write!(
                f,
                "{order} {preference} \"{}\" \"{}\" \"{}\" {replacement}",
                texts[0], texts[1], texts[2]
            ),
            RecordData::Cert {
                cert_type,
                key_tag,
                algorithm,
                certificate_base64,
                ..
            } => write!(
                f,
                "{} {key_tag} {} {certificate_base64}",
                cert_type.text, algorithm.text
            ),
            RecordData::Svcb(binding) | RecordData::Https(binding) => {
                write!(f, "{} {}", binding.priority, binding.target)?;
                for param in &binding.params {
                    write!(f, " {}", param.text)?;
                }
                Ok(())
            }
            RecordData::Tlsa {
                usage,
                selector,
                matching_type,
                data,
            } => write!(f, "{usage} {selector} {matching_type} {}", hex(data)),
        }
    }
}

/// The records of one record set: each validated for the set's type, in canonical form, without
/// duplicates, at least one. Only [`Records::validate`] builds one, so a command that carries it
/// carries data that was validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Records {
    rtype: RecordType,
    records: Vec<RecordData>,
}

impl Records {
    /// Validates every record for `rtype`, dropping duplicates (by canonical form).
    pub fn validate(rtype: RecordType, records: &[String]) -> Result<Records, RecordsError> {
        let mut parsed: Vec<RecordData> = Vec::with_capacity(records.len());
        for (index, record) in records.iter().enumerate() {
            let data = RecordData::parse(rtype, record).map_err(|error| RecordsError::Invalid {
                rtype,
                index,
                given: record.clone(),
                error,
            })?;
            if !parsed.contains(&data) {
                parsed.push(data);
            }
        }
        if parsed.is_empty() {
            return Err(RecordsError::Empty);
        }
        Ok(Records { rtype, records: parsed })
    }

    /// The record type.
    pub fn rtype(&self) -> RecordType {
        self.rtype
    }

    /// The records.
    pub fn iter(&self) -> impl Iterator<Item = &RecordData> {
        self.records.iter()
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Never true: a record set has at least one record.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The canonical presentation forms, as events and read models store them.
    pub fn to_strings(&self) -> Vec<String> {
        self.records.iter().map(ToString::to_string).collect()
    }
}

/// Why a record set's records were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordsError {
    /// No records.
    #[error("records must contain at least one record")]
    Empty,
    /// One record is not valid for the type.
    #[error("Invalid {rtype} record {given:?}: {error}")]
    Invalid {
        /// The record set's type.
        rtype: RecordType,
        /// Its position.
        index: usize,
        /// The record as given.
        given: String,
        /// Why.
        error: RdataError,
    },
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
fn parse_name(s: &str, what: &str) -> Result<DnsName, Reason> {
    let name = DnsName::parse(s).map_err(|e| format!("{what} `{s}` is not a valid domain name: {e}"))?;
    if name.is_wildcard() {
        return Err(format!("{what} `{s}` may not be a wildcard name"));
    }
    Ok(name)
}

/// Like [`parse_name`], but the root `.` is accepted as well.
fn parse_target(s: &str, what: &str) -> Result<Target, Reason> {
    if s == "." {
        return Ok(Target::Root);
    }
    parse_name(s, what).map(Target::Name)
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

/// Decodes hex digits (already checked by [`is_hex`]), refusing an odd count: bytes are whole.
fn decode_hex(s: &str, what: &str) -> Result<Vec<u8>, Reason> {
    if !s.len().is_multiple_of(2) {
        return Err(format!(
            "{what} must have an even number of hex characters, not {}",
            s.len()
        ));
    }
    let nibble = |b: u8| match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    };
    Ok(s.as_bytes()
        .chunks(2)
        .map(|pair| (nibble(pair[0]) << 4) | nibble(pair[1]))
        .collect())
}

/// Lower-case hex of bytes.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
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

/// Decodes base64 checked by [`check_base64`]. Unused bits of the last character are ignored, as
/// DNS servers' zone-file readers do.
fn decode_base64(s: &str) -> Vec<u8> {
    let value = |b: u8| -> u32 {
        match b {
            b'A'..=b'Z' => u32::from(b - b'A'),
            b'a'..=b'z' => u32::from(b - b'a') + 26,
            b'0'..=b'9' => u32::from(b - b'0') + 52,
            b'+' => 62,
            _ => 63,
        }
    };
    let body = s.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    for chunk in body.chunks(4) {
        let mut acc = 0u32;
        for (i, b) in chunk.iter().enumerate() {
            acc |= value(*b) << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        // 2 characters carry 1 byte, 3 carry 2, 4 carry 3.
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}

/// Resolves zone-file escapes (RFC 1035 §5.1) in a character-string's text: `\DDD` is the byte with
/// that decimal value, `\X` is `X`. The text was checked not to end with a lone backslash.
fn unescape(text: &str, what: &str) -> Result<Vec<u8>, Reason> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let digits = bytes.get(i + 1..i + 4).filter(|d| d.iter().all(u8::is_ascii_digit));
        match (digits, bytes.get(i + 1)) {
            (Some(d), _) => {
                let value = d.iter().fold(0u32, |acc, b| acc * 10 + u32::from(b - b'0'));
                let byte = u8::try_from(value)
                    .map_err(|_| format!("{what}: the escape `\\{}` is above 255", String::from_utf8_lossy(d)))?;
                out.push(byte);
                i += 4;
            }
            (None, Some(next)) => {
                out.push(*next);
                i += 2;
            }
            (None, None) => return Err(format!("{what} may not end with a backslash")),
        }
    }
    Ok(out)
}

/// Checks that a character-string fits its length octet.
fn check_string_len(bytes: &[u8], what: &str) -> Result<(), Reason> {
    if bytes.len() > MAX_TXT_STRING {
        return Err(format!(
            "{what} is {} bytes once escapes are resolved; at most 255 fit in one string",
            bytes.len()
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

/// `parse_int` for values that fit 16 bits.
fn int16(s: &str, what: &str, max: u16) -> Result<u16, Reason> {
    parse_int(s, what, 0, u64::from(max)).map(|v| v as u16)
}

/// `parse_int` for values that fit 8 bits.
fn int8(s: &str, what: &str, max: u8) -> Result<u8, Reason> {
    parse_int(s, what, 0, u64::from(max)).map(|v| v as u8)
}

// ---------------------------------------------------------------------------------------------
// Per-type validators.
// ---------------------------------------------------------------------------------------------

fn validate_a(data: &str) -> Result<RecordData, Reason> {
    Ipv4Addr::from_str(data)
        .map(RecordData::A)
        .map_err(|_| format!("`{data}` is not a valid IPv4 address"))
}

fn validate_aaaa(data: &str) -> Result<RecordData, Reason> {
    Ipv6Addr::from_str(data)
        .map(RecordData::Aaaa)
        .map_err(|_| format!("`{data}` is not a valid IPv6 address"))
}

fn validate_single_name(data: &str) -> Result<DnsName, Reason> {
    let parts = expect_fields(data, &["target"])?;
    parse_name(parts[0], "target")
}

fn validate_mx(data: &str) -> Result<RecordData, Reason> {
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
fn parse_rname(s: &str) -> Result<Mailbox, Reason> {
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

fn validate_soa(data: &str) -> Result<RecordData, Reason> {
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

fn validate_srv(data: &str) -> Result<RecordData, Reason> {
    let parts = expect_fields(data, &["priority", "weight", "port", "target"])?;
    Ok(RecordData::Srv {
        priority: int16(parts[0], "priority", u16::MAX)?,
        weight: int16(parts[1], "weight", u16::MAX)?,
        port: int16(parts[2], "port", u16::MAX)?,
        target: parse_target(parts[3], "target")?,
    })
}

fn validate_sshfp(data: &str) -> Result<RecordData, Reason> {
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
const MAX_TXT_STRING: usize = 255;

/// Designate's TXT/SPF rules, on trimmed, non-empty data.
fn validate_txt(data: &str) -> Result<Text, Reason> {
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

fn validate_caa(data: &str) -> Result<RecordData, Reason> {
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

fn validate_naptr(data: &str) -> Result<RecordData, Reason> {
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
const CERT_TYPES: &[(&str, u16)] = &[
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
const CERT_ALGORITHMS: &[(&str, u16)] = &[
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
fn number_or_mnemonic(s: &str, what: &str, max: u16, mnemonics: &[(&str, u16)]) -> Result<Mnemonic, Reason> {
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

fn validate_cert(data: &str) -> Result<RecordData, Reason> {
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

fn validate_svcb(rtype: RecordType, data: &str) -> Result<ServiceBinding, Reason> {
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

fn validate_tlsa(data: &str) -> Result<RecordData, Reason> {
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
