//! remit-pay benchmarks: validate + apply + sign/verify one message. See benches/README.md.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::unreachable,
    missing_docs
)]

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use rand::{SeedableRng, rngs::ChaCha20Rng};
use remit_pay::{
    Direction, LocalIdentity, Money, Notice, PaymentMessage, PaymentMethod, PaymentThread,
    RequestDraft, Role, Settlement, open, seal,
};
use remit_session::Account;

const NOW: u64 = 1_767_225_600;

fn draft() -> RequestDraft {
    RequestDraft {
        amount: Money::parse("12.50 USD").unwrap(),
        methods: vec![PaymentMethod::Provider {
            provider: "examplepay".into(),
            account: "@alice".into(),
        }],
        memo: "Dinner on Friday".into(),
        reference: "order-17".into(),
        payee_name: "Alice".into(),
        created_at: NOW,
        expires_at: NOW + 86_400,
        allow_partial: false,
        invoice: None,
    }
}

fn bench(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let account = Account::new(&mut rng, NOW);
    let payee = LocalIdentity::new(&account);
    let mut g = c.benchmark_group("pay");

    g.bench_function("money parse+format", |b| {
        b.iter(|| {
            Money::parse(black_box("0.000000000000000001 ETH"))
                .unwrap()
                .to_string()
        });
    });

    g.bench_function("request sign (build+encode+sign+verify)", |b| {
        b.iter(|| draft().sign(&payee, &mut rng).unwrap());
    });

    let request = draft().sign(&payee, &mut rng).unwrap();
    let request_bytes = seal([1; 16], &request.clone().into()).unwrap();
    g.bench_function("request open (decode+verify+validate)", |b| {
        b.iter(|| open(black_box(&request_bytes), payee.public()).unwrap());
    });

    let notice = Notice::payment(
        &request,
        Money::parse("12.50 USD").unwrap(),
        0,
        Settlement::Provider {
            provider: "examplepay".into(),
            transfer_id: "tr_1".into(),
        },
        "thanks",
        &mut rng,
    )
    .unwrap();
    let notice_bytes = seal([2; 16], &PaymentMessage::Notice(notice)).unwrap();
    let thread = PaymentThread::open(Role::Payee, request.clone(), NOW).unwrap();
    g.bench_function("notice open+apply", |b| {
        b.iter_batched(
            || thread.clone(),
            |mut t| {
                let received = open(black_box(&notice_bytes), payee.public()).unwrap();
                let remit_pay::Incoming::Payment(m) = received.body else {
                    unreachable!()
                };
                t.handle(Direction::Inbound, &m, NOW).unwrap()
            },
            BatchSize::SmallInput,
        );
    });

    g.bench_function("request open+thread open", |b| {
        b.iter(|| {
            let received = open(black_box(&request_bytes), payee.public()).unwrap();
            let remit_pay::Incoming::Payment(PaymentMessage::Request(r)) = received.body else {
                unreachable!()
            };
            PaymentThread::open(Role::Payer, *r, NOW).unwrap()
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
