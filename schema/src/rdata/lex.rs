//! Lexical helpers the validators share: fields, integers, names, hex, base64, escapes, quoting.

use super::data::Target;
use super::parse::MAX_TXT_STRING;
use crate::name::DnsName;

// ---------------------------------------------------------------------------------------------
// Shared helpers. Each returns the reason of a refusal as a String; `validate_record` wraps it.
// ---------------------------------------------------------------------------------------------

/// A refusal reason.
pub(super) type Reason = String;

/// Splits on runs of whitespace.
pub(super) fn fields(data: &str) -> Vec<&str> {
    data.split_ascii_whitespace().collect()
}

/// Requires exactly `names.len()` fields.
pub(super) fn expect_fields<'a>(data: &'a str, names: &[&str]) -> Result<Vec<&'a str>, Reason> {
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
pub(super) fn parse_int(s: &str, what: &str, min: u64, max: u64) -> Result<u64, Reason> {
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
pub(super) fn parse_name(s: &str, what: &str) -> Result<DnsName, Reason> {
    let name = DnsName::parse(s).map_err(|e| format!("{what} `{s}` is not a valid domain name: {e}"))?;
    if name.is_wildcard() {
        return Err(format!("{what} `{s}` may not be a wildcard name"));
    }
    Ok(name)
}

/// Like [`parse_name`], but the root `.` is accepted as well.
pub(super) fn parse_target(s: &str, what: &str) -> Result<Target, Reason> {
    if s == "." {
        return Ok(Target::Root);
    }
    parse_name(s, what).map(Target::Name)
}

/// Checks a host name that need not be absolute (CAA issuer and iodef domains).
pub(super) fn check_relative_domain(s: &str, what: &str) -> Result<(), Reason> {
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
pub(super) fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Decodes hex digits (already checked by [`is_hex`]), refusing an odd count: bytes are whole.
pub(super) fn decode_hex(s: &str, what: &str) -> Result<Vec<u8>, Reason> {
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
pub(super) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// Checks standard base64 with padding (RFC 4648 §4).
pub(super) fn check_base64(s: &str, what: &str) -> Result<(), Reason> {
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
pub(super) fn decode_base64(s: &str) -> Vec<u8> {
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
pub(super) fn unescape(text: &str, what: &str) -> Result<Vec<u8>, Reason> {
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
pub(super) fn check_string_len(bytes: &[u8], what: &str) -> Result<(), Reason> {
    if bytes.len() > MAX_TXT_STRING {
        return Err(format!(
            "{what} is {} bytes once escapes are resolved; at most 255 fit in one string",
            bytes.len()
        ));
    }
    Ok(())
}

/// Removes one pair of surrounding double quotes if present; refuses a quote at one end only.
pub(super) fn unquote<'a>(s: &'a str, what: &str) -> Result<&'a str, Reason> {
    match (s.starts_with('"'), s.ends_with('"')) {
        (true, true) if s.len() >= 2 => Ok(&s[1..s.len() - 1]),
        (false, false) => Ok(s),
        _ => Err(format!("{what} `{s}` has unbalanced double quotes")),
    }
}

/// Splits off the first whitespace-separated word, returning it and the trimmed rest.
pub(super) fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(|c: char| c.is_ascii_whitespace()) {
        Some(i) => (&s[..i], s[i..].trim_start()),
        None => (s, ""),
    }
}

/// `parse_int` for values that fit 16 bits.
pub(super) fn int16(s: &str, what: &str, max: u16) -> Result<u16, Reason> {
    parse_int(s, what, 0, u64::from(max)).map(|v| v as u16)
}

/// `parse_int` for values that fit 8 bits.
pub(super) fn int8(s: &str, what: &str, max: u8) -> Result<u8, Reason> {
    parse_int(s, what, 0, u64::from(max)).map(|v| v as u8)
}
