//! The store conformance suite on the SQLite backend, each property on a fresh database file.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

use remit_relay::internal::store::{SqliteStore, conformance::Harness};

struct Sqlite {
    dir: tempfile::TempDir,
}

impl Sqlite {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }
}

impl Harness for Sqlite {
    type Store = SqliteStore;
    fn open(&self) -> SqliteStore {
        SqliteStore::open(self.dir.path().join("relay.sqlite3")).unwrap()
    }
}

remit_relay::store_conformance_tests!(Sqlite::new());

#[test]
fn pragmas_are_wal_and_full() {
    let h = Sqlite::new();
    let s = h.open();
    drop(s);
    let conn = rusqlite::Connection::open(h.dir.path().join("relay.sqlite3")).unwrap();
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let strict: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND sql LIKE '%STRICT%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(strict, 5, "every table is STRICT");
}

#[test]
fn newer_schema_is_refused() {
    let h = Sqlite::new();
    drop(h.open());
    let conn = rusqlite::Connection::open(h.dir.path().join("relay.sqlite3")).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = SqliteStore::open(h.dir.path().join("relay.sqlite3")).unwrap_err();
    assert!(err.to_string().contains("schema version 99"), "{err}");
}

mod sqlite_only {
    use remit_relay::internal::store::{NewEnvelope, Quota, SqliteStore, Store, StoreError};

    const BIG: Quota = Quota {
        max_count: 1_000,
        max_bytes: 1 << 20,
    };

    fn envelope(mid: u8) -> NewEnvelope {
        NewEnvelope {
            recipient: [1; 32],
            sender: [2; 32],
            message_id: [mid; 16],
            body: vec![mid; 10],
            received_at: 1_700_000_000,
            expires_at: 1_800_000_000,
        }
    }

    /// A store in a fresh directory (kept alive by the returned guard) holding envelopes 1 and
    /// 2 of mailbox `[1; 32]`, and the database file's path.
    async fn two_queued() -> (tempfile::TempDir, std::path::PathBuf, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.sqlite3");
        let s = SqliteStore::open(&path).unwrap();
        assert_eq!(s.enqueue(envelope(1), BIG).await.unwrap().sequence, 1);
        assert_eq!(s.enqueue(envelope(2), BIG).await.unwrap().sequence, 2);
        (dir, path, s)
    }

    /// A failure while the writer writes its cached mailbox rows (here a trigger that refuses
    /// a mailbox reaching 3 envelopes) rolls back the whole batch, whether it happens before
    /// `COMMIT` or before a purge in the middle of a batch; afterwards the mailbox continues
    /// from what was committed, with no sequence skipped or reused.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_mailbox_write_rolls_back_the_batch_and_the_cache() {
        let (_dir, path, s) = two_queued().await;
        let admin = rusqlite::Connection::open(&path).unwrap();
        admin
            .execute_batch(
                "CREATE TRIGGER refuse_third BEFORE UPDATE ON mailboxes WHEN NEW.count = 3
                 BEGIN SELECT RAISE(ABORT, 'injected'); END;",
            )
            .unwrap();

        // Before COMMIT: the third envelope's batch fails and stores nothing.
        match s.enqueue(envelope(3), BIG).await {
            Err(StoreError::Sqlite(_)) => {}
            other => panic!("expected the injected failure, got {other:?}"),
        }
        // Before a purge (which finds nothing expired): when the writer takes both in one
        // batch, the failure before the purge fails both; otherwise the purge runs alone.
        let third = s.enqueue(envelope(3), BIG);
        let purge = s.purge_expired(1_700_000_000, 10);
        assert!(third.await.is_err());
        match purge.await {
            Ok(0) | Err(StoreError::Sqlite(_)) => {}
            other => panic!("expected nothing purged or the injected failure, got {other:?}"),
        }
        let counts = s.counts([1; 32]).await.unwrap().mailbox;
        assert_eq!((counts.count, counts.bytes), (2, 20));

        admin.execute_batch("DROP TRIGGER refuse_third").unwrap();
        assert_eq!(s.enqueue(envelope(3), BIG).await.unwrap().sequence, 3);
        assert_eq!(s.enqueue(envelope(4), BIG).await.unwrap().sequence, 4);
        let got: Vec<u64> = s
            .fetch([1; 32], 0, 10, 1_700_000_000)
            .await
            .unwrap()
            .iter()
            .map(|e| e.sequence)
            .collect();
        assert_eq!(got, vec![1, 2, 3, 4]);
        let counts = s.counts([1; 32]).await.unwrap().mailbox;
        assert_eq!((counts.count, counts.bytes), (4, 40));
    }

    /// Another connection emptying the tables (an operator's tool, the fuzz harness between
    /// inputs) is seen by the writer: the mailbox starts again at sequence 1 instead of
    /// continuing from rows the writer remembered.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn another_connections_commit_is_seen_by_the_writer() {
        let (_dir, path, s) = two_queued().await;
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch("BEGIN IMMEDIATE; DELETE FROM envelopes; DELETE FROM mailboxes; COMMIT;")
            .unwrap();
        let again = s.enqueue(envelope(1), BIG).await.unwrap();
        assert_eq!((again.sequence, again.duplicate), (1, false));
        let counts = s.counts([1; 32]).await.unwrap().mailbox;
        assert_eq!((counts.count, counts.bytes), (1, 10));
    }
}
