//! Programmable Chat v2's wire types, over the same rows as Conversations'
//! (a channel is a conversation, a member a participant). Every URL is
//! under `{public}/v2/Services/{IS}`.

pub mod bindings;
pub mod channels;
pub mod invites;
pub mod members;
pub mod messages;
pub mod roles;
pub mod services;
pub mod users;
pub mod webhooks;

/// Where a Chat response's URLs point.
#[derive(Debug, Clone)]
pub struct ChatUrls {
    /// `{public}/v2/Services/{IS}`
    pub service: String,
}

impl ChatUrls {
    pub fn new(public_url: &str, service_sid: &str) -> ChatUrls {
        ChatUrls { service: format!("{public_url}/v2/Services/{service_sid}") }
    }

    pub fn channel(&self, sid: &str) -> String {
        format!("{}/Channels/{sid}", self.service)
    }
}

/// `segment` as one segment of a URL path: everything but RFC 3986's
/// unreserved characters percent-encoded (identities may hold `/`, `?`, ` `).
pub fn path_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
