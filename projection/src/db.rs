//! PostgreSQL connections and the migrations runner.

use anyhow::Context as _;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use nsplane_schema::migrations::MIGRATIONS;
use tracing::info;

/// Where the read models live.
#[derive(Clone)]
pub struct PgConfig {
    /// A libpq-style URL, `postgres://user@host:port/db`.
    pub url: String,
    /// Connections in the pool.
    pub pool_size: usize,
}

impl std::fmt::Debug for PgConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password.
        let shown = match self.url.rsplit_once('@') {
            Some((_, host)) => format!("postgres://***@{host}"),
            None => self.url.clone(),
        };
        f.debug_struct("PgConfig")
            .field("url", &shown)
            .field("pool_size", &self.pool_size)
            .finish()
    }
}

/// Opens a connection pool.
pub fn connect_pool(config: &PgConfig) -> anyhow::Result<Pool> {
    let pg: tokio_postgres::Config = config
        .url
        .parse()
        .with_context(|| format!("bad postgres url in {config:?}"))?;
    let manager = Manager::from_config(
        pg,
        tokio_postgres::NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(config.pool_size.max(1))
        .build()
        .context("failed to build the postgres pool")
}

/// Applies the migrations not yet applied, under an advisory lock so concurrent instances take turns.
pub async fn migrate(pool: &Pool) -> anyhow::Result<()> {
    let mut client = pool.get().await.context("failed to connect to postgres")?;
    let txn = client.transaction().await?;
    txn.execute("SELECT pg_advisory_xact_lock(7263746)", &[]).await?;
    txn.batch_execute("CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
        .await?;
    for migration in MIGRATIONS {
        let done = txn
            .query_opt("SELECT 1 FROM schema_migrations WHERE name = $1", &[&migration.name])
            .await?;
        if done.is_none() {
            txn.batch_execute(migration.sql)
                .await
                .with_context(|| format!("migration {} failed", migration.name))?;
            txn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", &[&migration.name])
                .await?;
            info!(migration = migration.name, "applied migration");
        }
    }
    txn.commit().await.context("failed to commit migrations")?;
    Ok(())
}
