//! Payment notices: a claim that money moved (payer → payee), or a refund (payee → payer).

use rand_core::CryptoRng;
use remit_wire::{payment, v1};

use super::fields::{bytes32, id16, money, text};
use super::ids::check_reference;
use super::{Id, Settlement, SignedRequest, new_id};
use crate::error::PayError;
use crate::identity::DocumentDigest;
use crate::limits::MAX_MEMO_LEN;
use crate::money::Money;

/// Payment or refund.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NoticeKind {
    /// Payer → payee.
    Payment,
    /// Payee → payer.
    Refund,
}

/// A validated payment notice: a claim that money moved, never trusted on its own.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Notice {
    /// Idempotency key.
    pub payment_id: Id,
    /// Payment or refund.
    pub kind: NoticeKind,
    /// The request.
    pub request_id: Id,
    /// SHA-256 of the request document.
    pub request_digest: DocumentDigest,
    /// Amount claimed (> 0).
    pub amount: Money,
    /// Method used (PAYMENT); 0 for a refund.
    pub method_index: u32,
    /// Where to verify it.
    pub settlement: Settlement,
    /// Free text (stripped).
    pub note: String,
    /// The payment refunded (REFUND only).
    pub refund_of: Option<Id>,
}

impl Notice {
    /// Validates a wire notice (fields only; the thread checks it against its request).
    ///
    /// # Errors
    /// [`PayError::Decode`] for an unknown version, or a field error.
    pub fn from_wire(w: &v1::PaymentNotice) -> Result<Self, PayError> {
        if w.version != payment::PAYMENT_DOCUMENT_VERSION {
            return Err(remit_wire::DecodeError::UnknownVersion {
                what: "PaymentNotice",
                got: w.version,
                supported: payment::PAYMENT_DOCUMENT_VERSION,
            }
            .into());
        }
        let kind = match v1::NoticeKind::try_from(w.kind) {
            Ok(v1::NoticeKind::Payment) => NoticeKind::Payment,
            Ok(v1::NoticeKind::Refund) => NoticeKind::Refund,
            _ => return Err(PayError::invalid("kind", "unknown or unspecified")),
        };
        let amount = money("amount", w.amount.as_ref())?;
        if amount.is_zero() {
            return Err(PayError::invalid("amount", "must be > 0"));
        }
        let refund_of = match kind {
            NoticeKind::Payment if w.refund_of.is_empty() => None,
            NoticeKind::Refund if w.method_index == 0 => Some(id16("refund_of", &w.refund_of)?),
            NoticeKind::Payment => {
                return Err(PayError::invalid("refund_of", "only in a REFUND"));
            }
            NoticeKind::Refund => {
                return Err(PayError::invalid("method_index", "must be 0 in a REFUND"));
            }
        };
        Ok(Self {
            payment_id: id16("payment_id", &w.payment_id)?,
            kind,
            request_id: id16("request_id", &w.request_id)?,
            request_digest: DocumentDigest(bytes32("request_digest", &w.request_digest)?),
            amount,
            method_index: w.method_index,
            settlement: Settlement::from_wire(w.settlement.as_ref())?,
            note: text("note", &w.note, MAX_MEMO_LEN, true)?,
            refund_of,
        })
    }

    /// The wire form.
    #[must_use]
    pub fn to_wire(&self) -> v1::PaymentNotice {
        v1::PaymentNotice {
            version: payment::PAYMENT_DOCUMENT_VERSION,
            payment_id: self.payment_id.to_vec(),
            kind: match self.kind {
                NoticeKind::Payment => v1::NoticeKind::Payment,
                NoticeKind::Refund => v1::NoticeKind::Refund,
            }
            .into(),
            request_id: self.request_id.to_vec(),
            request_digest: self.request_digest.0.to_vec(),
            amount: Some(self.amount.to_wire()),
            method_index: self.method_index,
            note: self.note.clone(),
            settlement: Some(self.settlement.to_wire()),
            refund_of: self.refund_of.map(|r| r.to_vec()).unwrap_or_default(),
        }
    }

    /// A payment towards `request` (payer side), with a fresh payment id. Allocate and persist
    /// the id before paying on the rail: it is the idempotency key.
    ///
    /// # Errors
    /// A field error, or [`PayError::InvalidField`] if the method index or the settlement's rail
    /// does not fit the request.
    pub fn payment<R: CryptoRng + ?Sized>(
        request: &SignedRequest,
        amount: Money,
        method_index: u32,
        settlement: Settlement,
        note: &str,
        rng: &mut R,
    ) -> Result<Self, PayError> {
        let notice = Self::from_wire(
            &Self {
                payment_id: new_id(rng),
                kind: NoticeKind::Payment,
                request_id: request.request().request_id,
                request_digest: request.digest(),
                amount,
                method_index,
                settlement,
                note: note.to_owned(),
                refund_of: None,
            }
            .to_wire(),
        )?;
        notice.check_against(request)?;
        Ok(notice)
    }

    /// A refund of `payment_id` (payee side), with a fresh id.
    ///
    /// # Errors
    /// A field error.
    pub fn refund<R: CryptoRng + ?Sized>(
        request: &SignedRequest,
        payment_id: Id,
        amount: Money,
        settlement: Settlement,
        note: &str,
        rng: &mut R,
    ) -> Result<Self, PayError> {
        Self::from_wire(
            &Self {
                payment_id: new_id(rng),
                kind: NoticeKind::Refund,
                request_id: request.request().request_id,
                request_digest: request.digest(),
                amount,
                method_index: 0,
                settlement,
                note: note.to_owned(),
                refund_of: Some(payment_id),
            }
            .to_wire(),
        )
    }

    /// Checks the notice against its request: same id and digest; for a payment, a method index
    /// inside the request's methods and a settlement on that method's rail.
    pub(crate) fn check_against(&self, request: &SignedRequest) -> Result<(), PayError> {
        check_reference(&self.request_id, &self.request_digest, request)?;
        if self.kind == NoticeKind::Payment {
            let method = usize::try_from(self.method_index)
                .ok()
                .and_then(|i| request.request().methods.get(i))
                .ok_or(PayError::invalid("method_index", "no such method"))?;
            if !method.matches(&self.settlement) {
                return Err(PayError::invalid(
                    "settlement",
                    "not on the chosen method's rail",
                ));
            }
        }
        Ok(())
    }
}
