//! `session_interaction`: two parties of a fixed handshake driven through an arbitrary
//! sequence of send / deliver / drop / duplicate / tamper / save-load operations (delivering
//! any in-flight message is the reordering).
//!
//! Invariants:
//! - every honest message delivered (once, in any order, within the bounds below, which keep
//!   every gap under `MAX_SKIP` and every store under its cap) decrypts to exactly its
//!   plaintext;
//! - a message delivered again fails; with `Duplicate` while its chain is the current one or
//!   one of the `MAX_PREVIOUS_CHAINS` before it;
//! - every tampered envelope that still decodes and differs in an authenticated part (the
//!   ratchet message, or a prekey message's identity or base key) fails;
//! - the receiver's `to_bytes()` is unchanged by every failed decrypt;
//! - save/load: `from_bytes(to_bytes())` writes the same bytes, and the loaded session is used
//!   from then on, so every later check also checks that loading preserved behaviour.
//!
//! The input ends where its bytes end (`arbitrary` would pad it with zero-byte operations, 40
//! empty sends, up to `MAX_OPS`), and at most `MAX_SAVE_LOADS` reloads run per input. What
//! remains is the X25519 of the ratchet itself (about 70 % of the time, more than half of it in
//! the comparison tracing of curve25519-dalek's field arithmetic), which is what is under test.

use arbitrary::{Arbitrary, Unstructured};
use rand::{SeedableRng, rngs::ChaCha20Rng};
use remit_session::{DecryptError, MAX_PREVIOUS_CHAINS, Session};
use remit_wire::session::Envelope;

use crate::fixtures::sessions;

/// Most operations per input.
const MAX_OPS: usize = 64;
/// Most messages sent per input.
const MAX_MESSAGES: usize = 40;
/// Longest plaintext.
const MAX_PLAINTEXT: usize = 48;
/// Save/load operations carried out per input; later ones are skipped (each reload
/// recomputes the ratchet public key, an X25519 base-point multiplication).
const MAX_SAVE_LOADS: usize = 3;

#[derive(Clone, Copy, Debug, Arbitrary, PartialEq, Eq)]
enum Party {
    Alice,
    Bob,
}

impl Party {
    fn index(self) -> usize {
        match self {
            Self::Alice => 0,
            Self::Bob => 1,
        }
    }
    fn other(self) -> Self {
        match self {
            Self::Alice => Self::Bob,
            Self::Bob => Self::Alice,
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Op {
    /// `party` encrypts a message to the other.
    Send(Party, Vec<u8>),
    /// Delivers the n-th message in flight.
    Deliver(u8),
    /// Loses the n-th message in flight.
    Drop(u8),
    /// Delivers the n-th delivered message again.
    Duplicate(u8),
    /// Delivers a copy of the n-th message ever sent with one byte XORed.
    Tamper(u8, u16, u8),
    /// Saves and reloads a party's session.
    SaveLoad(Party),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    InFlight,
    Delivered,
    Dropped,
}

struct Message {
    to: Party,
    envelope: Envelope,
    bytes: Vec<u8>,
    plaintext: Vec<u8>,
    status: Status,
}

struct World {
    sessions: [Session; 2],
    messages: Vec<Message>,
    /// Per receiver: the remote ratchet keys in the order their chains started.
    chains: [Vec<[u8; 32]>; 2],
}

impl World {
    fn nth(&self, n: u8, status: Option<Status>) -> Option<usize> {
        let candidates: Vec<usize> = (0..self.messages.len())
            .filter(|&i| status.is_none_or(|s| self.messages[i].status == s))
            .collect();
        if candidates.is_empty() {
            None
        } else {
            Some(candidates[usize::from(n) % candidates.len()])
        }
    }

    /// An honest first delivery: must decrypt to the plaintext.
    fn deliver_fresh(&mut self, i: usize, envelope: &Envelope) {
        let to = self.messages[i].to;
        let plaintext = self.sessions[to.index()]
            .decrypt(envelope)
            .unwrap_or_else(|e| panic!("honest message {i} to {to:?} failed: {e:?}"));
        assert_eq!(plaintext.as_slice(), self.messages[i].plaintext.as_slice());
        self.messages[i].status = Status::Delivered;
        let key = self.messages[i].envelope.ratchet_message().ratchet_key;
        let chains = &mut self.chains[to.index()];
        if !chains.contains(&key) {
            chains.push(key);
        }
    }

    /// A message delivered again: must fail and change nothing.
    fn deliver_again(&mut self, i: usize, envelope: &Envelope) {
        let to = self.messages[i].to;
        let key = self.messages[i].envelope.ratchet_message().ratchet_key;
        let result = self.expect_failure(to, envelope, "duplicate");
        let chains = &self.chains[to.index()];
        let position = chains.iter().position(|k| *k == key);
        let recent = position.is_some_and(|p| p + 1 + MAX_PREVIOUS_CHAINS >= chains.len());
        if recent {
            assert_eq!(
                result,
                DecryptError::Duplicate,
                "message {i} delivered again"
            );
        }
    }

    fn expect_failure(&mut self, to: Party, envelope: &Envelope, what: &str) -> DecryptError {
        let session = &mut self.sessions[to.index()];
        let before = session.to_bytes();
        let result = session.decrypt(envelope);
        let Err(e) = result else {
            panic!("{what} accepted by {to:?}: {envelope:?}");
        };
        assert_eq!(
            session.to_bytes().as_slice(),
            before.as_slice(),
            "{what}: a failed decrypt changed {to:?}'s session"
        );
        e
    }
}

/// Whether `t` differs from `original` in a part the receiver authenticates.
fn substantively_different(original: &Envelope, t: &Envelope) -> bool {
    if original.ratchet_message() != t.ratchet_message() {
        return true;
    }
    match (original, t) {
        (Envelope::PreKey(a), Envelope::PreKey(b)) => {
            a.base_key != b.base_key
                || a.identity.signing_key != b.identity.signing_key
                || a.identity.agreement_key != b.identity.agreement_key
        }
        _ => false,
    }
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let fixture = sessions();
    let mut world = World {
        sessions: [
            Session::from_bytes(&fixture.alice_start).expect("fixture"),
            Session::from_bytes(&fixture.bob_start).expect("fixture"),
        ],
        messages: Vec::new(),
        // Bob's session started on Alice's first chain (the prekey message that created it).
        chains: [Vec::new(), vec![fixture.alice_first_chain]],
    };
    let mut rng = ChaCha20Rng::seed_from_u64(0x0f0f);
    let mut save_loads = 0;

    for _ in 0..MAX_OPS {
        // `arbitrary` pads an exhausted input with zeros, which would decode as the same
        // first-variant operation until MAX_OPS: stop where the input ends instead.
        if u.is_empty() {
            break;
        }
        let Ok(op) = Op::arbitrary(&mut u) else {
            break;
        };
        match op {
            Op::Send(from, mut text) => {
                if world.messages.len() >= MAX_MESSAGES {
                    continue;
                }
                text.truncate(MAX_PLAINTEXT);
                let envelope = world.sessions[from.index()]
                    .encrypt(&text, &mut rng)
                    .expect("encrypt");
                let bytes = envelope.encode().expect("encode");
                assert_eq!(Envelope::decode(&bytes).as_ref(), Ok(&envelope));
                world.messages.push(Message {
                    to: from.other(),
                    envelope,
                    bytes,
                    plaintext: text,
                    status: Status::InFlight,
                });
            }
            Op::Deliver(n) => {
                if let Some(i) = world.nth(n, Some(Status::InFlight)) {
                    let envelope = world.messages[i].envelope.clone();
                    world.deliver_fresh(i, &envelope);
                }
            }
            Op::Drop(n) => {
                if let Some(i) = world.nth(n, Some(Status::InFlight)) {
                    world.messages[i].status = Status::Dropped;
                }
            }
            Op::Duplicate(n) => {
                if let Some(i) = world.nth(n, Some(Status::Delivered)) {
                    let envelope = world.messages[i].envelope.clone();
                    world.deliver_again(i, &envelope);
                }
            }
            Op::Tamper(n, position, xor) => {
                let Some(i) = world.nth(n, None) else {
                    continue;
                };
                let mut bytes = world.messages[i].bytes.clone();
                let at = usize::from(position) % bytes.len();
                bytes[at] ^= xor.max(1);
                let Ok(tampered) = Envelope::decode(&bytes) else {
                    continue; // refused before any cryptography
                };
                let original = world.messages[i].envelope.clone();
                if substantively_different(&original, &tampered) {
                    let to = world.messages[i].to;
                    world.expect_failure(to, &tampered, "tampered message");
                } else if world.messages[i].status == Status::Delivered {
                    // Only unauthenticated prekey fields changed: it is the same message.
                    world.deliver_again(i, &tampered);
                } else {
                    world.deliver_fresh(i, &tampered);
                }
            }
            Op::SaveLoad(party) => {
                if save_loads == MAX_SAVE_LOADS {
                    continue;
                }
                save_loads += 1;
                let bytes = world.sessions[party.index()].to_bytes();
                let loaded = Session::from_bytes(&bytes).expect("a saved session loads");
                assert_eq!(loaded.to_bytes().as_slice(), bytes.as_slice());
                world.sessions[party.index()] = loaded;
            }
        }
    }
}
