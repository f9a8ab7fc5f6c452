//! `pay_thread`: the `PaymentThread` state machine under an arbitrary sequence of validly built
//! messages from both roles (signed requests and receipts, payment and refund notices,
//! declines, cancels; some aimed at another request, sent in the wrong direction, replayed or
//! conflicting), clock ticks, save/load, and settlement checks by a verifier whose verdicts come
//! from the input.
//!
//! Invariants:
//! - a payment id is never counted twice: ids in the thread are distinct, a second notice with
//!   a known id is a `Duplicate` (same content) or a `Conflict`, and the verifier is never asked
//!   again about a notice it settled or failed;
//! - money is counted only by the verifier: `handle` only moves a thread to `PaymentPending`,
//!   `Declined`, `Cancelled` (or `Expired` by the clock), never to a paid, refunded or exception
//!   state;
//! - totals are exact: `received()` is the sum of the amounts the verifier settled for payment
//!   notices (in the request's unit), `refunded()` likewise for refunds; `Paid` means received
//!   equals the amount, `PartiallyPaid` means less;
//! - a refused message or a failed verification leaves the thread equal and `to_bytes()`
//!   unchanged; a `Duplicate` changes nothing but the clock's expiry;
//! - every accepted message, applied again, is a `Duplicate`;
//! - a message in the wrong direction is refused with `WrongRole`;
//! - save/load: `from_bytes(to_bytes())` is the same thread, and it is used from then on.
//!
//! Speed (about 2.7× the first version, same invariants): the input ends where its bytes end
//! (`arbitrary` would pad it with zero-byte operations up to `MAX_OPS`); signed requests and
//! receipts are cached by everything they are made of, their ids drawn from rngs seeded by
//! their index, so a cached one is exactly what signing again would return (only the Ed25519
//! signing and the self-check are saved); at most `MAX_SAVE_LOADS` reloads per input (each
//! verifies every signature in the thread); a refused message's `to_bytes()` is compared
//! against the clone taken before, so no thread is serialised for accepted messages.

use std::{
    collections::{HashMap, HashSet},
    sync::{Mutex, OnceLock, PoisonError},
};

use arbitrary::{Arbitrary, Unstructured};
use rand::{SeedableRng, rngs::ChaCha20Rng};
use remit_pay::{
    Applied, Cancel, CancelReason, Decline, DeclineReason, Direction, DocumentDigest, Id, Money,
    Notice, NoticeKind, PayError, PaymentMessage, PaymentMethod, PaymentRequest, PaymentThread,
    ReceiptOutcome, RequestDraft, Role, Settlement, SettlementVerifier, SignedReceipt,
    SignedRequest, ThreadState, Verification,
};

use crate::fixtures::{NOW, payee_local, payee_peer};

const MAX_OPS: usize = 40;

/// With `PAY_THREAD_RECORDS=DIR`, every saved thread record is also written to `DIR` (named by
/// a hash of its bytes): seeds for `client_records`, which decodes such records from
/// arbitrary bytes. Read once; unset, this costs one check per save.
fn dump_record(bytes: &[u8]) {
    use std::hash::{DefaultHasher, Hash as _, Hasher as _};
    static DIR: OnceLock<Option<std::path::PathBuf>> = OnceLock::new();
    if let Some(dir) = DIR.get_or_init(|| std::env::var_os("PAY_THREAD_RECORDS").map(Into::into)) {
        let mut h = DefaultHasher::new();
        bytes.hash(&mut h);
        let _ = std::fs::write(dir.join(format!("{:016x}", h.finish())), bytes);
    }
}

/// Save/load operations carried out per input; later ones are skipped. Each reload verifies
/// every signature in the thread (the request's and each receipt's), and a further reload of
/// the same input checks nothing the first ones did not.
const MAX_SAVE_LOADS: usize = 3;

/// What a request draft is made of: asset, minor amount, allow_partial, lifetime, methods.
type DraftKey = (u8, u32, bool, u8, Vec<u8>);

/// The `k`-th signed request for a draft (`k` = 0 is the thread's own, `k` ≥ 1 the fresh
/// ones of `Op::Request`), signed with request ids from `ChaCha20Rng::seed_from_u64(k)`.
/// Signing is deterministic given the draft and the rng, so a cached request is exactly the
/// one signing again would make; the cache only saves the Ed25519 signing and verification.
fn signed_request(draft: &RequestDraft, key: &DraftKey, k: u64) -> SignedRequest {
    static CACHE: OnceLock<Mutex<HashMap<(DraftKey, u64), SignedRequest>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(r) = cache.get(&(key.clone(), k)) {
        return r.clone();
    }
    let request = draft
        .sign(&payee_local(), &mut ChaCha20Rng::seed_from_u64(k))
        .expect("a valid draft signs");
    if cache.len() >= 1 << 14 {
        cache.clear();
    }
    cache.insert((key.clone(), k), request.clone());
    request
}

#[derive(Debug, Arbitrary)]
struct Input {
    local_is_payee: bool,
    asset: u8,
    amount: u32,
    allow_partial: bool,
    lifetime_hours: u8,
    methods: [u8; 3],
    method_count: u8,
}

#[derive(Debug, Arbitrary)]
enum AmountSel {
    Full,
    Half,
    Minor(u32),
    OtherAsset(u32),
}

#[derive(Debug, Arbitrary)]
enum Target {
    ThisRequest,
    OtherId,
    OtherDigest,
}

#[derive(Debug, Arbitrary)]
enum Verdict {
    Pending,
    Failed,
    SettledAsClaimed,
    Settled(u32),
    SettledOtherAsset(u32),
}

#[derive(Debug, Arbitrary)]
enum Op {
    Payment {
        amount: AmountSel,
        method: u8,
        rail: u8,
        target: Target,
        reuse: Option<u8>,
        flip: bool,
    },
    Refund {
        of: u8,
        amount: AmountSel,
        rail: u8,
        flip: bool,
    },
    Receipt {
        payments: Vec<u8>,
        outcome: u8,
        received: AmountSel,
        flip: bool,
    },
    Decline {
        reason: u16,
        target: Target,
        flip: bool,
    },
    Cancel {
        reason: u16,
        target: Target,
        flip: bool,
    },
    Request {
        fresh: bool,
        flip: bool,
    },
    Replay(u8),
    Verify(Vec<Verdict>),
    Tick(u16),
    SaveLoad,
}

const ASSETS: [&str; 3] = ["USD", "JPY", "ETH"];

fn method(sel: u8) -> PaymentMethod {
    match sel % 4 {
        0 => PaymentMethod::Provider {
            provider: "examplepay".into(),
            account: "@alice".into(),
        },
        1 => PaymentMethod::Lightning("lnbc1fuzz".into()),
        2 => PaymentMethod::OnChain {
            chain: "eip155:1".into(),
            address: "0xabc".into(),
        },
        _ => PaymentMethod::Bank {
            holder: "Alice".into(),
            account: "DE89370400440532013000".into(),
            routing: String::new(),
        },
    }
}

fn settlement(sel: u8, n: usize) -> Settlement {
    match sel % 5 {
        0 => Settlement::Provider {
            provider: "examplepay".into(),
            transfer_id: format!("tr_{n}"),
        },
        1 => Settlement::Lightning {
            payment_hash: [u8::try_from(n % 256).unwrap_or(0); 32],
            preimage: None,
        },
        2 => Settlement::OnChain {
            chain: "eip155:1".into(),
            txid: format!("0x{n:x}"),
        },
        3 => Settlement::Bank {
            end_to_end_id: format!("e2e{n}"),
        },
        _ => Settlement::Provider {
            provider: "otherpay".into(),
            transfer_id: format!("tr_{n}"),
        },
    }
}

fn id_from(n: usize, tag: u8) -> Id {
    let mut id = [tag; 16];
    id[..8].copy_from_slice(&(n as u64).to_be_bytes());
    id
}

/// The verifier: verdicts from the input, every call logged.
struct Scripted<'a> {
    verdicts: &'a [Verdict],
    next: usize,
    calls: Vec<(Id, NoticeKind, Verification)>,
}

impl SettlementVerifier for Scripted<'_> {
    fn verify(&mut self, request: &PaymentRequest, notice: &Notice) -> Verification {
        let verdict = self.verdicts.get(self.next).unwrap_or(&Verdict::Pending);
        self.next += 1;
        let unit = &request.amount;
        let v = match verdict {
            Verdict::Pending => Verification::Pending,
            Verdict::Failed => Verification::Failed,
            Verdict::SettledAsClaimed => Verification::Settled(notice.amount.clone()),
            Verdict::Settled(m) => Verification::Settled(with_minor(unit, u128::from(*m).max(1))),
            Verdict::SettledOtherAsset(m) => {
                Verification::Settled(other_asset(u128::from(*m).max(1)))
            }
        };
        self.calls.push((notice.payment_id, notice.kind, v.clone()));
        v
    }
}

fn with_minor(unit: &Money, minor: u128) -> Money {
    Money::new(unit.asset().clone(), minor, unit.scale()).expect("same unit")
}

fn other_asset(minor: u128) -> Money {
    Money::parse("1 EUR")
        .map(|m| with_minor(&m, minor))
        .expect("EUR parses")
}

fn amount(sel: &AmountSel, unit: &Money) -> Money {
    match sel {
        AmountSel::Full => unit.clone(),
        AmountSel::Half => with_minor(unit, unit.minor().div_ceil(2)),
        AmountSel::Minor(m) => with_minor(unit, u128::from(*m).max(1)),
        AmountSel::OtherAsset(m) => other_asset(u128::from(*m).max(1)),
    }
}

/// Id and digest a reply refers to.
fn reference(target: &Target, request: &SignedRequest) -> (Id, DocumentDigest) {
    let (id, digest) = (request.request().request_id, request.digest());
    match target {
        Target::ThisRequest => (id, digest),
        Target::OtherId => ([0xEE; 16], digest),
        Target::OtherDigest => (id, DocumentDigest([0xDD; 32])),
    }
}

fn reason(len: u16) -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    let text = TEXT.get_or_init(|| "no thanks ".chars().cycle().take(600).collect());
    &text[..usize::from(len % 600)]
}

/// What a receipt is made of: request digest, payment ids, outcome, amount received, time and
/// the operation's index (the seed of its receipt-id rng).
type ReceiptKey = ([u8; 32], Vec<Id>, u8, String, u64, usize);

/// A receipt signed by the payee with receipt ids from `ChaCha20Rng::seed_from_u64(step)`;
/// like [`signed_request`], cached, since signing is deterministic given its inputs.
fn signed_receipt(
    request: &SignedRequest,
    ids: &[Id],
    outcome: ReceiptOutcome,
    outcome_byte: u8,
    received: &Money,
    now: u64,
    step: usize,
) -> Result<SignedReceipt, PayError> {
    type Cache = HashMap<ReceiptKey, Result<SignedReceipt, PayError>>;
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    let key: ReceiptKey = (
        request.digest().0,
        ids.to_vec(),
        outcome_byte,
        received.to_string(),
        now,
        step,
    );
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(r) = cache.get(&key) {
        return r.clone();
    }
    let receipt = SignedReceipt::sign(
        &payee_local(),
        request,
        ids,
        outcome,
        received,
        now,
        &mut ChaCha20Rng::seed_from_u64(step as u64),
    );
    if cache.len() >= 1 << 14 {
        cache.clear();
    }
    cache.insert(key, receipt.clone());
    receipt
}

struct Model {
    thread: PaymentThread,
    request: SignedRequest,
    now: u64,
    /// Payment notices the thread accepted, in order.
    payments: Vec<Notice>,
    /// Every message the thread accepted, with its direction.
    accepted: Vec<(Direction, PaymentMessage)>,
    /// Final verdicts: payment id → (kind, settled amount or None for failed).
    finals: HashMap<Id, (NoticeKind, Option<Money>)>,
}

impl Model {
    fn direction(&self, sender: Role, flip: bool) -> Direction {
        let ours = sender == self.thread.local_role();
        match (ours, flip) {
            (true, false) | (false, true) => Direction::Outbound,
            _ => Direction::Inbound,
        }
    }

    /// Applies a message and checks the outcome against the thread before.
    fn apply(&mut self, sender: Role, flip: bool, message: PaymentMessage) {
        let direction = self.direction(sender, flip);
        let before = self.thread.clone();
        let result = self.thread.handle(direction, &message, self.now);
        if flip {
            assert!(
                matches!(result, Err(PayError::WrongRole { .. })),
                "wrong direction accepted: {result:?}"
            );
        }
        match result {
            Err(_) => {
                assert_eq!(self.thread, before, "a refused message changed the thread");
                // `before` is the thread as it was, so its bytes are the bytes before.
                assert_eq!(
                    self.thread.to_bytes().expect("to_bytes"),
                    before.to_bytes().expect("to_bytes")
                );
            }
            Ok(Applied::Duplicate) => {
                let mut expected = before;
                expected.tick(self.now);
                assert_eq!(self.thread, expected, "a duplicate changed the thread");
            }
            Ok(Applied::Accepted { from, to }) => {
                assert_eq!(to, self.thread.state());
                let mut ticked = before.clone();
                ticked.tick(self.now);
                assert_eq!(from, ticked.state());
                if to != from {
                    assert!(
                        matches!(
                            to,
                            ThreadState::PaymentPending
                                | ThreadState::Declined
                                | ThreadState::Cancelled
                        ),
                        "handle moved {from:?} → {to:?} without the verifier"
                    );
                }
                if let PaymentMessage::Notice(n) = &message
                    && n.kind == NoticeKind::Payment
                {
                    self.payments.push(n.clone());
                }
                self.accepted.push((direction, message));
            }
            Ok(other) => panic!("an outcome the model does not know: {other:?}"),
        }
    }

    fn verify(&mut self, verdicts: &[Verdict]) {
        let before = self.thread.clone();
        let mut verifier = Scripted {
            verdicts,
            next: 0,
            calls: Vec::new(),
        };
        let result = self.thread.verify_settlements(&mut verifier, self.now);
        let mut seen = HashSet::new();
        for (id, _, _) in &verifier.calls {
            assert!(
                seen.insert(*id),
                "verifier asked twice about one notice in one pass"
            );
            assert!(
                !self.finals.contains_key(id),
                "verifier asked again about a notice already settled or failed"
            );
        }
        match result {
            Err(_) => assert_eq!(
                self.thread, before,
                "a failed verification changed the thread"
            ),
            Ok(state) => {
                assert_eq!(state, self.thread.state());
                for (id, kind, v) in verifier.calls {
                    match v {
                        Verification::Pending => {}
                        Verification::Failed => {
                            self.finals.insert(id, (kind, None));
                        }
                        Verification::Settled(m) => {
                            self.finals.insert(id, (kind, Some(m)));
                        }
                        other => panic!("a verdict the model does not know: {other:?}"),
                    }
                }
            }
        }
    }

    fn check(&self) {
        let t = &self.thread;
        let unit = &t.request().request().amount;
        // Payment ids are distinct.
        let mut ids = HashSet::new();
        for p in t.payments() {
            assert!(
                ids.insert(p.notice.payment_id),
                "a payment id recorded twice"
            );
        }
        // Totals are exactly the verifier's settled amounts, each id once.
        let sum = |kind| {
            self.finals
                .values()
                .filter(|(k, _)| *k == kind)
                .filter_map(|(_, m)| m.as_ref())
                .filter(|m| m.same_unit(unit))
                .fold(0u128, |acc, m| acc + m.minor())
        };
        let received = t.received().expect("received").minor();
        assert_eq!(
            received,
            sum(NoticeKind::Payment),
            "received ≠ Σ verified payments"
        );
        assert_eq!(
            t.refunded().expect("refunded").minor(),
            sum(NoticeKind::Refund)
        );
        let settled_any = self
            .finals
            .values()
            .any(|(k, m)| *k == NoticeKind::Payment && m.is_some());
        match t.state() {
            ThreadState::Paid => {
                assert!(settled_any, "Paid without a verified settlement");
                assert_eq!(received, unit.minor(), "Paid but received ≠ amount");
            }
            ThreadState::PartiallyPaid => {
                assert!(settled_any, "PartiallyPaid without a verified settlement");
                assert!(
                    received < unit.minor(),
                    "PartiallyPaid but received ≥ amount"
                );
            }
            ThreadState::Exception(_) | ThreadState::PartiallyRefunded | ThreadState::Refunded => {
                assert!(settled_any, "{:?} without a verified settlement", t.state());
            }
            _ => {}
        }
    }
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(input) = Input::arbitrary(&mut u) else {
        return;
    };
    let mut rng = ChaCha20Rng::seed_from_u64(0x7061_7974);
    let asset_index = usize::from(input.asset) % ASSETS.len();
    let asset = ASSETS[asset_index];
    let unit = Money::parse(&format!("1 {asset}")).expect("asset parses");
    let minor = (input.amount % 1_000_000).max(1);
    let requested = with_minor(&unit, u128::from(minor));
    let count = usize::from(input.method_count % 3) + 1;
    let key: DraftKey = (
        asset_index as u8,
        minor,
        input.allow_partial,
        input.lifetime_hours,
        input.methods[..count].iter().map(|m| m % 4).collect(),
    );
    let draft = RequestDraft {
        amount: requested,
        methods: input.methods[..count].iter().map(|m| method(*m)).collect(),
        memo: "fuzz".into(),
        reference: String::new(),
        payee_name: "Alice".into(),
        created_at: NOW,
        expires_at: NOW + 3600 * (u64::from(input.lifetime_hours) + 1),
        allow_partial: input.allow_partial,
        invoice: None,
    };
    let request = signed_request(&draft, &key, 0);
    let mut fresh_requests = 0;
    let mut save_loads = 0;
    let role = if input.local_is_payee {
        Role::Payee
    } else {
        Role::Payer
    };
    let thread = PaymentThread::open(role, request.clone(), NOW).expect("opens");
    let mut m = Model {
        thread,
        request,
        now: NOW,
        payments: Vec::new(),
        accepted: Vec::new(),
        finals: HashMap::new(),
    };
    m.check();

    for step in 0..MAX_OPS {
        // `arbitrary` pads an exhausted input with zeros, which would decode as the same
        // first-variant operation until MAX_OPS: stop where the input ends instead.
        if u.is_empty() {
            break;
        }
        let Ok(op) = Op::arbitrary(&mut u) else {
            break;
        };
        let req = m.request.clone();
        match op {
            Op::Payment {
                amount: a,
                method,
                rail,
                target,
                reuse,
                flip,
            } => {
                let (request_id, request_digest) = reference(&target, &req);
                let payment_id = match reuse {
                    Some(i) if !m.payments.is_empty() => {
                        m.payments[usize::from(i) % m.payments.len()].payment_id
                    }
                    _ => id_from(step, 0xA0),
                };
                let n = Notice {
                    payment_id,
                    kind: NoticeKind::Payment,
                    request_id,
                    request_digest,
                    amount: amount(&a, &req.request().amount),
                    method_index: u32::from(method % 4),
                    settlement: settlement(rail, step),
                    note: String::new(),
                    refund_of: None,
                };
                let Ok(n) = Notice::from_wire(&n.to_wire()) else {
                    continue;
                };
                let known = m
                    .payments
                    .iter()
                    .find(|p| p.payment_id == n.payment_id)
                    .cloned();
                let before = m.thread.clone();
                m.apply(Role::Payer, flip, n.clone().into());
                if let Some(old) = known
                    && !flip
                {
                    // A known id: never recorded again.
                    assert_eq!(m.thread.payments().len(), before.payments().len());
                    if old != n {
                        assert_eq!(m.thread, before, "a conflicting notice was applied");
                    }
                }
            }
            Op::Refund {
                of,
                amount: a,
                rail,
                flip,
            } => {
                let target = if m.payments.is_empty() {
                    id_from(step, 0xB0)
                } else {
                    m.payments[usize::from(of) % m.payments.len()].payment_id
                };
                let Ok(n) = Notice::refund(
                    &req,
                    target,
                    amount(&a, &req.request().amount),
                    settlement(rail, step),
                    "refund",
                    &mut rng,
                ) else {
                    continue;
                };
                m.apply(Role::Payee, flip, n.into());
            }
            Op::Receipt {
                payments,
                outcome,
                received,
                flip,
            } => {
                let mut ids: Vec<Id> = Vec::new();
                for p in payments.iter().take(4) {
                    let id = if m.payments.is_empty() || *p == 0xFF {
                        id_from(step, 0xC0)
                    } else {
                        m.payments[usize::from(*p) % m.payments.len()].payment_id
                    };
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
                let outcome_byte = outcome % 5;
                let outcome = match outcome_byte {
                    0 => ReceiptOutcome::Settled,
                    1 => ReceiptOutcome::Pending,
                    2 => ReceiptOutcome::Partial,
                    3 => ReceiptOutcome::Overpaid,
                    _ => ReceiptOutcome::Late,
                };
                let received = amount(&received, &req.request().amount);
                let Ok(r) =
                    signed_receipt(&req, &ids, outcome, outcome_byte, &received, m.now, step)
                else {
                    continue;
                };
                m.apply(Role::Payee, flip, r.into());
            }
            Op::Decline {
                reason: len,
                target,
                flip,
            } => {
                let Ok(mut d) = Decline::new(
                    &req,
                    DeclineReason::ALL[usize::from(len) % DeclineReason::ALL.len()],
                    reason(len),
                ) else {
                    continue;
                };
                (d.request_id, d.request_digest) = reference(&target, &req);
                m.apply(Role::Payer, flip, d.into());
            }
            Op::Cancel {
                reason: len,
                target,
                flip,
            } => {
                let Ok(mut c) = Cancel::new(
                    &req,
                    CancelReason::ALL[usize::from(len) % CancelReason::ALL.len()],
                    reason(len),
                ) else {
                    continue;
                };
                (c.request_id, c.request_digest) = reference(&target, &req);
                m.apply(Role::Payee, flip, c.into());
            }
            Op::Request { fresh, flip } => {
                let r = if fresh {
                    fresh_requests += 1;
                    signed_request(&draft, &key, fresh_requests)
                } else {
                    req.clone()
                };
                let before = m.thread.clone();
                m.apply(Role::Payee, flip, r.into());
                if fresh {
                    assert_eq!(m.thread, before, "a second request was applied");
                }
            }
            Op::Replay(i) => {
                if m.accepted.is_empty() {
                    continue;
                }
                let (direction, message) = m.accepted[usize::from(i) % m.accepted.len()].clone();
                let mut expected = m.thread.clone();
                expected.tick(m.now);
                let result = m.thread.handle(direction, &message, m.now);
                assert_eq!(
                    result,
                    Ok(Applied::Duplicate),
                    "a replay was not a duplicate"
                );
                assert_eq!(m.thread, expected);
            }
            Op::Verify(verdicts) => m.verify(&verdicts),
            Op::Tick(minutes) => {
                m.now += 60 * u64::from(minutes);
                let before = m.thread.state();
                m.thread.tick(m.now);
                let after = m.thread.state();
                assert!(
                    before == after
                        || (before == ThreadState::Issued && after == ThreadState::Expired)
                );
            }
            Op::SaveLoad => {
                if save_loads == MAX_SAVE_LOADS {
                    continue;
                }
                save_loads += 1;
                let bytes = m.thread.to_bytes().expect("to_bytes");
                dump_record(&bytes);
                let loaded = PaymentThread::from_bytes(&bytes, payee_peer())
                    .unwrap_or_else(|e| panic!("a saved thread does not load: {e:?}"));
                assert_eq!(loaded, m.thread, "save/load changed the thread");
                assert_eq!(loaded.to_bytes().expect("to_bytes"), bytes);
                m.thread = loaded;
            }
        }
        m.check();
    }
}
