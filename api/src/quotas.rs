//! `/v2/quotas`: a project's quotas (defaults with its overrides), set and reset by admins.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use nsplane_command::quotas::{QuotaError, Quotas};
use nsplane_schema::ProjectId;

use crate::auth::Caller;
use crate::body::JsonBody;
use crate::error::ApiError;
use crate::AppState;

impl From<QuotaError> for ApiError {
    fn from(error: QuotaError) -> Self {
        match error {
            QuotaError::Over(_) => ApiError::OverQuota(error.to_string()),
            QuotaError::Invalid(message) => ApiError::invalid(message),
            QuotaError::Internal(e) => ApiError::Internal(e),
        }
    }
}

fn may_read(caller: &Caller, project: &str) -> Result<(), ApiError> {
    if caller.is_admin() || caller.project_id.0 == project {
        Ok(())
    } else {
        Err(ApiError::Forbidden {
            kind: "forbidden",
            message: "You are not authorized to perform this action".into(),
        })
    }
}

fn admin(caller: &Caller) -> Result<(), ApiError> {
    if caller.is_admin() {
        Ok(())
    } else {
        Err(ApiError::Forbidden {
            kind: "forbidden",
            message: "You are not authorized to perform this action".into(),
        })
    }
}

/// `GET /v2/quotas`: the caller's project.
#[utoipa::path(get, path = "/v2/quotas", tag = "quotas", responses((status = 200, body = crate::openapi::QuotasBody), crate::openapi::Errors))]
pub(crate) async fn mine(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    Ok(Json(state.quotas.effective(&caller.project_id).await?).into_response())
}

/// `GET /v2/quotas/{project_id}`.
#[utoipa::path(get, path = "/v2/quotas/{project_id}", tag = "quotas", params(("project_id" = String, Path)), responses((status = 200, body = crate::openapi::QuotasBody), crate::openapi::Errors))]
pub(crate) async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
) -> Result<Response, ApiError> {
    may_read(&caller, &project)?;
    Ok(Json(state.quotas.effective(&ProjectId(project)).await?).into_response())
}

/// `PATCH /v2/quotas/{project_id}` (admin): `{resource: value, ...}`.
#[utoipa::path(patch, path = "/v2/quotas/{project_id}", tag = "quotas", params(("project_id" = String, Path)), request_body = crate::openapi::QuotasBody, responses((status = 200, body = crate::openapi::QuotasBody), crate::openapi::Errors))]
pub(crate) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
    JsonBody(changes): JsonBody<Quotas>,
) -> Result<Response, ApiError> {
    admin(&caller)?;
    Ok(Json(state.quotas.set(&ProjectId(project), &changes).await?).into_response())
}

/// `DELETE /v2/quotas/{project_id}` (admin): back to the defaults.
#[utoipa::path(delete, path = "/v2/quotas/{project_id}", tag = "quotas", params(("project_id" = String, Path)), responses((status = 204, description = "Back to the defaults"), crate::openapi::Errors))]
pub(crate) async fn reset(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
) -> Result<Response, ApiError> {
    admin(&caller)?;
    state.quotas.reset(&ProjectId(project)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
