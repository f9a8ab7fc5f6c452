//! Payment requests: the validated view, the signed document, and the builder.

use rand_core::CryptoRng;
use remit_session::{Fingerprint, VerifiedIdentity};
use remit_wire::{payment, v1};

use super::fields::{bytes32, id16, money, text, too_long};
use super::signature::check_signature;
use super::{Id, Invoice, InvoiceDraft, PayeeSignatureValid, PaymentMethod, new_id};
use crate::error::PayError;
use crate::identity::{DocumentDigest, LocalIdentity, REQUEST_SIGNATURE_CONTEXT};
use crate::limits::{
    MAX_INVOICE_LIFETIME_SECS, MAX_MEMO_LEN, MAX_METHODS, MAX_NAME_LEN, MAX_REFERENCE_LEN,
    MAX_REQUEST_LIFETIME_SECS,
};
use crate::money::Money;

/// Plain request or invoice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestKind {
    /// A request for money.
    Request,
    /// An itemised invoice.
    Invoice,
}

/// A validated payment request (the content of a signed document).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentRequest {
    /// Random id.
    pub request_id: Id,
    /// Request or invoice.
    pub kind: RequestKind,
    /// The payee's identity fingerprint (equals the verified signer).
    pub payee: Fingerprint,
    /// Display name (informative, stripped).
    pub payee_name: String,
    /// Amount requested (> 0).
    pub amount: Money,
    /// Accepted methods, 1..=`MAX_METHODS`.
    pub methods: Vec<PaymentMethod>,
    /// Memo (stripped, may contain newlines).
    pub memo: String,
    /// Payee reference.
    pub reference: String,
    /// Creation time.
    pub created_at: u64,
    /// Expiry time (> `created_at`, lifetime capped).
    pub expires_at: u64,
    /// Partial payments allowed.
    pub allow_partial: bool,
    /// Invoice details, exactly when `kind` is `Invoice`.
    pub invoice: Option<Invoice>,
}

impl PaymentRequest {
    fn from_wire(w: &v1::PaymentRequest) -> Result<Self, PayError> {
        let kind = match v1::RequestKind::try_from(w.kind) {
            Ok(v1::RequestKind::Request) => RequestKind::Request,
            Ok(v1::RequestKind::Invoice) => RequestKind::Invoice,
            _ => return Err(PayError::invalid("kind", "unknown or unspecified")),
        };
        let amount = money("amount", w.amount.as_ref())?;
        if amount.is_zero() {
            return Err(PayError::invalid("amount", "must be > 0"));
        }
        too_long("methods", w.methods.len(), MAX_METHODS)?;
        if w.methods.is_empty() {
            return Err(PayError::invalid("methods", "required"));
        }
        let methods = w
            .methods
            .iter()
            .map(PaymentMethod::from_wire)
            .collect::<Result<Vec<_>, _>>()?;
        if w.expires_at <= w.created_at {
            return Err(PayError::invalid("expires_at", "not after created_at"));
        }
        let max_lifetime = match kind {
            RequestKind::Request => MAX_REQUEST_LIFETIME_SECS,
            RequestKind::Invoice => MAX_INVOICE_LIFETIME_SECS,
        };
        if w.expires_at.saturating_sub(w.created_at) > max_lifetime {
            return Err(PayError::invalid("expires_at", "lifetime over the limit"));
        }
        let invoice = match (kind, &w.invoice) {
            (RequestKind::Invoice, Some(i)) => Some(Invoice::from_wire(i, &amount)?),
            (RequestKind::Request, None) => None,
            _ => {
                return Err(PayError::invalid(
                    "invoice",
                    "present exactly when kind is INVOICE",
                ));
            }
        };
        Ok(Self {
            request_id: id16("request_id", &w.request_id)?,
            kind,
            payee: Fingerprint::from_bytes(bytes32("payee", &w.payee)?),
            payee_name: text("payee_name", &w.payee_name, MAX_NAME_LEN, false)?,
            amount,
            methods,
            memo: text("memo", &w.memo, MAX_MEMO_LEN, true)?,
            reference: text("reference", &w.reference, MAX_REFERENCE_LEN, false)?,
            created_at: w.created_at,
            expires_at: w.expires_at,
            allow_partial: w.allow_partial,
            invoice,
        })
    }
}

/// A payment request whose payee signature verified under the session peer's key and whose
/// payee field is that peer. Holds the exact document bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedRequest {
    request: PaymentRequest,
    body: Vec<u8>,
    signature: [u8; 64],
    digest: DocumentDigest,
    verified: PayeeSignatureValid,
}

impl SignedRequest {
    /// Verifies a received `SignedDocument` as a request from `payee` (the session peer): the
    /// signature first (over `"remit.v1.payment-request\0"` ‖ SHA-256(body), `verify_strict`),
    /// then the body is decoded and validated, then its payee field must be the peer.
    ///
    /// # Errors
    /// [`PayError::BadSignature`], [`PayError::Decode`], a field error, or
    /// [`PayError::PayeeMismatch`].
    pub fn verify(doc: &v1::SignedDocument, payee: &VerifiedIdentity) -> Result<Self, PayError> {
        let (digest, signature, verified) = check_signature(payee, REQUEST_SIGNATURE_CONTEXT, doc)?;
        let wire = payment::decode_payment_request(&doc.body)?;
        let request = PaymentRequest::from_wire(&wire)?;
        if request.payee != payee.fingerprint() {
            return Err(PayError::PayeeMismatch);
        }
        Ok(Self {
            request,
            body: doc.body.clone(),
            signature,
            digest,
            verified,
        })
    }

    /// The validated request.
    #[must_use]
    pub fn request(&self) -> &PaymentRequest {
        &self.request
    }

    /// The exact document bytes.
    #[must_use]
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The payee signature.
    #[must_use]
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }

    /// SHA-256 of the document bytes: the `request_digest` of every reply.
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

/// What the payee fills in to make a request. The request id is drawn from the rng and the payee
/// is the signer; an invoice's amount is checked against its amount due.
#[derive(Clone, Debug)]
pub struct RequestDraft {
    /// Amount requested.
    pub amount: Money,
    /// Accepted methods.
    pub methods: Vec<PaymentMethod>,
    /// Memo.
    pub memo: String,
    /// Payee reference.
    pub reference: String,
    /// Display name.
    pub payee_name: String,
    /// Creation time (the caller's clock).
    pub created_at: u64,
    /// Expiry.
    pub expires_at: u64,
    /// Partial payments allowed.
    pub allow_partial: bool,
    /// Invoice details: makes the request an INVOICE.
    pub invoice: Option<InvoiceDraft>,
}

impl RequestDraft {
    /// Builds, encodes and signs the request as `payee`, then verifies it as a receiver would.
    ///
    /// # Errors
    /// Any validation error of the resulting request (the draft is checked exactly as a
    /// receiver checks it), or [`PayError::Encode`] if it is over `MAX_DOCUMENT_LEN`.
    pub fn sign<R: CryptoRng + ?Sized>(
        &self,
        payee: &LocalIdentity<'_>,
        rng: &mut R,
    ) -> Result<SignedRequest, PayError> {
        let (kind, invoice) = match &self.invoice {
            Some(i) => (v1::RequestKind::Invoice, Some(i.to_wire()?)),
            None => (v1::RequestKind::Request, None),
        };
        let wire = v1::PaymentRequest {
            version: payment::PAYMENT_DOCUMENT_VERSION,
            request_id: new_id(rng).to_vec(),
            kind: kind.into(),
            payee: payee.public().fingerprint().as_bytes().to_vec(),
            amount: Some(self.amount.to_wire()),
            methods: self.methods.iter().map(PaymentMethod::to_wire).collect(),
            memo: self.memo.clone(),
            reference: self.reference.clone(),
            created_at: self.created_at,
            expires_at: self.expires_at,
            allow_partial: self.allow_partial,
            invoice,
            payee_name: self.payee_name.clone(),
        };
        sign_request_wire(&wire, payee)
    }
}

/// Encodes and signs any wire request as `payee` and verifies the result.
///
/// # Errors
/// As [`SignedRequest::verify`].
pub(crate) fn sign_request_wire(
    wire: &v1::PaymentRequest,
    payee: &LocalIdentity<'_>,
) -> Result<SignedRequest, PayError> {
    let body = payment::encode_payment_request(wire)?;
    let signature = payee.sign(REQUEST_SIGNATURE_CONTEXT, &DocumentDigest::of(&body))?;
    let doc = v1::SignedDocument {
        body,
        signature: signature.to_vec(),
    };
    SignedRequest::verify(&doc, payee.public())
}
