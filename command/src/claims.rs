//! Rebuilds the KV claims from the event stream, which is their source of truth. Zone-name reservations
//! and `zones` quota slots live in JetStream KV because a KV `create` is race-free, but every claim
//! follows from the stream: each zone that is not deleted holds its name and one slot of its project.
//! After a bucket is lost, or restored from an older backup than the stream, `rebuild` puts back the
//! claims of every live zone. It uses the same race-free operations as a create, so the API may keep
//! running. Claims of zones that are gone are left alone: the next create of that name or slot takes
//! them over, as it always does.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use futures::{StreamExt as _, TryStreamExt as _};
use nsplane_schema::{ProjectId, Status, ZoneEvent, ZoneId, ZoneName};
use serde::Serialize;

use crate::names::Restored;
use crate::Commands;

/// Zones (or projects) examined at once.
const CONCURRENCY: usize = 16;

/// What a rebuild did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Zones the stream holds.
    pub zones: usize,
    /// Of those, deleted ones (no claims).
    pub deleted: usize,
    /// Names a live zone held already.
    pub names_present: usize,
    /// Names put back.
    pub names_restored: usize,
    /// Slots a live zone held already.
    pub slots_present: usize,
    /// Slots put back.
    pub slots_restored: usize,
    /// Live zones of projects without a `zones` limit, which need no slot.
    pub slots_not_needed: usize,
    /// Names another live zone holds: two zones share a name; delete one.
    pub name_conflicts: Vec<NameConflict>,
    /// Live zones beyond their project's `zones` quota (it was lowered after they were made; the
    /// oldest zones keep the slots): every slot is held, so the project cannot create zones, as the
    /// quota says.
    pub over_quota: Vec<OverQuota>,
}

/// Two live zones with one name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NameConflict {
    /// The name.
    pub name: String,
    /// The zone examined.
    pub zone_id: ZoneId,
    /// The zone holding the name.
    pub held_by: ZoneId,
}

/// A live zone that found no free slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OverQuota {
    /// The zone.
    pub zone_id: ZoneId,
    /// Its project.
    pub project_id: ProjectId,
}

/// A zone that is not deleted, as its history says.
struct Live {
    zone_id: ZoneId,
    project_id: ProjectId,
    name: ZoneName,
    created_at: Option<DateTime<Utc>>,
}

/// Puts back the name and the quota slot of every zone the stream holds that is not deleted.
/// `progress(step, done, total)` reports every 500 zones and at the end of each step.
pub async fn rebuild(commands: &Commands, mut progress: impl FnMut(&str, usize, usize)) -> anyhow::Result<Report> {
    let ids = commands.store().aggregate_ids::<ZoneEvent>().await?;
    let total = ids.len();
    let mut report = Report {
        zones: total,
        ..Report::default()
    };
    // 1. Each zone's history: live or deleted, its name and project.
    let mut live = Vec::new();
    let mut loaded = futures::stream::iter(ids)
        .map(|id| live_zone(commands, id))
        .buffer_unordered(CONCURRENCY);
    while let Some(zone) = loaded.try_next().await? {
        match zone {
            Some(zone) => live.push(zone),
            None => report.deleted += 1,
        }
        let done = live.len() + report.deleted;
        if done.is_multiple_of(500) {
            progress("zones read", done, total);
        }
    }
    drop(loaded);
    progress("zones read", total, total);
    // 2. Names.
    let mut names = futures::stream::iter(&live)
        .map(|zone| async move {
            let restored = commands
                .names()
                .restore(zone.name.as_dns_name(), zone.zone_id, &zone.project_id)
                .await?;
            anyhow::Ok((zone, restored))
        })
        .buffer_unordered(CONCURRENCY);
    let mut done = 0usize;
    while let Some((zone, restored)) = names.try_next().await? {
        match restored {
            Restored::Already => report.names_present += 1,
            Restored::Now => report.names_restored += 1,
            Restored::HeldBy(held_by) => report.name_conflicts.push(NameConflict {
                name: zone.name.to_string(),
                zone_id: zone.zone_id,
                held_by,
            }),
        }
        done += 1;
        if done.is_multiple_of(500) {
            progress("names", done, live.len());
        }
    }
    drop(names);
    progress("names", live.len(), live.len());
    // 3. Slots, per project, oldest zones first.
    let mut by_project: BTreeMap<&ProjectId, Vec<&Live>> = BTreeMap::new();
    for zone in &live {
        by_project.entry(&zone.project_id).or_default().push(zone);
    }
    let projects = by_project.len();
    let mut slots = futures::stream::iter(by_project)
        .map(|(project, mut zones)| async move {
            zones.sort_by_key(|zone| (zone.created_at, zone.zone_id));
            let ids: Vec<ZoneId> = zones.iter().map(|zone| zone.zone_id).collect();
            let restored = commands.quotas().restore_zone_slots(project, &ids).await?;
            anyhow::Ok((project, restored))
        })
        .buffer_unordered(CONCURRENCY);
    let mut done = 0usize;
    while let Some((project, restored)) = slots.try_next().await? {
        report.slots_present += restored.present;
        report.slots_restored += restored.restored;
        report.slots_not_needed += restored.not_needed;
        report
            .over_quota
            .extend(restored.over.into_iter().map(|zone_id| OverQuota {
                zone_id,
                project_id: project.clone(),
            }));
        done += 1;
        if done.is_multiple_of(500) {
            progress("projects' slots", done, projects);
        }
    }
    drop(slots);
    progress("projects' slots", projects, projects);
    report
        .name_conflicts
        .sort_by(|a, b| (&a.name, a.zone_id).cmp(&(&b.name, b.zone_id)));
    report.over_quota.sort_by_key(|o| o.zone_id);
    Ok(report)
}

/// The zone as its history says, if it is not deleted.
async fn live_zone(commands: &Commands, id: String) -> anyhow::Result<Option<Live>> {
    let zone_id = ZoneId(uuid::Uuid::try_parse(&id).map_err(|e| anyhow::anyhow!("zone id {id:?}: {e}"))?);
    let (zone, _) = commands
        .zones()
        .load(&id)
        .await
        .map_err(|e| anyhow::anyhow!("failed to load zone {id}: {e}"))?;
    let (Some(name), Some(project_id)) = (zone.name, zone.project_id) else {
        return Ok(None);
    };
    if zone.status == Status::Deleted {
        return Ok(None);
    }
    Ok(Some(Live {
        zone_id,
        project_id,
        name,
        created_at: zone.created_at,
    }))
}
