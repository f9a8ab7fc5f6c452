//! Two apps, Alice (payee) and Bob (payer), over the real QUIC transport: a payment request,
//! paid and receipted through a relay, with every transport and engine event printed.
//!
//! Run against a relay started here (127.0.0.1, a free port, data in a temporary directory):
//!
//! ```sh
//! cargo run -p remit-client --example relay_pair
//! ```
//!
//! or against a running one (`remit relay` / `remit-relay` print both values):
//!
//! ```sh
//! cargo run -p remit-client --example relay_pair -- --relay 127.0.0.1:4433 --fingerprint <64 hex>
//! ```
//!
//! What an app copies from here:
//! - one `Engine<SqliteStore>` per profile, opened with `open_or_create` at start-up (keep the
//!   file: it holds the identity, the sessions and the threads), connected with
//!   `transport::Client::connect` and the relay's pinned certificate fingerprint;
//! - payment calls on the client (`request_payment`, `notify_payment`, `send_receipt`, …):
//!   each commits, then sends; offline, the envelope waits in the profile's outbox;
//! - one loop reading `next_event()`: received messages are committed before the event is
//!   reported and acked after, so nothing is lost or applied twice across a crash;
//! - settlements checked against the app's own view of the rail (`SettlementVerifier`) under
//!   `client.lock()`, never across an `.await`.

use std::{error::Error, net::SocketAddr, path::Path, process::ExitCode, time::Duration};

use remit_client::{
    Engine, Event, SqliteStore, Verdict,
    transport::{Client, ClientEvent, TransportConfig, os_rng},
};
use remit_pay::{
    Id, MessageKind, Money, Notice, PaymentMethod, PaymentRequest, RequestDraft, Settlement,
    SettlementVerifier, ThreadState, Verification,
};
use remit_relay::{Relay, RelayConfig};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// How long to wait for the other side before giving up.
const WAIT: Duration = Duration::from_secs(10);

/// The app's view of its payment provider: here every transfer settles as claimed. A real app
/// looks `notice.settlement` up in its wallet, bank or provider account.
struct MyProvider;

impl SettlementVerifier for MyProvider {
    fn verify(&mut self, _request: &PaymentRequest, notice: &Notice) -> Verification {
        Verification::Settled(notice.amount.clone())
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (relay, config) = match relay_args()? {
        Some((addr, fingerprint)) => (None, TransportConfig::new(addr, fingerprint)),
        None => {
            let relay = Relay::start(RelayConfig::new(
                "127.0.0.1:0".parse()?,
                dir.path().join("relay"),
            ))
            .await?;
            let config = TransportConfig::new(relay.local_addr(), relay.fingerprint());
            (Some(relay), config)
        }
    };
    println!(
        "relay  {} fingerprint {}",
        config.relay,
        hex::encode(config.fingerprint)
    );

    let result = walk(dir.path(), config).await;
    if let Some(relay) = relay {
        relay.shutdown().await;
    }
    result
}

async fn walk(dir: &Path, config: TransportConfig) -> Result<()> {
    // Each app opens its profile and connects (authenticates, publishes its prekeys).
    let mut alice = connect(dir, "alice", config.clone()).await?;
    drain("alice", &mut alice);
    let mut bob = connect(dir, "bob", config).await?;
    drain("bob", &mut bob);
    let (alice_addr, bob_addr) = (alice.address(), bob.address());
    println!("alice  address {}", hex::encode(alice_addr));
    println!("bob    address {}", hex::encode(bob_addr));

    // Alice learned Bob's address out of band (a QR code, a contact card): she fetches his
    // bundle from the relay and pins his identity to her contact "bob".
    alice.ensure_session(&bob_addr, Some("bob")).await?;

    // 1. Alice asks Bob for 12.50 USD.
    let now = alice.clock().now();
    let sent = alice.request_payment(&bob_addr, &draft(now)?).await?;
    let id = sent.request_id;
    println!(
        "alice  sent payment request {} ({:?})",
        short(&id),
        sent.state
    );
    drain("alice", &mut alice);

    // Bob's app receives it; it pins Alice's identity to its contact "alice" on first use and
    // shows the safety number to compare out of band.
    let Event::Payment { from, .. } = expect(&mut bob, "bob", MessageKind::Request, &id).await?
    else {
        return Err("not a payment".into());
    };
    {
        let mut core = bob.lock().await;
        core.engine.pin_peer("alice", from.identity)?;
    }
    println!("bob    safety number with alice: {}", from.safety_number);
    let (amount, method) = {
        let core = bob.lock().await;
        let request = core
            .engine
            .thread(&id)
            .ok_or("bob has no thread")?
            .request()
            .request();
        (request.amount.clone(), request.methods.first().cloned())
    };
    let Some(PaymentMethod::Provider { provider, account }) = method else {
        return Err("the request offers no provider account".into());
    };

    // 2. Bob pays on the rail (outside Remit), then tells Alice where to look.
    println!("bob    pays {amount} to {account} at {provider}, transfer tx-1001");
    let settlement = Settlement::Provider {
        provider,
        transfer_id: "tx-1001".into(),
    };
    let sent = bob
        .notify_payment(&id, amount, 0, settlement, "lunch, thanks")
        .await?;
    println!("bob    sent payment notice ({:?})", sent.state);
    drain("bob", &mut bob);

    // 3. Alice receives the notice; only her provider's word makes the request paid.
    expect(&mut alice, "alice", MessageKind::Payment, &id).await?;
    let events = {
        let mut core = alice.lock().await;
        let now = alice.clock().now();
        {
            let verdicts = Verdict::collect(&core.engine.pending_settlements(), &mut MyProvider);
            core.engine.apply_verdicts(&verdicts, now)?
        }
    };
    for event in &events {
        println!("alice  {}", describe(event));
    }
    if !paid(&events, &id) {
        return Err("alice's provider did not confirm the transfer".into());
    }

    // 4. Alice sends a signed receipt; Bob receives it, and his wallet confirms the transfer
    // left (the receipt is Alice's statement, not a settlement).
    let sent = alice.send_receipt(&id).await?;
    println!("alice  sent receipt ({:?})", sent.state);
    drain("alice", &mut alice);
    expect(&mut bob, "bob", MessageKind::Receipt, &id).await?;
    let events = {
        let mut core = bob.lock().await;
        let now = bob.clock().now();
        {
            let verdicts = Verdict::collect(&core.engine.pending_settlements(), &mut MyProvider);
            core.engine.apply_verdicts(&verdicts, now)?
        }
    };
    for event in &events {
        println!("bob    {}", describe(event));
    }
    if !paid(&events, &id) {
        return Err("bob's wallet did not confirm the transfer".into());
    }

    drain("alice", &mut alice);
    drain("bob", &mut bob);
    alice.close().await;
    bob.close().await;
    println!("done: request {} paid and receipted", short(&id));
    Ok(())
}

/// `--relay ADDR --fingerprint HEX`, both or neither.
fn relay_args() -> Result<Option<(SocketAddr, [u8; 32])>> {
    let mut relay = None;
    let mut fingerprint = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().ok_or_else(|| format!("{arg} needs a value"))?;
        match arg.as_str() {
            "--relay" => relay = Some(value.parse::<SocketAddr>()?),
            "--fingerprint" => {
                let bytes = hex::decode(&value)?;
                fingerprint = Some(
                    <[u8; 32]>::try_from(bytes.as_slice())
                        .map_err(|_| "the fingerprint is 64 hex digits")?,
                );
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    match (relay, fingerprint) {
        (Some(r), Some(f)) => Ok(Some((r, f))),
        (None, None) => Ok(None),
        _ => Err("give both --relay ADDR and --fingerprint HEX, or neither".into()),
    }
}

async fn connect(dir: &Path, name: &str, config: TransportConfig) -> Result<Client<SqliteStore>> {
    let store = SqliteStore::open(dir.join(format!("{name}.db")))?;
    let now = config.clock.now();
    let engine = Engine::open_or_create(store, now, &mut os_rng())?;
    Ok(Client::connect(engine, config).await?)
}

/// Prints `client`'s events until the payment message `kind` for `id` arrives.
async fn expect(
    client: &mut Client<SqliteStore>,
    name: &str,
    kind: MessageKind,
    id: &Id,
) -> Result<Event> {
    loop {
        let event = tokio::time::timeout(WAIT, client.next_event())
            .await
            .map_err(|_| format!("{name} waited {WAIT:?} for a {kind:?}"))?
            .ok_or("the transport stopped")?;
        print_event(name, &event);
        match event {
            ClientEvent::Engine(
                e @ Event::Payment {
                    kind: k,
                    request_id,
                    ..
                },
            ) if k == kind && request_id == *id => return Ok(e),
            ClientEvent::Engine(Event::Refused { error, .. }) => {
                return Err(format!("{name} refused a message: {error}").into());
            }
            _ => {}
        }
    }
}

/// Prints the events already waiting (an app reads them in one loop, as they come).
fn drain(name: &str, client: &mut Client<SqliteStore>) {
    while let Some(event) = client.try_next_event() {
        print_event(name, &event);
    }
}

fn print_event(name: &str, event: &ClientEvent) {
    let line = match event {
        ClientEvent::Engine(e) => describe(e),
        ClientEvent::Connected { queued } => format!("connected, {queued} queued at the relay"),
        ClientEvent::Idle => "mailbox drained".into(),
        ClientEvent::Sent { size, .. } => format!("relay holds our envelope ({size} bytes)"),
        ClientEvent::Received { size, .. } => format!("received an envelope ({size} bytes)"),
        ClientEvent::PrekeysPublished { left } => {
            format!("published one-time prekeys, relay holds {left}")
        }
        other => format!("{other:?}"),
    };
    println!("{name:<6} · {line}");
}

fn describe(event: &Event) -> String {
    match event {
        Event::Payment {
            from, kind, state, ..
        } => format!(
            "{kind:?} from {} ({}), thread now {state:?}",
            from.handle.as_deref().unwrap_or("a new contact"),
            if from.verified {
                "verified"
            } else {
                "safety number not yet compared"
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

fn paid(events: &[Event], id: &Id) -> bool {
    events.iter().any(|e| match e {
        Event::StateChanged { request_id, to, .. } => request_id == id && *to == ThreadState::Paid,
        _ => false,
    })
}

fn draft(now: u64) -> Result<RequestDraft> {
    Ok(RequestDraft {
        amount: Money::parse("12.50 USD")?,
        methods: vec![PaymentMethod::Provider {
            provider: "examplepay".into(),
            account: "@alice".into(),
        }],
        memo: "lunch on Friday".into(),
        reference: String::new(),
        payee_name: "Alice".into(),
        created_at: now,
        expires_at: now + 86_400,
        allow_partial: false,
        invoice: None,
    })
}

fn short(id: &Id) -> String {
    hex::encode(&id[..4])
}
