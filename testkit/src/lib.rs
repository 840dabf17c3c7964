//! The test kit: what tests and benchmarks need around nsplane, and never part of the production binary.
//! Throwaway servers (one NATS and one PostgreSQL per test binary with a namespace per test; BIND, Knot
//! and PowerDNS secondaries, a RabbitMQ broker), nodes running the roles in-process, a JSON client for the API, a pools
//! builder, process guards, and latency histograms.

pub mod arbitrary;
pub mod client;
pub mod latency;
pub mod nodes;
pub mod pools;
pub mod process;
pub mod proxy;
pub mod rabbitmq;
pub mod secondaries;
pub mod servers;

pub use client::{call, create_recordset, create_zone, get, http, no_redirect_http, post};
pub use latency::Latencies;
pub use nodes::{api_config, confirm_zone_deleted, mdns_sockets, FullNode, Node, Tsig, TEST_POOL};
pub use servers::{commits_on, dump_read_models, eventually, namespace, Namespace, Shared};
