//! Known-answer entry points for the test vectors in `spec/vectors/`.
//!
//! **Not part of the API.** Compiled only with the `internal` feature, which this crate's own
//! tests and `fuzz/` turn on. These functions expose raw key material and exist only so tests can
//! recompute each KDF step; no semver promise covers them.

use crate::{
    kdf::{ChainKey, MessageKey, RootKey, x3dh_secret},
    session::{HEADER_LEN, header_bytes},
};

/// `KDF_RK(rk, dh_out)` → (new root key, chain key).
#[must_use]
pub fn kdf_rk(rk: &[u8; 32], dh_out: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
    let (root, chain) = RootKey::from_bytes(*rk).advance(dh_out);
    (*root.as_bytes(), *chain.as_bytes())
}

/// `KDF_CK(ck)` → (message key, next chain key).
#[must_use]
pub fn kdf_ck(ck: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
    let mut chain = ChainKey::from_bytes(*ck);
    let mk = chain.message_key();
    chain.step();
    (*mk.as_bytes(), *chain.as_bytes())
}

/// Message-key expansion → (AES-256 key, GCM nonce).
#[must_use]
pub fn message_keys(mk: &[u8; 32]) -> ([u8; 32], [u8; 12]) {
    let keys = MessageKey::from_bytes(*mk).expand();
    (keys.key, keys.nonce)
}

/// The X3DH shared secret SK from DH1, DH2, DH3 and optionally DH4.
#[must_use]
pub fn x3dh(dh: &[[u8; 32]]) -> [u8; 32] {
    let refs: Vec<&[u8; 32]> = dh.iter().collect();
    *x3dh_secret(&refs).as_bytes()
}

/// X25519 with the contributory check (`None` for a low-order peer key).
#[must_use]
pub fn x25519(secret: &[u8; 32], public: &[u8; 32]) -> Option<[u8; 32]> {
    let secret = x25519_dalek::StaticSecret::from(*secret);
    crate::kdf::diffie_hellman(&secret, public).map(|dh| *dh)
}

/// The 41-byte message header.
#[must_use]
pub fn header(ratchet_key: &[u8; 32], previous_counter: u32, counter: u32) -> [u8; HEADER_LEN] {
    header_bytes(ratchet_key, previous_counter, counter)
}
