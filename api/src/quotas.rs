//! `/v2/quotas`: a project's quotas (defaults with its overrides), set and reset by admins.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use nsplane_command::quotas::QuotaError;
use nsplane_schema::quotas::{QuotaEvent, Quotas};
use nsplane_schema::ProjectId;

use crate::auth::Caller;
use crate::body::JsonBody;
use crate::error::ApiError;
use crate::AppState;

impl From<QuotaError> for ApiError {
    fn from(error: QuotaError) -> Self {
        match error {
            QuotaError::Over(_) => ApiError::OverQuota(error.to_string()),
            QuotaError::Invalid(message) => ApiError::invalid(message.to_string()),
            QuotaError::Internal(e) => ApiError::Internal(e),
        }
    }
}

/// A project id from the path: 1 to 255 characters, no control characters (Designate's
/// `invalid_project`).
fn project_path(raw: String) -> Result<ProjectId, ApiError> {
    if raw.is_empty() || raw.len() > 255 || raw.chars().any(char::is_control) {
        return Err(ApiError::BadRequest {
            kind: "invalid_project",
            message: "Invalid project id".into(),
        });
    }
    Ok(ProjectId(raw))
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

/// A project's quotas from the read models (the defaults with its overrides), once they hold its latest
/// change (of any instance).
async fn effective(state: &AppState, project: &ProjectId) -> Result<Quotas, ApiError> {
    state
        .consistency
        .wait_latest::<QuotaEvent>(
            state.commands.store(),
            &state.read,
            &project.0,
            state.config.read_your_writes_wait,
        )
        .await;
    let mut quotas = state.commands.quotas().defaults().clone();
    quotas.extend(state.read.quota_overrides(&project.0).await?);
    Ok(quotas)
}

/// `GET /v2/quotas`: the caller's project.
#[utoipa::path(get, path = "/v2/quotas", tag = "quotas", responses((status = 200, body = crate::openapi::QuotasBody), crate::openapi::Errors))]
pub(crate) async fn mine(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    Ok(Json(effective(&state, &caller.project_id).await?).into_response())
}

/// `GET /v2/quotas/{project_id}`.
#[utoipa::path(get, path = "/v2/quotas/{project_id}", tag = "quotas", params(("project_id" = String, Path)), responses((status = 200, body = crate::openapi::QuotasBody), crate::openapi::Errors))]
pub(crate) async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
) -> Result<Response, ApiError> {
    let project = project_path(project)?;
    may_read(&caller, &project.0)?;
    Ok(Json(effective(&state, &project).await?).into_response())
}

/// `PATCH /v2/quotas/{project_id}` (admin): `{resource: value, ...}`.
#[utoipa::path(patch, path = "/v2/quotas/{project_id}", tag = "quotas", params(("project_id" = String, Path)), request_body = crate::openapi::QuotasBody, responses((status = 200, body = crate::openapi::QuotasBody), crate::openapi::Errors))]
pub(crate) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
    JsonBody(changes): JsonBody<Quotas>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let project = project_path(project)?;
    let (quotas, version) = state
        .commands
        .quotas()
        .set(&project, changes, caller.actor().metadata)
        .await?;
    state.consistency.committed::<QuotaEvent>(&project.0, version);
    Ok(Json(quotas).into_response())
}

/// `DELETE /v2/quotas/{project_id}` (admin): back to the defaults.
#[utoipa::path(delete, path = "/v2/quotas/{project_id}", tag = "quotas", params(("project_id" = String, Path)), responses((status = 204, description = "Back to the defaults"), crate::openapi::Errors))]
pub(crate) async fn reset(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let project = project_path(project)?;
    let version = state.commands.quotas().reset(&project, caller.actor().metadata).await?;
    state.consistency.committed::<QuotaEvent>(&project.0, version);
    Ok(StatusCode::NO_CONTENT.into_response())
}
