//! Errors as responses (spec `interfaces.md` §3.7): `{"detail": "<message>"}` with 400 for bad
//! input, 404 for what does not exist, the validation list with 422 for query bodies and
//! parameters, and `Internal Server Error` (plain text) with 500 for the rest, whose cause is
//! logged on stderr instead of being shown to the client.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lakehouse::Error;
use serde_json::{Value, json};

/// A request that failed.
#[derive(Debug)]
pub enum ApiError {
    /// 400: the input is wrong; the message says how.
    BadRequest(String),
    /// 401: credentials missing or wrong.
    Unauthorized,
    /// 404: the thing named does not exist.
    NotFound(String),
    /// 413: the body is larger than `LAKEHOUSE_API_MAX_BODY_SIZE`.
    TooLarge,
    /// 422: the standard validation list (`{"detail": [...]}`).
    Validation(Value),
    /// 501: a job this server does not run yet.
    NotImplemented(String),
    /// 500: anything else; the message is logged, not sent.
    Internal(String),
}

/// Result of a handler.
pub type ApiResult<T> = std::result::Result<T, ApiError>;

impl ApiError {
    /// A 422 with one entry of the validation list.
    pub fn validation(kind: &str, loc: Value, msg: impl Into<String>, input: Value) -> ApiError {
        ApiError::Validation(json!([{"type": kind, "loc": loc, "msg": msg.into(), "input": input}]))
    }
}

impl From<Error> for ApiError {
    /// Library errors by kind: input and naming errors are 400, a missing object 404.
    fn from(e: Error) -> ApiError {
        match e {
            Error::InvalidDatasetName { .. }
            | Error::InvalidOrigin { .. }
            | Error::InvalidQuery(_)
            | Error::InvalidInput(_)
            | Error::Input { .. }
            | Error::InvalidChecksum(_)
            | Error::InvalidName { .. }
            | Error::InvalidPattern { .. }
            | Error::InvalidKey(_)
            | Error::InvalidUri(..)
            | Error::InvalidConfig(_)
            | Error::BufferFull { .. }
            | Error::Ftm(_) => ApiError::BadRequest(e.to_string()),
            Error::NotFound(_) => ApiError::NotFound(e.to_string()),
            Error::Storage(object_store::Error::NotFound { .. }) => ApiError::NotFound(e.to_string()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let detail = |status: StatusCode, message: String| (status, Json(json!({"detail": message}))).into_response();
        match self {
            ApiError::BadRequest(m) => detail(StatusCode::BAD_REQUEST, m),
            ApiError::Unauthorized => detail(StatusCode::UNAUTHORIZED, "Missing or invalid API key and secret".into()),
            ApiError::NotFound(m) => detail(StatusCode::NOT_FOUND, m),
            ApiError::TooLarge => detail(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large".into()),
            ApiError::NotImplemented(m) => detail(StatusCode::NOT_IMPLEMENTED, m),
            ApiError::Validation(list) => {
                (StatusCode::UNPROCESSABLE_ENTITY, Json(json!({"detail": list}))).into_response()
            }
            ApiError::Internal(m) => {
                tracing::error!(error = %m, "internal error");
                (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response()
            }
        }
    }
}
