//! JSON request bodies: content type, size, syntax, unknown keys and wrong types all become
//! Designate-shaped 4xx errors instead of axum's plain-text rejections.

use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body decoded into `T` (which should `deny_unknown_fields`).
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mime = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if mime != "application/json" {
            return Err(ApiError::UnsupportedContentType);
        }
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::TooLarge
                } else {
                    ApiError::BadRequest {
                        kind: "bad_request",
                        message: rejection.body_text(),
                    }
                }
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::BadRequest {
                kind: "empty_request_body",
                message: "Request Body is empty".into(),
            });
        }
        let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| ApiError::BadRequest {
            kind: "invalid_json",
            message: format!("Invalid JSON: {e}"),
        })?;
        if !value.is_object() {
            return Err(ApiError::invalid("The request body must be a JSON object"));
        }
        serde_json::from_value(value)
            .map(JsonBody)
            .map_err(|e| ApiError::invalid(e.to_string()))
    }
}

/// For `Option<Option<T>>` fields: a missing key is `None`, an explicit `null` is `Some(None)`.
pub(crate) fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    serde::Deserialize::deserialize(deserializer).map(Some)
}
