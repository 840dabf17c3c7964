//! The API's one error type and its rendering in Designate's shape: `{code, type, message, request_id}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use nsplane_command::service::{CreateZoneError, RecordsetError};
use nsplane_command::{ExecuteError, ReserveError, ZoneError};
use nsplane_projection::read::{ListError, ReadError};
use tracing::error;

use crate::REQUEST_ID;

/// Everything a handler can fail with. Each variant names its HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 with a Designate error type (`invalid_object`, `bad_request`, ...).
    #[error("{message}")]
    BadRequest {
        /// Designate's error type.
        kind: &'static str,
        /// What was wrong.
        message: String,
    },
    /// 401: no valid token (keystonemiddleware's answer), or a token without a project
    /// (`missing_project_id`, Designate's).
    #[error("{message}")]
    Unauthorized {
        /// `unauthorized` (token) or `missing_project_id`.
        kind: &'static str,
        /// What was missing.
        message: String,
        /// Keystone's public URL when a token was missing or invalid (keystonemiddleware's answer).
        keystone_uri: Option<String>,
    },
    /// 403 with a Designate error type.
    #[error("{message}")]
    Forbidden {
        /// Designate's error type.
        kind: &'static str,
        /// What was refused.
        message: String,
    },
    /// 404; also for other projects' resources, so existence does not leak.
    #[error("{message}")]
    NotFound {
        /// `zone_not_found`, `recordset_not_found`, `not_found`.
        kind: &'static str,
        /// What was missing.
        message: String,
    },
    /// 405.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409 `duplicate_*`, or a conflict that outlasted the retries.
    #[error("{message}")]
    Conflict {
        /// Designate's error type.
        kind: &'static str,
        /// What collided.
        message: String,
    },
    /// 413 `over_quota`.
    #[error("{0}")]
    OverQuota(String),
    /// 413: the body is larger than allowed.
    #[error("request body too large")]
    TooLarge,
    /// 415: not JSON.
    #[error("unsupported content type")]
    UnsupportedContentType,
    /// 503: a dependency is briefly unavailable.
    #[error("{0}")]
    Unavailable(String),
    /// 500. Logged in full here; the body says only "internal error".
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    /// 400 `invalid_object`.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            kind: "invalid_object",
            message: message.into(),
        }
    }

    /// 404 `zone_not_found`.
    pub(crate) fn zone_not_found() -> Self {
        ApiError::NotFound {
            kind: "zone_not_found",
            message: "Could not find Zone".into(),
        }
    }

    /// 404 `recordset_not_found`.
    pub(crate) fn recordset_not_found() -> Self {
        ApiError::NotFound {
            kind: "recordset_not_found",
            message: "Could not find RecordSet".into(),
        }
    }

    fn parts(&self) -> (StatusCode, &'static str, String) {
        match self {
            ApiError::BadRequest { kind, message } => (StatusCode::BAD_REQUEST, kind, message.clone()),
            ApiError::Unauthorized { kind, message, .. } => (StatusCode::UNAUTHORIZED, kind, message.clone()),
            ApiError::Forbidden { kind, message } => (StatusCode::FORBIDDEN, kind, message.clone()),
            ApiError::NotFound { kind, message } => (StatusCode::NOT_FOUND, kind, message.clone()),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method not allowed".into(),
            ),
            ApiError::Conflict { kind, message } => (StatusCode::CONFLICT, kind, message.clone()),
            ApiError::OverQuota(message) => (StatusCode::PAYLOAD_TOO_LARGE, "over_quota", message.clone()),
            ApiError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "request_too_large",
                "Request is too large.".into(),
            ),
            ApiError::UnsupportedContentType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_content_type",
                "Unsupported Content-Type".into(),
            ),
            ApiError::Unavailable(message) => (StatusCode::SERVICE_UNAVAILABLE, "service_unavailable", message.clone()),
            ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "unknown",
                "An unknown exception occurred.".into(),
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(source) = &self {
            error!(error = format!("{source:#}"), "request failed");
        }
        let (status, kind, message) = self.parts();
        if let ApiError::Unauthorized {
            keystone_uri: Some(uri),
            ..
        } = &self
        {
            // keystonemiddleware answers before Designate sees the request, in its own shape.
            let body = serde_json::json!({"error": {
                "code": 401, "title": "Unauthorized", "message": message,
            }});
            return (
                status,
                [(axum::http::header::WWW_AUTHENTICATE, format!("Keystone uri=\"{uri}\""))],
                Json(body),
            )
                .into_response();
        }
        let request_id = REQUEST_ID.try_with(|r| r.0.clone()).unwrap_or_default();
        let mut body = serde_json::json!({
            "code": status.as_u16(),
            "type": kind,
            "message": message,
            "request_id": request_id,
        });
        if kind == "invalid_object" {
            // Designate's validation errors carry the failures in a doubly nested list.
            body["errors"] = serde_json::json!({"errors": [{
                "path": [],
                "message": message,
                "validator": "nsplane",
                "validator_value": null,
            }]});
        }
        (status, Json(body)).into_response()
    }
}

impl From<ZoneError> for ApiError {
    fn from(error: ZoneError) -> Self {
        let message = error.to_string();
        match error {
            ZoneError::AlreadyExists => ApiError::Conflict {
                kind: "duplicate_zone",
                message,
            },
            ZoneError::NotFound => ApiError::zone_not_found(),
            ZoneError::OverQuota { .. } => ApiError::OverQuota(message),
            ZoneError::Superseded => ApiError::Conflict {
                kind: "conflict",
                message,
            },
            ZoneError::RecordsetNotFound => ApiError::recordset_not_found(),
            ZoneError::Shared => ApiError::BadRequest {
                kind: "zone_has_shares",
                message,
            },
            ZoneError::ShareWithOwner => ApiError::BadRequest {
                kind: "bad_request",
                message,
            },
            ZoneError::DuplicateShare => ApiError::Conflict {
                kind: "duplicate_zone_share",
                message,
            },
            ZoneError::ShareNotFound => ApiError::NotFound {
                kind: "zone_share_not_found",
                message,
            },
            ZoneError::DuplicateRecordset => ApiError::Conflict {
                kind: "duplicate_recordset",
                message,
            },
            ZoneError::OutsideZone
            | ZoneError::InChildZone { .. }
            | ZoneError::CnameAtApex
            | ZoneError::CnameNotAlone => ApiError::BadRequest {
                kind: "invalid_recordset_location",
                message,
            },
            ZoneError::TypeChanged => ApiError::invalid(message),
            ZoneError::Deleting
            | ZoneError::CnameTooManyRecords
            | ZoneError::SoaNotAllowed
            | ZoneError::ApexNsManaged
            | ZoneError::Managed => ApiError::BadRequest {
                kind: "bad_request",
                message,
            },
            ZoneError::Lookup(detail) => ApiError::Internal(anyhow::anyhow!(detail)),
            ZoneError::NothingToRevert(_) => ApiError::BadRequest {
                kind: "nothing_to_revert",
                message,
            },
            ZoneError::RevertPiecemeal => ApiError::Internal(anyhow::anyhow!(message)),
        }
    }
}

/// The answer to a command that did not commit for a reason other than its aggregate's rules.
pub(crate) fn execute_failure<E: std::error::Error>(error: ExecuteError<E>) -> ApiError {
    match error {
        ExecuteError::Rejected(rejection) => ApiError::BadRequest {
            kind: "bad_request",
            message: rejection.to_string(),
        },
        ExecuteError::Conflict | ExecuteError::Fenced(_) => ApiError::Conflict {
            kind: "conflict",
            message: error.to_string(),
        },
        ExecuteError::Unavailable(reason) => ApiError::Unavailable(reason),
        ExecuteError::Internal(e) => ApiError::Internal(e),
    }
}

/// Every aggregate's refusal maps through its own `From<E>`; the executor's other outcomes through
/// [`execute_failure`].
impl<E: std::error::Error + Into<ApiError>> From<ExecuteError<E>> for ApiError {
    fn from(error: ExecuteError<E>) -> Self {
        match error {
            ExecuteError::Rejected(rejection) => rejection.into(),
            other => execute_failure(other),
        }
    }
}

impl From<CreateZoneError> for ApiError {
    fn from(error: CreateZoneError) -> Self {
        let message = error.to_string();
        match error {
            CreateZoneError::Naming(refusal) => refusal.into(),
            CreateZoneError::Quota(e) => e.into(),
            CreateZoneError::Reserve(e) => e.into(),
            CreateZoneError::Execute(e) => e.into(),
            CreateZoneError::NoNameservers => ApiError::Internal(anyhow::anyhow!("the default pool has no ns_records")),
            CreateZoneError::PoolNotAllowed => ApiError::Forbidden {
                kind: "forbidden",
                message,
            },
            CreateZoneError::NoValidPool => ApiError::NotFound {
                kind: "no_valid_pool_found",
                message,
            },
        }
    }
}

impl From<RecordsetError> for ApiError {
    fn from(error: RecordsetError) -> Self {
        match error {
            RecordsetError::BadName(e) => ApiError::BadRequest {
                kind: "invalid_recordset_name",
                message: e.to_string(),
            },
            RecordsetError::BadRecords(e) => ApiError::invalid(e.to_string()),
            RecordsetError::Execute(e) => e.into(),
        }
    }
}

impl From<ReserveError> for ApiError {
    fn from(error: ReserveError) -> Self {
        let message = error.to_string();
        match error {
            ReserveError::Duplicate => ApiError::Conflict {
                kind: "duplicate_zone",
                message,
            },
            ReserveError::IllegalChild => ApiError::Forbidden {
                kind: "illegal_child",
                message,
            },
            ReserveError::IllegalParent => ApiError::Forbidden {
                kind: "illegal_parent",
                message,
            },
            ReserveError::Internal(e) => ApiError::Internal(e),
        }
    }
}

impl From<ListError> for ApiError {
    fn from(error: ListError) -> Self {
        match error {
            ListError::MarkerNotFound(_) => ApiError::BadRequest {
                kind: "marker_not_found",
                message: error.to_string(),
            },
            ListError::Unavailable(reason) => ApiError::Unavailable(format!("database unavailable: {reason}")),
            ListError::Db(e) => ApiError::Internal(e),
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(error: anyhow::Error) -> Self {
        ApiError::Internal(error)
    }
}

impl From<ReadError> for ApiError {
    fn from(error: ReadError) -> Self {
        match error {
            ReadError::Unavailable(reason) => ApiError::Unavailable(format!("database unavailable: {reason}")),
            ReadError::Query(e) => ApiError::Internal(e),
        }
    }
}
