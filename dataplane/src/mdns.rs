//! `nsplane mdns`: the hidden primary the pool's targets transfer from. Serves SOA and plain queries,
//! AXFR and IXFR (RFC 1995, from the journal, falling back to a full transfer when the journal does not
//! reach the client's serial), and each pool's catalog zone. Transfers are streamed as many messages,
//! each taken from one consistent snapshot of one serial. Zones it does not serve get REFUSED.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use hickory_server::net::runtime::Time;
use hickory_server::net::xfer::Protocol;
use hickory_server::proto::op::{Edns, Header, HeaderCounts, Metadata, OpCode, ResponseCode};
use hickory_server::proto::rr::{Name, RData, Record, RecordType};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use hickory_server::Server;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::pools::Pools;
use crate::zonedata::{catalog_snapshot, parse_lines, Snapshot, ZoneSource};

/// Records per transfer message: well under 64 KiB even with long TXT data.
const RECORDS_PER_MESSAGE: usize = 200;
/// Messages a TCP connection may queue: a transfer of up to about 800,000 records.
const TCP_QUEUE_MESSAGES: usize = 4096;

/// The mdns request handler.
pub struct Mdns {
    source: ZoneSource,
    pools: Arc<Pools>,
}

fn response_info(request: &Request, code: ResponseCode) -> ResponseInfo {
    let mut metadata = Metadata::response_from_request(&request.metadata);
    metadata.response_code = code;
    ResponseInfo::from(Header {
        metadata,
        counts: HeaderCounts::default(),
    })
}

impl Mdns {
    /// A handler over the read models.
    pub fn new(source: ZoneSource, pools: Arc<Pools>) -> Self {
        Self { source, pools }
    }

    async fn send<R: ResponseHandler>(
        request: &Request,
        response: &mut R,
        code: ResponseCode,
        answers: &[&Record],
        authorities: &[&Record],
    ) -> anyhow::Result<ResponseInfo> {
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.authoritative = code != ResponseCode::Refused;
        metadata.response_code = code;
        metadata.recursion_available = false;
        // Mirror the client's EDNS, or UDP answers would be cut at 512 bytes.
        let edns = request.edns.as_ref().map(|e| {
            let mut edns = Edns::new();
            edns.set_max_payload(e.max_payload().max(512));
            edns
        });
        let builder = MessageResponseBuilder::new(&request.queries, edns.as_ref());
        let message = builder.build(metadata, answers.iter().copied(), authorities.iter().copied(), [], []);
        response
            .send_response(message)
            .await
            .context("failed to send a response")
    }

    async fn answer<R: ResponseHandler>(&self, request: &Request, response: &mut R) -> anyhow::Result<ResponseInfo> {
        if request.metadata.op_code != OpCode::Query {
            // mdns is nobody's secondary: NOTIFY and UPDATE are not for it.
            return Self::send(request, response, ResponseCode::NotImp, &[], &[]).await;
        }
        let Some(query) = request.queries.queries().first() else {
            return Self::send(request, response, ResponseCode::FormErr, &[], &[]).await;
        };
        let qname: Name = query.name().into();
        let qtype = query.query_type();
        let snapshot = match self.catalog_for(&qname).await? {
            Some(catalog) => Some(Arc::new(catalog)),
            None => match self.source.find_zone(&qname).await? {
                Some(zone) => match qtype {
                    RecordType::IXFR => return self.ixfr(request, response, &zone).await,
                    // Serial checks are the most common query: answer them without loading the zone.
                    RecordType::SOA if qname.to_ascii().eq_ignore_ascii_case(&zone.name) => {
                        let soa = zone.soa_record(zone.serial)?;
                        return Self::send(request, response, ResponseCode::NoError, &[&soa], &[]).await;
                    }
                    _ => self.source.snapshot(zone.id).await?,
                },
                None => None,
            },
        };
        let Some(snapshot) = snapshot else {
            debug!(%qname, "refused: not a zone this mdns serves");
            return Self::send(request, response, ResponseCode::Refused, &[], &[]).await;
        };
        match qtype {
            RecordType::AXFR | RecordType::IXFR => {
                if request.protocol() != Protocol::Tcp {
                    return Self::send(request, response, ResponseCode::Refused, &[], &[]).await;
                }
                Self::axfr(request, response, &snapshot).await
            }
            _ => Self::lookup(request, response, &snapshot, &qname, qtype).await,
        }
    }

    async fn lookup<R: ResponseHandler>(
        request: &Request,
        response: &mut R,
        snapshot: &Snapshot,
        qname: &Name,
        qtype: RecordType,
    ) -> anyhow::Result<ResponseInfo> {
        let mut qname = qname.clone();
        qname.set_fqdn(true);
        if !snapshot.origin.zone_of(&qname) {
            return Self::send(request, response, ResponseCode::Refused, &[], &[]).await;
        }
        if qtype == RecordType::SOA && qname == snapshot.origin {
            return Self::send(request, response, ResponseCode::NoError, &[&snapshot.soa], &[]).await;
        }
        let key = (qname.clone(), qtype);
        if let Some(records) = snapshot.rrsets.get(&key) {
            let answers: Vec<&Record> = records.iter().collect();
            return Self::send(request, response, ResponseCode::NoError, &answers, &[]).await;
        }
        if qtype == RecordType::ANY {
            let answers: Vec<&Record> = snapshot.records().filter(|r| r.name == qname).collect();
            if !answers.is_empty() {
                return Self::send(request, response, ResponseCode::NoError, &answers, &[]).await;
            }
        }
        if let Some(cname) = snapshot.rrsets.get(&(qname.clone(), RecordType::CNAME)) {
            let answers: Vec<&Record> = cname.iter().collect();
            return Self::send(request, response, ResponseCode::NoError, &answers, &[]).await;
        }
        let code = if snapshot.names.contains(&qname) {
            ResponseCode::NoError
        } else {
            ResponseCode::NXDomain
        };
        Self::send(request, response, code, &[], &[&snapshot.soa]).await
    }

    /// A full transfer: SOA, every record, SOA, in as many messages as it takes.
    async fn axfr<R: ResponseHandler>(
        request: &Request,
        response: &mut R,
        snapshot: &Snapshot,
    ) -> anyhow::Result<ResponseInfo> {
        let all: Vec<&Record> = std::iter::once(&snapshot.soa)
            .chain(snapshot.records())
            .chain(std::iter::once(&snapshot.soa))
            .collect();
        let mut info = None;
        for chunk in all.chunks(RECORDS_PER_MESSAGE) {
            info = Some(Self::send(request, response, ResponseCode::NoError, chunk, &[]).await?);
        }
        debug!(zone = %snapshot.origin, serial = snapshot.serial, records = all.len(), "AXFR sent");
        info.context("empty transfer")
    }

    async fn ixfr<R: ResponseHandler>(
        &self,
        request: &Request,
        response: &mut R,
        zone: &crate::zonedata::ZoneHead,
    ) -> anyhow::Result<ResponseInfo> {
        // RFC 1995: the client's SOA is in the authority section.
        let client_serial = request.authorities.iter().find_map(|r| match &r.data {
            RData::SOA(soa) => Some(soa.serial),
            _ => None,
        });
        let origin = Name::from_ascii(&zone.name).context("bad zone name")?;
        let current = zone.soa_record(zone.serial)?;
        let steps = match client_serial {
            Some(serial) if serial == zone.serial => {
                // Up to date: the current SOA alone.
                return Self::send(request, response, ResponseCode::NoError, &[&current], &[]).await;
            }
            Some(serial) => self.source.journal(zone, serial).await?,
            None => None,
        };
        let Some(steps) = steps else {
            // The journal does not reach the client's serial: a full transfer (RFC 1995 §4).
            if request.protocol() != Protocol::Tcp {
                // Over UDP, the single current SOA tells the client to come back over TCP.
                return Self::send(request, response, ResponseCode::NoError, &[&current], &[]).await;
            }
            let snapshot = self.source.snapshot(zone.id).await?.context("zone vanished")?;
            return Self::axfr(request, response, &snapshot).await;
        };
        // Condensed sequence: SOA(new), then per step SOA(old), removed, SOA(new), added; then SOA(new).
        let mut owned: Vec<Record> = Vec::new();
        let mut layout: Vec<usize> = Vec::new();
        for step in &steps {
            for (lines, serial) in [(&step.removed, step.prev_serial), (&step.added, step.serial)] {
                let mut text = zone.soa_line(serial);
                text.push('\n');
                let mut soa = parse_lines(&origin, &text)?;
                owned.extend(soa.remove(&(origin.clone(), RecordType::SOA)).into_iter().flatten());
                layout.push(1);
                let records: Vec<Record> = parse_lines(&origin, lines)?.into_values().flatten().collect();
                layout.push(records.len());
                owned.extend(records);
            }
        }
        let mut all: Vec<&Record> = vec![&current];
        all.extend(owned.iter());
        all.push(&current);
        if request.protocol() != Protocol::Tcp && all.len() > 64 {
            return Self::send(request, response, ResponseCode::NoError, &[&current], &[]).await;
        }
        let mut info = None;
        for chunk in all.chunks(RECORDS_PER_MESSAGE) {
            info = Some(Self::send(request, response, ResponseCode::NoError, chunk, &[]).await?);
        }
        debug!(zone = %zone.name, steps = steps.len(), records = all.len(), "IXFR sent");
        info.context("empty transfer")
    }

    async fn catalog_for(&self, qname: &Name) -> anyhow::Result<Option<Snapshot>> {
        for (pool_id, pool) in self.pools.iter() {
            let Some(catalog) = &pool.catalog_zone else { continue };
            let origin = Name::from_ascii(&catalog.catalog_zone_fqdn).context("bad catalog name")?;
            let mut name = qname.clone();
            name.set_fqdn(true);
            if origin.zone_of(&name) {
                let (serial, members) = self.source.catalog_members(pool_id.0).await?;
                return Ok(Some(catalog_snapshot(
                    &catalog.catalog_zone_fqdn,
                    catalog.catalog_zone_refresh,
                    serial,
                    &members,
                )?));
            }
        }
        Ok(None)
    }
}

#[async_trait::async_trait]
impl RequestHandler for Mdns {
    async fn handle_request<R: ResponseHandler, T: Time>(&self, request: &Request, mut response: R) -> ResponseInfo {
        match self.answer(request, &mut response).await {
            Ok(info) => info,
            Err(e) => {
                warn!(error = format!("{e:#}"), "mdns failed to answer; SERVFAIL");
                let builder = MessageResponseBuilder::from_message_request(request);
                match response
                    .send_response(builder.error_msg(&request.metadata, ResponseCode::ServFail))
                    .await
                {
                    Ok(info) => info,
                    Err(_) => response_info(request, ResponseCode::ServFail),
                }
            }
        }
    }
}

/// Serves DNS on `udp` and `tcp` until `shutdown` turns true.
pub async fn run(
    mdns: Mdns,
    udp: tokio::net::UdpSocket,
    tcp: tokio::net::TcpListener,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let addr = udp.local_addr()?;
    let mut server = Server::new(mdns);
    server.register_socket(udp);
    // A TCP connection's responses are queued until the handler returns: room for a transfer of
    // TCP_QUEUE_MESSAGES * RECORDS_PER_MESSAGE records.
    server.register_listener(tcp, Duration::from_secs(30), TCP_QUEUE_MESSAGES);
    info!(kind = %"dns", %addr, "listening");
    let _ = shutdown.wait_for(|stop| *stop).await;
    server
        .shutdown_gracefully()
        .await
        .context("mdns did not shut down cleanly")?;
    Ok(())
}
