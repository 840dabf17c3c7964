//! How nsplane's roles live, whatever the role: connecting to NATS (and refusing servers too old to keep
//! per-subject optimistic concurrency safe), a shutdown signal that turns on Ctrl-C or SIGTERM, the
//! supervisor that runs several roles in one process and stops them all when one fails for good,
//! failpoints that tests arm to inject failures, and the local NATS and PostgreSQL servers of the
//! zero-config dev mode.
//!
//! Every role is a library function `run(config, listeners, shutdown)`; this crate knows none of them.

pub mod devmode;
pub mod failpoint;
pub mod nats;
pub mod ops;
pub mod shutdown;
pub mod supervise;
pub mod systemd;

pub use nats::{connect, NatsConfig, NatsVersionError};
pub use shutdown::Shutdown;
pub use supervise::{supervise, Role};
