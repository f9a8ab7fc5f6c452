//! Unit tests of the ratchet: exact outcomes, state unchanged on every reject path.

use rand::{SeedableRng, rngs::ChaCha20Rng};
use remit_wire::session::{Envelope, PreKeyMessage, RatchetMessage};

use super::*;
use crate::{Account, VerifiedBundle};

const NOW: u64 = 1_700_000_000;

struct Pair {
    rng: ChaCha20Rng,
    alice: Session,
    bob: Session,
}

fn prekey(e: &Envelope) -> &PreKeyMessage {
    match e {
        Envelope::PreKey(m) => m,
        other => panic!("expected a prekey envelope, got {other:?}"),
    }
}

fn ratchet(e: &Envelope) -> RatchetMessage {
    e.ratchet_message().clone()
}

/// Alice and Bob after Alice's first message and Bob's first reply (both sides ratcheted).
fn established() -> Pair {
    let mut rng = ChaCha20Rng::seed_from_u64(42);
    let alice_account = Account::new(&mut rng, NOW);
    let mut bob_account = Account::new(&mut rng, NOW);
    let bundle = VerifiedBundle::verify(&bob_account.bundle(None)).unwrap();
    let mut alice = alice_account.initiate(&bundle, &mut rng).unwrap();
    let first = alice.encrypt(b"hello bob", &mut rng).unwrap();
    let (mut bob, pt) = bob_account.accept(prekey(&first)).unwrap();
    assert_eq!(pt.as_slice(), b"hello bob");
    let reply = bob.encrypt(b"hello alice", &mut rng).unwrap();
    assert_eq!(alice.decrypt(&reply).unwrap().as_slice(), b"hello alice");
    Pair { rng, alice, bob }
}

fn assert_rejected(session: &mut Session, envelope: &Envelope, expected: &DecryptError) {
    let before = session.to_bytes();
    assert_eq!(
        session.decrypt(envelope).map(|p| p.to_vec()),
        Err(expected.clone())
    );
    assert_eq!(
        *session.to_bytes(),
        *before,
        "state changed after {expected:?}"
    );
}

#[test]
fn in_order_both_directions_with_several_dh_steps() {
    let mut p = established();
    for round in 0..5u8 {
        for i in 0..3u8 {
            let m = p.alice.encrypt(&[round, i], &mut p.rng).unwrap();
            assert!(matches!(m, Envelope::Message(_)));
            assert_eq!(p.bob.decrypt(&m).unwrap().as_slice(), &[round, i]);
        }
        let m = p.bob.encrypt(&[round], &mut p.rng).unwrap();
        assert_eq!(p.alice.decrypt(&m).unwrap().as_slice(), &[round]);
    }
}

#[test]
fn initiator_sends_prekey_envelopes_until_first_reply() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let alice_account = Account::new(&mut rng, NOW);
    let mut bob_account = Account::new(&mut rng, NOW);
    let bundle = VerifiedBundle::verify(&bob_account.bundle(None)).unwrap();
    let mut alice = alice_account.initiate(&bundle, &mut rng).unwrap();
    let m1 = alice.encrypt(b"1", &mut rng).unwrap();
    let m2 = alice.encrypt(b"2", &mut rng).unwrap();
    assert!(alice.sends_prekey_messages());
    assert_eq!(prekey(&m1).base_key, prekey(&m2).base_key);
    let (mut bob, pt) = bob_account.accept(prekey(&m1)).unwrap();
    assert_eq!(pt.as_slice(), b"1");
    assert!(bob.matches_prekey(prekey(&m2)));
    assert_eq!(bob.decrypt(&m2).unwrap().as_slice(), b"2");
    // A prekey message of another session is not for this one.
    let other = alice_account
        .initiate(&bundle, &mut rng)
        .unwrap()
        .encrypt(b"x", &mut rng)
        .unwrap();
    assert!(!bob.matches_prekey(prekey(&other)));
    assert_rejected(&mut bob, &other, &DecryptError::NotForThisSession);
    let reply = bob.encrypt(b"r", &mut rng).unwrap();
    assert!(matches!(reply, Envelope::Message(_)));
    alice.decrypt(&reply).unwrap();
    assert!(!alice.sends_prekey_messages());
    assert!(matches!(
        alice.encrypt(b"3", &mut rng).unwrap(),
        Envelope::Message(_)
    ));
}

#[test]
fn duplicate_of_a_normal_message() {
    let mut p = established();
    let m = p.alice.encrypt(b"once", &mut p.rng).unwrap();
    assert_eq!(p.bob.decrypt(&m).unwrap().as_slice(), b"once");
    assert_rejected(&mut p.bob, &m, &DecryptError::Duplicate);
    // Also a duplicate of a message decrypted from a stored skipped key.
    let a = p.alice.encrypt(b"a", &mut p.rng).unwrap();
    let b = p.alice.encrypt(b"b", &mut p.rng).unwrap();
    assert_eq!(p.bob.decrypt(&b).unwrap().as_slice(), b"b");
    assert_eq!(p.bob.decrypt(&a).unwrap().as_slice(), b"a");
    assert_rejected(&mut p.bob, &a, &DecryptError::Duplicate);
    assert_rejected(&mut p.bob, &b, &DecryptError::Duplicate);
}

#[test]
fn duplicate_on_a_previous_chain() {
    let mut p = established();
    let old = p.alice.encrypt(b"old", &mut p.rng).unwrap();
    p.bob.decrypt(&old).unwrap();
    let r = p.bob.encrypt(b"r", &mut p.rng).unwrap();
    p.alice.decrypt(&r).unwrap();
    let new = p.alice.encrypt(b"new", &mut p.rng).unwrap();
    p.bob.decrypt(&new).unwrap();
    assert_rejected(&mut p.bob, &old, &DecryptError::Duplicate);
    // Any counter on a remembered old chain with no stored key is a duplicate (§4.6).
    let mut forged = ratchet(&old);
    forged.counter = 500;
    assert_rejected(
        &mut p.bob,
        &Envelope::Message(forged),
        &DecryptError::Duplicate,
    );
}

#[test]
fn out_of_order_across_a_dh_step() {
    let mut p = established();
    let a1 = p.alice.encrypt(b"a1", &mut p.rng).unwrap();
    let a2 = p.alice.encrypt(b"a2", &mut p.rng).unwrap();
    p.bob.decrypt(&a1).unwrap();
    let b1 = p.bob.encrypt(b"b1", &mut p.rng).unwrap();
    p.alice.decrypt(&b1).unwrap();
    let a3 = p.alice.encrypt(b"a3", &mut p.rng).unwrap();
    // a3 (new chain, PN = 2) before a2: a2's key is stored while skipping the old chain.
    assert_eq!(p.bob.decrypt(&a3).unwrap().as_slice(), b"a3");
    assert_eq!(p.bob.decrypt(&a2).unwrap().as_slice(), b"a2");
    assert_rejected(&mut p.bob, &a2, &DecryptError::Duplicate);
}

#[test]
fn too_far_ahead_leaves_state_unchanged() {
    let mut p = established();
    let mut last = None;
    for _ in 0..=MAX_SKIP + 1 {
        last = Some(p.alice.encrypt(b"x", &mut p.rng).unwrap());
    }
    // Counter MAX_SKIP + 1 needs MAX_SKIP + 1 skipped keys.
    let last = last.unwrap();
    assert_rejected(
        &mut p.bob,
        &last,
        &DecryptError::TooFarAhead {
            needed: u64::from(MAX_SKIP) + 1,
            max: MAX_SKIP,
        },
    );
    // Forged header with a new ratchet key and a huge gap: rejected before any DH.
    let mut forged = ratchet(&last);
    forged.ratchet_key = [9; 32];
    forged.previous_counter = u32::MAX;
    forged.counter = u32::MAX - 1;
    assert_rejected(
        &mut p.bob,
        &Envelope::Message(forged),
        &DecryptError::TooFarAhead {
            needed: u64::from(u32::MAX) - 1 + u64::from(u32::MAX - 1),
            max: MAX_SKIP,
        },
    );
}

#[test]
fn exactly_max_skip_is_accepted() {
    let mut p = established();
    let mut msgs = Vec::new();
    for i in 0..=MAX_SKIP {
        msgs.push(p.alice.encrypt(&i.to_be_bytes(), &mut p.rng).unwrap());
    }
    let last = msgs.last().unwrap();
    assert_eq!(
        p.bob.decrypt(last).unwrap().as_slice(),
        &MAX_SKIP.to_be_bytes()
    );
    assert_eq!(p.bob.skipped.len(), MAX_SKIP as usize);
    assert_eq!(
        p.bob.decrypt(&msgs[7]).unwrap().as_slice(),
        &7u32.to_be_bytes()
    );
}

#[test]
fn tampered_header_fields_and_ciphertext_fail_without_state_change() {
    let mut p = established();
    // One message on the current chain (fast path), one after a skip, one with a DH step.
    let _skipped = p.alice.encrypt(b"skipped", &mut p.rng).unwrap();
    let m = p.alice.encrypt(b"target", &mut p.rng).unwrap();
    let base = ratchet(&m);
    let mut variants = Vec::new();
    let mut t = base.clone();
    t.ratchet_key[0] ^= 1;
    variants.push(t);
    let mut t = base.clone();
    t.previous_counter ^= 1;
    variants.push(t);
    let mut t = base.clone();
    t.counter ^= 1; // 1 → 0: the skipped message's slot, wrong key for this ciphertext
    variants.push(t);
    let mut t = base.clone();
    t.counter += 1;
    variants.push(t);
    let mut t = base.clone();
    t.ciphertext[0] ^= 1;
    variants.push(t);
    let mut t = base.clone();
    let last = t.ciphertext.len() - 1;
    t.ciphertext[last] ^= 0x80; // the tag
    variants.push(t);
    let mut t = base.clone();
    t.ciphertext.truncate(t.ciphertext.len() - 1);
    variants.push(t);
    for v in variants {
        let expected = DecryptError::DecryptFailed;
        assert_rejected(&mut p.bob, &Envelope::Message(v), &expected);
    }
    assert_eq!(p.bob.decrypt(&m).unwrap().as_slice(), b"target");
}

#[test]
fn tampered_dh_step_message_fails_without_state_change() {
    let mut p = established();
    p.alice.encrypt(b"a", &mut p.rng).unwrap();
    let m = p.bob.encrypt(b"step", &mut p.rng).unwrap();
    let m2 = p.bob.encrypt(b"x", &mut p.rng).unwrap();
    p.alice.decrypt(&m2).unwrap();
    let r = p.alice.encrypt(b"back", &mut p.rng).unwrap(); // Alice steps
    let base = ratchet(&r);
    for field in 0..3 {
        let mut t = base.clone();
        match field {
            0 => t.previous_counter += 1,
            1 => t.ciphertext[5] ^= 4,
            _ => t.counter += 1,
        }
        assert_rejected(
            &mut p.bob,
            &Envelope::Message(t),
            &DecryptError::DecryptFailed,
        );
    }
    assert_eq!(p.bob.decrypt(&r).unwrap().as_slice(), b"back");
    assert_eq!(p.alice.decrypt(&m).unwrap().as_slice(), b"step");
    assert_rejected(&mut p.alice, &m, &DecryptError::Duplicate);
}

#[test]
fn low_order_ratchet_key_is_non_contributory_and_changes_nothing() {
    let mut p = established();
    let m = p.alice.encrypt(b"x", &mut p.rng).unwrap();
    let mut one = [0u8; 32];
    one[0] = 1;
    for key in [[0u8; 32], one] {
        let mut t = ratchet(&m);
        t.ratchet_key = key;
        assert_rejected(
            &mut p.bob,
            &Envelope::Message(t),
            &DecryptError::NonContributory,
        );
    }
}

#[test]
fn message_at_counter_max_is_rejected() {
    let mut p = established();
    let m = p.alice.encrypt(b"x", &mut p.rng).unwrap();
    let mut t = ratchet(&m);
    t.counter = u32::MAX;
    // No honest sender uses counter u32::MAX (it gets ChainExhausted instead).
    assert_rejected(
        &mut p.bob,
        &Envelope::Message(t),
        &DecryptError::DecryptFailed,
    );
}

#[test]
fn chain_exhaustion() {
    let mut p = established();
    p.alice
        .encrypt(b"activate the sending chain", &mut p.rng)
        .unwrap();
    if let Sending::Active { counter, .. } = &mut p.alice.sending {
        *counter = u32::MAX - 1;
    }
    let m = p.alice.encrypt(b"last", &mut p.rng).unwrap();
    assert_eq!(m.ratchet_message().counter, u32::MAX - 1);
    let before = p.alice.to_bytes();
    assert_eq!(
        p.alice.encrypt(b"one more", &mut p.rng),
        Err(EncryptError::ChainExhausted)
    );
    assert_eq!(*p.alice.to_bytes(), *before);
}

#[test]
fn too_large_plaintext_is_rejected_and_buckets_hold() {
    let mut p = established();
    for (len, bucket) in [
        (0, 1024),
        (1022, 1024),
        (1023, 1024),
        (1024, 2048),
        (65535, 65536),
    ] {
        let m = p.alice.encrypt(&vec![0xaa; len], &mut p.rng).unwrap();
        assert_eq!(
            m.ratchet_message().ciphertext.len(),
            bucket + 16,
            "len {len}"
        );
        assert_eq!(p.bob.decrypt(&m).unwrap().len(), len);
    }
    let before = p.alice.to_bytes();
    assert_eq!(
        p.alice.encrypt(&vec![0; 65536], &mut p.rng),
        Err(EncryptError::TooLarge {
            len: 65536,
            max: 65535
        })
    );
    assert_eq!(*p.alice.to_bytes(), *before);
}

#[test]
fn bad_padding_from_a_buggy_peer() {
    let mut p = established();
    p.alice
        .encrypt(b"activate the sending chain", &mut p.rng)
        .unwrap();
    // Build a correctly authenticated message whose plaintext has no 0x80 marker.
    let Sending::Active {
        chain,
        counter,
        previous_counter,
    } = &p.alice.sending
    else {
        panic!("alice has an active chain");
    };
    let header = header_bytes(p.alice.our_ratchet.public(), *previous_counter, *counter);
    let keys = chain.message_key().expand();
    let cipher = Aes256Gcm::new_from_slice(&keys.key).unwrap();
    let mut buf = vec![0u8; 1024];
    let tag = cipher
        .encrypt_inout_detached(
            &Nonce::from(keys.nonce),
            &aad(&p.alice.ad, &header),
            buf.as_mut_slice().into(),
        )
        .unwrap();
    buf.extend_from_slice(&tag);
    let m = RatchetMessage {
        ratchet_key: *p.alice.our_ratchet.public(),
        previous_counter: *previous_counter,
        counter: *counter,
        ciphertext: buf,
    };
    assert_rejected(&mut p.bob, &Envelope::Message(m), &DecryptError::BadPadding);
}

#[test]
fn record_round_trip_mid_conversation() {
    let mut p = established();
    let a1 = p.alice.encrypt(b"a1", &mut p.rng).unwrap();
    let a2 = p.alice.encrypt(b"a2", &mut p.rng).unwrap();
    p.bob.decrypt(&a2).unwrap(); // a1's key is stored
    let bytes = p.bob.to_bytes();
    let mut restored = Session::from_bytes(&bytes).unwrap();
    assert_eq!(*restored.to_bytes(), *bytes);
    assert_eq!(restored.decrypt(&a1).unwrap().as_slice(), b"a1");
    let r = restored.encrypt(b"r", &mut p.rng).unwrap();
    assert_eq!(p.alice.decrypt(&r).unwrap().as_slice(), b"r");
}

#[test]
fn header_layout() {
    let h = header_bytes(&[0xab; 32], 0x0102_0304, 0x0a0b_0c0d);
    assert_eq!(h[0], 1);
    assert_eq!(&h[1..33], &[0xab; 32]);
    assert_eq!(&h[33..37], &[1, 2, 3, 4]);
    assert_eq!(&h[37..41], &[0x0a, 0x0b, 0x0c, 0x0d]);
}
