//! `remit demo`: a relay on a free loopback port and two profiles in a temporary directory;
//! Alice and Bob go through request → payment notice → receipt, an invoice, a declined
//! request and an expired one. Every step is checked; the first failure ends the demo with a
//! one-line error.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::{Result, anyhow, bail};
use remit_client::{
    Event, SqliteStore, Verdict,
    transport::{Client, ClientEvent, Clock},
};
use remit_pay::{
    DeclineReason, Id, MessageKind, Notice, PaymentMethod, PaymentRequest, RequestDraft,
    SettlementVerifier, ThreadState, Verification,
};
use remit_relay::{Relay, RelayConfig};
use serde_json::json;

use crate::{
    commands::{Output, check_open, create_and_register, settlement_for},
    describe::{short_id, state_name},
    profile::Profile,
};
use remit_cli::input::{ProfileFile, build_invoice, parse_money};

const WAIT: Duration = Duration::from_secs(10);

/// The demo's payment provider: a transfer exists once Bob "made" it.
#[derive(Clone, Default)]
struct Ledger(Arc<Mutex<HashSet<String>>>);

impl SettlementVerifier for Ledger {
    fn verify(&mut self, _request: &PaymentRequest, notice: &Notice) -> Verification {
        let found = match &notice.settlement {
            remit_pay::Settlement::Provider { transfer_id, .. } => {
                self.0.lock().is_ok_and(|l| l.contains(transfer_id))
            }
            _ => false,
        };
        if found {
            Verification::Settled(notice.amount.clone())
        } else {
            Verification::Failed
        }
    }
}

struct Party {
    name: &'static str,
    profile: Profile,
    client: Client<SqliteStore>,
    sizes: Vec<usize>,
}

pub(crate) async fn run(out: &mut Output) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let relay = Relay::start(RelayConfig::new(
        "127.0.0.1:0".parse()?,
        dir.path().join("relay"),
    ))
    .await
    .map_err(|e| anyhow!("cannot start the demo relay: {e}"))?;
    let result = walk(out, dir.path(), &relay).await;
    relay.shutdown().await;
    result
}

async fn walk(out: &mut Output, dir: &std::path::Path, relay: &Relay) -> Result<()> {
    let say = |s: String| out.line(s);
    say(format!(
        "relay       listening on {} (certificate {}…), data in a temporary directory",
        relay.local_addr(),
        &hex::encode(relay.fingerprint())[..16]
    ));
    let home = dir.join("home");
    let clock = Clock::default();
    let mut alice = party(&home, "alice", relay, &clock).await?;
    let mut bob = party(&home, "bob", relay, &clock).await?;
    say(format!(
        "alice       address {}",
        hex::encode(alice.client.address())
    ));
    say(format!(
        "bob         address {}",
        hex::encode(bob.client.address())
    ));
    // Each adds the other as a contact (in real life: `remit id` read out, a QR code).
    add_contact(&mut alice, "bob", bob.client.address())?;
    add_contact(&mut bob, "alice", alice.client.address())?;
    let ledger = Ledger::default();

    // Sessions, and the safety number both sides must see.
    let (a_addr, b_addr) = (alice.client.address(), bob.client.address());
    alice.client.ensure_session(&b_addr, Some("bob")).await?;
    alice
        .client
        .send_text(&b_addr, "hi Bob, it's Alice")
        .await?;
    let text = expect(&mut bob, |e| matches!(e, Event::Text { .. })).await?;
    bob.profile.pin_contacts(&bob.client).await?;
    let (sn_a, sn_b) = {
        let a = alice.client.lock().await;
        let b = bob.client.lock().await;
        let bob_id = a.engine.peer_identity(&b_addr).copied();
        let alice_id = b.engine.peer_identity(&a_addr).copied();
        match (bob_id, alice_id) {
            (Some(bi), Some(ai)) => (
                a.engine.safety_number(&bi).to_string(),
                b.engine.safety_number(&ai).to_string(),
            ),
            _ => bail!("no session after the first message"),
        }
    };
    if let Event::Text { text, .. } = &text {
        say(format!("alice → bob  text \"{text}\""));
    }
    if sn_a != sn_b {
        bail!("safety numbers differ: alice sees {sn_a}, bob sees {sn_b}");
    }
    say(format!("safety number (both see the same): {sn_a}"));
    {
        let now = clock.now();
        alice.client.lock().await.engine.mark_verified("bob", now)?;
        bob.client.lock().await.engine.mark_verified("alice", now)?;
    }
    say("            both mark each other verified after comparing it".into());

    // 1. Request → payment notice → receipt.
    say(String::new());
    say("1. a payment request, paid, with a receipt".into());
    let now = clock.now();
    let draft = request_draft("12.50 USD", "lunch on Friday", now, 86_400)?;
    let sent = alice.client.request_payment(&b_addr, &draft).await?;
    let id = sent.request_id;
    say(format!(
        "alice → bob  payment request {} for 12.50 USD \"lunch on Friday\"  alice: {}",
        short_id(&id),
        state_name(sent.state)
    ));
    expect_payment(&mut bob, MessageKind::Request, &id, ThreadState::Issued).await?;
    pay_and_receipt(&mut alice, &mut bob, &ledger, &id, "tx-1001", &clock, out).await?;

    // 2. An itemised invoice, paid the same way.
    say(String::new());
    say("2. an itemised invoice, paid, with a receipt".into());
    let now = clock.now();
    let items = vec![
        (
            "Espresso beans 1kg".to_owned(),
            "2".to_owned(),
            "18.00 USD".to_owned(),
        ),
        (
            "Milk frother".to_owned(),
            "1".to_owned(),
            "24.50 USD".to_owned(),
        ),
    ];
    let taxes = vec![(
        "VAT 8.1%".to_owned(),
        "4.90 USD".to_owned(),
        "8.1".to_owned(),
    )];
    let (amount, invoice) = build_invoice(
        "INV-0042".into(),
        "Alice's Coffee".into(),
        &items,
        &taxes,
        &[],
        now,
        14 * 86_400,
    )?;
    let mut draft = request_draft(&amount.to_string(), "coffee supplies", now, 14 * 86_400)?;
    draft.reference = "INV-0042".into();
    draft.invoice = Some(invoice);
    let sent = alice.client.send_invoice(&b_addr, &draft).await?;
    let inv = sent.request_id;
    say(format!(
        "alice → bob  invoice INV-0042 {}: 2 × 18.00 + 1 × 24.50 + VAT 4.90 = {amount}",
        short_id(&inv)
    ));
    expect_payment(&mut bob, MessageKind::Request, &inv, ThreadState::Issued).await?;
    pay_and_receipt(&mut alice, &mut bob, &ledger, &inv, "tx-1002", &clock, out).await?;

    // 3. A declined request.
    say(String::new());
    say("3. a request Bob declines".into());
    let now = clock.now();
    let sent = alice
        .client
        .request_payment(
            &b_addr,
            &request_draft("99.00 USD", "concert tickets", now, 86_400)?,
        )
        .await?;
    let declined = sent.request_id;
    say(format!(
        "alice → bob  payment request {} for 99.00 USD",
        short_id(&declined)
    ));
    expect_payment(
        &mut bob,
        MessageKind::Request,
        &declined,
        ThreadState::Issued,
    )
    .await?;
    let sent = bob
        .client
        .decline(&declined, DeclineReason::WrongAmount, "we said 49")
        .await?;
    say(format!(
        "bob → alice  decline (wrong amount: \"we said 49\")  bob: {}",
        state_name(sent.state)
    ));
    expect_payment(
        &mut alice,
        MessageKind::Decline,
        &declined,
        ThreadState::Declined,
    )
    .await?;
    say("            alice: declined".into());

    // 4. An expired request: the clock moves two hours instead of the demo sleeping.
    say(String::new());
    say("4. a request that expires before Bob pays".into());
    let now = clock.now();
    let sent = alice
        .client
        .request_payment(&b_addr, &request_draft("5.00 USD", "parking", now, 3_600)?)
        .await?;
    let expired = sent.request_id;
    say(format!(
        "alice → bob  payment request {} for 5.00 USD, expires in 1 hour",
        short_id(&expired)
    ));
    expect_payment(
        &mut bob,
        MessageKind::Request,
        &expired,
        ThreadState::Issued,
    )
    .await?;
    clock.advance(2 * 3_600);
    say("            (the clock moves forward 2 hours)".into());
    let a_events = alice.client.handle_timeout().await?;
    let b_events = bob.client.handle_timeout().await?;
    let refused = {
        let core = bob.client.lock().await;
        check_open(&core.engine, &expired, clock.now())
    };
    match refused {
        Err(e) => say(format!("bob         `remit pay` refuses: {e}")),
        Ok(()) => bail!("bob could still pay an expired request"),
    }
    for (who, events) in [("alice", &a_events), ("bob", &b_events)] {
        let ok = events.iter().any(|e| {
            matches!(e, Event::StateChanged { request_id, to: ThreadState::Expired, .. } if *request_id == expired)
        });
        if !ok {
            bail!("{who}'s thread {} did not expire", short_id(&expired));
        }
        say(format!("            {who}: issued -> expired"));
    }

    // Final states and what the relay saw.
    say(String::new());
    say("thread states".into());
    let expect_states = [
        (id, ThreadState::Paid, ThreadState::Paid),
        (inv, ThreadState::Paid, ThreadState::Paid),
        (declined, ThreadState::Declined, ThreadState::Declined),
        (expired, ThreadState::Expired, ThreadState::Expired),
    ];
    let mut states = Vec::new();
    for (rid, want_a, want_b) in expect_states {
        let a = alice
            .client
            .lock()
            .await
            .engine
            .thread(&rid)
            .map(remit_pay::PaymentThread::state);
        let b = bob
            .client
            .lock()
            .await
            .engine
            .thread(&rid)
            .map(remit_pay::PaymentThread::state);
        if a != Some(want_a) || b != Some(want_b) {
            bail!(
                "request {}: alice {a:?}, bob {b:?}; expected {want_a:?} and {want_b:?}",
                short_id(&rid)
            );
        }
        say(format!(
            "  {}  alice (payee): {:<10} bob (payer): {}",
            short_id(&rid),
            state_name(want_a),
            state_name(want_b)
        ));
        states.push(json!({"request_id": hex::encode(rid), "alice": state_name(want_a), "bob": state_name(want_b)}));
    }
    for p in [&mut alice, &mut bob] {
        drain(p);
    }
    say(String::new());
    say("what the relay saw (addresses, sizes and times; never content)".into());
    for (p, to) in [(&alice, "bob"), (&bob, "alice")] {
        let sizes: Vec<String> = p.sizes.iter().map(usize::to_string).collect();
        say(format!(
            "  {} → {to}: {} envelopes, bytes {}",
            p.name,
            p.sizes.len(),
            sizes.join(", ")
        ));
    }
    say("  (padding to 1 KiB buckets makes a chat line and a payment look alike)".into());
    say(String::new());
    say("demo complete: every step verified".into());
    out.set("ok", json!(true));
    out.set("safety_number", json!(sn_a));
    out.set("threads", serde_json::Value::Array(states));
    out.set(
        "relay_saw",
        json!({"alice_to_bob": alice.sizes, "bob_to_alice": bob.sizes}),
    );
    alice.client.close().await;
    bob.client.close().await;
    Ok(())
}

async fn party(
    home: &std::path::Path,
    name: &'static str,
    relay: &Relay,
    clock: &Clock,
) -> Result<Party> {
    let profile = Profile {
        name: name.to_owned(),
        dir: Profile::path(home, name),
        file: ProfileFile {
            relay: relay.local_addr(),
            fingerprint: hex::encode(relay.fingerprint()),
            display_name: if name == "alice" {
                "Alice".into()
            } else {
                "Bob".into()
            },
            contacts: std::collections::BTreeMap::new(),
        },
    };
    create_and_register(&profile).await?;
    profile.save()?;
    let client = profile.connect(clock.clone()).await?;
    Ok(Party {
        name,
        profile,
        client,
        sizes: Vec::new(),
    })
}

fn add_contact(p: &mut Party, handle: &str, address: [u8; 32]) -> Result<()> {
    p.profile
        .file
        .contacts
        .insert(handle.to_owned(), hex::encode(address));
    p.profile.save()
}

fn request_draft(amount: &str, memo: &str, now: u64, ttl: u64) -> Result<RequestDraft> {
    Ok(RequestDraft {
        amount: parse_money(amount)?,
        methods: vec![PaymentMethod::Provider {
            provider: "examplepay".into(),
            account: "@alice".into(),
        }],
        memo: memo.into(),
        reference: String::new(),
        payee_name: "Alice".into(),
        created_at: now,
        expires_at: now + ttl,
        allow_partial: false,
        invoice: None,
    })
}

/// Bob pays on the demo rail and notifies; Alice's verifier finds the transfer; Alice sends a
/// receipt; Bob gets it.
async fn pay_and_receipt(
    alice: &mut Party,
    bob: &mut Party,
    ledger: &Ledger,
    id: &Id,
    transfer: &str,
    clock: &Clock,
    out: &Output,
) -> Result<()> {
    let (amount, method) = {
        let core = bob.client.lock().await;
        let t = core
            .engine
            .thread(id)
            .ok_or_else(|| anyhow!("bob has no thread {}", short_id(id)))?;
        let r = t.request().request();
        (
            r.amount.clone(),
            r.methods
                .first()
                .cloned()
                .ok_or_else(|| anyhow!("no method"))?,
        )
    };
    if let Ok(mut l) = ledger.0.lock() {
        l.insert(transfer.to_owned());
    }
    let shown = amount.to_string();
    let sent = bob
        .client
        .notify_payment(id, amount, 0, settlement_for(&method, transfer)?, "thanks!")
        .await?;
    out.line(format!(
        "bob → alice  payment notice {shown} via examplepay, transfer {transfer}  bob: {}",
        state_name(sent.state)
    ));
    expect_payment(alice, MessageKind::Payment, id, ThreadState::PaymentPending).await?;
    out.line("            alice: payment-pending (a notice alone counts for nothing)");
    let events = {
        let mut core = alice.client.lock().await;
        let mut l = ledger.clone();
        let verdicts = Verdict::collect(&core.engine.pending_settlements(), &mut l);
        core.engine.apply_verdicts(&verdicts, clock.now())?
    };
    let paid = events.iter().any(|e| {
        matches!(e, Event::StateChanged { request_id, to: ThreadState::Paid, .. } if request_id == id)
    });
    if !paid {
        bail!("alice's provider did not confirm transfer {transfer}");
    }
    out.line(format!(
        "            alice's provider finds {transfer}: payment-pending -> paid"
    ));
    let sent = alice.client.send_receipt(id).await?;
    out.line(format!(
        "alice → bob  signed receipt  alice: {}",
        state_name(sent.state)
    ));
    expect(bob, |e| {
        matches!(e, Event::Payment { kind: MessageKind::Receipt, request_id, .. } if request_id == id)
    })
    .await?;
    out.line("            bob: receipt verified against Alice's identity");
    // The payer's thread, too, is paid only on its own app's word: Bob's wallet confirms that
    // the transfer left (the receipt is Alice's signed statement, not a settlement).
    let events = {
        let mut core = bob.client.lock().await;
        let mut l = ledger.clone();
        let verdicts = Verdict::collect(&core.engine.pending_settlements(), &mut l);
        core.engine.apply_verdicts(&verdicts, clock.now())?
    };
    let paid = events.iter().any(|e| {
        matches!(e, Event::StateChanged { request_id, to: ThreadState::Paid, .. } if request_id == id)
    });
    if !paid {
        bail!("bob's wallet did not confirm transfer {transfer}");
    }
    out.line(format!(
        "            bob's wallet confirms {transfer} left: payment-pending -> paid"
    ));
    Ok(())
}

async fn expect_payment(
    p: &mut Party,
    kind: MessageKind,
    id: &Id,
    state: ThreadState,
) -> Result<()> {
    let e = expect(p, |e| {
        matches!(e, Event::Payment { kind: k, request_id, .. } if *k == kind && request_id == id)
    })
    .await?;
    if let Event::Payment { state: got, .. } = &e
        && *got != state
    {
        bail!(
            "{}: {kind:?} left the thread {got:?}, expected {state:?}",
            p.name
        );
    }
    Ok(())
}

/// Waits for an engine event matching `want`, recording envelope sizes on the way. Refused
/// or dropped messages fail the demo.
async fn expect(p: &mut Party, want: impl Fn(&Event) -> bool) -> Result<Event> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let event = tokio::time::timeout_at(deadline, p.client.next_event())
            .await
            .map_err(|_| anyhow!("{} waited {WAIT:?} for a message that never came", p.name))?
            .ok_or_else(|| anyhow!("{}'s transport stopped", p.name))?;
        match event {
            ClientEvent::Sent { size, .. } => p.sizes.push(size),
            ClientEvent::Engine(e) if want(&e) => return Ok(e),
            ClientEvent::Engine(Event::Refused { error, .. }) => {
                bail!("{} refused a message: {error}", p.name)
            }
            ClientEvent::Dropped { error, .. } => bail!("{} dropped an envelope: {error}", p.name),
            _ => {}
        }
    }
}

fn drain(p: &mut Party) {
    while let Some(e) = p.client.try_next_event() {
        if let ClientEvent::Sent { size, .. } = e {
            p.sizes.push(size);
        }
    }
}
