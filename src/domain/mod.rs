//! The typed vocabulary of the domain: permissions with their catalogue per
//! role type, the states of conversations and media, and the kinds of
//! events. Rows are parsed
//! into these where they are read; the wire spellings live here too.

pub mod event;
pub mod event_names;
pub mod permission;
pub mod state;

pub use event::{Actor, EventKind, Origin};
pub use permission::{Permission, Permissions, RoleType, Vocabulary};
pub use state::{ConversationState, MediaState};
