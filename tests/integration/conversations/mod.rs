//! The Conversations v1 resources on both path families.

// The family and its main resource share the API's name.
#[allow(clippy::module_inception)]
mod conversations;
mod messages;
mod participants;
mod roles;
mod services;
mod users;
