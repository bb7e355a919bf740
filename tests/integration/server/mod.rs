//! The server as an operator sees it: wire conventions, start-up, hostile
//! input, database outages, migrations and the master key.

mod cluster;
mod hardening;
mod master_key;
mod metrics;
mod outage;
mod wire;
