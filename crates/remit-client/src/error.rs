//! The error types of remit-client: [`ClientError`] for every engine call, [`StoreError`] for
//! the persistence backend.
//!
//! Whatever the error, the engine's state in memory and in the store is what it was before the
//! call: every change is computed on copies and committed in one transaction, or not at all.

use remit_pay::{Id, PayError};
use remit_session::{DecryptError, EncryptError, HandshakeError, PreKeyError, RecordError};
use remit_wire::{DecodeError, EncodeError};

/// What the caller did that the API does not allow ([`ClientError::ApiMisuse`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Misuse {
    /// `request_payment` was given a draft with invoice details: use `send_invoice`.
    #[error("a draft with invoice details goes through send_invoice")]
    InvoiceDetailsInRequest,
    /// `send_invoice` was given a draft without invoice details: use `request_payment`.
    #[error("an invoice needs invoice details; use request_payment otherwise")]
    InvoiceWithoutDetails,
    /// A receipt was asked for on a thread that records no payment.
    #[error("no payment to acknowledge")]
    NoPaymentToAcknowledge,
    /// `Engine::create` on a store that already holds a profile.
    #[error("the store already holds a profile")]
    ProfileExists,
    /// `Engine::open` on a store that holds no profile.
    #[error("the store holds no profile")]
    NoProfile,
}

/// Why an engine call failed. Nothing changed, in memory or in the store.
///
/// Grouped by who is at fault: the peer or the network (`Decode`, `Decrypt`, `Handshake`,
/// `SenderMismatch`), the caller (`ApiMisuse`, `UnknownContact`, `UnknownRequest`,
/// `NoSession`, `IdentityUnconfirmed`, `Pay` on an outgoing message), or the device (`Store`,
/// `Record`, `CorruptRecord`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The caller asked for something the API does not allow; [`Misuse`] says what.
    #[error("api misuse: {0}")]
    ApiMisuse(Misuse),
    /// A stored engine record (contact, thread, held message) is malformed.
    #[error("stored {what} record is corrupt: {reason}")]
    CorruptRecord {
        /// Which kind of record.
        what: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The envelope is malformed (remit-wire).
    #[error("malformed envelope: {0}")]
    Decode(#[from] DecodeError),
    /// The envelope did not decrypt (tampered, wrong session, too far ahead). Deliberately
    /// coarse: the session layer says no more than this.
    #[error("envelope did not decrypt: {0}")]
    Decrypt(#[from] DecryptError),
    /// A message could not be encoded within its size limit.
    #[error("encode: {0}")]
    Encode(#[from] EncodeError),
    /// A message could not be encrypted (too large, chain exhausted).
    #[error("encrypt: {0}")]
    Encrypt(#[from] EncryptError),
    /// A prekey envelope or a bundle did not verify or could not be accepted.
    #[error("handshake: {0}")]
    Handshake(#[from] HandshakeError),
    /// The peer's identity changed and the app has not confirmed the new one: payment messages
    /// to and from this peer are frozen ([`crate::Engine::confirm_identity`]).
    #[error("the peer's identity changed and is not confirmed yet")]
    IdentityUnconfirmed {
        /// The peer's address (Ed25519 identity key).
        peer: [u8; 32],
    },
    /// There is no session with this peer: start one from its bundle first.
    #[error("no session with this peer")]
    NoSession {
        /// The peer's address.
        peer: [u8; 32],
    },
    /// The envelope is of a kind this version of the engine does not handle.
    #[error("envelope of a kind this version does not handle")]
    UnsupportedEnvelope,
    /// An outgoing payment message was refused by the thread, or could not be built.
    #[error("payment: {0}")]
    Pay(#[from] PayError),
    /// Prekeys could not be generated or rotated.
    #[error("prekeys: {0}")]
    PreKey(#[from] PreKeyError),
    /// A stored session or account record could not be loaded.
    #[error("stored record: {0}")]
    Record(#[from] RecordError),
    /// A prekey envelope names an identity other than the sender the relay authenticated.
    #[error("prekey envelope identity is not the authenticated sender")]
    SenderMismatch,
    /// The store failed; nothing was committed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// No contact has this handle.
    #[error("unknown contact")]
    UnknownContact,
    /// No thread with this request id (or not with this peer).
    #[error("unknown request")]
    UnknownRequest {
        /// The request id asked for.
        request_id: Id,
    },
}

/// Why the store failed. The transaction was rolled back.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A row or value has the wrong shape (a key of the wrong length, a missing account).
    #[error("corrupt store: {what}")]
    Corrupt {
        /// What was wrong.
        what: &'static str,
    },
    /// The store holds a schema version this library does not read.
    #[error("unknown store schema version {got} (supported: {supported})")]
    UnknownSchema {
        /// The version found.
        got: i64,
        /// The version this library reads and writes.
        supported: i64,
    },
    /// An I/O error of a custom backend.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// SQLite failed.
    #[cfg(feature = "sqlite")]
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
}
