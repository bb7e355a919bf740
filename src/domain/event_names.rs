//! Webhook event names in both APIs: Conversations' (`onMessageAdded`,
//! `onParticipantAdd`, …) and Programmable Chat's (`onMessageSent`,
//! `onMemberAdd`, …). Events are recorded in Conversations' terms; a
//! configuration that speaks Chat names them here. Filters are stored in
//! their configuration's names and read back by the other API through
//! [`translate_filters`].

use super::Vocabulary;

/// The pre-event names a Conversations filter may list.
pub const PRE_EVENTS: &[&str] = &[
    "onConversationAdd",
    "onConversationUpdate",
    "onConversationRemove",
    "onMessageAdd",
    "onMessageUpdate",
    "onMessageRemove",
    "onParticipantAdd",
    "onParticipantUpdate",
    "onParticipantRemove",
    "onUserUpdate",
];

/// The post-event names a Conversations filter may list (`onDeliveryUpdated` is
/// accepted for compatibility; Confab has no delivery receipts to report).
pub const POST_EVENTS: &[&str] = &[
    "onConversationAdded",
    "onConversationUpdated",
    "onConversationRemoved",
    "onConversationStateUpdated",
    "onMessageAdded",
    "onMessageUpdated",
    "onMessageRemoved",
    "onParticipantAdded",
    "onParticipantUpdated",
    "onParticipantRemoved",
    "onDeliveryUpdated",
    "onUserAdded",
    "onUserUpdated",
];

/// The pre-event names a Chat filter may list.
pub const CHAT_PRE_EVENTS: &[&str] = &[
    "onMessageSend",
    "onMediaMessageSend",
    "onMessageUpdate",
    "onMessageRemove",
    "onChannelAdd",
    "onChannelUpdate",
    "onChannelDestroy",
    "onMemberAdd",
    "onMemberUpdate",
    "onMemberRemove",
    "onUserUpdate",
];

/// The post-event names a Chat filter may list.
pub const CHAT_POST_EVENTS: &[&str] = &[
    "onMessageSent",
    "onMediaMessageSent",
    "onMessageUpdated",
    "onMessageRemoved",
    "onChannelAdded",
    "onChannelUpdated",
    "onChannelDestroyed",
    "onMemberAdded",
    "onMemberUpdated",
    "onMemberRemoved",
    "onUserAdded",
    "onUserUpdated",
];

/// Conversations' event names and Chat's. A message with media is Chat's
/// `onMediaMessageSend`/`Sent`, one without `onMessageSend`/`Sent`: both
/// are Conversations' `onMessageAdd`/`Added`.
const NAMES: &[(&str, &str)] = &[
    ("onConversationAdd", "onChannelAdd"),
    ("onConversationUpdate", "onChannelUpdate"),
    ("onConversationRemove", "onChannelDestroy"),
    ("onMessageAdd", "onMessageSend"),
    ("onMessageAdd", "onMediaMessageSend"),
    ("onMessageUpdate", "onMessageUpdate"),
    ("onMessageRemove", "onMessageRemove"),
    ("onParticipantAdd", "onMemberAdd"),
    ("onParticipantUpdate", "onMemberUpdate"),
    ("onParticipantRemove", "onMemberRemove"),
    ("onUserUpdate", "onUserUpdate"),
    ("onConversationAdded", "onChannelAdded"),
    ("onConversationUpdated", "onChannelUpdated"),
    ("onConversationRemoved", "onChannelDestroyed"),
    ("onMessageAdded", "onMessageSent"),
    ("onMessageAdded", "onMediaMessageSent"),
    ("onMessageUpdated", "onMessageUpdated"),
    ("onMessageRemoved", "onMessageRemoved"),
    ("onParticipantAdded", "onMemberAdded"),
    ("onParticipantUpdated", "onMemberUpdated"),
    ("onParticipantRemoved", "onMemberRemoved"),
    ("onUserAdded", "onUserAdded"),
    ("onUserUpdated", "onUserUpdated"),
];

/// The name a configuration speaking `api` gives Conversations' event
/// `name` (`media`: the message has media). `None`: that API has no such
/// event (`onConversationStateUpdated` in Chat).
pub fn event_name(api: Vocabulary, name: &'static str, media: bool) -> Option<&'static str> {
    match api {
        Vocabulary::Conversations => Some(name),
        Vocabulary::Chat => match name {
            "onMessageAdd" => Some(if media { "onMediaMessageSend" } else { "onMessageSend" }),
            "onMessageAdded" => Some(if media { "onMediaMessageSent" } else { "onMessageSent" }),
            _ => NAMES.iter().find(|(c, _)| *c == name).map(|(_, chat)| *chat),
        },
    }
}

/// Could `filters` (in `api`'s names) select Conversations' event `name`,
/// whatever the message's media? A pre-event's parameters are read only
/// when so.
pub fn may_select(api: Vocabulary, filters: &[String], name: &'static str) -> bool {
    [false, true]
        .iter()
        .any(|&media| event_name(api, name, media).is_some_and(|n| filters.iter().any(|f| f == n)))
}

/// Filters in `from`'s names as `to` names them, in order, once each.
pub fn translate_filters(names: &[String], from: Vocabulary, to: Vocabulary) -> Vec<String> {
    if from == to {
        return names.to_vec();
    }
    let mut out: Vec<String> = Vec::with_capacity(names.len());
    for name in names {
        let translated = NAMES.iter().filter_map(|(c, chat)| match from {
            Vocabulary::Chat => (*chat == name).then_some(*c),
            Vocabulary::Conversations => (*c == name).then_some(*chat),
        });
        for t in translated {
            if !out.iter().any(|o| o == t) {
                out.push(t.to_owned());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn media_messages_have_their_own_chat_names() {
        assert_eq!(event_name(Vocabulary::Chat, "onMessageAdded", false), Some("onMessageSent"));
        assert_eq!(event_name(Vocabulary::Chat, "onMessageAdded", true), Some("onMediaMessageSent"));
        assert_eq!(event_name(Vocabulary::Chat, "onMessageAdd", true), Some("onMediaMessageSend"));
        assert_eq!(event_name(Vocabulary::Chat, "onConversationStateUpdated", false), None);
        assert_eq!(event_name(Vocabulary::Conversations, "onMessageAdded", true), Some("onMessageAdded"));
        assert!(may_select(Vocabulary::Chat, &names(&["onMediaMessageSend"]), "onMessageAdd"));
        assert!(!may_select(Vocabulary::Chat, &names(&["onMessageSent"]), "onMessageAdd"));
    }

    #[test]
    fn filters_read_back_in_either_api() {
        let chat = names(&["onMessageSent", "onMediaMessageSent", "onMemberAdd", "onChannelDestroyed"]);
        assert_eq!(
            translate_filters(&chat, Vocabulary::Chat, Vocabulary::Conversations),
            names(&["onMessageAdded", "onParticipantAdd", "onConversationRemoved"])
        );
        let conversations = names(&["onMessageAdded", "onConversationStateUpdated", "onUserUpdated"]);
        assert_eq!(
            translate_filters(&conversations, Vocabulary::Conversations, Vocabulary::Chat),
            names(&["onMessageSent", "onMediaMessageSent", "onUserUpdated"])
        );
    }
}
