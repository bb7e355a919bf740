//! The typed vocabulary of the domain: permissions with their catalogue per
//! role type, and the states of conversations and media. Rows are parsed
//! into these where they are read; the wire spellings live here too.

pub mod permission;
pub mod state;

pub use permission::{Permission, Permissions, RoleType};
pub use state::{ConversationState, MediaState};
