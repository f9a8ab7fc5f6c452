//! Signed and one-time prekeys, and the verified bundle (design: "Prekeys").
//!
//! ```text
//! signed-prekey statement = "remit.v1.signed-prekey\0" ‖ id (u32) ‖ created_at (u64) ‖ public_key
//! signature               = Ed25519(IK_sig, statement), checked with verify_strict
//! ```

use core::fmt;

use rand_core::CryptoRng;
use remit_wire::session::{OneTimePreKey, PreKeyBundle, SignedPreKey};
use x25519_dalek::{PublicKey, StaticSecret};

use crate::{error::HandshakeError, identity::IdentityKeyPair, identity::VerifiedIdentity};

const SIGNED_PREKEY_CONTEXT: &[u8] = b"remit.v1.signed-prekey\0";
const STATEMENT_LEN: usize = 23 + 4 + 8 + 32;

/// A prekey bundle whose identity binding and signed-prekey signature have been verified. Only
/// a `VerifiedBundle` can start a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedBundle {
    identity: VerifiedIdentity,
    signed_prekey: SignedPreKey,
    one_time_prekey: Option<OneTimePreKey>,
}

impl VerifiedBundle {
    /// Checks a decoded bundle: the identity binding, then the signed prekey's signature.
    ///
    /// # Errors
    /// [`HandshakeError::BadIdentitySignature`] or [`HandshakeError::BadSignedPreKeySignature`].
    pub fn verify(bundle: &PreKeyBundle) -> Result<Self, HandshakeError> {
        let identity = VerifiedIdentity::verify(&bundle.identity)?;
        let spk = &bundle.signed_prekey;
        let statement = signed_prekey_statement(spk.id, spk.created_at, &spk.public_key);
        if !identity.verify_signature(&statement, &spk.signature) {
            return Err(HandshakeError::BadSignedPreKeySignature);
        }
        Ok(Self {
            identity,
            signed_prekey: bundle.signed_prekey,
            one_time_prekey: bundle.one_time_prekey,
        })
    }

    /// The responder's verified identity.
    #[must_use]
    pub fn identity(&self) -> &VerifiedIdentity {
        &self.identity
    }

    /// The verified signed prekey.
    #[must_use]
    pub fn signed_prekey(&self) -> &SignedPreKey {
        &self.signed_prekey
    }

    /// The one-time prekey, if the bundle had one.
    #[must_use]
    pub fn one_time_prekey(&self) -> Option<&OneTimePreKey> {
        self.one_time_prekey.as_ref()
    }
}

/// The statement a signed prekey's signature covers.
pub(crate) fn signed_prekey_statement(
    id: u32,
    created_at: u64,
    public_key: &[u8; 32],
) -> [u8; STATEMENT_LEN] {
    let mut s = [0u8; STATEMENT_LEN];
    let (ctx, rest) = s.split_at_mut(SIGNED_PREKEY_CONTEXT.len());
    ctx.copy_from_slice(SIGNED_PREKEY_CONTEXT);
    let (id_bytes, rest) = rest.split_at_mut(4);
    id_bytes.copy_from_slice(&id.to_be_bytes());
    let (time, key) = rest.split_at_mut(8);
    time.copy_from_slice(&created_at.to_be_bytes());
    key.copy_from_slice(public_key);
    s
}

/// An X25519 key pair with its public key cached. The secret is boxed and zeroized on drop
/// (by `StaticSecret`'s own `Drop`).
#[derive(Clone)]
pub(crate) struct KeyPair {
    secret: Box<StaticSecret>,
    public: [u8; 32],
}

impl KeyPair {
    pub(crate) fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self::from_secret(Box::new(StaticSecret::random_from_rng(rng)))
    }

    pub(crate) fn from_bytes(bytes: &[u8; 32]) -> Self {
        Self::from_secret(Box::new(StaticSecret::from(*bytes)))
    }

    /// Rebuilds a key pair from a session record, which stores the public key next to the
    /// secret so that loading costs no scalar multiplication.
    pub(crate) fn from_record(secret: &[u8; 32], public: [u8; 32]) -> Self {
        Self {
            secret: Box::new(StaticSecret::from(*secret)),
            public,
        }
    }

    fn from_secret(secret: Box<StaticSecret>) -> Self {
        let public = PublicKey::from(secret.as_ref()).to_bytes();
        Self { secret, public }
    }

    pub(crate) fn secret(&self) -> &StaticSecret {
        &self.secret
    }

    pub(crate) fn secret_bytes(&self) -> &[u8; 32] {
        self.secret.as_bytes()
    }

    pub(crate) fn public(&self) -> &[u8; 32] {
        &self.public
    }
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self { secret: _, public } = self;
        f.debug_struct("KeyPair")
            .field("public", &Hex(public))
            .finish_non_exhaustive()
    }
}

/// Our signed prekey: id, creation time, key pair and signature.
#[derive(Clone)]
pub(crate) struct SignedPreKeyPair {
    pub(crate) id: u32,
    pub(crate) created_at: u64,
    pub(crate) key: KeyPair,
    signature: [u8; 64],
}

impl SignedPreKeyPair {
    pub(crate) fn new(identity: &IdentityKeyPair, id: u32, created_at: u64, key: KeyPair) -> Self {
        let signature = identity.sign(&signed_prekey_statement(id, created_at, key.public()));
        Self {
            id,
            created_at,
            key,
            signature,
        }
    }

    pub(crate) fn public(&self) -> SignedPreKey {
        SignedPreKey {
            id: self.id,
            public_key: *self.key.public(),
            created_at: self.created_at,
            signature: self.signature,
        }
    }
}

impl fmt::Debug for SignedPreKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            id,
            created_at,
            key,
            signature: _,
        } = self;
        f.debug_struct("SignedPreKeyPair")
            .field("id", id)
            .field("created_at", created_at)
            .field("key", key)
            .finish_non_exhaustive()
    }
}

/// Prints public bytes as lowercase hex.
pub(crate) struct Hex<'a>(pub(crate) &'a [u8]);

impl fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use rand::{SeedableRng, rngs::ChaCha20Rng};

    use super::*;

    fn setup() -> (IdentityKeyPair, PreKeyBundle) {
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let id = IdentityKeyPair::generate(&mut rng);
        let spk = SignedPreKeyPair::new(&id, 7, 1_700_000_000, KeyPair::generate(&mut rng));
        let opk = OneTimePreKey {
            id: 1,
            public_key: *KeyPair::generate(&mut rng).public(),
        };
        let bundle = PreKeyBundle {
            identity: *id.public().as_wire(),
            signed_prekey: spk.public(),
            one_time_prekey: Some(opk),
        };
        (id, bundle)
    }

    #[test]
    fn good_bundle_verifies() {
        let (_, bundle) = setup();
        let v = VerifiedBundle::verify(&bundle).unwrap();
        assert_eq!(v.signed_prekey(), &bundle.signed_prekey);
        assert_eq!(v.one_time_prekey(), bundle.one_time_prekey.as_ref());
        assert_eq!(v.identity().as_wire(), &bundle.identity);
    }

    #[test]
    fn signed_prekey_with_wrong_id_time_or_key_is_rejected() {
        let (_, bundle) = setup();
        let bad = Err(HandshakeError::BadSignedPreKeySignature);
        let mut b = bundle.clone();
        b.signed_prekey.id = 8;
        assert_eq!(VerifiedBundle::verify(&b), bad);
        let mut b = bundle.clone();
        b.signed_prekey.created_at += 1;
        assert_eq!(VerifiedBundle::verify(&b), bad);
        let mut b = bundle.clone();
        b.signed_prekey.public_key[0] ^= 1;
        assert_eq!(VerifiedBundle::verify(&b), bad);
        let mut b = bundle;
        b.signed_prekey.signature[63] ^= 0x10;
        assert_eq!(VerifiedBundle::verify(&b), bad);
    }

    #[test]
    fn signed_prekey_signed_under_identity_context_is_rejected() {
        let (id, mut bundle) = setup();
        let spk = bundle.signed_prekey;
        let mut wrong = Vec::from(&b"remit.v1.identity-binding\0"[..]);
        wrong.extend_from_slice(&spk.id.to_be_bytes());
        wrong.extend_from_slice(&spk.created_at.to_be_bytes());
        wrong.extend_from_slice(&spk.public_key);
        bundle.signed_prekey.signature = id.sign(&wrong);
        assert_eq!(
            VerifiedBundle::verify(&bundle),
            Err(HandshakeError::BadSignedPreKeySignature)
        );
    }

    #[test]
    fn bundle_with_forged_identity_is_rejected() {
        let (_, mut bundle) = setup();
        bundle.identity.agreement_key[5] ^= 1;
        assert_eq!(
            VerifiedBundle::verify(&bundle),
            Err(HandshakeError::BadIdentitySignature)
        );
    }

    #[test]
    fn statement_layout() {
        let s = signed_prekey_statement(0x0102_0304, 0x0506_0708_090a_0b0c, &[0xee; 32]);
        assert_eq!(&s[..23], b"remit.v1.signed-prekey\0");
        assert_eq!(&s[23..27], &[1, 2, 3, 4]);
        assert_eq!(&s[27..35], &[5, 6, 7, 8, 9, 10, 11, 12]);
        assert_eq!(&s[35..], &[0xee; 32]);
    }
}
