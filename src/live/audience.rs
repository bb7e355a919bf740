//! Whom a stream is for, and which events (and extra frames) that lets
//! through. The hub routes with it and the stream decides its frames with
//! it, each on its own copy, fed the same events in the same order.

use std::collections::HashSet;

use crate::domain::EventKind;

use super::Delivery;

/// Whom a stream is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// Account credentials: the account's events, of one service if named.
    Account { account_sid: String, service: Option<String> },
    /// An end user: the conversations it is a participant in (kept current
    /// as it joins and leaves) and its own user.
    User { service_sid: String, identity: String, conversations: HashSet<String> },
}

/// What one audience does with one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Skip,
    Send,
    /// The user joined the event's conversation: `conversationAdded`, then
    /// the event.
    Joined,
    /// The user left it: the event, then `conversationRemoved`.
    Left,
}

impl Audience {
    /// Decides for an event of the log, and follows the user's joins and
    /// leaves. (A typing indicator is [`Audience::hears_typing`]'s.)
    pub fn admit(&mut self, d: &Delivery) -> Verdict {
        let Some(kind) = d.kind else {
            return Verdict::Skip;
        };
        let (service_sid, identity, conversations) = match self {
            Audience::Account { account_sid, service } => {
                let wanted =
                    *account_sid == d.account_sid && service.as_ref().is_none_or(|s| *s == d.service_sid);
                return if wanted { Verdict::Send } else { Verdict::Skip };
            }
            Audience::User { service_sid, identity, conversations } => (service_sid, identity, conversations),
        };
        if d.service_sid != *service_sid {
            return Verdict::Skip;
        }
        let me = d.identity.as_deref() == Some(identity.as_str());
        match (kind, d.conversation_sid.as_deref()) {
            (EventKind::UserUpdated, _) if me => Verdict::Send,
            (EventKind::ParticipantJoined, Some(ch)) if me => {
                conversations.insert(ch.to_owned());
                Verdict::Joined
            }
            (EventKind::ParticipantLeft, Some(ch)) if me => {
                if conversations.remove(ch) {
                    Verdict::Left
                } else {
                    Verdict::Skip
                }
            }
            (EventKind::ConversationRemoved, Some(ch)) => {
                if conversations.remove(ch) {
                    Verdict::Send
                } else {
                    Verdict::Skip
                }
            }
            (_, Some(ch)) if conversations.contains(ch) => Verdict::Send,
            _ => Verdict::Skip,
        }
    }

    /// Undoes what [`Audience::admit`] would do with a join or leave of
    /// this user: fed the joins and leaves after a position newest first,
    /// it turns the user's conversations now into those it had then.
    pub fn rewind(&mut self, d: &Delivery) {
        let Audience::User { service_sid, identity, conversations } = self else {
            return;
        };
        if d.service_sid != *service_sid || d.identity.as_deref() != Some(identity.as_str()) {
            return;
        }
        match (d.kind, &d.conversation_sid) {
            (Some(EventKind::ParticipantJoined), Some(ch)) => {
                conversations.remove(ch);
            }
            (Some(EventKind::ParticipantLeft), Some(ch)) => {
                conversations.insert(ch.clone());
            }
            _ => {}
        }
    }

    /// Whether a typing indicator reaches this audience: an end user in its
    /// conversation, other than the one typing.
    pub fn hears_typing(&self, d: &Delivery) -> bool {
        match (self, &d.conversation_sid, &d.identity) {
            (Audience::User { service_sid, identity, conversations }, Some(ch), Some(who)) => {
                *service_sid == d.service_sid && who != identity && conversations.contains(ch)
            }
            _ => false,
        }
    }

    /// The conversations a user's stream follows (none for an account's).
    pub fn conversations(&self) -> impl Iterator<Item = &String> {
        let set = match self {
            Audience::User { conversations, .. } => Some(conversations),
            Audience::Account { .. } => None,
        };
        set.into_iter().flatten()
    }

    pub fn follows(&self, conversation_sid: &str) -> bool {
        matches!(self, Audience::User { conversations, .. } if conversations.contains(conversation_sid))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn event(kind: EventKind, ch: &str, identity: Option<&str>) -> Delivery {
        Delivery {
            position: 1,
            account_sid: "AC1".into(),
            service_sid: "IS1".into(),
            conversation_sid: Some(ch.into()),
            kind: Some(kind),
            identity: identity.map(str::to_owned),
            text: Arc::from(""),
        }
    }

    fn alice(conversations: &[&str]) -> Audience {
        Audience::User {
            service_sid: "IS1".into(),
            identity: "alice".into(),
            conversations: conversations.iter().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn a_user_follows_its_joins_and_leaves() {
        let mut a = alice(&["CH1"]);
        assert_eq!(a.admit(&event(EventKind::MessageAdded, "CH1", None)), Verdict::Send);
        assert_eq!(a.admit(&event(EventKind::MessageAdded, "CH2", None)), Verdict::Skip);
        assert_eq!(a.admit(&event(EventKind::ParticipantJoined, "CH2", Some("bob"))), Verdict::Skip);
        assert_eq!(a.admit(&event(EventKind::ParticipantJoined, "CH2", Some("alice"))), Verdict::Joined);
        assert_eq!(a.admit(&event(EventKind::MessageAdded, "CH2", None)), Verdict::Send);
        assert_eq!(a.admit(&event(EventKind::ParticipantLeft, "CH1", Some("alice"))), Verdict::Left);
        assert_eq!(a.admit(&event(EventKind::MessageAdded, "CH1", None)), Verdict::Skip);
        assert_eq!(a.admit(&event(EventKind::ConversationRemoved, "CH2", None)), Verdict::Send);
        assert_eq!(a.admit(&event(EventKind::ConversationRemoved, "CH2", None)), Verdict::Skip);
        assert_eq!(a.conversations().count(), 0);
    }

    #[test]
    fn rewinding_the_joins_and_leaves_gives_the_conversations_of_back_then() {
        // Then: CH1 and CH2. Since: left CH1, joined CH3, left CH2, rejoined CH1.
        let history = [
            event(EventKind::ParticipantLeft, "CH1", Some("alice")),
            event(EventKind::ParticipantJoined, "CH3", Some("alice")),
            event(EventKind::ParticipantJoined, "CH3", Some("bob")),
            event(EventKind::ParticipantLeft, "CH2", Some("alice")),
            event(EventKind::ParticipantJoined, "CH1", Some("alice")),
        ];
        let mut a = alice(&["CH1", "CH3"]);
        for d in history.iter().rev() {
            a.rewind(d);
        }
        assert_eq!(a, alice(&["CH1", "CH2"]));
        let verdicts: Vec<Verdict> = history.iter().map(|d| a.admit(d)).collect();
        use Verdict::*;
        assert_eq!(verdicts, [Left, Joined, Send, Left, Joined]);
        assert_eq!(a, alice(&["CH1", "CH3"]), "and forward again to now");
    }

    #[test]
    fn typing_reaches_the_others_in_the_conversation_only() {
        let a = alice(&["CH1"]);
        let typing =
            |ch: &str, who: &str| Delivery { kind: None, ..event(EventKind::MessageAdded, ch, Some(who)) };
        assert!(a.hears_typing(&typing("CH1", "bob")));
        assert!(!a.hears_typing(&typing("CH1", "alice")));
        assert!(!a.hears_typing(&typing("CH2", "bob")));
        let account = Audience::Account { account_sid: "AC1".into(), service: None };
        assert!(!account.hears_typing(&typing("CH1", "bob")));
    }
}
