//! What the executor needs from an aggregate, whatever its kind: cqrs-es's `Aggregate` (the state, its
//! commands and `apply`), plus deciding a command into the contract's events without changing the
//! state, applying a stored event at its commit's time, and who may act on it. A new kind of aggregate
//! implements this and gets the event store, the executor and central's loop for free.

use std::future::Future;

use chrono::{DateTime, Utc};
use cqrs_es::{Aggregate, DomainEvent};
use nsplane_schema::{Event, ProjectId};
use serde::{Deserialize, Serialize};

/// A contract event wrapped for cqrs-es, which needs its own `DomainEvent` trait on the event type (the
/// contract crate stays free of framework dependencies).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Domain<E>(pub E);

impl<E: Event> DomainEvent for Domain<E> {
    fn event_type(&self) -> String {
        self.0.event_type().to_owned()
    }
    fn event_version(&self) -> String {
        self.0.event_version().to_string()
    }
}

/// An aggregate the executor can run.
pub trait Decider: Aggregate<Event = Domain<Self::Contract>> + Clone + 'static {
    /// Its events, as the contract defines them.
    type Contract: Event;

    /// A command's name, stored in the commit's metadata (`CreateRecordset`).
    fn command_name(command: &Self::Command) -> &'static str;

    /// The events `command` commits, decided against the current state without changing it (the
    /// executor applies them only once they are stored). `now` is the commit's time. No events: nothing
    /// to do, nothing is appended.
    fn decide(
        &self,
        command: Self::Command,
        services: &Self::Services,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<Self::Contract>, Self::Error>> + Send;

    /// Applies a stored event; `time` is its commit's time.
    fn evolve(&mut self, event: &Self::Contract, time: DateTime<Utc>);

    /// The refusal for a caller that may not see the aggregate (its existence does not leak).
    fn not_found() -> Self::Error;

    /// Whether `caller` may run `command` here.
    fn permits(&self, caller: &ProjectId, command: &Self::Command) -> bool {
        let _ = (caller, command);
        true
    }
}
