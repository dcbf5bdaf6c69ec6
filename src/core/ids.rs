//! Identifiers of rows and requests.

/// A new time-ordered id (UUID v7) for rows and requests.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A conversation as the gateway files it: the client's id (`metadata.conversation_id`, else a
/// fresh one) under the API key that sent the turn. Two keys that pick the same id get two
/// conversations, so one key can neither append to another's conversation nor have its turns
/// reviewed, exported or queued as urgent together with the other's. Stored as
/// `<key id>:<client id>`; the client only ever sees its own id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationId {
    stored: String,
    /// Where the client's id starts in `stored`.
    client_at: usize,
}

impl ConversationId {
    /// The conversation `client_id` of the key `key_id`.
    pub fn scoped(key_id: &str, client_id: &str) -> ConversationId {
        ConversationId {
            stored: format!("{key_id}:{client_id}"),
            client_at: key_id.len() + 1,
        }
    }

    /// The id the store files the conversation under (messages, review items, the urgent queue).
    pub fn stored(&self) -> &str {
        &self.stored
    }

    /// The id the client gave (or was given), as the `x-conversation-id` header shows it.
    pub fn client(&self) -> &str {
        &self.stored[self.client_at..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_client_id_under_two_keys_is_two_conversations() {
        let a = ConversationId::scoped("key-a", "c-1");
        let b = ConversationId::scoped("key-b", "c-1");
        assert_ne!(a.stored(), b.stored());
        assert_eq!(a.client(), "c-1");
        assert_eq!(b.client(), "c-1");
    }

    #[test]
    fn a_client_id_with_colons_comes_back_whole() {
        let c = ConversationId::scoped("key-a", "a:b:c");
        assert_eq!(c.stored(), "key-a:a:b:c");
        assert_eq!(c.client(), "a:b:c");
    }
}
