//! Twilio SIDs: two uppercase letters and 32 lowercase hex digits.

/// The resource kinds Confab issues SIDs for, with their Twilio prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SidKind {
    Account,
    Service,
    Conversation,
    Participant,
    Message,
    User,
    Role,
    Media,
    ApiKey,
    MessagingService,
    Content,
    Webhook,
    Invite,
    Credential,
    Binding,
}

impl SidKind {
    pub const fn prefix(self) -> &'static str {
        match self {
            SidKind::Account => "AC",
            SidKind::Service => "IS",
            SidKind::Conversation => "CH",
            SidKind::Participant => "MB",
            SidKind::Message => "IM",
            SidKind::User => "US",
            SidKind::Role => "RL",
            SidKind::Media => "ME",
            SidKind::ApiKey => "SK",
            SidKind::MessagingService => "MG",
            SidKind::Content => "HX",
            SidKind::Webhook => "WH",
            SidKind::Invite => "IN",
            SidKind::Credential => "CR",
            SidKind::Binding => "BS",
        }
    }

    /// A fresh random SID (128 bits from the OS generator).
    pub fn generate(self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).expect("the OS random number generator failed");
        let mut s = String::with_capacity(34);
        s.push_str(self.prefix());
        for b in bytes {
            s.push(HEX[usize::from(b >> 4)] as char);
            s.push(HEX[usize::from(b & 0xf)] as char);
        }
        s
    }

    /// Does `s` have this kind's shape (`XX` + 32 hex digits, either case)?
    pub fn matches(self, s: &str) -> bool {
        s.len() == 34 && s.starts_with(self.prefix()) && s.as_bytes()[2..].iter().all(u8::is_ascii_hexdigit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_sids_have_the_twilio_shape() {
        let sid = SidKind::Conversation.generate();
        assert_eq!(sid.len(), 34);
        assert!(sid.starts_with("CH"));
        assert!(SidKind::Conversation.matches(&sid));
        assert!(!SidKind::Message.matches(&sid));
        assert_ne!(sid, SidKind::Conversation.generate());
    }

    #[test]
    fn rejects_malformed_sids() {
        assert!(!SidKind::Account.matches("AC123"));
        assert!(!SidKind::Account.matches(&format!("AC{}", "g".repeat(32))));
        assert!(SidKind::Account.matches(&format!("AC{}", "A".repeat(32))));
    }
}
