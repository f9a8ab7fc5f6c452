//! Entry points for this crate's tests, its vector generator and `fuzz/`.
//!
//! **Not part of the API.** Compiled only with the `internal` feature. These functions sign any
//! wire document, bypassing the checks of the drafts, expose intermediate byte strings, or build
//! the shared test fixtures; no semver promise covers them.

use remit_wire::v1;

use crate::{
    AdjustmentDraft, DocumentDigest, Id, InvoiceDraft, LineDraft, LocalIdentity, Money, PayError,
    PaymentMessage, SignedReceipt, SignedRequest,
};

/// Encodes and signs any wire request as `payee` and verifies the result, for tests that need
/// exact control of the document.
///
/// # Errors
/// As [`SignedRequest::verify`].
pub fn sign_request_wire(
    wire: &v1::PaymentRequest,
    payee: &LocalIdentity<'_>,
) -> Result<SignedRequest, PayError> {
    crate::message::sign_request_wire(wire, payee)
}

/// Encodes and signs any wire receipt as `payee` and verifies the result.
///
/// # Errors
/// As [`SignedReceipt::verify`].
pub fn sign_receipt_wire(
    wire: &v1::Receipt,
    payee: &LocalIdentity<'_>,
) -> Result<SignedReceipt, PayError> {
    crate::message::sign_receipt_wire(wire, payee)
}

/// The `Content` carrying `message` (what [`crate::seal`] encodes).
#[must_use]
pub fn content_for(message_id: Id, message: &PaymentMessage) -> v1::Content {
    crate::message::content_for(message_id, message)
}

/// The statement a payee signature covers: `context ‖ digest` (spec/payments.md).
#[must_use]
pub fn signed_statement(context: &[u8], digest: &DocumentDigest) -> Vec<u8> {
    crate::identity::signed_statement(context, digest)
}

/// The one sample invoice that this crate's tests, the payment vectors and the engine's tests
/// share, issued at `issued_at` and due 30 days later: subtotal 2 × 25.00 + 1.5 × 10.00 = 65.00
/// USD, a 5.00 discount, taxes 12.00 + 29.76, no credits; total and amount due 101.76 USD.
#[must_use]
#[allow(clippy::missing_panics_doc)]
pub fn sample_invoice(issued_at: u64) -> InvoiceDraft {
    // Literal amounts in a known asset: parsing cannot fail.
    #[allow(clippy::expect_used)]
    let usd = |s: &str| Money::parse(&format!("{s} USD")).expect("a literal USD amount");
    InvoiceDraft {
        number: "INV-2026-0042".into(),
        issuer: "Alice Design Ltd\n1 Main St, Springfield".into(),
        issued_at,
        due_at: issued_at.saturating_add(30 * 86_400),
        items: vec![
            LineDraft {
                description: "Logo design".into(),
                quantity: "2".into(),
                unit_price: usd("25.00"),
            },
            LineDraft {
                description: "Consulting (hours)".into(),
                quantity: "1.5".into(),
                unit_price: usd("10.00"),
            },
        ],
        discounts: vec![AdjustmentDraft {
            description: "Loyalty".into(),
            rate_percent: String::new(),
            amount: usd("5.00"),
        }],
        taxes: vec![
            AdjustmentDraft {
                description: "VAT 20%".into(),
                rate_percent: "20".into(),
                amount: usd("12.00"),
            },
            AdjustmentDraft {
                description: "Shipping".into(),
                rate_percent: String::new(),
                amount: usd("29.76"),
            },
        ],
        credits: usd("0.00"),
    }
}
