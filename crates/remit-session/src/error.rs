//! The error types of remit-session, one per operation.
//!
//! Nothing here carries key material or plaintext: every variant is safe to log.

use remit_wire::DecodeError;

/// Why a handshake (verifying a bundle, starting or accepting a session) failed.
///
/// Every failure of [`Account::accept`](crate::Account::accept) leaves the account unchanged.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The identity's binding signature (signing key over agreement key) does not verify, or
    /// its signing key is not a valid Ed25519 key.
    #[error("identity binding signature does not verify")]
    BadIdentitySignature,
    /// The signed prekey's signature does not verify under the bundle's identity.
    #[error("signed prekey signature does not verify")]
    BadSignedPreKeySignature,
    /// The first message of a session could not be decrypted.
    #[error("first message: {0}")]
    Decrypt(#[from] DecryptError),
    /// The prekey message's base key is not the canonical encoding of a point of the
    /// prime-order subgroup (spec/handshake.md §6.3.2: re-encodings would slip past the replay
    /// set).
    #[error("base key is not canonical or not in the prime-order subgroup")]
    InvalidBaseKey,
    /// A Diffie-Hellman output was all zero: a peer key of low order.
    #[error("a peer key is of low order (non-contributory Diffie-Hellman)")]
    NonContributory,
    /// A prekey message without a one-time prekey reuses a base key already accepted.
    #[error("prekey message replayed (base key already used)")]
    ReplayedPreKeyMessage,
    /// The one-time prekey it names is not held (never existed, or already used).
    #[error("unknown one-time prekey {id}")]
    UnknownOneTimePreKey {
        /// The id named by the message.
        id: u32,
    },
    /// The signed prekey it names is neither the current one nor a retained old one.
    #[error("unknown signed prekey {id}")]
    UnknownSignedPreKey {
        /// The id named by the message.
        id: u32,
    },
}

/// Why a message could not be encrypted. The session is unchanged.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncryptError {
    /// The sending chain reached `u32::MAX` messages; start a new session.
    #[error("sending chain exhausted, a new handshake is needed")]
    ChainExhausted,
    /// A Diffie-Hellman output was all zero (the peer's ratchet key is of low order).
    #[error("the peer's ratchet key is of low order (non-contributory Diffie-Hellman)")]
    NonContributory,
    /// The plaintext is longer than the largest padding bucket allows.
    #[error("plaintext of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Its length.
        len: usize,
        /// `MAX_PLAINTEXT_LEN`.
        max: usize,
    },
}

/// Why a message could not be decrypted. The session is byte-for-byte unchanged.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecryptError {
    /// The padding of an authenticated plaintext is malformed (a buggy peer).
    #[error("malformed padding")]
    BadPadding,
    /// Authentication failed: wrong key, tampered header or ciphertext. Deliberately opaque.
    #[error("decryption failed")]
    DecryptFailed,
    /// The message was already decrypted, or its stored key was evicted.
    #[error("duplicate message (already decrypted or key evicted)")]
    Duplicate,
    /// A Diffie-Hellman output was all zero: the message's ratchet key is of low order.
    #[error("ratchet key is of low order (non-contributory Diffie-Hellman)")]
    NonContributory,
    /// A prekey message that belongs to another session (other identity or base key).
    #[error("prekey message does not belong to this session")]
    NotForThisSession,
    /// Decrypting would need more skipped message keys than `MAX_SKIP`.
    #[error("message needs {needed} skipped keys, more than the limit of {max}")]
    TooFarAhead {
        /// How many keys would have to be derived and stored.
        needed: u64,
        /// `MAX_SKIP`.
        max: u32,
    },
}

/// Why a stored record could not be loaded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The record does not start with the expected magic bytes.
    #[error("not a {what} record (bad magic)")]
    BadMagic {
        /// `"session"` or `"account"`.
        what: &'static str,
    },
    /// The record is truncated, has trailing bytes or a malformed field.
    #[error("record: {0}")]
    Decode(#[from] DecodeError),
    /// Two fields contradict each other (for example a receiving chain without a ratchet key).
    #[error("record field `{field}` is inconsistent")]
    Inconsistent {
        /// The field at fault.
        field: &'static str,
    },
    /// A count exceeds its limit.
    #[error("record field `{field}` holds {got} entries, the limit is {max}")]
    LimitExceeded {
        /// The field at fault.
        field: &'static str,
        /// The count found.
        got: usize,
        /// The limit.
        max: usize,
    },
    /// The record has a version this library does not read.
    #[error("unknown record version {got} (supported: {supported})")]
    UnknownVersion {
        /// The version found.
        got: u16,
        /// The version this library reads and writes.
        supported: u16,
    },
}

/// Why prekeys could not be generated. The account is unchanged.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PreKeyError {
    /// Every `u32` id has been used; ids are never reused, so make a new account.
    #[error("prekey ids exhausted")]
    IdsExhausted,
    /// Generating that many would hold more one-time prekeys than the limit.
    #[error("holding {held} one-time prekeys, {requested} more would exceed the limit of {max}")]
    TooManyOneTimePreKeys {
        /// How many are held now.
        held: usize,
        /// How many were asked for.
        requested: usize,
        /// `MAX_ONE_TIME_PREKEYS`.
        max: usize,
    },
}

/// Why [`Account::sign_statement`](crate::Account::sign_statement) refused a context. Nothing
/// was signed. Each variant is a mistake of the calling layer, never of a peer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The context contains a 0x00 byte before its terminator (so it would have a prefix that is
    /// itself a complete context).
    #[error("context contains a 0x00 byte before its end")]
    InteriorNul,
    /// The context does not start with `"remit.v1."`.
    #[error("context does not start with \"remit.v1.\"")]
    MissingPrefix,
    /// The context does not end with a 0x00 byte.
    #[error("context does not end with a 0x00 byte")]
    MissingTerminator,
    /// The context is one of the session layer's own contexts (identity binding, signed prekey,
    /// fingerprint, safety number, X3DH, ratchet root, message keys).
    #[error("context is reserved by the session layer")]
    ReservedContext,
    /// The context is longer than `MAX_STATEMENT_CONTEXT_LEN`.
    #[error("context of {len} bytes exceeds the limit of {max}")]
    TooLong {
        /// Its length.
        len: usize,
        /// `MAX_STATEMENT_CONTEXT_LEN`.
        max: usize,
    },
}
