//! Entry points for this crate's tests, its vector generator and `fuzz/`.
//!
//! **Not part of the API.** Compiled only with the `internal` feature. These functions sign any
//! wire document, bypassing the checks of the drafts, or expose intermediate byte strings; no
//! semver promise covers them.

use remit_wire::v1;

use crate::{
    DocumentDigest, Id, LocalIdentity, PayError, PaymentMessage, SignedReceipt, SignedRequest,
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
