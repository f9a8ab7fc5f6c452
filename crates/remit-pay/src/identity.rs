//! The identity facts remit-pay needs, taken from remit-session: the peer is a
//! [`VerifiedIdentity`] (its fingerprint names the payee of a request), and we sign through
//! [`Account::sign_statement`], the session layer's narrow capability for statements of the
//! layers above (spec/handshake.md §3.5). remit-pay never holds a key.

use core::fmt;

use remit_session::{Account, VerifiedIdentity};
use sha2::{Digest as _, Sha256};

use crate::error::PayError;

/// Context of the payee's signature over a `PaymentRequest` document (spec/payments.md §5).
pub const REQUEST_SIGNATURE_CONTEXT: &[u8] = b"remit.v1.payment-request\0";

/// Context of the payee's signature over a `Receipt` document (spec/payments.md §5).
pub const RECEIPT_SIGNATURE_CONTEXT: &[u8] = b"remit.v1.receipt\0";

/// SHA-256 of the exact bytes of a payment document: the `request_digest` every reply carries.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DocumentDigest(pub [u8; 32]);

impl DocumentDigest {
    /// SHA-256(`body`), over the bytes as received.
    #[must_use]
    pub fn of(body: &[u8]) -> Self {
        Self(Sha256::digest(body).into())
    }
}

impl fmt::Debug for DocumentDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DocumentDigest(")?;
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

#[cfg(feature = "internal")]
/// The statement a payee signs: `context` ‖ SHA-256(body). 57 bytes for a request, 49 for a
/// receipt. (Signing goes through [`Account::sign_statement`], which builds the same bytes; this
/// function is for vectors and independent checks.)
#[must_use]
pub(crate) fn signed_statement(context: &[u8], digest: &DocumentDigest) -> Vec<u8> {
    let mut statement = Vec::with_capacity(context.len().saturating_add(32));
    statement.extend_from_slice(context);
    statement.extend_from_slice(&digest.0);
    statement
}

/// Checks a payee signature over `context` ‖ `digest` under `peer` (`verify_strict`: rejects
/// small-order keys and non-canonical signatures).
pub(crate) fn verify(
    peer: &VerifiedIdentity,
    context: &[u8],
    digest: &DocumentDigest,
    signature: &[u8; 64],
) -> bool {
    peer.verify_statement(context, &digest.0, signature)
}

/// Our own identity, for signing requests and receipts: a borrow of our
/// [`remit_session::Account`], which keeps the identity key and signs only through
/// [`Account::sign_statement`].
pub struct LocalIdentity<'a> {
    account: &'a Account,
}

impl<'a> LocalIdentity<'a> {
    /// Our identity, signing with `account`'s identity key.
    #[must_use]
    pub fn new(account: &'a Account) -> Self {
        Self { account }
    }

    /// Our public identity, as the peer sees it.
    #[must_use]
    pub fn public(&self) -> &'a VerifiedIdentity {
        self.account.identity()
    }

    pub(crate) fn sign(
        &self,
        context: &[u8],
        digest: &DocumentDigest,
    ) -> Result<[u8; 64], PayError> {
        Ok(self.account.sign_statement(context, &digest.0)?)
    }
}

impl fmt::Debug for LocalIdentity<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalIdentity")
            .field("public", self.public())
            .finish_non_exhaustive()
    }
}
