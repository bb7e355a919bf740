//! The lifecycles of conversations and media, as stored (text columns) and
//! as the API spells them.

use std::fmt;

/// A conversation's state. `closed` is final: a closed conversation can be
/// read and deleted, nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConversationState {
    Initializing,
    Inactive,
    Active,
    Closed,
}

impl ConversationState {
    pub const ALL: [ConversationState; 4] = [
        ConversationState::Initializing,
        ConversationState::Inactive,
        ConversationState::Active,
        ConversationState::Closed,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ConversationState::Initializing => "initializing",
            ConversationState::Inactive => "inactive",
            ConversationState::Active => "active",
            ConversationState::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<ConversationState> {
        ConversationState::ALL.into_iter().find(|state| state.as_str() == s)
    }

    /// The names, for parameter validation and error messages.
    pub const NAMES: [&'static str; 4] = ["initializing", "inactive", "active", "closed"];

    /// When the state timers fire, counted from `from` (the last activity):
    /// only an active conversation can go inactive; a closed one has no
    /// timer left.
    pub fn due_dates(
        self,
        inactive: Option<i64>,
        closed: Option<i64>,
        from: i64,
    ) -> (Option<i64>, Option<i64>) {
        match self {
            ConversationState::Active => (inactive.map(|s| from + s), closed.map(|s| from + s)),
            ConversationState::Closed => (None, None),
            _ => (None, closed.map(|s| from + s)),
        }
    }
}

impl fmt::Display for ConversationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for ConversationState {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        ConversationState::parse(&s).ok_or_else(|| format!("unknown conversation state {s:?}"))
    }
}

/// Where a media is in its life: rows come before bytes (`uploading`), the
/// stored object makes it `ready`, a message takes it (`attached`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaState {
    Uploading,
    Ready,
    Attached,
}

impl MediaState {
    pub const fn as_str(self) -> &'static str {
        match self {
            MediaState::Uploading => "uploading",
            MediaState::Ready => "ready",
            MediaState::Attached => "attached",
        }
    }

    pub fn parse(s: &str) -> Option<MediaState> {
        [MediaState::Uploading, MediaState::Ready, MediaState::Attached].into_iter().find(|m| m.as_str() == s)
    }

    /// Content can be read once the upload completed.
    pub fn is_stored(self) -> bool {
        self != MediaState::Uploading
    }
}

impl TryFrom<String> for MediaState {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        MediaState::parse(&s).ok_or_else(|| format!("unknown media state {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip() {
        for s in ConversationState::ALL {
            assert_eq!(ConversationState::parse(s.as_str()), Some(s));
        }
        assert_eq!(
            ConversationState::NAMES.map(|n| ConversationState::parse(n).unwrap()),
            ConversationState::ALL
        );
        for m in [MediaState::Uploading, MediaState::Ready, MediaState::Attached] {
            assert_eq!(MediaState::parse(m.as_str()), Some(m));
        }
        assert!(ConversationState::parse("open").is_none());
    }

    #[test]
    fn only_active_conversations_go_inactive() {
        let active = ConversationState::Active.due_dates(Some(60), Some(600), 1000);
        assert_eq!(active, (Some(1060), Some(1600)));
        assert_eq!(ConversationState::Inactive.due_dates(Some(60), Some(600), 1000), (None, Some(1600)));
        assert_eq!(ConversationState::Closed.due_dates(Some(60), Some(600), 1000), (None, None));
    }
}
