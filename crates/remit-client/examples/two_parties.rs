//! Two apps, Alice (payee) and Bob (payer), each with its own profile database, exchanging a
//! payment request, a payment notice and a receipt, then a declined and a cancelled request.
//! The envelopes are passed by hand where a real app hands them to the relay transport.
//!
//! Run: `cargo run -p remit-client --example two_parties`
//!
//! What an app copies from here:
//! - one `Engine<SqliteStore>` per profile, opened with `open_or_create` at start-up;
//! - hand every received envelope to `handle_envelope`, and ack the relay only after it
//!   returns (its effect is committed by then);
//! - send every `Outgoing` the engine returns, then `mark_sent` it once the relay acked;
//! - verify settlements with the app's own view of the rail (`SettlementVerifier`).

use std::error::Error;

use rand::rngs::ChaCha20Rng;
use remit_client::{Engine, Event, Outgoing, SqliteStore, Verdict};
use remit_pay::{
    CancelReason, DeclineReason, Money, Notice, PaymentMethod, PaymentRequest, RequestDraft,
    Settlement, SettlementVerifier, Verification,
};

/// The app's view of its payment provider: here, every transfer settles as claimed. A real app
/// looks `notice.settlement` up in its wallet, node, bank or provider account.
struct MyProvider;

impl SettlementVerifier for MyProvider {
    fn verify(&mut self, _request: &PaymentRequest, notice: &Notice) -> Verification {
        Verification::Settled(notice.amount.clone())
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    // An OS-seeded generator; the engine never reaches for randomness on its own.
    let mut rng: ChaCha20Rng = rand::make_rng();
    let mut now = 1_700_000_000; // an app passes its clock: SystemTime::now() in Unix seconds
    let dir = tempfile::tempdir()?;
    let mut alice = Engine::open_or_create(
        SqliteStore::open(dir.path().join("alice.db"))?,
        now,
        &mut rng,
    )?;
    let mut bob =
        Engine::open_or_create(SqliteStore::open(dir.path().join("bob.db"))?, now, &mut rng)?;
    println!("alice {}", alice.fingerprint());
    println!("bob   {}", bob.fingerprint());

    // Bob publishes prekeys (through the relay, normally); Alice fetches his bundle and pins
    // it to her contact "bob".
    let one_time = bob.generate_one_time_prekeys(10, &mut rng)?;
    let bundle = bob.bundle(one_time.first().copied());
    alice.start_session(Some("bob"), &bundle, &mut rng)?;
    // Bob's app binds Alice's identity (from its contact directory, a QR code) to "alice".
    bob.pin_peer("alice", *alice.identity())?;
    println!(
        "safety number (compare out of band): {}",
        alice.safety_number(bob.identity())
    );

    // 1. Alice asks Bob for 12.50 USD.
    let sent = alice.request_payment(&bob.address(), &draft("12.50 USD", now)?, now, &mut rng)?;
    let request_id = sent.request_id;
    now += 5;
    deliver(&mut bob, alice.address(), &sent.outgoing, now, "bob")?;
    alice.mark_sent(&sent.outgoing.message_id)?;

    // 2. Bob pays on the rail, then tells Alice where to look.
    let settlement = Settlement::Provider {
        provider: "examplepay".into(),
        transfer_id: "tx-1001".into(),
    };
    let paid = bob.notify_payment(
        &request_id,
        Money::parse("12.50 USD")?,
        0,
        settlement,
        "lunch",
        now,
        &mut rng,
    )?;
    now += 5;
    deliver(&mut alice, bob.address(), &paid.outgoing, now, "alice")?;
    bob.mark_sent(&paid.outgoing.message_id)?;

    // 3. Alice checks her provider: only this makes the request paid.
    let verdicts = Verdict::collect(&alice.pending_settlements(), &mut MyProvider);
    for event in alice.apply_verdicts(&verdicts, now)? {
        println!("alice: {}", describe(&event));
    }

    // 4. Alice sends a signed receipt.
    let receipt = alice.send_receipt(&request_id, now, &mut rng)?;
    now += 5;
    deliver(&mut bob, alice.address(), &receipt.outgoing, now, "bob")?;
    alice.mark_sent(&receipt.outgoing.message_id)?;

    // 5. A request Bob declines, and one Alice withdraws.
    let second = alice.request_payment(&bob.address(), &draft("99.00 USD", now)?, now, &mut rng)?;
    deliver(&mut bob, alice.address(), &second.outgoing, now, "bob")?;
    let declined = bob.decline(
        &second.request_id,
        DeclineReason::WrongAmount,
        "not what we agreed",
        now,
        &mut rng,
    )?;
    deliver(&mut alice, bob.address(), &declined.outgoing, now, "alice")?;

    let third = alice.request_payment(&bob.address(), &draft("7.00 USD", now)?, now, &mut rng)?;
    deliver(&mut bob, alice.address(), &third.outgoing, now, "bob")?;
    let cancelled = alice.cancel(
        &third.request_id,
        CancelReason::IssuedInError,
        "sent twice",
        now,
        &mut rng,
    )?;
    deliver(&mut bob, alice.address(), &cancelled.outgoing, now, "bob")?;

    for (id, _, thread) in alice.threads() {
        println!("alice's thread {}: {:?}", hex(&id), thread.state());
    }
    Ok(())
}

/// What the transport does with a relay `Deliver`: hand it to the engine, show the events,
/// then (and only then) ack the relay.
fn deliver(
    engine: &mut Engine<SqliteStore>,
    sender: [u8; 32],
    out: &Outgoing,
    now: u64,
    who: &str,
) -> Result<(), Box<dyn Error>> {
    for event in engine.handle_envelope(sender, out.message_id, &out.envelope, now)? {
        println!("{who}: {}", describe(&event));
    }
    // ack(out.message_id) would go here.
    Ok(())
}

fn describe(event: &Event) -> String {
    match event {
        Event::Payment {
            from, kind, state, ..
        } => format!(
            "{kind:?} from {} ({}), thread now {state:?}",
            from.handle.as_deref().unwrap_or("unnamed contact"),
            if from.verified {
                "verified"
            } else {
                "not verified"
            },
        ),
        Event::StateChanged { from, to, .. } => format!("thread {from:?} -> {to:?}"),
        Event::Text { text, .. } => format!("text: {text}"),
        Event::IdentityChanged { handle, .. } => {
            format!("{handle}'s identity changed: confirm before paying")
        }
        other => format!("{other:?}"),
    }
}

fn draft(amount: &str, now: u64) -> Result<RequestDraft, Box<dyn Error>> {
    Ok(RequestDraft {
        amount: Money::parse(amount)?,
        methods: vec![PaymentMethod::Provider {
            provider: "examplepay".into(),
            account: "@alice".into(),
        }],
        memo: "lunch on friday".into(),
        reference: String::new(),
        payee_name: "Alice".into(),
        created_at: now,
        expires_at: now + 86_400,
        allow_partial: false,
        invoice: None,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
