//! A small TCP and UDP proxy a test or the simulation controls: the simulation puts it between a
//! secondary and the mdns instances (transfers) and between the workers and a secondary (NOTIFY, SOA
//! polls); tests put it between a role and NATS or PostgreSQL. `cut` drops every datagram and closes and
//! refuses every TCP connection, so whatever is behind it is cut off; `heal` lets traffic through again.
//! With several upstreams, a refused connection or datagram moves the proxy to the next one, as a
//! secondary with several primaries would.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::watch;

struct State {
    upstreams: Vec<SocketAddr>,
    preferred: AtomicUsize,
    cut: watch::Sender<bool>,
}

impl State {
    fn is_cut(&self) -> bool {
        *self.cut.borrow()
    }

    fn upstream(&self) -> SocketAddr {
        self.upstreams[self.preferred.load(Ordering::Relaxed) % self.upstreams.len()]
    }

    fn skip(&self, failed: SocketAddr) {
        let idx = self.preferred.load(Ordering::Relaxed) % self.upstreams.len();
        if self.upstreams[idx] == failed {
            self.preferred
                .store((idx + 1) % self.upstreams.len(), Ordering::Relaxed);
        }
    }
}

/// A running proxy (its tasks live as long as the runtime).
#[derive(Clone)]
pub struct Proxy {
    /// Where clients connect (TCP and UDP, one port).
    pub addr: SocketAddr,
    state: Arc<State>,
}

impl Proxy {
    /// Listens on a free loopback port (the same for TCP and UDP) and forwards to `upstreams`.
    pub async fn start(upstreams: Vec<SocketAddr>) -> anyhow::Result<Proxy> {
        anyhow::ensure!(!upstreams.is_empty(), "a proxy needs an upstream");
        let (udp, tcp) = nsplane_dataplane::mdns::bind("127.0.0.1:0".parse()?).await?;
        let addr = tcp.local_addr()?;
        let (cut, _) = watch::channel(false);
        let state = Arc::new(State {
            upstreams,
            preferred: AtomicUsize::new(0),
            cut,
        });
        tokio::spawn(serve_tcp(tcp, state.clone()));
        tokio::spawn(serve_udp(Arc::new(udp), state.clone()));
        Ok(Proxy { addr, state })
    }

    /// Cuts the link: datagrams dropped, connections closed and refused.
    pub fn cut(&self) {
        self.state.cut.send_replace(true);
    }

    /// Lets traffic through again.
    pub fn heal(&self) {
        self.state.cut.send_replace(false);
    }
}

async fn serve_tcp(listener: TcpListener, state: Arc<State>) {
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            continue;
        };
        if state.is_cut() {
            drop(inbound);
            continue;
        }
        let state = state.clone();
        tokio::spawn(async move {
            let mut outbound = None;
            for _ in 0..state.upstreams.len() {
                let upstream = state.upstream();
                match tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(upstream)).await {
                    Ok(Ok(stream)) => {
                        outbound = Some(stream);
                        break;
                    }
                    _ => state.skip(upstream),
                }
            }
            let Some(mut outbound) = outbound else { return };
            let mut cut = state.cut.subscribe();
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                _ = cut.wait_for(|c| *c) => {}
            }
        });
    }
}

async fn serve_udp(socket: Arc<UdpSocket>, state: Arc<State>) {
    let clients: Arc<Mutex<HashMap<SocketAddr, Arc<UdpSocket>>>> = Arc::default();
    let mut buf = vec![0u8; 65_535];
    loop {
        let Ok((len, client)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        if state.is_cut() {
            continue;
        }
        let existing = clients.lock().unwrap_or_else(|p| p.into_inner()).get(&client).cloned();
        let upstream_socket = match existing {
            Some(s) => s,
            None => {
                let upstream = state.upstream();
                let Ok(s) = UdpSocket::bind("127.0.0.1:0").await else {
                    continue;
                };
                if s.connect(upstream).await.is_err() {
                    continue;
                }
                let s = Arc::new(s);
                clients
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(client, s.clone());
                tokio::spawn(relay_back(
                    s.clone(),
                    socket.clone(),
                    client,
                    upstream,
                    state.clone(),
                    clients.clone(),
                ));
                s
            }
        };
        let _ = upstream_socket.send(&buf[..len]).await;
    }
}

/// Answers from the upstream go back to the client until the upstream refuses (then the next datagram
/// from the client opens a socket to the next upstream) or the client is idle for a minute.
async fn relay_back(
    upstream_socket: Arc<UdpSocket>,
    listen: Arc<UdpSocket>,
    client: SocketAddr,
    upstream: SocketAddr,
    state: Arc<State>,
    clients: Arc<Mutex<HashMap<SocketAddr, Arc<UdpSocket>>>>,
) {
    let mut buf = vec![0u8; 65_535];
    loop {
        match tokio::time::timeout(Duration::from_secs(60), upstream_socket.recv(&mut buf)).await {
            Ok(Ok(len)) => {
                if !state.is_cut() {
                    let _ = listen.send_to(&buf[..len], client).await;
                }
            }
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                state.skip(upstream);
                break;
            }
            Ok(Err(_)) | Err(_) => break,
        }
    }
    clients.lock().unwrap_or_else(|p| p.into_inner()).remove(&client);
}
