//! The identity facts remit-pay needs: fingerprints, the peer's verifying key, our signing key,
//! and the domain-separated statements the payee signs.
//!
//! remit-pay does not depend on remit-session: the caller hands in the keys, and this module
//! computes the fingerprint exactly as spec/handshake.md defines it
//! (SHA-256(`"remit.v1.fingerprint\0"` ‖ IK_sig.pub ‖ IK_dh.pub)), so a request's `payee` field
//! can be compared with the session peer.

use core::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest as _, Sha256};

/// Context of the identity fingerprint hash (spec/handshake.md).
pub const FINGERPRINT_CONTEXT: &[u8] = b"remit.v1.fingerprint\0";

/// Context of the payee's signature over a `PaymentRequest` document (spec/payments.md §5).
pub const REQUEST_SIGNATURE_CONTEXT: &[u8] = b"remit.v1.payment-request\0";

/// Context of the payee's signature over a `Receipt` document (spec/payments.md §5).
pub const RECEIPT_SIGNATURE_CONTEXT: &[u8] = b"remit.v1.receipt\0";

/// A 32-byte identity fingerprint.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// SHA-256(`"remit.v1.fingerprint\0"` ‖ `sig_pub` ‖ `dh_pub`).
    #[must_use]
    pub fn of(sig_pub: &VerifyingKey, dh_pub: &[u8; 32]) -> Self {
        let mut h = Sha256::new();
        h.update(FINGERPRINT_CONTEXT);
        h.update(sig_pub.as_bytes());
        h.update(dh_pub);
        Self(h.finalize().into())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Fingerprint(")?;
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

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

/// The statement a payee signs: `context` ‖ SHA-256(body). 57 bytes for a request, 49 for a
/// receipt.
#[must_use]
pub fn signed_statement(context: &[u8], digest: &DocumentDigest) -> Vec<u8> {
    let mut statement = Vec::with_capacity(context.len().saturating_add(32));
    statement.extend_from_slice(context);
    statement.extend_from_slice(&digest.0);
    statement
}

/// The session peer as the client layer knows it: its Ed25519 identity key and its fingerprint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerIdentity {
    verifying_key: VerifyingKey,
    fingerprint: Fingerprint,
}

impl PeerIdentity {
    /// The peer's identity from its two public keys; the fingerprint is computed, never taken on
    /// faith.
    #[must_use]
    pub fn new(verifying_key: VerifyingKey, dh_pub: &[u8; 32]) -> Self {
        Self {
            fingerprint: Fingerprint::of(&verifying_key, dh_pub),
            verifying_key,
        }
    }

    /// The fingerprint.
    #[must_use]
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// The Ed25519 key payee signatures are checked with.
    #[must_use]
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.verifying_key
    }

    /// Checks `signature` over `context` ‖ `digest` with `verify_strict` (rejects small-order
    /// keys and non-canonical signatures).
    pub(crate) fn verify(
        &self,
        context: &[u8],
        digest: &DocumentDigest,
        signature: &[u8; 64],
    ) -> bool {
        let signature = Signature::from_bytes(signature);
        self.verifying_key
            .verify_strict(&signed_statement(context, digest), &signature)
            .is_ok()
    }
}

/// Our own identity, for signing requests and receipts. Borrows the signing key: its storage and
/// zeroization belong to the caller (remit-session's identity key pair).
pub struct LocalIdentity<'a> {
    signing_key: &'a SigningKey,
    public: PeerIdentity,
}

impl<'a> LocalIdentity<'a> {
    /// Our identity from our signing key and our X25519 public key.
    #[must_use]
    pub fn new(signing_key: &'a SigningKey, dh_pub: &[u8; 32]) -> Self {
        Self {
            public: PeerIdentity::new(signing_key.verifying_key(), dh_pub),
            signing_key,
        }
    }

    /// Our public identity, as the peer sees it.
    #[must_use]
    pub fn public(&self) -> &PeerIdentity {
        &self.public
    }

    pub(crate) fn sign(&self, context: &[u8], digest: &DocumentDigest) -> [u8; 64] {
        self.signing_key
            .sign(&signed_statement(context, digest))
            .to_bytes()
    }
}

impl fmt::Debug for LocalIdentity<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            signing_key: _,
            public,
        } = self;
        f.debug_struct("LocalIdentity")
            .field("public", public)
            .finish_non_exhaustive()
    }
}
