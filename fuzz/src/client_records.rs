//! `client_records`: the records a client keeps in its store, decoded from arbitrary bytes, as
//! a damaged or tampered store would hand them back: the engine's contact, thread-entry and
//! held-message records (`remit_client::internal`) and remit-pay's payment thread records
//! (`PaymentThread::from_bytes`, against the payee of the payment vectors). Session and
//! account records are `session_records`.
//!
//! Input: a selector byte (record kind), then the record.
//!
//! Invariants: no panic; a record that loads encodes back to exactly its input (each format
//! has one encoding per value, so a store cannot hold two spellings of one state); a payment
//! thread that loads is equal to itself loaded again from its encoding.

use remit_client::internal::{Kind, decode};
use remit_pay::PaymentThread;

use crate::fixtures::payee_peer;

/// Runs one input.
pub fn run(data: &[u8]) {
    let Some((&selector, record)) = data.split_first() else {
        return;
    };
    let kind = match selector % 4 {
        0 => Kind::Contact,
        1 => Kind::ThreadEntry,
        2 => Kind::HeldMessage,
        _ => {
            if let Ok(thread) = PaymentThread::from_bytes(record, payee_peer()) {
                let bytes = thread.to_bytes().expect("a loaded thread encodes");
                assert_eq!(bytes, record, "a thread record has a second encoding");
                let again = PaymentThread::from_bytes(&bytes, payee_peer())
                    .expect("its own encoding loads");
                assert_eq!(again, thread);
            }
            return;
        }
    };
    if let Some(bytes) = decode(kind, record) {
        assert_eq!(bytes, record, "a {kind:?} record has a second encoding");
    }
}

/// The seed records: valid ones of every engine kind (from two seeded accounts), selector first.
#[must_use]
pub fn seeds() -> Vec<Vec<u8>> {
    use rand::SeedableRng as _;
    let mut rng = rand::rngs::ChaCha20Rng::seed_from_u64(0x5eed);
    remit_client::internal::samples(&mut rng)
        .into_iter()
        .map(|(kind, bytes)| {
            let selector = match kind {
                Kind::Contact => 0,
                Kind::ThreadEntry => 1,
                Kind::HeldMessage => 2,
            };
            let mut input = vec![selector];
            input.extend_from_slice(&bytes);
            input
        })
        .collect()
}
