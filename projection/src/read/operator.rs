//! The operator's read models: TLDs, blacklists, quota overrides and TSIG keys.

use anyhow::Context as _;
use chrono::NaiveDateTime;
use uuid::Uuid;

use super::{ReadError, ReadModels};

/// A TLD or a blacklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRow {
    /// Id.
    pub id: Uuid,
    /// The TLD's name or the blacklist's pattern.
    pub value: String,
    /// Free text.
    pub description: Option<String>,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Updated.
    pub updated_at: Option<NaiveDateTime>,
}

/// Which rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleTable {
    /// `tlds`.
    Tlds,
    /// `blacklists`.
    Blacklists,
}

impl RuleTable {
    fn select(self) -> &'static str {
        match self {
            RuleTable::Tlds => "SELECT id, name, description, created_at, updated_at FROM tlds",
            RuleTable::Blacklists => "SELECT id, pattern, description, created_at, updated_at FROM blacklists",
        }
    }
}

/// A TSIG key.
#[derive(Clone, PartialEq, Eq)]
pub struct TsigKeyRow {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Algorithm (`hmac-sha256`, …).
    pub algorithm: String,
    /// Base64 secret.
    pub secret: String,
    /// `POOL` or `ZONE`.
    pub scope: String,
    /// The pool's or zone's id.
    pub resource_id: Uuid,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Updated.
    pub updated_at: Option<NaiveDateTime>,
}

impl std::fmt::Debug for TsigKeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TsigKeyRow")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .field("scope", &self.scope)
            .field("resource_id", &self.resource_id)
            .finish_non_exhaustive()
    }
}

/// A zone export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRow {
    /// Id.
    pub id: Uuid,
    /// The zone.
    pub zone_id: Uuid,
    /// The project that made it.
    pub project_id: String,
    /// The zone's serial then.
    pub serial: i64,
    /// When.
    pub created_at: NaiveDateTime,
}

/// A pool of the committed configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolRow {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Scheduler attributes.
    pub attributes: serde_json::Value,
    /// `[{hostname, priority}]`.
    pub ns_records: serde_json::Value,
    /// When the configuration holding it was committed.
    pub updated_at: NaiveDateTime,
}

/// A zone import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    /// Id.
    pub id: Uuid,
    /// The project the zone goes to.
    pub project_id: String,
    /// `PENDING`, `COMPLETE` or `ERROR`.
    pub status: String,
    /// Why it failed.
    pub message: Option<String>,
    /// The zone made.
    pub zone_id: Option<Uuid>,
    /// When it was asked for.
    pub created_at: NaiveDateTime,
    /// When it finished.
    pub updated_at: Option<NaiveDateTime>,
}

impl ReadModels {
    /// The pools of the committed configuration, by name.
    pub async fn pools(&self) -> Result<Vec<PoolRow>, ReadError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, name, description, attributes, ns_records, updated_at FROM pools ORDER BY name",
                &[],
            )
            .await
            .context("failed to list pools")?;
        Ok(rows
            .iter()
            .map(|r| PoolRow {
                id: r.get(0),
                name: r.get(1),
                description: r.get(2),
                attributes: r.get(3),
                ns_records: r.get(4),
                updated_at: r.get(5),
            })
            .collect())
    }

    /// The imports of a project (`None`: of every project), oldest first.
    pub async fn imports(&self, project: Option<&str>) -> Result<Vec<ImportRow>, ReadError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, project_id, status, message, zone_id, created_at, updated_at FROM zone_imports \
                 WHERE $1::text IS NULL OR project_id = $1 ORDER BY created_at, id",
                &[&project],
            )
            .await
            .context("failed to list imports")?;
        Ok(rows
            .iter()
            .map(|r| ImportRow {
                id: r.get(0),
                project_id: r.get(1),
                status: r.get(2),
                message: r.get(3),
                zone_id: r.get(4),
                created_at: r.get(5),
                updated_at: r.get(6),
            })
            .collect())
    }

    /// The exports of a project (`None`: of every project), oldest first.
    pub async fn exports(&self, project: Option<&str>) -> Result<Vec<ExportRow>, ReadError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, zone_id, project_id, serial, created_at FROM zone_exports \
                 WHERE $1::text IS NULL OR project_id = $1 ORDER BY created_at, id",
                &[&project],
            )
            .await
            .context("failed to list exports")?;
        Ok(rows
            .iter()
            .map(|r| ExportRow {
                id: r.get(0),
                zone_id: r.get(1),
                project_id: r.get(2),
                serial: r.get(3),
                created_at: r.get(4),
            })
            .collect())
    }

    /// Every TSIG key, by name.
    pub async fn tsigkeys(&self) -> Result<Vec<TsigKeyRow>, ReadError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, name, algorithm, secret, scope, resource_id, created_at, updated_at FROM tsigkeys \
                 ORDER BY name",
                &[],
            )
            .await
            .context("failed to list TSIG keys")?;
        Ok(rows
            .iter()
            .map(|r| TsigKeyRow {
                id: r.get(0),
                name: r.get(1),
                algorithm: r.get(2),
                secret: r.get(3),
                scope: r.get(4),
                resource_id: r.get(5),
                created_at: r.get(6),
                updated_at: r.get(7),
            })
            .collect())
    }

    /// Every rule of a table, by name or pattern.
    pub async fn rules(&self, table: RuleTable) -> Result<Vec<RuleRow>, ReadError> {
        let client = self.client().await?;
        let rows = client
            .query(&format!("{} ORDER BY 2", table.select()), &[])
            .await
            .context("failed to list rules")?;
        Ok(rows
            .iter()
            .map(|r| RuleRow {
                id: r.get(0),
                value: r.get(1),
                description: r.get(2),
                created_at: r.get(3),
                updated_at: r.get(4),
            })
            .collect())
    }

    /// A project's quota overrides.
    pub async fn quota_overrides(&self, project: &str) -> Result<Vec<(String, i64)>, ReadError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT resource, hard_limit FROM quota_overrides WHERE project_id = $1 ORDER BY resource",
                &[&project],
            )
            .await
            .context("failed to read quotas")?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}
