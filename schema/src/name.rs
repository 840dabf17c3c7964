//! DNS names: the validated absolute [`DnsName`], and the two roles it plays in the API, [`ZoneName`]
//! and [`RecordsetName`], with Designate's syntax rules (designate.md §3.1 and §3.2).

use std::fmt;

use serde::{Deserialize, Serialize};

/// The longest name accepted, in characters, including the trailing dot (Designate: whole name < 255).
pub const MAX_NAME_LEN: usize = 254;

/// The longest label accepted, in characters.
pub const MAX_LABEL_LEN: usize = 63;

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The name does not end with a dot.
    #[error("name must end with a dot (fully qualified)")]
    NotFullyQualified,
    /// The name is empty, or is the root `.` alone.
    #[error("name is empty: it needs at least one label before the final dot")]
    Empty,
    /// Two dots in a row, or a leading dot.
    #[error("name contains an empty label (two dots in a row or a leading dot)")]
    LabelEmpty,
    /// A label is longer than 63 characters.
    #[error("a label is {len} characters; at most 63 are allowed")]
    LabelTooLong {
        /// The length of the offending label.
        len: usize,
    },
    /// The whole name is longer than 254 characters.
    #[error("name is {len} characters; at most 254 (including the final dot) are allowed")]
    NameTooLong {
        /// The length of the whole name.
        len: usize,
    },
    /// A label holds a character outside `[A-Za-z0-9_-]`.
    #[error("label `{label}` may only contain letters, digits, `_` and `-`")]
    InvalidCharacter {
        /// The offending label.
        label: String,
    },
    /// A label starts or ends with `-`.
    #[error("label `{label}` may not start or end with `-`")]
    HyphenAtLabelEdge {
        /// The offending label.
        label: String,
    },
    /// A `*` label somewhere other than first.
    #[error("a wildcard `*` may only be the first label of a name")]
    MisplacedWildcard,
    /// A zone name with a single label.
    #[error("a zone name needs at least two labels (zones at the top level are not allowed)")]
    TooFewLabels,
    /// A wildcard where none is allowed.
    #[error("a wildcard `*` label is not allowed here")]
    WildcardNotAllowed,
}

/// A validated absolute DNS name, lower-cased, always ending with '.'.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DnsName(String);

/// Checks one label (not the wildcard case), returning the error for the first rule it breaks.
fn check_label(label: &str) -> Result<(), NameError> {
    if label.is_empty() {
        return Err(NameError::LabelEmpty);
    }
    if label.len() > MAX_LABEL_LEN {
        return Err(NameError::LabelTooLong { len: label.len() });
    }
    if !label
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(NameError::InvalidCharacter {
            label: label.to_string(),
        });
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(NameError::HyphenAtLabelEdge {
            label: label.to_string(),
        });
    }
    Ok(())
}

impl DnsName {
    /// Parses an absolute name: it must end with `.`, have labels of 1..=63 characters from
    /// `[A-Za-z0-9_-]` that neither start nor end with `-` (the first label may be exactly `*`),
    /// and be at most 254 characters including the final dot. The result is lower-cased.
    pub fn parse(s: &str) -> Result<DnsName, NameError> {
        if s.is_empty() || s == "." {
            return Err(NameError::Empty);
        }
        if !s.ends_with('.') {
            return Err(NameError::NotFullyQualified);
        }
        let len = s.chars().count();
        if len > MAX_NAME_LEN {
            return Err(NameError::NameTooLong { len });
        }
        let body = &s[..s.len() - 1];
        for (i, label) in body.split('.').enumerate() {
            if label == "*" {
                if i == 0 {
                    continue;
                }
                return Err(NameError::MisplacedWildcard);
            }
            if label.contains('*') && label.chars().all(|c| c == '*') {
                return Err(NameError::MisplacedWildcard);
            }
            check_label(label)?;
        }
        Ok(DnsName(s.to_ascii_lowercase()))
    }

    /// The name as text, lower-case, with its final dot.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The length of the name on the wire, uncompressed: every label with its length octet, and the
    /// root's zero octet (the text's length plus one, since the text ends with a dot).
    pub fn wire_len(&self) -> usize {
        self.0.len() + 1
    }

    /// The labels from left to right, without the empty root label.
    pub fn labels(&self) -> Vec<&str> {
        self.body().split('.').collect()
    }

    /// The name without its final dot.
    fn body(&self) -> &str {
        self.0.strip_suffix('.').unwrap_or(&self.0)
    }

    /// Whether the first label is `*`.
    pub fn is_wildcard(&self) -> bool {
        self.0.starts_with("*.")
    }

    /// Whether this name equals `ancestor` or lies below it (ends with `.` + ancestor, at a label
    /// boundary).
    pub fn is_same_or_below(&self, ancestor: &DnsName) -> bool {
        self == ancestor || self.is_strictly_below(ancestor)
    }

    /// Whether this name lies below `ancestor`, not counting equality.
    pub fn is_strictly_below(&self, ancestor: &DnsName) -> bool {
        let (me, anc) = (self.0.as_str(), ancestor.0.as_str());
        me.len() > anc.len() && me.ends_with(anc) && me.as_bytes().get(me.len() - anc.len() - 1) == Some(&b'.')
    }

    /// The name with its first label removed; `None` for a one-label name.
    pub fn parent(&self) -> Option<DnsName> {
        let (_, rest) = self.0.split_once('.')?;
        if rest.is_empty() {
            None
        } else {
            Some(DnsName(rest.to_string()))
        }
    }
}

impl fmt::Display for DnsName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for DnsName {
    type Error = NameError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        DnsName::parse(&value)
    }
}

impl From<DnsName> for String {
    fn from(value: DnsName) -> Self {
        value.0
    }
}

impl std::str::FromStr for DnsName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DnsName::parse(s)
    }
}

/// A zone name: a DnsName with at least two labels and no wildcard.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ZoneName(DnsName);

impl ZoneName {
    /// Parses a zone name: a [`DnsName`] without a wildcard and with at least two labels.
    pub fn parse(s: &str) -> Result<ZoneName, NameError> {
        let name = DnsName::parse(s)?;
        if name.is_wildcard() {
            return Err(NameError::WildcardNotAllowed);
        }
        if name.labels().len() < 2 {
            return Err(NameError::TooFewLabels);
        }
        Ok(ZoneName(name))
    }

    /// The zone name as a plain DNS name.
    pub fn as_dns_name(&self) -> &DnsName {
        &self.0
    }

    /// The name as text, lower-case, with its final dot.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Display for ZoneName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl TryFrom<String> for ZoneName {
    type Error = NameError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        ZoneName::parse(&value)
    }
}

impl From<ZoneName> for String {
    fn from(value: ZoneName) -> Self {
        value.0 .0
    }
}

impl std::str::FromStr for ZoneName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ZoneName::parse(s)
    }
}

/// A record set name: a DnsName (wildcard allowed as the first label only).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RecordsetName(DnsName);

impl RecordsetName {
    /// Parses a record set name: any valid [`DnsName`], a `*` first label included.
    pub fn parse(s: &str) -> Result<RecordsetName, NameError> {
        DnsName::parse(s).map(RecordsetName)
    }

    /// The record set name as a plain DNS name.
    pub fn as_dns_name(&self) -> &DnsName {
        &self.0
    }

    /// The name as text, lower-case, with its final dot.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Display for RecordsetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl TryFrom<String> for RecordsetName {
    type Error = NameError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        RecordsetName::parse(&value)
    }
}

impl From<RecordsetName> for String {
    fn from(value: RecordsetName) -> Self {
        value.0 .0
    }
}

impl std::str::FromStr for RecordsetName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RecordsetName::parse(s)
    }
}

impl From<ZoneName> for RecordsetName {
    /// A zone's apex is a valid record set name.
    fn from(zone: ZoneName) -> Self {
        RecordsetName(zone.0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn n(s: &str) -> DnsName {
        DnsName::parse(s).unwrap()
    }

    /// A name of exactly `total` characters (final dot included) made of 63-character labels.
    fn name_of_len(total: usize) -> String {
        let mut out = String::new();
        let mut remaining = total - 1; // the final dot
        while remaining > 0 {
            if !out.is_empty() {
                out.push('.');
                remaining -= 1;
            }
            let take = remaining.min(63);
            out.push_str(&"a".repeat(take));
            remaining -= take;
        }
        out.push('.');
        assert_eq!(out.len(), total);
        out
    }

    #[test]
    fn parses_and_lower_cases() {
        let name = n("WWW.Example.ORG.");
        assert_eq!(name.as_str(), "www.example.org.");
        assert_eq!(name.to_string(), "www.example.org.");
        assert_eq!(name.labels(), vec!["www", "example", "org"]);
        assert!(!name.is_wildcard());
    }

    #[test]
    fn empty_and_root_are_refused() {
        assert_eq!(DnsName::parse(""), Err(NameError::Empty));
        assert_eq!(DnsName::parse("."), Err(NameError::Empty));
    }

    #[test]
    fn missing_dot_is_refused() {
        assert_eq!(DnsName::parse("example.org"), Err(NameError::NotFullyQualified));
    }

    #[test]
    fn empty_labels_are_refused() {
        assert_eq!(DnsName::parse("a..org."), Err(NameError::LabelEmpty));
        assert_eq!(DnsName::parse(".org."), Err(NameError::LabelEmpty));
        assert_eq!(DnsName::parse("org.."), Err(NameError::LabelEmpty));
    }

    #[test]
    fn label_length_limits() {
        let ok = format!("{}.org.", "a".repeat(63));
        assert!(DnsName::parse(&ok).is_ok());
        let bad = format!("{}.org.", "a".repeat(64));
        assert_eq!(DnsName::parse(&bad), Err(NameError::LabelTooLong { len: 64 }));
    }

    #[test]
    fn total_length_limits() {
        assert!(DnsName::parse(&name_of_len(253)).is_ok());
        assert!(DnsName::parse(&name_of_len(254)).is_ok());
        assert_eq!(
            DnsName::parse(&name_of_len(255)),
            Err(NameError::NameTooLong { len: 255 })
        );
    }

    #[test]
    fn hyphens_and_underscores() {
        assert!(DnsName::parse("a-b.example.org.").is_ok());
        assert!(DnsName::parse("_sip._tcp.example.org.").is_ok());
        assert!(DnsName::parse("_a_.example.org.").is_ok());
        assert_eq!(
            DnsName::parse("-a.example.org."),
            Err(NameError::HyphenAtLabelEdge { label: "-a".into() })
        );
        assert_eq!(
            DnsName::parse("a.example-.org."),
            Err(NameError::HyphenAtLabelEdge {
                label: "example-".into()
            })
        );
    }

    #[test]
    fn invalid_characters() {
        assert_eq!(
            DnsName::parse("a b.org."),
            Err(NameError::InvalidCharacter { label: "a b".into() })
        );
        assert!(matches!(
            DnsName::parse("ex\u{e4}mple.org."),
            Err(NameError::InvalidCharacter { .. })
        ));
        assert!(matches!(
            DnsName::parse("a*.org."),
            Err(NameError::InvalidCharacter { .. })
        ));
        assert!(matches!(
            DnsName::parse("a\\.b.org."),
            Err(NameError::InvalidCharacter { .. })
        ));
    }

    #[test]
    fn wildcards() {
        let w = n("*.Example.org.");
        assert!(w.is_wildcard());
        assert_eq!(w.as_str(), "*.example.org.");
        assert!(DnsName::parse("*.").is_ok());
        assert_eq!(DnsName::parse("a.*.org."), Err(NameError::MisplacedWildcard));
        assert_eq!(DnsName::parse("*.**.org."), Err(NameError::MisplacedWildcard));
        assert!(RecordsetName::parse("*.example.org.").is_ok());
        assert_eq!(ZoneName::parse("*.example.org."), Err(NameError::WildcardNotAllowed));
    }

    #[test]
    fn zone_names_need_two_labels() {
        assert_eq!(ZoneName::parse("org."), Err(NameError::TooFewLabels));
        let z = ZoneName::parse("Example.org.").unwrap();
        assert_eq!(z.as_str(), "example.org.");
        assert_eq!(z.as_dns_name(), &n("example.org."));
        assert_eq!(z.to_string(), "example.org.");
        assert_eq!(ZoneName::parse("example.org"), Err(NameError::NotFullyQualified));
    }

    #[test]
    fn below_boundaries() {
        let zone = n("example.org.");
        assert!(n("a.example.org.").is_same_or_below(&zone));
        assert!(n("a.example.org.").is_strictly_below(&zone));
        assert!(n("b.a.example.org.").is_strictly_below(&zone));
        assert!(zone.is_same_or_below(&zone));
        assert!(!zone.is_strictly_below(&zone));
        assert!(!n("badexample.org.").is_same_or_below(&zone));
        assert!(!n("org.").is_same_or_below(&zone));
        assert!(!n("example.org.uk.").is_same_or_below(&zone));
        assert!(n("*.example.org.").is_strictly_below(&zone));
    }

    #[test]
    fn parents() {
        assert_eq!(n("a.example.org.").parent(), Some(n("example.org.")));
        assert_eq!(n("example.org.").parent(), Some(n("org.")));
        assert_eq!(n("org.").parent(), None);
    }

    #[test]
    fn serde_round_trip() {
        let z = ZoneName::parse("example.org.").unwrap();
        let json = serde_json::to_string(&z).unwrap();
        assert_eq!(json, "\"example.org.\"");
        let back: ZoneName = serde_json::from_str(&json).unwrap();
        assert_eq!(back, z);
        assert!(serde_json::from_str::<ZoneName>("\"org.\"").is_err());
        assert!(serde_json::from_str::<DnsName>("\"no-dot\"").is_err());
        let r: RecordsetName = serde_json::from_str("\"*.Example.org.\"").unwrap();
        assert_eq!(String::from(r), "*.example.org.");
        let d: DnsName = serde_json::from_str("\"A.b.\"").unwrap();
        assert_eq!(String::from(d), "a.b.");
    }

    #[test]
    fn error_messages_read_as_sentences() {
        assert_eq!(
            NameError::NotFullyQualified.to_string(),
            "name must end with a dot (fully qualified)"
        );
        assert_eq!(
            NameError::LabelTooLong { len: 64 }.to_string(),
            "a label is 64 characters; at most 63 are allowed"
        );
    }
}
