//! DNS wire records built from the values `schema` validated: owner names from their labels as they are
//! (a label with `_` or any other byte a DNS name may carry goes on the wire unchanged), record data from
//! [`RecordData`], never from a second parser of the presentation text. What `schema` accepts, this
//! module can put on the wire; [`RecordData::wire_len`] says how long each RDATA is, and the encoder here
//! writes exactly that many bytes.

use anyhow::Context as _;
use hickory_proto::rr::rdata::{self, NULL};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType as WireType};
use nsplane_projection::read::dataplane::ZoneHead;
use nsplane_schema::rdata::{RecordData, ServiceBinding, Target};
use nsplane_schema::{DnsName, RecordType};

/// A DNS name from its text form as the read models store it (validated when it was written): the
/// labels become wire labels byte for byte.
pub fn name(text: &str) -> anyhow::Result<Name> {
    let dns = DnsName::parse(text).with_context(|| format!("stored name {text:?}"))?;
    dns_name(&dns)
}

/// A DNS name from a validated name.
pub fn dns_name(dns: &DnsName) -> anyhow::Result<Name> {
    let body = dns.as_str().strip_suffix('.').unwrap_or(dns.as_str());
    let mut name = Name::from_labels(body.split('.').map(str::as_bytes)).with_context(|| format!("name {dns}"))?;
    name.set_fqdn(true);
    Ok(name)
}

fn target(target: &Target) -> anyhow::Result<Name> {
    match target {
        Target::Root => Ok(Name::root()),
        Target::Name(name) => dns_name(name),
    }
}

/// The wire type code of a record type.
pub fn wire_type(rtype: RecordType) -> WireType {
    WireType::from(rtype.code())
}

/// The record data as hickory carries it. Types hickory models one-to-one are built as its typed values
/// (so names in their data can be compressed); the rest carry the RDATA bytes encoded here, which
/// hickory sends as they are.
pub fn rdata(data: &RecordData) -> anyhow::Result<RData> {
    Ok(match data {
        RecordData::A(ip) => RData::A(rdata::A(*ip)),
        RecordData::Aaaa(ip) => RData::AAAA(rdata::AAAA(*ip)),
        RecordData::Cname(name) => RData::CNAME(rdata::CNAME(dns_name(name)?)),
        RecordData::Ns(name) => RData::NS(rdata::NS(dns_name(name)?)),
        RecordData::Ptr(name) => RData::PTR(rdata::PTR(dns_name(name)?)),
        RecordData::Mx { preference, exchange } => RData::MX(rdata::MX::new(*preference, dns_name(exchange)?)),
        RecordData::Srv {
            priority,
            weight,
            port,
            target: host,
        } => RData::SRV(rdata::SRV::new(*priority, *weight, *port, target(host)?)),
        RecordData::Txt(text) => RData::TXT(rdata::TXT::from_bytes(
            text.strings().iter().map(Vec::as_slice).collect(),
        )),
        other => RData::Unknown {
            code: wire_type(other.rtype()),
            rdata: NULL::with(encode(other)),
        },
    })
}

/// One record.
pub fn record(owner: Name, ttl: u32, data: &RecordData) -> anyhow::Result<Record> {
    let mut record = Record::from_rdata(owner, ttl, rdata(data)?);
    record.dns_class = DNSClass::IN;
    Ok(record)
}

/// A zone's SOA record at `serial`: MNAME and the timers from the zone, RNAME made of its hostmaster
/// address (the local part is the first label, dots and all).
pub fn soa(zone: &ZoneHead, serial: u32) -> anyhow::Result<Record> {
    let origin = name(&zone.name)?;
    let mname = name(&zone.mname)?;
    let (local, domain) = nsplane_schema::email::rname_parts(&zone.email).with_context(|| {
        format!(
            "zone {}: the address {:?} cannot be an SOA RNAME",
            zone.name, zone.email
        )
    })?;
    let mut rname = Name::from_labels(std::iter::once(local).chain(domain.labels().into_iter().map(str::as_bytes)))
        .with_context(|| format!("zone {}: RNAME of {:?}", zone.name, zone.email))?;
    rname.set_fqdn(true);
    let timer = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
    let soa = rdata::SOA::new(
        mname,
        rname,
        serial,
        timer(zone.timers.refresh),
        timer(zone.timers.retry),
        timer(zone.timers.expire),
        zone.timers.minimum,
    );
    let mut record = Record::from_rdata(origin, zone.ttl, RData::SOA(soa));
    record.dns_class = DNSClass::IN;
    Ok(record)
}

/// The RDATA of a record in wire form (RFC 1035 §3.3 and each type's RFC), names uncompressed.
pub fn encode(data: &RecordData) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.wire_len());
    match data {
        RecordData::A(ip) => out.extend_from_slice(&ip.octets()),
        RecordData::Aaaa(ip) => out.extend_from_slice(&ip.octets()),
        RecordData::Cname(name) | RecordData::Ns(name) | RecordData::Ptr(name) => put_name(&mut out, name),
        RecordData::Mx { preference, exchange } => {
            out.extend_from_slice(&preference.to_be_bytes());
            put_name(&mut out, exchange);
        }
        RecordData::Soa {
            mname,
            rname,
            serial,
            refresh,
            retry,
            expire,
            minimum,
        } => {
            put_name(&mut out, mname);
            put_label(&mut out, rname.local_part());
            put_name(&mut out, rname.domain());
            for value in [serial, refresh, retry, expire, minimum] {
                out.extend_from_slice(&value.to_be_bytes());
            }
        }
        RecordData::Srv {
            priority,
            weight,
            port,
            target,
        } => {
            for value in [priority, weight, port] {
                out.extend_from_slice(&value.to_be_bytes());
            }
            put_target(&mut out, target);
        }
        RecordData::Sshfp {
            algorithm,
            fp_type,
            fingerprint,
        } => {
            out.extend_from_slice(&[*algorithm, *fp_type]);
            out.extend_from_slice(fingerprint);
        }
        RecordData::Txt(text) | RecordData::Spf(text) => {
            for string in text.strings() {
                put_string(&mut out, string);
            }
        }
        RecordData::Caa { flags, tag, value, .. } => {
            out.push(*flags);
            put_string(&mut out, tag.as_bytes());
            out.extend_from_slice(value);
        }
        RecordData::Naptr {
            order,
            preference,
            flags,
            service,
            regexp,
            replacement,
            ..
        } => {
            out.extend_from_slice(&order.to_be_bytes());
            out.extend_from_slice(&preference.to_be_bytes());
            for text in [flags, service, regexp] {
                put_string(&mut out, text);
            }
            put_target(&mut out, replacement);
        }
        RecordData::Cert {
            cert_type,
            key_tag,
            algorithm,
            certificate,
            ..
        } => {
            out.extend_from_slice(&cert_type.value.to_be_bytes());
            out.extend_from_slice(&key_tag.to_be_bytes());
            // Validation bounds the algorithm to 0..=255.
            out.push(u8::try_from(algorithm.value).unwrap_or(u8::MAX));
            out.extend_from_slice(certificate);
        }
        RecordData::Svcb(binding) | RecordData::Https(binding) => put_binding(&mut out, binding),
        RecordData::Tlsa {
            usage,
            selector,
            matching_type,
            data,
        } => {
            out.extend_from_slice(&[*usage, *selector, *matching_type]);
            out.extend_from_slice(data);
        }
    }
    out
}

fn put_label(out: &mut Vec<u8>, label: &[u8]) {
    // Labels are validated to at most 63 bytes.
    out.push(u8::try_from(label.len()).unwrap_or(63));
    out.extend_from_slice(label);
}

fn put_name(out: &mut Vec<u8>, name: &DnsName) {
    for label in name.labels() {
        put_label(out, label.as_bytes());
    }
    out.push(0);
}

fn put_target(out: &mut Vec<u8>, target: &Target) {
    match target {
        Target::Root => out.push(0),
        Target::Name(name) => put_name(out, name),
    }
}

fn put_string(out: &mut Vec<u8>, string: &[u8]) {
    // Character-strings are validated to at most 255 bytes.
    out.push(u8::try_from(string.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(string);
}

fn put_binding(out: &mut Vec<u8>, binding: &ServiceBinding) {
    out.extend_from_slice(&binding.priority.to_be_bytes());
    put_target(out, &binding.target);
    for param in &binding.params {
        out.extend_from_slice(&param.key.to_be_bytes());
        // A parameter's value is validated to at most 65535 bytes.
        out.extend_from_slice(&u16::try_from(param.value.len()).unwrap_or(u16::MAX).to_be_bytes());
        out.extend_from_slice(&param.value);
    }
}

/// The catalog zone's SOA and NS (RFC 9432 §4.1: `invalid.` everywhere, TTL 0).
pub fn catalog_apex(origin: &Name, serial: u32, refresh: u32) -> anyhow::Result<(Record, Record)> {
    let invalid = Name::from_ascii("invalid.").context("the name invalid.")?;
    let hostmaster = Name::from_ascii("hostmaster.invalid.").context("the name hostmaster.invalid.")?;
    let refresh = i32::try_from(refresh).unwrap_or(i32::MAX);
    let soa = rdata::SOA::new(invalid.clone(), hostmaster, serial, refresh, refresh, 604_800, 0);
    let mut soa = Record::from_rdata(origin.clone(), 0, RData::SOA(soa));
    soa.dns_class = DNSClass::IN;
    let mut ns = Record::from_rdata(origin.clone(), 0, RData::NS(rdata::NS(invalid)));
    ns.dns_class = DNSClass::IN;
    Ok((soa, ns))
}
