//! The Remit session layer: identities, prekeys, the X3DH handshake and the Double Ratchet.
//!
//! This crate turns the typed, length-checked views of `remit-wire` into verified values and
//! encrypted sessions. It is sans-IO: no sockets, no clock (`now` is an argument, Unix
//! seconds), no OS randomness (every function that needs randomness takes
//! `rng: &mut impl CryptoRng`). It does not store anything either: [`Account`] and [`Session`]
//! serialize to versioned records that the caller's store encrypts at rest.
//!
//! ```text
//!  Bob: Account::new ──▶ bundle() ───────────▶ relay ───▶ Alice: VerifiedBundle::verify
//!                                                                     │
//!                                                    Account::initiate ▼
//!  Bob: Account::accept(PreKeyMessage) ◀─── Envelope::PreKey ◀── Session::encrypt
//!        │ (Session, first plaintext)
//!        ▼
//!  Session::encrypt ──▶ Envelope::Message ──▶ Session::decrypt (Alice now sends Message too)
//! ```
//!
//! The public interface is the `pub use` block at the end of this file: [`Account`] (our
//! identity and prekeys, `initiate` and `accept`), [`Session`] (`encrypt`, `decrypt`, records),
//! [`VerifiedBundle`] and [`VerifiedIdentity`] (proof values for checked peer keys),
//! [`Fingerprint`], [`SafetyNumber`] and [`safety_number`], the error types, and the named limits
//! (`MAX_*`, [`RECORD_VERSION`]). Nothing else is reachable without the `internal` feature.
//!
//! What it does not do: decide which session an envelope belongs to beyond
//! [`Session::matches_prekey`], publish prekeys, or persist state. Those belong to the client
//! engine.
//!
//! ```
//! use rand::{SeedableRng, rngs::ChaCha20Rng};
//! use remit_session::{Account, VerifiedBundle};
//! use remit_wire::session::Envelope;
//!
//! let mut rng = ChaCha20Rng::seed_from_u64(1); // use an OS-seeded CryptoRng in production
//! let now = 1_700_000_000;
//! let alice = Account::new(&mut rng, now);
//! let mut bob = Account::new(&mut rng, now);
//!
//! // Bob publishes a bundle with a one-time prekey; Alice verifies it and starts a session.
//! let one_time = bob.generate_one_time_prekeys(1, &mut rng)?;
//! let bundle = VerifiedBundle::verify(&bob.bundle(one_time.first().copied()))?;
//! let mut to_bob = alice.initiate(&bundle, &mut rng)?;
//! let first = to_bob.encrypt(b"invoice 42", &mut rng)?;
//!
//! // Bob accepts the prekey message (after decoding it from the wire).
//! let Envelope::PreKey(prekey) = Envelope::decode(&first.encode()?)? else { unreachable!() };
//! let (mut to_alice, plaintext) = bob.accept(&prekey)?;
//! assert_eq!(plaintext.as_slice(), b"invoice 42");
//!
//! // Bob replies; from now on Alice sends plain ratchet messages.
//! let reply = to_alice.encrypt(b"paid", &mut rng)?;
//! assert_eq!(to_bob.decrypt(&reply)?.as_slice(), b"paid");
//! assert!(matches!(to_bob.encrypt(b"thanks", &mut rng)?, Envelope::Message(_)));
//!
//! // Both sides show the same safety number (each from its own view of the two identities).
//! assert_eq!(
//!     remit_session::safety_number(alice.identity(), to_bob.peer_identity()),
//!     remit_session::safety_number(bob.identity(), to_alice.peer_identity()),
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod account;
mod error;
mod identity;
mod kdf;
mod padding;
mod prekeys;
mod record;
mod session;
mod skipped;
// Tests always build with `internal` (the crate's dev-dependency on itself turns it on).
#[cfg(test)]
mod debug_snapshots;
#[cfg(test)]
mod worked_example;

/// Entry points for tests and fuzzing, behind the `internal` feature. Not part of the API.
#[cfg(feature = "internal")]
pub mod internal;

// The public interface is:
pub use account::{
    Account, MAX_OLD_SIGNED_PREKEYS, MAX_ONE_TIME_PREKEYS, MAX_SEEN_BASE_KEYS,
    SIGNED_PREKEY_OVERLAP_SECS,
};
pub use error::{DecryptError, EncryptError, HandshakeError, PreKeyError, RecordError, SignError};
pub use identity::{
    Fingerprint, MAX_STATEMENT_CONTEXT_LEN, SafetyNumber, VerifiedIdentity, safety_number,
};
pub use prekeys::VerifiedBundle;
pub use record::RECORD_VERSION;
pub use session::Session;
pub use skipped::{MAX_PREVIOUS_CHAINS, MAX_SKIP, MAX_SKIPPED_KEYS};
