//! Two engines, Alice (payee) and Bob (payer), passing envelopes by hand: the whole flow, the
//! refusals, duplicates, tampering, restarts and crashes, and identity changes. Every test that
//! touches storage runs once in memory and once on SQLite files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{cell::Cell, rc::Rc};

use common::{Backend, DAY, Flaky, Ledger, NOW, Pair, draft, dump, settlement};
use rand::{SeedableRng, rngs::ChaCha20Rng};
use remit_client::{
    ClientError, Engine, Event, MemoryStore, SqliteStore, Store, StoreError, Verdict,
};
use remit_pay::{
    Applied, CancelReason, DeclineReason, InvoiceDraft, MessageKind, Money, PayError, RequestKind,
    ThreadState, Verification,
};
use remit_session::{DecryptError, HandshakeError};

per_backend!(
    full_flow,
    decline_flow,
    cancel_flow,
    expiry,
    tampered_envelope_changes_nothing,
    restart_mid_flow_resumes,
    killed_between_receive_and_ack,
    identity_change_freezes_threads,
    settlement_verdicts_are_two_phase,
);

fn usd(s: &str) -> Money {
    Money::parse(&format!("{s} USD")).unwrap()
}

/// Request → payment notice → verification → receipt, then an invoice paid the same way.
fn full_flow<B: Backend>(backend: B) {
    let mut p = Pair::new(backend, 1);
    let (alice, bob) = (p.alice_addr(), p.bob_addr());

    let sent = p
        .alice
        .request_payment(&bob, &draft("12.50 USD", 7 * DAY), NOW, &mut p.rng)
        .unwrap();
    assert_eq!(sent.state, ThreadState::Issued);
    let rid = sent.request_id;
    let events = p.deliver_to_bob(&sent.outgoing, NOW + 1).unwrap();
    let [
        Event::Payment {
            from,
            kind: MessageKind::Request,
            request_id,
            applied: Applied::Accepted { .. },
            state: ThreadState::Issued,
            ..
        },
    ] = events.as_slice()
    else {
        panic!("{events:?}");
    };
    assert_eq!(*request_id, rid);
    assert_eq!(from.address, alice);
    assert_eq!(from.identity, *p.alice.identity());
    assert_eq!(from.safety_number, p.bob.safety_number(p.alice.identity()));
    assert_eq!(from.handle, None);
    assert_eq!(p.bob.thread_peer(&rid), Some(alice));

    // Bob pays on the rail, then notifies.
    let paid = p
        .bob
        .notify_payment(
            &rid,
            usd("12.50"),
            0,
            settlement("tx-1"),
            "sent",
            NOW + 10,
            &mut p.rng,
        )
        .unwrap();
    assert_eq!(paid.state, ThreadState::PaymentPending);
    let payment_id = paid.payment_id.unwrap();
    let events = p.deliver_to_alice(&paid.outgoing, NOW + 11).unwrap();
    let [
        Event::Payment {
            from,
            kind: MessageKind::Payment,
            state: ThreadState::PaymentPending,
            ..
        },
    ] = events.as_slice()
    else {
        panic!("{events:?}");
    };
    assert_eq!(from.handle.as_deref(), Some("bob"));
    assert!(!from.verified);

    // Only Alice's own verification makes it paid.
    let mut ledger = Ledger::default();
    ledger
        .verdicts
        .insert(payment_id, Verification::Settled(usd("12.50")));
    let events = verify(&mut p.alice, &mut ledger, NOW + 20).unwrap();
    assert_eq!(
        events,
        vec![Event::StateChanged {
            peer: bob,
            request_id: rid,
            from: ThreadState::PaymentPending,
            to: ThreadState::Paid,
        }]
    );
    assert!(
        verify(&mut p.alice, &mut ledger, NOW + 21)
            .unwrap()
            .is_empty()
    );
    assert_eq!(ledger.calls, 1);
    // Only the payee signs receipts.
    assert!(matches!(
        p.bob.send_receipt(&rid, NOW + 22, &mut p.rng),
        Err(ClientError::Pay(PayError::WrongRole { .. }))
    ));

    let receipt = p.alice.send_receipt(&rid, NOW + 30, &mut p.rng).unwrap();
    assert_eq!(receipt.state, ThreadState::Paid);
    let events = p.deliver_to_bob(&receipt.outgoing, NOW + 31).unwrap();
    assert!(matches!(
        events.as_slice(),
        [Event::Payment {
            kind: MessageKind::Receipt,
            state: ThreadState::PaymentPending,
            ..
        }]
    ));
    // The payer's own verification of its payment.
    let events = verify(&mut p.bob, &mut Ledger::default(), NOW + 40).unwrap();
    assert_eq!(
        events,
        vec![Event::StateChanged {
            peer: alice,
            request_id: rid,
            from: ThreadState::PaymentPending,
            to: ThreadState::Paid,
        }]
    );

    // An invoice.
    let mut d = draft("101.76 USD", 60 * DAY);
    d.invoice = Some(invoice_draft());
    assert!(matches!(
        p.alice.request_payment(&bob, &d, NOW, &mut p.rng),
        Err(ClientError::ApiMisuse(_))
    ));
    let inv = p
        .alice
        .send_invoice(&bob, &d, NOW + 50, &mut p.rng)
        .unwrap();
    let events = p.deliver_to_bob(&inv.outgoing, NOW + 51).unwrap();
    assert!(matches!(
        events.as_slice(),
        [Event::Payment {
            kind: MessageKind::Request,
            state: ThreadState::Issued,
            ..
        }]
    ));
    let thread = p.bob.thread(&inv.request_id).unwrap();
    assert_eq!(thread.request().request().kind, RequestKind::Invoice);
    let paid = p
        .bob
        .notify_payment(
            &inv.request_id,
            usd("101.76"),
            0,
            settlement("tx-2"),
            "",
            NOW + 60,
            &mut p.rng,
        )
        .unwrap();
    p.deliver_to_alice(&paid.outgoing, NOW + 61).unwrap();
    let events = verify(&mut p.alice, &mut Ledger::default(), NOW + 70).unwrap();
    assert_eq!(
        events,
        vec![Event::StateChanged {
            peer: bob,
            request_id: inv.request_id,
            from: ThreadState::PaymentPending,
            to: ThreadState::Paid,
        }]
    );
    assert_eq!(p.alice.threads().len(), 2);
    assert_eq!(p.bob.threads().len(), 2);
    // Every envelope is in the outbox until the transport marks it sent.
    assert_eq!(p.alice.pending_outgoing().len(), 3);
    let first = p.alice.pending_outgoing()[0].message_id;
    p.alice.mark_sent(&first).unwrap();
    assert_eq!(p.alice.pending_outgoing().len(), 2);
    let p = p.restart();
    assert_eq!(p.alice.pending_outgoing().len(), 2);
    assert_eq!(p.bob.pending_outgoing().len(), 2);
}

fn decline_flow<B: Backend>(backend: B) {
    let mut p = Pair::new(backend, 2);
    let bob = p.bob_addr();
    let sent = p
        .alice
        .request_payment(&bob, &draft("5.00 USD", DAY), NOW, &mut p.rng)
        .unwrap();
    let rid = sent.request_id;
    p.deliver_to_bob(&sent.outgoing, NOW + 1).unwrap();
    let declined = p
        .bob
        .decline(
            &rid,
            DeclineReason::WrongAmount,
            "that was 4.50",
            NOW + 2,
            &mut p.rng,
        )
        .unwrap();
    assert_eq!(declined.state, ThreadState::Declined);
    let events = p.deliver_to_alice(&declined.outgoing, NOW + 3).unwrap();
    let [
        Event::Payment {
            kind: MessageKind::Decline,
            state: ThreadState::Declined,
            applied:
                Applied::Accepted {
                    from: ThreadState::Issued,
                    to: ThreadState::Declined,
                },
            ..
        },
    ] = events.as_slice()
    else {
        panic!("{events:?}");
    };
    // The payee cannot cancel a declined request; nothing is stored for the attempt.
    let before = dump(p.alice.store(), &[]);
    let err = p
        .alice
        .cancel(&rid, CancelReason::Other, "", NOW + 4, &mut p.rng)
        .unwrap_err();
    assert!(matches!(
        err,
        ClientError::Pay(PayError::InvalidTransition {
            state: ThreadState::Declined,
            message: MessageKind::Cancel,
        })
    ));
    assert_eq!(dump(p.alice.store(), &[]), before);
    // A receipt needs a recorded payment.
    assert!(matches!(
        p.alice.send_receipt(&rid, NOW + 5, &mut p.rng),
        Err(ClientError::ApiMisuse(_))
    ));
}

fn cancel_flow<B: Backend>(backend: B) {
    let mut p = Pair::new(backend, 3);
    let bob = p.bob_addr();
    let sent = p
        .alice
        .request_payment(&bob, &draft("5.00 USD", DAY), NOW, &mut p.rng)
        .unwrap();
    let rid = sent.request_id;
    p.deliver_to_bob(&sent.outgoing, NOW + 1).unwrap();
    let cancelled = p
        .alice
        .cancel(
            &rid,
            CancelReason::IssuedInError,
            "wrong person",
            NOW + 2,
            &mut p.rng,
        )
        .unwrap();
    assert_eq!(cancelled.state, ThreadState::Cancelled);
    let events = p.deliver_to_bob(&cancelled.outgoing, NOW + 3).unwrap();
    assert!(matches!(
        events.as_slice(),
        [Event::Payment {
            kind: MessageKind::Cancel,
            state: ThreadState::Cancelled,
            ..
        }]
    ));
    let err = p
        .bob
        .decline(&rid, DeclineReason::Other, "", NOW + 4, &mut p.rng)
        .unwrap_err();
    assert!(matches!(
        err,
        ClientError::Pay(PayError::InvalidTransition {
            state: ThreadState::Cancelled,
            message: MessageKind::Decline,
        })
    ));
    // Only the payee cancels.
    assert!(matches!(
        p.bob
            .cancel(&rid, CancelReason::Other, "", NOW + 5, &mut p.rng),
        Err(ClientError::Pay(PayError::WrongRole { .. }))
    ));
}

fn expiry<B: Backend>(backend: B) {
    let mut p = Pair::new(backend, 4);
    let (alice, bob) = (p.alice_addr(), p.bob_addr());
    let sent = p
        .alice
        .request_payment(&bob, &draft("5.00 USD", 100), NOW, &mut p.rng)
        .unwrap();
    let rid = sent.request_id;
    p.deliver_to_bob(&sent.outgoing, NOW + 1).unwrap();
    assert!(p.bob.handle_timeout(NOW + 100).unwrap().is_empty());
    let expired = |peer| {
        vec![Event::StateChanged {
            peer,
            request_id: rid,
            from: ThreadState::Issued,
            to: ThreadState::Expired,
        }]
    };
    assert_eq!(p.bob.handle_timeout(NOW + 101).unwrap(), expired(alice));
    assert!(p.bob.handle_timeout(NOW + 102).unwrap().is_empty());
    assert_eq!(p.alice.handle_timeout(NOW + 101).unwrap(), expired(bob));
    let err = p
        .bob
        .decline(&rid, DeclineReason::Other, "", NOW + 103, &mut p.rng)
        .unwrap_err();
    assert!(matches!(
        err,
        ClientError::Pay(PayError::InvalidTransition {
            state: ThreadState::Expired,
            ..
        })
    ));
    // A request that arrives after its expiry is refused (and reported once).
    let late = p
        .alice
        .request_payment(&bob, &draft("6.00 USD", 100), NOW, &mut p.rng)
        .unwrap();
    let events = p.deliver_to_bob(&late.outgoing, NOW + 200).unwrap();
    let [
        Event::Refused {
            message_id: Some(id),
            error: PayError::Expired,
            ..
        },
    ] = events.as_slice()
    else {
        panic!("{events:?}");
    };
    assert_eq!(*id, late.content_id);
    assert!(p.bob.thread(&late.request_id).is_none());
    assert!(
        p.deliver_to_bob(&late.outgoing, NOW + 201)
            .unwrap()
            .is_empty()
    );
    // The refusal can be answered; Alice sees the error reply.
    let reply = p
        .bob
        .send_error(&alice, late.content_id, &PayError::Expired, &mut p.rng)
        .unwrap();
    let events = p.deliver_to_alice(&reply, NOW + 202).unwrap();
    let [Event::PeerError { reply, .. }] = events.as_slice() else {
        panic!("{events:?}");
    };
    assert_eq!(reply.message_id, late.content_id);
    assert_eq!(reply.code, remit_pay::ErrorCode::Expired);
    let p = p.restart();
    assert_eq!(p.bob.thread(&rid).unwrap().state(), ThreadState::Expired);
}

fn tampered_envelope_changes_nothing<B: Backend>(backend: B) {
    let mut p = Pair::new(backend, 5);
    let (alice, bob) = (p.alice_addr(), p.bob_addr());
    let sent = p
        .alice
        .request_payment(&bob, &draft("5.00 USD", DAY), NOW, &mut p.rng)
        .unwrap();
    let out = &sent.outgoing;
    let before = dump(p.bob.store(), &[]);
    let keys_before = p.bob.one_time_prekey_count();

    // A flipped ciphertext bit in the handshake message: the one-time prekey is not consumed.
    let mut bad = out.clone();
    let n = bad.envelope.len();
    bad.envelope[n - 5] ^= 0x01;
    let err = p.deliver_to_bob(&bad, NOW + 1).unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Handshake(HandshakeError::Decrypt(DecryptError::DecryptFailed))
        ),
        "{err:?}"
    );
    // Garbage, and a truncated envelope.
    assert!(matches!(
        p.bob
            .handle_envelope(alice, [0; 16], b"\x01\x02\x03", NOW + 1),
        Err(ClientError::Decode(_))
    ));
    assert!(matches!(
        p.bob
            .handle_envelope(alice, [0; 16], &out.envelope[..n / 2], NOW + 1),
        Err(ClientError::Decode(_))
    ));
    // The relay claims another sender.
    assert!(matches!(
        p.bob
            .handle_envelope([9; 32], [0; 16], &out.envelope, NOW + 1),
        Err(ClientError::SenderMismatch)
    ));
    assert_eq!(dump(p.bob.store(), &[]), before);
    assert_eq!(p.bob.one_time_prekey_count(), keys_before);
    assert!(p.bob.thread(&sent.request_id).is_none());

    // The genuine envelope still works.
    assert_eq!(p.deliver_to_bob(out, NOW + 2).unwrap().len(), 1);
    assert_eq!(p.bob.one_time_prekey_count(), keys_before - 1);

    // A tampered ratchet message.
    let text = p.bob.send_text(&alice, "hello", &mut p.rng).unwrap();
    let before = dump(p.alice.store(), &[]);
    let mut bad = text.clone();
    let n = bad.envelope.len();
    bad.envelope[n - 1] ^= 0x80;
    assert!(matches!(
        p.deliver_to_alice(&bad, NOW + 3),
        Err(ClientError::Decrypt(DecryptError::DecryptFailed))
    ));
    assert_eq!(dump(p.alice.store(), &[]), before);
    let events = p.deliver_to_alice(&text, NOW + 4).unwrap();
    let [Event::Text { text, from, .. }] = events.as_slice() else {
        panic!("{events:?}");
    };
    assert_eq!(text, "hello");
    assert_eq!(from.handle.as_deref(), Some("bob"));
    // A ratchet message from a peer with no session.
    let stranger_text = p.bob.send_text(&alice, "x", &mut p.rng).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(55);
    let mut carol = Engine::create(MemoryStore::new(), NOW, &mut rng).unwrap();
    assert!(matches!(
        carol.handle_envelope(bob, [0; 16], &stranger_text.envelope, NOW),
        Err(ClientError::NoSession { .. })
    ));
}

fn restart_mid_flow_resumes<B: Backend>(backend: B) {
    let mut p = Pair::new(backend, 6);
    let bob = p.bob_addr();
    let sent = p
        .alice
        .request_payment(&bob, &draft("20.00 USD", DAY), NOW, &mut p.rng)
        .unwrap();
    let rid = sent.request_id;
    p.deliver_to_bob(&sent.outgoing, NOW + 1).unwrap();

    let mut p = p.restart();
    assert_eq!(p.bob.thread(&rid).unwrap().state(), ThreadState::Issued);
    assert_eq!(p.alice.contact("bob").unwrap().address, bob);
    let paid = p
        .bob
        .notify_payment(
            &rid,
            usd("20.00"),
            0,
            settlement("tx-9"),
            "",
            NOW + 10,
            &mut p.rng,
        )
        .unwrap();

    let mut p = p.restart();
    // The envelope produced before the restart decrypts with the restored sessions.
    let events = p.deliver_to_alice(&paid.outgoing, NOW + 11).unwrap();
    assert!(matches!(
        events.as_slice(),
        [Event::Payment {
            state: ThreadState::PaymentPending,
            ..
        }]
    ));

    let mut p = p.restart();
    assert_eq!(
        p.alice.thread(&rid).unwrap().state(),
        ThreadState::PaymentPending
    );
    let events = verify(&mut p.alice, &mut Ledger::default(), NOW + 20).unwrap();
    assert_eq!(events.len(), 1);
    let receipt = p.alice.send_receipt(&rid, NOW + 21, &mut p.rng).unwrap();
    let mut p = p.restart();
    assert_eq!(p.alice.thread(&rid).unwrap().state(), ThreadState::Paid);
    let events = p.deliver_to_bob(&receipt.outgoing, NOW + 22).unwrap();
    assert!(matches!(
        events.as_slice(),
        [Event::Payment {
            kind: MessageKind::Receipt,
            ..
        }]
    ));
}

/// The transport received an envelope, the engine committed its effect, and the process died
/// before acking the relay: the relay delivers it again after the restart.
fn killed_between_receive_and_ack<B: Backend>(backend: B) {
    let mut p = Pair::new(backend, 7);
    let (alice, bob) = (p.alice_addr(), p.bob_addr());
    let sent = p
        .alice
        .request_payment(&bob, &draft("20.00 USD", DAY), NOW, &mut p.rng)
        .unwrap();
    let rid = sent.request_id;
    assert_eq!(p.deliver_to_bob(&sent.outgoing, NOW + 1).unwrap().len(), 1);
    p.restart_bob(); // no ack
    assert!(
        p.deliver_to_bob(&sent.outgoing, NOW + 2)
            .unwrap()
            .is_empty()
    );
    assert_eq!(p.bob.threads().len(), 1);
    assert_eq!(p.bob.thread(&rid).unwrap().state(), ThreadState::Issued);

    // The same on Alice's side, with a ratchet message.
    let paid = p
        .bob
        .notify_payment(
            &rid,
            usd("20.00"),
            0,
            settlement("tx-3"),
            "",
            NOW + 10,
            &mut p.rng,
        )
        .unwrap();
    assert_eq!(
        p.deliver_to_alice(&paid.outgoing, NOW + 11).unwrap().len(),
        1
    );
    let mut p = p.restart();
    assert!(
        p.deliver_to_alice(&paid.outgoing, NOW + 12)
            .unwrap()
            .is_empty()
    );
    let thread = p.alice.thread(&rid).unwrap();
    assert_eq!(thread.state(), ThreadState::PaymentPending);
    assert_eq!(thread.payments().len(), 1);
    // Still talking: the sessions moved on exactly once.
    let text = p.alice.send_text(&bob, "got it", &mut p.rng).unwrap();
    assert_eq!(p.deliver_to_bob(&text, NOW + 13).unwrap().len(), 1);
    let _ = alice;
}

fn identity_change_freezes_threads<B: Backend>(backend: B) {
    let mut p = Pair::new(backend, 8);
    let bob1 = p.bob_addr();
    let sent = p
        .alice
        .request_payment(&bob1, &draft("8.00 USD", DAY), NOW, &mut p.rng)
        .unwrap();
    let rid = sent.request_id;
    p.deliver_to_bob(&sent.outgoing, NOW + 1).unwrap();
    let bob1_identity = *p.bob.identity();

    // "bob" comes back with another identity (a reinstall, or someone else).
    let mut bob2 = Engine::create(p.backend.fresh("bob2"), NOW, &mut p.rng).unwrap();
    let keys = bob2.generate_one_time_prekeys(1, &mut p.rng).unwrap();
    let events = p
        .alice
        .start_session(Some("bob"), &bob2.bundle(keys.first().copied()), &mut p.rng)
        .unwrap();
    assert_eq!(
        events,
        vec![Event::IdentityChanged {
            handle: "bob".into(),
            previous: bob1_identity,
            current: *bob2.identity(),
            safety_number: p.alice.safety_number(bob2.identity()),
        }]
    );
    let contact = p.alice.contact("bob").unwrap();
    assert!(contact.frozen && !contact.verified);
    assert_eq!(contact.previous, Some(bob1_identity));
    let bob2_addr = bob2.address();

    // Payment messages either way are frozen; text is not.
    assert!(matches!(
        p.alice
            .request_payment(&bob2_addr, &draft("1.00 USD", DAY), NOW + 2, &mut p.rng),
        Err(ClientError::IdentityUnconfirmed { peer }) if peer == bob2_addr
    ));
    assert!(matches!(
        p.alice.cancel(&rid, CancelReason::Other, "", NOW + 2, &mut p.rng),
        Err(ClientError::IdentityUnconfirmed { peer }) if peer == bob1
    ));
    let hello = p
        .alice
        .send_text(&bob2_addr, "is this you?", &mut p.rng)
        .unwrap();
    let events = bob2
        .handle_envelope(
            p.alice.address(),
            hello.message_id,
            &hello.envelope,
            NOW + 3,
        )
        .unwrap();
    assert!(matches!(events.as_slice(), [Event::Text { .. }]));

    // The old identity pays the open request: held, not applied.
    let paid = p
        .bob
        .notify_payment(
            &rid,
            usd("8.00"),
            0,
            settlement("tx-4"),
            "",
            NOW + 4,
            &mut p.rng,
        )
        .unwrap();
    let events = p.deliver_to_alice(&paid.outgoing, NOW + 5).unwrap();
    assert!(matches!(
        events.as_slice(),
        [Event::PaymentHeld { kind: MessageKind::Payment, request_id, .. }] if *request_id == rid
    ));
    assert_eq!(p.alice.thread(&rid).unwrap().state(), ThreadState::Issued);

    // Frozen and held survive a restart; the redelivered envelope is a no-op.
    let mut p = p.restart();
    assert!(p.alice.contact("bob").unwrap().frozen);
    assert!(
        p.deliver_to_alice(&paid.outgoing, NOW + 6)
            .unwrap()
            .is_empty()
    );

    // The user confirms: the held notice is applied, once.
    let events = p.alice.confirm_identity("bob", NOW + 7).unwrap();
    let [
        Event::Payment {
            kind: MessageKind::Payment,
            request_id,
            applied:
                Applied::Accepted {
                    from: ThreadState::Issued,
                    to: ThreadState::PaymentPending,
                },
            state: ThreadState::PaymentPending,
            ..
        },
    ] = events.as_slice()
    else {
        panic!("{events:?}");
    };
    assert_eq!(*request_id, rid);
    assert!(p.alice.confirm_identity("bob", NOW + 8).unwrap().is_empty());
    let contact = p.alice.contact("bob").unwrap();
    assert!(!contact.frozen && contact.previous.is_none());
    assert!(
        p.alice
            .request_payment(&bob2_addr, &draft("1.00 USD", DAY), NOW + 9, &mut p.rng)
            .is_ok()
    );
    let mut p = p.restart();
    assert_eq!(
        p.alice.thread(&rid).unwrap().state(),
        ThreadState::PaymentPending
    );
    assert!(matches!(
        p.alice.confirm_identity("nobody", NOW),
        Err(ClientError::UnknownContact)
    ));
    // Comparing safety numbers marks the contact verified; events say so.
    assert!(p.alice.mark_verified("bob", NOW + 10).unwrap().is_empty());
    assert!(p.alice.contact("bob").unwrap().verified);
    let reply = bob2
        .send_text(&p.alice.address(), "yes, new phone", &mut p.rng)
        .unwrap();
    let events = p
        .alice
        .handle_envelope(bob2_addr, reply.message_id, &reply.envelope, NOW + 11)
        .unwrap();
    let [Event::Text { from, .. }] = events.as_slice() else {
        panic!("{events:?}");
    };
    assert_eq!(from.handle.as_deref(), Some("bob"));
    assert!(from.verified);
}

/// The same content in a second envelope (a sender whose state was rolled back re-encrypts
/// it): the content-level message id makes it a no-op.
#[test]
fn same_content_in_another_envelope_is_applied_once() {
    let mut rng = ChaCha20Rng::seed_from_u64(10);
    let store = MemoryStore::new();
    let mut alice = Engine::create(store, NOW, &mut rng).unwrap();
    let mut bob = Engine::create(MemoryStore::new(), NOW, &mut rng).unwrap();
    let keys = bob.generate_one_time_prekeys(1, &mut rng).unwrap();
    alice
        .start_session(Some("bob"), &bob.bundle(keys.first().copied()), &mut rng)
        .unwrap();
    let bob_addr = bob.address();
    let alice_addr = alice.address();
    // A copy of Alice's state and of her rng: the copy sends one text first, so its request
    // (same request id, same content id) travels under another message key.
    let mut twin = Engine::open(alice.store().clone()).unwrap();
    let mut alice_rng = ChaCha20Rng::seed_from_u64(99);
    let mut twin_rng = ChaCha20Rng::seed_from_u64(99);
    let mut other_rng = ChaCha20Rng::seed_from_u64(11);
    let first = alice
        .request_payment(&bob_addr, &draft("3.00 USD", DAY), NOW, &mut alice_rng)
        .unwrap();
    twin.send_text(&bob_addr, "hi", &mut other_rng).unwrap();
    let second = twin
        .request_payment(&bob_addr, &draft("3.00 USD", DAY), NOW, &mut twin_rng)
        .unwrap();
    assert_eq!(first.content_id, second.content_id);
    assert_ne!(first.outgoing.envelope, second.outgoing.envelope);
    let o = &first.outgoing;
    assert_eq!(
        bob.handle_envelope(alice_addr, o.message_id, &o.envelope, NOW + 1)
            .unwrap()
            .len(),
        1
    );
    let o = &second.outgoing;
    assert!(
        bob.handle_envelope(alice_addr, o.message_id, &o.envelope, NOW + 2)
            .unwrap()
            .is_empty()
    );
    assert!(
        bob.store()
            .is_processed(&alice_addr, &first.content_id)
            .unwrap()
    );
    assert_eq!(bob.threads().len(), 1);
}

/// A store failure (a crash before the commit) leaves the engine as it was: the redelivered
/// envelope then takes effect exactly once.
#[test]
fn failed_commit_changes_nothing() {
    struct FlakyMemory(Rc<Cell<bool>>);
    impl Backend for FlakyMemory {
        type S = Flaky<MemoryStore>;
        fn fresh(&mut self, _: &str) -> Self::S {
            Flaky {
                inner: MemoryStore::new(),
                fail: Rc::clone(&self.0),
            }
        }
        fn reopen(&mut self, _: &str, old: Self::S) -> Self::S {
            old.clone()
        }
    }
    let fail = Rc::new(Cell::new(false));
    let mut p = Pair::new(FlakyMemory(Rc::clone(&fail)), 12);
    let bob = p.bob_addr();
    let sent = p
        .alice
        .request_payment(&bob, &draft("2.00 USD", DAY), NOW, &mut p.rng)
        .unwrap();
    let keys = p.bob.one_time_prekey_count();
    fail.set(true);
    assert!(matches!(
        p.deliver_to_bob(&sent.outgoing, NOW + 1),
        Err(ClientError::Store(StoreError::Io(_)))
    ));
    // Outgoing calls fail the same way, and their envelope never exists.
    assert!(matches!(
        p.alice.send_text(&bob, "x", &mut p.rng),
        Err(ClientError::Store(_))
    ));
    assert_eq!(p.alice.pending_outgoing().len(), 1);
    fail.set(false);
    assert_eq!(p.bob.one_time_prekey_count(), keys);
    assert!(p.bob.thread(&sent.request_id).is_none());
    assert_eq!(p.deliver_to_bob(&sent.outgoing, NOW + 2).unwrap().len(), 1);
    assert!(
        p.deliver_to_bob(&sent.outgoing, NOW + 3)
            .unwrap()
            .is_empty()
    );
    assert_eq!(p.bob.one_time_prekey_count(), keys - 1);
}

#[test]
fn sqlite_refuses_an_unknown_schema_and_an_empty_profile() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    let mut rng = ChaCha20Rng::seed_from_u64(13);
    assert!(matches!(
        Engine::open(SqliteStore::open(&path).unwrap()),
        Err(ClientError::ApiMisuse(_))
    ));
    let engine = Engine::create(SqliteStore::open(&path).unwrap(), NOW, &mut rng).unwrap();
    let address = engine.address();
    drop(engine);
    assert!(matches!(
        Engine::create(SqliteStore::open(&path).unwrap(), NOW, &mut rng),
        Err(ClientError::ApiMisuse(_))
    ));
    let reopened =
        Engine::open_or_create(SqliteStore::open(&path).unwrap(), NOW, &mut rng).unwrap();
    assert_eq!(reopened.address(), address);
    drop(reopened);
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    assert!(matches!(
        SqliteStore::open(&path),
        Err(StoreError::UnknownSchema {
            got: 99,
            supported: 1
        })
    ));
}

fn invoice_draft() -> InvoiceDraft {
    remit_pay::internal::sample_invoice(NOW)
}

/// Settlement verification in two phases: the engine lists what waits for the app's check, the
/// app decides outside it, and only a verdict changes anything. A notice without one stays
/// pending, a verdict for nothing pending changes nothing, and the same verdicts applied twice
/// leave the store as it was after the first time.
fn settlement_verdicts_are_two_phase<B: Backend>(backend: B) {
    let mut p = Pair::new(backend, 3);
    let bob = p.bob_addr();
    let sent = p
        .alice
        .request_payment(&bob, &draft("12.50 USD", 7 * DAY), NOW, &mut p.rng)
        .unwrap();
    let rid = sent.request_id;
    p.deliver_to_bob(&sent.outgoing, NOW + 1).unwrap();
    assert!(p.alice.pending_settlements().is_empty());
    let paid = p
        .bob
        .notify_payment(
            &rid,
            usd("12.50"),
            0,
            settlement("tx-2"),
            "sent",
            NOW + 10,
            &mut p.rng,
        )
        .unwrap();
    let payment_id = paid.payment_id.unwrap();
    p.deliver_to_alice(&paid.outgoing, NOW + 11).unwrap();

    // Phase one: the notice, with what the app needs to look it up.
    let pending = p.alice.pending_settlements();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].notice.payment_id, payment_id);
    assert_eq!(pending[0].notice.amount, usd("12.50"));
    assert_eq!(pending[0].request.request_id, rid);
    assert_eq!(pending[0].role, remit_pay::Role::Payee);

    // No verdict, or one for another notice: nothing changes, in memory or in the store.
    let before = dump(p.alice.store(), &[]);
    assert!(p.alice.apply_verdicts(&[], NOW + 12).unwrap().is_empty());
    let elsewhere = Verdict::new(rid, [9; 16], Verification::Failed);
    assert!(
        p.alice
            .apply_verdicts(&[elsewhere], NOW + 12)
            .unwrap()
            .is_empty()
    );
    assert_eq!(dump(p.alice.store(), &[]), before);
    assert_eq!(p.alice.pending_settlements(), pending);

    // Phase two: the app's finding decides.
    let verdict = pending[0].verdict(Verification::Settled(usd("12.50")));
    let events = p
        .alice
        .apply_verdicts(core::slice::from_ref(&verdict), NOW + 13)
        .unwrap();
    assert!(
        matches!(
            events.as_slice(),
            [Event::StateChanged {
                to: ThreadState::Paid,
                ..
            }]
        ),
        "{events:?}"
    );
    assert!(p.alice.pending_settlements().is_empty());
    // Applied again (an app that crashed after the first time): nothing changes.
    let after = dump(p.alice.store(), &[]);
    assert!(
        p.alice
            .apply_verdicts(&[verdict], NOW + 14)
            .unwrap()
            .is_empty()
    );
    assert_eq!(dump(p.alice.store(), &[]), after);
}

/// Both phases of settlement verification, with a checker that answers at once.
fn verify<S: Store>(
    engine: &mut Engine<S>,
    checker: &mut impl remit_pay::SettlementVerifier,
    now: u64,
) -> Result<Vec<Event>, ClientError> {
    let verdicts = Verdict::collect(&engine.pending_settlements(), checker);
    engine.apply_verdicts(&verdicts, now)
}

/// A store that counts commits.
#[derive(Default)]
struct Counting {
    inner: MemoryStore,
    commits: usize,
}

impl Store for Counting {
    fn load(&self) -> Result<Option<remit_client::Snapshot>, StoreError> {
        self.inner.load()
    }

    fn commit(&mut self, batch: &remit_client::Batch) -> Result<(), StoreError> {
        self.commits += 1;
        self.inner.commit(batch)
    }

    fn is_processed(
        &self,
        peer: &[u8; 32],
        message_id: &remit_pay::Id,
    ) -> Result<bool, StoreError> {
        self.inner.is_processed(peer, message_id)
    }
}

/// Many envelopes marked sent cost one commit; unknown ids none; the outbox keeps the rest.
#[test]
fn marks_for_a_whole_flush_are_one_commit() {
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let mut alice = Engine::create(Counting::default(), NOW, &mut rng).unwrap();
    let mut bob = Engine::create(MemoryStore::new(), NOW, &mut rng).unwrap();
    let keys = bob.generate_one_time_prekeys(1, &mut rng).unwrap();
    let bundle = bob.bundle(keys.first().copied());
    alice.start_session(Some("bob"), &bundle, &mut rng).unwrap();
    let ids: Vec<[u8; 16]> = (0..5)
        .map(|i| {
            alice
                .send_text(&bob.address(), &format!("t{i}"), &mut rng)
                .unwrap()
                .message_id
        })
        .collect();
    let before = alice.store().commits;
    alice.mark_sent_all(&[[0xee; 16]]).unwrap();
    assert_eq!(alice.store().commits, before, "nothing known: no commit");
    alice.mark_sent_all(&ids[..4]).unwrap();
    assert_eq!(alice.store().commits, before + 1);
    let left: Vec<[u8; 16]> = alice
        .pending_outgoing()
        .iter()
        .map(|o| o.message_id)
        .collect();
    assert_eq!(left, [ids[4]]);
    // What the store holds agrees (a restart sees the same outbox).
    let reopened = Engine::open(alice.store().inner.clone()).unwrap();
    assert_eq!(reopened.pending_outgoing().len(), 1);
}

/// The engine decides what to publish to the relay: the identity and signed prekey once per
/// connection, one-time prekeys when the relay runs low (counting the ones first messages use),
/// nothing without a connection.
#[test]
fn the_engine_decides_prekey_publication() {
    let mut rng = ChaCha20Rng::seed_from_u64(12);
    let policy = remit_client::PreKeyPolicy::new(20, 50);
    let mut bob = Engine::create(MemoryStore::new(), NOW, &mut rng).unwrap();
    assert!(
        bob.poll_prekey_publication(&policy, &mut rng)
            .unwrap()
            .is_none()
    );

    // A relay with plenty: only the identity and signed prekey, once.
    bob.handle_relay_connected(100);
    let p = bob
        .poll_prekey_publication(&policy, &mut rng)
        .unwrap()
        .unwrap();
    assert!(p.identity.is_some() && p.signed_prekey.is_some());
    assert!(p.one_time_prekeys.is_empty());
    assert!(
        bob.poll_prekey_publication(&policy, &mut rng)
            .unwrap()
            .is_none()
    );

    // A new connection to a relay that holds few: identity again, and a batch of keys.
    bob.handle_relay_connected(3);
    let before = bob.one_time_prekey_count();
    let p = bob
        .poll_prekey_publication(&policy, &mut rng)
        .unwrap()
        .unwrap();
    assert_eq!(p.one_time_prekeys.len(), 50);
    assert_eq!(bob.one_time_prekey_count(), before + 50);
    bob.handle_prekeys_published(21);
    assert!(
        bob.poll_prekey_publication(&policy, &mut rng)
            .unwrap()
            .is_none()
    );

    // A first message uses one of the published keys: 20 left, still enough; one more and the
    // engine tops up.
    let mut alice = Engine::create(MemoryStore::new(), NOW, &mut rng).unwrap();
    let key = p.one_time_prekeys.first().cloned().unwrap();
    let key = remit_wire::session::OneTimePreKey::try_from(key).unwrap();
    alice
        .start_session(Some("bob"), &bob.bundle(Some(key)), &mut rng)
        .unwrap();
    let out = alice.send_text(&bob.address(), "hi", &mut rng).unwrap();
    bob.handle_envelope(alice.address(), out.message_id, &out.envelope, NOW + 1)
        .unwrap();
    assert!(
        bob.poll_prekey_publication(&policy, &mut rng)
            .unwrap()
            .is_none()
    );
    bob.handle_prekeys_published(19);
    let p = bob
        .poll_prekey_publication(&policy, &mut rng)
        .unwrap()
        .unwrap();
    assert_eq!(p.one_time_prekeys.len(), 50);

    // Without a connection, nothing, even when a late answer says the relay ran dry.
    bob.handle_relay_disconnected();
    bob.handle_prekeys_published(0);
    assert!(
        bob.poll_prekey_publication(&policy, &mut rng)
            .unwrap()
            .is_none()
    );
}
