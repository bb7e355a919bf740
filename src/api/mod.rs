//! Wire concerns shared by every resource: parameters, paging, responses,
//! limits, and the URLs of the two path families.

pub mod paging;
pub mod params;

pub use paging::{ListPage, PageRequest};
pub use params::{BodyTimeout, Form, Params, Query};

use actix_web::HttpResponse;
use serde::Serialize;

pub fn created<T: Serialize>(body: T) -> HttpResponse {
    HttpResponse::Created().json(body)
}

pub fn ok<T: Serialize>(body: T) -> HttpResponse {
    HttpResponse::Ok().json(body)
}

pub fn no_content() -> HttpResponse {
    HttpResponse::NoContent().finish()
}

/// Caps on JSON-in-a-string fields, from Twilio's published limits.
pub mod limits {
    pub const CONVERSATION_ATTRIBUTES: usize = 16 * 1024;
    pub const MESSAGE_ATTRIBUTES: usize = 4 * 1024;
    pub const PARTICIPANT_ATTRIBUTES: usize = 4 * 1024;
    pub const USER_ATTRIBUTES: usize = 16 * 1024;
    pub const MESSAGE_BODY_CHARS: usize = 32 * 1024;
    pub const NAME_CHARS: usize = 256;
    pub const IDENTITY_CHARS: usize = 256;
}

/// Where a response's URLs point: `{public}/v1` (the account's default
/// service) or `{public}/v1/Services/{IS}`, as the request came in.
/// (Services and configuration always use `{public}/v1`.)
#[derive(Debug, Clone)]
pub struct Urls {
    /// Absolute URL prefix of the request's family.
    pub prefix: String,
    /// The service named in the path, if the request used that family.
    explicit_service: Option<String>,
}

impl Urls {
    pub fn new(v1: String, explicit_service: Option<&str>) -> Urls {
        let prefix = match explicit_service {
            Some(service) => format!("{v1}/Services/{service}"),
            None => v1.clone(),
        };
        Urls { prefix, explicit_service: explicit_service.map(str::to_owned) }
    }

    /// `chat_service_sid` as the service-family Message and Participant
    /// objects carry it (the account-family ones lack the field).
    pub fn chat_service_sid(&self) -> Option<&str> {
        self.explicit_service.as_deref()
    }
}
