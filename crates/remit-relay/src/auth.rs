//! Relay authentication: proof of possession of the identity key, bound to one connection.
//!
//! ```text
//! statement = "remit.v1.relay-auth\0" ‖ nonce (32) ‖ exporter (32) ‖ identity (32)
//! exporter  = TLS-Exporter("EXPORTER-remit-relay-auth", context = "", 32)   (RFC 8446 §7.5)
//! signature = Ed25519(identity key, statement), checked with verify_strict
//! ```
//!
//! The nonce is fresh per connection (the relay's `AuthChallenge`), so a signature cannot be
//! replayed to another relay connection; the exporter value is unique to this TLS session, so
//! a relay (or a man in the middle that terminates TLS) cannot forward a client's signature to
//! authenticate as that client on a different connection.

use ed25519_dalek::{Signature, VerifyingKey};

/// Context prefix of the authentication statement.
pub const AUTH_CONTEXT: &[u8] = b"remit.v1.relay-auth\0";

/// TLS exporter label for the connection binding.
pub const EXPORTER_LABEL: &[u8] = b"EXPORTER-remit-relay-auth";

/// Length of the exporter value and of the nonce.
pub const NONCE_LEN: usize = 32;

/// Length of the exporter output.
pub const EXPORTER_LEN: usize = 32;

/// Length of the statement.
pub const STATEMENT_LEN: usize = AUTH_CONTEXT.len() + NONCE_LEN + EXPORTER_LEN + 32;

/// The bytes a client signs to authenticate.
#[must_use]
pub fn auth_statement(
    nonce: &[u8; NONCE_LEN],
    exporter: &[u8; EXPORTER_LEN],
    identity: &[u8; 32],
) -> [u8; STATEMENT_LEN] {
    let mut s = [0u8; STATEMENT_LEN];
    let (ctx, rest) = s.split_at_mut(AUTH_CONTEXT.len());
    ctx.copy_from_slice(AUTH_CONTEXT);
    let (n, rest) = rest.split_at_mut(NONCE_LEN);
    n.copy_from_slice(nonce);
    let (e, id) = rest.split_at_mut(EXPORTER_LEN);
    e.copy_from_slice(exporter);
    id.copy_from_slice(identity);
    s
}

/// Signs the statement with a caller-supplied Ed25519 signer (the client's identity key, which
/// this crate never holds).
#[must_use]
pub fn sign_auth(
    nonce: &[u8; NONCE_LEN],
    exporter: &[u8; EXPORTER_LEN],
    identity: &[u8; 32],
    signer: &dyn Fn(&[u8]) -> [u8; 64],
) -> [u8; 64] {
    signer(&auth_statement(nonce, exporter, identity))
}

/// Checks an authentication signature (strict Ed25519: rejects weak keys and non-canonical
/// signatures).
#[must_use]
pub fn verify_auth(
    nonce: &[u8; NONCE_LEN],
    exporter: &[u8; EXPORTER_LEN],
    identity: &[u8; 32],
    signature: &[u8; 64],
) -> bool {
    let Ok(key) = VerifyingKey::from_bytes(identity) else {
        return false;
    };
    key.verify_strict(
        &auth_statement(nonce, exporter, identity),
        &Signature::from_bytes(signature),
    )
    .is_ok()
}
