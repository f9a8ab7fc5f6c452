//! Test identities built from the statements in spec/handshake.md, independent of
//! remit-session's `Account` (whose signing key is not exposed). Hidden: for this crate's tests.
#![allow(missing_docs, clippy::missing_panics_doc)]

use ed25519_dalek::{Signer, SigningKey};
use remit_wire::{
    session::{IdentityKey, OneTimePreKey, SignedPreKey},
    v1,
};

/// An identity whose secret key the test holds.
pub struct TestIdentity {
    signing: SigningKey,
    agreement: [u8; 32],
}

impl core::fmt::Debug for TestIdentity {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TestIdentity")
            .field("id", &hex::encode(self.id()))
            .finish_non_exhaustive()
    }
}

impl TestIdentity {
    /// A deterministic identity from a seed byte.
    #[must_use]
    pub fn new(seed: u8) -> Self {
        let mut s = [seed; 32];
        s[0] = 0x5a;
        let mut a = [seed; 32];
        a[0] = 0xa5;
        Self {
            signing: SigningKey::from_bytes(&s),
            agreement: a,
        }
    }

    /// The identity (Ed25519 public key).
    #[must_use]
    pub fn id(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }

    /// Signs anything (for the relay auth statement).
    #[must_use]
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }

    /// The public identity record with a valid binding signature.
    #[must_use]
    pub fn identity_key(&self) -> IdentityKey {
        let mut statement = b"remit.v1.identity-binding\0".to_vec();
        statement.extend_from_slice(&self.id());
        statement.extend_from_slice(&self.agreement);
        IdentityKey {
            signing_key: self.id(),
            agreement_key: self.agreement,
            binding_signature: self.sign(&statement),
        }
    }

    /// A validly signed prekey.
    #[must_use]
    pub fn signed_prekey(&self, id: u32, created_at: u64) -> SignedPreKey {
        let public_key = [id.to_le_bytes()[0] ^ 0x33; 32];
        let mut statement = b"remit.v1.signed-prekey\0".to_vec();
        statement.extend_from_slice(&id.to_be_bytes());
        statement.extend_from_slice(&created_at.to_be_bytes());
        statement.extend_from_slice(&public_key);
        SignedPreKey {
            id,
            public_key,
            created_at,
            signature: self.sign(&statement),
        }
    }

    /// One-time prekeys with the given ids.
    #[must_use]
    pub fn one_time_prekeys(ids: std::ops::Range<u32>) -> Vec<OneTimePreKey> {
        ids.map(|id| {
            let mut public_key = [0u8; 32];
            public_key[..4].copy_from_slice(&id.to_be_bytes());
            OneTimePreKey { id, public_key }
        })
        .collect()
    }

    /// A `PublishPreKeys` body.
    #[must_use]
    pub fn publish(
        &self,
        signed_prekey: Option<SignedPreKey>,
        one_time: &[OneTimePreKey],
    ) -> v1::PublishPreKeys {
        v1::PublishPreKeys {
            identity: Some((&self.identity_key()).into()),
            signed_prekey: signed_prekey.as_ref().map(Into::into),
            one_time_prekeys: one_time.iter().map(Into::into).collect(),
        }
    }
}
