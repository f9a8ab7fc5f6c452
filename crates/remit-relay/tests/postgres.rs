//! The store conformance suite on PostgreSQL, each property in a fresh schema, plus what only a
//! shared store has: two stores ("nodes") on one database, migrations, wake-up hints. Skipped
//! (with a SKIP line) when `REMIT_TEST_POSTGRES` is unset, except under `CI=true`, where that
//! fails; `.ci/postgres` sets it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

mod pg;

use std::{collections::HashSet, sync::Arc, time::Duration};

use pg::TestDb;
use remit_relay::internal::store::{
    NewEnvelope, PostgresOptions, PostgresStore, Publication, Quota, Store, StoreError, Wake,
    conformance::Harness,
};
use remit_wire::session::{IdentityKey, OneTimePreKey, SignedPreKey};

struct Postgres {
    db: TestDb,
}

impl Postgres {
    fn new(test: &str) -> Option<Self> {
        Some(Self {
            db: TestDb::new(test)?,
        })
    }
}

impl Harness for Postgres {
    type Store = PostgresStore;
    fn open(&self) -> PostgresStore {
        let url = self.db.url();
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current()
                .block_on(PostgresStore::connect(&url, PostgresOptions::default()))
        })
        .unwrap()
    }
}

remit_relay::store_conformance_tests!(match Postgres::new("postgres conformance") {
    Some(h) => h,
    None => return,
});

const NOW: u64 = 1_700_000_000;
const BIG: Quota = Quota {
    max_count: 1_000_000,
    max_bytes: 1 << 40,
};

fn envelope(recipient: u8, mid: u32) -> NewEnvelope {
    let mut message_id = [0u8; 16];
    message_id[..4].copy_from_slice(&mid.to_be_bytes());
    NewEnvelope {
        recipient: [recipient; 32],
        sender: [2; 32],
        message_id,
        body: vec![7; 64],
        received_at: NOW,
        expires_at: NOW + 86_400,
    }
}

fn publication(owner: u8, ids: std::ops::Range<u32>) -> Publication {
    Publication {
        identity: IdentityKey {
            signing_key: [owner; 32],
            agreement_key: [1; 32],
            binding_signature: [2; 64],
        },
        signed_prekey: Some(SignedPreKey {
            id: 1,
            public_key: [3; 32],
            created_at: NOW,
            signature: [4; 64],
        }),
        one_time_prekeys: ids
            .map(|id| OneTimePreKey {
                id,
                public_key: [5; 32],
            })
            .collect(),
        max_one_time_prekeys: 1000,
        now: NOW,
    }
}

#[test]
fn url_options_are_split_off() {
    let (url, o) = PostgresOptions::from_url(
        "postgres://u@h:5/db?remit_writers=3&sslmode=disable&remit_notify=off",
    )
    .unwrap();
    assert_eq!(url, "postgres://u@h:5/db?sslmode=disable");
    assert_eq!((o.writers, o.notify), (3, false));
    assert_eq!(
        o.poll,
        Duration::from_millis(500),
        "without hints, poll often"
    );
    let (url, o) = PostgresOptions::from_url("postgres://h/db").unwrap();
    assert_eq!(url, "postgres://h/db");
    assert_eq!(o, PostgresOptions::default());
    assert!(matches!(
        PostgresOptions::from_url("postgres://h/db?remit_typo=1"),
        Err(StoreError::Config(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newer_schema_is_refused() {
    let Some(db) = TestDb::new("newer_schema_is_refused") else {
        return;
    };
    drop(db.open(PostgresOptions::default()).await);
    db.execute("INSERT INTO remit_schema (version, applied_at) VALUES (99, 0)");
    let err = PostgresStore::connect(&db.url(), PostgresOptions::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("schema version 99"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_together_migrate_once() {
    let Some(db) = TestDb::new("nodes_starting_together_migrate_once") else {
        return;
    };
    let db = Arc::new(db);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let db = Arc::clone(&db);
        tasks.spawn(
            async move { PostgresStore::connect(&db.url(), PostgresOptions::default()).await },
        );
    }
    let mut stores = Vec::new();
    while let Some(r) = tasks.join_next().await {
        stores.push(r.unwrap().unwrap());
    }
    let e = stores[0].enqueue(envelope(1, 1), BIG).await.unwrap();
    assert_eq!(e.sequence, 1);
}

/// Two stores ("nodes") enqueue to the same mailboxes at once: every sequence is used once, in
/// commit order, without gaps, and a message id sent through both is stored once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_mailboxes_without_gaps() {
    let Some(db) = TestDb::new("two_nodes_share_mailboxes_without_gaps") else {
        return;
    };
    let a = db.open(PostgresOptions::default()).await;
    let b = db.open(PostgresOptions::default()).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..400u32 {
        // Even ids are sent through both nodes; odd ones through `b` get an id of their own.
        let r = (i % 4) as u8;
        let f1 = a.enqueue(envelope(r, i), BIG);
        let f2 = b.enqueue(envelope(r, if i % 2 == 0 { i } else { 10_000 + i }), BIG);
        tasks.spawn(async move { (f1.await.unwrap(), f2.await.unwrap()) });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    for r in 0..4u8 {
        let expected = if r % 2 == 0 { 100 } else { 200 };
        let got = a.fetch([r; 32], 0, 1000, NOW).await.unwrap();
        let seqs: Vec<u64> = got.iter().map(|e| e.sequence).collect();
        assert_eq!(seqs, (1..=expected).collect::<Vec<_>>(), "mailbox {r}");
        let ids: HashSet<[u8; 16]> = got.iter().map(|e| e.message_id).collect();
        assert_eq!(ids.len() as u64, expected);
        assert_eq!(b.counts([r; 32]).await.unwrap().mailbox.count, expected);
    }
}

/// Concurrent bundle fetches through three stores never hand out a one-time prekey twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_time_prekeys_once_across_nodes() {
    let Some(db) = TestDb::new("one_time_prekeys_once_across_nodes") else {
        return;
    };
    let nodes = [
        db.open(PostgresOptions::default()).await,
        db.open(PostgresOptions::default()).await,
        db.open(PostgresOptions::default()).await,
    ];
    nodes[0].publish(publication(1, 0..300)).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..48 {
        let s = nodes[i % 3].clone();
        tasks.spawn(async move {
            let mut mine = Vec::new();
            for _ in 0..8 {
                if let Some(k) = s
                    .take_bundle([1; 32])
                    .await
                    .unwrap()
                    .unwrap()
                    .one_time_prekey
                {
                    mine.push(k.id);
                }
            }
            mine
        });
    }
    let mut all = Vec::new();
    while let Some(r) = tasks.join_next().await {
        all.extend(r.unwrap());
    }
    let n = all.len();
    let unique: HashSet<u32> = all.into_iter().collect();
    assert_eq!(unique.len(), n, "a one-time prekey was handed out twice");
    let left = nodes[1].counts([1; 32]).await.unwrap().one_time_prekeys;
    assert_eq!(
        n as u32 + left,
        300,
        "every key is handed out or still stored"
    );
    assert!(
        n >= 300 - 48,
        "SKIP LOCKED may fall back only under contention ({n})"
    );
}

/// A commit on one node reaches another node's listener as a hint for that recipient.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_on_one_node_wakes_the_other() {
    let Some(db) = TestDb::new("commit_on_one_node_wakes_the_other") else {
        return;
    };
    let a = db.open(PostgresOptions::default()).await;
    let b = db.open(PostgresOptions::default()).await;
    let mut hints = b.wakeups();
    // The listener announces itself with Wake::All once it listens.
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if hints.recv().await.unwrap() == Wake::All {
                break;
            }
        }
    })
    .await
    .expect("listener started");
    let mut own = a.wakeups();
    // Other tests share the server (and the channel): look for this recipient's hint.
    let recipient = 0xe7;
    a.enqueue(envelope(recipient, 1), BIG).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), async {
        while hints.recv().await.unwrap() != Wake::Identity([recipient; 32]) {}
    })
    .await
    .expect("hint in time");
    // A node ignores its own notifications (it wakes its local connections directly).
    tokio::time::sleep(Duration::from_millis(300)).await;
    while let Ok(h) = own.try_recv() {
        assert_ne!(h, Wake::Identity([recipient; 32]), "own hint");
    }
}
