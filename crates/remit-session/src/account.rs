//! The account: identity secrets, prekeys, the replay set, and the X3DH handshake (design:
//! "Prekeys", "X3DH").
//!
//! ```text
//! DH1 = DH(IK_A.dh, SPK_B)   DH2 = DH(EK_A, IK_B.dh)   DH3 = DH(EK_A, SPK_B)   [DH4 = DH(EK_A, OPK_B)]
//! SK  = HKDF-SHA256(salt = 0^32, IKM = 0xFF^32 ‖ DH1 ‖ DH2 ‖ DH3 [‖ DH4], info = "remit.v1.x3dh\0")
//! AD  = IK_A.sig ‖ IK_A.dh ‖ IK_B.sig ‖ IK_B.dh
//! ```

use core::fmt;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rand_core::CryptoRng;
use remit_wire::session::{OneTimePreKey, PreKeyBundle, PreKeyMessage, SignedPreKey};
use x25519_dalek::StaticSecret;
use zeroize::Zeroizing;

use crate::{
    error::{HandshakeError, PreKeyError, SignError},
    identity::{
        Fingerprint, IdentityKeyPair, VerifiedIdentity, check_statement_context, statement,
    },
    kdf::{RootKey, diffie_hellman, x3dh_secret},
    prekeys::{KeyPair, SignedPreKeyPair, VerifiedBundle},
    session::{PendingPreKey, Session},
};

/// How long a replaced signed prekey is still accepted: 14 days, enough for a message sent
/// just before a rotation to sit in an offline recipient's mailbox.
pub const SIGNED_PREKEY_OVERLAP_SECS: u64 = 14 * 24 * 60 * 60;

/// Most replaced signed prekeys kept at once (oldest dropped first): weekly rotation with the
/// 14-day overlap needs two or three; four bounds the cost of frequent manual rotation.
pub const MAX_OLD_SIGNED_PREKEYS: usize = 4;

/// Most one-time prekeys held privately. Generation beyond it is an error, not a silent
/// eviction (an evicted key that is still published would make a handshake fail).
pub const MAX_ONE_TIME_PREKEYS: usize = 1000;

/// Most base keys remembered to reject replayed prekey messages that used no one-time prekey;
/// the oldest is evicted first. 10,000 × 36 bytes bounds the set at about 360 KB.
pub const MAX_SEEN_BASE_KEYS: usize = 10_000;

/// A party's long-term state: identity, signed prekeys (current and retained old ones),
/// one-time prekeys and the replay set. Saved with [`Account::to_bytes`].
pub struct Account {
    pub(crate) identity: IdentityKeyPair,
    pub(crate) signed_prekey: SignedPreKeyPair,
    /// Replaced signed prekeys with the time they were replaced, oldest first.
    pub(crate) old_signed_prekeys: VecDeque<(SignedPreKeyPair, u64)>,
    pub(crate) one_time_prekeys: BTreeMap<u32, KeyPair>,
    pub(crate) next_signed_prekey_id: u32,
    pub(crate) next_one_time_prekey_id: u32,
    pub(crate) seen_base_keys: SeenBaseKeys,
}

/// The bounded replay set of `(signed prekey id, base key)`, FIFO.
#[derive(Default, Clone)]
pub(crate) struct SeenBaseKeys {
    pub(crate) order: VecDeque<(u32, [u8; 32])>,
    pub(crate) set: BTreeSet<(u32, [u8; 32])>,
}

impl SeenBaseKeys {
    pub(crate) fn contains(&self, entry: &(u32, [u8; 32])) -> bool {
        self.set.contains(entry)
    }

    /// Records an entry, evicting the oldest beyond [`MAX_SEEN_BASE_KEYS`]. Returns false if it
    /// was already present.
    pub(crate) fn insert(&mut self, entry: (u32, [u8; 32])) -> bool {
        if !self.set.insert(entry) {
            return false;
        }
        self.order.push_back(entry);
        while self.order.len() > MAX_SEEN_BASE_KEYS {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }

    fn forget_signed_prekey(&mut self, id: u32) {
        self.order.retain(|(spk, _)| *spk != id);
        self.set.retain(|(spk, _)| *spk != id);
    }
}

impl Account {
    /// A new account: identity keys, then the first signed prekey (id 1, created `now`).
    pub fn new<R: CryptoRng + ?Sized>(rng: &mut R, now: u64) -> Self {
        let identity = IdentityKeyPair::generate(rng);
        let signed_prekey = SignedPreKeyPair::new(&identity, 1, now, KeyPair::generate(rng));
        Self {
            identity,
            signed_prekey,
            old_signed_prekeys: VecDeque::new(),
            one_time_prekeys: BTreeMap::new(),
            next_signed_prekey_id: 2,
            next_one_time_prekey_id: 1,
            seen_base_keys: SeenBaseKeys::default(),
        }
    }

    /// Our public identity.
    #[must_use]
    pub fn identity(&self) -> &VerifiedIdentity {
        self.identity.public()
    }

    /// Our identity's fingerprint.
    #[must_use]
    pub fn fingerprint(&self) -> Fingerprint {
        self.identity.public().fingerprint()
    }

    /// Signs a statement of a layer above the session (a payment request, a receipt) with the
    /// identity's Ed25519 key: the signature is over exactly `context ‖ digest`, where `digest`
    /// is the caller's 32-byte hash of its document. The peer checks it with
    /// [`VerifiedIdentity::verify_statement`]. spec/handshake.md §3.5.
    ///
    /// This is the only way to sign with the identity key from outside this crate, and it is
    /// narrow on purpose: `context` must start with `"remit.v1."`, end with exactly one 0x00
    /// byte (no other 0x00), be at most `MAX_STATEMENT_CONTEXT_LEN` (64) bytes, and not be one
    /// of the session's own contexts. With those rules a statement signed here can never equal
    /// a binding or signed-prekey statement: the contexts differ (each context is recoverable
    /// as the bytes up to the first 0x00) and so do the fixed lengths (`context ‖ 32` against
    /// `context ‖ 64` and `context ‖ 44`). Different layers must register different contexts
    /// (spec/README.md §1.3). Ed25519 signing is deterministic: no randomness is needed.
    ///
    /// # Errors
    /// A [`SignError`] naming the rule `context` breaks; nothing is signed.
    pub fn sign_statement(&self, context: &[u8], digest: &[u8; 32]) -> Result<[u8; 64], SignError> {
        check_statement_context(context)?;
        Ok(self.identity.sign(&statement(context, digest)))
    }

    /// The current signed prekey, as published.
    #[must_use]
    pub fn signed_prekey(&self) -> SignedPreKey {
        self.signed_prekey.public()
    }

    /// How many one-time prekeys are held (generated and not yet used).
    #[must_use]
    pub fn one_time_prekey_count(&self) -> usize {
        self.one_time_prekeys.len()
    }

    /// Generates `n` one-time prekeys and returns their public halves to publish.
    ///
    /// # Errors
    /// [`PreKeyError::TooManyOneTimePreKeys`] if more than `MAX_ONE_TIME_PREKEYS` would be
    /// held, [`PreKeyError::IdsExhausted`] if the ids ran out. Nothing changes on error.
    pub fn generate_one_time_prekeys<R: CryptoRng + ?Sized>(
        &mut self,
        n: usize,
        rng: &mut R,
    ) -> Result<Vec<OneTimePreKey>, PreKeyError> {
        let held = self.one_time_prekeys.len();
        if n > MAX_ONE_TIME_PREKEYS.saturating_sub(held) {
            return Err(PreKeyError::TooManyOneTimePreKeys {
                held,
                requested: n,
                max: MAX_ONE_TIME_PREKEYS,
            });
        }
        let count = u32::try_from(n).map_err(|_| PreKeyError::IdsExhausted)?;
        let next_free = self
            .next_one_time_prekey_id
            .checked_add(count)
            .ok_or(PreKeyError::IdsExhausted)?;
        let mut out = Vec::with_capacity(n);
        for id in self.next_one_time_prekey_id..next_free {
            let pair = KeyPair::generate(rng);
            out.push(OneTimePreKey {
                id,
                public_key: *pair.public(),
            });
            self.one_time_prekeys.insert(id, pair);
        }
        self.next_one_time_prekey_id = next_free;
        Ok(out)
    }

    /// Makes a new current signed prekey (created `now`); the old one is retained for
    /// `SIGNED_PREKEY_OVERLAP_SECS`, at most `MAX_OLD_SIGNED_PREKEYS` of them.
    ///
    /// # Errors
    /// [`PreKeyError::IdsExhausted`] after `u32::MAX` rotations.
    pub fn rotate_signed_prekey<R: CryptoRng + ?Sized>(
        &mut self,
        now: u64,
        rng: &mut R,
    ) -> Result<SignedPreKey, PreKeyError> {
        let id = self.next_signed_prekey_id;
        let next = id.checked_add(1).ok_or(PreKeyError::IdsExhausted)?;
        let new = SignedPreKeyPair::new(&self.identity, id, now, KeyPair::generate(rng));
        let old = core::mem::replace(&mut self.signed_prekey, new);
        self.next_signed_prekey_id = next;
        self.old_signed_prekeys.push_back((old, now));
        while self.old_signed_prekeys.len() > MAX_OLD_SIGNED_PREKEYS {
            if let Some((dropped, _)) = self.old_signed_prekeys.pop_front() {
                self.seen_base_keys.forget_signed_prekey(dropped.id);
            }
        }
        Ok(self.signed_prekey.public())
    }

    /// Drops the old signed prekeys replaced at least `SIGNED_PREKEY_OVERLAP_SECS` before
    /// `now`, with their replay-set entries.
    pub fn prune(&mut self, now: u64) {
        let mut expired = Vec::new();
        self.old_signed_prekeys.retain(|(spk, replaced_at)| {
            let keep = now < replaced_at.saturating_add(SIGNED_PREKEY_OVERLAP_SECS);
            if !keep {
                expired.push(spk.id);
            }
            keep
        });
        for id in expired {
            self.seen_base_keys.forget_signed_prekey(id);
        }
    }

    /// The bundle to publish: identity, current signed prekey, and the given one-time prekey.
    #[must_use]
    pub fn bundle(&self, one_time_prekey: Option<OneTimePreKey>) -> PreKeyBundle {
        PreKeyBundle {
            identity: *self.identity.public().as_wire(),
            signed_prekey: self.signed_prekey.public(),
            one_time_prekey,
        }
    }

    /// Starts a session with the owner of a verified bundle (we are A, the initiator).
    /// Randomness: the base key EK_A first, then the first ratchet key pair.
    ///
    /// # Errors
    /// [`HandshakeError::NonContributory`] if a bundle key is of low order.
    pub fn initiate<R: CryptoRng + ?Sized>(
        &self,
        bundle: &VerifiedBundle,
        rng: &mut R,
    ) -> Result<Session, HandshakeError> {
        let base_key = KeyPair::generate(rng);
        let spk = bundle.signed_prekey();
        let opk = bundle.one_time_prekey();
        let peer = bundle.identity();
        let ek = base_key.secret();
        let sk = x3dh(
            [
                (self.identity.agreement(), &spk.public_key),
                (ek, peer.agreement_key()),
                (ek, &spk.public_key),
            ],
            opk.map(|k| (ek, &k.public_key)),
        )?;
        let pending = PendingPreKey {
            base_key: *base_key.public(),
            signed_prekey_id: spk.id,
            one_time_prekey_id: opk.map(|k| k.id),
        };
        Session::new_initiator(
            *self.identity.public(),
            *peer,
            &sk,
            KeyPair::generate(rng),
            spk.public_key,
            pending,
        )
        .ok_or(HandshakeError::NonContributory)
    }

    /// Accepts a prekey message (we are B, the responder) and decrypts its first message.
    ///
    /// The one-time prekey is deleted, or the base key recorded in the replay set, only if that
    /// message decrypts. Any error leaves the account unchanged.
    ///
    /// # Errors
    /// Any [`HandshakeError`].
    pub fn accept(
        &mut self,
        message: &PreKeyMessage,
    ) -> Result<(Session, Zeroizing<Vec<u8>>), HandshakeError> {
        let peer = VerifiedIdentity::verify(&message.identity)?;
        if !is_canonical_prime_order(&message.base_key) {
            return Err(HandshakeError::InvalidBaseKey);
        }
        let spk_id = message.signed_prekey_id;
        let spk = self.find_signed_prekey(spk_id)?;
        let opk = match message.one_time_prekey_id {
            Some(id) => Some(
                self.one_time_prekeys
                    .get(&id)
                    .ok_or(HandshakeError::UnknownOneTimePreKey { id })?,
            ),
            None => {
                if self.seen_base_keys.contains(&(spk_id, message.base_key)) {
                    return Err(HandshakeError::ReplayedPreKeyMessage);
                }
                None
            }
        };
        let ek = &message.base_key;
        let sk = x3dh(
            [
                (spk.key.secret(), peer.agreement_key()),
                (self.identity.agreement(), ek),
                (spk.key.secret(), ek),
            ],
            opk.map(|k| (k.secret(), ek)),
        )?;
        let mut session = Session::new_responder(
            *self.identity.public(),
            peer,
            sk,
            spk.key.clone(),
            message.base_key,
        );
        let plaintext = session.decrypt_message(&message.message)?;
        match message.one_time_prekey_id {
            Some(id) => drop(self.one_time_prekeys.remove(&id)),
            None => {
                self.seen_base_keys.insert((spk_id, message.base_key));
            }
        }
        Ok((session, plaintext))
    }

    fn find_signed_prekey(&self, id: u32) -> Result<&SignedPreKeyPair, HandshakeError> {
        if self.signed_prekey.id == id {
            return Ok(&self.signed_prekey);
        }
        self.old_signed_prekeys
            .iter()
            .map(|(spk, _)| spk)
            .find(|spk| spk.id == id)
            .ok_or(HandshakeError::UnknownSignedPreKey { id })
    }
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            identity,
            signed_prekey,
            old_signed_prekeys,
            one_time_prekeys,
            next_signed_prekey_id,
            next_one_time_prekey_id,
            seen_base_keys,
        } = self;
        f.debug_struct("Account")
            .field("identity", identity)
            .field("signed_prekey", signed_prekey)
            .field("old_signed_prekeys", &old_signed_prekeys.len())
            .field("one_time_prekeys", &one_time_prekeys.len())
            .field("next_signed_prekey_id", next_signed_prekey_id)
            .field("next_one_time_prekey_id", next_one_time_prekey_id)
            .field("seen_base_keys", &seen_base_keys.order.len())
            .finish()
    }
}

/// Whether `u` is the canonical encoding of a point of Curve25519's prime-order subgroup
/// (spec/handshake.md §6.3.2): bit 255 clear, `u < p`, on the curve (not the twist) and
/// torsion-free. Every honestly generated X25519 public key passes.
fn is_canonical_prime_order(u: &[u8; 32]) -> bool {
    // p = 2^255 − 19, little-endian.
    const P: [u8; 32] = {
        let mut p = [0xff; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        p
    };
    // Little-endian u < p (this also rejects bit 255 set, since p's top byte is 0x7f).
    let below_p = u
        .iter()
        .zip(P.iter())
        .rev()
        .find(|(a, b)| a != b)
        .is_some_and(|(a, b)| a < b);
    below_p
        && curve25519_dalek::montgomery::MontgomeryPoint(*u)
            .to_edwards(0)
            .is_some_and(|point| point.is_torsion_free())
}

/// Computes SK from the four (or three) DH pairs, in order DH1, DH2, DH3 [, DH4]. Every output
/// must be contributory.
fn x3dh(
    pairs: [(&StaticSecret, &[u8; 32]); 3],
    dh4: Option<(&StaticSecret, &[u8; 32])>,
) -> Result<RootKey, HandshakeError> {
    let dh = |(secret, public): (&StaticSecret, &[u8; 32])| {
        diffie_hellman(secret, public).ok_or(HandshakeError::NonContributory)
    };
    let [p1, p2, p3] = pairs;
    let (dh1, dh2, dh3) = (dh(p1)?, dh(p2)?, dh(p3)?);
    Ok(match dh4.map(dh).transpose()? {
        Some(dh4) => x3dh_secret(&[&dh1, &dh2, &dh3, &dh4]),
        None => x3dh_secret(&[&dh1, &dh2, &dh3]),
    })
}

#[cfg(test)]
mod tests {
    use rand::{SeedableRng, rngs::ChaCha20Rng};
    use remit_wire::session::Envelope;

    use super::*;
    use crate::error::DecryptError;

    const NOW: u64 = 1_700_000_000;

    fn rng() -> ChaCha20Rng {
        ChaCha20Rng::seed_from_u64(99)
    }

    fn prekey(e: Envelope) -> PreKeyMessage {
        match e {
            Envelope::PreKey(m) => m,
            other => panic!("expected a prekey envelope, got {other:?}"),
        }
    }

    /// Alice's first prekey message to Bob, using the given bundle.
    fn first_message(
        alice: &Account,
        bundle: &PreKeyBundle,
        rng: &mut ChaCha20Rng,
    ) -> (Session, PreKeyMessage) {
        let verified = VerifiedBundle::verify(bundle).unwrap();
        let mut session = alice.initiate(&verified, rng).unwrap();
        let m = prekey(session.encrypt(b"first", rng).unwrap());
        (session, m)
    }

    fn assert_accept_fails(bob: &mut Account, m: &PreKeyMessage, expected: HandshakeError) {
        let before = bob.to_bytes();
        assert_eq!(bob.accept(m).map(|(_, p)| p.to_vec()).err(), Some(expected));
        assert_eq!(*bob.to_bytes(), *before, "account changed");
    }

    #[test]
    fn one_time_prekey_is_consumed_exactly_once() {
        let mut rng = rng();
        let alice = Account::new(&mut rng, NOW);
        let mut bob = Account::new(&mut rng, NOW);
        let opks = bob.generate_one_time_prekeys(3, &mut rng).unwrap();
        assert_eq!(opks.iter().map(|k| k.id).collect::<Vec<_>>(), [1, 2, 3]);
        let (_, m) = first_message(&alice, &bob.bundle(Some(opks[1])), &mut rng);
        assert_eq!(m.one_time_prekey_id, Some(2));
        let (_, pt) = bob.accept(&m).unwrap();
        assert_eq!(pt.as_slice(), b"first");
        assert_eq!(bob.one_time_prekey_count(), 2);
        assert_accept_fails(&mut bob, &m, HandshakeError::UnknownOneTimePreKey { id: 2 });
    }

    #[test]
    fn replay_without_one_time_prekey_is_detected() {
        let mut rng = rng();
        let alice = Account::new(&mut rng, NOW);
        let mut bob = Account::new(&mut rng, NOW);
        let (_, m) = first_message(&alice, &bob.bundle(None), &mut rng);
        bob.accept(&m).unwrap();
        assert_accept_fails(&mut bob, &m, HandshakeError::ReplayedPreKeyMessage);
        // Survives a save and load.
        let mut restored = Account::from_bytes(&bob.to_bytes()).unwrap();
        assert_accept_fails(&mut restored, &m, HandshakeError::ReplayedPreKeyMessage);
    }

    #[test]
    fn failed_accepts_leave_the_account_unchanged() {
        let mut rng = rng();
        let alice = Account::new(&mut rng, NOW);
        let mut bob = Account::new(&mut rng, NOW);
        let opks = bob.generate_one_time_prekeys(2, &mut rng).unwrap();
        let (_, good) = first_message(&alice, &bob.bundle(Some(opks[0])), &mut rng);

        let mut m = good.clone();
        m.message.ciphertext[3] ^= 1;
        assert_accept_fails(
            &mut bob,
            &m,
            HandshakeError::Decrypt(DecryptError::DecryptFailed),
        );
        let mut m = good.clone();
        m.identity.binding_signature[0] ^= 1;
        assert_accept_fails(&mut bob, &m, HandshakeError::BadIdentitySignature);
        let mut m = good.clone();
        m.signed_prekey_id = 77;
        assert_accept_fails(&mut bob, &m, HandshakeError::UnknownSignedPreKey { id: 77 });
        let mut m = good.clone();
        m.one_time_prekey_id = Some(500);
        assert_accept_fails(
            &mut bob,
            &m,
            HandshakeError::UnknownOneTimePreKey { id: 500 },
        );
        // Claiming the other one-time prekey: SK differs, so the first message fails.
        let mut m = good.clone();
        m.one_time_prekey_id = Some(opks[1].id);
        assert_accept_fails(
            &mut bob,
            &m,
            HandshakeError::Decrypt(DecryptError::DecryptFailed),
        );
        // Claiming no one-time prekey.
        let mut m = good.clone();
        m.one_time_prekey_id = None;
        assert_accept_fails(
            &mut bob,
            &m,
            HandshakeError::Decrypt(DecryptError::DecryptFailed),
        );
        // Low-order, non-canonical, twist and torsioned base keys (§6.3.2).
        for key in invalid_base_keys(&good.base_key) {
            let mut m = good.clone();
            m.base_key = key;
            assert_accept_fails(&mut bob, &m, HandshakeError::InvalidBaseKey);
        }
        // Non-contributory ratchet key in the first message.
        let mut m = good.clone();
        m.message.ratchet_key = [0; 32];
        assert_accept_fails(
            &mut bob,
            &m,
            HandshakeError::Decrypt(DecryptError::NonContributory),
        );
        // The untouched message still works afterwards.
        assert_eq!(bob.accept(&good).unwrap().1.as_slice(), b"first");
    }

    /// Encodings the responder must refuse as base keys.
    fn invalid_base_keys(valid: &[u8; 32]) -> Vec<[u8; 32]> {
        let mut one = [0u8; 32];
        one[0] = 1; // order 4
        let mut top_bit = *valid;
        top_bit[31] |= 0x80; // same shared secrets, different bytes
        let mut p_plus = [0xffu8; 32]; // p + 0 encoded non-canonically: 2^255 − 19 … (≥ p)
        p_plus[0] = 0xed;
        p_plus[31] = 0x7f;
        let mut twist = [0u8; 32];
        twist[0] = 2; // u = 2 is on the twist
        // valid + a point of order 8: same DH outputs with a clamped scalar.
        let torsioned = (curve25519_dalek::montgomery::MontgomeryPoint(*valid)
            .to_edwards(0)
            .unwrap()
            + curve25519_dalek::constants::EIGHT_TORSION[1])
            .to_montgomery()
            .to_bytes();
        vec![[0u8; 32], one, top_bit, p_plus, twist, torsioned]
    }

    #[test]
    fn base_key_canonicality() {
        let mut rng = rng();
        for _ in 0..20 {
            let honest = *KeyPair::generate(&mut rng).public();
            assert!(is_canonical_prime_order(&honest));
            for bad in invalid_base_keys(&honest) {
                assert!(!is_canonical_prime_order(&bad), "{}", hex::encode(bad));
            }
        }
    }

    #[test]
    fn initiate_rejects_low_order_bundle_keys() {
        let mut rng = rng();
        let alice = Account::new(&mut rng, NOW);
        let mut bob = Account::new(&mut rng, NOW);
        let opk = bob.generate_one_time_prekeys(1, &mut rng).unwrap()[0];
        let mut bundle = bob.bundle(Some(OneTimePreKey {
            id: opk.id,
            public_key: [0; 32],
        }));
        let verified = VerifiedBundle::verify(&bundle).unwrap();
        assert_eq!(
            alice.initiate(&verified, &mut rng).err(),
            Some(HandshakeError::NonContributory)
        );
        // A signed prekey of low order, validly signed by a (malicious) responder.
        let spk = SignedPreKeyPair::new(&bob.identity, 9, NOW, KeyPair::from_bytes(&[1; 32]));
        let mut low = spk.public();
        low.public_key = [0; 32];
        low.signature = bob
            .identity
            .sign(&crate::prekeys::signed_prekey_statement(9, NOW, &[0; 32]));
        bundle.signed_prekey = low;
        bundle.one_time_prekey = None;
        let verified = VerifiedBundle::verify(&bundle).unwrap();
        assert_eq!(
            alice.initiate(&verified, &mut rng).err(),
            Some(HandshakeError::NonContributory)
        );
    }

    #[test]
    fn signed_prekey_rotation_overlap_and_prune() {
        let mut rng = rng();
        let alice = Account::new(&mut rng, NOW);
        let mut bob = Account::new(&mut rng, NOW);
        let old_bundle = bob.bundle(None);
        let (_, in_flight) = first_message(&alice, &old_bundle, &mut rng);
        let (_, late) = first_message(&alice, &old_bundle, &mut rng);
        let new = bob.rotate_signed_prekey(NOW + 100, &mut rng).unwrap();
        assert_eq!(new.id, 2);
        assert_eq!(bob.signed_prekey(), new);
        // Within the overlap: accepted.
        bob.prune(NOW + 100 + SIGNED_PREKEY_OVERLAP_SECS - 1);
        assert_eq!(bob.accept(&in_flight).unwrap().1.as_slice(), b"first");
        assert_eq!(bob.seen_base_keys.order.len(), 1);
        // After the overlap: pruned, with its replay entries.
        bob.prune(NOW + 100 + SIGNED_PREKEY_OVERLAP_SECS);
        assert_eq!(bob.seen_base_keys.order.len(), 0);
        assert_accept_fails(
            &mut bob,
            &late,
            HandshakeError::UnknownSignedPreKey { id: 1 },
        );
        // The new one works.
        let (_, m) = first_message(&alice, &bob.bundle(None), &mut rng);
        assert!(bob.accept(&m).is_ok());
    }

    #[test]
    fn at_most_four_old_signed_prekeys_are_kept() {
        let mut rng = rng();
        let mut bob = Account::new(&mut rng, NOW);
        for i in 1..=6 {
            bob.rotate_signed_prekey(NOW + i, &mut rng).unwrap();
        }
        let ids: Vec<u32> = bob.old_signed_prekeys.iter().map(|(s, _)| s.id).collect();
        assert_eq!(ids, [3, 4, 5, 6]);
        assert_eq!(bob.signed_prekey().id, 7);
    }

    #[test]
    fn one_time_prekey_limit_is_an_error() {
        let mut rng = rng();
        let mut bob = Account::new(&mut rng, NOW);
        bob.generate_one_time_prekeys(999, &mut rng).unwrap();
        let before = bob.to_bytes();
        assert_eq!(
            bob.generate_one_time_prekeys(2, &mut rng),
            Err(PreKeyError::TooManyOneTimePreKeys {
                held: 999,
                requested: 2,
                max: 1000
            })
        );
        assert_eq!(*bob.to_bytes(), *before);
        assert_eq!(
            bob.generate_one_time_prekeys(1, &mut rng).unwrap()[0].id,
            1000
        );
        assert_eq!(bob.one_time_prekey_count(), 1000);
    }

    #[test]
    fn replay_set_is_bounded_fifo() {
        let mut seen = SeenBaseKeys::default();
        for i in 0..=MAX_SEEN_BASE_KEYS {
            let mut key = [0u8; 32];
            key[..8].copy_from_slice(&(i as u64).to_be_bytes());
            assert!(seen.insert((1, key)));
        }
        assert_eq!(seen.order.len(), MAX_SEEN_BASE_KEYS);
        assert_eq!(seen.set.len(), MAX_SEEN_BASE_KEYS);
        assert!(!seen.contains(&(1, [0; 32])));
        let mut last = [0u8; 32];
        last[..8].copy_from_slice(&(MAX_SEEN_BASE_KEYS as u64).to_be_bytes());
        assert!(seen.contains(&(1, last)));
        assert!(!seen.insert((1, last)));
    }

    const CONTEXT: &[u8] = b"remit.v1.payment-request\0";

    #[test]
    fn sign_statement_round_trips_and_signs_exactly_context_and_digest() {
        let mut rng = rng();
        let alice = Account::new(&mut rng, NOW);
        let digest = [0x42; 32];
        let sig = alice.sign_statement(CONTEXT, &digest).unwrap();
        assert!(alice.identity().verify_statement(CONTEXT, &digest, &sig));
        // Exactly context ‖ digest, as any Ed25519 library checks it.
        let mut message = CONTEXT.to_vec();
        message.extend_from_slice(&digest);
        let key = ed25519_dalek::VerifyingKey::from_bytes(alice.identity().signing_key()).unwrap();
        key.verify_strict(&message, &ed25519_dalek::Signature::from_bytes(&sig))
            .unwrap();
        // Deterministic.
        assert_eq!(alice.sign_statement(CONTEXT, &digest).unwrap(), sig);
    }

    #[test]
    fn verify_statement_rejects_wrong_context_digest_signer_or_signature() {
        let mut rng = rng();
        let alice = Account::new(&mut rng, NOW);
        let bob = Account::new(&mut rng, NOW);
        let digest = [0x42; 32];
        let sig = alice.sign_statement(CONTEXT, &digest).unwrap();
        let id = alice.identity();
        assert!(!id.verify_statement(b"remit.v1.receipt\0", &digest, &sig));
        assert!(!id.verify_statement(b"remit.v1.payment-request", &digest, &sig));
        let mut other = digest;
        other[31] ^= 1;
        assert!(!id.verify_statement(CONTEXT, &other, &sig));
        assert!(!bob.identity().verify_statement(CONTEXT, &digest, &sig));
        let mut flipped = sig;
        flipped[0] ^= 1;
        assert!(!id.verify_statement(CONTEXT, &digest, &flipped));
    }

    #[test]
    fn sign_statement_refuses_bad_contexts() {
        let mut rng = rng();
        let alice = Account::new(&mut rng, NOW);
        let before = alice.to_bytes();
        let digest = [7; 32];
        let cases: [(&[u8], SignError); 7] = [
            (b"remit.v2.receipt\0", SignError::MissingPrefix),
            (b"", SignError::MissingPrefix),
            (b"remit.v1.receipt", SignError::MissingTerminator),
            (b"remit.v1.receipt\0\0", SignError::InteriorNul),
            (b"remit.v1.rec\0eipt\0", SignError::InteriorNul),
            (
                &[b"remit.v1.".as_slice(), &[b'a'; 55], b"\0"].concat(),
                SignError::TooLong { len: 65, max: 64 },
            ),
            (b"remit.v1.identity-binding\0", SignError::ReservedContext),
        ];
        for (context, error) in cases {
            assert_eq!(
                alice.sign_statement(context, &digest),
                Err(error),
                "{}",
                String::from_utf8_lossy(context)
            );
        }
        // Exactly 64 bytes is accepted.
        let longest = [b"remit.v1.".as_slice(), &[b'a'; 54], b"\0"].concat();
        assert_eq!(longest.len(), crate::MAX_STATEMENT_CONTEXT_LEN);
        let sig = alice.sign_statement(&longest, &digest).unwrap();
        assert!(alice.identity().verify_statement(&longest, &digest, &sig));
        assert_eq!(*alice.to_bytes(), *before);
    }

    #[test]
    fn sign_statement_refuses_every_session_context() {
        let mut rng = rng();
        let alice = Account::new(&mut rng, NOW);
        let session_contexts: [&[u8]; 7] = [
            b"remit.v1.identity-binding\0",
            b"remit.v1.signed-prekey\0",
            b"remit.v1.fingerprint\0",
            b"remit.v1.safety-number\0",
            b"remit.v1.x3dh\0",
            b"remit.v1.ratchet-root\0",
            b"remit.v1.message-keys\0",
        ];
        for context in session_contexts {
            assert_eq!(
                alice.sign_statement(context, &[0; 32]),
                Err(SignError::ReservedContext)
            );
            // Nor does a session context verify through verify_statement.
            let sig = alice.identity.sign(&statement(context, &[0; 32]));
            assert!(!alice.identity().verify_statement(context, &[0; 32], &sig));
        }
        // The list matches the real statements and KDF infos.
        let spk = crate::prekeys::signed_prekey_statement(1, NOW, &[0; 32]);
        assert_eq!(&spk[..23], session_contexts[1]);
        assert_eq!(crate::kdf::INFO_X3DH, session_contexts[4]);
        assert_eq!(crate::kdf::INFO_ROOT, session_contexts[5]);
        assert_eq!(crate::kdf::INFO_MESSAGE_KEYS, session_contexts[6]);
    }

    #[test]
    fn a_statement_never_equals_a_binding_or_signed_prekey_statement() {
        // The binding statement is 90 bytes and the signed-prekey statement 67; a statement of
        // another layer with the same length has a context that is not a session context, and
        // its first 0x00 is elsewhere.
        let mut rng = rng();
        let alice = Account::new(&mut rng, NOW);
        let spk = crate::prekeys::signed_prekey_statement(1, NOW, &[0; 32]);
        let mut binding = b"remit.v1.identity-binding\0".to_vec();
        binding.extend_from_slice(alice.identity().signing_key());
        binding.extend_from_slice(alice.identity().agreement_key());
        for session_statement in [binding.as_slice(), spk.as_slice()] {
            let first_nul = session_statement.iter().position(|b| *b == 0).unwrap();
            let context = &session_statement[..=first_nul];
            assert_eq!(
                alice.sign_statement(context, &[0; 32]),
                Err(SignError::ReservedContext)
            );
            assert_ne!(session_statement.len(), context.len() + 32);
        }
    }
}
