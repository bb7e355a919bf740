//! Confab: a self-hosted server for the Twilio Conversations v1 REST API.

pub mod api;
pub mod app;
pub mod auth;
pub mod config;
pub mod conversations;
pub mod db;
pub mod error;
pub mod media;
pub mod roles;
pub mod sid;
pub mod telemetry;
