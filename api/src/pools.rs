//! `/v2/pools[/{id}]` (admin only, read-only as Designate's API-ref has them): the pools of the
//! committed configuration (`nsplane pool update` changes them, as `designate-manage pool update`
//! does). `created_at` is when the configuration holding the pool was committed.

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use nsplane_projection::read::operator::PoolRow;
use nsplane_schema::pools::PoolsEvent;
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::{views, AppState};

/// A pool as Designate shows it.
#[derive(Serialize, ToSchema)]
pub(crate) struct PoolView {
    id: String,
    name: String,
    description: Option<String>,
    #[schema(value_type = Object)]
    attributes: Value,
    #[schema(value_type = Vec<Object>)]
    ns_records: Value,
    project_id: Option<String>,
    created_at: String,
    updated_at: Option<String>,
    links: views::SelfLink,
}

/// A list of pools.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct PoolList {
    pools: Vec<PoolView>,
    #[schema(value_type = Object)]
    links: (),
    #[schema(value_type = Object)]
    metadata: (),
}

fn view(base: &str, pool: &PoolRow) -> Value {
    serde_json::to_value(PoolView {
        id: pool.id.to_string(),
        name: pool.name.clone(),
        description: pool.description.clone(),
        attributes: pool.attributes.clone(),
        ns_records: pool.ns_records.clone(),
        project_id: None,
        created_at: views::timestamp(pool.updated_at),
        updated_at: None,
        links: views::SelfLink::new(format!("{base}/v2/pools/{}", pool.id)),
    })
    .unwrap_or(Value::Null)
}

/// The pools, once the read models hold the latest configuration.
async fn pools(state: &AppState) -> Result<Vec<PoolRow>, ApiError> {
    state
        .consistency
        .wait_latest::<PoolsEvent>(
            state.commands.store(),
            &state.read,
            nsplane_schema::pools::POOLS_ID,
            state.config.read_your_writes_wait,
        )
        .await;
    Ok(state.read.pools().await?)
}

#[utoipa::path(get, path = "/v2/pools", tag = "pools", params(("name" = Option<String>, Query)),
    responses((status = 200, body = PoolList), crate::openapi::Errors))]
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Query(filters): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let base = views::base_url(&state.config, &headers);
    let items: Vec<Value> = pools(&state)
        .await?
        .iter()
        .filter(|p| filters.get("name").is_none_or(|name| *name == p.name))
        .map(|p| view(&base, p))
        .collect();
    Ok(Json(views::Collection::whole("pools", items, format!("{base}/v2/pools"))).into_response())
}

#[utoipa::path(get, path = "/v2/pools/{id}", tag = "pools", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = PoolView), crate::openapi::Errors))]
pub(crate) async fn show(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::BadRequest {
        kind: "invalid_uuid",
        message: format!("Invalid UUID pool_id: {id}"),
    })?;
    let pool = pools(&state)
        .await?
        .into_iter()
        .find(|p| p.id == id)
        .ok_or_else(|| ApiError::NotFound {
            kind: "pool_not_found",
            message: "Could not find Pool".into(),
        })?;
    let base = views::base_url(&state.config, &headers);
    Ok(Json(view(&base, &pool)).into_response())
}
