//! The `nsplane` binary's library: configuration, the roles as functions `run(config, ..., shutdown)`,
//! the zero-config dev mode that starts its own NATS and PostgreSQL, and the benchmark tool.
//! `main.rs` only wires clap to these.

pub mod bench;
pub mod bench_dataplane;
pub mod config;
pub mod devmode;
pub mod roles;
