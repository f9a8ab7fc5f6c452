//! Crash durability: the relay binary is flooded and killed with SIGKILL at varying moments,
//! several times; every envelope it acknowledged must be delivered afterwards (duplicates are
//! allowed and counted, losses are not). Finally SIGTERM must stop it cleanly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    collections::HashSet,
    process::{Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use remit_relay::internal::testkit::{RelayChild, TestAccount};
use remit_relay_client::{Client, Event};

const KILLS: usize = 4;
const SENDERS: usize = 16;

fn spawn_relay(dir: &std::path::Path) -> RelayChild {
    RelayChild::spawn(
        Command::new(env!("CARGO_BIN_EXE_remit-relay"))
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir)
            .env("RUST_LOG", "warn")
            .stderr(Stdio::null()),
    )
}

fn mid(n: u32) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[..4].copy_from_slice(&n.to_be_bytes());
    m
}

fn jitter_ms(round: usize) -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    100 + (u64::from(nanos) + round as u64 * 97) % 400
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_never_loses_an_acknowledged_envelope() {
    let dir = tempfile::tempdir().unwrap();
    let alice = Arc::new(TestAccount::new(1));
    let bob = TestAccount::new(2);
    let acked: Arc<Mutex<HashSet<u32>>> = Arc::default();
    let next = Arc::new(AtomicU32::new(0));

    for round in 0..KILLS {
        let mut relay = tokio::task::spawn_blocking({
            let dir = dir.path().to_path_buf();
            move || spawn_relay(&dir)
        })
        .await
        .unwrap();
        let client = Arc::new(
            Client::connect(relay.addr(), relay.fingerprint(), &*alice)
                .await
                .unwrap(),
        );
        let mut senders = tokio::task::JoinSet::new();
        for _ in 0..SENDERS {
            let (client, acked, next, to) = (
                Arc::clone(&client),
                Arc::clone(&acked),
                Arc::clone(&next),
                bob.id(),
            );
            senders.spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    match client.send(to.into(), mid(n).into(), vec![0xab; 256]).await {
                        Ok(_) => {
                            acked.lock().unwrap().insert(n);
                        }
                        Err(_) => return,
                    }
                }
            });
        }
        tokio::time::sleep(Duration::from_millis(jitter_ms(round))).await;
        relay.kill(); // SIGKILL
        // A killed relay sends no close; don't wait for the idle timeout to notice.
        client.connection().close(0u32.into(), b"relay killed");
        while senders.join_next().await.is_some() {}
    }

    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 100,
        "the flood got envelopes through ({})",
        acked.len()
    );

    let mut relay = tokio::task::spawn_blocking({
        let dir = dir.path().to_path_buf();
        move || spawn_relay(&dir)
    })
    .await
    .unwrap();
    let mut b = Client::connect(relay.addr(), relay.fingerprint(), &bob)
        .await
        .unwrap();
    let mut delivered = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(30), b.next_event())
            .await
            .unwrap()
        {
            Some(Event::Deliver(d)) => {
                delivered.push(u32::from_be_bytes(
                    d.message_id.as_bytes()[..4].try_into().unwrap(),
                ));
            }
            Some(Event::QueueEmpty { .. }) => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    let unique: HashSet<u32> = delivered.iter().copied().collect();
    let lost: Vec<u32> = acked.difference(&unique).copied().collect();
    let duplicates = delivered.len() - unique.len();
    eprintln!(
        "kill test: {} acknowledged, {} delivered, {} unacknowledged but stored, {} duplicates, {} lost",
        acked.len(),
        delivered.len(),
        unique.len().saturating_sub(acked.len()),
        duplicates,
        lost.len()
    );
    assert!(lost.is_empty(), "acknowledged envelopes lost: {lost:?}");
    assert_eq!(
        duplicates, 0,
        "the store keeps (recipient, message_id) unique"
    );

    // Graceful stop on SIGTERM.
    b.close().await;
    let status = Command::new("kill")
        .args(["-TERM", &relay.child().id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || relay.child().wait().unwrap())
        .await
        .unwrap();
    assert!(exit.success(), "relay exit status after SIGTERM: {exit:?}");
}
