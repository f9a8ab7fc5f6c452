//! An established session: the Double Ratchet with deferred sending step (design: "Double
//! Ratchet").
//!
//! ```text
//! header (41 bytes) = 0x01 ‖ ratchet_key (32) ‖ PN (u32) ‖ N (u32)
//! AAD (169 bytes)   = session AD (128) ‖ header
//! ciphertext        = AES-256-GCM(key, nonce from message_keys(mk), pad(plaintext), AAD) ‖ tag
//! ```
//!
//! Receiving a new ratchet key does the receiving half of the DH step only; the sending half
//! (new ratchet key pair, `KDF_RK`) runs on the next `encrypt`, with the injected RNG. So
//! `decrypt` needs no randomness and a DH-step decrypt costs a single X25519.

use core::fmt;
use std::collections::VecDeque;

use aes_gcm::{
    Aes256Gcm, Nonce,
    aead::{AeadInOut, KeyInit, Tag},
};
use rand_core::CryptoRng;
use remit_wire::{
    limits::TAG_LEN,
    session::{Envelope, PreKeyMessage, RatchetMessage},
};
use zeroize::Zeroizing;

use crate::{
    error::{DecryptError, EncryptError},
    identity::VerifiedIdentity,
    kdf::{ChainKey, MessageKey, RootKey, diffie_hellman},
    padding::{pad_into, padded_len, unpad},
    prekeys::{Hex, KeyPair},
    skipped::{MAX_PREVIOUS_CHAINS, MAX_SKIP, PreviousChain, SkippedKey, SkippedKeys},
};

/// Length of the session associated data: both identities, initiator first.
pub(crate) const AD_LEN: usize = 128;
/// Length of the authenticated message header.
pub(crate) const HEADER_LEN: usize = 41;
/// The header version byte.
const HEADER_VERSION: u8 = 0x01;

/// A Double Ratchet session with one peer.
///
/// Made by [`Account::initiate`](crate::Account::initiate) or
/// [`Account::accept`](crate::Account::accept); saved and restored with
/// [`Session::to_bytes`] / [`Session::from_bytes`]. A failed `decrypt` leaves it unchanged.
pub struct Session {
    pub(crate) local_identity: VerifiedIdentity,
    pub(crate) peer_identity: VerifiedIdentity,
    pub(crate) initiator: bool,
    pub(crate) ad: [u8; AD_LEN],
    /// Responder: the base key (EK_A) of the prekey message that created this session.
    pub(crate) remote_base_key: Option<[u8; 32]>,
    /// Initiator, until the first message from the peer decrypts.
    pub(crate) pending_prekey: Option<PendingPreKey>,
    pub(crate) root_key: RootKey,
    /// DHs, with its public key cached.
    pub(crate) our_ratchet: KeyPair,
    pub(crate) sending: Sending,
    /// DHr. (At the start: the responder's signed prekey, on both sides, with no chain.)
    pub(crate) remote_ratchet: [u8; 32],
    pub(crate) receiving: Option<ReceivingChain>,
    pub(crate) previous_chains: VecDeque<PreviousChain>,
    pub(crate) skipped: SkippedKeys,
}

/// What the initiator repeats in every message until it hears back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PendingPreKey {
    pub(crate) base_key: [u8; 32],
    pub(crate) signed_prekey_id: u32,
    pub(crate) one_time_prekey_id: Option<u32>,
}

/// The sending half of the ratchet.
pub(crate) enum Sending {
    /// A new remote ratchet key arrived (or nothing was sent yet): the next encrypt makes a new
    /// ratchet key pair first. The old sending chain key is already deleted.
    Pending { previous_counter: u32 },
    /// The current sending chain: CKs, Ns and PN.
    Active {
        chain: ChainKey,
        counter: u32,
        previous_counter: u32,
    },
}

/// The receiving chain of the current remote ratchet key: CKr and Nr.
pub(crate) struct ReceivingChain {
    pub(crate) chain: ChainKey,
    pub(crate) counter: u32,
}

/// The result of processing a message in locals, committed only after authentication.
enum Commit {
    /// Next message on the current chain, possibly after skipping some.
    Chain {
        chain: ChainKey,
        counter: u32,
        skipped: Vec<SkippedKey>,
    },
    /// A stored skipped key was used.
    Stored { index: usize },
    /// A new remote ratchet key.
    Step {
        root_key: RootKey,
        remote_ratchet: [u8; 32],
        chain: ChainKey,
        counter: u32,
        previous: Option<PreviousChain>,
        skipped: Vec<SkippedKey>,
    },
}

impl Session {
    /// The initiator's session right after X3DH: `(RK, CKs) = KDF_RK(SK, DH(DHs, SPK_B))`.
    pub(crate) fn new_initiator(
        local_identity: VerifiedIdentity,
        peer_identity: VerifiedIdentity,
        shared_secret: &RootKey,
        our_ratchet: KeyPair,
        remote_signed_prekey: [u8; 32],
        pending: PendingPreKey,
    ) -> Option<Self> {
        let dh = diffie_hellman(our_ratchet.secret(), &remote_signed_prekey)?;
        let (root_key, chain) = shared_secret.advance(&dh);
        Some(Self {
            ad: associated_data(&local_identity, &peer_identity),
            local_identity,
            peer_identity,
            initiator: true,
            remote_base_key: None,
            pending_prekey: Some(pending),
            root_key,
            our_ratchet,
            sending: Sending::Active {
                chain,
                counter: 0,
                previous_counter: 0,
            },
            remote_ratchet: remote_signed_prekey,
            receiving: None,
            previous_chains: VecDeque::new(),
            skipped: SkippedKeys::default(),
        })
    }

    /// The responder's session before its first message: `RK = SK`, `DHs` = its signed prekey,
    /// no chains.
    pub(crate) fn new_responder(
        local_identity: VerifiedIdentity,
        peer_identity: VerifiedIdentity,
        shared_secret: RootKey,
        signed_prekey: KeyPair,
        base_key: [u8; 32],
    ) -> Self {
        Self {
            ad: associated_data(&peer_identity, &local_identity),
            local_identity,
            peer_identity,
            initiator: false,
            remote_base_key: Some(base_key),
            pending_prekey: None,
            root_key: shared_secret,
            remote_ratchet: *signed_prekey.public(),
            our_ratchet: signed_prekey,
            sending: Sending::Pending {
                previous_counter: 0,
            },
            receiving: None,
            previous_chains: VecDeque::new(),
            skipped: SkippedKeys::default(),
        }
    }

    /// The peer's verified identity.
    #[must_use]
    pub fn peer_identity(&self) -> &VerifiedIdentity {
        &self.peer_identity
    }

    /// Our own identity in this session.
    #[must_use]
    pub fn local_identity(&self) -> &VerifiedIdentity {
        &self.local_identity
    }

    /// Whether we started this session.
    #[must_use]
    pub fn is_initiator(&self) -> bool {
        self.initiator
    }

    /// Whether `encrypt` still produces prekey envelopes (the initiator has not heard back).
    #[must_use]
    pub fn sends_prekey_messages(&self) -> bool {
        self.pending_prekey.is_some()
    }

    /// Whether a prekey message belongs to this session: the same peer identity and the base
    /// key that created it (the initiator resending before it heard back).
    #[must_use]
    pub fn matches_prekey(&self, message: &PreKeyMessage) -> bool {
        let peer = self.peer_identity.as_wire();
        self.remote_base_key == Some(message.base_key)
            && message.identity.signing_key == peer.signing_key
            && message.identity.agreement_key == peer.agreement_key
    }

    /// Encrypts one message: a prekey envelope until the peer's first message has decrypted,
    /// then a plain ratchet message.
    ///
    /// # Errors
    /// [`EncryptError::TooLarge`] above `MAX_PLAINTEXT_LEN`, [`EncryptError::ChainExhausted`]
    /// after `u32::MAX` messages on one chain. The session is unchanged on error.
    pub fn encrypt<R: CryptoRng + ?Sized>(
        &mut self,
        plaintext: &[u8],
        rng: &mut R,
    ) -> Result<Envelope, EncryptError> {
        let padded = padded_len(plaintext.len())?;
        if let Sending::Pending { previous_counter } = self.sending {
            let pair = KeyPair::generate(rng);
            let dh = diffie_hellman(pair.secret(), &self.remote_ratchet)
                .ok_or(EncryptError::NonContributory)?;
            let (root_key, chain) = self.root_key.advance(&dh);
            self.root_key = root_key;
            self.our_ratchet = pair;
            self.sending = Sending::Active {
                chain,
                counter: 0,
                previous_counter,
            };
        }
        let Sending::Active {
            chain,
            counter,
            previous_counter,
        } = &mut self.sending
        else {
            // Unreachable: the branch above made the chain active.
            return Err(EncryptError::ChainExhausted);
        };
        if *counter == u32::MAX {
            return Err(EncryptError::ChainExhausted);
        }
        let header = header_bytes(self.our_ratchet.public(), *previous_counter, *counter);
        let (message_key, next_chain) = chain.derive();
        let ciphertext = seal(message_key, &self.ad, &header, plaintext, padded)?;
        chain.set(&next_chain);
        let message = RatchetMessage {
            ratchet_key: *self.our_ratchet.public(),
            previous_counter: *previous_counter,
            counter: *counter,
            ciphertext,
        };
        *counter += 1;
        Ok(match &self.pending_prekey {
            Some(p) => Envelope::PreKey(PreKeyMessage {
                identity: *self.local_identity.as_wire(),
                base_key: p.base_key,
                signed_prekey_id: p.signed_prekey_id,
                one_time_prekey_id: p.one_time_prekey_id,
                message,
            }),
            None => Envelope::Message(message),
        })
    }

    /// Decrypts one envelope. A prekey envelope must [match](Self::matches_prekey) this
    /// session.
    ///
    /// # Errors
    /// Any [`DecryptError`]; the session is byte-for-byte unchanged on error.
    ///
    /// ```
    /// use rand::{SeedableRng, rngs::ChaCha20Rng};
    /// use remit_session::{Account, VerifiedBundle};
    /// use remit_wire::session::Envelope;
    ///
    /// let mut rng = ChaCha20Rng::seed_from_u64(7); // an OS-seeded CryptoRng in production
    /// let (alice, mut bob) = (Account::new(&mut rng, 0), Account::new(&mut rng, 0));
    /// let mut to_bob = alice.initiate(&VerifiedBundle::verify(&bob.bundle(None))?, &mut rng)?;
    /// let Envelope::PreKey(first) = to_bob.encrypt(b"hello", &mut rng)? else { unreachable!() };
    /// let (mut to_alice, _) = bob.accept(&first)?;
    ///
    /// let Envelope::Message(mut reply) = to_alice.encrypt(b"hi", &mut rng)? else { unreachable!() };
    /// // A tampered envelope fails, and the session is exactly what it was before.
    /// let before = to_bob.to_bytes();
    /// reply.ciphertext[0] ^= 1;
    /// assert!(to_bob.decrypt(&Envelope::Message(reply.clone())).is_err());
    /// assert_eq!(to_bob.to_bytes(), before);
    /// // The untampered one still decrypts.
    /// reply.ciphertext[0] ^= 1;
    /// assert_eq!(to_bob.decrypt(&Envelope::Message(reply))?.as_slice(), b"hi");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn decrypt(&mut self, envelope: &Envelope) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
        let message = match envelope {
            Envelope::PreKey(m) if self.matches_prekey(m) => &m.message,
            Envelope::Message(m) => m,
            _ => return Err(DecryptError::NotForThisSession),
        };
        self.decrypt_message(message)
    }

    /// Decrypts a ratchet message: compute in locals, authenticate, then commit.
    pub(crate) fn decrypt_message(
        &mut self,
        m: &RatchetMessage,
    ) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
        let header = header_bytes(&m.ratchet_key, m.previous_counter, m.counter);
        // An honest sender never uses counter u32::MAX (ChainExhausted).
        let next = m
            .counter
            .checked_add(1)
            .ok_or(DecryptError::DecryptFailed)?;
        let (plaintext, commit) = if m.ratchet_key == self.remote_ratchet {
            let Some(receiving) = &self.receiving else {
                return Err(DecryptError::DecryptFailed);
            };
            if m.counter < receiving.counter {
                self.open_stored(m, &header)?
            } else if m.counter == receiving.counter {
                // The fast path: the next message of the current chain.
                let (mk, next_chain) = receiving.chain.derive();
                let plaintext = open(mk, &self.ad, &header, m)?;
                if let Some(r) = &mut self.receiving {
                    r.chain.set(&next_chain);
                    r.counter = next;
                }
                self.on_success();
                return Ok(plaintext);
            } else {
                let needed = m.counter - receiving.counter;
                if needed > MAX_SKIP {
                    return Err(too_far(u64::from(needed)));
                }
                let mut chain = receiving.chain.clone();
                let mut skipped = Vec::with_capacity(usize::try_from(needed).unwrap_or(0));
                skip(
                    &mut chain,
                    &m.ratchet_key,
                    receiving.counter,
                    m.counter,
                    &mut skipped,
                );
                let mk = chain.message_key();
                chain.step();
                (
                    open(mk, &self.ad, &header, m)?,
                    Commit::Chain {
                        chain,
                        counter: next,
                        skipped,
                    },
                )
            }
        } else if let Some(index) = self.skipped.find(&m.ratchet_key, m.counter) {
            // A late message of an older chain (possibly one no longer in previous_chains).
            self.open_stored_at(m, &header, index)?
        } else if self
            .previous_chains
            .iter()
            .any(|c| c.ratchet_key == m.ratchet_key)
        {
            // spec/ratchet.md §4.6: an old chain without a stored key is a duplicate (the final
            // counter is kept for diagnostics only).
            return Err(DecryptError::Duplicate);
        } else {
            self.dh_step(m, &header, next)?
        };
        self.commit(commit);
        self.on_success();
        Ok(plaintext)
    }

    /// An earlier message of the current chain: its key must be stored, else it is a
    /// duplicate.
    fn open_stored(
        &self,
        m: &RatchetMessage,
        header: &[u8; HEADER_LEN],
    ) -> Result<(Zeroizing<Vec<u8>>, Commit), DecryptError> {
        let index = self
            .skipped
            .find(&m.ratchet_key, m.counter)
            .ok_or(DecryptError::Duplicate)?;
        self.open_stored_at(m, header, index)
    }

    fn open_stored_at(
        &self,
        m: &RatchetMessage,
        header: &[u8; HEADER_LEN],
        index: usize,
    ) -> Result<(Zeroizing<Vec<u8>>, Commit), DecryptError> {
        let stored = self.skipped.get(index).ok_or(DecryptError::DecryptFailed)?;
        let plaintext = open(stored.key.duplicate(), &self.ad, header, m)?;
        Ok((plaintext, Commit::Stored { index }))
    }

    /// A new remote ratchet key: skip the old chain to PN, `KDF_RK`, skip the new chain to N.
    fn dh_step(
        &self,
        m: &RatchetMessage,
        header: &[u8; HEADER_LEN],
        next: u32,
    ) -> Result<(Zeroizing<Vec<u8>>, Commit), DecryptError> {
        let old_gap = self
            .receiving
            .as_ref()
            .map_or(0, |r| m.previous_counter.saturating_sub(r.counter));
        let needed = u64::from(old_gap) + u64::from(m.counter);
        if needed > u64::from(MAX_SKIP) {
            return Err(too_far(needed));
        }
        let dh = diffie_hellman(self.our_ratchet.secret(), &m.ratchet_key)
            .ok_or(DecryptError::NonContributory)?;
        let mut skipped = Vec::new();
        let previous = match &self.receiving {
            Some(r) => {
                let mut old = r.chain.clone();
                skip(
                    &mut old,
                    &self.remote_ratchet,
                    r.counter,
                    m.previous_counter,
                    &mut skipped,
                );
                Some(PreviousChain {
                    ratchet_key: self.remote_ratchet,
                    final_counter: r.counter.max(m.previous_counter),
                })
            }
            None => None,
        };
        let (root_key, mut chain) = self.root_key.advance(&dh);
        skip(&mut chain, &m.ratchet_key, 0, m.counter, &mut skipped);
        let mk = chain.message_key();
        chain.step();
        let plaintext = open(mk, &self.ad, header, m)?;
        Ok((
            plaintext,
            Commit::Step {
                root_key,
                remote_ratchet: m.ratchet_key,
                chain,
                counter: next,
                previous,
                skipped,
            },
        ))
    }

    fn commit(&mut self, commit: Commit) {
        match commit {
            Commit::Chain {
                chain,
                counter,
                skipped,
            } => {
                self.receiving = Some(ReceivingChain { chain, counter });
                self.skipped.extend(skipped);
            }
            Commit::Stored { index } => self.skipped.remove(index),
            Commit::Step {
                root_key,
                remote_ratchet,
                chain,
                counter,
                previous,
                skipped,
            } => {
                if let Some(previous) = previous {
                    if self.previous_chains.len() >= MAX_PREVIOUS_CHAINS {
                        self.previous_chains.pop_front();
                    }
                    self.previous_chains.push_back(previous);
                }
                self.skipped.extend(skipped);
                self.root_key = root_key;
                self.remote_ratchet = remote_ratchet;
                self.receiving = Some(ReceivingChain { chain, counter });
                if let Sending::Active { counter, .. } = self.sending {
                    self.sending = Sending::Pending {
                        previous_counter: counter,
                    };
                }
            }
        }
    }

    fn on_success(&mut self) {
        self.pending_prekey = None;
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            local_identity,
            peer_identity,
            initiator,
            ad: _,
            remote_base_key: _,
            pending_prekey,
            root_key: _,
            our_ratchet,
            sending,
            remote_ratchet,
            receiving,
            previous_chains,
            skipped,
        } = self;
        let (sending_counter, previous_counter, send_step_pending) = match sending {
            Sending::Pending { previous_counter } => (0, *previous_counter, true),
            Sending::Active {
                chain: _,
                counter,
                previous_counter,
            } => (*counter, *previous_counter, false),
        };
        f.debug_struct("Session")
            .field("local_identity", local_identity)
            .field("peer_identity", peer_identity)
            .field("initiator", initiator)
            .field("sends_prekey_messages", &pending_prekey.is_some())
            .field("our_ratchet", our_ratchet)
            .field("send_step_pending", &send_step_pending)
            .field("sending_counter", &sending_counter)
            .field("previous_counter", &previous_counter)
            .field("remote_ratchet", &Hex(remote_ratchet))
            .field("receiving_counter", &receiving.as_ref().map(|r| r.counter))
            .field("previous_chains", &previous_chains.len())
            .field("skipped_keys", &skipped.len())
            .finish_non_exhaustive()
    }
}

/// Session AD: `IK_A.sig ‖ IK_A.dh ‖ IK_B.sig ‖ IK_B.dh`, initiator A first.
pub(crate) fn associated_data(
    initiator: &VerifiedIdentity,
    responder: &VerifiedIdentity,
) -> [u8; AD_LEN] {
    let mut ad = [0u8; AD_LEN];
    for (slot, key) in ad.chunks_exact_mut(32).zip([
        initiator.signing_key(),
        initiator.agreement_key(),
        responder.signing_key(),
        responder.agreement_key(),
    ]) {
        slot.copy_from_slice(key);
    }
    ad
}

/// `0x01 ‖ ratchet_key ‖ PN ‖ N`.
pub(crate) fn header_bytes(ratchet_key: &[u8; 32], pn: u32, n: u32) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    let (version, rest) = h.split_at_mut(1);
    version.copy_from_slice(&[HEADER_VERSION]);
    let (key, rest) = rest.split_at_mut(32);
    key.copy_from_slice(ratchet_key);
    let (pn_bytes, n_bytes) = rest.split_at_mut(4);
    pn_bytes.copy_from_slice(&pn.to_be_bytes());
    n_bytes.copy_from_slice(&n.to_be_bytes());
    h
}

fn aad(ad: &[u8; AD_LEN], header: &[u8; HEADER_LEN]) -> [u8; AD_LEN + HEADER_LEN] {
    let mut out = [0u8; AD_LEN + HEADER_LEN];
    let (a, h) = out.split_at_mut(AD_LEN);
    a.copy_from_slice(ad);
    h.copy_from_slice(header);
    out
}

/// Derives the keys `from..to` of a chain into `out`, advancing `chain` to index `to`.
fn skip(
    chain: &mut ChainKey,
    ratchet_key: &[u8; 32],
    from: u32,
    to: u32,
    out: &mut Vec<SkippedKey>,
) {
    for counter in from..to {
        out.push(SkippedKey {
            ratchet_key: *ratchet_key,
            counter,
            key: chain.message_key(),
        });
        chain.step();
    }
}

fn too_far(needed: u64) -> DecryptError {
    DecryptError::TooFarAhead {
        needed,
        max: MAX_SKIP,
    }
}

/// Pads and encrypts; returns ciphertext ‖ tag in one allocation.
fn seal(
    mk: MessageKey,
    ad: &[u8; AD_LEN],
    header: &[u8; HEADER_LEN],
    plaintext: &[u8],
    padded: usize,
) -> Result<Vec<u8>, EncryptError> {
    let keys = mk.expand();
    let too_large = || EncryptError::TooLarge {
        len: plaintext.len(),
        max: padded,
    };
    let cipher = Aes256Gcm::new_from_slice(&keys.key).map_err(|_| too_large())?;
    let mut buf = Vec::with_capacity(padded + TAG_LEN);
    pad_into(plaintext, padded, &mut buf);
    // AES-GCM fails only for inputs over 2^36 bytes; padded is at most 64 KiB.
    let tag = cipher
        .encrypt_inout_detached(
            &Nonce::from(keys.nonce),
            &aad(ad, header),
            buf.as_mut_slice().into(),
        )
        .map_err(|_| too_large())?;
    buf.extend_from_slice(tag.as_slice());
    Ok(buf)
}

/// Authenticates, decrypts and unpads.
fn open(
    mk: MessageKey,
    ad: &[u8; AD_LEN],
    header: &[u8; HEADER_LEN],
    m: &RatchetMessage,
) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
    let (body, tag) = m
        .ciphertext
        .split_last_chunk::<TAG_LEN>()
        .ok_or(DecryptError::DecryptFailed)?;
    let keys = mk.expand();
    let cipher = Aes256Gcm::new_from_slice(&keys.key).map_err(|_| DecryptError::DecryptFailed)?;
    let mut buf = Zeroizing::new(body.to_vec());
    cipher
        .decrypt_inout_detached(
            &Nonce::from(keys.nonce),
            &aad(ad, header),
            buf.as_mut_slice().into(),
            &Tag::<Aes256Gcm>::from(*tag),
        )
        .map_err(|_| DecryptError::DecryptFailed)?;
    unpad(&mut buf)?;
    Ok(buf)
}

#[cfg(test)]
mod tests;
