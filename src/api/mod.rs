//! Wire concerns shared by every resource: parameters, paging, dates, and the
//! service scope of the two path families.

pub mod paging;
pub mod params;
pub mod scope;
pub mod time;

pub use paging::{ListPage, PageRequest};
pub use params::{Form, Params, Query};
pub use scope::ServiceScope;

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
