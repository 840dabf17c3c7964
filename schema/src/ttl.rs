//! Time-to-live values: 0..=2147483647 seconds, as Designate's object fields allow.

use serde::{Deserialize, Serialize};

/// A validated TTL in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Ttl(u32);

/// The largest TTL RFC 2181 allows.
pub const TTL_MAX_SECS: i64 = 2_147_483_647;

/// Why a TTL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TtlError {
    /// Outside 0..=2147483647.
    #[error("ttl {value} is out of range: it must be between 0 and {TTL_MAX_SECS}")]
    OutOfRange {
        /// The value given.
        value: i64,
    },
}

impl Ttl {
    /// Checks the range.
    pub fn new(value: i64) -> Result<Ttl, TtlError> {
        if (0..=TTL_MAX_SECS).contains(&value) {
            Ok(Ttl(value as u32))
        } else {
            Err(TtlError::OutOfRange { value })
        }
    }

    /// The value in seconds.
    pub fn secs(self) -> u32 {
        self.0
    }
}

impl TryFrom<i64> for Ttl {
    type Error = TtlError;
    fn try_from(value: i64) -> Result<Self, Self::Error> {
        Ttl::new(value)
    }
}

impl From<Ttl> for i64 {
    fn from(value: Ttl) -> Self {
        i64::from(value.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_bounds() {
        assert!(Ttl::new(0).is_ok());
        assert!(Ttl::new(TTL_MAX_SECS).is_ok());
        assert_eq!(Ttl::new(-1), Err(TtlError::OutOfRange { value: -1 }));
        assert!(Ttl::new(TTL_MAX_SECS + 1).is_err());
    }
}
