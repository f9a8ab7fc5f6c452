//! The store conformance suite on the SQLite backend, each property on a fresh database file.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

use remit_relay::store::{SqliteStore, conformance::Harness};

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
