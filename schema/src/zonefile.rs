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
