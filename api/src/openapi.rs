//! The OpenAPI 3 document of the API, generated from the handlers' `#[utoipa::path]` attributes and
//! the types they read and write; served at `/openapi.json`. Shapes that handlers build from other
//! crates' types (quotas, list envelopes, errors) are described here.

use utoipa::{IntoParams, IntoResponses, OpenApi, ToSchema};

use crate::views::{RecordsetView, SelfLink, ZoneView};

/// Designate's error body.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ErrorBody {
    /// The HTTP status again.
    code: u16,
    /// Designate's error type (`invalid_object`, `duplicate_zone`, `zone_not_found`, ...).
    #[schema(rename = "type")]
    kind: String,
    message: String,
    request_id: String,
    /// `invalid_object` only: `{"errors": [{path, message, validator, validator_value}]}`.
    #[schema(value_type = Option<Object>)]
    errors: Option<()>,
}

/// keystonemiddleware's answer to a missing or invalid token.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct UnauthorizedBody {
    #[schema(value_type = Object)]
    error: (),
}

/// Every error a handler may answer with.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub(crate) enum Errors {
    /// Invalid input (`invalid_object`, `invalid_uuid`, `bad_request`, ...).
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// No valid token (keystone mode), or a token without a project.
    #[response(status = 401)]
    Unauthorized(UnauthorizedBody),
    /// The caller's roles do not allow it.
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// Not found, or another project's.
    #[response(status = 404)]
    NotFound(ErrorBody),
    /// A duplicate, or a change that lost a race too many times.
    #[response(status = 409)]
    Conflict(ErrorBody),
    /// Over quota, or a body too large.
    #[response(status = 413)]
    TooLarge(ErrorBody),
    /// The body is not JSON.
    #[response(status = 415)]
    UnsupportedMediaType(ErrorBody),
    /// A dependency (NATS, PostgreSQL, Keystone) is briefly unavailable.
    #[response(status = 503)]
    Unavailable(ErrorBody),
}

/// `links` of a collection.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ListLinks {
    #[schema(rename = "self")]
    this: String,
    /// Present when the page is full.
    next: Option<String>,
}

/// `metadata` of a collection.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ListMetadata {
    /// Absent with `OpenStack-DNS-Hide-Counts: true`.
    total_count: Option<i64>,
}

/// A page of zones.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ZoneList {
    zones: Vec<ZoneView>,
    links: ListLinks,
    metadata: ListMetadata,
}

/// A page of record sets.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct RecordsetList {
    recordsets: Vec<RecordsetView>,
    links: ListLinks,
    metadata: ListMetadata,
}

/// A record set's values before or after a change.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct RecordsetValues {
    records: Vec<String>,
    /// `null`: the zone's TTL.
    ttl: Option<i64>,
    description: Option<String>,
}

/// One audit entry: one event of a committed command, with who asked, why and when.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct AuditEvent {
    /// `<stream sequence>.<index of the event in its commit>`; the `marker` of the next page.
    id: String,
    stream_seq: i64,
    event_index: i64,
    /// E.g. `RecordsetUpdated`.
    event_type: String,
    event_version: i64,
    /// `zone`, `pools`, `naming`, `quotas`.
    aggregate_type: String,
    aggregate_id: String,
    /// The aggregate's version after the commit.
    version: i64,
    zone_id: Option<String>,
    zone_name: Option<String>,
    recordset_id: Option<String>,
    recordset_name: Option<String>,
    recordset_type: Option<String>,
    /// Record-set changes: the values before (`null` for a creation).
    before: Option<RecordsetValues>,
    /// Record-set changes: the values after (`null` for a deletion).
    after: Option<RecordsetValues>,
    project_id: String,
    user_id: String,
    roles: Vec<String>,
    request_id: String,
    /// The role that issued the command: `api`, `worker`, a tool.
    source: String,
    /// The command, e.g. `UpdateRecordset`.
    command: String,
    occurred_at: String,
    /// The event as stored.
    #[schema(value_type = Object)]
    data: (),
}

/// A page of audit entries, oldest first.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct AuditEventList {
    audit_events: Vec<AuditEvent>,
    links: ListLinks,
    metadata: ListMetadata,
}

/// A running (or recently running) instance of a role.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ServiceStatusView {
    id: String,
    /// `api`, `central`, `mdns`, `worker`.
    service_name: String,
    hostname: String,
    /// `UP`, `DOWN` (no heartbeat for 15 s) or `STOPPED`.
    status: String,
    #[schema(value_type = Object)]
    stats: (),
    #[schema(value_type = Object)]
    capabilities: (),
    heartbeated_at: String,
    created_at: String,
    updated_at: Option<String>,
    links: SelfLink,
}

/// Every instance the heartbeats remember.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ServiceStatusList {
    service_statuses: Vec<ServiceStatusView>,
    links: ListLinks,
    metadata: ListMetadata,
}

/// `GET /v2/zones/{zone_id}/history`: every serial, oldest first.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ZoneHistory {
    zone_id: String,
    /// `{serial, version, stream_seq, occurred_at, project_id, user_id, request_id, source, command,
    /// recordsets_created, recordsets_updated, recordsets_deleted}` per serial.
    #[schema(value_type = Vec<Object>)]
    history: (),
}

/// A record set as it was.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct PastRecordset {
    id: String,
    name: String,
    #[schema(rename = "type")]
    kind: String,
    records: Vec<String>,
    ttl: Option<i64>,
    description: Option<String>,
}

/// `GET /v2/zones/{zone_id}/history/as_of`: the zone's record sets at a serial or a time.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ZoneAsOf {
    zone_id: String,
    serial: i64,
    occurred_at: String,
    recordsets: Vec<PastRecordset>,
}

/// `GET /v2/zones/{zone_id}/history/diff`: what changed between two serials.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ZoneDiff {
    zone_id: String,
    from_serial: i64,
    to_serial: i64,
    added: Vec<PastRecordset>,
    removed: Vec<PastRecordset>,
    /// `{id, name, type, before: {records, ttl, description}, after: {…}}`.
    #[schema(value_type = Vec<Object>)]
    changed: (),
}

/// `POST /v2/zones/{zone_id}/tasks/revert`: what changes (or would, in a dry run).
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ZoneRevert {
    zone_id: String,
    dry_run: bool,
    from_serial: i64,
    to_serial: i64,
    /// The zone's new serial (`null` in a dry run).
    serial: Option<i64>,
    /// `{from_serial, to_serial, added, removed, changed}` from the current state to the restored one.
    #[schema(value_type = Object)]
    changes: (),
}

/// A project's quotas (-1: unlimited). In a `PATCH`, any subset.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct QuotasBody {
    zones: Option<i64>,
    zone_recordsets: Option<i64>,
    zone_records: Option<i64>,
    recordset_records: Option<i64>,
    api_export_size: Option<i64>,
}

/// One name server of a zone's pool.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct Nameserver {
    hostname: String,
    priority: i64,
}

/// `GET /v2/zones/{zone_id}/nameservers`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct Nameservers {
    nameservers: Vec<Nameserver>,
}

/// `GET /v2/limits`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct Limits {
    max_zones: i64,
    max_zone_recordsets: i64,
    max_zone_records: i64,
    max_recordset_records: i64,
    min_ttl: i64,
    max_zone_name_length: i64,
    max_recordset_name_length: i64,
    max_page_limit: i64,
}

/// The version document at `/`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct Versions {
    #[schema(value_type = Vec<Object>)]
    versions: (),
}

/// Paging and sorting of every list (filters are per resource, `*` is a wildcard).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct ListParams {
    /// Page size: 1 to 1000, or `max`; default 20.
    limit: Option<String>,
    /// Id of the last item of the previous page.
    marker: Option<String>,
    /// One sort key of the resource's whitelist.
    sort_key: Option<String>,
    /// `asc` or `desc`.
    sort_dir: Option<String>,
    /// Filter by name.
    name: Option<String>,
    /// Filter by type.
    #[param(rename = "type")]
    kind: Option<String>,
    /// Filter by status.
    status: Option<String>,
    /// Filter by description.
    description: Option<String>,
    /// Filter by TTL.
    ttl: Option<String>,
}

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "nsplane DNS API",
        description = "OpenStack Designate v2 compatible DNS-as-a-Service API.",
        version = "2.4"
    ),
    paths(
        crate::versions,
        crate::limits,
        crate::audit::list,
        crate::history::list,
        crate::history::as_of,
        crate::history::diff,
        crate::history::revert,
        crate::services::list,
        crate::services::show,
        crate::zones::create,
        crate::zones::list,
        crate::zones::show,
        crate::zones::update,
        crate::zones::delete,
        crate::zones::nameservers,
        crate::recordsets::create,
        crate::recordsets::list_in_zone,
        crate::recordsets::list_all,
        crate::recordsets::show,
        crate::recordsets::update,
        crate::recordsets::delete,
        crate::recordsets::redirect,
        crate::quotas::mine,
        crate::quotas::show,
        crate::quotas::update,
        crate::quotas::reset,
        crate::shares::create,
        crate::shares::list,
        crate::shares::show,
        crate::shares::delete,
        crate::naming::list_tlds,
        crate::naming::create_tld,
        crate::naming::show_tld,
        crate::naming::update_tld,
        crate::naming::delete_tld,
        crate::naming::list_blacklists,
        crate::naming::create_blacklist,
        crate::naming::show_blacklist,
        crate::naming::update_blacklist,
        crate::naming::delete_blacklist,
        crate::pools::list,
        crate::pools::show,
        crate::tsigkeys::list,
        crate::tsigkeys::create,
        crate::tsigkeys::show,
        crate::tsigkeys::update,
        crate::tsigkeys::delete,
        crate::zones::abandon,
        crate::exports::create,
        crate::exports::list,
        crate::exports::show,
        crate::exports::file,
        crate::exports::delete,
        crate::imports::create,
        crate::imports::list,
        crate::imports::show,
        crate::imports::delete,
    ),
    components(schemas(SelfLink, ErrorBody, UnauthorizedBody))
)]
pub(crate) struct ApiDoc;

/// The document as JSON.
pub(crate) fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
