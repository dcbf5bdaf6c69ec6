//! A small cache of model states after a prompt's shared beginning, so that a long system prompt
//! (a versioned prompt with few-shot examples is ~700 tokens) is read once, not on every turn.
//!
//! A ChatML prompt is `system, examples…, history…, last user message, assistant header`. The
//! state after everything up to the last user message is kept, keyed by those exact token ids:
//! the next turn of the same conversation, and every other conversation on the same rendered
//! prompt, starts from it and reads only its own tail. The prompt is *always* read in these two
//! steps, cached or not, so a cache hit gives exactly the same numbers as a miss and answers at
//! temperature 0 stay deterministic.
//!
//! A state is the model's KV cache (tensors shared by `Arc`): a hit clones a few handles, and the
//! next forward pass appends to the clone, never to the cached tensors. Each entry costs
//! ~46 KB per token for SmolLM2-135M (30 layers × K and V × 3 heads × 64 × f32), ~32 MB for a
//! 700-token prefix; the cache holds `capacity` entries, least recently used out first.

use std::sync::Mutex;

use super::llama::Model;

pub(super) struct PrefixCache {
    capacity: usize,
    /// Most recently used last.
    entries: Mutex<Vec<(Vec<u32>, Model)>>,
}

impl PrefixCache {
    pub(super) fn new(capacity: usize) -> Self {
        PrefixCache {
            capacity,
            entries: Mutex::new(Vec::with_capacity(capacity)),
        }
    }

    /// The state after exactly `prefix`, if kept.
    pub(super) fn get(&self, prefix: &[u32]) -> Option<Model> {
        let mut entries = self.lock();
        let at = entries.iter().position(|(k, _)| k.as_slice() == prefix)?;
        let entry = entries.remove(at);
        let state = entry.1.clone();
        entries.push(entry);
        Some(state)
    }

    pub(super) fn put(&self, prefix: Vec<u32>, state: Model) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.lock();
        if let Some(at) = entries.iter().position(|(k, _)| *k == prefix) {
            entries.remove(at);
        } else if entries.len() >= self.capacity {
            entries.remove(0);
        }
        entries.push((prefix, state));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(Vec<u32>, Model)>> {
        // A worker that panicked mid-update leaves a list that is still valid.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Where a ChatML prompt splits: the start of its last user message (the second-to-last
/// `<|im_start|>`; the last one opens the assistant's turn). `None` for a prompt with only one
/// message, which has nothing worth keeping.
pub(super) fn split(prompt_ids: &[u32], im_start: u32) -> Option<usize> {
    let mut starts = prompt_ids
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, id)| **id == im_start)
        .map(|(i, _)| i);
    let _assistant = starts.next()?;
    let last_user = starts.next()?;
    (last_user > 0).then_some(last_user)
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn the_split_is_the_start_of_the_last_user_message() {
        // 1 = <|im_start|>: system, user, assistant, user, assistant header.
        let ids = [1, 10, 11, 1, 20, 1, 30, 1, 40, 41, 1, 50];
        assert_eq!(split(&ids, 1), Some(7));
        assert_eq!(
            split(&[1, 20, 21, 1, 50], 1),
            None,
            "one message: nothing to keep"
        );
        assert_eq!(split(&[5, 6, 7], 1), None);
    }
}
