//! The messages that refuse: a decline (payer), a cancel (payee), each with its reason code,
//! and a protocol-error reply (either party).

use remit_wire::v1;

use super::fields::{bytes32, id16, text, token};
use super::{Id, SignedRequest};
use crate::error::PayError;
use crate::identity::DocumentDigest;
use crate::limits::{MAX_FIELD_NAME_LEN, MAX_MEMO_LEN};

/// Why the payer declines (`DeclineReason`, spec §4.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DeclineReason {
    /// None of the others; the free text may say more.
    Other,
    /// The payer does not know the payee or does not recognise the request.
    UnknownPayee,
    /// The amount (or the invoice's items) is not what the payer agreed to.
    WrongAmount,
    /// Already paid by other means.
    AlreadyPaid,
    /// A duplicate of another request for the same thing.
    Duplicate,
    /// None of the request's methods can be used.
    UnsupportedMethod,
    /// Reported as fraud or phishing.
    SuspectedFraud,
}

impl DeclineReason {
    /// Every reason, for exhaustive tests.
    pub const ALL: [Self; 7] = [
        Self::Other,
        Self::UnknownPayee,
        Self::WrongAmount,
        Self::AlreadyPaid,
        Self::Duplicate,
        Self::UnsupportedMethod,
        Self::SuspectedFraud,
    ];

    /// The wire value; `UNSPECIFIED` (0) and unknown values are refused, never mapped.
    fn from_wire(value: i32) -> Result<Self, PayError> {
        use v1::DeclineReason as W;
        match W::try_from(value) {
            Ok(W::Other) => Ok(Self::Other),
            Ok(W::UnknownPayee) => Ok(Self::UnknownPayee),
            Ok(W::WrongAmount) => Ok(Self::WrongAmount),
            Ok(W::AlreadyPaid) => Ok(Self::AlreadyPaid),
            Ok(W::Duplicate) => Ok(Self::Duplicate),
            Ok(W::UnsupportedMethod) => Ok(Self::UnsupportedMethod),
            Ok(W::SuspectedFraud) => Ok(Self::SuspectedFraud),
            Ok(W::Unspecified) | Err(_) => {
                Err(PayError::invalid("reason_code", "unknown or unspecified"))
            }
        }
    }

    pub(crate) fn to_wire(self) -> v1::DeclineReason {
        use v1::DeclineReason as W;
        match self {
            Self::Other => W::Other,
            Self::UnknownPayee => W::UnknownPayee,
            Self::WrongAmount => W::WrongAmount,
            Self::AlreadyPaid => W::AlreadyPaid,
            Self::Duplicate => W::Duplicate,
            Self::UnsupportedMethod => W::UnsupportedMethod,
            Self::SuspectedFraud => W::SuspectedFraud,
        }
    }
}

/// Why the payee withdraws a request (`CancelReason`, spec §4.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CancelReason {
    /// None of the others; the free text may say more.
    Other,
    /// Sent by mistake.
    IssuedInError,
    /// A new request replaces this one.
    Replaced,
    /// Paid by other means.
    PaidOutOfBand,
    /// The order or service was cancelled.
    OrderCancelled,
    /// The payee suspects fraud.
    SuspectedFraud,
}

impl CancelReason {
    /// Every reason, for exhaustive tests.
    pub const ALL: [Self; 6] = [
        Self::Other,
        Self::IssuedInError,
        Self::Replaced,
        Self::PaidOutOfBand,
        Self::OrderCancelled,
        Self::SuspectedFraud,
    ];

    /// The wire value; `UNSPECIFIED` (0) and unknown values are refused, never mapped.
    fn from_wire(value: i32) -> Result<Self, PayError> {
        use v1::CancelReason as W;
        match W::try_from(value) {
            Ok(W::Other) => Ok(Self::Other),
            Ok(W::IssuedInError) => Ok(Self::IssuedInError),
            Ok(W::Replaced) => Ok(Self::Replaced),
            Ok(W::PaidOutOfBand) => Ok(Self::PaidOutOfBand),
            Ok(W::OrderCancelled) => Ok(Self::OrderCancelled),
            Ok(W::SuspectedFraud) => Ok(Self::SuspectedFraud),
            Ok(W::Unspecified) | Err(_) => {
                Err(PayError::invalid("reason_code", "unknown or unspecified"))
            }
        }
    }

    pub(crate) fn to_wire(self) -> v1::CancelReason {
        use v1::CancelReason as W;
        match self {
            Self::Other => W::Other,
            Self::IssuedInError => W::IssuedInError,
            Self::Replaced => W::Replaced,
            Self::PaidOutOfBand => W::PaidOutOfBand,
            Self::OrderCancelled => W::OrderCancelled,
            Self::SuspectedFraud => W::SuspectedFraud,
        }
    }
}

/// Payer → payee: will not pay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decline {
    /// The request.
    pub request_id: Id,
    /// Its digest.
    pub request_digest: DocumentDigest,
    /// The structured reason.
    pub reason_code: DeclineReason,
    /// Free text (stripped).
    pub reason: String,
}

impl Decline {
    /// Validates a wire decline.
    ///
    /// # Errors
    /// A field error (an unknown or unspecified `reason_code` is `InvalidField{reason_code}`).
    pub fn from_wire(w: &v1::Decline) -> Result<Self, PayError> {
        Ok(Self {
            request_id: id16("request_id", &w.request_id)?,
            request_digest: DocumentDigest(bytes32("request_digest", &w.request_digest)?),
            reason_code: DeclineReason::from_wire(w.reason_code)?,
            reason: text("reason", &w.reason, MAX_MEMO_LEN, true)?,
        })
    }

    /// A decline of `request`.
    ///
    /// # Errors
    /// A field error (reason too long).
    pub fn new(
        request: &SignedRequest,
        reason_code: DeclineReason,
        reason: &str,
    ) -> Result<Self, PayError> {
        Self::from_wire(&v1::Decline {
            request_id: request.request().request_id.to_vec(),
            request_digest: request.digest().0.to_vec(),
            reason: reason.to_owned(),
            reason_code: reason_code.to_wire().into(),
        })
    }

    /// The wire form.
    #[must_use]
    pub fn to_wire(&self) -> v1::Decline {
        v1::Decline {
            request_id: self.request_id.to_vec(),
            request_digest: self.request_digest.0.to_vec(),
            reason: self.reason.clone(),
            reason_code: self.reason_code.to_wire().into(),
        }
    }
}

/// Payee → payer: the request is withdrawn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cancel {
    /// The request.
    pub request_id: Id,
    /// Its digest.
    pub request_digest: DocumentDigest,
    /// The structured reason.
    pub reason_code: CancelReason,
    /// Free text (stripped).
    pub reason: String,
}

impl Cancel {
    /// Validates a wire cancel.
    ///
    /// # Errors
    /// A field error (an unknown or unspecified `reason_code` is `InvalidField{reason_code}`).
    pub fn from_wire(w: &v1::Cancel) -> Result<Self, PayError> {
        Ok(Self {
            request_id: id16("request_id", &w.request_id)?,
            request_digest: DocumentDigest(bytes32("request_digest", &w.request_digest)?),
            reason_code: CancelReason::from_wire(w.reason_code)?,
            reason: text("reason", &w.reason, MAX_MEMO_LEN, true)?,
        })
    }

    /// A cancel of `request`.
    ///
    /// # Errors
    /// A field error.
    pub fn new(
        request: &SignedRequest,
        reason_code: CancelReason,
        reason: &str,
    ) -> Result<Self, PayError> {
        Self::from_wire(&v1::Cancel {
            request_id: request.request().request_id.to_vec(),
            request_digest: request.digest().0.to_vec(),
            reason: reason.to_owned(),
            reason_code: reason_code.to_wire().into(),
        })
    }

    /// The wire form.
    #[must_use]
    pub fn to_wire(&self) -> v1::Cancel {
        v1::Cancel {
            request_id: self.request_id.to_vec(),
            request_digest: self.request_digest.0.to_vec(),
            reason: self.reason.clone(),
            reason_code: self.reason_code.to_wire().into(),
        }
    }
}

/// A `ProtocolError` reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtocolErrorReply {
    /// The rejected `Content.message_id`.
    pub message_id: Id,
    /// Why.
    pub code: v1::ErrorCode,
    /// Field at fault, ASCII, may be empty.
    pub field: String,
}

impl ProtocolErrorReply {
    /// The reply to send for `error` about message `message_id`.
    #[must_use]
    pub fn for_error(message_id: Id, error: &PayError) -> Self {
        Self {
            message_id,
            code: error.code(),
            field: error.field().to_owned(),
        }
    }

    /// Validates a wire error.
    ///
    /// # Errors
    /// A field error.
    pub fn from_wire(w: &v1::ProtocolError) -> Result<Self, PayError> {
        let code = v1::ErrorCode::try_from(w.code)
            .ok()
            .filter(|c| *c != v1::ErrorCode::Unspecified)
            .ok_or(PayError::invalid("code", "unknown or unspecified"))?;
        Ok(Self {
            message_id: id16("message_id", &w.message_id)?,
            code,
            field: token("field", &w.field, 0, MAX_FIELD_NAME_LEN)?,
        })
    }

    /// The wire form.
    #[must_use]
    pub fn to_wire(&self) -> v1::ProtocolError {
        v1::ProtocolError {
            message_id: self.message_id.to_vec(),
            code: self.code.into(),
            field: self.field.clone(),
        }
    }
}
