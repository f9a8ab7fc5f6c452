//! Typed, length-checked views of the session objects of session.proto.
//!
//! Decoding here checks structure only: key and signature lengths, ciphertext bounds, required
//! fields, the version. It does not verify signatures or run any cryptography; remit-session
//! turns these views into verified values.

use crate::{
    DecodeError, EncodeError,
    decode::{self, TopLevel},
    limits::{KEY_LEN, MAX_CIPHERTEXT_LEN, MIN_CIPHERTEXT_LEN, SIGNATURE_LEN},
    v1,
};

/// A decoded `SessionEnvelope`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Envelope {
    /// A handshake message with its first ratchet message.
    PreKey(PreKeyMessage),
    /// A message of an established session.
    Message(RatchetMessage),
}

impl Envelope {
    /// Decodes and checks an encoded `SessionEnvelope`.
    ///
    /// # Errors
    /// Any [`DecodeError`]: too large, malformed, unknown version, missing or wrongly sized field.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let envelope: v1::SessionEnvelope = decode::decode(bytes)?;
        match envelope.body {
            Some(v1::session_envelope::Body::Prekey(m)) => {
                Ok(Self::PreKey(PreKeyMessage::try_from(m)?))
            }
            Some(v1::session_envelope::Body::Message(m)) => {
                Ok(Self::Message(RatchetMessage::try_from(m)?))
            }
            None => Err(DecodeError::MissingField {
                what: "SessionEnvelope",
                field: "body",
            }),
        }
    }

    /// Encodes this envelope.
    ///
    /// # Errors
    /// [`EncodeError::TooLarge`] if it would exceed `MAX_ENVELOPE_LEN`.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let body = match self {
            Self::PreKey(m) => v1::session_envelope::Body::Prekey(m.into()),
            Self::Message(m) => v1::session_envelope::Body::Message(m.into()),
        };
        decode::encode(&v1::SessionEnvelope {
            version: v1::SessionEnvelope::VERSION,
            body: Some(body),
        })
    }

    /// The ratchet message inside, whichever the kind.
    #[must_use]
    pub fn ratchet_message(&self) -> &RatchetMessage {
        match self {
            Self::PreKey(m) => &m.message,
            Self::Message(m) => m,
        }
    }
}

/// A decoded `RatchetMessage`: header fields and ciphertext (with tag).
#[derive(Clone, PartialEq, Eq)]
pub struct RatchetMessage {
    /// The sender's current ratchet public key.
    pub ratchet_key: [u8; KEY_LEN],
    /// Messages in the sender's previous sending chain (PN).
    pub previous_counter: u32,
    /// This message's index in the current sending chain (N).
    pub counter: u32,
    /// AES-256-GCM ciphertext with the tag, `MIN_CIPHERTEXT_LEN..=MAX_CIPHERTEXT_LEN` bytes.
    pub ciphertext: Vec<u8>,
}

impl core::fmt::Debug for RatchetMessage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let Self {
            ratchet_key,
            previous_counter,
            counter,
            ciphertext,
        } = self;
        f.debug_struct("RatchetMessage")
            .field("ratchet_key", &Hex(ratchet_key))
            .field("previous_counter", previous_counter)
            .field("counter", counter)
            .field("ciphertext_len", &ciphertext.len())
            .finish()
    }
}

/// A decoded `PreKeyMessage`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreKeyMessage {
    /// The initiator's identity (binding signature not yet verified).
    pub identity: IdentityKey,
    /// The initiator's ephemeral key EK_A.
    pub base_key: [u8; KEY_LEN],
    /// The responder's signed prekey that was used.
    pub signed_prekey_id: u32,
    /// The responder's one-time prekey that was used, if any.
    pub one_time_prekey_id: Option<u32>,
    /// The first ratchet message.
    pub message: RatchetMessage,
}

/// A decoded `IdentityKey` (binding signature not yet verified).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct IdentityKey {
    /// Ed25519 public key.
    pub signing_key: [u8; KEY_LEN],
    /// X25519 public key.
    pub agreement_key: [u8; KEY_LEN],
    /// Ed25519 signature binding the two.
    pub binding_signature: [u8; SIGNATURE_LEN],
}

impl core::fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let Self {
            signing_key,
            agreement_key,
            binding_signature: _,
        } = self;
        f.debug_struct("IdentityKey")
            .field("signing_key", &Hex(signing_key))
            .field("agreement_key", &Hex(agreement_key))
            .finish_non_exhaustive()
    }
}

/// A decoded `SignedPreKey` (signature not yet verified).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SignedPreKey {
    /// The owner's id for it.
    pub id: u32,
    /// X25519 public key.
    pub public_key: [u8; KEY_LEN],
    /// Creation time, seconds since the Unix epoch.
    pub created_at: u64,
    /// Ed25519 signature by the owner's identity.
    pub signature: [u8; SIGNATURE_LEN],
}

impl core::fmt::Debug for SignedPreKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let Self {
            id,
            public_key,
            created_at,
            signature: _,
        } = self;
        f.debug_struct("SignedPreKey")
            .field("id", id)
            .field("public_key", &Hex(public_key))
            .field("created_at", created_at)
            .finish_non_exhaustive()
    }
}

/// A decoded `OneTimePreKey`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct OneTimePreKey {
    /// The owner's id for it.
    pub id: u32,
    /// X25519 public key.
    pub public_key: [u8; KEY_LEN],
}

impl core::fmt::Debug for OneTimePreKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let Self { id, public_key } = self;
        f.debug_struct("OneTimePreKey")
            .field("id", id)
            .field("public_key", &Hex(public_key))
            .finish()
    }
}

/// A decoded `PreKeyBundle` (signatures not yet verified).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreKeyBundle {
    /// The responder's identity.
    pub identity: IdentityKey,
    /// The responder's signed prekey.
    pub signed_prekey: SignedPreKey,
    /// One of the responder's one-time prekeys, if the relay had one.
    pub one_time_prekey: Option<OneTimePreKey>,
}

impl PreKeyBundle {
    /// Decodes and checks an encoded `PreKeyBundle`.
    ///
    /// # Errors
    /// Any [`DecodeError`].
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::try_from(decode::decode_prekey_bundle(bytes)?)
    }

    /// Encodes this bundle.
    ///
    /// # Errors
    /// [`EncodeError::TooLarge`] (cannot happen for a well-formed bundle; kept for symmetry).
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        decode::encode(&v1::PreKeyBundle::from(self))
    }
}

impl TryFrom<v1::PreKeyBundle> for PreKeyBundle {
    type Error = DecodeError;
    fn try_from(b: v1::PreKeyBundle) -> Result<Self, DecodeError> {
        const WHAT: &str = "PreKeyBundle";
        if b.version != v1::PreKeyBundle::VERSION {
            return Err(DecodeError::UnknownVersion {
                what: WHAT,
                got: b.version,
                supported: v1::PreKeyBundle::VERSION,
            });
        }
        let identity = b.identity.ok_or(DecodeError::MissingField {
            what: WHAT,
            field: "identity",
        })?;
        let spk = b.signed_prekey.ok_or(DecodeError::MissingField {
            what: WHAT,
            field: "signed_prekey",
        })?;
        Ok(Self {
            identity: IdentityKey::try_from(identity)?,
            signed_prekey: SignedPreKey::try_from(spk)?,
            one_time_prekey: b.one_time_prekey.map(OneTimePreKey::try_from).transpose()?,
        })
    }
}

impl From<&PreKeyBundle> for v1::PreKeyBundle {
    fn from(b: &PreKeyBundle) -> Self {
        Self {
            version: Self::VERSION,
            identity: Some((&b.identity).into()),
            signed_prekey: Some((&b.signed_prekey).into()),
            one_time_prekey: b.one_time_prekey.as_ref().map(Into::into),
        }
    }
}

impl TryFrom<v1::RatchetMessage> for RatchetMessage {
    type Error = DecodeError;
    fn try_from(m: v1::RatchetMessage) -> Result<Self, DecodeError> {
        const WHAT: &str = "RatchetMessage";
        let len = m.ciphertext.len();
        if !(MIN_CIPHERTEXT_LEN..=MAX_CIPHERTEXT_LEN).contains(&len) {
            return Err(DecodeError::OutOfRange {
                what: WHAT,
                field: "ciphertext",
                got: len as u64,
                min: MIN_CIPHERTEXT_LEN as u64,
                max: MAX_CIPHERTEXT_LEN as u64,
            });
        }
        Ok(Self {
            ratchet_key: fixed(WHAT, "ratchet_key", &m.ratchet_key)?,
            previous_counter: m.previous_counter,
            counter: m.counter,
            ciphertext: m.ciphertext,
        })
    }
}

impl From<&RatchetMessage> for v1::RatchetMessage {
    fn from(m: &RatchetMessage) -> Self {
        Self {
            ratchet_key: m.ratchet_key.to_vec(),
            previous_counter: m.previous_counter,
            counter: m.counter,
            ciphertext: m.ciphertext.clone(),
        }
    }
}

impl TryFrom<v1::PreKeyMessage> for PreKeyMessage {
    type Error = DecodeError;
    fn try_from(m: v1::PreKeyMessage) -> Result<Self, DecodeError> {
        const WHAT: &str = "PreKeyMessage";
        let identity = m.identity.ok_or(DecodeError::MissingField {
            what: WHAT,
            field: "identity",
        })?;
        let message = m.message.ok_or(DecodeError::MissingField {
            what: WHAT,
            field: "message",
        })?;
        Ok(Self {
            identity: IdentityKey::try_from(identity)?,
            base_key: fixed(WHAT, "base_key", &m.base_key)?,
            signed_prekey_id: m.signed_prekey_id,
            one_time_prekey_id: m.one_time_prekey_id,
            message: RatchetMessage::try_from(message)?,
        })
    }
}

impl From<&PreKeyMessage> for v1::PreKeyMessage {
    fn from(m: &PreKeyMessage) -> Self {
        Self {
            identity: Some((&m.identity).into()),
            base_key: m.base_key.to_vec(),
            signed_prekey_id: m.signed_prekey_id,
            one_time_prekey_id: m.one_time_prekey_id,
            message: Some((&m.message).into()),
        }
    }
}

impl TryFrom<v1::IdentityKey> for IdentityKey {
    type Error = DecodeError;
    fn try_from(k: v1::IdentityKey) -> Result<Self, DecodeError> {
        const WHAT: &str = "IdentityKey";
        Ok(Self {
            signing_key: fixed(WHAT, "signing_key", &k.signing_key)?,
            agreement_key: fixed(WHAT, "agreement_key", &k.agreement_key)?,
            binding_signature: fixed(WHAT, "binding_signature", &k.binding_signature)?,
        })
    }
}

impl From<&IdentityKey> for v1::IdentityKey {
    fn from(k: &IdentityKey) -> Self {
        Self {
            signing_key: k.signing_key.to_vec(),
            agreement_key: k.agreement_key.to_vec(),
            binding_signature: k.binding_signature.to_vec(),
        }
    }
}

impl TryFrom<v1::SignedPreKey> for SignedPreKey {
    type Error = DecodeError;
    fn try_from(k: v1::SignedPreKey) -> Result<Self, DecodeError> {
        const WHAT: &str = "SignedPreKey";
        Ok(Self {
            id: k.id,
            public_key: fixed(WHAT, "public_key", &k.public_key)?,
            created_at: k.created_at,
            signature: fixed(WHAT, "signature", &k.signature)?,
        })
    }
}

impl From<&SignedPreKey> for v1::SignedPreKey {
    fn from(k: &SignedPreKey) -> Self {
        Self {
            id: k.id,
            public_key: k.public_key.to_vec(),
            created_at: k.created_at,
            signature: k.signature.to_vec(),
        }
    }
}

impl TryFrom<v1::OneTimePreKey> for OneTimePreKey {
    type Error = DecodeError;
    fn try_from(k: v1::OneTimePreKey) -> Result<Self, DecodeError> {
        Ok(Self {
            id: k.id,
            public_key: fixed("OneTimePreKey", "public_key", &k.public_key)?,
        })
    }
}

impl From<&OneTimePreKey> for v1::OneTimePreKey {
    fn from(k: &OneTimePreKey) -> Self {
        Self {
            id: k.id,
            public_key: k.public_key.to_vec(),
        }
    }
}

/// Copies a fixed-size field, or names it in a [`DecodeError::InvalidLength`].
///
/// # Errors
/// [`DecodeError::InvalidLength`] if `bytes` is not exactly `N` long.
pub fn fixed<const N: usize>(
    what: &'static str,
    field: &'static str,
    bytes: &[u8],
) -> Result<[u8; N], DecodeError> {
    <[u8; N]>::try_from(bytes).map_err(|_| DecodeError::InvalidLength {
        what,
        field,
        expected: N,
        got: bytes.len(),
    })
}

/// Debug helper: prints bytes as lowercase hex.
struct Hex<'a>(&'a [u8]);

impl core::fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}
