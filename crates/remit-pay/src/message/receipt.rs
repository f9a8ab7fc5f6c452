//! Receipts: what the payee received, signed.

use rand_core::CryptoRng;
use remit_session::VerifiedIdentity;
use remit_wire::{payment, v1};

use super::fields::{bytes32, id16, money, money_like, too_long};
use super::ids::check_reference;
use super::signature::check_signature;
use super::{Id, PayeeSignatureValid, SignedRequest, new_id};
use crate::error::PayError;
use crate::identity::{DocumentDigest, LocalIdentity, RECEIPT_SIGNATURE_CONTEXT};
use crate::limits::MAX_PAYMENTS;
use crate::money::Money;

/// A receipt's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReceiptOutcome {
    /// Paid in full.
    Settled,
    /// Seen, not final.
    Pending,
    /// Part received.
    Partial,
    /// More than the amount received.
    Overpaid,
    /// Received after expiry or cancel.
    Late,
}

impl ReceiptOutcome {
    fn to_wire(self) -> v1::ReceiptOutcome {
        match self {
            Self::Settled => v1::ReceiptOutcome::Settled,
            Self::Pending => v1::ReceiptOutcome::Pending,
            Self::Partial => v1::ReceiptOutcome::Partial,
            Self::Overpaid => v1::ReceiptOutcome::Overpaid,
            Self::Late => v1::ReceiptOutcome::Late,
        }
    }
}

/// A validated receipt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// Random id.
    pub receipt_id: Id,
    /// The request.
    pub request_id: Id,
    /// Its digest.
    pub request_digest: DocumentDigest,
    /// Payments covered, distinct, 1..=`MAX_PAYMENTS`.
    pub payment_ids: Vec<Id>,
    /// Outcome.
    pub outcome: ReceiptOutcome,
    /// Total received.
    pub received: Money,
    /// Still owed.
    pub remaining: Money,
    /// Issue time.
    pub issued_at: u64,
}

impl Receipt {
    fn from_wire(w: &v1::Receipt) -> Result<Self, PayError> {
        let outcome = match v1::ReceiptOutcome::try_from(w.outcome) {
            Ok(v1::ReceiptOutcome::Settled) => ReceiptOutcome::Settled,
            Ok(v1::ReceiptOutcome::Pending) => ReceiptOutcome::Pending,
            Ok(v1::ReceiptOutcome::Partial) => ReceiptOutcome::Partial,
            Ok(v1::ReceiptOutcome::Overpaid) => ReceiptOutcome::Overpaid,
            Ok(v1::ReceiptOutcome::Late) => ReceiptOutcome::Late,
            _ => return Err(PayError::invalid("outcome", "unknown or unspecified")),
        };
        too_long("payment_ids", w.payment_ids.len(), MAX_PAYMENTS)?;
        if w.payment_ids.is_empty() {
            return Err(PayError::invalid("payment_ids", "required"));
        }
        let mut payment_ids: Vec<Id> = Vec::with_capacity(w.payment_ids.len());
        for id in &w.payment_ids {
            let id = id16("payment_ids", id)?;
            if payment_ids.contains(&id) {
                return Err(PayError::invalid("payment_ids", "duplicate id"));
            }
            payment_ids.push(id);
        }
        let received = money("received", w.received.as_ref())?;
        Ok(Self {
            receipt_id: id16("receipt_id", &w.receipt_id)?,
            request_id: id16("request_id", &w.request_id)?,
            request_digest: DocumentDigest(bytes32("request_digest", &w.request_digest)?),
            payment_ids,
            outcome,
            remaining: money_like("remaining", w.remaining.as_ref(), &received)?,
            received,
            issued_at: w.issued_at,
        })
    }

    /// Checks the receipt's figures against its request: `remaining` = amount − received (or
    /// zero), and the outcome agrees with the figures.
    pub(crate) fn check_against(&self, request: &SignedRequest) -> Result<(), PayError> {
        check_reference(&self.request_id, &self.request_digest, request)?;
        let amount = &request.request().amount;
        let order = self
            .received
            .checked_cmp(amount)
            .map_err(PayError::money("received"))?;
        let remaining = amount
            .saturating_sub(&self.received)
            .map_err(PayError::money("received"))?;
        if self.remaining != remaining {
            return Err(PayError::invalid("remaining", "does not add up"));
        }
        use core::cmp::Ordering::{Equal, Greater, Less};
        let consistent = match self.outcome {
            ReceiptOutcome::Settled => order == Equal,
            ReceiptOutcome::Overpaid => order == Greater,
            ReceiptOutcome::Partial => order == Less && !self.received.is_zero(),
            ReceiptOutcome::Pending | ReceiptOutcome::Late => true,
        };
        if consistent {
            Ok(())
        } else {
            Err(PayError::invalid("outcome", "contradicts the amounts"))
        }
    }
}

/// A receipt whose payee signature verified. Holds the exact document bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedReceipt {
    receipt: Receipt,
    body: Vec<u8>,
    signature: [u8; 64],
    digest: DocumentDigest,
    verified: PayeeSignatureValid,
}

impl SignedReceipt {
    /// Verifies a received receipt document: signature under `payee` (over
    /// `"remit.v1.receipt\0"` ‖ SHA-256(body)) first, then decode and validate.
    ///
    /// # Errors
    /// [`PayError::BadSignature`], [`PayError::Decode`] or a field error.
    pub fn verify(doc: &v1::SignedDocument, payee: &VerifiedIdentity) -> Result<Self, PayError> {
        let (digest, signature, verified) = check_signature(payee, RECEIPT_SIGNATURE_CONTEXT, doc)?;
        let wire = payment::decode_receipt(&doc.body)?;
        Ok(Self {
            receipt: Receipt::from_wire(&wire)?,
            body: doc.body.clone(),
            signature,
            digest,
            verified,
        })
    }

    /// Builds and signs a receipt for `request` as its payee.
    ///
    /// # Errors
    /// A field error, or the receipt contradicts the request's amount.
    #[allow(clippy::too_many_arguments)]
    pub fn sign<R: CryptoRng + ?Sized>(
        payee: &LocalIdentity<'_>,
        request: &SignedRequest,
        payment_ids: &[Id],
        outcome: ReceiptOutcome,
        received: &Money,
        issued_at: u64,
        rng: &mut R,
    ) -> Result<Self, PayError> {
        let remaining = request
            .request()
            .amount
            .saturating_sub(received)
            .map_err(PayError::money("received"))?;
        let wire = v1::Receipt {
            version: payment::PAYMENT_DOCUMENT_VERSION,
            receipt_id: new_id(rng).to_vec(),
            request_id: request.request().request_id.to_vec(),
            request_digest: request.digest().0.to_vec(),
            payment_ids: payment_ids.iter().map(|p| p.to_vec()).collect(),
            outcome: outcome.to_wire().into(),
            received: Some(received.to_wire()),
            remaining: Some(remaining.to_wire()),
            issued_at,
        };
        let signed = sign_receipt_wire(&wire, payee)?;
        signed.receipt.check_against(request)?;
        Ok(signed)
    }

    /// The validated receipt.
    #[must_use]
    pub fn receipt(&self) -> &Receipt {
        &self.receipt
    }

    /// The exact document bytes.
    #[must_use]
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The signature.
    #[must_use]
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }

    /// SHA-256 of the document bytes.
    #[must_use]
    pub fn digest(&self) -> DocumentDigest {
        self.digest
    }

    /// The proof that the signature was checked.
    #[must_use]
    pub fn signature_valid(&self) -> PayeeSignatureValid {
        self.verified
    }

    /// The wire `SignedDocument`.
    #[must_use]
    pub fn to_document(&self) -> v1::SignedDocument {
        v1::SignedDocument {
            body: self.body.clone(),
            signature: self.signature.to_vec(),
        }
    }
}

/// Encodes and signs any wire receipt as `payee` and verifies the result.
///
/// # Errors
/// As [`SignedReceipt::verify`].
pub(crate) fn sign_receipt_wire(
    wire: &v1::Receipt,
    payee: &LocalIdentity<'_>,
) -> Result<SignedReceipt, PayError> {
    let body = payment::encode_receipt(wire)?;
    let signature = payee.sign(RECEIPT_SIGNATURE_CONTEXT, &DocumentDigest::of(&body))?;
    let doc = v1::SignedDocument {
        body,
        signature: signature.to_vec(),
    };
    SignedReceipt::verify(&doc, payee.public())
}
