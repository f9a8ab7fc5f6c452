//! Identities: an Ed25519 signing key bound to a separate X25519 agreement key (design:
//! "Identity").
//!
//! ```text
//! binding statement = "remit.v1.identity-binding\0" ‖ IK_sig.pub ‖ IK_dh.pub
//! fingerprint       = SHA-256("remit.v1.fingerprint\0" ‖ IK_sig.pub ‖ IK_dh.pub)
//! safety number     = digits(smaller fingerprint) ‖ digits(other fingerprint), where
//!   digits(fp)      = six 5-digit groups: first 30 bytes of SHA-512("remit.v1.safety-number\0" ‖ fp)
//!                     as six big-endian u40 chunks, each mod 100000
//! statement         = context ‖ digest (32 bytes), signed for the layers above (spec/handshake.md
//!                     §3.5); context = "remit.v1." ‖ name ‖ 0x00, ≤ 64 bytes, not a session context
//! ```

use core::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rand_core::CryptoRng;
use remit_wire::session::IdentityKey;
use sha2::{Digest, Sha256, Sha512};
use x25519_dalek::{PublicKey, StaticSecret};

use crate::error::{HandshakeError, SignError};

const BINDING_CONTEXT: &[u8] = b"remit.v1.identity-binding\0";
const FINGERPRINT_CONTEXT: &[u8] = b"remit.v1.fingerprint\0";
const SAFETY_NUMBER_CONTEXT: &[u8] = b"remit.v1.safety-number\0";

/// Longest context accepted for a statement of another layer
/// ([`Account::sign_statement`](crate::Account::sign_statement)): 64 bytes, so a statement is at
/// most 96 bytes and the contexts stay short, readable ASCII names.
pub const MAX_STATEMENT_CONTEXT_LEN: usize = 64;

/// Every context of a statement of another layer starts with this.
const STATEMENT_CONTEXT_PREFIX: &[u8] = b"remit.v1.";

/// The session layer's own contexts (spec/handshake.md §2.4), refused for statements of other
/// layers. The signed-prekey context is written out here because prekeys.rs keeps its constant
/// private; a unit test checks that it is the prefix of the real signed-prekey statement.
const SESSION_CONTEXTS: [&[u8]; 7] = [
    BINDING_CONTEXT,
    b"remit.v1.signed-prekey\0",
    FINGERPRINT_CONTEXT,
    SAFETY_NUMBER_CONTEXT,
    crate::kdf::INFO_X3DH,
    crate::kdf::INFO_ROOT,
    crate::kdf::INFO_MESSAGE_KEYS,
];

/// Checks the context of a statement of another layer (spec/handshake.md §3.5).
///
/// Why such a statement can never be mistaken for one of the session's own signed statements
/// (the binding statement `"remit.v1.identity-binding\0" ‖ 64 bytes`, 90 bytes in all, and the
/// signed-prekey statement `"remit.v1.signed-prekey\0" ‖ 44 bytes`, 67 bytes):
///
/// 1. *Distinct contexts.* Every context here and every session context contains exactly one
///    0x00 byte, its last. So the context of any signed message is recoverable as "the bytes up
///    to and including the first 0x00", and two statements that are equal as byte strings have
///    the same context. The session's contexts are refused, so a statement of another layer
///    never has a session context, and no byte string is both.
/// 2. *Different fixed lengths.* Even for one context, a statement of another layer is always
///    `context ‖ 32 bytes`, while the binding statement is `context ‖ 64 bytes` and the
///    signed-prekey statement `context ‖ 44 bytes`: the same context could not produce the same
///    bytes anyway.
///
/// The hash and KDF contexts (fingerprint, safety number, X3DH, ratchet root, message keys) are
/// never signed; they are refused too so that no Ed25519 statement ever shares a prefix with a
/// hash or KDF input of this layer.
pub(crate) fn check_statement_context(context: &[u8]) -> Result<(), SignError> {
    if context.len() > MAX_STATEMENT_CONTEXT_LEN {
        return Err(SignError::TooLong {
            len: context.len(),
            max: MAX_STATEMENT_CONTEXT_LEN,
        });
    }
    if !context.starts_with(STATEMENT_CONTEXT_PREFIX) {
        return Err(SignError::MissingPrefix);
    }
    let Some((&last, body)) = context.split_last() else {
        return Err(SignError::MissingTerminator);
    };
    if last != 0 {
        return Err(SignError::MissingTerminator);
    }
    if body.contains(&0) {
        return Err(SignError::InteriorNul);
    }
    if SESSION_CONTEXTS.contains(&context) {
        return Err(SignError::ReservedContext);
    }
    Ok(())
}

/// `context ‖ digest`, for a context that passed [`check_statement_context`] (≤ 96 bytes).
pub(crate) fn statement(context: &[u8], digest: &[u8; 32]) -> Vec<u8> {
    let mut s = Vec::with_capacity(context.len().saturating_add(digest.len()));
    s.extend_from_slice(context);
    s.extend_from_slice(digest);
    s
}

/// A public identity whose binding signature has been verified (a proof value: the only
/// constructors check the signature).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct VerifiedIdentity {
    key: IdentityKey,
}

impl VerifiedIdentity {
    /// Verifies the binding signature of a decoded identity (`verify_strict`).
    ///
    /// # Errors
    /// [`HandshakeError::BadIdentitySignature`] if the signing key is invalid or weak, or the
    /// signature does not verify.
    pub fn verify(key: &IdentityKey) -> Result<Self, HandshakeError> {
        let verifying_key = VerifyingKey::from_bytes(&key.signing_key)
            .map_err(|_| HandshakeError::BadIdentitySignature)?;
        let statement = binding_statement(&key.signing_key, &key.agreement_key);
        verifying_key
            .verify_strict(&statement, &Signature::from_bytes(&key.binding_signature))
            .map_err(|_| HandshakeError::BadIdentitySignature)?;
        Ok(Self { key: *key })
    }

    /// An identity read back from this library's own session record, whose binding was verified
    /// before the record was written. Loading a record does not repeat the Ed25519 check: the
    /// caller's store authenticates records at rest (spec/ratchet.md §6), and a session load is
    /// on the path of every message an app processes.
    pub(crate) fn from_trusted_record(key: IdentityKey) -> Self {
        Self { key }
    }

    /// The wire form of this identity (what goes into bundles and prekey messages).
    #[must_use]
    pub fn as_wire(&self) -> &IdentityKey {
        &self.key
    }

    /// The Ed25519 public key.
    #[must_use]
    pub fn signing_key(&self) -> &[u8; 32] {
        &self.key.signing_key
    }

    /// The X25519 public key.
    #[must_use]
    pub fn agreement_key(&self) -> &[u8; 32] {
        &self.key.agreement_key
    }

    /// The identity's fingerprint.
    #[must_use]
    pub fn fingerprint(&self) -> Fingerprint {
        let mut h = Sha256::new();
        h.update(FINGERPRINT_CONTEXT);
        h.update(self.key.signing_key);
        h.update(self.key.agreement_key);
        Fingerprint(h.finalize().into())
    }

    /// Verifies a statement of another layer signed by this identity with
    /// [`Account::sign_statement`](crate::Account::sign_statement): `signature` over exactly
    /// `context ‖ digest`, with `verify_strict`. False if the signature does not verify, or if
    /// `context` is one that `sign_statement` refuses (so a session statement can never be
    /// accepted through this method).
    #[must_use]
    pub fn verify_statement(
        &self,
        context: &[u8],
        digest: &[u8; 32],
        signature: &[u8; 64],
    ) -> bool {
        check_statement_context(context).is_ok()
            && self.verify_signature(&statement(context, digest), signature)
    }

    /// Verifies an Ed25519 signature by this identity (`verify_strict`).
    pub(crate) fn verify_signature(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        VerifyingKey::from_bytes(&self.key.signing_key).is_ok_and(|verifying_key| {
            verifying_key
                .verify_strict(message, &Signature::from_bytes(signature))
                .is_ok()
        })
    }
}

impl fmt::Debug for VerifiedIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self { key: _ } = self;
        f.debug_tuple("VerifiedIdentity")
            .field(&self.fingerprint())
            .finish()
    }
}

/// The 32-byte fingerprint of an identity. Displays as 64 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// A fingerprint as read off the wire (for example the `payee` field of a payment request).
    /// It names an identity; it proves nothing until compared with a [`VerifiedIdentity`]'s
    /// [`VerifiedIdentity::fingerprint`].
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The fingerprint bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// The 60-digit number two parties compare to authenticate each other. Both sides compute the
/// same value. Displays as 12 groups of 5 digits separated by spaces.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SafetyNumber([u8; 60]);

impl SafetyNumber {
    /// The 60 ASCII digits, without spaces.
    #[must_use]
    pub fn digits(&self) -> &str {
        core::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for SafetyNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, group) in self.0.chunks(5).enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(core::str::from_utf8(group).unwrap_or_default())?;
        }
        Ok(())
    }
}

impl fmt::Debug for SafetyNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SafetyNumber({self})")
    }
}

/// The safety number of two identities; the argument order does not matter.
#[must_use]
pub fn safety_number(a: &VerifiedIdentity, b: &VerifiedIdentity) -> SafetyNumber {
    let (fa, fb) = (a.fingerprint(), b.fingerprint());
    let (first, second) = if fa <= fb { (fa, fb) } else { (fb, fa) };
    let mut out = [b'0'; 60];
    let (left, right) = out.split_at_mut(30);
    safety_digits(&first, left);
    safety_digits(&second, right);
    SafetyNumber(out)
}

/// Writes the 30 digits of one fingerprint into `out` (30 bytes).
fn safety_digits(fp: &Fingerprint, out: &mut [u8]) {
    let mut h = Sha512::new();
    h.update(SAFETY_NUMBER_CONTEXT);
    h.update(fp.0);
    let hash = h.finalize();
    for (chunk, digits) in hash.chunks_exact(5).take(6).zip(out.chunks_exact_mut(5)) {
        let value = chunk.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)) % 100_000;
        let mut v = value;
        for d in digits.iter_mut().rev() {
            // v % 10 < 10, so the cast cannot truncate.
            #[allow(clippy::cast_possible_truncation)]
            let digit = (v % 10) as u8;
            *d = b'0' + digit;
            v /= 10;
        }
    }
}

/// The binding statement an identity's signing key signs.
fn binding_statement(signing_key: &[u8; 32], agreement_key: &[u8; 32]) -> [u8; 26 + 64] {
    let mut s = [0u8; 26 + 64];
    let (ctx, keys) = s.split_at_mut(BINDING_CONTEXT.len());
    ctx.copy_from_slice(BINDING_CONTEXT);
    let (sig, dh) = keys.split_at_mut(32);
    sig.copy_from_slice(signing_key);
    dh.copy_from_slice(agreement_key);
    s
}

/// Our identity: the secret halves and the verified public identity.
pub(crate) struct IdentityKeyPair {
    signing: Box<SigningKey>,
    agreement: Box<StaticSecret>,
    public: VerifiedIdentity,
}

impl IdentityKeyPair {
    /// A new identity (signing key first, then agreement key, from `rng`).
    pub(crate) fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let signing = Box::new(SigningKey::generate(rng));
        let agreement = Box::new(StaticSecret::random_from_rng(rng));
        Self::from_parts(signing, agreement)
    }

    /// Rebuilds an identity from its secrets (the binding signature is deterministic).
    pub(crate) fn from_secrets(signing: &[u8; 32], agreement: &[u8; 32]) -> Self {
        Self::from_parts(
            Box::new(SigningKey::from_bytes(signing)),
            Box::new(StaticSecret::from(*agreement)),
        )
    }

    fn from_parts(signing: Box<SigningKey>, agreement: Box<StaticSecret>) -> Self {
        let verifying_key = signing.verifying_key();
        let signing_pub = verifying_key.to_bytes();
        let agreement_pub = PublicKey::from(agreement.as_ref()).to_bytes();
        let binding_signature = signing
            .sign(&binding_statement(&signing_pub, &agreement_pub))
            .to_bytes();
        let key = IdentityKey {
            signing_key: signing_pub,
            agreement_key: agreement_pub,
            binding_signature,
        };
        Self {
            signing,
            agreement,
            public: VerifiedIdentity { key },
        }
    }

    pub(crate) fn public(&self) -> &VerifiedIdentity {
        &self.public
    }

    pub(crate) fn agreement(&self) -> &StaticSecret {
        &self.agreement
    }

    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }

    /// The secrets, for the account record.
    pub(crate) fn signing_secret(&self) -> &[u8; 32] {
        self.signing.as_bytes()
    }

    pub(crate) fn agreement_secret(&self) -> &[u8; 32] {
        self.agreement.as_bytes()
    }
}

impl fmt::Debug for IdentityKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            signing: _,
            agreement: _,
            public,
        } = self;
        f.debug_struct("IdentityKeyPair")
            .field("public", public)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use rand::{SeedableRng, rngs::ChaCha20Rng};

    use super::*;

    fn pair(seed: u64) -> IdentityKeyPair {
        IdentityKeyPair::generate(&mut ChaCha20Rng::seed_from_u64(seed))
    }

    #[test]
    fn own_identity_verifies_and_round_trips_from_secrets() {
        let id = pair(1);
        let wire = *id.public().as_wire();
        assert_eq!(
            VerifiedIdentity::verify(&wire).map(|v| *v.as_wire()),
            Ok(wire)
        );
        let again = IdentityKeyPair::from_secrets(id.signing_secret(), id.agreement_secret());
        assert_eq!(again.public(), id.public());
    }

    #[test]
    fn forged_binding_is_rejected() {
        let a = pair(1);
        let b = pair(2);
        // A's signing key claiming B's agreement key, with A's signature over A's keys.
        let mut forged = *a.public().as_wire();
        forged.agreement_key = *b.public().agreement_key();
        assert_eq!(
            VerifiedIdentity::verify(&forged),
            Err(HandshakeError::BadIdentitySignature)
        );
        // A flipped signature bit.
        let mut flipped = *a.public().as_wire();
        flipped.binding_signature[10] ^= 1;
        assert_eq!(
            VerifiedIdentity::verify(&flipped),
            Err(HandshakeError::BadIdentitySignature)
        );
        // Not a valid curve point / weak key.
        let mut weak = *a.public().as_wire();
        weak.signing_key = [0; 32];
        assert_eq!(
            VerifiedIdentity::verify(&weak),
            Err(HandshakeError::BadIdentitySignature)
        );
    }

    #[test]
    fn binding_signed_under_another_context_is_rejected() {
        let id = pair(3);
        let wire = *id.public().as_wire();
        let mut other = Vec::from(&b"remit.v1.signed-prekey\0"[..]);
        other.extend_from_slice(&wire.signing_key);
        other.extend_from_slice(&wire.agreement_key);
        let mut forged = wire;
        forged.binding_signature = id.sign(&other);
        assert_eq!(
            VerifiedIdentity::verify(&forged),
            Err(HandshakeError::BadIdentitySignature)
        );
        // Without the NUL terminator the statement differs too.
        let mut no_nul = Vec::from(&b"remit.v1.identity-binding"[..]);
        no_nul.extend_from_slice(&wire.signing_key);
        no_nul.extend_from_slice(&wire.agreement_key);
        forged.binding_signature = id.sign(&no_nul);
        assert_eq!(
            VerifiedIdentity::verify(&forged),
            Err(HandshakeError::BadIdentitySignature)
        );
    }

    #[test]
    fn safety_number_is_symmetric_and_formatted() {
        let a = *pair(1).public();
        let b = *pair(2).public();
        let ab = safety_number(&a, &b);
        assert_eq!(ab, safety_number(&b, &a));
        let shown = ab.to_string();
        let groups: Vec<&str> = shown.split(' ').collect();
        assert_eq!(groups.len(), 12);
        assert!(
            groups
                .iter()
                .all(|g| g.len() == 5 && g.bytes().all(|c| c.is_ascii_digit()))
        );
        assert_eq!(ab.digits(), shown.replace(' ', ""));
        assert_ne!(ab, safety_number(&a, &a));
    }

    #[test]
    fn fingerprint_is_64_hex_chars() {
        let fp = pair(1).public().fingerprint().to_string();
        assert_eq!(fp.len(), 64);
        assert!(
            fp.bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
    }

    #[test]
    fn safety_digits_match_definition() {
        let fp = Fingerprint([0xab; 32]);
        let mut out = [0u8; 30];
        safety_digits(&fp, &mut out);
        let mut h = Sha512::new();
        h.update(b"remit.v1.safety-number\0");
        h.update([0xab; 32]);
        let hash = h.finalize();
        let mut expected = String::new();
        for i in 0..6 {
            let mut v = 0u64;
            for b in &hash[i * 5..i * 5 + 5] {
                v = v * 256 + u64::from(*b);
            }
            expected.push_str(&format!("{:05}", v % 100_000));
        }
        assert_eq!(core::str::from_utf8(&out).unwrap(), expected);
    }

    #[test]
    fn fingerprint_from_bytes_round_trips() {
        let fp = pair(1).public().fingerprint();
        assert_eq!(Fingerprint::from_bytes(*fp.as_bytes()), fp);
        assert_eq!(Fingerprint::from_bytes([0xab; 32]), Fingerprint([0xab; 32]));
    }
}
