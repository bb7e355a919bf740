//! The one error type handlers return, and its mapping to Twilio's error body.
//!
//! Client errors carry a stable Twilio code and a message meant for the caller.
//! Everything else is `Internal`: the caller gets a generic 500 and the cause
//! goes to the log only (never SQL or paths in a response body).

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// Twilio error codes Confab emits.
pub mod codes {
    pub const INVALID_PARAMETER: u32 = 20001;
    pub const AUTHENTICATE: u32 = 20003;
    pub const METHOD_NOT_ALLOWED: u32 = 20004;
    pub const NOT_FOUND: u32 = 20404;
    pub const INTERNAL: u32 = 20500;
    pub const SERVICE_UNAVAILABLE: u32 = 20503;
    pub const PAYLOAD_TOO_LARGE: u32 = 20413;
    pub const CONFLICT: u32 = 20409;
    pub const CONVERSATION_UNIQUE_NAME_EXISTS: u32 = 50353;
    pub const UNIQUE_NAME_LOOKS_LIKE_SID: u32 = 50390;
    pub const CONVERSATION_CLOSED: u32 = 50377;
    pub const INITIAL_STATE_CLOSED: u32 = 50384;
    pub const PARTICIPANT_EXISTS: u32 = 50433;
    pub const PARTICIPANT_ADDRESS_EXISTS: u32 = 50416;
    pub const USER_EXISTS: u32 = 50201;
    pub const TOO_MANY_PARTICIPANTS: u32 = 50427;
    pub const MEDIA_SID_MISSING: u32 = 50506;
    pub const MEDIA_SID_INVALID: u32 = 50510;
    pub const MEDIA_TOO_LARGE: u32 = 50512;
    pub const FORBIDDEN: u32 = 20403;
    pub const INVALID_ACCESS_TOKEN: u32 = 20101;
    pub const PERMISSION_DENIED: u32 = 50107;
    pub const REQUEST_TIMEOUT: u32 = 20408;
    pub const RANGE_NOT_SATISFIABLE: u32 = 20416;
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A client error with its Twilio code; the message is shown to the caller.
    #[error("{message}")]
    Client { status: StatusCode, code: u32, message: String },
    /// 404 with Twilio's canonical body; the requested path is filled in by
    /// [`crate::app::twilio_error_bodies`], which sees the request.
    #[error("not found")]
    NotFound,
    #[error("authentication failed")]
    Unauthenticated,
    /// An access token that failed any check: the caller is told nothing more.
    #[error("invalid access token")]
    InvalidToken,
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// 503 for a request turned away under load, with a message for the
    /// caller and a `Retry-After` hint.
    #[error("{message}")]
    Busy { message: String, retry_after_secs: u32 },
    /// Anything unexpected: logged with its cause, answered with a generic 500.
    #[error("internal error: {0}")]
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub fn bad_request(code: u32, message: impl Into<String>) -> Self {
        ApiError::Client { status: StatusCode::BAD_REQUEST, code, message: message.into() }
    }

    /// 400 code 20001 for a parameter whose value is unusable.
    pub fn invalid_param(name: &str, why: impl std::fmt::Display) -> Self {
        Self::bad_request(codes::INVALID_PARAMETER, format!("Invalid parameter {name}: {why}"))
    }

    pub fn missing_param(name: &str) -> Self {
        Self::bad_request(
            codes::INVALID_PARAMETER,
            format!("Missing required parameter {name} in the post body"),
        )
    }

    /// 403 for an action the caller's credentials can never take.
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::Client { status: StatusCode::FORBIDDEN, code: codes::FORBIDDEN, message: message.into() }
    }

    /// 403 code 50107: the user's roles lack `permission`.
    pub fn permission_denied(permission: &str) -> Self {
        ApiError::Client {
            status: StatusCode::FORBIDDEN,
            code: codes::PERMISSION_DENIED,
            message: format!("User not authorized to perform this action: missing permission {permission}"),
        }
    }

    pub fn conflict(code: u32, message: impl Into<String>) -> Self {
        ApiError::Client { status: StatusCode::CONFLICT, code, message: message.into() }
    }

    pub fn internal(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        ApiError::Internal(e.into())
    }

    pub fn code(&self) -> u32 {
        match self {
            ApiError::Client { code, .. } => *code,
            ApiError::NotFound => codes::NOT_FOUND,
            ApiError::Unauthenticated => codes::AUTHENTICATE,
            ApiError::InvalidToken => codes::INVALID_ACCESS_TOKEN,
            ApiError::Unavailable(_) | ApiError::Busy { .. } => codes::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => codes::INTERNAL,
        }
    }

    fn public_message(&self) -> String {
        match self {
            ApiError::Client { message, .. } => message.clone(),
            ApiError::NotFound => "The requested resource was not found".into(),
            ApiError::Unauthenticated => "Authenticate".into(),
            ApiError::InvalidToken => "Invalid Access Token".into(),
            ApiError::Unavailable(_) => "Service temporarily unavailable".into(),
            ApiError::Busy { message, .. } => message.clone(),
            ApiError::Internal(_) => "An internal server error has occurred".into(),
        }
    }
}

/// Twilio's error body: exactly these four keys (helper libraries treat a
/// body with `type`/`title` as a different error format).
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    pub code: u32,
    pub message: String,
    pub more_info: String,
    pub status: u16,
}

impl ErrorBody {
    pub fn new(status: StatusCode, code: u32, message: impl Into<String>) -> Self {
        ErrorBody {
            code,
            message: message.into(),
            more_info: format!("https://www.twilio.com/docs/errors/{code}"),
            status: status.as_u16(),
        }
    }

    pub fn into_response(self) -> HttpResponse {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = HttpResponse::build(status);
        if status == StatusCode::UNAUTHORIZED {
            resp.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"Twilio API\""),
            ));
        }
        resp.json(self)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Client { status, .. } => *status,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Unauthenticated | ApiError::InvalidToken => StatusCode::UNAUTHORIZED,
            ApiError::Unavailable(_) | ApiError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Internal(cause) => tracing::error!(error = %cause, "internal error"),
            ApiError::Unavailable(cause) => tracing::warn!(error = %cause, "service unavailable"),
            _ => {}
        }
        let mut response =
            ErrorBody::new(self.status_code(), self.code(), self.public_message()).into_response();
        if let ApiError::Busy { retry_after_secs, .. } = self {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        response
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::NotFound => ApiError::NotFound,
            // Handlers check every reference they write, so a foreign key can
            // only fail when a concurrent request removed the referenced row
            // (e.g. a role deleted while a user was being given it).
            Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info) => {
                tracing::info!(detail = info.message(), "write lost a race with a delete");
                ApiError::conflict(
                    codes::CONFLICT,
                    "A resource this request refers to was changed or deleted at the same time; retry the request",
                )
            }
            // The database went away under a pooled connection (restart,
            // failover): the pool drops it; the client may retry.
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
                ApiError::Unavailable(format!("database connection closed: {}", info.message()))
            }
            other => ApiError::internal(other),
        }
    }
}

impl From<diesel::r2d2::PoolError> for ApiError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        ApiError::Unavailable(format!("database pool: {e}"))
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        ApiError::internal(e.to_string())
    }
}

/// Is this diesel error a unique-constraint violation?
pub fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(e, diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _))
}

pub type ApiResult<T> = Result<T, ApiError>;
