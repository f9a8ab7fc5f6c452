//! The engine's own stored records: contacts, thread entries and held messages.
//!
//! Sessions, the account and payment threads are stored as their crates' own versioned records
//! (`RMSS`, `RMSA`, `RMPT`). What the engine adds around them is stored in three small fixed
//! layouts of the same shape: 4 magic bytes, a big-endian `u16` version, then the fields.
//!
//! ```text
//!  contact  "RMCC" v1: identity(128) verified(u8) frozen(u8) has_previous(u8) [identity(128)]
//!  thread   "RMCT" v1: peer(32) payee identity(128) thread record (u32 length ‖ bytes)
//!  held     "RMCH" v1: sender identity(128) received_at(u64) content (u32 length ‖ bytes)
//!  identity          : signing key(32) agreement key(32) binding signature(64)
//! ```
//!
//! Identities are verified again (binding signature) when a record is loaded: a record is the
//! store's word, and a load is rare (once per engine start).

use remit_pay::limits::MAX_THREAD_STATE_LEN;
use remit_session::VerifiedIdentity;
use remit_wire::{DecodeError, Reader, limits::MAX_PLAINTEXT_LEN, session::IdentityKey};

use crate::error::ClientError;

/// The version of the contact, thread-entry and held-message records.
pub const CLIENT_RECORD_VERSION: u16 = 1;

const CONTACT_MAGIC: [u8; 4] = *b"RMCC";
const THREAD_MAGIC: [u8; 4] = *b"RMCT";
const HELD_MAGIC: [u8; 4] = *b"RMCH";
#[cfg(test)]
const IDENTITY_LEN: usize = 128;

/// A contact: the identity the app bound to a handle, and its trust state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Contact {
    /// The pinned identity (after a change, the new one, pending confirmation).
    pub(crate) identity: VerifiedIdentity,
    /// The user compared safety numbers (reset by an identity change).
    pub(crate) verified: bool,
    /// Payment messages with this contact are frozen until the app confirms the identity.
    pub(crate) frozen: bool,
    /// The identity before the last unconfirmed change.
    pub(crate) previous: Option<VerifiedIdentity>,
}

impl Contact {
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = header(CONTACT_MAGIC);
        put_identity(&mut out, &self.identity);
        out.push(u8::from(self.verified));
        out.push(u8::from(self.frozen));
        match &self.previous {
            None => out.push(0),
            Some(p) => {
                out.push(1);
                put_identity(&mut out, p);
            }
        }
        out
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self, ClientError> {
        const WHAT: &str = "contact";
        let mut r = Reader::new(WHAT, bytes);
        check_header(&mut r, CONTACT_MAGIC, WHAT)?;
        let identity = read_identity(&mut r, WHAT)?;
        let verified = r.bool("verified")?;
        let frozen = r.bool("frozen")?;
        let previous = if r.bool("has_previous")? {
            Some(read_identity(&mut r, WHAT)?)
        } else {
            None
        };
        r.finish()?;
        Ok(Self {
            identity,
            verified,
            frozen,
            previous,
        })
    }
}

/// A thread as stored: the peer it is with, the payee identity its request is signed by, and
/// remit-pay's own thread record.
pub(crate) struct ThreadEntry {
    pub(crate) peer: [u8; 32],
    pub(crate) payee: VerifiedIdentity,
    pub(crate) thread: Vec<u8>,
}

impl ThreadEntry {
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = header(THREAD_MAGIC);
        out.extend_from_slice(&self.peer);
        put_identity(&mut out, &self.payee);
        put_bytes(&mut out, &self.thread);
        out
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self, ClientError> {
        const WHAT: &str = "thread";
        let mut r = Reader::new(WHAT, bytes);
        check_header(&mut r, THREAD_MAGIC, WHAT)?;
        let peer = r.array::<32>()?;
        let payee = read_identity(&mut r, WHAT)?;
        let thread = r.bytes(MAX_THREAD_STATE_LEN)?.to_vec();
        r.finish()?;
        Ok(Self {
            peer,
            payee,
            thread,
        })
    }
}

/// A payment message received while its sender's identity was unconfirmed: the decrypted
/// content, kept until the app confirms (or forever, if it never does).
pub(crate) struct HeldMessage {
    pub(crate) sender: VerifiedIdentity,
    pub(crate) received_at: u64,
    pub(crate) content: Vec<u8>,
}

impl HeldMessage {
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = header(HELD_MAGIC);
        put_identity(&mut out, &self.sender);
        out.extend_from_slice(&self.received_at.to_be_bytes());
        put_bytes(&mut out, &self.content);
        out
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self, ClientError> {
        const WHAT: &str = "held message";
        let mut r = Reader::new(WHAT, bytes);
        check_header(&mut r, HELD_MAGIC, WHAT)?;
        let sender = read_identity(&mut r, WHAT)?;
        let received_at = r.u64()?;
        let content = r.bytes(MAX_PLAINTEXT_LEN)?.to_vec();
        r.finish()?;
        Ok(Self {
            sender,
            received_at,
            content,
        })
    }
}

fn header(magic: [u8; 4]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&magic);
    out.extend_from_slice(&CLIENT_RECORD_VERSION.to_be_bytes());
    out
}

fn check_header(r: &mut Reader<'_>, magic: [u8; 4], what: &'static str) -> Result<(), ClientError> {
    if r.array::<4>()? != magic {
        return Err(ClientError::CorruptRecord {
            what,
            reason: "bad magic",
        });
    }
    let version = r.u16()?;
    if version != CLIENT_RECORD_VERSION {
        return Err(DecodeError::UnknownVersion {
            what,
            got: u32::from(version),
            supported: u32::from(CLIENT_RECORD_VERSION),
        }
        .into());
    }
    Ok(())
}

fn put_identity(out: &mut Vec<u8>, identity: &VerifiedIdentity) {
    let wire = identity.as_wire();
    out.extend_from_slice(&wire.signing_key);
    out.extend_from_slice(&wire.agreement_key);
    out.extend_from_slice(&wire.binding_signature);
}

fn read_identity(r: &mut Reader<'_>, what: &'static str) -> Result<VerifiedIdentity, ClientError> {
    let key = IdentityKey {
        signing_key: r.array::<32>()?,
        agreement_key: r.array::<32>()?,
        binding_signature: r.array::<64>()?,
    };
    VerifiedIdentity::verify(&key).map_err(|_| ClientError::CorruptRecord {
        what,
        reason: "identity binding does not verify",
    })
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    // Every caller's bytes are bounded far below 4 GiB (MAX_THREAD_STATE_LEN, MAX_PLAINTEXT_LEN).
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use rand::{SeedableRng, rngs::ChaCha20Rng};
    use remit_session::Account;

    use super::*;

    #[test]
    fn contact_round_trip_and_identity_len() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let a = *Account::new(&mut rng, 1).identity();
        let b = *Account::new(&mut rng, 1).identity();
        let contact = Contact {
            identity: a,
            verified: true,
            frozen: true,
            previous: Some(b),
        };
        let bytes = contact.to_bytes();
        assert_eq!(bytes.len(), 6 + IDENTITY_LEN + 3 + IDENTITY_LEN);
        assert_eq!(Contact::from_bytes(&bytes).unwrap(), contact);
        let mut bad = bytes.clone();
        bad[4] = 9;
        assert!(matches!(
            Contact::from_bytes(&bad),
            Err(ClientError::Decode(DecodeError::UnknownVersion {
                got: 2305,
                ..
            }))
        ));
        let mut forged = bytes;
        forged[6 + 70] ^= 1; // a byte of the binding signature
        assert!(matches!(
            Contact::from_bytes(&forged),
            Err(ClientError::CorruptRecord { .. })
        ));
    }
}
