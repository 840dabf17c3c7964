//! Real secondaries for data-plane tests (started by `nsplane::devmode`).
#![allow(dead_code, unreachable_pub)]

pub use nsplane::devmode::{LocalBind, LocalKnot, LocalPdns};

/// A BIND secondary of `catalog`, served by mdns at `mdns_port`.
pub fn bind(mdns_port: u16, catalog: &str) -> LocalBind {
    LocalBind::start(mdns_port, catalog).expect("start named")
}

/// A Knot secondary of `catalog`, served by mdns at `mdns_port`.
pub fn knot(mdns_port: u16, catalog: &str) -> LocalKnot {
    LocalKnot::start(mdns_port, catalog).expect("start knotd")
}

/// A PowerDNS secondary with its HTTP API.
pub fn pdns() -> LocalPdns {
    LocalPdns::start().expect("start pdns_server")
}

/// A BIND server managed through rndc (the bind9 backend).
pub fn bind_rndc() -> LocalBind {
    LocalBind::start_rndc().expect("start named with a control channel")
}
