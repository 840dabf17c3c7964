//! nsplane's simulations as a library: the cluster builder (three NATS nodes, PostgreSQL, two `nsplane`
//! processes per role, BIND and Knot secondaries behind proxies), the load generator, the seeded faults,
//! the checker and the report; and the benchmarks, which run any nsplane binary as a child and measure
//! it; and `hold`, the same cluster with HAProxy in front, held for `scripts/cluster.sh`. `main.rs` wires
//! them to the `nsplane-sim` command line.

pub mod amqp;
pub mod bench;
pub mod bench_dataplane;
pub mod bench_failover;
pub mod bench_notify;
pub mod bench_replay;
pub mod checker;
pub mod cluster;
pub mod faults;
pub mod hold;
pub mod load;
pub mod monitor;
pub mod process;
pub mod report;
pub mod scenario;
pub mod sink_load;
