//! Quotas: the per-project quota aggregate's contract (overrides of the deployment's defaults, set and
//! reset by admins) and Designate's quota resources.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::envelope::Event;
use crate::ids::ProjectId;

/// The aggregate type of a project's quotas (one aggregate per project, its id the project id).
pub const QUOTAS_AGGREGATE: &str = "quotas";

/// Every quota resource, in Designate's spelling.
pub const RESOURCES: [&str; 5] = [
    "api_export_size",
    "recordset_records",
    "zone_records",
    "zone_recordsets",
    "zones",
];

/// Quota values by resource; negative means unlimited.
pub type Quotas = BTreeMap<String, i64>;

/// The largest quota value Designate accepts.
pub const QUOTA_MAX: i64 = 2_147_483_647;

/// Designate's defaults.
pub fn designate_defaults() -> Quotas {
    [
        ("api_export_size", 1000),
        ("recordset_records", 20),
        ("zone_records", 500),
        ("zone_recordsets", 500),
        ("zones", 10),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Why quota values were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QuotaValueError {
    /// Not one of [`RESOURCES`].
    #[error("{0} is not a valid quota resource")]
    UnknownResource(String),
    /// Outside -1..=2147483647.
    #[error("{resource}: {value} is out of range (-1 to 2147483647)")]
    OutOfRange {
        /// The resource.
        resource: String,
        /// The value given.
        value: i64,
    },
}

/// Checks quota changes: known resources, values in -1..=2147483647.
pub fn check_quotas(changes: &Quotas) -> Result<(), QuotaValueError> {
    for (resource, value) in changes {
        if !RESOURCES.contains(&resource.as_str()) {
            return Err(QuotaValueError::UnknownResource(resource.clone()));
        }
        if !(-1..=QUOTA_MAX).contains(value) {
            return Err(QuotaValueError::OutOfRange {
                resource: resource.clone(),
                value: *value,
            });
        }
    }
    Ok(())
}

/// Everything that can happen to a project's quotas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum QuotaEvent {
    /// Some of the project's quotas were set; the others keep their values.
    #[serde(rename = "QuotasSet.v1")]
    QuotasSet {
        /// The project.
        project_id: ProjectId,
        /// The new values of the resources named.
        changes: Quotas,
    },
    /// Every override of the project was removed: the defaults apply again.
    #[serde(rename = "QuotasReset.v1")]
    QuotasReset {
        /// The project.
        project_id: ProjectId,
    },
}

impl Event for QuotaEvent {
    const AGGREGATE_TYPE: &'static str = QUOTAS_AGGREGATE;

    fn event_type(&self) -> &'static str {
        match self {
            QuotaEvent::QuotasSet { .. } => "QuotasSet",
            QuotaEvent::QuotasReset { .. } => "QuotasReset",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_changes_are_checked() {
        let ok: Quotas = [("zones".to_owned(), -1), ("zone_records".to_owned(), QUOTA_MAX)].into();
        assert_eq!(check_quotas(&ok), Ok(()));
        let unknown: Quotas = [("records".to_owned(), 5)].into();
        assert_eq!(
            check_quotas(&unknown),
            Err(QuotaValueError::UnknownResource("records".into()))
        );
        let low: Quotas = [("zones".to_owned(), -2)].into();
        assert!(matches!(check_quotas(&low), Err(QuotaValueError::OutOfRange { .. })));
    }
}
