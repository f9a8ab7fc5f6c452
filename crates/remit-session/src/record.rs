//! Versioned byte records of [`Session`] and [`Account`] (design: "Session state record").
//!
//! All integers big-endian, keys raw 32 bytes, flags one byte (0 or 1), counts u16 checked
//! against their limits before anything is read. Records hold secrets: the caller's store
//! encrypts them at rest, and every buffer here is zeroized.
//!
//! ```text
//! session v1 = "RMSS" ‖ version u16 = 1
//!   ‖ local identity (sig 32 ‖ dh 32 ‖ binding 64) ‖ peer identity (same) ‖ initiator flag
//!   ‖ flag [‖ remote base key 32]
//!   ‖ flag [‖ pending prekey: base key 32 ‖ spk id u32 ‖ flag [‖ opk id u32]]
//!   ‖ root key 32 ‖ our ratchet secret 32 ‖ our ratchet public key 32
//!   ‖ sending: 0x00 ‖ PN u32  |  0x01 ‖ CKs 32 ‖ Ns u32 ‖ PN u32
//!   ‖ remote ratchet key 32 ‖ flag [‖ CKr 32 ‖ Nr u32]
//!   ‖ count u16 (≤ MAX_PREVIOUS_CHAINS) × (ratchet key 32 ‖ final counter u32)
//!   ‖ count u16 (≤ MAX_SKIPPED_KEYS) × (ratchet key 32 ‖ counter u32 ‖ mk 32), oldest first
//! account v1 = "RMSA" ‖ version u16 = 1
//!   ‖ identity signing secret 32 ‖ identity agreement secret 32
//!   ‖ next signed prekey id u32 ‖ next one-time prekey id u32
//!   ‖ current signed prekey: id u32 ‖ created_at u64 ‖ secret 32
//!   ‖ count u16 (≤ MAX_OLD_SIGNED_PREKEYS) × (id u32 ‖ created_at u64 ‖ secret 32 ‖ replaced_at u64)
//!   ‖ count u16 (≤ MAX_ONE_TIME_PREKEYS) × (id u32 ‖ secret 32), ascending ids
//!   ‖ count u16 (≤ MAX_SEEN_BASE_KEYS) × (spk id u32 ‖ base key 32), oldest first
//! ```
//! Account records: signatures (identity binding, signed prekeys) are deterministic Ed25519 and
//! recomputed on load; public keys are recomputed from the secrets.
//!
//! Session records are loaded on the path of every message, so loading one checks structure and
//! limits but repeats no public-key operation: the identities' binding signatures were verified
//! before the record was written, and our ratchet public key is stored beside its secret. A
//! record is the library's own output, and the caller's store authenticates it at rest.

use std::collections::{BTreeMap, VecDeque};

use remit_wire::{DecodeError, Reader, session::IdentityKey};
use zeroize::Zeroizing;

use crate::{
    account::{
        Account, MAX_OLD_SIGNED_PREKEYS, MAX_ONE_TIME_PREKEYS, MAX_SEEN_BASE_KEYS, SeenBaseKeys,
    },
    error::RecordError,
    identity::{IdentityKeyPair, VerifiedIdentity},
    kdf::{ChainKey, MessageKey, RootKey},
    prekeys::{KeyPair, SignedPreKeyPair},
    session::{PendingPreKey, ReceivingChain, Sending, Session, associated_data},
    skipped::{MAX_PREVIOUS_CHAINS, MAX_SKIPPED_KEYS, PreviousChain, SkippedKey, SkippedKeys},
};

/// The record version this library reads and writes.
pub const RECORD_VERSION: u16 = 1;

const SESSION_MAGIC: [u8; 4] = *b"RMSS";
const ACCOUNT_MAGIC: [u8; 4] = *b"RMSA";
const SESSION: &str = "SessionRecord";
const ACCOUNT: &str = "AccountRecord";

impl Session {
    /// Serializes the whole session state (it contains secrets: encrypt it at rest).
    #[must_use]
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut w = Writer::new(SESSION_MAGIC, 832 + self.skipped.len() * 68);
        identity(&mut w, self.local_identity.as_wire());
        identity(&mut w, self.peer_identity.as_wire());
        w.flag(self.initiator);
        w.flag(self.remote_base_key.is_some());
        if let Some(k) = &self.remote_base_key {
            w.put(k);
        }
        w.flag(self.pending_prekey.is_some());
        if let Some(p) = &self.pending_prekey {
            w.put(&p.base_key);
            w.u32(p.signed_prekey_id);
            w.flag(p.one_time_prekey_id.is_some());
            if let Some(id) = p.one_time_prekey_id {
                w.u32(id);
            }
        }
        w.put(self.root_key.as_bytes());
        w.put(self.our_ratchet.secret_bytes());
        w.put(self.our_ratchet.public());
        match &self.sending {
            Sending::Pending { previous_counter } => {
                w.put(&[0]);
                w.u32(*previous_counter);
            }
            Sending::Active {
                chain,
                counter,
                previous_counter,
            } => {
                w.put(&[1]);
                w.put(chain.as_bytes());
                w.u32(*counter);
                w.u32(*previous_counter);
            }
        }
        w.put(&self.remote_ratchet);
        w.flag(self.receiving.is_some());
        if let Some(r) = &self.receiving {
            w.put(r.chain.as_bytes());
            w.u32(r.counter);
        }
        w.count(self.previous_chains.len());
        for c in &self.previous_chains {
            w.put(&c.ratchet_key);
            w.u32(c.final_counter);
        }
        w.count(self.skipped.len());
        for k in self.skipped.iter() {
            w.put(&k.ratchet_key);
            w.u32(k.counter);
            w.put(k.key.as_bytes());
        }
        w.finish()
    }

    /// Restores a session from [`Session::to_bytes`].
    ///
    /// # Errors
    /// Any [`RecordError`]: bad magic, unknown version, truncation, trailing bytes, a count over
    /// its limit, an identity that does not verify, or contradictory fields.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, RecordError> {
        let mut r = open(SESSION, SESSION_MAGIC, bytes)?;
        let local_identity = trusted_identity(&mut r)?;
        let peer_identity = trusted_identity(&mut r)?;
        let initiator = r.bool("initiator")?;
        let remote_base_key = if r.bool("remote_base_key")? {
            Some(r.array()?)
        } else {
            None
        };
        let pending_prekey = if r.bool("pending_prekey")? {
            let base_key = r.array()?;
            let signed_prekey_id = r.u32()?;
            let one_time_prekey_id = if r.bool("one_time_prekey_id")? {
                Some(r.u32()?)
            } else {
                None
            };
            Some(PendingPreKey {
                base_key,
                signed_prekey_id,
                one_time_prekey_id,
            })
        } else {
            None
        };
        if initiator == remote_base_key.is_some() {
            return Err(RecordError::Inconsistent {
                field: "remote_base_key",
            });
        }
        if !initiator && pending_prekey.is_some() {
            return Err(RecordError::Inconsistent {
                field: "pending_prekey",
            });
        }
        let root_key = RootKey::from_bytes(r.array()?);
        let our_ratchet = KeyPair::from_record(&*secret(&mut r)?, r.array()?);
        let sending = match r.u8()? {
            0 => Sending::Pending {
                previous_counter: r.u32()?,
            },
            1 => Sending::Active {
                chain: ChainKey::from_bytes(r.array()?),
                counter: r.u32()?,
                previous_counter: r.u32()?,
            },
            other => {
                return Err(RecordError::Decode(DecodeError::OutOfRange {
                    what: SESSION,
                    field: "sending",
                    got: u64::from(other),
                    min: 0,
                    max: 1,
                }));
            }
        };
        let remote_ratchet = r.array()?;
        let receiving = if r.bool("receiving")? {
            Some(ReceivingChain {
                chain: ChainKey::from_bytes(r.array()?),
                counter: r.u32()?,
            })
        } else {
            None
        };
        let n = count(&mut r, "previous_chains", MAX_PREVIOUS_CHAINS)?;
        let mut previous_chains = VecDeque::with_capacity(n);
        for _ in 0..n {
            previous_chains.push_back(PreviousChain {
                ratchet_key: r.array()?,
                final_counter: r.u32()?,
            });
        }
        let n = count(&mut r, "skipped_keys", MAX_SKIPPED_KEYS)?;
        let mut skipped = SkippedKeys::default();
        for _ in 0..n {
            let ratchet_key = r.array()?;
            let counter = r.u32()?;
            let key = MessageKey::from_bytes(r.array()?);
            skipped.push(SkippedKey {
                ratchet_key,
                counter,
                key,
            });
        }
        r.finish()?;
        let ad = if initiator {
            associated_data(&local_identity, &peer_identity)
        } else {
            associated_data(&peer_identity, &local_identity)
        };
        Ok(Self {
            local_identity,
            peer_identity,
            initiator,
            ad,
            remote_base_key,
            pending_prekey,
            root_key,
            our_ratchet,
            sending,
            remote_ratchet,
            receiving,
            previous_chains,
            skipped,
        })
    }
}

impl Account {
    /// Serializes the account (it contains the identity secrets: encrypt it at rest).
    #[must_use]
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut w = Writer::new(
            ACCOUNT_MAGIC,
            400 + self.one_time_prekeys.len() * 36 + self.seen_base_keys.order.len() * 36,
        );
        w.put(self.identity.signing_secret());
        w.put(self.identity.agreement_secret());
        w.u32(self.next_signed_prekey_id);
        w.u32(self.next_one_time_prekey_id);
        signed_prekey(&mut w, &self.signed_prekey);
        w.count(self.old_signed_prekeys.len());
        for (spk, replaced_at) in &self.old_signed_prekeys {
            signed_prekey(&mut w, spk);
            w.u64(*replaced_at);
        }
        w.count(self.one_time_prekeys.len());
        for (id, pair) in &self.one_time_prekeys {
            w.u32(*id);
            w.put(pair.secret_bytes());
        }
        w.count(self.seen_base_keys.order.len());
        for (id, key) in &self.seen_base_keys.order {
            w.u32(*id);
            w.put(key);
        }
        w.finish()
    }

    /// Restores an account from [`Account::to_bytes`].
    ///
    /// # Errors
    /// Any [`RecordError`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, RecordError> {
        let mut r = open(ACCOUNT, ACCOUNT_MAGIC, bytes)?;
        let signing = secret(&mut r)?;
        let agreement = secret(&mut r)?;
        let identity = IdentityKeyPair::from_secrets(&signing, &agreement);
        let next_signed_prekey_id = r.u32()?;
        let next_one_time_prekey_id = r.u32()?;
        let read_spk = |r: &mut Reader<'_>| -> Result<SignedPreKeyPair, RecordError> {
            let id = r.u32()?;
            let created_at = r.u64()?;
            let key = KeyPair::from_bytes(&*secret(r)?);
            if id >= next_signed_prekey_id {
                return Err(RecordError::Inconsistent {
                    field: "signed_prekey_id",
                });
            }
            Ok(SignedPreKeyPair::new(&identity, id, created_at, key))
        };
        let current = read_spk(&mut r)?;
        let n = count(&mut r, "old_signed_prekeys", MAX_OLD_SIGNED_PREKEYS)?;
        let mut old_signed_prekeys: VecDeque<(SignedPreKeyPair, u64)> = VecDeque::with_capacity(n);
        for _ in 0..n {
            let spk = read_spk(&mut r)?;
            let replaced_at = r.u64()?;
            if spk.id == current.id || old_signed_prekeys.iter().any(|(o, _)| o.id == spk.id) {
                return Err(RecordError::Inconsistent {
                    field: "signed_prekey_id",
                });
            }
            old_signed_prekeys.push_back((spk, replaced_at));
        }
        let n = count(&mut r, "one_time_prekeys", MAX_ONE_TIME_PREKEYS)?;
        let mut one_time_prekeys = BTreeMap::new();
        for _ in 0..n {
            let id = r.u32()?;
            let key = KeyPair::from_bytes(&*secret(&mut r)?);
            // Strictly ascending ids (as written): unique, and one state has one encoding.
            let ascending = one_time_prekeys
                .last_key_value()
                .is_none_or(|(last, _): (&u32, _)| *last < id);
            if id >= next_one_time_prekey_id || !ascending {
                return Err(RecordError::Inconsistent {
                    field: "one_time_prekey_id",
                });
            }
            one_time_prekeys.insert(id, key);
        }
        let n = count(&mut r, "seen_base_keys", MAX_SEEN_BASE_KEYS)?;
        let mut seen_base_keys = SeenBaseKeys::default();
        for _ in 0..n {
            let id = r.u32()?;
            let key = r.array()?;
            if !seen_base_keys.insert((id, key)) {
                return Err(RecordError::Inconsistent {
                    field: "seen_base_keys",
                });
            }
        }
        r.finish()?;
        Ok(Self {
            identity,
            signed_prekey: current,
            old_signed_prekeys,
            one_time_prekeys,
            next_signed_prekey_id,
            next_one_time_prekey_id,
            seen_base_keys,
        })
    }
}

/// Checks magic and version; returns a reader positioned after them.
fn open<'a>(
    what: &'static str,
    magic: [u8; 4],
    bytes: &'a [u8],
) -> Result<Reader<'a>, RecordError> {
    let mut r = Reader::new(what, bytes);
    let record = if what == SESSION {
        "session"
    } else {
        "account"
    };
    if r.array::<4>()
        .map_err(|_| RecordError::BadMagic { what: record })?
        != magic
    {
        return Err(RecordError::BadMagic { what: record });
    }
    let version = r.u16()?;
    if version != RECORD_VERSION {
        return Err(RecordError::UnknownVersion {
            got: version,
            supported: RECORD_VERSION,
        });
    }
    Ok(r)
}

/// Reads a u16 count and checks it against `max`.
fn count(r: &mut Reader<'_>, field: &'static str, max: usize) -> Result<usize, RecordError> {
    let got = usize::from(r.u16()?);
    if got > max {
        return Err(RecordError::LimitExceeded { field, got, max });
    }
    Ok(got)
}

fn secret(r: &mut Reader<'_>) -> Result<Zeroizing<[u8; 32]>, RecordError> {
    Ok(Zeroizing::new(r.array()?))
}

fn trusted_identity(r: &mut Reader<'_>) -> Result<VerifiedIdentity, RecordError> {
    Ok(VerifiedIdentity::from_trusted_record(IdentityKey {
        signing_key: r.array()?,
        agreement_key: r.array()?,
        binding_signature: r.array()?,
    }))
}

fn identity(w: &mut Writer, key: &IdentityKey) {
    w.put(&key.signing_key);
    w.put(&key.agreement_key);
    w.put(&key.binding_signature);
}

fn signed_prekey(w: &mut Writer, spk: &SignedPreKeyPair) {
    w.u32(spk.id);
    w.u64(spk.created_at);
    w.put(spk.key.secret_bytes());
}

/// Appends fields to a zeroized buffer. It is allocated once with enough capacity, so it never
/// reallocates (which would leave a copy of secrets in freed memory).
struct Writer(Zeroizing<Vec<u8>>);

impl Writer {
    fn new(magic: [u8; 4], capacity: usize) -> Self {
        let mut w = Self(Zeroizing::new(Vec::with_capacity(capacity)));
        w.put(&magic);
        w.put(&RECORD_VERSION.to_be_bytes());
        w
    }

    fn put(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }

    fn flag(&mut self, value: bool) {
        self.put(&[u8::from(value)]);
    }

    fn u32(&mut self, value: u32) {
        self.put(&value.to_be_bytes());
    }

    fn u64(&mut self, value: u64) {
        self.put(&value.to_be_bytes());
    }

    /// Writes a count; every caller's container is bounded far below `u16::MAX`.
    fn count(&mut self, n: usize) {
        self.put(&u16::try_from(n).unwrap_or(u16::MAX).to_be_bytes());
    }

    fn finish(self) -> Zeroizing<Vec<u8>> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use rand::{SeedableRng, rngs::ChaCha20Rng};
    use remit_wire::session::Envelope;

    use super::*;
    use crate::VerifiedBundle;

    const NOW: u64 = 1_700_000_000;

    /// (Alice's account, Bob's account with prekeys and a replay entry, Bob's session with a
    /// skipped key and a previous chain).
    fn fixtures() -> (Account, Account, Session) {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let alice = Account::new(&mut rng, NOW);
        let mut bob = Account::new(&mut rng, NOW);
        bob.generate_one_time_prekeys(3, &mut rng).unwrap();
        bob.rotate_signed_prekey(NOW + 1, &mut rng).unwrap();
        let bundle = VerifiedBundle::verify(&bob.bundle(None)).unwrap();
        let mut a = alice.initiate(&bundle, &mut rng).unwrap();
        let Envelope::PreKey(m) = a.encrypt(b"1", &mut rng).unwrap() else {
            panic!()
        };
        let (mut b, _) = bob.accept(&m).unwrap();
        let r = b.encrypt(b"r", &mut rng).unwrap();
        a.decrypt(&r).unwrap();
        let _lost = a.encrypt(b"2", &mut rng).unwrap();
        let m3 = a.encrypt(b"3", &mut rng).unwrap();
        b.decrypt(&m3).unwrap();
        assert_eq!(b.skipped.len(), 1);
        assert_eq!(b.previous_chains.len(), 1);
        (alice, bob, b)
    }

    fn session_err(bytes: &[u8]) -> RecordError {
        Session::from_bytes(bytes).err().unwrap()
    }

    fn account_err(bytes: &[u8]) -> RecordError {
        Account::from_bytes(bytes).err().unwrap()
    }

    #[test]
    fn round_trips_are_byte_exact() {
        let (alice, bob, session) = fixtures();
        for account in [&alice, &bob] {
            let bytes = account.to_bytes();
            assert_eq!(&bytes[..6], b"RMSA\x00\x01");
            assert_eq!(*Account::from_bytes(&bytes).unwrap().to_bytes(), *bytes);
        }
        let bytes = session.to_bytes();
        assert_eq!(&bytes[..6], b"RMSS\x00\x01");
        assert_eq!(*Session::from_bytes(&bytes).unwrap().to_bytes(), *bytes);
    }

    #[test]
    fn unknown_version_and_bad_magic() {
        let (_, bob, session) = fixtures();
        let mut s = session.to_bytes().to_vec();
        s[5] = 2;
        assert_eq!(
            session_err(&s),
            RecordError::UnknownVersion {
                got: 2,
                supported: 1
            }
        );
        s[5] = 1;
        s[0] = b'X';
        assert_eq!(session_err(&s), RecordError::BadMagic { what: "session" });
        // An account record is not a session record, and vice versa.
        assert_eq!(
            session_err(&bob.to_bytes()),
            RecordError::BadMagic { what: "session" }
        );
        assert_eq!(
            account_err(&session.to_bytes()),
            RecordError::BadMagic { what: "account" }
        );
        let mut a = bob.to_bytes().to_vec();
        a[4] = 0xff;
        assert_eq!(
            account_err(&a),
            RecordError::UnknownVersion {
                got: 0xff01,
                supported: 1
            }
        );
    }

    #[test]
    fn every_truncation_is_rejected() {
        let (_, bob, session) = fixtures();
        for (bytes, load) in [
            (session.to_bytes(), session_err as fn(&[u8]) -> RecordError),
            (bob.to_bytes(), account_err),
        ] {
            for len in 0..bytes.len() {
                let err = load(&bytes[..len]);
                if len < 4 {
                    assert!(
                        matches!(err, RecordError::BadMagic { .. }),
                        "len {len}: {err:?}"
                    );
                } else {
                    assert!(
                        matches!(err, RecordError::Decode(DecodeError::Truncated { .. })),
                        "len {len}: {err:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn trailing_byte_is_rejected() {
        let (_, bob, session) = fixtures();
        let trailing = |what| RecordError::Decode(DecodeError::TrailingData { what, extra: 1 });
        let mut s = session.to_bytes().to_vec();
        s.push(0);
        assert_eq!(session_err(&s), trailing(SESSION));
        let mut a = bob.to_bytes().to_vec();
        a.push(0);
        assert_eq!(account_err(&a), trailing(ACCOUNT));
    }

    #[test]
    fn counts_over_their_limits_are_rejected() {
        let (_, bob, session) = fixtures();
        // Session: the skipped-key count is 68 bytes (one key) before the end.
        let mut s = session.to_bytes().to_vec();
        let at = s.len() - 68 - 2;
        assert_eq!(&s[at..at + 2], &[0, 1]);
        s[at..at + 2].copy_from_slice(&2001u16.to_be_bytes());
        assert_eq!(
            session_err(&s),
            RecordError::LimitExceeded {
                field: "skipped_keys",
                got: 2001,
                max: 2000
            }
        );
        let mut s = session.to_bytes().to_vec();
        let at = s.len() - 68 - 2 - 36 - 2;
        assert_eq!(&s[at..at + 2], &[0, 1]);
        s[at..at + 2].copy_from_slice(&6u16.to_be_bytes());
        assert_eq!(
            session_err(&s),
            RecordError::LimitExceeded {
                field: "previous_chains",
                got: 6,
                max: 5
            }
        );
        // Account: the replay-set count is 36 bytes (one entry) before the end.
        let mut a = bob.to_bytes().to_vec();
        let at = a.len() - 36 - 2;
        assert_eq!(&a[at..at + 2], &[0, 1]);
        a[at..at + 2].copy_from_slice(&10_001u16.to_be_bytes());
        assert_eq!(
            account_err(&a),
            RecordError::LimitExceeded {
                field: "seen_base_keys",
                got: 10_001,
                max: 10_000
            }
        );
        let mut a = bob.to_bytes().to_vec();
        let at = a.len() - 36 - 2 - 3 * 36 - 2;
        assert_eq!(&a[at..at + 2], &[0, 3]);
        a[at..at + 2].copy_from_slice(&1001u16.to_be_bytes());
        assert_eq!(
            account_err(&a),
            RecordError::LimitExceeded {
                field: "one_time_prekeys",
                got: 1001,
                max: 1000
            }
        );
        // Old signed prekeys: right after identity (64), ids (8) and the current one (44).
        let mut a = bob.to_bytes().to_vec();
        let at = 6 + 64 + 8 + 44;
        assert_eq!(&a[at..at + 2], &[0, 1]);
        a[at..at + 2].copy_from_slice(&5u16.to_be_bytes());
        assert_eq!(
            account_err(&a),
            RecordError::LimitExceeded {
                field: "old_signed_prekeys",
                got: 5,
                max: 4
            }
        );
    }

    /// Found by the `session_records` fuzz target: one-time prekeys written out of order
    /// loaded, and re-saved sorted, so two records meant one state. Ids must ascend.
    #[test]
    fn one_time_prekeys_out_of_order_are_rejected() {
        let (_, bob, _) = fixtures();
        let bytes = bob.to_bytes().to_vec();
        let old = usize::from(u16::from_be_bytes([bytes[122], bytes[123]]));
        let at = 124 + 52 * old;
        assert!(u16::from_be_bytes([bytes[at], bytes[at + 1]]) >= 2);
        let (first, second) = (at + 2, at + 2 + 36);
        let mut swapped = bytes.clone();
        swapped[first..first + 36].copy_from_slice(&bytes[second..second + 36]);
        swapped[second..second + 36].copy_from_slice(&bytes[first..first + 36]);
        assert_eq!(
            account_err(&swapped),
            RecordError::Inconsistent {
                field: "one_time_prekey_id"
            }
        );
    }

    #[test]
    fn inconsistent_fields_are_rejected() {
        let (_, _, session) = fixtures();
        // Bob's session claims to be the initiator while holding a remote base key.
        let mut s = session.to_bytes().to_vec();
        s[6 + 256] = 1;
        assert_eq!(
            session_err(&s),
            RecordError::Inconsistent {
                field: "remote_base_key"
            }
        );
        let mut s = session.to_bytes().to_vec();
        s[6 + 256] = 2;
        assert!(matches!(
            session_err(&s),
            RecordError::Decode(DecodeError::OutOfRange {
                field: "initiator",
                got: 2,
                ..
            })
        ));
    }
}
