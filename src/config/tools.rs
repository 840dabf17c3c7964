//! The tools' arguments: `nsplane zone`, `replay`, `audit`, `events`, `claims` and `pool` (the roles'
//! are in the parent module).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{CommonArgs, Connections};

/// `nsplane zone` settings.
#[derive(Debug, Clone, Args)]
pub struct ZoneArgs {
    /// Shared settings.
    #[command(flatten)]
    pub common: CommonArgs,
    /// A running dev-mode instance's data dir: its NATS and PostgreSQL, when no URL is given.
    #[arg(long, env = "NSPLANE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// JSON instead of a table or zone-file lines.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to show.
    #[command(subcommand)]
    pub action: ZoneAction,
}

/// Zone history tools.
#[derive(Debug, Clone, Subcommand)]
pub enum ZoneAction {
    /// Every serial: when, who, which command, how many record sets it created, updated, deleted.
    History {
        /// The zone.
        zone: uuid::Uuid,
    },
    /// The zone's record sets at a serial or a time, as zone-file lines; `--zone-file` prints the
    /// whole zone (SOA and NS too) as a zone file.
    At {
        /// The zone.
        zone: uuid::Uuid,
        /// At this serial.
        #[arg(long, required_unless_present = "time", conflicts_with = "time")]
        serial: Option<u32>,
        /// After the last change at or before this time (ISO 8601).
        #[arg(long, value_parser = parse_time)]
        time: Option<chrono::NaiveDateTime>,
        /// As a complete zone file.
        #[arg(long)]
        zone_file: bool,
    },
    /// What changed between two serials: removed lines (-) and added lines (+); `--ixfr` prints it as
    /// an IXFR would send it.
    Diff {
        /// The zone.
        zone: uuid::Uuid,
        /// The earlier serial.
        from: u32,
        /// The later serial.
        to: u32,
        /// In IXFR's condensed form (old SOA, removed records, new SOA, added records).
        #[arg(long)]
        ixfr: bool,
    },
    /// Brings back the record sets of a serial under a new serial (one command, source `cli`);
    /// `--dry-run` only says what would change.
    Revert {
        /// The zone.
        zone: uuid::Uuid,
        /// The serial whose record sets come back.
        #[arg(long)]
        serial: u32,
        /// Change nothing; print what would change.
        #[arg(long)]
        dry_run: bool,
    },
}

/// `nsplane replay` settings.
#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    /// Shared settings.
    #[command(flatten)]
    pub common: CommonArgs,
    /// A running dev-mode instance's data dir: its NATS and PostgreSQL, when no URL is given.
    #[arg(long, env = "NSPLANE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The schema to rebuild into (kept between runs: a replay resumes where the last one stopped).
    #[arg(long, default_value = "nsplane_replay")]
    pub shadow_schema: String,
    /// The schema the live read models are in.
    #[arg(long, default_value = "public")]
    pub live_schema: String,
    /// Only this zone (into a shadow schema of its own).
    #[arg(long)]
    pub zone: Option<uuid::Uuid>,
    /// Commits per transaction.
    #[arg(long, default_value_t = 1024)]
    pub batch: usize,
    /// Start from an empty shadow instead of resuming.
    #[arg(long)]
    pub fresh: bool,
    /// Compare the rebuilt models with the live ones and print the differences.
    #[arg(long)]
    pub verify: bool,
    /// After a verification that finds no difference, make the shadow the live read models (the live
    /// tables are locked briefly; the old ones are kept in a retired schema). Refused otherwise.
    #[arg(long, requires = "verify", conflicts_with = "zone")]
    pub swap: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

impl ReplayArgs {
    /// The replay's configuration.
    pub fn config(&self, connections: &Connections) -> nsplane_projection::replay::ReplayConfig {
        nsplane_projection::replay::ReplayConfig {
            nats: connections.nats.clone(),
            pg: connections.pg.clone(),
            layout: connections.store.layout.clone(),
            live_schema: self.live_schema.clone(),
            shadow_schema: self.shadow_schema.clone(),
            batch: self.batch,
            zone: self.zone.map(|z| z.to_string()),
        }
    }
}

/// `nsplane audit` settings: `GET /v2/audit_events`'s filters.
#[derive(Debug, Clone, Args)]
pub struct AuditArgs {
    /// Shared settings.
    #[command(flatten)]
    pub common: CommonArgs,
    /// A running dev-mode instance's data dir: its NATS and PostgreSQL, when no URL is given.
    #[arg(long, env = "NSPLANE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The zone's id.
    #[arg(long)]
    pub zone_id: Option<uuid::Uuid>,
    /// The zone's name.
    #[arg(long)]
    pub zone_name: Option<String>,
    /// The record set's name.
    #[arg(long)]
    pub recordset_name: Option<String>,
    /// The record set's type.
    #[arg(long)]
    pub recordset_type: Option<String>,
    /// The project the change was made in.
    #[arg(long)]
    pub project_id: Option<String>,
    /// The user who made it.
    #[arg(long)]
    pub user_id: Option<String>,
    /// The request that caused it.
    #[arg(long)]
    pub request_id: Option<String>,
    /// The event type, e.g. RecordsetUpdated.
    #[arg(long)]
    pub event_type: Option<String>,
    /// The role that issued the command: api, worker, a tool.
    #[arg(long)]
    pub source: Option<String>,
    /// At or after this time (ISO 8601, UTC unless it says otherwise; a date is its midnight).
    #[arg(long, value_parser = parse_time)]
    pub since: Option<chrono::NaiveDateTime>,
    /// Before this time.
    #[arg(long, value_parser = parse_time)]
    pub until: Option<chrono::NaiveDateTime>,
    /// At most this many entries, oldest first (0: every one).
    #[arg(long, default_value_t = 100)]
    pub limit: u64,
    /// One JSON object per entry and line.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// CSV with a header line.
    #[arg(long)]
    pub csv: bool,
}

fn parse_time(value: &str) -> Result<chrono::NaiveDateTime, String> {
    nsplane_projection::read::audit::parse_time(value)
        .ok_or_else(|| format!("{value:?} is not an ISO 8601 time, e.g. 2026-12-01T08:00:00Z or 2026-12-01"))
}

impl AuditArgs {
    /// The query the flags describe (every project).
    pub fn query(&self) -> nsplane_projection::read::audit::AuditQuery {
        use nsplane_projection::read::audit::{event_name, fqdn, AuditQuery};
        AuditQuery {
            visible_to: None,
            zone_id: self.zone_id.map(|id| id.to_string()),
            zone_name: self.zone_name.as_deref().map(fqdn),
            recordset_name: self.recordset_name.as_deref().map(fqdn),
            recordset_type: self.recordset_type.as_ref().map(|t| t.to_ascii_uppercase()),
            project_id: self.project_id.clone(),
            user_id: self.user_id.clone(),
            request_id: self.request_id.clone(),
            event_type: self.event_type.as_deref().map(event_name),
            source: self.source.clone(),
            since: self.since,
            until: self.until,
            marker: None,
            limit: 0,
        }
    }
}

/// `nsplane events` settings.
#[derive(Debug, Clone, Args)]
pub struct EventsArgs {
    /// Shared settings (PostgreSQL only for `show --request-id`, which looks the request up in the
    /// audit rows).
    #[command(flatten)]
    pub common: CommonArgs,
    /// A running dev-mode instance's data dir: its NATS and PostgreSQL, when no URL is given.
    #[arg(long, env = "NSPLANE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub action: EventsAction,
}

/// Event log tools.
#[derive(Debug, Clone, Subcommand)]
pub enum EventsAction {
    /// Commits in stream order: the latest few, from a position, or following new ones as they are
    /// stored.
    Tail {
        /// Only this zone's commits.
        #[arg(long, conflicts_with = "kind")]
        zone: Option<uuid::Uuid>,
        /// Only commits of this aggregate kind (zone, pools, naming, quotas, tsigkey, zoneexport, zoneimport).
        #[arg(long)]
        kind: Option<String>,
        /// How many of the latest matching commits to print (0: every one).
        #[arg(long, default_value_t = 20)]
        last: u64,
        /// Print from this stream sequence on instead of the latest few.
        #[arg(long, conflicts_with = "last")]
        from: Option<u64>,
        /// Keep printing new commits as they are stored, until interrupted.
        #[arg(long)]
        follow: bool,
        /// One JSON object per commit and line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One commit in full (who, why, when, every event), or every commit of one request.
    Show {
        /// The commit's stream sequence.
        #[arg(required_unless_present = "request_id")]
        seq: Option<u64>,
        /// Every commit this request id caused (looked up in the audit rows).
        #[arg(long, conflicts_with = "seq")]
        request_id: Option<String>,
        /// One JSON object per commit and line.
        #[arg(long)]
        json: bool,
    },
}

/// `nsplane claims` settings.
#[derive(Debug, Clone, Args)]
pub struct ClaimsArgs {
    /// Shared settings (the quota defaults must be the API's: slots are counted against them).
    #[command(flatten)]
    pub common: CommonArgs,
    /// A running dev-mode instance's data dir: its NATS and PostgreSQL, when no URL is given.
    #[arg(long, env = "NSPLANE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub action: ClaimsAction,
}

/// Claim tools.
#[derive(Debug, Clone, Subcommand)]
pub enum ClaimsAction {
    /// Puts back the name and quota slot of every zone the stream holds that is not deleted (after a
    /// KV bucket was lost or restored from an older backup). Safe while the API runs; run it again
    /// to check: a second run restores nothing.
    Rebuild {
        /// Print the report as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// `nsplane pool` settings.
#[derive(Debug, Clone, Args)]
pub struct PoolArgs {
    /// Shared settings (`--pools` is the file to commit).
    #[command(flatten)]
    pub common: CommonArgs,
    /// What to do.
    #[command(subcommand)]
    pub action: PoolAction,
}

/// Pool tools.
#[derive(Debug, Clone, Subcommand)]
pub enum PoolAction {
    /// Validates a pools.yaml and commits it as the configuration every role uses.
    Update {
        /// The file, in Designate's `pools.yaml` format.
        #[arg(long)]
        file: PathBuf,
    },
    /// Prints the committed configuration.
    Show,
}
