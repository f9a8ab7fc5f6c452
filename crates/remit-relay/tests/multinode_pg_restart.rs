//! PostgreSQL itself restarts (fast shutdown: open sessions are terminated) while clients send
//! through three relay nodes: senders get errors or acknowledgements, never a false ack; every
//! acknowledged envelope survives; the nodes recover without a restart of their own. Its own test
//! binary, because it stops the server every other test uses. Needs `REMIT_TEST_POSTGRES` and
//! `REMIT_TEST_PG_CTL` (both set by `.ci/postgres`); skipped otherwise.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

mod pg;

use std::{
    collections::HashSet,
    sync::{Arc, Mutex, atomic::AtomicBool},
    time::Duration,
};

use pg::{Node, TestDb, deliver_acknowledged, message_id, send_all};
use remit_relay::{Relay, RelayConfig, internal::testkit::TestAccount};

fn pg_ctl(args: &[&str]) {
    let ctl = std::env::var(pg::PG_CTL_ENV).unwrap();
    let status = std::process::Command::new(ctl)
        .args(args)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "pg_ctl {args:?}: {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_fast_restart_under_load_keeps_every_acknowledged_envelope() {
    if pg::required_env("postgres restart", pg::PG_CTL_ENV).is_none() {
        return;
    }
    let Some(db) = TestDb::new("postgres restart") else {
        return;
    };
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut relays = Vec::new();
    for dir in &dirs {
        let config = RelayConfig {
            limits: pg::unlimited(),
            ..RelayConfig::new("127.0.0.1:0".parse().unwrap(), dir.path().to_path_buf())
        };
        relays.push(Relay::start_postgres(config, &db.url()).await.unwrap());
    }
    let nodes: Vec<Node> = relays
        .iter()
        .map(|r| Node {
            addr: r.local_addr(),
            fingerprint: r.fingerprint(),
        })
        .collect();
    let dead = Arc::new(Mutex::new(HashSet::new()));
    let receivers: Vec<Arc<TestAccount>> =
        (0..3).map(|j| Arc::new(TestAccount::new(90 + j))).collect();
    let load = |phase: u8, count: u32, stop: &Arc<AtomicBool>| {
        let mut sends = tokio::task::JoinSet::new();
        for i in 0..6u8 {
            let who = Arc::new(TestAccount::new(30 + i));
            let messages: Vec<_> = (0..count)
                .map(|n| {
                    let j = (n % 3) as u8;
                    (
                        receivers[usize::from(j)].id(),
                        message_id(i + 16 * phase, j, n),
                    )
                })
                .collect();
            sends.spawn(send_all(
                nodes.clone(),
                usize::from(i),
                who,
                messages,
                Arc::clone(&dead),
                Arc::clone(stop),
            ));
        }
        sends
    };

    // Phase 0: load across the restart.
    let stop = Arc::new(AtomicBool::new(false));
    let mut sends = load(0, 100_000, &stop);
    tokio::time::sleep(Duration::from_millis(600)).await;
    tokio::task::spawn_blocking(|| {
        pg_ctl(&["stop", "-m", "fast"]);
        std::thread::sleep(Duration::from_millis(1500));
        pg_ctl(&["start"]);
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut acked = HashSet::new();
    let mut errors = 0;
    while let Some(log) = sends.join_next().await {
        let log = log.unwrap();
        acked.extend(log.acked);
        errors += log.errors;
    }
    assert!(errors > 0, "the outage was visible to senders");
    // Phase 1: after the restart every send is acknowledged again (send_all retries until it is).
    let never = Arc::new(AtomicBool::new(false));
    let mut sends = load(1, 30, &never);
    let mut after = 0;
    while let Some(log) = tokio::time::timeout(Duration::from_secs(60), sends.join_next())
        .await
        .expect("nodes recover after the restart")
    {
        let log = log.unwrap();
        after += log.acked.len();
        acked.extend(log.acked);
    }
    assert_eq!(after, 6 * 30);

    let delivered = deliver_acknowledged(&nodes, &receivers, &acked, &dead).await;
    let lost = acked.difference(&delivered).count();
    eprintln!(
        "postgres restart: {} acknowledged ({after} after the restart), {errors} send errors \
         during the outage, {} delivered, {lost} lost",
        acked.len(),
        delivered.len()
    );
    assert_eq!(lost, 0, "acknowledged envelopes lost");
    for r in relays {
        r.shutdown().await;
    }
}
