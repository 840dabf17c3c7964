//! Zones as text in the master-file format of RFC 1035 §5 (what `Accept: text/dns` answers), and a
//! change between two serials in the condensed IXFR form of RFC 1995 §4 (the old SOA, what was removed,
//! the new SOA, what was added). Every owner name is written absolute, so the text reads the same
//! whatever `$ORIGIN` a reader assumes. Record data is written as nsplane stores it: presentation form.

use std::fmt::Write as _;

/// A zone's SOA at one serial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Soa {
    /// The primary name server (absolute).
    pub mname: String,
    /// The hostmaster's e-mail address (`local@domain`).
    pub email: String,
    /// The serial.
    pub serial: u32,
    /// Refresh, retry, expire and minimum, in seconds.
    pub timers: [u32; 4],
}

/// A zone's apex at one serial: its name, default TTL, SOA and name servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Apex {
    /// The zone's name (absolute).
    pub origin: String,
    /// Its default TTL.
    pub ttl: u32,
    /// Its SOA.
    pub soa: Soa,
    /// Its name servers (absolute host names), in order.
    pub nameservers: Vec<String>,
}

/// One resource record.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    /// The owner name (absolute).
    pub name: String,
    /// The TTL.
    pub ttl: u32,
    /// The type's mnemonic.
    pub rtype: String,
    /// The data in presentation form.
    pub data: String,
}

/// The SOA RNAME of an e-mail address: the local part as one label (its dots and other special
/// characters escaped), then the domain.
pub fn rname(email: &str) -> String {
    let (local, domain) = email.split_once('@').unwrap_or(("hostmaster", email));
    let mut out = String::with_capacity(email.len() + 4);
    for c in local.chars() {
        if matches!(c, '.' | '\\' | '"' | '(' | ')' | ';' | '@' | '$') || c.is_whitespace() {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('.');
    out.push_str(domain.trim_end_matches('.'));
    out.push('.');
    out
}

fn line(out: &mut String, name: &str, ttl: u32, rtype: &str, data: &str) {
    // Writing to a String cannot fail.
    let _ = writeln!(out, "{name}\t{ttl}\tIN\t{rtype}\t{data}");
}

fn soa_line(out: &mut String, apex: &Apex) {
    let soa = &apex.soa;
    let [refresh, retry, expire, minimum] = soa.timers;
    let data = format!(
        "{} {} {} {refresh} {retry} {expire} {minimum}",
        soa.mname,
        rname(&soa.email),
        soa.serial
    );
    line(out, &apex.origin, apex.ttl, "SOA", &data);
}

fn apex_ns(apex: &Apex) -> impl Iterator<Item = Entry> + '_ {
    apex.nameservers.iter().map(|ns| Entry {
        name: apex.origin.clone(),
        ttl: apex.ttl,
        rtype: "NS".to_owned(),
        data: ns.clone(),
    })
}

/// The whole zone: `$ORIGIN`, `$TTL`, the SOA, the apex NS records, then `entries` in the order given.
pub fn zone_file(apex: &Apex, entries: &[Entry]) -> String {
    let mut out = format!("$ORIGIN {}\n$TTL {}\n", apex.origin, apex.ttl);
    soa_line(&mut out, apex);
    for entry in apex_ns(apex).chain(entries.iter().cloned()) {
        line(&mut out, &entry.name, entry.ttl, &entry.rtype, &entry.data);
    }
    out
}

/// The change from `from` to `to` as one condensed IXFR difference sequence, framed by the new SOA as
/// a transfer is: new SOA, old SOA, removed records, new SOA, added records, new SOA. The apex NS
/// records count as records; records present on both sides (same name, type, TTL and data) are left
/// out.
pub fn ixfr(from: (&Apex, &[Entry]), to: (&Apex, &[Entry])) -> String {
    let collect = |apex: &Apex, entries: &[Entry]| -> std::collections::BTreeSet<Entry> {
        apex_ns(apex).chain(entries.iter().cloned()).collect()
    };
    let (before, after) = (collect(from.0, from.1), collect(to.0, to.1));
    let mut out = format!(
        "; IXFR of {} from serial {} to serial {}\n",
        to.0.origin, from.0.soa.serial, to.0.soa.serial
    );
    soa_line(&mut out, to.0);
    soa_line(&mut out, from.0);
    for entry in before.difference(&after) {
        line(&mut out, &entry.name, entry.ttl, &entry.rtype, &entry.data);
    }
    soa_line(&mut out, to.0);
    for entry in after.difference(&before) {
        line(&mut out, &entry.name, entry.ttl, &entry.rtype, &entry.data);
    }
    soa_line(&mut out, to.0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apex(serial: u32, ttl: u32) -> Apex {
        Apex {
            origin: "example.org.".into(),
            ttl,
            soa: Soa {
                mname: "ns1.example.net.".into(),
                email: "host.master@example.org".into(),
                serial,
                timers: [3600, 600, 86400, 300],
            },
            nameservers: vec!["ns1.example.net.".into(), "ns2.example.net.".into()],
        }
    }

    fn a(name: &str, data: &str) -> Entry {
        Entry {
            name: name.into(),
            ttl: 300,
            rtype: "A".into(),
            data: data.into(),
        }
    }

    #[test]
    fn a_zone_file_has_its_soa_then_ns_then_records() {
        let text = zone_file(&apex(7, 3600), &[a("www.example.org.", "192.0.2.1")]);
        assert_eq!(
            text,
            "$ORIGIN example.org.\n$TTL 3600\n\
             example.org.\t3600\tIN\tSOA\tns1.example.net. host\\.master.example.org. 7 3600 600 86400 300\n\
             example.org.\t3600\tIN\tNS\tns1.example.net.\n\
             example.org.\t3600\tIN\tNS\tns2.example.net.\n\
             www.example.org.\t300\tIN\tA\t192.0.2.1\n"
        );
    }

    #[test]
    fn an_ixfr_lists_only_what_changed_between_the_soas() {
        let before = [a("www.example.org.", "192.0.2.1"), a("old.example.org.", "192.0.2.9")];
        let after = [a("www.example.org.", "192.0.2.1"), a("new.example.org.", "192.0.2.5")];
        let text = ixfr((&apex(7, 3600), &before), (&apex(9, 3600), &after));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "; IXFR of example.org. from serial 7 to serial 9");
        assert!(lines[1].ends_with(" 9 3600 600 86400 300"), "{}", lines[1]);
        assert!(lines[2].ends_with(" 7 3600 600 86400 300"), "{}", lines[2]);
        assert_eq!(lines[3], "old.example.org.\t300\tIN\tA\t192.0.2.9");
        assert!(lines[4].contains("SOA") && lines[4].contains(" 9 "), "{}", lines[4]);
        assert_eq!(lines[5], "new.example.org.\t300\tIN\tA\t192.0.2.5");
        assert!(lines[6].contains("SOA") && lines[6].contains(" 9 "), "{}", lines[6]);
        assert_eq!(lines.len(), 7, "{text}");
    }

    #[test]
    fn a_zone_ttl_change_moves_the_apex_ns_records() {
        let text = ixfr((&apex(1, 3600), &[]), (&apex(2, 600), &[]));
        assert!(
            text.contains("example.org.\t3600\tIN\tNS\tns1.example.net.\n"),
            "{text}"
        );
        assert!(text.contains("example.org.\t600\tIN\tNS\tns1.example.net.\n"), "{text}");
    }

    #[test]
    fn special_characters_of_the_mailbox_are_escaped() {
        assert_eq!(rname("a.b@example.org"), "a\\.b.example.org.");
        assert_eq!(rname("dns$admin@example.org."), "dns\\$admin.example.org.");
    }
}

/// A zone file read back: its origin, default TTL, SOA and every other record, owner names and names
/// inside record data made absolute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedZone {
    /// The zone's name: the SOA's owner (absolute, lower case).
    pub origin: String,
    /// The SOA's TTL (else `$TTL`).
    pub ttl: Option<u32>,
    /// The hostmaster's address, from the SOA's RNAME (`hostmaster@example.org`).
    pub email: String,
    /// Every record but the SOA, in file order: `(owner, TTL if given, type, data)`.
    pub records: Vec<(String, Option<u32>, String, String)>,
}

/// Why a zone file was refused: a line number (1-based) where one applies, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct ZoneFileError {
    /// The line.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

fn refuse<T>(line: Option<usize>, message: impl Into<String>) -> Result<T, ZoneFileError> {
    Err(ZoneFileError {
        line,
        message: message.into(),
    })
}

/// One logical entry: its tokens, whether its first line began with blank space (owner omitted), and
/// the line it began on.
struct Logical {
    tokens: Vec<String>,
    blank_owner: bool,
    line: usize,
}

/// Splits the text into logical entries: comments dropped, parentheses joining lines, quoted strings
/// kept whole (quotes included).
fn logical_entries(text: &str) -> Result<Vec<Logical>, ZoneFileError> {
    let mut out = Vec::new();
    let mut current: Option<Logical> = None;
    let mut depth = 0usize;
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let mut chars = raw.chars().peekable();
        if depth == 0 {
            if let Some(entry) = current.take() {
                if !entry.tokens.is_empty() {
                    out.push(entry);
                }
            }
            current = Some(Logical {
                tokens: Vec::new(),
                blank_owner: raw.starts_with([' ', '\t']),
                line,
            });
        }
        let entry = current.get_or_insert_with(|| Logical {
            tokens: Vec::new(),
            blank_owner: false,
            line,
        });
        let mut token = String::new();
        let mut quoted = false;
        while let Some(c) = chars.next() {
            if quoted {
                token.push(c);
                if c == '\\' {
                    if let Some(next) = chars.next() {
                        token.push(next);
                    }
                } else if c == '"' {
                    quoted = false;
                }
                continue;
            }
            match c {
                ';' => break,
                '"' => {
                    quoted = true;
                    token.push(c);
                }
                '\\' => {
                    token.push(c);
                    if let Some(next) = chars.next() {
                        token.push(next);
                    }
                }
                '(' | ')' => {
                    if !token.is_empty() {
                        entry.tokens.push(std::mem::take(&mut token));
                    }
                    if c == '(' {
                        depth += 1;
                    } else if depth == 0 {
                        return refuse(Some(line), "a ')' without its '('");
                    } else {
                        depth -= 1;
                    }
                }
                c if c.is_whitespace() => {
                    if !token.is_empty() {
                        entry.tokens.push(std::mem::take(&mut token));
                    }
                }
                c => token.push(c),
            }
        }
        if quoted {
            return refuse(Some(line), "a quoted string is not closed on its line");
        }
        if !token.is_empty() {
            entry.tokens.push(token);
        }
    }
    if depth > 0 {
        return refuse(None, "a '(' is never closed");
    }
    if let Some(entry) = current {
        if !entry.tokens.is_empty() {
            out.push(entry);
        }
    }
    Ok(out)
}

/// A TTL: seconds, or BIND's units (`1h30m`, `2d`, `1w`).
fn parse_ttl(token: &str) -> Option<u32> {
    if let Ok(seconds) = token.parse::<u32>() {
        return Some(seconds);
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in token.to_ascii_lowercase().chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return None,
        };
        total += number.parse::<u64>().ok()? * unit;
        number.clear();
    }
    if !number.is_empty() {
        return None;
    }
    u32::try_from(total).ok()
}

/// `name` made absolute against `origin` (`@` is the origin).
fn absolute(name: &str, origin: Option<&str>, line: usize) -> Result<String, ZoneFileError> {
    if name == "@" {
        return origin.map(str::to_owned).ok_or_else(|| ZoneFileError {
            line: Some(line),
            message: "'@' before any $ORIGIN or SOA".into(),
        });
    }
    if name.ends_with('.') && !name.ends_with("\\.") {
        return Ok(name.to_owned());
    }
    match origin {
        Some(origin) => Ok(format!("{name}.{origin}")),
        None => refuse(Some(line), format!("the relative name {name:?} before any $ORIGIN")),
    }
}

/// Which tokens of a type's data are domain names (made absolute): all of one name, or by position.
fn name_positions(rtype: &str) -> &'static [usize] {
    match rtype {
        "CNAME" | "NS" | "PTR" | "DNAME" => &[0],
        "MX" => &[1],
        "SRV" => &[3],
        _ => &[],
    }
}

/// The local part and domain of a SOA RNAME (`host\.master.example.org.` → `host.master@example.org`).
fn email_of(rname: &str) -> String {
    let mut local = String::new();
    let mut chars = rname.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    local.push(next);
                }
            }
            '.' => break,
            c => local.push(c),
        }
    }
    let domain: String = chars.collect();
    format!("{local}@{}", domain.trim_end_matches('.'))
}

/// Reads a zone file in the master-file format of RFC 1035 §5: `$ORIGIN` and `$TTL` (`$INCLUDE` and
/// `$GENERATE` are refused: an import reads one file), owners omitted or `@`, TTL and class in either
/// order (class IN only), parentheses and comments. The file must hold exactly one SOA; the zone is
/// its owner. Record data is kept in presentation form, with relative names made absolute for the
/// types whose data names a host.
pub fn parse(text: &str) -> Result<ParsedZone, ZoneFileError> {
    let mut origin: Option<String> = None;
    let mut default_ttl: Option<u32> = None;
    let mut previous_owner: Option<String> = None;
    let mut soa: Option<(String, Option<u32>, Vec<String>, usize)> = None;
    let mut records = Vec::new();
    for entry in logical_entries(text)? {
        let line = entry.line;
        let mut tokens = entry.tokens.into_iter();
        let first = tokens.next().unwrap_or_default();
        if let Some(directive) = first.strip_prefix('$') {
            let arg = tokens.next();
            match directive.to_ascii_uppercase().as_str() {
                "ORIGIN" => {
                    let name = arg.ok_or_else(|| ZoneFileError {
                        line: Some(line),
                        message: "$ORIGIN without a name".into(),
                    })?;
                    origin = Some(absolute(&name, origin.as_deref(), line)?.to_ascii_lowercase());
                }
                "TTL" => {
                    default_ttl = Some(arg.as_deref().and_then(parse_ttl).ok_or_else(|| ZoneFileError {
                        line: Some(line),
                        message: "$TTL needs a time to live".into(),
                    })?);
                }
                "INCLUDE" => return refuse(Some(line), "$INCLUDE is not supported: import one self-contained file"),
                other => return refuse(Some(line), format!("${other} is not supported")),
            }
            continue;
        }
        let mut rest: Vec<String> = Vec::new();
        let owner = if entry.blank_owner {
            rest.push(first);
            previous_owner.clone().ok_or_else(|| ZoneFileError {
                line: Some(line),
                message: "a record without an owner, and none before it".into(),
            })?
        } else {
            absolute(&first, origin.as_deref(), line)?.to_ascii_lowercase()
        };
        rest.extend(tokens);
        previous_owner = Some(owner.clone());
        // [TTL] [class] or [class] [TTL], then the type.
        let mut ttl = None;
        let mut index = 0;
        for _ in 0..2 {
            let Some(token) = rest.get(index) else { break };
            if ttl.is_none() {
                if let Some(t) = parse_ttl(token) {
                    ttl = Some(t);
                    index += 1;
                    continue;
                }
            }
            match token.to_ascii_uppercase().as_str() {
                "IN" => index += 1,
                "CH" | "HS" | "CS" => return refuse(Some(line), format!("class {token} is not supported (IN only)")),
                _ => break,
            }
        }
        let rtype = rest
            .get(index)
            .map(|t| t.to_ascii_uppercase())
            .ok_or_else(|| ZoneFileError {
                line: Some(line),
                message: "a record without a type".into(),
            })?;
        let mut data: Vec<String> = rest[index + 1..].to_vec();
        if data.is_empty() {
            return refuse(Some(line), format!("{rtype} record without data"));
        }
        if rtype == "SOA" {
            if soa.is_some() {
                return refuse(Some(line), "a second SOA record");
            }
            if data.len() != 7 {
                return refuse(Some(line), "an SOA record needs 7 fields");
            }
            if origin.is_none() {
                origin = Some(owner.clone());
            }
            data[0] = absolute(&data[0], origin.as_deref(), line)?;
            data[1] = absolute(&data[1], origin.as_deref(), line)?;
            soa = Some((owner, ttl, data, line));
            continue;
        }
        for &position in name_positions(&rtype) {
            if let Some(name) = data.get_mut(position) {
                *name = absolute(name, origin.as_deref(), line)?;
            }
        }
        records.push((owner, ttl.or(default_ttl), rtype, data.join(" ")));
    }
    let Some((soa_owner, soa_ttl, soa_data, _)) = soa else {
        return refuse(None, "the zone file has no SOA record");
    };
    if let Some((owner, ..)) = records
        .iter()
        .find(|(owner, ..)| owner != &soa_owner && !owner.ends_with(&format!(".{soa_owner}")))
    {
        return refuse(None, format!("{owner} is not inside the zone {soa_owner}"));
    }
    Ok(ParsedZone {
        email: email_of(&soa_data[1]),
        ttl: soa_ttl.or(default_ttl),
        origin: soa_owner,
        records,
    })
}

#[cfg(test)]
mod parse_tests {
    use super::*;

    #[test]
    fn a_zone_file_reads_back_with_names_made_absolute() {
        let text = "$ORIGIN example.org.\n$TTL 1h\n\
            @ IN SOA ns1 host\\.master.example.org. ( 2024010101 ; serial\n  3600 600 86400 300 )\n\
            @ NS ns1.example.net.\n\
            www 300 IN A 192.0.2.1\n    A 192.0.2.2\n\
            mail IN 600 MX 10 mx1\n\
            alias CNAME www\n\
            txt TXT \"a string; with a semicolon\" \"and (parens)\"\n";
        let zone = parse(text).expect("parses");
        assert_eq!(zone.origin, "example.org.");
        assert_eq!(zone.email, "host.master@example.org");
        assert_eq!(zone.ttl, Some(3600));
        assert_eq!(
            zone.records,
            vec![
                (
                    "example.org.".into(),
                    Some(3600),
                    "NS".into(),
                    "ns1.example.net.".into()
                ),
                ("www.example.org.".into(), Some(300), "A".into(), "192.0.2.1".into()),
                ("www.example.org.".into(), Some(3600), "A".into(), "192.0.2.2".into()),
                (
                    "mail.example.org.".into(),
                    Some(600),
                    "MX".into(),
                    "10 mx1.example.org.".into()
                ),
                (
                    "alias.example.org.".into(),
                    Some(3600),
                    "CNAME".into(),
                    "www.example.org.".into()
                ),
                (
                    "txt.example.org.".into(),
                    Some(3600),
                    "TXT".into(),
                    "\"a string; with a semicolon\" \"and (parens)\"".into()
                ),
            ]
        );
    }

    #[test]
    fn what_an_import_cannot_take_is_refused_with_its_line() {
        let err = parse("$ORIGIN a.example.\n$INCLUDE other.zone\n").expect_err("refused");
        assert_eq!(err.line, Some(2));
        assert!(err.message.contains("$INCLUDE"), "{err}");
        assert!(parse("$ORIGIN a.example.\nwww A 192.0.2.1\n")
            .expect_err("no SOA")
            .message
            .contains("no SOA"));
        let two = "a.example. SOA ns1 h 1 2 3 4 5\na.example. SOA ns1 h 1 2 3 4 5\n";
        assert_eq!(parse(two).expect_err("two SOAs").line, Some(2));
        let outside = "a.example. SOA ns1 h 1 2 3 4 5\nwww.b.example. A 192.0.2.1\n";
        assert!(parse(outside).expect_err("outside").message.contains("not inside"));
        assert!(
            parse("a.example. SOA ns1 h ( 1 2 3 4 5\n").is_err(),
            "an open parenthesis"
        );
        assert_eq!(
            parse("a.example. CH SOA ns1 h 1 2 3 4 5\n").expect_err("class").line,
            Some(1)
        );
    }
}
