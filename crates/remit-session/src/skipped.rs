//! Stored message keys of skipped messages and the list of previous receiving chains (design:
//! "Skipped keys", Signal Double Ratchet §3.5).

use std::collections::VecDeque;

use crate::kdf::MessageKey;

/// Most message keys one received message may make the receiver derive and store (the gap
/// `PN − Nr` plus `N`). It bounds the work a single forged header can cause (each key is two
/// HMACs and a stored entry) while tolerating a realistic burst of lost or delayed messages.
pub const MAX_SKIP: u32 = 1000;

/// Most skipped message keys a session stores in total; the oldest is evicted first. Two full
/// skips fit, and the store of one session stays under 150 KiB.
pub const MAX_SKIPPED_KEYS: usize = 2000;

/// How many previous remote ratchet keys a session remembers, so that a late message on an old
/// chain whose key is gone is reported as a `Duplicate` rather than run through a DH step.
pub const MAX_PREVIOUS_CHAINS: usize = 5;

/// One stored key: the remote ratchet key and counter it belongs to, and the message key.
pub(crate) struct SkippedKey {
    pub(crate) ratchet_key: [u8; 32],
    pub(crate) counter: u32,
    pub(crate) key: MessageKey,
}

/// The stored skipped keys in insertion order (oldest first), at most [`MAX_SKIPPED_KEYS`].
#[derive(Default)]
pub(crate) struct SkippedKeys {
    keys: VecDeque<SkippedKey>,
}

impl SkippedKeys {
    /// The position of the key for `(ratchet_key, counter)`, if stored. Both are public header
    /// fields, so a plain comparison is fine.
    pub(crate) fn find(&self, ratchet_key: &[u8; 32], counter: u32) -> Option<usize> {
        self.keys
            .iter()
            .position(|k| k.counter == counter && &k.ratchet_key == ratchet_key)
    }

    pub(crate) fn get(&self, index: usize) -> Option<&SkippedKey> {
        self.keys.get(index)
    }

    /// Removes a used key (its `MessageKey` is zeroized on drop).
    pub(crate) fn remove(&mut self, index: usize) {
        drop(self.keys.remove(index));
    }

    /// Appends new keys, evicting the oldest beyond [`MAX_SKIPPED_KEYS`].
    pub(crate) fn extend(&mut self, new: Vec<SkippedKey>) {
        for key in new {
            if self.keys.len() >= MAX_SKIPPED_KEYS {
                drop(self.keys.pop_front());
            }
            self.keys.push_back(key);
        }
    }

    /// Appends one key loaded from a record (the loader checks the count first).
    pub(crate) fn push(&mut self, key: SkippedKey) {
        self.keys.push_back(key);
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &SkippedKey> {
        self.keys.iter()
    }
}

/// A previous remote ratchet key and the number of messages its chain had (`max(Nr, PN)` when
/// it was replaced).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PreviousChain {
    pub(crate) ratchet_key: [u8; 32],
    pub(crate) final_counter: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(rk: u8, counter: u32) -> SkippedKey {
        SkippedKey {
            ratchet_key: [rk; 32],
            counter,
            key: MessageKey::from_bytes([rk; 32]),
        }
    }

    #[test]
    fn fifo_eviction_at_the_limit() {
        let mut store = SkippedKeys::default();
        store.extend((0..2000).map(|i| key(1, i)).collect());
        assert_eq!(store.len(), 2000);
        assert_eq!(store.find(&[1; 32], 0), Some(0));
        store.extend(vec![key(2, 0), key(2, 1)]);
        assert_eq!(store.len(), 2000);
        assert_eq!(store.find(&[1; 32], 0), None);
        assert_eq!(store.find(&[1; 32], 1), None);
        assert_eq!(store.find(&[1; 32], 2), Some(0));
        assert_eq!(store.find(&[2; 32], 1), Some(1999));
        store.remove(0);
        assert_eq!(store.find(&[1; 32], 2), None);
        assert_eq!(store.len(), 1999);
    }
}
