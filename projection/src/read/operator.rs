//! The operator's read models: TLDs, blacklists and quota overrides.

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

impl ReadModels {
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
