//! The record types: the 17 Designate supports, and the DNS types it refuses by name.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::RdataError;

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
