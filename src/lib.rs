//! Confab: a self-hosted server for the Twilio Conversations v1 REST API and
//! its Media Content Service. `ARCHITECTURE.md` maps the modules.

pub mod admin;
pub mod app;
pub mod config;
pub mod telemetry;
#[doc(hidden)]
pub mod testing;

mod api;
mod auth;
mod background;
mod db;
mod domain;
mod error;
mod handlers;
mod keys;
mod live;
mod routes;
mod sid;
mod state;
mod storage;
mod store;
mod time;
mod views;
mod webhooks;
