//! The naming rules' read models: `tlds` and `blacklists`, one row per rule.

use anyhow::Context as _;
use futures::future::BoxFuture;
use nsplane_schema::naming::{NamingEvent, NAMING_AGGREGATE};

use super::{Projector, Txn};
use crate::apply::Delivered;

/// Projects TLDs and blacklists.
pub struct NamingProjector;

impl Projector for NamingProjector {
    fn aggregate_type(&self) -> &'static str {
        NAMING_AGGREGATE
    }

    fn apply<'a>(&'a self, txn: &'a Txn<'a>, commits: &'a [&'a Delivered]) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            for commit in commits {
                let typed = commit.commit.typed::<NamingEvent>()?;
                let time = typed.metadata.time.naive_utc();
                for event in &typed.events {
                    match event {
                        NamingEvent::TldCreated {
                            tld_id,
                            name,
                            description,
                        } => {
                            txn.execute(
                                "INSERT INTO tlds (id, name, description, created_at) VALUES ($1, $2, $3, $4)",
                                &[tld_id, name, description, &time],
                            )
                            .await
                        }
                        NamingEvent::TldUpdated {
                            tld_id,
                            name,
                            description,
                        } => {
                            txn.execute(
                                "UPDATE tlds SET name = $2, description = $3, updated_at = $4 WHERE id = $1",
                                &[tld_id, name, description, &time],
                            )
                            .await
                        }
                        NamingEvent::TldDeleted { tld_id } => {
                            txn.execute("DELETE FROM tlds WHERE id = $1", &[tld_id]).await
                        }
                        NamingEvent::BlacklistCreated {
                            blacklist_id,
                            pattern,
                            description,
                        } => {
                            txn.execute(
                                "INSERT INTO blacklists (id, pattern, description, created_at) VALUES ($1, $2, $3, $4)",
                                &[blacklist_id, pattern, description, &time],
                            )
                            .await
                        }
                        NamingEvent::BlacklistUpdated {
                            blacklist_id,
                            pattern,
                            description,
                        } => {
                            txn.execute(
                                "UPDATE blacklists SET pattern = $2, description = $3, updated_at = $4 WHERE id = $1",
                                &[blacklist_id, pattern, description, &time],
                            )
                            .await
                        }
                        NamingEvent::BlacklistDeleted { blacklist_id } => {
                            txn.execute("DELETE FROM blacklists WHERE id = $1", &[blacklist_id])
                                .await
                        }
                    }
                    .with_context(|| format!("failed to project {}", nsplane_schema::Event::event_type(event)))?;
                }
            }
            Ok(())
        })
    }
}
