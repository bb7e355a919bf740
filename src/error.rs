//! The one error type handlers return, and its mapping to Twilio's error body.
//!
//! Client errors carry a Twilio [`Code`] (which fixes the HTTP status) and a
//! message meant for the caller. Everything else is `Internal`: the caller
//! gets a generic 500 and the cause goes to the log only (never SQL or
//! paths in a response body). Store and database errors become HTTP errors
//! here and nowhere else.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::db::DbError;
use crate::domain::Permission;
use crate::store::StoreError;

/// The Twilio error codes Confab answers with, each with its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    InvalidParameter,
    Authenticate,
    MethodNotAllowed,
    NotFound,
    Internal,
    ServiceUnavailable,
    PayloadTooLarge,
    Conflict,
    Forbidden,
    InvalidAccessToken,
    RequestTimeout,
    RangeNotSatisfiable,
    PermissionDenied,
    UserExists,
    ConversationUniqueNameExists,
    ConversationClosed,
    InitialStateClosed,
    UniqueNameLooksLikeSid,
    ParticipantAddressExists,
    ParticipantExists,
    MediaSidMissing,
    MediaSidInvalid,
    MediaTooLarge,
    ParticipantLimit,
    UserChannelLimit,
    // Programmable Chat's own codes for what Conversations says otherwise.
    RoleNotFound,
    PermissionNotFound,
    InvalidRoleType,
    UserNotFound,
    ChannelNotFound,
    ChannelUniqueNameExists,
    MemberNotFound,
    MemberLimit,
    MemberExists,
    MessageNotFound,
    AlreadyInvited,
    InviteNotFound,
    ChannelWebhookNotFound,
    TooManyRequests,
    InsufficientStorage,
}

impl Code {
    pub const fn number(self) -> u32 {
        match self {
            Code::InvalidParameter => 20001,
            Code::Authenticate => 20003,
            Code::MethodNotAllowed => 20004,
            Code::NotFound => 20404,
            Code::Internal => 20500,
            Code::ServiceUnavailable => 20503,
            Code::PayloadTooLarge => 20413,
            Code::Conflict => 20409,
            Code::Forbidden => 20403,
            Code::InvalidAccessToken => 20101,
            Code::RequestTimeout => 20408,
            Code::RangeNotSatisfiable => 20416,
            Code::PermissionDenied => 50107,
            Code::UserExists => 50201,
            Code::ConversationUniqueNameExists => 50353,
            Code::ConversationClosed => 50377,
            Code::InitialStateClosed => 50384,
            Code::UniqueNameLooksLikeSid => 50390,
            Code::ParticipantAddressExists => 50416,
            Code::ParticipantExists => 50433,
            Code::MediaSidMissing => 50506,
            Code::MediaSidInvalid => 50510,
            Code::MediaTooLarge => 50512,
            Code::ParticipantLimit => 50417,
            Code::UserChannelLimit => 50208,
            Code::RoleNotFound => 50100,
            Code::PermissionNotFound => 50104,
            Code::InvalidRoleType => 50105,
            Code::UserNotFound => 50200,
            Code::ChannelNotFound => 50300,
            Code::ChannelUniqueNameExists => 50307,
            Code::MemberNotFound => 50402,
            Code::MemberLimit => 50403,
            Code::MemberExists => 50404,
            Code::MessageNotFound => 50500,
            Code::AlreadyInvited => 50212,
            Code::InviteNotFound => 50601,
            Code::ChannelWebhookNotFound => 50320,
            Code::TooManyRequests => 20429,
            Code::InsufficientStorage => 20507,
        }
    }

    pub const fn status(self) -> StatusCode {
        match self {
            Code::Authenticate | Code::InvalidAccessToken => StatusCode::UNAUTHORIZED,
            Code::Forbidden
            | Code::PermissionDenied
            | Code::ParticipantLimit
            | Code::UserChannelLimit
            | Code::MemberLimit => StatusCode::FORBIDDEN,
            Code::NotFound
            | Code::RoleNotFound
            | Code::UserNotFound
            | Code::ChannelNotFound
            | Code::MemberNotFound
            | Code::MessageNotFound
            | Code::InviteNotFound
            | Code::ChannelWebhookNotFound => StatusCode::NOT_FOUND,
            Code::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Code::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Code::InsufficientStorage => StatusCode::INSUFFICIENT_STORAGE,
            Code::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Code::Conflict
            | Code::UserExists
            | Code::ConversationUniqueNameExists
            | Code::ParticipantAddressExists
            | Code::ParticipantExists
            | Code::ChannelUniqueNameExists
            | Code::MemberExists
            | Code::AlreadyInvited => StatusCode::CONFLICT,
            Code::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Code::RangeNotSatisfiable => StatusCode::RANGE_NOT_SATISFIABLE,
            Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Code::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Code::InvalidParameter
            | Code::ConversationClosed
            | Code::InitialStateClosed
            | Code::UniqueNameLooksLikeSid
            | Code::MediaSidMissing
            | Code::MediaSidInvalid
            | Code::MediaTooLarge
            | Code::PermissionNotFound
            | Code::InvalidRoleType => StatusCode::BAD_REQUEST,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A client error with its Twilio code; the message is shown to the caller.
    #[error("{message}")]
    Client { code: Code, message: String },
    /// 404 with Twilio's canonical body; the requested path is filled in by
    /// `app::twilio_error_bodies`, which sees the request.
    #[error("not found")]
    NotFound,
    /// [`ApiError::NotFound`] with the code of the missing object (Chat
    /// names it: 50300 for a channel, …).
    #[error("not found ({0:?})")]
    NotFoundAs(Code),
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
    /// 429 code 20429: the caller is past its own share (its limit named in
    /// the message), with a `Retry-After` hint.
    #[error("{message}")]
    TooMany { message: String, retry_after_secs: u32 },
    /// Anything unexpected: logged with its cause, answered with a generic 500.
    #[error("internal error: {0}")]
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub fn client(code: Code, message: impl Into<String>) -> Self {
        ApiError::Client { code, message: message.into() }
    }

    /// 400 code 20001 for a parameter whose value is unusable.
    pub fn invalid_param(name: &str, why: impl std::fmt::Display) -> Self {
        Self::client(Code::InvalidParameter, format!("Invalid parameter {name}: {why}"))
    }

    pub fn missing_param(name: &str) -> Self {
        Self::client(Code::InvalidParameter, format!("Missing required parameter {name} in the post body"))
    }

    /// 403 for an action the caller's credentials can never take.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::client(Code::Forbidden, message)
    }

    /// 403 code 50107: the user's roles lack `permission`.
    pub fn permission_denied(permission: Permission) -> Self {
        Self::client(
            Code::PermissionDenied,
            format!("User not authorized to perform this action: missing permission {permission}"),
        )
    }

    pub fn internal(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        ApiError::Internal(e.into())
    }

    pub fn code(&self) -> Code {
        match self {
            ApiError::Client { code, .. } => *code,
            ApiError::NotFound => Code::NotFound,
            ApiError::NotFoundAs(code) => *code,
            ApiError::Unauthenticated => Code::Authenticate,
            ApiError::InvalidToken => Code::InvalidAccessToken,
            ApiError::Unavailable(_) | ApiError::Busy { .. } => Code::ServiceUnavailable,
            ApiError::TooMany { .. } => Code::TooManyRequests,
            ApiError::Internal(_) => Code::Internal,
        }
    }

    /// The Twilio error body, for a channel other than a response (a frame
    /// of the event stream).
    pub fn body(&self) -> ErrorBody {
        ErrorBody::new(self.status_code(), self.code(), self.public_message())
    }

    fn public_message(&self) -> String {
        match self {
            ApiError::Client { message, .. } => message.clone(),
            ApiError::NotFound | ApiError::NotFoundAs(_) => "The requested resource was not found".into(),
            ApiError::Unauthenticated => "Authenticate".into(),
            ApiError::InvalidToken => "Invalid Access Token".into(),
            ApiError::Unavailable(_) => "Service temporarily unavailable".into(),
            ApiError::Busy { message, .. } | ApiError::TooMany { message, .. } => message.clone(),
            ApiError::Internal(_) => "An internal server error has occurred".into(),
        }
    }
}

/// The code a 404 answers with, for the middleware that writes its body.
#[derive(Debug, Clone, Copy)]
pub struct NotFoundCode(pub Code);

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
    pub fn new(status: StatusCode, code: Code, message: impl Into<String>) -> Self {
        let code = code.number();
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
            ApiError::NotFound | ApiError::NotFoundAs(_) => StatusCode::NOT_FOUND,
            ApiError::Unauthenticated | ApiError::InvalidToken => StatusCode::UNAUTHORIZED,
            other => other.code().status(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::NotFound | ApiError::NotFoundAs(_) = self {
            // The body names the requested path, which only
            // `app::twilio_error_bodies` sees: it writes it, with this code.
            let mut response = HttpResponse::NotFound().finish();
            response.extensions_mut().insert(NotFoundCode(self.code()));
            return response;
        }
        match self {
            ApiError::Internal(cause) => tracing::error!(error = %cause, "internal error"),
            ApiError::Unavailable(cause) => tracing::warn!(error = %cause, "service unavailable"),
            _ => {}
        }
        let mut response =
            ErrorBody::new(self.status_code(), self.code(), self.public_message()).into_response();
        let retry_after = match self {
            ApiError::Busy { retry_after_secs, .. } | ApiError::TooMany { retry_after_secs, .. } => {
                Some(*retry_after_secs)
            }
            // The database is away or busy: worth a retry soon.
            ApiError::Unavailable(_) => Some(UNAVAILABLE_RETRY_AFTER_SECS),
            _ => None,
        };
        if let Some(secs) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let ApiError::InvalidToken = self {
            // The Basic challenge is for Basic callers; a browser app whose access token
            // was refused would otherwise get the browser's own login prompt.
            response.headers_mut().remove(header::WWW_AUTHENTICATE);
        }
        response
    }
}

/// `Retry-After` of a 503 while the database is unavailable.
const UNAVAILABLE_RETRY_AFTER_SECS: u32 = 2;

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            DbError::Unavailable(cause) => ApiError::Unavailable(cause),
            DbError::Query(Error::NotFound) => ApiError::NotFound,
            // Deferred foreign keys (a role's holders) are checked at COMMIT,
            // so a lost race can surface here rather than as a StoreError.
            DbError::Query(Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info)) => {
                race_lost(info.message())
            }
            other => ApiError::internal(other),
        }
    }
}

/// A write that referred to a row a concurrent request deleted.
fn race_lost(detail: &str) -> ApiError {
    tracing::info!(%detail, "write lost a race with a delete");
    ApiError::client(
        Code::Conflict,
        "A resource this request refers to was changed or deleted at the same time; retry the request",
    )
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        ApiError::internal(e.to_string())
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        StoreError::from(e).into()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound,
            StoreError::ConversationClosed => ApiError::client(
                Code::ConversationClosed,
                "Can't update conversation as it's in final closed state",
            ),
            StoreError::UniqueNameTaken(name) => ApiError::client(
                Code::ConversationUniqueNameExists,
                format!("A Conversation with the UniqueName {name:?} already exists"),
            ),
            StoreError::ParticipantExists(id) => ApiError::client(
                Code::ParticipantExists,
                format!("A participant with identity {id:?} already exists in this conversation"),
            ),
            StoreError::ParticipantAddressExists(address) => ApiError::client(
                Code::ParticipantAddressExists,
                format!("A participant with address {address:?} already exists in this conversation"),
            ),
            StoreError::UserExists(identity) => ApiError::client(
                Code::UserExists,
                format!("A User with identity {identity:?} already exists"),
            ),
            StoreError::MemberLimit(max) => ApiError::client(
                Code::ParticipantLimit,
                format!("The conversation has reached its limit of {max} participants"),
            ),
            StoreError::UserChannelLimit(max) => ApiError::client(
                Code::UserChannelLimit,
                format!("The user has reached its limit of {max} conversations"),
            ),
            StoreError::AlreadyInvited(identity) => ApiError::client(
                Code::AlreadyInvited,
                format!("{identity:?} is already invited to this channel"),
            ),
            StoreError::RoleInUse { role, default } => ApiError::client(
                Code::InvalidParameter,
                format!(
                    "Role {role} is in use ({}) and cannot be deleted",
                    if default {
                        "it is a default role of the service"
                    } else {
                        "users, participants or invites hold it"
                    }
                ),
            ),
            StoreError::MediaUnattachable { sid, why } => {
                ApiError::client(Code::MediaSidInvalid, format!("Media {sid} cannot be attached: {why}"))
            }
            StoreError::MediaTooLarge { max, total } => ApiError::client(
                Code::MediaTooLarge,
                format!("The media of a message may total at most {max} bytes; these total {total}"),
            ),
            StoreError::RaceLost(detail) => race_lost(&detail),
            StoreError::Corrupt(what) => ApiError::internal(what),
            StoreError::Db(e) => e.into(),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::result::{DatabaseErrorKind, Error};

    #[test]
    fn a_foreign_key_failing_at_commit_is_a_conflict_not_a_server_error() {
        let at_commit =
            || Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, Box::new("fk".to_owned()));
        for e in [ApiError::from(DbError::from(at_commit())), ApiError::from(StoreError::from(at_commit()))] {
            assert_eq!(e.code(), Code::Conflict, "{e}");
            assert_eq!(e.status_code(), StatusCode::CONFLICT);
        }
        let other = Error::DatabaseError(DatabaseErrorKind::CheckViolation, Box::new("check".to_owned()));
        assert_eq!(ApiError::from(DbError::from(other)).code(), Code::Internal);
    }
}
