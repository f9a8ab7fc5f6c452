//! What the engine publishes to the relay. The engine decides (when to top up one-time
//! prekeys, how many, and that every connection republishes the identity and signed prekey);
//! the transport only sends what [`Engine::poll_prekey_publication`] hands it and reports the
//! relay's answers back.

use rand_core::CryptoRng;
use remit_wire::{limits::MAX_PREKEYS_PER_PUBLISH, v1};

use super::Engine;
use crate::{error::ClientError, store::Store};

/// When and how one-time prekeys are topped up at the relay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PreKeyPolicy {
    /// Top up when the relay holds fewer one-time prekeys than this.
    pub min_one_time_prekeys: u32,
    /// How many one top-up publishes (at most `MAX_PREKEYS_PER_PUBLISH`, and never more than
    /// the account may hold).
    pub batch: usize,
}

impl PreKeyPolicy {
    /// Top up below `min_one_time_prekeys`, `batch` keys at a time.
    #[must_use]
    pub fn new(min_one_time_prekeys: u32, batch: usize) -> Self {
        Self {
            min_one_time_prekeys,
            batch,
        }
    }
}

impl Default for PreKeyPolicy {
    /// Below 20, 50 at a time.
    fn default() -> Self {
        Self::new(20, 50)
    }
}

/// The relay's prekeys of ours, as the current connection reported them.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct RelayView {
    /// One-time prekeys the relay holds, as last reported, minus those seen used since.
    /// `None` without a connection.
    held: Option<u32>,
    /// The identity and signed prekey are still to be published on this connection.
    identity_due: bool,
}

impl RelayView {
    pub(super) fn note_used(&mut self, used: usize) {
        if let Some(held) = &mut self.held {
            *held = held.saturating_sub(u32::try_from(used).unwrap_or(u32::MAX));
        }
    }
}

impl<S: Store> Engine<S> {
    /// A relay connection authenticated, and the relay holds `one_time_prekeys_left` of our
    /// one-time prekeys. The next [`Engine::poll_prekey_publication`] republishes the identity
    /// and signed prekey (every connection does, so a relay that lost its directory gets them
    /// back) and tops up one-time prekeys if they run low.
    pub fn handle_relay_connected(&mut self, one_time_prekeys_left: u32) {
        self.relay = RelayView {
            held: Some(one_time_prekeys_left),
            identity_due: true,
        };
    }

    /// The relay answered a publication: it now holds `one_time_prekeys_left`. An answer
    /// that arrives after [`Engine::handle_relay_disconnected`] is ignored.
    pub fn handle_prekeys_published(&mut self, one_time_prekeys_left: u32) {
        if self.relay.held.is_some() {
            self.relay.held = Some(one_time_prekeys_left);
        }
    }

    /// The relay connection is gone: nothing is published until the next one.
    pub fn handle_relay_disconnected(&mut self) {
        self.relay = RelayView::default();
    }

    /// What to publish to the relay now, if anything: the identity and signed prekey once per
    /// connection, with a batch of new one-time prekeys (generated and committed here) when the
    /// relay holds fewer than `policy.min_one_time_prekeys`. The transport sends it and reports
    /// the answer with [`Engine::handle_prekeys_published`]. One-time prekeys the relay hands
    /// out are counted as they arrive in first messages ([`Engine::handle_envelope`]).
    ///
    /// # Errors
    /// A store or record error while committing the new keys; nothing changed.
    pub fn poll_prekey_publication<R: CryptoRng + ?Sized>(
        &mut self,
        policy: &PreKeyPolicy,
        rng: &mut R,
    ) -> Result<Option<v1::PublishPreKeys>, ClientError> {
        let Some(held) = self.relay.held else {
            return Ok(None);
        };
        let low = held < policy.min_one_time_prekeys;
        if !low && !self.relay.identity_due {
            return Ok(None);
        }
        let keys = if low {
            let room =
                remit_session::MAX_ONE_TIME_PREKEYS.saturating_sub(self.one_time_prekey_count());
            let n = policy.batch.min(MAX_PREKEYS_PER_PUBLISH).min(room);
            self.generate_one_time_prekeys(n, rng)?
        } else {
            Vec::new()
        };
        let bundle = self.bundle(None);
        self.relay.identity_due = false;
        // Counted as published; the relay's answer corrects the count.
        self.relay.held = Some(held.saturating_add(u32::try_from(keys.len()).unwrap_or(u32::MAX)));
        Ok(Some(v1::PublishPreKeys {
            identity: Some((&bundle.identity).into()),
            signed_prekey: Some((&bundle.signed_prekey).into()),
            one_time_prekeys: keys.iter().map(Into::into).collect(),
        }))
    }
}
