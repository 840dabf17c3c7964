//! The worker's DNS client: NOTIFY (RFC 1996) and SOA-serial queries over UDP, each with a timeout and,
//! when a key is given, TSIG-signed (the answer must then verify).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType, TSigner};
use tokio::net::UdpSocket;

/// What a name server said about a zone's SOA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoaAnswer {
    /// It serves the zone at this serial.
    Serial(u32),
    /// It does not serve the zone (REFUSED, NXDOMAIN, NOTAUTH, SERVFAIL, or no SOA).
    NotServed(ResponseCode),
}

async fn exchange(addr: SocketAddr, message: &Message, timeout: Duration) -> anyhow::Result<Message> {
    exchange_signed(addr, message.clone(), None, timeout).await
}

fn unix_now() -> anyhow::Result<u64> {
    Ok(std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs())
}

async fn exchange_signed(
    addr: SocketAddr,
    mut message: Message,
    signer: Option<&TSigner>,
    timeout: Duration,
) -> anyhow::Result<Message> {
    let mut verifier = match signer {
        Some(signer) => message
            .finalize(signer, unix_now()?)
            .map_err(|e| anyhow::anyhow!("failed to sign: {e}"))?,
        None => None,
    };
    let bind: SocketAddr = if addr.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse()?;
    let socket = UdpSocket::bind(bind).await.context("failed to open a UDP socket")?;
    socket
        .connect(addr)
        .await
        .with_context(|| format!("failed to reach {addr}"))?;
    let bytes = message.to_vec().context("failed to encode a DNS message")?;
    socket
        .send(&bytes)
        .await
        .with_context(|| format!("failed to send to {addr}"))?;
    let mut buf = vec![0u8; 65_535];
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let len = tokio::time::timeout_at(deadline, socket.recv(&mut buf))
            .await
            .with_context(|| format!("{addr} did not answer within {timeout:?}"))?
            .with_context(|| format!("failed to receive from {addr}"))?;
        let reply = match verifier.as_mut() {
            Some(verifier) => {
                let Ok(unverified) = Message::from_vec(&buf[..len]) else {
                    continue;
                };
                if unverified.metadata.id != message.metadata.id {
                    continue;
                }
                verifier
                    .verify(&buf[..len])
                    .map_err(|e| anyhow::anyhow!("{addr}'s answer failed TSIG verification: {e}"))?
                    .into_message()
            }
            None => {
                let Ok(reply) = Message::from_vec(&buf[..len]) else {
                    continue;
                };
                reply
            }
        };
        if reply.metadata.id == message.metadata.id {
            return Ok(reply);
        }
    }
}

fn name(zone: &str) -> anyhow::Result<Name> {
    Name::from_ascii(zone).with_context(|| format!("bad zone name {zone:?}"))
}

/// Sends a NOTIFY for `zone` to `addr` and waits for its acknowledgement.
pub async fn notify(addr: SocketAddr, zone: &str, timeout: Duration) -> anyhow::Result<()> {
    notify_signed(addr, zone, None, timeout).await
}

/// [`notify`], TSIG-signed with `signer` when given.
pub async fn notify_signed(
    addr: SocketAddr,
    zone: &str,
    signer: Option<&TSigner>,
    timeout: Duration,
) -> anyhow::Result<()> {
    let mut message = Message::new(rand::random(), MessageType::Query, OpCode::Notify);
    message.metadata.authoritative = true;
    message.add_query(Query::query(name(zone)?, RecordType::SOA));
    let reply = exchange_signed(addr, message, signer, timeout).await?;
    anyhow::ensure!(
        reply.metadata.response_code == ResponseCode::NoError,
        "{addr} answered NOTIFY for {zone} with {}",
        reply.metadata.response_code
    );
    Ok(())
}

/// Sends one query and returns the reply (for tools and tests).
pub async fn query(addr: SocketAddr, qname: &str, rtype: RecordType, timeout: Duration) -> anyhow::Result<Message> {
    let mut message = Message::new(rand::random(), MessageType::Query, OpCode::Query);
    message.add_query(Query::query(name(qname)?, rtype));
    exchange(addr, &message, timeout).await
}

/// Asks `addr` for the zone's SOA serial.
pub async fn soa(addr: SocketAddr, zone: &str, timeout: Duration) -> anyhow::Result<SoaAnswer> {
    soa_signed(addr, zone, None, timeout).await
}

/// [`soa`], TSIG-signed with `signer` when given.
pub async fn soa_signed(
    addr: SocketAddr,
    zone: &str,
    signer: Option<&TSigner>,
    timeout: Duration,
) -> anyhow::Result<SoaAnswer> {
    let zone_name = name(zone)?;
    let mut message = Message::new(rand::random(), MessageType::Query, OpCode::Query);
    message.add_query(Query::query(zone_name.clone(), RecordType::SOA));
    let reply = exchange_signed(addr, message, signer, timeout).await?;
    let code = reply.metadata.response_code;
    if code != ResponseCode::NoError {
        return Ok(SoaAnswer::NotServed(code));
    }
    // Only an authoritative answer counts: a server that merely knows of the zone does not serve it.
    let serial = reply.answers.iter().find_map(|record| match &record.data {
        RData::SOA(soa) if record.name == zone_name => Some(soa.serial),
        _ => None,
    });
    Ok(match serial {
        Some(serial) if reply.metadata.authoritative => SoaAnswer::Serial(serial),
        _ => SoaAnswer::NotServed(code),
    })
}

/// A full zone transfer over TCP: every record of every message, the leading and trailing SOA included.
/// Reads all messages itself (hickory-net's client drops messages of long transfers).
pub async fn axfr(addr: SocketAddr, zone: &str, timeout: Duration) -> anyhow::Result<Vec<hickory_proto::rr::Record>> {
    axfr_signed(addr, zone, None, timeout).await
}

/// [`axfr`], TSIG-signed with `signer` when given; every message of the answer must then verify.
pub async fn axfr_signed(
    addr: SocketAddr,
    zone: &str,
    signer: Option<&hickory_proto::rr::TSigner>,
    timeout: Duration,
) -> anyhow::Result<Vec<hickory_proto::rr::Record>> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    tokio::time::timeout(timeout, async {
        let mut message = Message::new(rand::random(), MessageType::Query, OpCode::Query);
        message.add_query(Query::query(name(zone)?, RecordType::AXFR));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs();
        let mut verifier = match signer {
            Some(signer) => message
                .finalize(signer, now)
                .map_err(|e| anyhow::anyhow!("failed to sign: {e}"))?,
            None => None,
        };
        let wire = message.to_vec()?;
        let mut tcp = tokio::net::TcpStream::connect(addr)
            .await
            .with_context(|| format!("failed to connect to {addr}"))?;
        let len = u16::try_from(wire.len())?;
        tcp.write_all(&len.to_be_bytes()).await?;
        tcp.write_all(&wire).await?;
        let mut out: Vec<hickory_proto::rr::Record> = Vec::new();
        loop {
            let len = usize::from(tcp.read_u16().await?);
            let mut buf = vec![0u8; len];
            tcp.read_exact(&mut buf).await?;
            let reply = match verifier.as_mut() {
                Some(verifier) => verifier
                    .verify(&buf)
                    .map_err(|e| anyhow::anyhow!("TSIG verification failed: {e}"))?
                    .into_message(),
                None => Message::from_vec(&buf)?,
            };
            anyhow::ensure!(
                reply.metadata.response_code == ResponseCode::NoError,
                "AXFR answered {}",
                reply.metadata.response_code
            );
            for record in reply.answers {
                let is_soa = record.record_type() == RecordType::SOA;
                let done = is_soa && !out.is_empty();
                out.push(record);
                if done {
                    return Ok(out);
                }
            }
        }
    })
    .await
    .with_context(|| format!("AXFR of {zone} from {addr} timed out"))?
}
