//! Relay authentication: proof of possession of the identity key, bound to one connection.
//!
//! ```text
//! digest    = SHA-256(nonce (32) ‖ exporter (32) ‖ identity (32))
//! statement = "remit.v1.relay-auth\0" ‖ digest                       (52 bytes)
//! exporter  = TLS-Exporter("EXPORTER-remit-relay-auth", context = "", 32)   (RFC 8446 §7.5)
//! signature = Ed25519(identity key, statement), checked with verify_strict
//! ```
//!
//! The statement has the `context ‖ digest` form of remit-session's one signing capability,
//! `Account::sign_statement` (spec/handshake.md §3.5), so a client signs it without the
//! identity key ever leaving remit-session: [`AuthSigner`] is implemented for
//! [`remit_session::Account`].
//!
//! The nonce is fresh per connection (the relay's `AuthChallenge`), so a signature cannot be
//! replayed to another relay connection; the exporter value is unique to this TLS session, so
//! a relay (or a man in the middle that terminates TLS) cannot forward a client's signature to
//! authenticate as that client on a different connection.

use ed25519_dalek::{Signature, VerifyingKey};
use remit_session::{Account, SignError};
use sha2::{Digest, Sha256};

use crate::Address;

/// Context prefix of the authentication statement (registered in spec/README.md §1.3).
pub const AUTH_CONTEXT: &[u8] = b"remit.v1.relay-auth\0";

/// TLS exporter label for the connection binding.
pub const EXPORTER_LABEL: &[u8] = b"EXPORTER-remit-relay-auth";

/// Length of the challenge nonce.
pub const NONCE_LEN: usize = 32;

/// Length of the exporter output.
pub const EXPORTER_LEN: usize = 32;

/// Length of the digest.
pub const DIGEST_LEN: usize = 32;

/// Length of the statement: context ‖ digest.
pub const STATEMENT_LEN: usize = AUTH_CONTEXT.len() + DIGEST_LEN;

/// `SHA-256(nonce ‖ exporter ‖ identity)`: what [`AuthSigner::sign_auth_digest`] signs under
/// [`AUTH_CONTEXT`].
#[must_use]
pub fn auth_digest(
    nonce: &[u8; NONCE_LEN],
    exporter: &[u8; EXPORTER_LEN],
    identity: &Address,
) -> [u8; DIGEST_LEN] {
    let mut h = Sha256::new();
    h.update(nonce);
    h.update(exporter);
    h.update(identity.as_bytes());
    h.finalize().into()
}

/// The bytes a client signs to authenticate: `AUTH_CONTEXT ‖ auth_digest(..)`.
#[must_use]
pub fn auth_statement(
    nonce: &[u8; NONCE_LEN],
    exporter: &[u8; EXPORTER_LEN],
    identity: &Address,
) -> [u8; STATEMENT_LEN] {
    let mut s = [0u8; STATEMENT_LEN];
    let (ctx, digest) = s.split_at_mut(AUTH_CONTEXT.len());
    ctx.copy_from_slice(AUTH_CONTEXT);
    digest.copy_from_slice(&auth_digest(nonce, exporter, identity));
    s
}

/// Whoever can authenticate to a relay: an identity and a way to sign the relay's statement
/// with its key. Implemented for [`remit_session::Account`], so an app passes `&account`; the
/// identity key never leaves remit-session.
pub trait AuthSigner: Sync {
    /// The identity (its Ed25519 public key) to authenticate as.
    fn identity(&self) -> Address;

    /// Signs `AUTH_CONTEXT ‖ digest` with the identity key.
    ///
    /// # Errors
    /// Whatever the signer refuses.
    fn sign_auth_digest(&self, digest: &[u8; DIGEST_LEN]) -> Result<[u8; 64], SignError>;
}

impl AuthSigner for Account {
    fn identity(&self) -> Address {
        Address::new(*Self::identity(self).signing_key())
    }

    fn sign_auth_digest(&self, digest: &[u8; DIGEST_LEN]) -> Result<[u8; 64], SignError> {
        self.sign_statement(AUTH_CONTEXT, digest)
    }
}

/// Signs the statement for this connection with `signer`, as `signer`'s identity.
///
/// # Errors
/// What the signer refuses.
pub fn sign_auth<S: AuthSigner + ?Sized>(
    nonce: &[u8; NONCE_LEN],
    exporter: &[u8; EXPORTER_LEN],
    signer: &S,
) -> Result<[u8; 64], SignError> {
    signer.sign_auth_digest(&auth_digest(nonce, exporter, &signer.identity()))
}

/// Checks an authentication signature (strict Ed25519: rejects weak keys and non-canonical
/// signatures).
#[must_use]
pub fn verify_auth(
    nonce: &[u8; NONCE_LEN],
    exporter: &[u8; EXPORTER_LEN],
    identity: &Address,
    signature: &[u8; 64],
) -> bool {
    let Ok(key) = VerifyingKey::from_bytes(identity.as_bytes()) else {
        return false;
    };
    key.verify_strict(
        &auth_statement(nonce, exporter, identity),
        &Signature::from_bytes(signature),
    )
    .is_ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use rand::{SeedableRng, rngs::ChaCha20Rng};

    use super::*;

    fn account(seed: u8) -> Account {
        Account::new(&mut ChaCha20Rng::from_seed([seed; 32]), 1_700_000_000)
    }

    #[test]
    fn statement_test_vector() {
        let s = auth_statement(&[0x01; 32], &[0x02; 32], &Address::new([0x03; 32]));
        let hex: String = s.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            concat!(
                "72656d69742e76312e72656c61792d6175746800",
                "8a2e491356cfdb05a1d13785e0794d7cd163f91af79a146c976b1d2ac643b679"
            )
        );
        assert_eq!(&s[..AUTH_CONTEXT.len()], AUTH_CONTEXT);
        assert_eq!(s.len(), 52);
    }

    #[test]
    fn account_signature_verifies_and_binds_every_input() {
        let alice = account(1);
        let bob = account(2);
        let id = AuthSigner::identity(&alice);
        let (nonce, exporter) = ([7; 32], [8; 32]);
        let sig = sign_auth(&nonce, &exporter, &alice).unwrap();
        assert!(verify_auth(&nonce, &exporter, &id, &sig));
        // Exactly the session's statement form.
        let digest = auth_digest(&nonce, &exporter, &id);
        assert!(
            alice
                .identity()
                .verify_statement(AUTH_CONTEXT, &digest, &sig)
        );
        assert!(!verify_auth(&[9; 32], &exporter, &id, &sig));
        assert!(!verify_auth(&nonce, &[9; 32], &id, &sig));
        assert!(!verify_auth(
            &nonce,
            &exporter,
            &AuthSigner::identity(&bob),
            &sig
        ));
        let mut bad = sig;
        bad[0] ^= 1;
        assert!(!verify_auth(&nonce, &exporter, &id, &bad));
        assert!(!verify_auth(
            &nonce,
            &exporter,
            &Address::new([0; 32]),
            &sig
        ));
    }
}
