//! Property tests: whatever the delivery order and repetition of payment notices, and whenever
//! the app verifies, each payment id is counted once and the totals are exact.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::*;
use proptest::prelude::*;
use remit_pay::*;

#[derive(Clone, Debug)]
enum Step {
    Deliver(usize),
    Verify,
}

fn steps(n: usize) -> impl Strategy<Value = Vec<Step>> {
    // Every notice at least once, plus up to 2n extra deliveries and a few verifications,
    // shuffled.
    let extra = prop::collection::vec(0..n, 0..=2 * n);
    let verifies = 0usize..4;
    (extra, verifies)
        .prop_map(move |(extra, verifies)| {
            let mut v: Vec<Step> = (0..n).map(Step::Deliver).collect();
            v.extend(extra.into_iter().map(Step::Deliver));
            v.extend((0..verifies).map(|_| Step::Verify));
            v
        })
        .prop_shuffle()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn payments_are_counted_once_in_any_order(
        amounts in prop::collection::vec(1u64..=5_000_000, 1..6),
        seed in any::<u64>(),
        order in (1usize..6).prop_flat_map(steps),
        total_cents in 1u64..=20_000_000,
    ) {
        let n = amounts.len();
        let mut p = Parties::new(seed);
        let amount = Money::new(Asset::parse("USD").unwrap(), u128::from(total_cents), 2).unwrap();
        let req = p.request(&format!("{} USD", amount.amount_string()), true);
        let notices: Vec<Notice> = amounts
            .iter()
            .map(|a| {
                let m = Money::new(Asset::parse("USD").unwrap(), u128::from(*a), 2).unwrap();
                p.payment(&req, &m.to_string())
            })
            .collect();
        let mut t = PaymentThread::open(Role::Payee, req.clone(), NOW).unwrap();
        for step in &order {
            match step {
                Step::Deliver(i) => {
                    let Some(notice) = notices.get(*i) else { continue };
                    let before = t.clone();
                    match t.handle(Direction::Inbound, &notice.clone().into(), NOW) {
                        Ok(Applied::Duplicate) => prop_assert_eq!(&before, &t),
                        Ok(Applied::Accepted { .. }) => {}
                        Ok(other) => {
                            return Err(TestCaseError::fail(format!("unexpected {other:?}")));
                        }
                        Err(e) => {
                            prop_assert_eq!(&before, &t);
                            return Err(TestCaseError::fail(format!("{e:?}")));
                        }
                    }
                }
                Step::Verify => {
                    t.verify_settlements(&mut Script::default(), NOW).unwrap();
                }
            }
        }
        // Deliver anything the random order missed, then verify everything.
        for notice in &notices {
            let _ = t.handle(Direction::Inbound, &notice.clone().into(), NOW).unwrap();
        }
        let state = settle_all(&mut t);
        let sum: u128 = amounts.iter().map(|a| u128::from(*a)).sum();
        prop_assert_eq!(t.payments().len(), n);
        prop_assert_eq!(t.received().unwrap().minor(), sum);
        prop_assert_eq!(
            t.remaining().unwrap().minor(),
            u128::from(total_cents).saturating_sub(sum)
        );
        let want = match sum.cmp(&u128::from(total_cents)) {
            core::cmp::Ordering::Less => ThreadState::PartiallyPaid,
            core::cmp::Ordering::Equal => ThreadState::Paid,
            core::cmp::Ordering::Greater => ThreadState::Exception(ExceptionReason::Overpaid),
        };
        // Once over, the thread stays in the exception even if later parts arrive.
        if want != ThreadState::Exception(ExceptionReason::Overpaid) {
            prop_assert_eq!(state, want);
        } else {
            prop_assert!(matches!(state, ThreadState::Exception(ExceptionReason::Overpaid)));
        }
        // Storage preserves all of it.
        let back = PaymentThread::from_bytes(&t.to_bytes().unwrap(), &p.payee_public()).unwrap();
        prop_assert_eq!(back.received().unwrap().minor(), sum);
    }

    #[test]
    fn money_formats_and_parses_back(minor in any::<u128>(), scale in 0u8..=38) {
        let asset = Asset::parse("XTS").unwrap();
        let m = Money::new(asset.clone(), minor, scale).unwrap();
        let text = m.amount_string();
        prop_assert_eq!(Money::parse_amount(&text, asset, scale).unwrap(), m);
    }

    #[test]
    fn money_parser_never_panics(s in "\\PC{0,50}") {
        let _ = Money::parse(&s);
        let _ = Money::parse_amount(&s, Asset::parse("USD").unwrap(), 2);
        let _ = Decimal::parse(&s, 6);
    }

    #[test]
    fn open_never_panics_on_garbage(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let p = Parties::new(1);
        let _ = open(&bytes, &p.payee_public());
        let _ = PaymentThread::from_bytes(&bytes, &p.payee_public());
    }
}
