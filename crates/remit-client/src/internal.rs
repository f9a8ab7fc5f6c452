//! Entry points for `fuzz/` and for tests: the decoders of the engine's own stored records, which
//! are otherwise private to the crate, and the transport's test hook.
//!
//! **Not part of the API.** Compiled only with the `internal` feature; no semver promise covers
//! it.

use remit_session::Account;

use crate::record::{Contact, HeldMessage, ThreadEntry};

/// A hook the transport runs after an envelope's effect is committed and before it is acked
/// ([`crate::transport::TransportConfig`]'s `before_ack`): lets a test kill a process at exactly
/// that point.
pub type BeforeAck = std::sync::Arc<dyn Fn() + Send + Sync>;

/// Which record a fuzz input is.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// `RMCC`, a contact.
    Contact,
    /// `RMCT`, a thread entry.
    ThreadEntry,
    /// `RMCH`, a held message.
    HeldMessage,
}

/// Decodes `bytes` as a record of `kind`; if it loads, its encoding again (which must equal
/// `bytes`: the formats are fixed layouts with one encoding per value).
#[must_use]
pub fn decode(kind: Kind, bytes: &[u8]) -> Option<Vec<u8>> {
    match kind {
        Kind::Contact => Contact::from_bytes(bytes).ok().map(|c| c.to_bytes()),
        Kind::ThreadEntry => ThreadEntry::from_bytes(bytes).ok().map(|t| t.to_bytes()),
        Kind::HeldMessage => HeldMessage::from_bytes(bytes).ok().map(|h| h.to_bytes()),
    }
}

/// Valid records of every kind, built from two accounts made with `rng`: the fuzz seeds.
#[must_use]
pub fn samples<R: rand_core::CryptoRng + ?Sized>(rng: &mut R) -> Vec<(Kind, Vec<u8>)> {
    let a = *Account::new(rng, 1).identity();
    let b = *Account::new(rng, 1).identity();
    let contact = |previous: Option<remit_session::VerifiedIdentity>| Contact {
        identity: a,
        verified: previous.is_none(),
        frozen: previous.is_some(),
        previous,
    };
    vec![
        (Kind::Contact, contact(None).to_bytes()),
        (Kind::Contact, contact(Some(b)).to_bytes()),
        (
            Kind::ThreadEntry,
            ThreadEntry {
                peer: [7; 32],
                payee: b,
                thread: b"RMPT not a thread".to_vec(),
            }
            .to_bytes(),
        ),
        (
            Kind::HeldMessage,
            HeldMessage {
                sender: b,
                received_at: 1_790_000_000,
                content: vec![0x0a, 0x02, 0x68, 0x69],
            }
            .to_bytes(),
        ),
    ]
}
