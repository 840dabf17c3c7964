//! The `nsplane` binary's library: configuration (flags and `NSPLANE_*` variables into each role's
//! validated configuration), what a process does before its roles run, and `nsplane all`, which runs
//! every role in one process under supervision. The roles themselves live in their crates; `main.rs`
//! only wires clap to them.

pub mod all;
pub mod audit;
pub mod config;
pub mod config_file;
pub mod events;
pub mod replay;
pub mod startup;
pub mod zone;

/// The log filter when `RUST_LOG` is not set: INFO, but quiet about every DNS query hickory handles,
/// and without lapin's own lines: it logs every AMQP I/O error and every refused passive declare at
/// ERROR, where nsplane logs a RabbitMQ outage once when it starts and once when it ends.
pub const DEFAULT_LOG_FILTER: &str =
    "info,hickory_server=warn,hickory_proto=warn,hickory_net=warn,tokio_postgres=warn,async_nats=warn,lapin=off";
