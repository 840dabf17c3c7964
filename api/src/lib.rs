//! The nsplane REST API in OpenStack Designate's v2 dialect (axum): validates input, runs commands
//! in-process through `command`, and serves reads from the read models through `projection`.
//!
//! Only this crate knows HTTP.

mod audit;
mod auth;
mod body;
mod consistency;
mod error;
mod exports;
pub mod history;
mod imports;
mod keystone;
mod naming;
mod openapi;
mod paging;
mod pools;
mod quotas;
mod recordsets;
mod services;
mod shares;
mod tsigkeys;
mod views;
mod zones;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use nsplane_command::service::ZoneDefaults;
use nsplane_command::{Commands, EventStore, PoolsHandle, StoreConfig};
use nsplane_projection::{PgConfig, ReadModels};
use nsplane_runtime::NatsConfig;
use nsplane_schema::RequestId;
use tokio::sync::watch;
use tower::Layer as _;

pub use consistency::Consistency;
pub use error::ApiError;
pub use keystone::{Identity, Keystone, KeystoneConfig, TokenError};

/// API settings.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Largest request body accepted (oslo.middleware's default is 114688).
    pub max_body_bytes: usize,
    /// Base of the links in responses; `None` uses the request's Host header.
    pub base_uri: Option<String>,
    /// How long a read waits for the caller's own writes to be projected.
    pub read_your_writes_wait: Duration,
    /// Build links from `X-Forwarded-Proto` / `X-Forwarded-Host` (behind a load balancer).
    pub proxy_headers: bool,
    /// Who callers are: headers (noauth) or Keystone tokens.
    pub auth: AuthStrategy,
}

/// Designate's `[service:api] auth_strategy`.
#[derive(Debug, Clone, Default)]
pub enum AuthStrategy {
    /// The caller's project and roles come from `X-Auth-Project-ID` and `X-Roles` (development only).
    #[default]
    Noauth,
    /// `X-Auth-Token` is validated against Keystone; project and roles come from the token.
    Keystone(KeystoneConfig),
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 114_688,
            base_uri: None,
            read_your_writes_wait: Duration::from_secs(5),
            proxy_headers: false,
            auth: AuthStrategy::Noauth,
        }
    }
}

/// Everything the API role needs, validated: where NATS and PostgreSQL are, the HTTP settings, and what
/// the write side it runs in-process needs.
#[derive(Debug, Clone)]
pub struct ApiRoleConfig {
    /// NATS.
    pub nats: NatsConfig,
    /// The event stream's layout.
    pub store: StoreConfig,
    /// The read models.
    pub pg: PgConfig,
    /// HTTP settings.
    pub api: ApiConfig,
    /// Zones cached per process by the command side.
    pub zone_cache: usize,
    /// Quotas of projects without overrides.
    pub quota_defaults: nsplane_schema::quotas::Quotas,
    /// What new zones get unless the request says otherwise.
    pub zone_defaults: ZoneDefaults,
}

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    pub(crate) commands: Arc<Commands>,
    pub(crate) read: ReadModels,
    pub(crate) consistency: Arc<Consistency>,
    pub(crate) config: Arc<ApiConfig>,
    /// The committed pools (new zones go to the default one), followed as they change.
    pub(crate) pools: PoolsHandle,
    /// Token validation in keystone mode.
    pub(crate) keystone: Option<Arc<Keystone>>,
}

impl AppState {
    /// Builds the state.
    pub fn new(
        commands: Arc<Commands>,
        read: ReadModels,
        consistency: Arc<Consistency>,
        pools: PoolsHandle,
        config: ApiConfig,
    ) -> anyhow::Result<Self> {
        let keystone = match &config.auth {
            AuthStrategy::Noauth => None,
            AuthStrategy::Keystone(keystone) => Some(Arc::new(Keystone::new(keystone.clone())?)),
        };
        Ok(Self {
            commands,
            read,
            consistency,
            config: Arc::new(config),
            pools,
            keystone,
        })
    }
}

impl AppState {
    /// Read-your-writes for one zone, across API instances (see [`Consistency::wait_latest`]).
    pub(crate) async fn wait_zone(&self, zone_id: nsplane_schema::ZoneId) {
        self.consistency
            .wait_latest::<nsplane_schema::ZoneEvent>(
                self.commands.store(),
                &self.read,
                &zone_id.to_string(),
                self.config.read_your_writes_wait,
            )
            .await;
    }
}

tokio::task_local! {
    /// The request id of the request being handled, for error bodies.
    pub(crate) static REQUEST_ID: RequestId;
}

async fn request_id_layer(request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get("x-openstack-request-id")
        .and_then(|v| v.to_str().ok())
        .and_then(RequestId::parse)
        .unwrap_or_else(RequestId::generate);
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let mut request = request;
    request.extensions_mut().insert(request_id.clone());
    let span = tracing::info_span!("http", %method, %path, request_id = %request_id);
    let mut response =
        tracing::Instrument::instrument(REQUEST_ID.scope(request_id.clone(), next.run(request)), span).await;
    if let Ok(value) = HeaderValue::from_str(&request_id.0) {
        response.headers_mut().insert("x-openstack-request-id", value);
    }
    response
}

#[utoipa::path(get, path = "/", tag = "versions", responses((status = 200, body = crate::openapi::Versions)))]
pub(crate) async fn versions(
    headers: axum::http::HeaderMap,
    axum::extract::State(state): axum::extract::State<AppState>,
) -> Response {
    let base = views::base_url(&state.config, &headers);
    let version = |id: &str, status: &str| {
        serde_json::json!({
            "id": id,
            "status": status,
            "updated": "2022-06-29T00:00:00Z",
            "links": [
                {"href": format!("{base}/v2"), "rel": "self"},
                {"href": "https://docs.openstack.org/api-ref/dns", "rel": "help"}
            ]
        })
    };
    Json(serde_json::json!({
        "versions": [
            version("v2", "SUPPORTED"),
            version("v2.0", "SUPPORTED"),
            version("v2.1", "SUPPORTED"),
            version("v2.2", "SUPPORTED"),
            version("v2.3", "SUPPORTED"),
            version("v2.4", "CURRENT"),
        ]
    }))
    .into_response()
}

/// `GET /v2/limits`: Designate's absolute limits: the deployment's quota defaults (a project's own
/// quotas are under `/v2/quotas`) and fixed limits on names and pages.
#[utoipa::path(get, path = "/v2/limits", tag = "limits", responses((status = 200, body = crate::openapi::Limits), crate::openapi::Errors))]
pub(crate) async fn limits(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    let defaults = state.commands.quotas().defaults();
    let quota = |name: &str| defaults.get(name).copied().unwrap_or(-1);
    Json(serde_json::json!({
        "max_zones": quota("zones"),
        "max_zone_recordsets": quota("zone_recordsets"),
        "max_zone_records": quota("zone_records"),
        "max_recordset_records": quota("recordset_records"),
        "min_ttl": 0,
        "max_zone_name_length": 255,
        "max_recordset_name_length": 255,
        "max_page_limit": 1000,
    }))
    .into_response()
}

async fn fallback() -> ApiError {
    ApiError::NotFound {
        kind: "not_found",
        message: "The resource could not be found.".into(),
    }
}

/// The API's routes, with its middleware, ready to serve.
pub fn router(state: AppState) -> Router {
    let max_body = state.config.max_body_bytes;
    Router::new()
        .route("/", get(versions))
        .route("/v2/zones", get(zones::list).post(zones::create))
        .route(
            "/v2/zones/{zone_id}",
            get(zones::show).patch(zones::update).delete(zones::delete),
        )
        .route(
            "/v2/zones/{zone_id}/recordsets",
            get(recordsets::list_in_zone).post(recordsets::create),
        )
        .route(
            "/v2/zones/{zone_id}/recordsets/{recordset_id}",
            get(recordsets::show).put(recordsets::update).delete(recordsets::delete),
        )
        .route("/v2/recordsets", get(recordsets::list_all))
        .route("/v2/recordsets/{recordset_id}", get(recordsets::redirect))
        .route("/v2/zones/{zone_id}/nameservers", get(zones::nameservers))
        .route("/v2/zones/{zone_id}/shares", get(shares::list).post(shares::create))
        .route(
            "/v2/zones/{zone_id}/shares/{share_id}",
            get(shares::show).delete(shares::delete),
        )
        .route("/v2/limits", get(limits))
        .route("/v2/audit_events", get(audit::list))
        .route("/v2/zones/{zone_id}/history", get(history::list))
        .route("/v2/zones/{zone_id}/history/as_of", get(history::as_of))
        .route("/v2/zones/{zone_id}/history/diff", get(history::diff))
        .route("/v2/zones/{zone_id}/tasks/revert", axum::routing::post(history::revert))
        .route("/v2/zones/{zone_id}/tasks/export", axum::routing::post(exports::create))
        .route("/v2/zones/{zone_id}/tasks/abandon", axum::routing::post(zones::abandon))
        .route("/v2/zones/tasks/exports", get(exports::list))
        .route("/v2/zones/tasks/imports", get(imports::list).post(imports::create))
        .route(
            "/v2/zones/tasks/imports/{id}",
            get(imports::show).delete(imports::delete),
        )
        .route(
            "/v2/zones/tasks/exports/{id}",
            get(exports::show).delete(exports::delete),
        )
        .route("/v2/zones/tasks/exports/{id}/export", get(exports::file))
        .route("/openapi.json", get(|| async { Json(openapi::document()) }))
        .route("/v2/pools", get(pools::list))
        .route("/v2/pools/{id}", get(pools::show))
        .route("/v2/tsigkeys", get(tsigkeys::list).post(tsigkeys::create))
        .route(
            "/v2/tsigkeys/{id}",
            get(tsigkeys::show).patch(tsigkeys::update).delete(tsigkeys::delete),
        )
        .route("/v2/tlds", get(naming::list_tlds).post(naming::create_tld))
        .route(
            "/v2/tlds/{id}",
            get(naming::show_tld)
                .patch(naming::update_tld)
                .delete(naming::delete_tld),
        )
        .route(
            "/v2/blacklists",
            get(naming::list_blacklists).post(naming::create_blacklist),
        )
        .route(
            "/v2/blacklists/{id}",
            get(naming::show_blacklist)
                .patch(naming::update_blacklist)
                .delete(naming::delete_blacklist),
        )
        .route("/v2/quotas", get(quotas::mine))
        .route("/v2/service_statuses", get(services::list))
        .route("/v2/service_statuses/{service_id}", get(services::show))
        .route("/v2/service_status", get(services::list))
        .route("/v2/service_status/{service_id}", get(services::show))
        .route(
            "/v2/quotas/{project_id}",
            get(quotas::show).patch(quotas::update).delete(quotas::reset),
        )
        .route_layer(axum::middleware::from_fn(count_requests))
        .fallback(fallback)
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(axum::extract::DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn(request_id_layer))
        .with_state(state)
}

/// Counts and times every routed request by its route's pattern (not the path: ids would make a series
/// each), method and status.
async fn count_requests(request: Request, next: axum::middleware::Next) -> Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("nsplane_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status.clone())
        .increment(1);
    metrics::histogram!("nsplane_http_request_duration_seconds", "method" => method, "route" => route, "status" => status)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Serves the API on `listener` until `shutdown` turns true.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    serve_with(state, listener, shutdown, None).await
}

/// Serves the API, and `extra` routes beside it (the process's `/healthcheck` and `/metrics`), on
/// `listener` until `shutdown` turns true.
pub async fn serve_with(
    state: AppState,
    listener: tokio::net::TcpListener,
    mut shutdown: watch::Receiver<bool>,
    extra: Option<Router>,
) -> anyhow::Result<()> {
    let addr: SocketAddr = listener.local_addr()?;
    tracing::debug!(%addr, "serving the API");
    let routes = match extra {
        Some(extra) => extra.merge(router(state)),
        None => router(state),
    };
    // Trailing slashes are tolerated: normalise before routing.
    let app = tower_http::normalize_path::NormalizePathLayer::trim_trailing_slash().layer(routes);
    axum::serve(listener, axum::ServiceExt::<Request>::into_make_service(app))
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await?;
    Ok(())
}

/// `nsplane api`: connects to NATS and PostgreSQL, opens the write side and the read models, follows
/// the committed pools, and serves the API on `listener` until `shutdown` turns true; requests in flight
/// finish first.
pub async fn run(
    config: ApiRoleConfig,
    listener: tokio::net::TcpListener,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    run_with(config, listener, shutdown, None).await
}

/// [`run`], with `extra` routes served beside the API (the process's `/healthcheck` and `/metrics`).
pub async fn run_with(
    config: ApiRoleConfig,
    listener: tokio::net::TcpListener,
    shutdown: watch::Receiver<bool>,
    extra: Option<Router>,
) -> anyhow::Result<()> {
    let client = nsplane_runtime::connect(&config.nats, "nsplane-api").await?;
    let store = EventStore::open(client.clone(), config.store.clone()).await?;
    let pool = nsplane_projection::connect_pool(&config.pg)?;
    nsplane_projection::migrate(&pool)
        .await
        .context("failed to migrate the read models")?;
    let commands = Arc::new(
        Commands::open(
            store.clone(),
            config.quota_defaults.clone(),
            config.zone_defaults,
            config.zone_cache,
            true,
        )
        .await?,
    );
    nsplane_command::legacy::migrate(&commands)
        .await
        .context("failed to migrate what an older version kept in KV")?;
    let pools = commands.pools().handle().await?;
    let follower = tokio::spawn(nsplane_command::pools::follow(
        commands.pools().clone(),
        pools.clone(),
        shutdown.clone(),
    ));
    let consistency = Arc::new(Consistency::default());
    let listener_task = tokio::spawn(consistency.clone().listen(client.clone(), config.store.layout.clone()));
    let state = AppState::new(commands, ReadModels::new(pool), consistency, pools, config.api)?;
    let result = serve_with(state, listener, shutdown, extra).await;
    listener_task.abort();
    follower.abort();
    result
}

/// `StatusCode` helper for handlers answering 202 with a JSON body.
pub(crate) fn accepted(body: serde_json::Value, location: Option<String>) -> Response {
    let mut response = (StatusCode::ACCEPTED, Json(body)).into_response();
    if let Some(location) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        response.headers_mut().insert("location", location);
    }
    response
}
