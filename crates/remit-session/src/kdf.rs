//! Key derivation and the secret key types of the ratchet (design: "Double Ratchet", "X3DH").
//!
//! ```text
//! KDF_RK(rk, dh_out)  = HKDF-SHA256(salt = rk, IKM = dh_out, info = "remit.v1.ratchet-root\0")
//!                       → 64 bytes: RK' = [0..32], CK = [32..64]
//! KDF_CK(ck)          = (mk = HMAC-SHA256(ck, 0x01), ck' = HMAC-SHA256(ck, 0x02))
//! message keys(mk)    = HKDF-SHA256(salt = 0^32, IKM = mk, info = "remit.v1.message-keys\0")
//!                       → 44 bytes: AES-256 key = [0..32], GCM nonce = [32..44]
//! SK                  = HKDF-SHA256(salt = 0^32, IKM = 0xFF^32 ‖ DH1 ‖ DH2 ‖ DH3 [‖ DH4],
//!                                   info = "remit.v1.x3dh\0") → 32 bytes
//! ```

use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// HKDF info of KDF_RK.
pub(crate) const INFO_ROOT: &[u8] = b"remit.v1.ratchet-root\0";
/// HKDF info of the message-key expansion.
pub(crate) const INFO_MESSAGE_KEYS: &[u8] = b"remit.v1.message-keys\0";
/// HKDF info of the X3DH shared secret.
pub(crate) const INFO_X3DH: &[u8] = b"remit.v1.x3dh\0";

/// A root key (RK). Boxed, zeroized on drop, never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct RootKey(Box<[u8; 32]>);

/// A chain key (CKs or CKr).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct ChainKey(Box<[u8; 32]>);

/// A message key (mk). Used once: [`MessageKey::expand`] consumes it.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct MessageKey(Box<[u8; 32]>);

/// The AES-256-GCM key and nonce expanded from one message key.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct AeadKey {
    pub(crate) key: [u8; 32],
    pub(crate) nonce: [u8; 12],
}

impl RootKey {
    pub(crate) fn from_bytes(bytes: [u8; 32]) -> Self {
        let mut bytes = Zeroizing::new(bytes);
        Self(Box::new(core::mem::take(&mut *bytes)))
    }

    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// `KDF_RK(self, dh_out)`: the next root key and a new chain key.
    pub(crate) fn advance(&self, dh_out: &[u8; 32]) -> (Self, ChainKey) {
        let mut okm = Zeroizing::new([0u8; 64]);
        hkdf_expand(self.0.as_slice(), dh_out, INFO_ROOT, okm.as_mut_slice());
        let (rk, ck) = split_64(&okm);
        (Self::from_bytes(rk), ChainKey::from_bytes(ck))
    }
}

impl ChainKey {
    pub(crate) fn from_bytes(bytes: [u8; 32]) -> Self {
        let mut bytes = Zeroizing::new(bytes);
        Self(Box::new(core::mem::take(&mut *bytes)))
    }

    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The message key of this step (`HMAC(ck, 0x01)`).
    pub(crate) fn message_key(&self) -> MessageKey {
        MessageKey::from_bytes(hmac_byte(&self.0, 0x01))
    }

    /// Replaces this chain key with the next one (`HMAC(ck, 0x02)`) in place, without a new
    /// allocation.
    pub(crate) fn step(&mut self) {
        let next = Zeroizing::new(hmac_byte(&self.0, 0x02));
        self.0.copy_from_slice(next.as_slice());
    }

    /// `KDF_CK` in one go: the message key and the next chain key, keying HMAC once. Nothing
    /// changes until [`ChainKey::set`] commits the next key.
    pub(crate) fn derive(&self) -> (MessageKey, Zeroizing<[u8; 32]>) {
        let mac = keyed_hmac(&self.0);
        let mut second = mac.clone();
        let mut first = mac;
        first.update(&[0x01]);
        second.update(&[0x02]);
        let mk = MessageKey::from_bytes(first.finalize().into_bytes().into());
        (mk, Zeroizing::new(second.finalize().into_bytes().into()))
    }

    /// Commits the next chain key from [`ChainKey::derive`].
    pub(crate) fn set(&mut self, next: &[u8; 32]) {
        self.0.copy_from_slice(next);
    }
}

impl MessageKey {
    pub(crate) fn from_bytes(bytes: [u8; 32]) -> Self {
        let mut bytes = Zeroizing::new(bytes);
        Self(Box::new(core::mem::take(&mut *bytes)))
    }

    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A copy of a stored key, for a trial decrypt that must leave the stored key in place until
    /// it commits. Zeroized on drop like the original.
    pub(crate) fn duplicate(&self) -> Self {
        Self::from_bytes(*self.0)
    }

    /// The AES-256-GCM key and nonce for this message key. Consumes the key: each message key
    /// seals or opens one message (a stored skipped key is opened through a copy, see
    /// [`MessageKey::duplicate`], because it stays stored until the decrypt commits).
    pub(crate) fn expand(self) -> AeadKey {
        let mut okm = Zeroizing::new([0u8; 44]);
        hkdf_expand(
            &[0u8; 32],
            self.0.as_slice(),
            INFO_MESSAGE_KEYS,
            okm.as_mut_slice(),
        );
        let mut out = AeadKey {
            key: [0; 32],
            nonce: [0; 12],
        };
        let (key, nonce) = okm.split_at(32);
        out.key.copy_from_slice(key);
        out.nonce.copy_from_slice(nonce);
        out
    }
}

/// The X3DH shared secret SK from the DH outputs, in order DH1, DH2, DH3 [, DH4].
pub(crate) fn x3dh_secret(dh_outputs: &[&[u8; 32]]) -> RootKey {
    let mut ikm = Zeroizing::new(Vec::with_capacity(32 * 5));
    ikm.extend_from_slice(&[0xff; 32]);
    for dh in dh_outputs.iter().take(4) {
        ikm.extend_from_slice(dh.as_slice());
    }
    let mut sk = Zeroizing::new([0u8; 32]);
    hkdf_expand(&[0u8; 32], &ikm, INFO_X3DH, sk.as_mut_slice());
    RootKey::from_bytes(*sk)
}

/// X25519 with the contributory check: `None` when the output is all zero (low-order key).
pub(crate) fn diffie_hellman(
    secret: &StaticSecret,
    their_public: &[u8; 32],
) -> Option<Zeroizing<[u8; 32]>> {
    let shared = secret.diffie_hellman(&PublicKey::from(*their_public));
    if shared.was_contributory() {
        Some(Zeroizing::new(shared.to_bytes()))
    } else {
        None
    }
}

/// HKDF-SHA256 extract-and-expand of a small fixed length.
fn hkdf_expand(salt: &[u8], ikm: &[u8], info: &[u8], okm: &mut [u8]) {
    let hk = Hkdf::<Sha256>::new(Some(salt), ikm);
    // Invariant: expand fails only when okm is longer than 255 × 32 bytes; every caller in this
    // crate asks for at most 64.
    #[allow(clippy::expect_used)]
    hk.expand(info, okm)
        .expect("HKDF output of at most 64 bytes");
}

/// HMAC-SHA256(key, [byte]).
fn hmac_byte(key: &[u8; 32], byte: u8) -> [u8; 32] {
    // Invariant: HMAC accepts keys of any length, so this cannot fail.
    #[allow(clippy::expect_used)]
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(&[byte]);
    mac.finalize().into_bytes().into()
}

fn keyed_hmac(key: &[u8; 32]) -> Hmac<Sha256> {
    // Invariant: HMAC accepts keys of any length, so this cannot fail.
    #[allow(clippy::expect_used)]
    <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length")
}

fn split_64(okm: &[u8; 64]) -> ([u8; 32], [u8; 32]) {
    let mut a = [0u8; 32];
    let mut b = [0u8; 32];
    let (x, y) = okm.split_at(32);
    a.copy_from_slice(x);
    b.copy_from_slice(y);
    (a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_strings_are_nul_terminated_and_prefix_free() {
        let all = [INFO_ROOT, INFO_MESSAGE_KEYS, INFO_X3DH];
        for a in all {
            assert_eq!(a.last(), Some(&0));
            for b in all {
                if a != b {
                    assert!(!b.starts_with(a));
                }
            }
        }
    }

    #[test]
    fn chain_step_matches_hmac_definition() {
        let ck = ChainKey::from_bytes([7; 32]);
        let mk = ck.message_key();
        let mut next = ck.clone();
        next.step();
        assert_eq!(mk.as_bytes(), &hmac_byte(&[7; 32], 1));
        assert_eq!(next.as_bytes(), &hmac_byte(&[7; 32], 2));
        assert_ne!(mk.as_bytes(), next.as_bytes());
        let (mk2, next2) = ck.derive();
        assert_eq!(mk2.as_bytes(), mk.as_bytes());
        assert_eq!(&*next2, next.as_bytes());
    }

    #[test]
    fn x3dh_with_and_without_dh4_differ() {
        let three = x3dh_secret(&[&[1; 32], &[2; 32], &[3; 32]]);
        let four = x3dh_secret(&[&[1; 32], &[2; 32], &[3; 32], &[4; 32]]);
        assert_ne!(three.as_bytes(), four.as_bytes());
    }

    #[test]
    fn low_order_point_is_non_contributory() {
        let secret = StaticSecret::from([9; 32]);
        assert!(diffie_hellman(&secret, &[0; 32]).is_none());
        // The order-8 point with u = 1 is also rejected.
        let mut one = [0u8; 32];
        one[0] = 1;
        assert!(diffie_hellman(&secret, &one).is_none());
        assert!(
            diffie_hellman(
                &secret,
                &PublicKey::from(&StaticSecret::from([3; 32])).to_bytes()
            )
            .is_some()
        );
    }
}
