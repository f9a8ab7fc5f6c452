//! The one error type of remit-pay, and its mapping to the wire `ProtocolError`.

use remit_session::SignError;
use remit_wire::{DecodeError, EncodeError, v1};

use crate::message::{MessageKind, Role};
use crate::money::MoneyError;
use crate::thread::ThreadState;

/// Why a payment message, a draft or a stored thread was refused. A refused message changes
/// nothing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayError {
    /// The bytes could not be decoded (remit-wire).
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The message could not be encoded within its size limit.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The session layer refused to sign (a signature context that breaks its rules; not
    /// reachable with remit-pay's two registered contexts). Our own failure, never a peer's.
    #[error("signing refused: {0}")]
    Sign(#[from] SignError),
    /// A field is missing, malformed or inconsistent.
    #[error("field `{field}`: {reason}")]
    InvalidField {
        /// Proto field path ("invoice.total").
        field: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// A text or list field is over its limit.
    #[error("field `{field}` is {len} long, limit {max}")]
    TooLong {
        /// Proto field path.
        field: &'static str,
        /// Its length (bytes, or entries).
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A money field is invalid.
    #[error("field `{field}`: {source}")]
    Money {
        /// Proto field path.
        field: &'static str,
        /// What is wrong with it.
        source: MoneyError,
    },
    /// A payee signature did not verify under the peer's identity key.
    #[error("bad payee signature")]
    BadSignature,
    /// A request names a payee other than the session peer.
    #[error("the request's payee is not the session peer")]
    PayeeMismatch,
    /// The sender's role may not send this message.
    #[error("a {role:?} may not send a {message:?}")]
    WrongRole {
        /// The sender's role in the thread.
        role: Role,
        /// What it sent.
        message: MessageKind,
    },
    /// The message does not fit the thread's state.
    #[error("a {message:?} is not valid in state {state:?}")]
    InvalidTransition {
        /// The thread's state.
        state: ThreadState,
        /// What arrived.
        message: MessageKind,
    },
    /// The message's request id or digest is not this thread's request.
    #[error("the message refers to another request")]
    UnknownRequest,
    /// A receipt or refund names a payment id this thread does not know.
    #[error("unknown payment id")]
    UnknownPayment,
    /// An id arrived again with different content.
    #[error("{what} id reused with different content")]
    Conflict {
        /// Which id ("request", "payment", "receipt", "decline", "cancel").
        what: &'static str,
    },
    /// The request has expired (or was created in the future).
    #[error("the request has expired or is not yet valid")]
    Expired,
    /// A bounded collection of the thread is full.
    #[error("too many {what} (limit {max})")]
    LimitExceeded {
        /// What.
        what: &'static str,
        /// The limit.
        max: usize,
    },
    /// A stored thread has an unknown format version.
    #[error("stored thread version {got}, supported {supported}")]
    UnknownStateVersion {
        /// Found.
        got: u16,
        /// Implemented.
        supported: u16,
    },
}

impl PayError {
    pub(crate) fn money(field: &'static str) -> impl FnOnce(MoneyError) -> Self {
        move |source| Self::Money { field, source }
    }

    pub(crate) fn invalid(field: &'static str, reason: &'static str) -> Self {
        Self::InvalidField { field, reason }
    }

    /// The wire error code to send back to the peer for this error.
    #[must_use]
    pub fn code(&self) -> v1::ErrorCode {
        use v1::ErrorCode as C;
        match self {
            Self::Decode(_)
            | Self::Encode(_)
            | Self::Sign(_)
            | Self::UnknownStateVersion { .. } => C::Malformed,
            Self::InvalidField { .. }
            | Self::TooLong { .. }
            | Self::Money { .. }
            | Self::UnknownPayment => C::InvalidField,
            Self::BadSignature => C::BadSignature,
            Self::PayeeMismatch => C::PayeeMismatch,
            Self::WrongRole { .. } => C::WrongRole,
            Self::InvalidTransition { .. } => C::InvalidState,
            Self::UnknownRequest => C::UnknownRequest,
            Self::Conflict { .. } => C::Conflict,
            Self::Expired => C::Expired,
            Self::LimitExceeded { .. } => C::LimitExceeded,
        }
    }

    /// The field at fault, if the error names one.
    #[must_use]
    pub fn field(&self) -> &'static str {
        match self {
            Self::InvalidField { field, .. }
            | Self::TooLong { field, .. }
            | Self::Money { field, .. } => field,
            Self::BadSignature => "signature",
            Self::PayeeMismatch => "payee",
            Self::UnknownRequest => "request_digest",
            Self::UnknownPayment => "payment_ids",
            _ => "",
        }
    }
}
