//! The end-to-end round trip through a local relay: Alice requests, Bob pays and
//! notifies, Alice verifies the settlement and sends a receipt, Bob receives it. Two
//! `transport::Client`s on SQLite profiles and an in-process relay on 127.0.0.1, each with its
//! data in a temporary directory; sessions are established and warm before timing. See
//! benches/README.md, "Client round trip", for the command and the figure.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, missing_docs)]

use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use remit_client::{
    Batch, Engine, Event, Snapshot, SqliteStore, Store, StoreError, Verdict,
    transport::{Client, ClientEvent, TransportConfig, os_rng},
};
use remit_pay::{
    Id, MessageKind, Money, Notice, PaymentMethod, PaymentRequest, RequestDraft, Settlement,
    SettlementVerifier, ThreadState, Verification,
};
use remit_relay::{Relay, RelayConfig, limits::Rate};

const WAIT: Duration = Duration::from_secs(10);

/// Commits of one store, and the time spent in them.
#[derive(Default)]
struct Tally {
    commits: AtomicU64,
    nanos: AtomicU64,
}

impl Tally {
    fn read(&self) -> (u64, Duration) {
        (
            self.commits.load(Ordering::Relaxed),
            Duration::from_nanos(self.nanos.load(Ordering::Relaxed)),
        )
    }
}

/// The SQLite store, counting its commits (each one durable: WAL, `synchronous=FULL`).
struct Counted {
    inner: SqliteStore,
    tally: Arc<Tally>,
}

impl Store for Counted {
    fn load(&self) -> Result<Option<Snapshot>, StoreError> {
        self.inner.load()
    }
    fn commit(&mut self, batch: &Batch) -> Result<(), StoreError> {
        let start = Instant::now();
        let result = self.inner.commit(batch);
        let nanos = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.tally.commits.fetch_add(1, Ordering::Relaxed);
        self.tally.nanos.fetch_add(nanos, Ordering::Relaxed);
        result
    }
    fn is_processed(&self, peer: &[u8; 32], message_id: &Id) -> Result<bool, StoreError> {
        self.inner.is_processed(peer, message_id)
    }
}

/// The payee's provider: every notice settles as claimed.
struct Confirm;

impl SettlementVerifier for Confirm {
    fn verify(&mut self, _request: &PaymentRequest, notice: &Notice) -> Verification {
        Verification::Settled(notice.amount.clone())
    }
}

/// Alice (payee) and Bob (payer) on fresh profiles, with warm sessions.
struct Pair {
    alice: Client<Counted>,
    bob: Client<Counted>,
    alice_tally: Arc<Tally>,
    bob_tally: Arc<Tally>,
    bob_addr: [u8; 32],
    amount: Money,
    transfers: u64,
    /// Time spent in Alice's settlement verification (`pending_settlements` walks every
    /// thread, `apply_verdicts` the concerned ones).
    verifying: Duration,
}

async fn client(dir: &Path, name: &str, config: TransportConfig) -> (Client<Counted>, Arc<Tally>) {
    let tally = Arc::new(Tally::default());
    let store = Counted {
        inner: SqliteStore::open(dir.join(format!("{name}.db"))).unwrap(),
        tally: Arc::clone(&tally),
    };
    let engine = Engine::open_or_create(store, now(), &mut os_rng()).unwrap();
    (Client::connect(engine, config).await.unwrap(), tally)
}

async fn start_relay(dir: &Path) -> Relay {
    let mut config = RelayConfig::new("127.0.0.1:0".parse().unwrap(), dir.join("relay"));
    // Measure the relay, not its per-identity abuse limit (200 requests/s by default).
    config.limits.identity_rate = Rate {
        burst: 1_000_000,
        per_second: 1_000_000,
    };
    Relay::start(config).await.unwrap()
}

/// Two new profiles in `dir`, connected to `relay`, after two untimed round trips.
async fn fresh_pair(relay: &Relay, dir: &Path) -> Pair {
    std::fs::create_dir_all(dir).unwrap();
    let config = TransportConfig::new(relay.local_addr(), relay.fingerprint());
    let (alice, alice_tally) = client(dir, "alice", config.clone()).await;
    let (bob, bob_tally) = client(dir, "bob", config).await;
    let bob_addr = bob.address();
    alice.ensure_session(&bob_addr, Some("bob")).await.unwrap();
    let mut pair = Pair {
        alice,
        bob,
        alice_tally,
        bob_tally,
        bob_addr,
        amount: Money::parse("12.50 USD").unwrap(),
        transfers: 0,
        verifying: Duration::ZERO,
    };
    // Warm: the first round trip carries the handshake (Bob's one-time prekey is used and
    // topped up), the second runs on ratchets in both directions.
    for _ in 0..2 {
        round_trip(&mut pair).await;
    }
    pair
}

/// One iteration: request → Bob receives → notice → Alice receives → Alice verifies →
/// receipt → Bob receives.
async fn round_trip(p: &mut Pair) {
    let now = p.alice.clock().now();
    let sent = p
        .alice
        .request_payment(&p.bob_addr, &draft(now))
        .await
        .unwrap();
    let id = sent.request_id;
    payment(&mut p.bob, MessageKind::Request, &id, ThreadState::Issued).await;

    p.transfers += 1;
    let settlement = Settlement::Provider {
        provider: "examplepay".into(),
        transfer_id: format!("tx-{}", p.transfers),
    };
    p.bob
        .notify_payment(&id, p.amount.clone(), 0, settlement, "")
        .await
        .unwrap();
    payment(
        &mut p.alice,
        MessageKind::Payment,
        &id,
        ThreadState::PaymentPending,
    )
    .await;

    let events = {
        let mut core = p.alice.lock().await;
        let start = Instant::now();
        let verdicts = Verdict::collect(&core.engine.pending_settlements(), &mut Confirm);
        let events = core.engine.apply_verdicts(&verdicts, now).unwrap();
        p.verifying += start.elapsed();
        events
    };
    assert!(
        events.iter().any(|e| matches!(e,
            Event::StateChanged { request_id, to: ThreadState::Paid, .. } if *request_id == id)),
        "not paid: {events:?}"
    );
    p.alice.send_receipt(&id).await.unwrap();
    next_payment(&mut p.bob, MessageKind::Receipt, &id).await;
}

async fn payment(c: &mut Client<Counted>, kind: MessageKind, id: &Id, want: ThreadState) {
    if let Event::Payment { state, .. } = next_payment(c, kind, id).await {
        assert_eq!(state, want, "{kind:?}");
    }
}

/// Reads events until the payment message `kind` for `id`; anything refused or dropped fails.
async fn next_payment(c: &mut Client<Counted>, kind: MessageKind, id: &Id) -> Event {
    loop {
        match tokio::time::timeout(WAIT, c.next_event()).await {
            Err(_) => panic!("no {kind:?} within {WAIT:?}"),
            Ok(None) => panic!("transport stopped"),
            Ok(Some(ClientEvent::Engine(
                e @ Event::Payment {
                    kind: k,
                    request_id,
                    ..
                },
            ))) if k == kind && request_id == *id => return e,
            Ok(Some(ClientEvent::Engine(
                e @ (Event::Refused { .. } | Event::PeerError { .. }),
            ))) => {
                panic!("{e:?}")
            }
            Ok(Some(e @ (ClientEvent::Dropped { .. } | ClientEvent::Warning(_)))) => {
                panic!("{e:?}")
            }
            Ok(Some(_)) => {}
        }
    }
}

fn draft(now: u64) -> RequestDraft {
    RequestDraft {
        amount: Money::parse("12.50 USD").unwrap(),
        methods: vec![PaymentMethod::Provider {
            provider: "examplepay".into(),
            account: "@alice".into(),
        }],
        memo: "lunch".into(),
        reference: String::new(),
        payee_name: "Alice".into(),
        created_at: now,
        expires_at: now + 86_400,
        allow_partial: false,
        invoice: None,
    }
}

/// The relay's group commits: count, operations, seconds (from its metrics).
fn relay_commits(relay: &Relay) -> [f64; 3] {
    let text = relay.metrics().render(None);
    let read = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0.0)
    };
    [
        read("remit_relay_store_commit_seconds_count"),
        read("remit_relay_store_commit_jobs_total"),
        read("remit_relay_store_commit_seconds_sum"),
    ]
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let relay = runtime.block_on(start_relay(dir.path()));
    let mut pair = runtime.block_on(fresh_pair(&relay, &dir.path().join("profiles")));
    census(&runtime, &relay, &mut pair, "fresh profiles");

    // One pair for the whole run, as an app keeps its profile: each round trip adds a paid
    // thread to Alice's profile, and `pending_settlements` walks every thread (the census at
    // the end shows the cost). The short run keeps that growth to a few hundred threads.
    let mut g = c.benchmark_group("client");
    g.sampling_mode(SamplingMode::Flat);
    g.bench_function("round trip via local relay", |b| {
        b.iter_custom(|iters| runtime.block_on(timed(&mut pair, iters)));
    });
    g.finish();
    census(&runtime, &relay, &mut pair, "after timing");

    // The same round trip once Alice's profile holds a history of a thousand paid threads.
    runtime.block_on(async {
        for _ in 0..1_000 {
            round_trip(&mut pair).await;
        }
    });
    census(&runtime, &relay, &mut pair, "after 1,000 more round trips");

    runtime.block_on(async {
        pair.close().await;
        relay.shutdown().await;
    });
}

impl Pair {
    async fn close(self) {
        self.alice.close().await;
        self.bob.close().await;
    }
}

/// Runs untimed round trips and prints what one costs: wall time, durable commits (count and
/// time) in each profile and on the relay, and Alice's settlement verification.
fn census(runtime: &tokio::runtime::Runtime, relay: &Relay, pair: &mut Pair, when: &str) {
    const CENSUS: u32 = 20;
    let (a0, b0, r0, v0) = (
        pair.alice_tally.read(),
        pair.bob_tally.read(),
        relay_commits(relay),
        pair.verifying,
    );
    let start = Instant::now();
    runtime.block_on(async {
        for _ in 0..CENSUS {
            round_trip(pair).await;
        }
    });
    let wall = start.elapsed() / CENSUS;
    let (a1, b1, r1) = (
        pair.alice_tally.read(),
        pair.bob_tally.read(),
        relay_commits(relay),
    );
    let threads = runtime.block_on(async { pair.alice.lock().await.engine.threads().len() });
    let n = f64::from(CENSUS);
    eprintln!(
        "{when} (alice holds {threads} threads), per round trip over {CENSUS} untimed: \
         {wall:.2?} wall; alice {} commits in {:.2?}, bob {} commits in {:.2?}, relay {} group \
         commits of {} operations in {:.2?}; alice's settlement verification {:.2?}",
        f64::from(u32::try_from(a1.0 - a0.0).unwrap()) / n,
        (a1.1 - a0.1) / CENSUS,
        f64::from(u32::try_from(b1.0 - b0.0).unwrap()) / n,
        (b1.1 - b0.1) / CENSUS,
        (r1[0] - r0[0]) / n,
        (r1[1] - r0[1]) / n,
        Duration::from_secs_f64((r1[2] - r0[2]) / n),
        (pair.verifying - v0) / CENSUS,
    );
}

async fn timed(pair: &mut Pair, iters: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        round_trip(pair).await;
    }
    start.elapsed()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
