//! The Conversations v1 resources. Every resource that exists once per
//! service is served on both path families: `/v1/…` (the account's default
//! service) and `/v1/Services/{IS}/…`.

pub mod configuration;
// The family and its main resource share the API's name.
#[allow(clippy::module_inception)]
pub mod conversations;
pub mod memberships;
pub mod messages;
pub mod participants;
pub mod roles;
pub mod services;
pub mod users;
pub mod webhooks;
