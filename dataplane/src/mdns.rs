//! `nsplane mdns`: the hidden primary the pool's targets transfer from. Serves SOA and plain queries,
//! AXFR and IXFR (RFC 1995, from the journal, falling back to a full transfer when the journal does not
//! reach the client's serial), and each pool's catalog zone. Transfers are streamed as many messages,
//! each taken from one consistent snapshot of one serial. Zones it does not serve get REFUSED.
//!
//! TSIG with Designate's scoping: a POOL key sees its pool's zones, a ZONE key its zone, unsigned
//! requests only the default pool's; with `require_tsig`, unsigned transfers are refused. Responses to
//! signed requests are signed, every message of a transfer included.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use hickory_server::net::runtime::Time;
use hickory_server::net::xfer::Protocol;
use hickory_server::proto::op::{Edns, Header, HeaderCounts, Metadata, OpCode, ResponseCode};
use hickory_server::proto::rr::{Name, RData, Record, RecordType};
use hickory_server::proto::serialize::binary::BinEncoder;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use hickory_server::Server;
use nsplane_schema::ids::DEFAULT_POOL_ID;
use tokio::sync::watch;
use tracing::{debug, info, warn};
use uuid::Uuid;

use nsplane_command::PoolsHandle;
use nsplane_projection::read::dataplane::ZoneHead;

use crate::records;
use crate::tsig::{self, Auth, Chain, Keys, SharedKeys};
use crate::zonedata::{catalog_snapshot, Snapshot, ZoneSource};

/// Records per transfer message at most.
const RECORDS_PER_MESSAGE: usize = 200;
/// Bytes of records per transfer message at most (estimated from each record's owner and data, names
/// uncompressed), so a message stays under 64 KiB whatever the records' sizes.
const BYTES_PER_MESSAGE: usize = 48 * 1024;
/// Messages a TCP connection may queue: a transfer of up to about 800,000 records.
const TCP_QUEUE_MESSAGES: usize = 4096;

/// The mdns request handler.
pub struct Mdns {
    source: ZoneSource,
    pools: PoolsHandle,
    keys: SharedKeys,
    require_tsig: bool,
}

/// One request's response side: where messages go, and the TSIG chain that signs them.
struct Reply<'a, R> {
    request: &'a Request,
    response: &'a mut R,
    tsig: Option<Chain>,
    now: u64,
}

impl<R: ResponseHandler> Reply<'_, R> {
    async fn send(
        &mut self,
        code: ResponseCode,
        answers: &[&Record],
        authorities: &[&Record],
    ) -> anyhow::Result<ResponseInfo> {
        let request = self.request;
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.authoritative = !matches!(code, ResponseCode::Refused | ResponseCode::NotAuth);
        metadata.response_code = code;
        metadata.recursion_available = false;
        // Mirror the client's EDNS, or UDP answers would be cut at 512 bytes.
        let edns = request.edns.as_ref().map(|e| {
            let mut edns = Edns::new();
            edns.set_max_payload(e.max_payload().max(512));
            edns
        });
        let build = || {
            MessageResponseBuilder::new(&request.queries, edns.as_ref()).build(
                metadata,
                answers.iter().copied(),
                authorities.iter().copied(),
                [],
                [],
            )
        };
        let mut message = build();
        if let Some(chain) = self.tsig.as_mut() {
            let mut unsigned = Vec::new();
            let mut encoder = BinEncoder::new(&mut unsigned);
            if request.protocol() == Protocol::Udp {
                encoder.set_max_size(edns.as_ref().map_or(512, |e| e.max_payload()));
            }
            build()
                .destructive_emit(&mut encoder)
                .context("failed to encode a response")?;
            message.set_signature(chain.sign(&unsigned, self.now)?);
        }
        self.response
            .send_response(message)
            .await
            .context("failed to send a response")
    }

    /// Whether the request may see a zone of `pool_id`.
    fn allowed(&self, pool_id: Uuid, zone_id: Uuid) -> bool {
        match &self.tsig {
            Some(chain) => chain.key().allows(pool_id, zone_id),
            None => pool_id == DEFAULT_POOL_ID.0,
        }
    }
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
    pub fn new(source: ZoneSource, pools: PoolsHandle, keys: SharedKeys, require_tsig: bool) -> Self {
        Self {
            source,
            pools,
            keys,
            require_tsig,
        }
    }

    async fn answer<R: ResponseHandler>(&self, reply: &mut Reply<'_, R>) -> anyhow::Result<ResponseInfo> {
        let request = reply.request;
        if request.metadata.op_code != OpCode::Query {
            // mdns is nobody's secondary: NOTIFY and UPDATE are not for it.
            return reply.send(ResponseCode::NotImp, &[], &[]).await;
        }
        let Some(query) = request.queries.queries().first() else {
            return reply.send(ResponseCode::FormErr, &[], &[]).await;
        };
        let qname: Name = query.name().into();
        let qtype = query.query_type();
        let transfer = matches!(qtype, RecordType::AXFR | RecordType::IXFR);
        if transfer && self.require_tsig && reply.tsig.is_none() {
            debug!(%qname, "refused: unsigned transfer and TSIG is required");
            return reply.send(ResponseCode::Refused, &[], &[]).await;
        }
        let snapshot = match self.catalog_for(&qname, reply).await? {
            Some(catalog) => Some(Arc::new(catalog)),
            None => match self.source.find_zone(&qname).await? {
                Some(zone) if reply.allowed(zone.pool_id, zone.id) => match qtype {
                    RecordType::IXFR => return self.ixfr(reply, &zone).await,
                    // Serial checks are the most common query: answer them without loading the zone.
                    RecordType::SOA if qname.to_ascii().eq_ignore_ascii_case(&zone.name) => {
                        let soa = self.source.soa(&zone)?;
                        return reply.send(ResponseCode::NoError, &[&soa], &[]).await;
                    }
                    _ => self.source.snapshot(zone.id).await?,
                },
                _ => None,
            },
        };
        let Some(snapshot) = snapshot else {
            debug!(%qname, "refused: not a zone this mdns serves to this client");
            return reply.send(ResponseCode::Refused, &[], &[]).await;
        };
        if transfer {
            if request.protocol() != Protocol::Tcp {
                return reply.send(ResponseCode::Refused, &[], &[]).await;
            }
            return Self::axfr(reply, &snapshot).await;
        }
        Self::lookup(reply, &snapshot, &qname, qtype).await
    }

    async fn lookup<R: ResponseHandler>(
        reply: &mut Reply<'_, R>,
        snapshot: &Snapshot,
        qname: &Name,
        qtype: RecordType,
    ) -> anyhow::Result<ResponseInfo> {
        let mut qname = qname.clone();
        qname.set_fqdn(true);
        if !snapshot.origin.zone_of(&qname) {
            return reply.send(ResponseCode::Refused, &[], &[]).await;
        }
        if qtype == RecordType::SOA && qname == snapshot.origin {
            return reply.send(ResponseCode::NoError, &[&snapshot.soa], &[]).await;
        }
        if let Some(records) = snapshot.rrsets.get(&(qname.clone(), qtype)) {
            let answers: Vec<&Record> = records.iter().collect();
            return reply.send(ResponseCode::NoError, &answers, &[]).await;
        }
        if qtype == RecordType::ANY {
            let answers: Vec<&Record> = snapshot.records().filter(|r| r.name == qname).collect();
            if !answers.is_empty() {
                return reply.send(ResponseCode::NoError, &answers, &[]).await;
            }
        }
        if let Some(cname) = snapshot.rrsets.get(&(qname.clone(), RecordType::CNAME)) {
            let answers: Vec<&Record> = cname.iter().collect();
            return reply.send(ResponseCode::NoError, &answers, &[]).await;
        }
        let code = if snapshot.names.contains(&qname) {
            ResponseCode::NoError
        } else {
            ResponseCode::NXDomain
        };
        reply.send(code, &[], &[&snapshot.soa]).await
    }

    /// Sends `records` as a transfer: as many messages as it takes, each within
    /// [`RECORDS_PER_MESSAGE`] records and [`BYTES_PER_MESSAGE`] bytes.
    async fn stream<R: ResponseHandler>(reply: &mut Reply<'_, R>, records: &[&Record]) -> anyhow::Result<ResponseInfo> {
        let mut info = None;
        let mut start = 0;
        while start < records.len() {
            let mut end = start;
            let mut bytes = 0;
            while end < records.len() && end - start < RECORDS_PER_MESSAGE {
                let size = record_size(records[end]);
                if end > start && bytes + size > BYTES_PER_MESSAGE {
                    break;
                }
                bytes += size;
                end += 1;
            }
            info = Some(reply.send(ResponseCode::NoError, &records[start..end], &[]).await?);
            start = end;
        }
        info.context("empty transfer")
    }

    /// A full transfer: SOA, every record, SOA.
    async fn axfr<R: ResponseHandler>(reply: &mut Reply<'_, R>, snapshot: &Snapshot) -> anyhow::Result<ResponseInfo> {
        let all: Vec<&Record> = std::iter::once(&snapshot.soa)
            .chain(snapshot.records())
            .chain(std::iter::once(&snapshot.soa))
            .collect();
        debug!(zone = %snapshot.origin, serial = snapshot.serial, records = all.len(), "AXFR");
        Self::stream(reply, &all).await
    }

    async fn ixfr<R: ResponseHandler>(
        &self,
        reply: &mut Reply<'_, R>,
        zone: &ZoneHead,
    ) -> anyhow::Result<ResponseInfo> {
        let request = reply.request;
        // RFC 1995: the client's SOA is in the authority section.
        let client_serial = request.authorities.iter().find_map(|r| match &r.data {
            RData::SOA(soa) => Some(soa.serial),
            _ => None,
        });
        let current = self.source.soa(zone)?;
        let steps = match client_serial {
            // Up to date: the current SOA alone.
            Some(serial) if serial == zone.serial => return reply.send(ResponseCode::NoError, &[&current], &[]).await,
            Some(serial) => self.source.journal(zone, serial).await?,
            None => None,
        };
        let Some(steps) = steps else {
            // The journal does not reach the client's serial: a full transfer (RFC 1995 §4); over UDP,
            // the single current SOA tells the client to come back over TCP.
            if request.protocol() != Protocol::Tcp {
                return reply.send(ResponseCode::NoError, &[&current], &[]).await;
            }
            let snapshot = self.source.snapshot(zone.id).await?.context("zone vanished")?;
            return Self::axfr(reply, &snapshot).await;
        };
        // SOA(new), then per step SOA(old), removed, SOA(new), added; then SOA(new).
        let mut owned: Vec<Record> = Vec::new();
        for step in steps {
            owned.push(records::soa(zone, step.prev_serial)?);
            owned.extend(step.removed);
            owned.push(records::soa(zone, step.serial)?);
            owned.extend(step.added);
        }
        let mut all: Vec<&Record> = vec![&current];
        all.extend(owned.iter());
        all.push(&current);
        if request.protocol() != Protocol::Tcp && all.len() > 64 {
            return reply.send(ResponseCode::NoError, &[&current], &[]).await;
        }
        debug!(zone = %zone.name, records = all.len(), "IXFR");
        Self::stream(reply, &all).await
    }

    async fn catalog_for<R>(&self, qname: &Name, reply: &Reply<'_, R>) -> anyhow::Result<Option<Snapshot>> {
        let pools = self.pools.current();
        for (pool_id, pool) in pools.iter() {
            let Some(catalog) = &pool.catalog_zone else { continue };
            let origin = Name::from_ascii(&catalog.catalog_zone_fqdn).context("bad catalog name")?;
            let mut name = qname.clone();
            name.set_fqdn(true);
            if origin.zone_of(&name) {
                let permitted = match &reply.tsig {
                    Some(chain) => chain.key().scope == tsig::Scope::Pool && chain.key().resource_id == pool_id.0,
                    None => pool_id == DEFAULT_POOL_ID,
                };
                if !permitted {
                    return Ok(None);
                }
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
        let now = T::current_time();
        let keys = self.keys.current();
        let tsig = match tsig::verify(
            &keys,
            request.as_slice(),
            request.metadata.id,
            request.signature.as_deref(),
            now,
        ) {
            Auth::Unsigned => None,
            Auth::Signed(chain) => Some(chain),
            Auth::Rejected(context) => {
                // NOTAUTH, with the TSIG error (BADKEY, BADSIG, BADTIME) in a TSIG record.
                warn!(src = %request.src(), "TSIG check failed; NOTAUTH");
                let mut metadata = Metadata::response_from_request(&request.metadata);
                metadata.response_code = ResponseCode::NotAuth;
                let mut unsigned = Vec::new();
                let encoded = MessageResponseBuilder::new(&request.queries, None)
                    .build_no_records(metadata)
                    .destructive_emit(&mut BinEncoder::new(&mut unsigned));
                let mut message = MessageResponseBuilder::new(&request.queries, None).build_no_records(metadata);
                if encoded.is_ok() {
                    if let Ok(signature) = context.sign(&unsigned) {
                        message.set_signature(signature);
                    }
                }
                return response
                    .send_response(message)
                    .await
                    .unwrap_or_else(|_| response_info(request, ResponseCode::NotAuth));
            }
        };
        let mut reply = Reply {
            request,
            response: &mut response,
            tsig,
            now,
        };
        match self.answer(&mut reply).await {
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

/// A record's size on the wire, estimated without encoding it: owner and data names uncompressed.
fn record_size(record: &Record) -> usize {
    let data = match &record.data {
        RData::Unknown { rdata, .. } => rdata.anything.len(),
        RData::TXT(txt) => txt.txt_data.iter().map(|s| s.len() + 1).sum(),
        RData::A(_) => 4,
        RData::AAAA(_) => 16,
        _ => 2 * 256,
    };
    record.name.len() + 1 + 10 + data
}

/// Everything mdns needs, validated.
#[derive(Clone)]
pub struct MdnsConfig {
    /// NATS (for the committed pools).
    pub nats: nsplane_runtime::NatsConfig,
    /// The event stream's layout.
    pub store: nsplane_command::StoreConfig,
    /// The read models.
    pub pg: nsplane_projection::PgConfig,
    /// TSIG keys from the configuration file; the keys registered through `/v2/tsigkeys` are added
    /// as they change.
    pub keys: Keys,
    /// Refuse unsigned transfers.
    pub require_tsig: bool,
}

/// `nsplane mdns`: connects to NATS and PostgreSQL, follows the committed pools, and serves DNS on `udp`
/// and `tcp` (bound to the same address) until `shutdown` turns true.
pub async fn run(
    config: MdnsConfig,
    udp: tokio::net::UdpSocket,
    tcp: tokio::net::TcpListener,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let client = nsplane_runtime::connect(&config.nats, "nsplane-mdns").await?;
    let store = nsplane_command::EventStore::open(client, config.store.clone()).await?;
    let pool = nsplane_projection::connect_pool(&config.pg)?;
    nsplane_projection::migrate(&pool)
        .await
        .context("failed to migrate the read models")?;
    let pools_store = nsplane_command::PoolsStore::new(store);
    let pools = pools_store.handle().await?;
    let follower = tokio::spawn(nsplane_command::pools::follow(
        pools_store,
        pools.clone(),
        shutdown.clone(),
    ));
    let read = nsplane_projection::ReadModels::new(pool);
    let keys = SharedKeys::new(config.keys.clone());
    let refresher = {
        let (configured, keys) = (config.keys, keys.clone());
        tokio::spawn(tsig::follow_registered(
            read.clone(),
            shutdown.clone(),
            move |registered| {
                let in_use = configured.with(registered.into_values().collect());
                info!(keys = in_use.len(), "TSIG keys in use");
                keys.replace(in_use);
            },
        ))
    };
    let source = ZoneSource::new(read);
    let mdns = Mdns::new(source, pools, keys, config.require_tsig);
    let result = serve(mdns, udp, tcp, shutdown).await;
    follower.abort();
    refresher.abort();
    result
}

/// Serves DNS on `udp` and `tcp` until `shutdown` turns true.
pub async fn serve(
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

/// Binds mdns's UDP socket and TCP listener on one address (port 0: the same free port for both).
pub async fn bind(addr: std::net::SocketAddr) -> anyhow::Result<(tokio::net::UdpSocket, tokio::net::TcpListener)> {
    for _ in 0..20 {
        let tcp = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("failed to bind mdns to tcp {addr}"))?;
        let bound = tcp.local_addr()?;
        match tokio::net::UdpSocket::bind(bound).await {
            Ok(udp) => return Ok((udp, tcp)),
            Err(e) if addr.port() == 0 => debug!(error = %e, "udp port taken; trying another"),
            Err(e) => return Err(anyhow::Error::new(e).context(format!("failed to bind mdns to udp {addr}"))),
        }
    }
    anyhow::bail!("found no port free for both udp and tcp")
}
