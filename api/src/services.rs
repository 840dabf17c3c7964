//! `/v2/service_statuses[/{id}]` (and Designate's alias `/v2/service_status`), admin only: every running
//! instance of every role, from their heartbeats (`nsplane_command::services`).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse as _, Response};
use axum::Json;
use nsplane_command::services::{statuses, ServiceStatus};
use serde_json::{json, Value};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::{paging, views, AppState};

fn view(base: &str, s: &ServiceStatus) -> Value {
    json!({
        "id": s.id,
        "service_name": s.service_name,
        "hostname": s.hostname,
        "status": s.status,
        "stats": s.stats,
        "capabilities": s.capabilities,
        "heartbeated_at": views::timestamp(s.heartbeated_at.naive_utc()),
        "created_at": views::timestamp(s.created_at.naive_utc()),
        "updated_at": views::timestamp(s.heartbeated_at.naive_utc()),
        "links": {"self": format!("{base}/v2/service_statuses/{}", s.id)},
    })
}

async fn all(state: &AppState) -> Result<Vec<ServiceStatus>, ApiError> {
    statuses(state.commands.store()).await.map_err(ApiError::Internal)
}

#[utoipa::path(get, path = "/v2/service_statuses", tag = "service_statuses", params(("hostname" = Option<String>, Query), ("service_name" = Option<String>, Query), ("status" = Option<String>, Query)), responses((status = 200, body = crate::openapi::ServiceStatusList), crate::openapi::Errors))]
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let mut filters: Vec<(String, String)> = Vec::new();
    for (key, value) in paging::pairs(&uri) {
        match key.as_str() {
            "hostname" | "service_name" | "status" => filters.push((key, value)),
            // Paging and sorting of a list this short are accepted and change nothing.
            "limit" | "marker" | "sort_key" | "sort_dir" | "all_projects" | "all_tenants" => {}
            _ => {
                return Err(ApiError::BadRequest {
                    kind: "bad_request",
                    message: format!("Invalid filters {key}"),
                })
            }
        }
    }
    let base = views::base_url(&state.config, &headers);
    let items: Vec<Value> = all(&state)
        .await?
        .iter()
        .filter(|s| {
            filters.iter().all(|(key, value)| match key.as_str() {
                "hostname" => &s.hostname == value,
                "service_name" => &s.service_name == value,
                _ => s.status.eq_ignore_ascii_case(value),
            })
        })
        .map(|s| view(&base, s))
        .collect();
    let items: Vec<serde_json::Value> = items;
    Ok(Json(crate::views::Collection::whole(
        "service_statuses",
        items,
        format!("{base}/v2/service_statuses"),
    ))
    .into_response())
}

#[utoipa::path(get, path = "/v2/service_statuses/{service_id}", tag = "service_statuses", params(("service_id" = String, Path)), responses((status = 200, body = crate::openapi::ServiceStatusView), crate::openapi::Errors))]
pub(crate) async fn show(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let base = views::base_url(&state.config, &headers);
    let found = all(&state).await?.into_iter().find(|s| s.id == id);
    match found {
        Some(status) => Ok(Json(view(&base, &status)).into_response()),
        None => Err(ApiError::NotFound {
            kind: "service_status_not_found",
            message: "Could not find ServiceStatus".into(),
        }),
    }
}
