//! The integration tests: one binary (the crate and its helpers compile and
//! link once), a folder per feature. Every test gets its own database (a
//! fresh SQLite file, or a fresh PostgreSQL database when
//! `CONFAB_TEST_DATABASE_URL` is set) and its own account; `util` builds
//! the app in-process or on a real socket.
//!
//!     cargo test --test integration                  # all of them
//!     cargo test --test integration media::          # one feature

mod auth;
mod chat;
mod conversations;
mod events;
mod media;
mod server;
mod util;
mod webhooks;
