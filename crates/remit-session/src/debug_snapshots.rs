//! Snapshots of the `Debug` output of every type that holds a secret. Each of these types writes
//! its `Debug` by hand and leaves the secrets out; a derived `Debug` (which prints every byte, in
//! decimal) or a new field that is printed changes the output, and the snapshot test fails until
//! someone decides. The values come from a seeded generator, so the output is fixed.

use rand::{SeedableRng, rngs::ChaCha20Rng};
use remit_wire::session::{Envelope, OneTimePreKey};

use crate::{Account, Session, VerifiedBundle};

const NOW: u64 = 1_700_000_000;

fn accounts() -> (ChaCha20Rng, Account, Account, Vec<OneTimePreKey>) {
    let mut rng = ChaCha20Rng::seed_from_u64(0x0de6);
    let alice = Account::new(&mut rng, NOW);
    let mut bob = Account::new(&mut rng, NOW);
    let published = bob.generate_one_time_prekeys(2, &mut rng).unwrap();
    (rng, alice, bob, published)
}

/// Alice's and Bob's sessions after one message each way.
fn sessions() -> (Session, Session) {
    let (mut rng, alice, mut bob, published) = accounts();
    let bundle = VerifiedBundle::verify(&bob.bundle(published.first().copied())).unwrap();
    let mut to_bob = alice.initiate(&bundle, &mut rng).unwrap();
    let first = to_bob.encrypt(b"hello", &mut rng).unwrap();
    let Envelope::PreKey(prekey) = Envelope::decode(&first.encode().unwrap()).unwrap() else {
        panic!("a first message is a prekey message");
    };
    let (mut to_alice, _) = bob.accept(&prekey).unwrap();
    let reply = to_alice.encrypt(b"hi", &mut rng).unwrap();
    to_bob.decrypt(&reply).unwrap();
    (to_bob, to_alice)
}

#[test]
fn account() {
    let (_, _, bob, _) = accounts();
    insta::assert_snapshot!(format!("{bob:#?}"));
}

#[test]
fn identity_key_pair() {
    let (_, _, bob, _) = accounts();
    insta::assert_snapshot!(format!("{:?}", bob.identity));
}

#[test]
fn signed_prekey_pair() {
    let (_, _, bob, _) = accounts();
    insta::assert_snapshot!(format!("{:?}", bob.signed_prekey));
}

#[test]
fn one_time_prekey_pair() {
    let (_, _, bob, _) = accounts();
    let key = bob.one_time_prekeys.values().next().unwrap();
    insta::assert_snapshot!(format!("{key:?}"));
}

#[test]
fn session_of_initiator_and_responder() {
    let (alice, bob) = sessions();
    insta::assert_snapshot!(format!("{alice:#?}\n{bob:#?}"));
}
