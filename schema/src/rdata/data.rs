//! Validated record data as typed values, and the records of one record set. Only the validators of
//! this module build them.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::lex::*;
use super::parse::*;
use super::svcb::validate_svcb;
use super::{RdataError, RecordType, RDATA_MAX_BYTES};
use crate::name::DnsName;

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
    pub(super) presentation: String,
    pub(super) strings: Vec<Vec<u8>>,
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
    pub(super) presentation: String,
    pub(super) local: Vec<u8>,
    pub(super) domain: DnsName,
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
    pub(super) text: String,
}

/// One SvcParam of an SVCB or HTTPS record: its key number, its canonical presentation and its value
/// in wire form (RFC 9460 §2.2, RFC 9461 for `dohpath`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SvcParam {
    /// The SvcParamKey number.
    pub key: u16,
    pub(super) text: String,
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
    pub(super) rtype: RecordType,
    pub(super) records: Vec<RecordData>,
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
