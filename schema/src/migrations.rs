//! SQL migrations of the read models, in order. The projection applies them; nothing else writes schema.

/// One migration: a name recorded in `schema_migrations`, and its SQL.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Unique, ordered name.
    pub name: &'static str,
    /// The statements, run in one transaction.
    pub sql: &'static str,
}

/// Every migration, oldest first.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        name: "0001_read_models",
        sql: include_str!("../migrations/0001_read_models.sql"),
    },
    Migration {
        name: "0002_data_plane",
        sql: include_str!("../migrations/0002_data_plane.sql"),
    },
    Migration {
        name: "0003_zone_attributes",
        sql: include_str!("../migrations/0003_zone_attributes.sql"),
    },
    Migration {
        name: "0004_zone_shares",
        sql: include_str!("../migrations/0004_zone_shares.sql"),
    },
    Migration {
        name: "0005_every_change_an_event",
        sql: include_str!("../migrations/0005_every_change_an_event.sql"),
    },
    Migration {
        name: "0006_audit_queries",
        sql: include_str!("../migrations/0006_audit_queries.sql"),
    },
    Migration {
        name: "0007_producer",
        sql: include_str!("../migrations/0007_producer.sql"),
    },
    Migration {
        name: "0008_tsigkeys",
        sql: include_str!("../migrations/0008_tsigkeys.sql"),
    },
    Migration {
        name: "0009_zone_exports",
        sql: include_str!("../migrations/0009_zone_exports.sql"),
    },
    Migration {
        name: "0010_zone_imports",
        sql: include_str!("../migrations/0010_zone_imports.sql"),
    },
];
