//! The payment-thread state machine: the full transition table (every state × every message ×
//! each sender role), settlement, idempotency, expiry, refunds and storage.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::match_same_arms,
    missing_docs
)]

mod common;

use common::*;
use remit_pay::{internal::*, *};

/// A thread driven into `state`, as the payee sees it, plus the parties and the request.
fn thread_in(state: ThreadState) -> (Parties, SignedRequest, PaymentThread) {
    use ExceptionReason as E;
    use ThreadState as S;
    let mut p = Parties::new(7);
    let partial = state == S::PartiallyPaid;
    let req = p.request("12.50 USD", partial);
    let mut t = PaymentThread::open(Role::Payee, req.clone(), NOW).unwrap();
    let inbound = |t: &mut PaymentThread, m: PaymentMessage, now| {
        t.handle(Direction::Inbound, &m, now).unwrap()
    };
    let outbound = |t: &mut PaymentThread, m: PaymentMessage, now| {
        t.handle(Direction::Outbound, &m, now).unwrap()
    };
    let late = NOW + 8 * DAY;
    match state {
        S::Issued => {}
        S::PaymentPending => {
            inbound(&mut t, p.payment(&req, "12.50 USD").into(), NOW);
        }
        S::PartiallyPaid => {
            inbound(&mut t, p.payment(&req, "5.00 USD").into(), NOW);
            settle_all(&mut t);
        }
        S::Paid | S::PartiallyRefunded | S::Refunded => {
            let n = p.payment(&req, "12.50 USD");
            inbound(&mut t, n.clone().into(), NOW);
            settle_all(&mut t);
            let back = match state {
                S::PartiallyRefunded => Some("2.50 USD"),
                S::Refunded => Some("12.50 USD"),
                _ => None,
            };
            if let Some(amount) = back {
                let r = p.refund(&req, n.payment_id, Money::parse(amount).unwrap());
                outbound(&mut t, r.into(), NOW);
                settle_all(&mut t);
            }
        }
        S::Declined => {
            inbound(&mut t, decline(&req).into(), NOW);
        }
        S::Cancelled => {
            outbound(&mut t, cancel(&req).into(), NOW);
        }
        S::Expired => t.tick(late),
        S::Exception(E::Late) => {
            inbound(&mut t, p.payment(&req, "12.50 USD").into(), late);
            t.verify_settlements(&mut Script::default(), late).unwrap();
        }
        S::Exception(E::Overpaid) => {
            inbound(&mut t, p.payment(&req, "13.00 USD").into(), NOW);
            settle_all(&mut t);
        }
        S::Exception(E::WrongAsset) => {
            let n = p.payment(&req, "12.50 USD");
            inbound(&mut t, n.clone().into(), NOW);
            let mut script = Script::default();
            script.verdicts.insert(
                n.payment_id,
                Verification::Settled(Money::parse("12.50 EUR").unwrap()),
            );
            t.verify_settlements(&mut script, NOW).unwrap();
        }
        S::Exception(E::AfterCancel) => {
            inbound(&mut t, p.payment(&req, "12.50 USD").into(), NOW);
            outbound(&mut t, cancel(&req).into(), NOW);
            settle_all(&mut t);
        }
        S::Exception(E::AfterDecline) => {
            inbound(&mut t, decline(&req).into(), NOW);
            inbound(&mut t, p.payment(&req, "12.50 USD").into(), NOW);
            settle_all(&mut t);
        }
        other => panic!("{other:?}: a state this fixture cannot reach yet"),
    }
    assert_eq!(t.state(), state, "fixture for {state:?}");
    (p, req, t)
}

fn decline(req: &SignedRequest) -> Decline {
    Decline::new(req, DeclineReason::Other, "not now").unwrap()
}

fn cancel(req: &SignedRequest) -> Cancel {
    Cancel::new(req, CancelReason::Other, "oops").unwrap()
}

/// A fresh message of `kind` that fits the thread as well as that kind can.
fn message(
    kind: MessageKind,
    p: &mut Parties,
    req: &SignedRequest,
    t: &PaymentThread,
) -> PaymentMessage {
    match kind {
        MessageKind::Request => req.clone().into(),
        MessageKind::Payment => p.payment(req, "1.00 USD").into(),
        MessageKind::Refund => {
            let target = t.payments().iter().find_map(|r| match &r.status {
                PaymentStatus::Settled(m) if r.notice.kind == NoticeKind::Payment => {
                    Some((r.notice.payment_id, m.clone()))
                }
                _ => None,
            });
            let (of, unit) = target.unwrap_or((p.id(), Money::parse("1.00 USD").unwrap()));
            let one = Money::new(unit.asset().clone(), 1, unit.scale()).unwrap();
            p.refund(req, of, one).into()
        }
        MessageKind::Receipt => {
            let ids: Vec<Id> = t
                .payments()
                .iter()
                .filter(|r| r.notice.kind == NoticeKind::Payment)
                .map(|r| r.notice.payment_id)
                .collect();
            let ids = if ids.is_empty() { vec![p.id()] } else { ids };
            let received = t.received().unwrap();
            p.receipt(req, &ids, ReceiptOutcome::Pending, &received)
                .into()
        }
        MessageKind::Decline => decline(req).into(),
        MessageKind::Cancel => cancel(req).into(),
        other => panic!("{other:?}: a message kind this test does not build yet"),
    }
}

/// What the table says: `Ok(Some(next))` accepted, `Ok(None)` duplicate, `Err(e)` refused.
#[derive(Debug, PartialEq)]
enum Expect {
    To(ThreadState),
    Duplicate,
    WrongRole,
    Invalid,
    UnknownPayment,
}

/// The transition table of spec/payments.md §6.2, for a message from its allowed sender.
fn expected(state: ThreadState, kind: MessageKind) -> Expect {
    use ExceptionReason as E;
    use MessageKind as M;
    use ThreadState as S;
    let has_payments = !matches!(state, S::Issued | S::Declined | S::Cancelled | S::Expired);
    match (kind, state) {
        (M::Request, _) => Expect::Duplicate,
        (M::Payment, S::Issued) => Expect::To(S::PaymentPending),
        (M::Payment, s) => Expect::To(s),
        (M::Refund, s @ (S::PartiallyPaid | S::Paid | S::Exception(_) | S::PartiallyRefunded)) => {
            Expect::To(s)
        }
        (M::Refund, _) => Expect::Invalid,
        (M::Receipt, s) if has_payments => Expect::To(s),
        (M::Receipt, _) => Expect::UnknownPayment,
        (M::Decline, S::Issued) => Expect::To(S::Declined),
        (M::Decline, S::Declined | S::Exception(E::AfterDecline)) => Expect::Duplicate,
        (M::Decline, _) => Expect::Invalid,
        (M::Cancel, S::Issued | S::PaymentPending) => Expect::To(S::Cancelled),
        (M::Cancel, S::Cancelled | S::Exception(E::AfterCancel)) => Expect::Duplicate,
        (M::Cancel, _) => Expect::Invalid,
        (other, _) => panic!("{other:?}: a message kind the table does not list yet"),
    }
}

#[test]
fn transition_table_every_state_message_and_role() {
    let mut checked = 0;
    for state in ThreadState::ALL {
        for kind in MessageKind::ALL {
            for sender in [Role::Payee, Role::Payer] {
                for local in [Role::Payee, Role::Payer] {
                    let (mut p, req, mut t) = thread_in(state);
                    if local == Role::Payer {
                        // The same history, seen from the payer's side.
                        let bytes = t.to_bytes().unwrap();
                        let mut b = bytes.clone();
                        // role byte follows magic (4) and version (2)
                        b[6] = 1;
                        t = PaymentThread::from_bytes(&b, &p.payee_public()).unwrap();
                        assert_eq!(t.local_role(), Role::Payer);
                    }
                    let direction = if sender == local {
                        Direction::Outbound
                    } else {
                        Direction::Inbound
                    };
                    let msg = message(kind, &mut p, &req, &t);
                    let before = t.to_bytes().unwrap();
                    let got = t.handle(direction, &msg, NOW + 1);
                    let want = if sender == kind.sender() {
                        expected(state, kind)
                    } else {
                        Expect::WrongRole
                    };
                    let ctx = format!("{state:?} × {kind:?} from {sender:?} (local {local:?})");
                    match (&want, &got) {
                        (Expect::To(to), Ok(Applied::Accepted { from, to: got_to })) => {
                            assert_eq!((from, got_to), (&state, to), "{ctx}");
                        }
                        (Expect::Duplicate, Ok(Applied::Duplicate)) => {}
                        (Expect::WrongRole, Err(PayError::WrongRole { role, message })) => {
                            assert_eq!((*role, *message), (sender, kind), "{ctx}");
                        }
                        (
                            Expect::Invalid,
                            Err(PayError::InvalidTransition { state: s, message }),
                        ) => {
                            assert_eq!((*s, *message), (state, kind), "{ctx}");
                        }
                        (Expect::UnknownPayment, Err(PayError::UnknownPayment)) => {}
                        _ => panic!("{ctx}: expected {want:?}, got {got:?}"),
                    }
                    if !matches!(got, Ok(Applied::Accepted { .. })) {
                        assert_eq!(before, t.to_bytes().unwrap(), "{ctx}: state changed");
                    }
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 14 * 6 * 2 * 2);
}

#[test]
fn paid_only_through_the_verifier() {
    let mut p = Parties::new(1);
    let req = p.request("12.50 USD", false);
    let mut t = PaymentThread::open(Role::Payee, req.clone(), NOW).unwrap();
    let n = p.payment(&req, "12.50 USD");
    t.handle(Direction::Inbound, &n.clone().into(), NOW)
        .unwrap();
    assert_eq!(t.state(), ThreadState::PaymentPending);
    // A receipt or a repeated notice does not make it paid either.
    t.handle(Direction::Inbound, &n.clone().into(), NOW)
        .unwrap();
    assert_eq!(t.state(), ThreadState::PaymentPending);
    let mut script = Script::default();
    script.verdicts.insert(n.payment_id, Verification::Pending);
    assert_eq!(
        t.verify_settlements(&mut script, NOW).unwrap(),
        ThreadState::PaymentPending
    );
    script.verdicts.insert(n.payment_id, Verification::Failed);
    assert_eq!(
        t.verify_settlements(&mut script, NOW).unwrap(),
        ThreadState::Issued
    );
    // A failed payment is not asked about again.
    let calls = script.calls;
    t.verify_settlements(&mut script, NOW).unwrap();
    assert_eq!(script.calls, calls);
    let n2 = p.payment(&req, "12.50 USD");
    t.handle(Direction::Inbound, &n2.into(), NOW).unwrap();
    assert_eq!(settle_all(&mut t), ThreadState::Paid);
    assert_eq!(t.received().unwrap().to_string(), "12.50 USD");
}

#[test]
fn the_verified_amount_counts_not_the_claim() {
    let mut p = Parties::new(2);
    let req = p.request("12.50 USD", true);
    let mut t = PaymentThread::open(Role::Payee, req.clone(), NOW).unwrap();
    let n = p.payment(&req, "12.50 USD");
    t.handle(Direction::Inbound, &n.clone().into(), NOW)
        .unwrap();
    let mut script = Script::default();
    script.verdicts.insert(
        n.payment_id,
        Verification::Settled(Money::parse("10.00 USD").unwrap()),
    );
    assert_eq!(
        t.verify_settlements(&mut script, NOW).unwrap(),
        ThreadState::PartiallyPaid
    );
    assert_eq!(t.remaining().unwrap().to_string(), "2.50 USD");
}

#[test]
fn failed_payment_after_expiry_leaves_the_request_expired() {
    let mut p = Parties::new(3);
    let req = p.request("1.00 USD", false);
    let mut t = PaymentThread::open(Role::Payee, req.clone(), NOW).unwrap();
    let n = p.payment(&req, "1.00 USD");
    t.handle(Direction::Inbound, &n.clone().into(), NOW)
        .unwrap();
    let mut script = Script::default();
    script.verdicts.insert(n.payment_id, Verification::Failed);
    let state = t.verify_settlements(&mut script, NOW + 30 * DAY).unwrap();
    assert_eq!(state, ThreadState::Expired);
}

#[test]
fn a_notice_before_expiry_verified_after_it_is_on_time() {
    let mut p = Parties::new(4);
    let req = p.request("1.00 USD", false);
    let mut t = PaymentThread::open(Role::Payee, req.clone(), NOW).unwrap();
    t.handle(Direction::Inbound, &p.payment(&req, "1.00 USD").into(), NOW)
        .unwrap();
    let state = t
        .verify_settlements(&mut Script::default(), NOW + 30 * DAY)
        .unwrap();
    assert_eq!(state, ThreadState::Paid);
}

#[test]
fn same_payment_id_with_other_content_is_a_conflict() {
    let mut p = Parties::new(5);
    let req = p.request("1.00 USD", true);
    let mut t = PaymentThread::open(Role::Payee, req.clone(), NOW).unwrap();
    let n = p.payment(&req, "1.00 USD");
    t.handle(Direction::Inbound, &n.clone().into(), NOW)
        .unwrap();
    let mut forged = n.clone();
    forged.amount = Money::parse("100.00 USD").unwrap();
    let before = t.to_bytes().unwrap();
    assert_eq!(
        t.handle(Direction::Inbound, &forged.into(), NOW),
        Err(PayError::Conflict { what: "payment" })
    );
    assert_eq!(before, t.to_bytes().unwrap());
    assert_eq!(
        t.handle(Direction::Inbound, &n.into(), NOW),
        Ok(Applied::Duplicate)
    );
    assert_eq!(t.payments().len(), 1);
}

#[test]
fn same_request_id_with_other_bytes_is_a_conflict() {
    let mut p = Parties::new(6);
    let req = p.request("1.00 USD", false);
    let mut t = PaymentThread::open(Role::Payer, req.clone(), NOW).unwrap();
    let mut wire = remit_wire::payment::decode_payment_request(req.body()).unwrap();
    wire.memo = "pay double".into();
    let changed = sign_request_wire(&wire, &p.payee()).unwrap();
    assert_eq!(changed.request().request_id, req.request().request_id);
    assert_eq!(
        t.handle(Direction::Inbound, &changed.into(), NOW),
        Err(PayError::Conflict { what: "request" })
    );
    assert_eq!(
        t.handle(Direction::Inbound, &req.clone().into(), NOW),
        Ok(Applied::Duplicate)
    );
    let other = p.request("1.00 USD", false);
    assert_eq!(
        t.handle(Direction::Inbound, &other.into(), NOW),
        Err(PayError::UnknownRequest)
    );
}

#[test]
fn replies_must_carry_the_request_digest() {
    let mut p = Parties::new(8);
    let req = p.request("1.00 USD", false);
    let other = p.request("1.00 USD", false);
    let mut t = PaymentThread::open(Role::Payee, req.clone(), NOW).unwrap();
    // A notice for another request (replayed from another thread).
    let n = p.payment(&other, "1.00 USD");
    assert_eq!(
        t.handle(Direction::Inbound, &n.into(), NOW),
        Err(PayError::UnknownRequest)
    );
    // Same id, wrong digest.
    let mut d = decline(&req);
    d.request_digest = other.digest();
    assert_eq!(
        t.handle(Direction::Inbound, &d.into(), NOW),
        Err(PayError::UnknownRequest)
    );
    assert_eq!(t.state(), ThreadState::Issued);
}

#[test]
fn settlement_must_use_a_method_of_the_request() {
    let mut p = Parties::new(9);
    let req = p.request("1.00 USD", false);
    let mut t = PaymentThread::open(Role::Payee, req.clone(), NOW).unwrap();
    let mut n = p.payment(&req, "1.00 USD");
    n.method_index = 7;
    assert!(matches!(
        t.handle(Direction::Inbound, &n.clone().into(), NOW),
        Err(PayError::InvalidField {
            field: "method_index",
            ..
        })
    ));
    // Method 1 is on-chain on eip155:1: a provider settlement does not match it, nor another chain.
    n.method_index = 1;
    assert!(matches!(
        t.handle(Direction::Inbound, &n.clone().into(), NOW),
        Err(PayError::InvalidField {
            field: "settlement",
            ..
        })
    ));
    n.settlement = Settlement::OnChain {
        chain: "eip155:10".into(),
        txid: "0xabc".into(),
    };
    assert!(matches!(
        t.handle(Direction::Inbound, &n.clone().into(), NOW),
        Err(PayError::InvalidField {
            field: "settlement",
            ..
        })
    ));
    n.settlement = Settlement::OnChain {
        chain: "eip155:1".into(),
        txid: "0xabc".into(),
    };
    assert!(t.handle(Direction::Inbound, &n.into(), NOW).is_ok());
}

#[test]
fn expiry_is_enforced() {
    let mut p = Parties::new(10);
    let req = p.request("1.00 USD", false);
    assert_eq!(
        PaymentThread::open(Role::Payer, req.clone(), NOW + 7 * DAY + 1),
        Err(PayError::Expired)
    );
    assert_eq!(
        PaymentThread::open(Role::Payer, req.clone(), NOW - 301),
        Err(PayError::Expired)
    );
    let mut t = PaymentThread::open(Role::Payer, req.clone(), NOW - 300).unwrap();
    t.tick(NOW + 7 * DAY);
    assert_eq!(t.state(), ThreadState::Issued);
    t.tick(NOW + 7 * DAY + 1);
    assert_eq!(t.state(), ThreadState::Expired);
}

#[test]
fn refunds_are_bounded_by_what_was_received() {
    let mut p = Parties::new(11);
    let req = p.request("10.00 USD", false);
    let mut t = PaymentThread::open(Role::Payee, req.clone(), NOW).unwrap();
    let n = p.payment(&req, "10.00 USD");
    t.handle(Direction::Inbound, &n.clone().into(), NOW)
        .unwrap();
    settle_all(&mut t);
    let r1 = p.refund(&req, n.payment_id, Money::parse("6.00 USD").unwrap());
    t.handle(Direction::Outbound, &r1.into(), NOW).unwrap();
    let r2 = p.refund(&req, n.payment_id, Money::parse("4.01 USD").unwrap());
    assert!(matches!(
        t.handle(Direction::Outbound, &r2.into(), NOW),
        Err(PayError::InvalidField {
            field: "amount",
            ..
        })
    ));
    let stranger = p.id();
    let unknown = p.refund(&req, stranger, Money::parse("1.00 USD").unwrap());
    assert_eq!(
        t.handle(Direction::Outbound, &unknown.into(), NOW),
        Err(PayError::UnknownPayment)
    );
    assert_eq!(settle_all(&mut t), ThreadState::PartiallyRefunded);
    assert_eq!(t.refunded().unwrap().to_string(), "6.00 USD");
    let r3 = p.refund(&req, n.payment_id, Money::parse("4.00 USD").unwrap());
    t.handle(Direction::Outbound, &r3.into(), NOW).unwrap();
    assert_eq!(settle_all(&mut t), ThreadState::Refunded);
}

#[test]
fn receipt_figures_must_match_the_request() {
    let mut p = Parties::new(12);
    let req = p.request("10.00 USD", true);
    let mut t = PaymentThread::open(Role::Payer, req.clone(), NOW).unwrap();
    let n = p.payment(&req, "4.00 USD");
    t.handle(Direction::Outbound, &n.clone().into(), NOW)
        .unwrap();
    let good = p.receipt(
        &req,
        &[n.payment_id],
        ReceiptOutcome::Partial,
        &Money::parse("4.00 USD").unwrap(),
    );
    assert!(
        t.handle(Direction::Inbound, &good.clone().into(), NOW)
            .is_ok()
    );
    assert_eq!(
        t.handle(Direction::Inbound, &good.into(), NOW),
        Ok(Applied::Duplicate)
    );
    // The builder refuses a contradiction...
    let payee = LocalIdentity::new(&p.payee_account);
    let bad = SignedReceipt::sign(
        &payee,
        &req,
        &[n.payment_id],
        ReceiptOutcome::Settled,
        &Money::parse("4.00 USD").unwrap(),
        NOW,
        &mut p.rng,
    );
    assert!(matches!(
        bad,
        Err(PayError::InvalidField {
            field: "outcome",
            ..
        })
    ));
    // ...and so does the thread, for a receipt signed by hand.
    let wire = remit_wire::v1::Receipt {
        version: 1,
        receipt_id: vec![5; 16],
        request_id: req.request().request_id.to_vec(),
        request_digest: req.digest().0.to_vec(),
        payment_ids: vec![n.payment_id.to_vec()],
        outcome: remit_wire::v1::ReceiptOutcome::Partial.into(),
        received: Some(Money::parse("4.00 USD").unwrap().to_wire()),
        remaining: Some(Money::parse("5.00 USD").unwrap().to_wire()),
        issued_at: NOW,
    };
    let forged = sign_receipt_wire(&wire, &payee).unwrap();
    assert!(matches!(
        t.handle(Direction::Inbound, &forged.into(), NOW),
        Err(PayError::InvalidField {
            field: "remaining",
            ..
        })
    ));
}

#[test]
fn payments_per_thread_are_capped() {
    let mut p = Parties::new(13);
    let req = p.request("1000.00 USD", true);
    let mut t = PaymentThread::open(Role::Payee, req.clone(), NOW).unwrap();
    for _ in 0..limits::MAX_PAYMENTS {
        t.handle(Direction::Inbound, &p.payment(&req, "0.01 USD").into(), NOW)
            .unwrap();
    }
    let before = t.to_bytes().unwrap();
    assert_eq!(
        t.handle(Direction::Inbound, &p.payment(&req, "0.01 USD").into(), NOW),
        Err(PayError::LimitExceeded {
            what: "payments",
            max: limits::MAX_PAYMENTS
        })
    );
    assert_eq!(before, t.to_bytes().unwrap());
    settle_all(&mut t);
    assert_eq!(t.received().unwrap().to_string(), "0.64 USD");
}

#[test]
fn storage_round_trips_every_state() {
    for state in ThreadState::ALL {
        let (p, _, t) = thread_in(state);
        let bytes = t.to_bytes().unwrap();
        let back = PaymentThread::from_bytes(&bytes, &p.payee_public()).unwrap();
        assert_eq!(back, t, "{state:?}");
        assert_eq!(back.to_bytes().unwrap(), bytes);
    }
}

/// Fuzz finding (client_records): a stored decline reason holding a control character loaded,
/// normalised (the character stripped), so the loaded thread's record differed from the stored
/// one: two records for one state. Records must now be canonical.
#[test]
fn storage_rejects_records_not_in_canonical_form() {
    let (p, _, t) = thread_in(ThreadState::Declined);
    let bytes = t.to_bytes().unwrap();
    let at = bytes
        .windows(7)
        .position(|w| w == b"not now")
        .expect("the reason is stored");
    let mut control = bytes.clone();
    control[at + 3] = 0x1e; // "not\x1enow": same length, a control character
    assert!(matches!(
        PaymentThread::from_bytes(&control, &p.payee_public()),
        Err(PayError::InvalidField {
            field: "record",
            ..
        })
    ));
    // The untouched record still loads.
    assert_eq!(
        PaymentThread::from_bytes(&bytes, &p.payee_public()).unwrap(),
        t
    );
}

#[test]
fn storage_rejects_unknown_versions_and_tampering() {
    let (p, _, t) = thread_in(ThreadState::Paid);
    let bytes = t.to_bytes().unwrap();
    let payee = p.payee_public();
    let mut v3 = bytes.clone();
    v3[5] = 3;
    assert_eq!(
        PaymentThread::from_bytes(&v3, &payee),
        Err(PayError::UnknownStateVersion {
            got: 3,
            supported: 1
        })
    );
    let mut magic = bytes.clone();
    magic[0] = b'X';
    assert!(matches!(
        PaymentThread::from_bytes(&magic, &payee),
        Err(PayError::InvalidField { field: "magic", .. })
    ));
    for cut in [0, 5, 7, 100, bytes.len() - 1] {
        assert!(
            matches!(
                PaymentThread::from_bytes(&bytes[..cut], &payee),
                Err(PayError::Decode(_))
            ),
            "cut at {cut}"
        );
    }
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(matches!(
        PaymentThread::from_bytes(&trailing, &payee),
        Err(PayError::Decode(_))
    ));
    // The request signature is checked again on load: a different payee key fails.
    let other = Parties::new(99);
    assert_eq!(
        PaymentThread::from_bytes(&bytes, &other.payee_public()),
        Err(PayError::BadSignature)
    );
    // Flip a byte of the stored request body.
    let mut body = bytes.clone();
    body[12] ^= 1;
    assert!(PaymentThread::from_bytes(&body, &payee).is_err());
    // Unknown state byte.
    let state_at = 4 + 2 + 1 + 4 + t.request().body().len() + 64;
    let mut st = bytes.clone();
    st[state_at] = 200;
    assert!(matches!(
        PaymentThread::from_bytes(&st, &payee),
        Err(PayError::InvalidField { field: "state", .. })
    ));
}

#[test]
fn a_late_part_after_a_partial_payment_is_an_exception() {
    let mut p = Parties::new(20);
    let req = p.request("10.00 USD", true);
    let mut t = PaymentThread::open(Role::Payee, req.clone(), NOW).unwrap();
    t.handle(Direction::Inbound, &p.payment(&req, "4.00 USD").into(), NOW)
        .unwrap();
    assert_eq!(settle_all(&mut t), ThreadState::PartiallyPaid);
    let late = NOW + 8 * DAY;
    t.handle(
        Direction::Inbound,
        &p.payment(&req, "6.00 USD").into(),
        late,
    )
    .unwrap();
    assert_eq!(t.state(), ThreadState::PartiallyPaid);
    let state = t.verify_settlements(&mut Script::default(), late).unwrap();
    assert_eq!(state, ThreadState::Exception(ExceptionReason::Late));
    assert_eq!(t.received().unwrap().to_string(), "10.00 USD");
}

#[test]
fn a_second_payment_after_paid_is_overpaid() {
    let mut p = Parties::new(21);
    let req = p.request("10.00 USD", false);
    let mut t = PaymentThread::open(Role::Payee, req.clone(), NOW).unwrap();
    t.handle(
        Direction::Inbound,
        &p.payment(&req, "10.00 USD").into(),
        NOW,
    )
    .unwrap();
    assert_eq!(settle_all(&mut t), ThreadState::Paid);
    t.handle(
        Direction::Inbound,
        &p.payment(&req, "10.00 USD").into(),
        NOW,
    )
    .unwrap();
    assert_eq!(t.state(), ThreadState::Paid);
    assert_eq!(
        settle_all(&mut t),
        ThreadState::Exception(ExceptionReason::Overpaid)
    );
    assert_eq!(t.received().unwrap().to_string(), "20.00 USD");
}

#[test]
fn wrong_asset_money_is_not_counted_and_is_refunded_in_its_own_asset() {
    let (mut p, req, mut t) = thread_in(ThreadState::Exception(ExceptionReason::WrongAsset));
    assert!(t.received().unwrap().is_zero());
    let paid = t.payments()[0].notice.payment_id;
    let usd = p.refund(&req, paid, Money::parse("12.50 USD").unwrap());
    assert!(matches!(
        t.handle(Direction::Outbound, &usd.into(), NOW),
        Err(PayError::Money {
            field: "amount",
            ..
        })
    ));
    let eur = p.refund(&req, paid, Money::parse("12.50 EUR").unwrap());
    t.handle(Direction::Outbound, &eur.into(), NOW).unwrap();
    assert_eq!(settle_all(&mut t), ThreadState::Refunded);
}

#[test]
fn same_receipt_id_with_other_bytes_is_a_conflict() {
    let mut p = Parties::new(22);
    let req = p.request("10.00 USD", false);
    let mut t = PaymentThread::open(Role::Payer, req.clone(), NOW).unwrap();
    let n = p.payment(&req, "10.00 USD");
    t.handle(Direction::Outbound, &n.clone().into(), NOW)
        .unwrap();
    let wire = |issued_at| remit_wire::v1::Receipt {
        version: 1,
        receipt_id: vec![9; 16],
        request_id: req.request().request_id.to_vec(),
        request_digest: req.digest().0.to_vec(),
        payment_ids: vec![n.payment_id.to_vec()],
        outcome: remit_wire::v1::ReceiptOutcome::Settled.into(),
        received: Some(Money::parse("10.00 USD").unwrap().to_wire()),
        remaining: Some(Money::parse("0.00 USD").unwrap().to_wire()),
        issued_at,
    };
    let first = sign_receipt_wire(&wire(NOW), &p.payee()).unwrap();
    let second = sign_receipt_wire(&wire(NOW + 1), &p.payee()).unwrap();
    t.handle(Direction::Inbound, &first.into(), NOW).unwrap();
    let before = t.to_bytes().unwrap();
    assert_eq!(
        t.handle(Direction::Inbound, &second.into(), NOW),
        Err(PayError::Conflict { what: "receipt" })
    );
    assert_eq!(before, t.to_bytes().unwrap());
    // A receipt never moves the payer's accounting.
    assert_eq!(t.state(), ThreadState::PaymentPending);
}

#[test]
fn a_different_decline_or_cancel_is_a_conflict() {
    let (_, req, mut t) = thread_in(ThreadState::Declined);
    let other = Decline::new(&req, DeclineReason::Other, "changed my mind").unwrap();
    assert_eq!(
        t.handle(Direction::Inbound, &other.into(), NOW),
        Err(PayError::Conflict { what: "decline" })
    );
    let (_, req, mut t) = thread_in(ThreadState::Cancelled);
    let other = Cancel::new(&req, CancelReason::IssuedInError, "another reason").unwrap();
    assert_eq!(
        t.handle(Direction::Outbound, &other.into(), NOW),
        Err(PayError::Conflict { what: "cancel" })
    );
}

#[test]
fn decline_and_cancel_reason_codes_are_kept_compared_and_stored() {
    // Same text, other code: a different decline, so a conflict.
    let (p, req, mut t) = thread_in(ThreadState::Declined);
    let before = t.to_bytes().unwrap();
    let other = Decline::new(&req, DeclineReason::SuspectedFraud, "not now").unwrap();
    assert_eq!(
        t.handle(Direction::Inbound, &other.into(), NOW),
        Err(PayError::Conflict { what: "decline" })
    );
    assert_eq!(before, t.to_bytes().unwrap());
    // The code survives storage.
    let back = PaymentThread::from_bytes(&before, &p.payee_public()).unwrap();
    assert_eq!(back, t);
    let again = Decline::new(&req, DeclineReason::Other, "not now").unwrap();
    let mut back = back;
    assert_eq!(
        back.handle(Direction::Inbound, &again.into(), NOW),
        Ok(Applied::Duplicate)
    );

    let (p, req, mut t) = thread_in(ThreadState::Cancelled);
    let other = Cancel::new(&req, CancelReason::Replaced, "oops").unwrap();
    assert_eq!(
        t.handle(Direction::Outbound, &other.into(), NOW),
        Err(PayError::Conflict { what: "cancel" })
    );
    let bytes = t.to_bytes().unwrap();
    assert_eq!(
        PaymentThread::from_bytes(&bytes, &p.payee_public()).unwrap(),
        t
    );
}

/// Offset of the closure's reason-code byte in a stored thread (spec §8).
fn reason_code_offset(req: &SignedRequest) -> usize {
    4 + 2 + 1 + 4 + req.body().len() + 64 + 1 + 1
}

#[test]
fn stored_reason_code_must_be_known() {
    let (p, req, t) = thread_in(ThreadState::Declined);
    let mut bytes = t.to_bytes().unwrap();
    let at = reason_code_offset(&req);
    assert_eq!(bytes[at - 1], 1); // closure: decline
    assert_eq!(bytes[at], 1); // DECLINE_REASON_OTHER
    for bad in [0, 8, 0xff] {
        bytes[at] = bad;
        assert_eq!(
            PaymentThread::from_bytes(&bytes, &p.payee_public()),
            Err(PayError::InvalidField {
                field: "reason_code",
                reason: "unknown or unspecified",
            })
        );
    }
}
