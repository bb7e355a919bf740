//! What an event in the log says happened. The stored spelling is the
//! stream's frame type (Twilio's SDK event names, in camelCase).

use std::fmt;

macro_rules! event_kinds {
    ($($variant:ident => $name:literal,)*) => {
        /// The kind of a change recorded in the event log.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum EventKind {
            $($variant,)*
        }

        impl EventKind {
            pub const ALL: &'static [EventKind] = &[$(EventKind::$variant,)*];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $(EventKind::$variant => $name,)*
                }
            }
        }
    };
}

event_kinds! {
    ConversationAdded => "conversationAdded",
    ConversationUpdated => "conversationUpdated",
    ConversationRemoved => "conversationRemoved",
    ParticipantJoined => "participantJoined",
    ParticipantUpdated => "participantUpdated",
    ParticipantLeft => "participantLeft",
    MessageAdded => "messageAdded",
    MessageUpdated => "messageUpdated",
    MessageRemoved => "messageRemoved",
    UserAdded => "userAdded",
    UserUpdated => "userUpdated",
}

/// Who caused a change, as the event log records it beside the change
/// (webhooks send it as `Source` and `ClientIdentity`), and whether the
/// change fires post-event webhooks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub actor: Actor,
    pub webhooks: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// Confab itself (the conversation timers).
    System,
    /// Account credentials through the REST API.
    Api,
    /// An end user with an access token: their identity.
    EndUser(String),
}

impl Origin {
    /// Confab's own changes fire webhooks: no request asked otherwise.
    pub const SYSTEM: Origin = Origin { actor: Actor::System, webhooks: true };

    /// The stored `source`: Twilio's `Source` spelling, none for Confab.
    pub fn source(&self) -> Option<&'static str> {
        match self.actor {
            Actor::System => None,
            Actor::Api => Some("API"),
            Actor::EndUser(_) => Some("SDK"),
        }
    }

    pub fn client_identity(&self) -> Option<&str> {
        match &self.actor {
            Actor::EndUser(identity) => Some(identity),
            _ => None,
        }
    }
}

impl EventKind {
    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.iter().copied().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for EventKind {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        EventKind::parse(&s).ok_or_else(|| format!("unknown event kind {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for &kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(EventKind::parse("messageadded"), None);
    }
}
