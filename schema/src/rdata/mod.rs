//! Record types and record data: the 17 [`RecordType`]s Designate supports, per-type validation
//! and canonicalisation of record data in presentation format ([`validate_record`]), and the
//! type-specific rules on a record set's owner name ([`validate_owner_name`]) (designate.md §3.2, §3.3).

mod data;
mod lex;
mod parse;
mod svcb;
mod types;

pub use data::*;
pub use parse::MAILBOX_CHARS;
pub use types::RecordType;

use crate::name::RecordsetName;

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
