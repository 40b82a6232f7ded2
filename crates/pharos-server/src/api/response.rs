//! The API v1 envelope: `{"status":"success","data":...}` or
//! `{"status":"error","errorType":...,"error":...}` with Prometheus's status codes.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value as Json};

/// The error classes of the API, each with its HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorType {
    /// Malformed parameters or query (400).
    BadData,
    /// Evaluation failed (422).
    Execution,
    /// Query timed out (503).
    Timeout,
    /// Query cancelled (503).
    Canceled,
    /// Server-side failure (500).
    Internal,
    /// Resource not found (404).
    NotFound,
    /// Feature disabled (503 in Prometheus, e.g. the admin API).
    Unavailable,
}

impl ErrorType {
    /// The `errorType` string.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::BadData => "bad_data",
            ErrorType::Execution => "execution",
            ErrorType::Timeout => "timeout",
            ErrorType::Canceled => "canceled",
            ErrorType::Internal => "internal",
            ErrorType::NotFound => "not_found",
            ErrorType::Unavailable => "unavailable",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            ErrorType::BadData => StatusCode::BAD_REQUEST,
            ErrorType::Execution => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorType::Timeout | ErrorType::Canceled | ErrorType::Unavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ErrorType::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorType::NotFound => StatusCode::NOT_FOUND,
        }
    }

    /// The class matching an engine error type string (`bad_data`, `timeout`...).
    pub fn from_engine(s: &str) -> ErrorType {
        match s {
            "bad_data" => ErrorType::BadData,
            "timeout" => ErrorType::Timeout,
            "canceled" => ErrorType::Canceled,
            "execution" => ErrorType::Execution,
            _ => ErrorType::Internal,
        }
    }
}

/// A failed API call.
#[derive(Debug)]
pub struct ApiError {
    /// The class.
    pub kind: ErrorType,
    /// The message.
    pub message: String,
}

impl ApiError {
    /// A `bad_data` error.
    pub fn bad_data(message: impl Into<String>) -> Self {
        ApiError {
            kind: ErrorType::BadData,
            message: message.into(),
        }
    }

    /// An `internal` error.
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError {
            kind: ErrorType::Internal,
            message: message.into(),
        }
    }
}

fn json_response(status: StatusCode, body: &Json) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(
            self.kind.status(),
            &json!({"status": "error", "errorType": self.kind.as_str(), "error": self.message}),
        )
    }
}

/// The `data` of a successful call: a JSON value, or JSON text already serialised (query
/// results, which are too large to build as a tree first).
pub enum Payload {
    /// A JSON value.
    Json(Json),
    /// Serialised JSON text, inserted as is.
    Serialized(String),
}

impl From<Json> for Payload {
    fn from(v: Json) -> Self {
        Payload::Json(v)
    }
}

/// A successful API call's `data`, with optional warnings and infos.
pub struct ApiSuccess {
    /// The payload.
    pub data: Payload,
    /// Annotations shown as `warnings`.
    pub warnings: Vec<String>,
    /// Annotations shown as `infos`.
    pub infos: Vec<String>,
}

impl ApiSuccess {
    /// Just data.
    pub fn new(data: impl Into<Payload>) -> Self {
        ApiSuccess {
            data: data.into(),
            warnings: Vec::new(),
            infos: Vec::new(),
        }
    }
}

impl IntoResponse for ApiSuccess {
    fn into_response(self) -> Response {
        let data = match self.data {
            Payload::Json(v) => v.to_string(),
            Payload::Serialized(s) => s,
        };
        let mut body = String::with_capacity(data.len() + 64);
        body.push_str("{\"status\":\"success\",\"data\":");
        body.push_str(&data);
        drop(data);
        for (key, list) in [("warnings", &self.warnings), ("infos", &self.infos)] {
            if !list.is_empty() {
                body.push_str(",\"");
                body.push_str(key);
                body.push_str("\":");
                body.push_str(&json!(list).to_string());
            }
        }
        body.push('}');
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response()
    }
}

/// What every API handler returns.
pub type ApiResult = Result<ApiSuccess, ApiError>;
