//! Hostmaster e-mail addresses of zones: validated so the SOA RNAME made of them can always be served
//! (RFC 1035 §8: the local part becomes the RNAME's first label, so at most 63 bytes).

use std::fmt;

use crate::name::DnsName;
use crate::rdata::MAILBOX_CHARS;

/// Why an e-mail address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a valid email")]
pub struct EmailError(pub String);

/// A validated e-mail address: a local part of 1 to 63 characters from RFC 5322's `atext` and dots,
/// `@`, and a domain that is a valid DNS name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    text: String,
    at: usize,
}

impl Email {
    /// Checks an address.
    pub fn parse(email: &str) -> Result<Email, EmailError> {
        let bad = || EmailError(email.to_owned());
        if email.len() > 254 || email.matches('@').count() != 1 {
            return Err(bad());
        }
        let (local, domain) = email.split_once('@').ok_or_else(bad)?;
        let local_ok = !local.is_empty()
            && local.len() <= 63
            && local
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || MAILBOX_CHARS.contains(&b));
        if !local_ok {
            return Err(bad());
        }
        let fqdn = if domain.ends_with('.') {
            domain.to_owned()
        } else {
            format!("{domain}.")
        };
        let domain = DnsName::parse(&fqdn).map_err(|_| bad())?;
        if domain.is_wildcard() || 1 + local.len() + domain.wire_len() > 255 {
            return Err(bad());
        }
        Ok(Email {
            text: email.to_owned(),
            at: local.len(),
        })
    }

    /// The address as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl From<Email> for String {
    fn from(email: Email) -> String {
        email.text
    }
}

/// The two parts of a zone's RNAME as the data plane puts them on the wire: the mailbox label (the
/// local part, dots and all) and the domain. `None` for an address that cannot be one (only possible
/// for addresses stored before validation was this strict).
pub fn rname_parts(email: &str) -> Option<(&[u8], DnsName)> {
    let (local, domain) = email.split_once('@')?;
    if local.is_empty() || local.len() > 63 {
        return None;
    }
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let domain = DnsName::parse(&format!("{domain}.")).ok()?;
    Some((local.as_bytes(), domain))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_that_make_a_servable_rname_pass() {
        assert!(Email::parse("hostmaster@example.org").is_ok());
        assert!(Email::parse("host.master+dns@Example.org.").is_ok());
        assert_eq!(Email::parse("a@b.c").map(|e| e.to_string()), Ok("a@b.c".to_owned()));
        for bad in [
            "",
            "no-at",
            "two@@example.org",
            "@example.org",
            "a b@example.org",
            "a\"b@example.org",
            "a@exa mple.org",
            "a@*.example.org",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
        let long_local = format!("{}@example.org", "a".repeat(64));
        assert!(
            Email::parse(&long_local).is_err(),
            "a 64-byte mailbox label cannot be served"
        );
        assert!(Email::parse(&format!("{}@example.org", "a".repeat(63))).is_ok());
    }

    #[test]
    fn rname_parts_split_at_the_at() {
        let (local, domain) = rname_parts("host.master@Example.org").expect("parts");
        assert_eq!(local, b"host.master");
        assert_eq!(domain.as_str(), "example.org.");
    }
}
