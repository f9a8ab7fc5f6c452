//! Snapshots of the `Debug` output of this crate's types that hold secrets (the engine holds the
//! account; a store holds every record): a derived `Debug` or a newly printed field changes the
//! output and fails the test until someone decides. `Snapshot` and `Batch`, which carry the
//! records themselves, have no `Debug` at all.
#![allow(clippy::unwrap_used, missing_docs)]

use rand::{SeedableRng, rngs::ChaCha20Rng};
use remit_client::{Engine, MemoryStore};

#[test]
fn engine_and_memory_store() {
    let mut rng = ChaCha20Rng::seed_from_u64(0x0de6);
    let engine = Engine::create(MemoryStore::new(), 1_700_000_000, &mut rng).unwrap();
    insta::assert_snapshot!(format!("{engine:#?}\n{:#?}", engine.store()));
}
