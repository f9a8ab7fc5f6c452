//! Migrations: a `remit_schema` table records every applied version; each migration runs in its
//! own transaction together with the row that records it, so a crash leaves either all of it or
//! none. Several relay nodes may start at once: the loser of a concurrent first migration fails on
//! the catalog or on `remit_schema`'s primary key, rolls back, and re-reads the version.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio_postgres::Client;

use super::{StoreError, pg_error};

/// The schema version this build writes (a row of `remit_schema`).
pub const SCHEMA_VERSION: i64 = 1;

/// Version 1: mailboxes, envelopes and the prekey directory, as in the SQLite backend. Only
/// `BIGINT`, `BYTEA`, primary keys and plain B-tree indexes.
const V1: &str = "
CREATE TABLE IF NOT EXISTS mailboxes (
    recipient BYTEA PRIMARY KEY,
    next_seq BIGINT NOT NULL,
    queued_count BIGINT NOT NULL,
    queued_bytes BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS envelopes (
    recipient BYTEA NOT NULL,
    seq BIGINT NOT NULL,
    message_id BYTEA NOT NULL,
    sender BYTEA NOT NULL,
    received_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    body BYTEA NOT NULL,
    PRIMARY KEY (recipient, seq)
);
CREATE UNIQUE INDEX IF NOT EXISTS envelopes_message_id ON envelopes (recipient, message_id);
CREATE INDEX IF NOT EXISTS envelopes_expiry ON envelopes (expires_at);
CREATE TABLE IF NOT EXISTS identities (
    signing_key BYTEA PRIMARY KEY,
    agreement_key BYTEA NOT NULL,
    binding_signature BYTEA NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS signed_prekeys (
    owner BYTEA PRIMARY KEY,
    id BIGINT NOT NULL,
    public_key BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    signature BYTEA NOT NULL
);
CREATE TABLE IF NOT EXISTS one_time_prekeys (
    owner BYTEA NOT NULL,
    id BIGINT NOT NULL,
    public_key BYTEA NOT NULL,
    PRIMARY KEY (owner, id)
);
";

/// `(version, SQL)`, ascending.
const MIGRATIONS: &[(i64, &str)] = &[(1, V1)];

enum Failure {
    Store(StoreError),
    Db(tokio_postgres::Error),
}

impl From<tokio_postgres::Error> for Failure {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Db(e)
    }
}

/// Brings the schema to [`SCHEMA_VERSION`].
pub(super) async fn migrate(client: &Client) -> Result<(), StoreError> {
    let mut attempt = 0u64;
    loop {
        match try_migrate(client).await {
            Ok(()) => return Ok(()),
            Err(Failure::Store(e)) => return Err(e),
            Err(Failure::Db(e)) => {
                let _ = client.batch_execute("ROLLBACK").await;
                attempt += 1;
                if attempt >= 5 || client.is_closed() {
                    return Err(pg_error(&e));
                }
                tracing::debug!(error = %e, "concurrent migration; retrying");
                tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
            }
        }
    }
}

async fn current_version(client: &Client) -> Result<i64, Failure> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS remit_schema (
                 version BIGINT PRIMARY KEY,
                 applied_at BIGINT NOT NULL
             )",
        )
        .await?;
    let row = client
        .query_one("SELECT max(version) FROM remit_schema", &[])
        .await?;
    Ok(row.try_get::<_, Option<i64>>(0)?.unwrap_or(0))
}

async fn try_migrate(client: &Client) -> Result<(), Failure> {
    let current = current_version(client).await?;
    if current > SCHEMA_VERSION {
        return Err(Failure::Store(StoreError::UnknownSchema {
            got: current,
            supported: SCHEMA_VERSION,
        }));
    }
    let now = i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    )
    .unwrap_or(i64::MAX);
    for &(version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        client.batch_execute("BEGIN").await?;
        client.batch_execute(sql).await?;
        client
            .execute(
                "INSERT INTO remit_schema (version, applied_at) VALUES ($1, $2)",
                &[&version, &now],
            )
            .await?;
        client.batch_execute("COMMIT").await?;
        tracing::info!(version, "postgres schema migrated");
    }
    Ok(())
}
