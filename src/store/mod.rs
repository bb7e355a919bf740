//! Rows and the queries on them, one file per table or aggregate.
//!
//! Every function runs on a connection it is given (a reader's, or a write
//! transaction's through [`crate::db::Tx`]), so callers compose several
//! into one transaction. Functions take plain SIDs and typed arguments and
//! return a [`StoreError`], never an HTTP error: what a failure means on
//! the wire is decided in one place (src/error.rs). Where SQLite and
//! PostgreSQL differ, both versions sit side by side here.

pub mod accounts;
pub mod api_keys;
pub mod bindings;
pub mod channels;
pub mod conversations;
pub mod credentials;
pub mod deliveries;
pub mod events;
pub mod invites;
pub mod master_keys;
pub mod media;
pub mod messages;
pub mod page;
pub mod participants;
pub mod push_credentials;
pub mod roles;
pub mod services;
pub mod storage_deletions;
pub mod users;
pub mod webhooks;

use crate::db::DbError;

/// Why a store operation did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A row the operation needs does not exist (in this scope).
    #[error("not found")]
    NotFound,
    #[error("the conversation is closed")]
    ConversationClosed,
    #[error("a conversation with unique name {0:?} exists")]
    UniqueNameTaken(String),
    #[error("a participant with identity {0:?} exists in this conversation")]
    ParticipantExists(String),
    #[error("a participant with address {0:?} exists in this conversation")]
    ParticipantAddressExists(String),
    #[error("a user with identity {0:?} exists")]
    UserExists(String),
    #[error("{0:?} is already invited to this channel")]
    AlreadyInvited(String),
    /// A conversation has as many participants as its service allows.
    #[error("the conversation has its limit of {0} participants")]
    MemberLimit(i64),
    /// A user is in as many conversations as its service allows.
    #[error("the user is in its limit of {0} conversations")]
    UserChannelLimit(i64),
    /// A role still held, or named as one of its service's defaults.
    #[error("role {role} is in use")]
    RoleInUse { role: String, default: bool },
    /// A media named on a new message that it cannot take.
    #[error("media {sid} cannot be attached: {why}")]
    MediaUnattachable { sid: String, why: Unattachable },
    #[error("the media of a message total {total} bytes, over {max}")]
    MediaTooLarge { max: u64, total: u64 },
    /// A foreign key failed: a concurrent request removed a row this one
    /// refers to (every reference is checked before it is written). Keys
    /// checked at COMMIT (deferred) fail as a `DbError` instead, which
    /// src/error.rs answers alike.
    #[error("lost a race with a delete: {0}")]
    RaceLost(String),
    /// A row that breaks what Confab always writes (a service without its
    /// default roles, say).
    #[error("inconsistent data: {0}")]
    Corrupt(&'static str),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Why a media cannot go on a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unattachable {
    Missing,
    StillUploading,
    AlreadyAttached,
}

impl std::fmt::Display for Unattachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Unattachable::Missing => "no media with that SID exists in this service",
            Unattachable::StillUploading => "its upload has not completed",
            Unattachable::AlreadyAttached => "it is already attached to a message",
        })
    }
}

impl From<diesel::result::Error> for StoreError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::NotFound => StoreError::NotFound,
            Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info) => {
                StoreError::RaceLost(info.message().to_owned())
            }
            other => StoreError::Db(other.into()),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Is this diesel error a unique-constraint violation?
pub fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(e, diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _))
}

/// `Ok(None)` for a lookup that found nothing.
pub(crate) trait OptionalRow<T> {
    fn found(self) -> StoreResult<Option<T>>;
}

impl<T> OptionalRow<T> for diesel::QueryResult<T> {
    fn found(self) -> StoreResult<Option<T>> {
        match self {
            Ok(row) => Ok(Some(row)),
            Err(diesel::result::Error::NotFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

impl<T> OptionalRow<T> for StoreResult<T> {
    fn found(self) -> StoreResult<Option<T>> {
        match self {
            Ok(row) => Ok(Some(row)),
            Err(StoreError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
