//! Ids, roles and message kinds.

use rand_core::CryptoRng;
use remit_wire::limits::ID_LEN;

use crate::error::PayError;
use crate::identity::DocumentDigest;

use super::SignedRequest;

/// A 16-byte random id (request, payment, receipt, message).
pub type Id = [u8; ID_LEN];

/// A fresh random 16-byte id.
pub fn new_id<R: CryptoRng + ?Sized>(rng: &mut R) -> Id {
    let mut id = [0u8; ID_LEN];
    rng.fill_bytes(&mut id);
    id
}

/// Who a party is in a payment thread.
///
/// Complete: a payment thread has exactly two parties.
#[allow(clippy::exhaustive_enums)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Asks for and receives the money; signs requests and receipts.
    Payee,
    /// Pays.
    Payer,
}

impl Role {
    /// The other party's role.
    #[must_use]
    pub fn other(self) -> Self {
        match self {
            Self::Payee => Self::Payer,
            Self::Payer => Self::Payee,
        }
    }
}

/// The kinds of payment message a thread handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MessageKind {
    /// `PaymentRequest` (either kind). Payee only.
    Request,
    /// `PaymentNotice` of kind PAYMENT. Payer only.
    Payment,
    /// `PaymentNotice` of kind REFUND. Payee only.
    Refund,
    /// `Receipt`. Payee only.
    Receipt,
    /// `Decline`. Payer only.
    Decline,
    /// `Cancel`. Payee only.
    Cancel,
}

impl MessageKind {
    /// Every kind, for exhaustive tests.
    pub const ALL: [Self; 6] = [
        Self::Request,
        Self::Payment,
        Self::Refund,
        Self::Receipt,
        Self::Decline,
        Self::Cancel,
    ];

    /// The one role allowed to send this kind.
    #[must_use]
    pub fn sender(self) -> Role {
        match self {
            Self::Payment | Self::Decline => Role::Payer,
            Self::Request | Self::Refund | Self::Receipt | Self::Cancel => Role::Payee,
        }
    }
}

pub(super) fn check_reference(
    request_id: &Id,
    digest: &DocumentDigest,
    request: &SignedRequest,
) -> Result<(), PayError> {
    if *request_id == request.request().request_id && *digest == request.digest() {
        Ok(())
    } else {
        Err(PayError::UnknownRequest)
    }
}
