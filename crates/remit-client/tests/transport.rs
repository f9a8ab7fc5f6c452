//! The QUIC transport against an in-process relay on loopback.
#![cfg(feature = "transport")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use remit_client::{
    Engine, Event, SqliteStore,
    transport::{Client, ClientEvent, TransportConfig, TransportError, os_rng},
};
use remit_pay::{Money, PaymentMethod, RequestDraft, ThreadState};
use remit_relay::{Relay, RelayConfig};

const WAIT: Duration = Duration::from_secs(10);

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
        expires_at: now + 3600,
        allow_partial: false,
        invoice: None,
    }
}

async fn next_engine_event(c: &mut Client<SqliteStore>) -> Event {
    loop {
        match tokio::time::timeout(WAIT, c.next_event()).await.unwrap() {
            Some(ClientEvent::Engine(e)) => return e,
            Some(_) => {}
            None => panic!("transport stopped"),
        }
    }
}

fn engine(dir: &std::path::Path, name: &str) -> Engine<SqliteStore> {
    let store = SqliteStore::open(dir.join(format!("{name}.db"))).unwrap();
    Engine::open_or_create(store, 1_700_000_000, &mut os_rng()).unwrap()
}

/// A relay; Bob registered (his prekeys published) and gone; Alice with a session to Bob, her
/// transport closed and her engine in hand.
struct Offline {
    relay: Relay,
    config: TransportConfig,
    bob_addr: [u8; 32],
    alice: Engine<SqliteStore>,
}

async fn alice_offline_with_a_session_to_bob(dir: &std::path::Path) -> Offline {
    let relay = Relay::start(RelayConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        dir.join("relay"),
    ))
    .await
    .unwrap();
    let config = TransportConfig::new(relay.local_addr(), relay.fingerprint());
    let bob = Client::connect(engine(dir, "bob"), config.clone())
        .await
        .unwrap();
    let bob_addr = bob.address();
    bob.close().await.unwrap();
    let alice = Client::connect(engine(dir, "alice"), config.clone())
        .await
        .unwrap();
    alice.ensure_session(&bob_addr, Some("bob")).await.unwrap();
    let alice = alice.close().await.unwrap();
    Offline {
        relay,
        config,
        bob_addr,
        alice,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_committed_offline_is_sent_on_connect_and_prekeys_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    // Alice then commits a request while her transport is down: the envelope waits in the
    // engine's outbox, in her SQLite file.
    let Offline {
        relay,
        config,
        bob_addr,
        alice: mut alice_engine,
    } = alice_offline_with_a_session_to_bob(dir.path()).await;
    let sent = alice_engine
        .request_payment(&bob_addr, &draft(now()), now(), &mut os_rng())
        .unwrap();
    assert_eq!(alice_engine.pending_outgoing().len(), 1);
    drop(alice_engine);

    // Restarted from the store, the transport sends the outbox on connect.
    let alice = Client::connect(engine(dir.path(), "alice"), config.clone())
        .await
        .unwrap();
    assert!(alice.lock().await.engine.pending_outgoing().is_empty());

    let mut bob = Client::connect(engine(dir.path(), "bob"), config.clone())
        .await
        .unwrap();
    match next_engine_event(&mut bob).await {
        Event::Payment {
            request_id, state, ..
        } => {
            assert_eq!(request_id, sent.request_id);
            assert_eq!(state, ThreadState::Issued);
        }
        other => panic!("expected the request, got {other:?}"),
    }
    // Bob's one-time prekey was used; the relay still holds at least the minimum.
    assert!(bob.lock().await.engine.one_time_prekey_count() >= 20);
    alice.close().await;
    bob.close().await;
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_fingerprint_and_unknown_peer_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(RelayConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        dir.path().join("relay"),
    ))
    .await
    .unwrap();
    let wrong = TransportConfig::new(relay.local_addr(), [0; 32]);
    match Client::connect(engine(dir.path(), "a"), wrong).await {
        Err(TransportError::WrongFingerprint { .. }) => {}
        other => panic!("expected WrongFingerprint, got {other:?}"),
    }
    let config = TransportConfig::new(relay.local_addr(), relay.fingerprint());
    let alice = Client::connect(engine(dir.path(), "a"), config)
        .await
        .unwrap();
    match alice.ensure_session(&[7; 32], None).await {
        Err(TransportError::UnknownPeer { .. }) => {}
        other => panic!("expected UnknownPeer, got {other:?}"),
    }
    alice.close().await;
    relay.shutdown().await;
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An outbox of many envelopes, committed offline, leaves in one pipelined flush on connect:
/// every text reaches the peer exactly once and in order, and the outbox is empty after a
/// single commit of the sent marks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_outbox_is_sent_pipelined_and_in_order() {
    const TEXTS: usize = 300;
    let dir = tempfile::tempdir().unwrap();
    let Offline {
        relay,
        config,
        bob_addr,
        alice: mut alice_engine,
    } = alice_offline_with_a_session_to_bob(dir.path()).await;
    for i in 0..TEXTS {
        alice_engine
            .send_text(&bob_addr, &format!("text {i}"), &mut os_rng())
            .unwrap();
    }
    assert_eq!(alice_engine.pending_outgoing().len(), TEXTS);
    drop(alice_engine);

    // More than one flush window (128) in flight order; all acknowledged by the relay.
    let alice = Client::connect(engine(dir.path(), "alice"), config.clone())
        .await
        .unwrap();
    assert!(alice.lock().await.engine.pending_outgoing().is_empty());

    let mut bob = Client::connect(engine(dir.path(), "bob"), config)
        .await
        .unwrap();
    for i in 0..TEXTS {
        match next_engine_event(&mut bob).await {
            Event::Text { text, .. } => assert_eq!(text, format!("text {i}")),
            other => panic!("expected text {i}, got {other:?}"),
        }
    }
    alice.close().await;
    bob.close().await;
    relay.shutdown().await;
}
