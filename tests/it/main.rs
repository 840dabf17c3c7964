//! The integration tests, one binary so the real NATS and PostgreSQL start once for all of them (each
//! test has its own namespace): the API, the write path, tenancy, projection, the producer's leases,
//! the data plane with real BIND, Knot and PowerDNS secondaries, a real Keystone, the real openstack
//! CLI, and schemathesis.

mod api;
mod audit;
mod claims;
mod config_file;
mod contract;
mod dataplane;
mod events;
mod exports;
mod history;
mod imports;
mod keystone;
mod notifications;
mod openstack_cli;
mod ops;
mod pools;
mod producer;
mod projection;
mod records;
mod replay;
mod revert;
mod schemathesis;
mod services;
mod sink;
mod supervision;
mod tenancy;
mod tool;
mod tsigkeys;
mod write_path;
