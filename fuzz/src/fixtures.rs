//! Fixed, deterministic starting points built once per process (seeded `ChaCha20Rng`, fixed
//! clock): the session pair of the session targets and the identities of the payment targets.
//!
//! Everything here is built with the crates' public API only, exactly as an app would.

use std::sync::OnceLock;

use rand::{SeedableRng, rngs::ChaCha20Rng};
use remit_session::{Account, Session, VerifiedBundle};
use remit_wire::session::Envelope;

/// The fixed clock of every fixture (Unix seconds).
pub const NOW: u64 = 1_700_000_000;

/// The seed of the session fixture's RNG.
pub const SESSION_SEED: u64 = 0x5245_4d49_5446_555a; // "REMITFUZ"

/// A message that was sent to a receiver and not yet delivered: decrypting it is legitimate.
#[derive(Clone, Debug)]
pub struct Honest {
    /// The envelope as sent.
    pub envelope: Envelope,
    /// Its plaintext.
    pub plaintext: Vec<u8>,
}

/// A receiver state for `session_decrypt`: its record and the envelopes it may accept.
pub struct Receiver {
    /// What the state is.
    pub name: &'static str,
    /// `Session::to_bytes()` of the receiver.
    pub record: Vec<u8>,
    /// Honest envelopes sent to it and not yet delivered.
    pub pending: Vec<Honest>,
}

/// The session fixture.
pub struct Sessions {
    /// Alice (initiator) right after sending the first message, and Bob (responder) right after
    /// accepting it: the starting point of `session_interaction`.
    pub alice_start: Vec<u8>,
    /// See `alice_start`.
    pub bob_start: Vec<u8>,
    /// The ratchet key of Alice's first sending chain (the chain Bob's session starts on).
    pub alice_first_chain: [u8; 32],
    /// Receivers for `session_decrypt`, in three different states.
    pub receivers: Vec<Receiver>,
}

fn load(record: &[u8]) -> Session {
    Session::from_bytes(record).expect("fixture record loads")
}

fn send(s: &mut Session, text: &[u8], rng: &mut ChaCha20Rng) -> Honest {
    Honest {
        envelope: s.encrypt(text, rng).expect("fixture encrypt"),
        plaintext: text.to_vec(),
    }
}

fn deliver(s: &mut Session, m: &Honest) {
    let got = s.decrypt(&m.envelope).expect("fixture decrypt");
    assert_eq!(got.as_slice(), m.plaintext.as_slice());
}

/// The session fixture, built on first use.
pub fn sessions() -> &'static Sessions {
    static CELL: OnceLock<Sessions> = OnceLock::new();
    CELL.get_or_init(build_sessions)
}

fn build_sessions() -> Sessions {
    let mut rng = ChaCha20Rng::seed_from_u64(SESSION_SEED);
    let alice_account = Account::new(&mut rng, NOW);
    let mut bob_account = Account::new(&mut rng, NOW);
    let otk = bob_account
        .generate_one_time_prekeys(1, &mut rng)
        .expect("one-time prekey");
    let bundle = VerifiedBundle::verify(&bob_account.bundle(otk.first().copied()))
        .expect("fixture bundle verifies");
    let mut alice = alice_account
        .initiate(&bundle, &mut rng)
        .expect("fixture initiate");
    let first = send(&mut alice, b"first", &mut rng);
    let Envelope::PreKey(prekey) = &first.envelope else {
        panic!("the first message is a prekey message");
    };
    let (mut bob, plaintext) = bob_account.accept(prekey).expect("fixture accept");
    assert_eq!(plaintext.as_slice(), b"first");
    let alice_first_chain = first.envelope.ratchet_message().ratchet_key;
    let alice_start = alice.to_bytes().to_vec();
    let bob_start = bob.to_bytes().to_vec();

    // Receiver 0: Bob, Alice still in prekey mode, two of her messages in flight.
    let m1 = send(&mut alice, b"m1", &mut rng);
    let m2 = send(&mut alice, b"m2: still prekey", &mut rng);
    let m3 = send(&mut alice, b"m3", &mut rng);
    deliver(&mut bob, &m1);
    let r0 = Receiver {
        name: "bob, initiator still sending prekey messages",
        record: bob.to_bytes().to_vec(),
        pending: vec![m2.clone(), m3.clone()],
    };

    // Receiver 1: Alice after Bob's first reply, two more replies in flight.
    let b0 = send(&mut bob, b"b0", &mut rng);
    let b1 = send(&mut bob, b"b1", &mut rng);
    let b2 = send(&mut bob, b"b2", &mut rng);
    deliver(&mut alice, &b0);
    let r1 = Receiver {
        name: "alice, established, replies in flight",
        record: alice.to_bytes().to_vec(),
        pending: vec![b1, b2],
    };

    // Receiver 2: Bob on Alice's second chain, with skipped keys stored on both chains.
    let n0 = send(&mut alice, b"n0", &mut rng);
    let n1 = send(&mut alice, b"n1", &mut rng);
    deliver(&mut bob, &n1);
    let r2 = Receiver {
        name: "bob, second chain, skipped keys stored",
        record: bob.to_bytes().to_vec(),
        pending: vec![m2, m3, n0],
    };

    let receivers = vec![r0, r1, r2];
    for r in &receivers {
        assert_eq!(load(&r.record).to_bytes().as_slice(), r.record.as_slice());
    }
    Sessions {
        alice_start,
        bob_start,
        alice_first_chain,
        receivers,
    }
}

// ---------------------------------------------------------------------------------------------
// Payments. Everything that depends on remit-pay's identity API is here.

/// The seed and clock of the payee of the payment vectors (spec/vectors/payments-*.json:
/// `Account::new(ChaCha20Rng::seed_from_u64(0x52454d4954504159), 1767225600)`), so the vectors'
/// signed documents verify under [`payee_peer`].
pub const PAYEE_SEED: u64 = 0x5245_4d49_5450_4159;
/// See [`PAYEE_SEED`].
pub const PAYEE_NOW: u64 = 1_767_225_600;

/// The payee's account (it holds the identity key that signs requests and receipts).
pub fn payee_account() -> &'static Account {
    static ACCOUNT: OnceLock<Account> = OnceLock::new();
    ACCOUNT.get_or_init(|| Account::new(&mut ChaCha20Rng::seed_from_u64(PAYEE_SEED), PAYEE_NOW))
}

/// The payee as a local identity (for signing requests and receipts).
pub fn payee_local() -> remit_pay::LocalIdentity<'static> {
    remit_pay::LocalIdentity::new(payee_account())
}

/// The payee as the payer's session reports it.
pub fn payee_peer() -> &'static remit_session::VerifiedIdentity {
    payee_account().identity()
}
