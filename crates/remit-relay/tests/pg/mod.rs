//! Test support for the PostgreSQL tests: the server comes from `REMIT_TEST_POSTGRES` (a URL;
//! `.ci/postgres` starts a throwaway cluster and sets it). Unset, every PostgreSQL test prints a
//! SKIP line and passes on a developer's machine without the server, and fails under `CI=true`,
//! where `.ci/run` runs the whole test command through `.ci/postgres --run`.
//! Each [`TestDb`] is a fresh schema (dropped at the end), so tests run in parallel on one server.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    collections::HashSet,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use remit_relay::{
    internal::testkit::TestAccount,
    limits::{Limits, Rate},
};
use remit_relay_client::{Client, Event};
use std::sync::atomic::{AtomicU32, Ordering};

use remit_relay::internal::store::{PostgresOptions, PostgresStore};

/// The environment variable with the server's URL.
pub(crate) const ENV: &str = "REMIT_TEST_POSTGRES";

/// `pg_ctl` for the test cluster (set by `.ci/postgres`), for the restart test.
pub(crate) const PG_CTL_ENV: &str = "REMIT_TEST_PG_CTL";

/// The server URL, or `None` after printing why the test is skipped. Under `CI=true` a missing
/// server fails the test instead: CI must never count a test that did not run as passed.
pub(crate) fn server_url(test: &str) -> Option<String> {
    required_env(test, ENV)
}

/// The value of `var`; without it, `None` (skip, with a line saying so) on a developer's
/// machine, and a failure under `CI=true`.
pub(crate) fn required_env(test: &str, var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(value) if !value.is_empty() => Some(value),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => panic!(
            "{test}: {var} is not set, and under CI=true a test that needs PostgreSQL never \
             skips (run the tests through `bash .ci/postgres --run cargo test ...`)"
        ),
        _ => {
            eprintln!(
                "SKIP {test}: {var} is not set (run `bash .ci/postgres --run cargo test ...` to test against a throwaway PostgreSQL)"
            );
            None
        }
    }
}

/// Runs a future to completion on a private runtime in another thread (usable from sync code
/// and from inside any runtime).
pub(crate) fn run<T: Send + 'static>(f: impl Future<Output = T> + Send + 'static) -> T {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    })
    .join()
    .unwrap()
}

async fn admin(url: String, sql: String) -> Result<(), tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
    let task = tokio::spawn(connection);
    let r = client.batch_execute(&sql).await;
    drop(client);
    let _ = task.await;
    r
}

/// A fresh schema on the test server.
pub(crate) struct TestDb {
    base: String,
    schema: String,
}

impl TestDb {
    /// A new empty schema, or `None` (skip) without a server.
    pub(crate) fn new(test: &str) -> Option<Self> {
        static N: AtomicU32 = AtomicU32::new(0);
        let base = server_url(test)?;
        let schema = format!(
            "remit_t{}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        run(admin(base.clone(), format!("CREATE SCHEMA {schema}")))
            .unwrap_or_else(|e| panic!("{ENV}: cannot create a schema: {e}"));
        Some(Self { base, schema })
    }

    /// The URL whose sessions use this schema.
    pub(crate) fn url(&self) -> String {
        let sep = if self.base.contains('?') { '&' } else { '?' };
        format!(
            "{}{sep}options=-c%20search_path%3D{}",
            self.base, self.schema
        )
    }

    /// [`Self::url`] with `remit_*` options appended.
    pub(crate) fn url_with(&self, remit_params: &str) -> String {
        format!("{}&{remit_params}", self.url())
    }

    /// The schema name.
    pub(crate) fn schema(&self) -> &str {
        &self.schema
    }

    /// Opens a store (from async code).
    pub(crate) async fn open(&self, options: PostgresOptions) -> PostgresStore {
        PostgresStore::connect(&self.url(), options).await.unwrap()
    }

    /// Runs SQL in this schema.
    pub(crate) fn execute(&self, sql: &str) {
        run(admin(self.url(), sql.to_owned())).unwrap();
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = run(admin(
            self.base.clone(),
            format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema),
        ));
    }
}

// ---- Multi-node load helpers ----------------------------------------------------------------

/// A relay node as clients see it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Node {
    pub(crate) addr: SocketAddr,
    pub(crate) fingerprint: [u8; 32],
}

/// Limits that never rate-limit a load test.
pub(crate) fn unlimited() -> Limits {
    let fast = Rate {
        burst: 1_000_000,
        per_second: 1_000_000,
    };
    Limits {
        identity_rate: fast,
        address_rate: fast,
        connect_rate: fast,
        ..Limits::default()
    }
}

/// The same limits as a `relay.toml` for the binary.
pub(crate) const UNLIMITED_TOML: &str = "[limits]
identity_rate = { burst = 1000000, per_second = 1000000 }
address_rate = { burst = 1000000, per_second = 1000000 }
connect_rate = { burst = 1000000, per_second = 1000000 }
";

/// A message id naming its sender, recipient and counter.
pub(crate) fn message_id(sender: u8, recipient: u8, n: u32) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[0] = sender;
    m[1] = recipient;
    m[2..6].copy_from_slice(&n.to_be_bytes());
    m
}

/// Connects to the first node that answers, starting at `start`, skipping dead ones.
pub(crate) async fn connect_any(
    nodes: &[Node],
    start: usize,
    who: &TestAccount,
    dead: &Mutex<HashSet<usize>>,
) -> (usize, Client) {
    for attempt in 0..200 {
        let i = (start + attempt) % nodes.len();
        if dead.lock().unwrap().contains(&i) {
            continue;
        }
        let n = nodes[i];
        if let Ok(Ok(c)) = tokio::time::timeout(
            Duration::from_secs(3),
            Client::connect(n.addr, n.fingerprint, who),
        )
        .await
        {
            return (i, c);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no node accepts connections");
}

/// When a receiver has everything it waits for.
pub(crate) type Expected = Arc<dyn Fn(&HashSet<[u8; 16]>) -> bool + Send + Sync>;

/// Waits for all of `ids`.
pub(crate) fn expect_all(ids: HashSet<[u8; 16]>) -> Expected {
    Arc::new(move |got: &HashSet<[u8; 16]>| ids.is_subset(got))
}

/// What a receiving app saw: unique messages (what the app keeps) and raw deliveries.
#[derive(Debug, Default)]
pub(crate) struct AppInbox {
    pub(crate) unique: HashSet<[u8; 16]>,
    pub(crate) raw: usize,
    pub(crate) moves: usize,
}

/// After a failure: every receiver in `receivers` (receiver `j` is recipient byte `j` of
/// [`message_id`]) drains what `acked` holds for it from whichever node in `nodes` is alive, and
/// the ids that reached the apps come back, for the caller to compare with `acked`.
pub(crate) async fn deliver_acknowledged(
    nodes: &[Node],
    receivers: &[Arc<TestAccount>],
    acked: &HashSet<[u8; 16]>,
    dead: &Arc<Mutex<HashSet<usize>>>,
) -> HashSet<[u8; 16]> {
    let mut inboxes = tokio::task::JoinSet::new();
    for (j, who) in receivers.iter().enumerate() {
        let mine: HashSet<[u8; 16]> = acked
            .iter()
            .filter(|m| usize::from(m[1]) == j)
            .copied()
            .collect();
        inboxes.spawn(receive(
            nodes.to_vec(),
            j,
            Arc::clone(who),
            expect_all(mine),
            None,
            Duration::from_secs(15),
            Arc::clone(dead),
        ));
    }
    let mut delivered = HashSet::new();
    while let Some(inbox) = inboxes.join_next().await {
        delivered.extend(inbox.unwrap().unique);
    }
    delivered
}

/// Receives as an app does: deduplicates by message id, acks after "processing". With
/// `move_every`, it leaves its node after that many new messages without acking the last one
/// (so it is delivered again elsewhere). Stops when `expected` says everything arrived or after
/// `quiet` without any delivery. A node in `dead` is left at once.
pub(crate) async fn receive(
    nodes: Vec<Node>,
    start: usize,
    who: Arc<TestAccount>,
    expected: Expected,
    move_every: Option<usize>,
    quiet: Duration,
    dead: Arc<Mutex<HashSet<usize>>>,
) -> AppInbox {
    let mut inbox = AppInbox::default();
    let (mut at, mut client) = connect_any(&nodes, start, &who, &dead).await;
    let mut since_move = 0;
    let mut last = tokio::time::Instant::now();
    loop {
        if expected(&inbox.unique) {
            client.close().await;
            return inbox;
        }
        if last.elapsed() > quiet {
            client.close().await;
            return inbox;
        }
        let event = tokio::time::timeout(Duration::from_millis(250), client.next_event()).await;
        let node_dead = dead.lock().unwrap().contains(&at);
        match event {
            Ok(Some(Event::Deliver(d))) => {
                last = tokio::time::Instant::now();
                inbox.raw += 1;
                let new = inbox.unique.insert(d.message_id.to_bytes());
                if new {
                    since_move += 1;
                }
                let leave = move_every.is_some_and(|m| new && since_move >= m);
                if leave {
                    // Processed but not acknowledged: the relay will deliver it again.
                    since_move = 0;
                    inbox.moves += 1;
                    client.close().await;
                    (at, client) = connect_any(&nodes, at + 1, &who, &dead).await;
                } else {
                    // A failed ack only means a later duplicate, which the app drops.
                    let _ =
                        tokio::time::timeout(Duration::from_secs(2), client.ack(vec![d.sequence]))
                            .await;
                }
            }
            Ok(None) => {
                (at, client) = connect_any(&nodes, at + 1, &who, &dead).await;
            }
            Err(_) if node_dead => {
                client.connection().close(0u32.into(), b"node died");
                (at, client) = connect_any(&nodes, at + 1, &who, &dead).await;
            }
            Ok(Some(_)) | Err(_) => {}
        }
    }
}

/// What a sender learned: ids the relay acknowledged, and errors seen.
#[derive(Debug, Default)]
pub(crate) struct SendLog {
    pub(crate) acked: HashSet<[u8; 16]>,
    pub(crate) errors: usize,
}

/// Sends `ids` in order to `recipient`, retrying each (same id: idempotent) until the relay
/// acknowledges it, moving to another node when the connection fails or its node is dead. Stops
/// early when `stop` is set.
pub(crate) async fn send_all(
    nodes: Vec<Node>,
    start: usize,
    who: Arc<TestAccount>,
    messages: Vec<([u8; 32], [u8; 16])>,
    dead: Arc<Mutex<HashSet<usize>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> SendLog {
    let mut log = SendLog::default();
    let (mut at, mut client) = connect_any(&nodes, start, &who, &dead).await;
    for (recipient, id) in messages {
        loop {
            if stop.load(Ordering::Relaxed) {
                client.close().await;
                return log;
            }
            let r = tokio::time::timeout(
                Duration::from_secs(2),
                client.send(recipient.into(), id.into(), vec![0x5a; 200]),
            )
            .await;
            match r {
                Ok(Ok(_)) => {
                    log.acked.insert(id);
                    break;
                }
                Ok(Err(e)) => {
                    log.errors += 1;
                    if client.connection().close_reason().is_some()
                        || dead.lock().unwrap().contains(&at)
                        || matches!(e, remit_relay_client::RelayError::Closed)
                    {
                        client.connection().close(0u32.into(), b"moving");
                        (at, client) = connect_any(&nodes, at + 1, &who, &dead).await;
                    } else {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
                Err(_) => {
                    log.errors += 1;
                    client.connection().close(0u32.into(), b"timed out");
                    (at, client) = connect_any(&nodes, at + 1, &who, &dead).await;
                }
            }
        }
    }
    client.close().await;
    log
}
