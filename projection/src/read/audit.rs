//! The audit rows: one per projected event, with its commit's who/why/when.

use anyhow::Context as _;

use super::{ReadError, ReadModels};

impl ReadModels {
    /// The stream sequences of the commits a request caused (a retried request has one; a workflow
    /// such as a zone create and its confirmation can have several), in stream order.
    pub async fn commits_of_request(&self, request_id: &str) -> Result<Vec<u64>, ReadError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT DISTINCT stream_seq FROM audit_events WHERE request_id = $1 ORDER BY 1",
                &[&request_id],
            )
            .await
            .context("failed to look up a request's commits")?;
        Ok(rows
            .iter()
            .map(|row| u64::try_from(row.get::<_, i64>(0)).unwrap_or_default())
            .collect())
    }
}
