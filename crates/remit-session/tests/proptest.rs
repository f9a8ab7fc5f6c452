//! Two parties exchanging messages over a hostile network: reordering, loss, duplication,
//! tampering and save/load at random points. Every outcome is exact.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::unreachable,
    clippy::cast_possible_truncation,
    missing_docs
)]

use proptest::prelude::*;
use rand::{Rng, SeedableRng, rngs::ChaCha20Rng};
use remit_session::{Account, DecryptError, HandshakeError, Session, VerifiedBundle};
use remit_wire::session::Envelope;

const NOW: u64 = 1_700_000_000;

#[derive(Clone, Copy, Debug)]
enum Op {
    /// `alice` sends a message of `len` bytes.
    Send { alice: bool, len: usize },
    /// Deliver the `pick`-th in-flight message to the other side of `from_alice`.
    Deliver { from_alice: bool, pick: usize },
    /// Lose an in-flight message for good.
    Drop { from_alice: bool, pick: usize },
    /// Deliver an already delivered message again.
    Duplicate { from_alice: bool, pick: usize },
    /// Deliver a tampered copy of an in-flight message (the original stays in flight).
    Tamper {
        from_alice: bool,
        pick: usize,
        field: u8,
        bit: u8,
    },
    /// Save and restore a party's session (and Bob's account).
    SaveLoad { alice: bool },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<bool>(), 0usize..1100).prop_map(|(alice, len)| Op::Send { alice, len }),
        4 => (any::<bool>(), any::<usize>())
            .prop_map(|(from_alice, pick)| Op::Deliver { from_alice, pick }),
        1 => (any::<bool>(), any::<usize>())
            .prop_map(|(from_alice, pick)| Op::Drop { from_alice, pick }),
        1 => (any::<bool>(), any::<usize>())
            .prop_map(|(from_alice, pick)| Op::Duplicate { from_alice, pick }),
        1 => (any::<bool>(), any::<usize>(), 0u8..5, any::<u8>())
            .prop_map(|(from_alice, pick, field, bit)| Op::Tamper { from_alice, pick, field, bit }),
        1 => any::<bool>().prop_map(|alice| Op::SaveLoad { alice }),
    ]
}

struct Sent {
    envelope: Envelope,
    plaintext: Vec<u8>,
}

/// The receiving side's view: which ratchet keys it stepped to, in order, so the test knows
/// whether a duplicate's chain is still remembered (current + MAX_PREVIOUS_CHAINS).
#[derive(Default)]
struct Steps(Vec<[u8; 32]>);

impl Steps {
    fn record(&mut self, key: [u8; 32]) {
        if !self.0.contains(&key) {
            self.0.push(key);
        }
    }
    fn remembered(&self, key: &[u8; 32]) -> bool {
        let window = remit_session::MAX_PREVIOUS_CHAINS + 1;
        self.0.iter().rev().take(window).any(|k| k == key)
    }
}

struct World {
    rng: ChaCha20Rng,
    alice: Session,
    bob: Option<Session>,
    bob_account: Account,
    in_flight: [Vec<Sent>; 2], // [from alice, from bob]
    delivered: [Vec<Sent>; 2],
    steps: [Steps; 2], // [steps seen by alice, by bob]
    next_id: u32,
}

fn plaintext(id: u32, len: usize) -> Vec<u8> {
    let tag = id.to_be_bytes();
    (0..len.max(4))
        .map(|i| tag[i % 4] ^ (i / 4) as u8)
        .collect()
}

impl World {
    fn new(seed: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let alice_account = Account::new(&mut rng, NOW);
        let mut bob_account = Account::new(&mut rng, NOW);
        let opk = if seed.is_multiple_of(2) {
            bob_account
                .generate_one_time_prekeys(1, &mut rng)
                .unwrap()
                .first()
                .copied()
        } else {
            None
        };
        let bundle = VerifiedBundle::verify(&bob_account.bundle(opk)).unwrap();
        let alice = alice_account.initiate(&bundle, &mut rng).unwrap();
        Self {
            rng,
            alice,
            bob: None,
            bob_account,
            in_flight: [Vec::new(), Vec::new()],
            delivered: [Vec::new(), Vec::new()],
            steps: [Steps::default(), Steps::default()],
            next_id: 0,
        }
    }

    fn send(&mut self, alice: bool, len: usize) {
        let id = self.next_id;
        self.next_id += 1;
        let plaintext = plaintext(id, len);
        let session = if alice {
            &mut self.alice
        } else {
            match &mut self.bob {
                Some(s) => s,
                None => return, // Bob cannot speak before he has heard from Alice.
            }
        };
        let envelope = session.encrypt(&plaintext, &mut self.rng).unwrap();
        self.in_flight[usize::from(!alice)].push(Sent {
            envelope,
            plaintext,
        });
    }

    /// Delivers `envelope` to the receiver of messages `from_alice`; returns the result and
    /// checks that a failure left everything unchanged.
    fn receive(&mut self, from_alice: bool, envelope: &Envelope) -> Result<Vec<u8>, DecryptError> {
        let to_alice = !from_alice;
        if to_alice {
            let before = self.alice.to_bytes();
            let r = self.alice.decrypt(envelope).map(|p| p.to_vec());
            if r.is_err() {
                assert_eq!(*self.alice.to_bytes(), *before, "alice changed on {r:?}");
            }
            return r;
        }
        match (&mut self.bob, envelope) {
            (Some(bob), _) => {
                let before = bob.to_bytes();
                let r = bob.decrypt(envelope).map(|p| p.to_vec());
                if r.is_err() {
                    assert_eq!(*bob.to_bytes(), *before, "bob changed on {r:?}");
                }
                r
            }
            (None, Envelope::PreKey(m)) => {
                let before = self.bob_account.to_bytes();
                match self.bob_account.accept(m) {
                    Ok((session, p)) => {
                        self.bob = Some(session);
                        Ok(p.to_vec())
                    }
                    Err(HandshakeError::Decrypt(e)) => {
                        assert_eq!(*self.bob_account.to_bytes(), *before);
                        Err(e)
                    }
                    Err(other) => panic!("unexpected handshake error {other:?}"),
                }
            }
            (None, Envelope::Message(_)) => panic!("Alice sent a plain message before a reply"),
            (None, _) => panic!("unknown envelope kind"),
        }
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Send { alice, len } => self.send(alice, len),
            Op::Deliver { from_alice, pick } => {
                let q = &mut self.in_flight[usize::from(!from_alice)];
                if q.is_empty() {
                    return;
                }
                let sent = q.remove(pick % q.len());
                let got = self.receive(from_alice, &sent.envelope);
                assert_eq!(got.as_deref(), Ok(sent.plaintext.as_slice()));
                self.steps[usize::from(from_alice)]
                    .record(sent.envelope.ratchet_message().ratchet_key);
                self.delivered[usize::from(!from_alice)].push(sent);
            }
            Op::Drop { from_alice, pick } => {
                let q = &mut self.in_flight[usize::from(!from_alice)];
                if !q.is_empty() {
                    q.remove(pick % q.len());
                }
            }
            Op::Duplicate { from_alice, pick } => {
                let d = &self.delivered[usize::from(!from_alice)];
                if d.is_empty() {
                    return;
                }
                let envelope = d[pick % d.len()].envelope.clone();
                let key = envelope.ratchet_message().ratchet_key;
                let expected = if self.steps[usize::from(from_alice)].remembered(&key) {
                    DecryptError::Duplicate
                } else {
                    // The chain was forgotten: the key looks new, and the DH step fails.
                    DecryptError::DecryptFailed
                };
                assert_eq!(self.receive(from_alice, &envelope), Err(expected));
            }
            Op::Tamper {
                from_alice,
                pick,
                field,
                bit,
            } => {
                let q = &self.in_flight[usize::from(!from_alice)];
                if q.is_empty() {
                    return;
                }
                let mut envelope = q[pick % q.len()].envelope.clone();
                let m = match &mut envelope {
                    Envelope::PreKey(p) => &mut p.message,
                    Envelope::Message(m) => m,
                    _ => unreachable!(),
                };
                let mask = 1u8 << (bit % 8);
                match field {
                    0 => m.ratchet_key[usize::from(bit) % 32] ^= mask,
                    1 => m.previous_counter = m.previous_counter.wrapping_add(u32::from(mask)),
                    2 => m.counter = u32::MAX,
                    3 => {
                        let i = usize::from(bit) % m.ciphertext.len();
                        m.ciphertext[i] ^= mask;
                    }
                    _ => {
                        let last = m.ciphertext.len() - 1 - usize::from(bit % 16);
                        m.ciphertext[last] ^= mask; // the tag
                    }
                }
                let bob_unborn = from_alice && self.bob.is_none();
                let before = self.bob_account.to_bytes();
                let got = self.receive(from_alice, &envelope);
                if bob_unborn {
                    assert_eq!(*self.bob_account.to_bytes(), *before);
                }
                // A flipped ratchet key bit can make the key look like a low-order point
                // only with negligible probability.
                assert_eq!(got, Err(DecryptError::DecryptFailed), "field {field}");
            }
            Op::SaveLoad { alice } => {
                if alice {
                    self.alice = Session::from_bytes(&self.alice.to_bytes()).unwrap();
                } else {
                    self.bob_account = Account::from_bytes(&self.bob_account.to_bytes()).unwrap();
                    if let Some(bob) = &self.bob {
                        self.bob = Some(Session::from_bytes(&bob.to_bytes()).unwrap());
                    }
                }
            }
        }
    }

    /// Delivers everything still in flight (in random order) and checks each plaintext.
    fn drain(&mut self) {
        for from_alice in [true, false, true] {
            loop {
                let q = &self.in_flight[usize::from(!from_alice)];
                if q.is_empty() {
                    break;
                }
                let pick = self.rng.next_u32() as usize;
                self.apply(Op::Deliver { from_alice, pick });
            }
        }
    }
}

proptest! {
    // REMIT_PROPTEST_CASES=2000 for a longer run.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("REMIT_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(48),
        ..ProptestConfig::default()
    })]

    #[test]
    fn hostile_network_delivers_every_honest_message_exactly(
        seed in any::<u64>(),
        ops in prop::collection::vec(op(), 1..120),
    ) {
        let mut world = World::new(seed);
        world.send(true, 10);
        for op in ops {
            world.apply(op);
        }
        world.drain();
    }
}

/// A long conversation in both directions with reordering inside each burst.
#[test]
fn ten_thousand_messages_with_reordering() {
    let mut world = World::new(2024);
    let mut rng = ChaCha20Rng::seed_from_u64(77);
    world.send(true, 0);
    world.apply(Op::Deliver {
        from_alice: true,
        pick: 0,
    });
    let mut sent = 1;
    let mut alice_turn = false;
    while sent < 10_000 {
        let burst = 1 + (rng.next_u32() % 12) as usize;
        for _ in 0..burst.min(10_000 - sent) {
            world.send(alice_turn, (rng.next_u32() % 64) as usize);
            sent += 1;
        }
        // Deliver the burst in a random order.
        while !world.in_flight[usize::from(!alice_turn)].is_empty() {
            let pick = rng.next_u32() as usize;
            world.apply(Op::Deliver {
                from_alice: alice_turn,
                pick,
            });
        }
        alice_turn = !alice_turn;
    }
    assert_eq!(world.delivered[0].len() + world.delivered[1].len(), 10_000);
}
