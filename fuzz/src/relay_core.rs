//! `relay_core`: the relay's per-connection core (`RelayConnection`) under arbitrary frame
//! sequences from four connections, with its store operations carried out against the real
//! `SqliteStore` and checked against a model of the store.
//!
//! The harness plays the quinn shell (the relay's server module): it feeds frames (built from the
//! input, sent as a decoded frame or as encoded bytes, or raw garbage bytes), runs every
//! `Action::Store` on the store at once (submission order is commit order, as in the shell)
//! and hands the result back either at once or later (`defer`, `Complete`: results arrive
//! out of order and after other frames, as with pipelining), delivers mailboxes the way the
//! shell's delivery task does (`fetch` after a per-connection cursor, `deliver_frame`),
//! purges expired envelopes, advances the clock, drops and reconnects connections. The
//! identities are three fixed accounts (built once) and a few strangers; auth signatures are
//! valid, made for another connection's nonce, made by another account, bit-flipped, random
//! or short.
//!
//! The store is one `SqliteStore` per process on a fresh directory (tmpfs when there is one,
//! so a commit's fsync is cheap), emptied at the start of every input, so every input starts
//! from the same state and runs deterministically.
//!
//! Invariants:
//! - nothing panics (core, store, frames);
//! - a connection that is not authenticated gets only error frames (and a close) for
//!   anything but `Hello` (answered by the challenge with its nonce) and `Auth`; its only store
//!   operation is the `Counts` lookup after a valid `Auth`, and only for the identity of its
//!   `Hello`; an `Auth` is accepted exactly when its signature is the claimed identity's over
//!   this connection's nonce and exporter, and otherwise closes the connection;
//! - `Authenticated` comes only from the `Counts` result of a valid `Auth`, for that identity;
//! - an authenticated connection's store operations are bound to its identity: it sends as
//!   itself, acks only its own mailbox, publishes only its own identity, and what it publishes
//!   verifies (identity binding, signed prekey);
//! - a closed connection answers nothing;
//! - the store agrees with the model: sequence numbers, duplicates by `(recipient,
//!   message_id)`, quotas, ack counts (own mailbox only), publication counts and their limit,
//!   bundles, purges, counts at authentication and at the end of the input;
//! - a one-time prekey is never handed out twice: every one handed out is one the model still
//!   holds for that owner (published and not yet handed out), and is then gone; while one is
//!   held, a bundle carries one;
//! - an envelope is only delivered to its recipient, in sequence order, exactly as stored,
//!   once per connection; an acked envelope is never delivered again;
//! - every result frame answers its request id with exactly the store's outcome (`AuthOk`
//!   counts, `SendOk` id and duplicate flag, the bundle handed out, `Acked`, quota errors).

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    net::{IpAddr, Ipv4Addr},
    path::{Path, PathBuf},
    sync::{Arc, Mutex, OnceLock, PoisonError},
    time::{Duration, Instant},
};

use arbitrary::{Arbitrary, Unstructured};
use rand::{SeedableRng, rngs::ChaCha20Rng};
use remit_relay::{
    internal::{
        core::{
            Action, CloseReason, ConnectionParams, Now, RelayConnection, StoreOp, StoreOutcome,
            deliver_frame,
        },
        rate::RateLimiter,
        store::{
            Enqueued, IdentityId, MailboxStats, NewEnvelope, OwnerCounts, Quota, SqliteStore,
            Store, StoreError, StoredBundle, StoredEnvelope,
        },
    },
    limits::{Limits, MAX_STORED_ONE_TIME_PREKEYS, PURGE_BATCH, Rate},
};
use remit_relay_proto::auth::sign_auth;
use remit_session::{Account, VerifiedBundle, VerifiedIdentity};
use remit_wire::{
    decode_client_frame, encode,
    limits::{MAX_ACKS_PER_FRAME, MAX_PREKEYS_PER_PUBLISH},
    session::{IdentityKey, OneTimePreKey, PreKeyBundle, SignedPreKey},
    split_frame,
    v1::{self, RelayErrorCode, client_frame, server_frame},
};

/// Connections per input.
const CONNS: usize = 4;
/// Fixed accounts.
const PARTIES: usize = 3;
/// Most operations per input.
const MAX_OPS: usize = 48;
/// Unix time at the start of every input.
const START: u64 = 1_700_000_000;
/// Longest envelope the fuzzed relay accepts (small, so the limit is reachable).
const MAX_ENVELOPE: usize = 200;
/// Mailbox quota of the fuzzed relay (small, so it is reachable).
const QUOTA: Quota = Quota {
    max_count: 5,
    max_bytes: 600,
};
/// Envelope lifetime of the fuzzed relay, seconds.
const TTL: u64 = 600;

fn limits() -> Limits {
    Limits {
        max_envelope_len: MAX_ENVELOPE,
        mailbox_max_count: QUOTA.max_count,
        mailbox_max_bytes: QUOTA.max_bytes,
        ttl_secs: TTL,
        identity_rate: Rate {
            burst: 12,
            per_second: 1,
        },
        address_rate: Rate {
            burst: 20,
            per_second: 2,
        },
        fetch_rate: Rate {
            burst: 3,
            per_second: 1,
        },
        ..Limits::default()
    }
}

fn nonce(slot: usize) -> [u8; 32] {
    [0x10 + slot as u8; 32]
}

fn exporter(slot: usize) -> [u8; 32] {
    [0x20 + slot as u8; 32]
}

/// Identities that are not accounts (hello and auth as them cannot succeed).
const STRANGERS: [[u8; 32]; 3] = [[0; 32], [0x42; 32], [0xEE; 32]];

// ---------------------------------------------------------------------------------------------
// The fixture: accounts, auth signatures, the store. Built once per process.

struct Party {
    id: IdentityId,
    identity: IdentityKey,
    /// Two valid signed prekeys (the first and a rotated one).
    spks: [SignedPreKey; 2],
    /// The auth signature for each connection slot's nonce and exporter.
    auth: [[u8; 64]; CONNS],
}

struct Fixture {
    runtime: tokio::runtime::Runtime,
    store: SqliteStore,
    /// A second connection to the store's database, to empty it between inputs.
    wipe: Mutex<rusqlite::Connection>,
    /// `DELETE FROM` every table, in one transaction.
    wipe_sql: String,
    parties: Vec<Party>,
}

fn fixture() -> &'static Fixture {
    static CELL: OnceLock<Fixture> = OnceLock::new();
    CELL.get_or_init(build_fixture)
}

/// A fresh directory for this process's store: under /dev/shm when it exists (tmpfs). Stores
/// left by processes that have exited are removed first.
fn scratch_dir() -> PathBuf {
    const PREFIX: &str = "remit-fuzz-relay-";
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    if Path::new("/proc/self").exists()
        && let Ok(entries) = std::fs::read_dir(&base)
    {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)) else {
                continue;
            };
            if !Path::new("/proc").join(pid).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let dir = base.join(format!("{PREFIX}{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the store directory");
    dir
}

fn build_fixture() -> Fixture {
    let mut rng = ChaCha20Rng::seed_from_u64(0x7265_6c61_7966_757a); // "relayfuz"
    let parties = (0..PARTIES)
        .map(|_| {
            let mut account = Account::new(&mut rng, START);
            let first = account.signed_prekey();
            let second = account
                .rotate_signed_prekey(START, &mut rng)
                .expect("rotate");
            let auth = std::array::from_fn(|slot| {
                sign_auth(&nonce(slot), &exporter(slot), &account).expect("auth signs")
            });
            Party {
                id: *account.identity().signing_key(),
                identity: *account.identity().as_wire(),
                spks: [first, second],
                auth,
            }
        })
        .collect();
    let path = scratch_dir().join("relay.sqlite");
    let store = SqliteStore::open(&path).expect("open the store");
    let wipe = rusqlite::Connection::open(&path).expect("open the store's database");
    wipe.busy_timeout(Duration::from_secs(5)).expect("busy");
    let tables: Vec<String> = wipe
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .and_then(|mut s| {
            s.query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<_, _>>()
        })
        .expect("list tables");
    assert!(!tables.is_empty(), "the store created no tables");
    let mut wipe_sql = String::from("BEGIN IMMEDIATE;");
    for t in &tables {
        wipe_sql.push_str(&format!("DELETE FROM \"{t}\";"));
    }
    wipe_sql.push_str("COMMIT;");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime");
    Fixture {
        runtime,
        store,
        wipe: Mutex::new(wipe),
        wipe_sql,
        parties,
    }
}

impl Fixture {
    fn wipe(&self) {
        let conn = self.wipe.lock().unwrap_or_else(PoisonError::into_inner);
        if let Err(e) = conn.execute_batch(&self.wipe_sql) {
            let _ = conn.execute_batch("ROLLBACK");
            panic!("emptying the store failed: {e}");
        }
    }

    fn block_on<T>(&self, f: impl Future<Output = T>) -> T {
        self.runtime.block_on(f)
    }
}

// ---------------------------------------------------------------------------------------------
// The input.

#[derive(Debug, Arbitrary)]
enum Who {
    Party(u8),
    Stranger(u8),
    /// A 31-byte identity.
    Short,
}

#[derive(Debug, Arbitrary)]
enum AuthSig {
    /// The signature of the identity this connection said hello as (party 0's otherwise).
    Own,
    /// That identity's signature for another connection's nonce and exporter.
    OtherConnection(u8),
    /// Another party's signature for this connection.
    Impostor(u8),
    /// `Own` with one byte changed.
    Flipped(u8, u8),
    Random([u8; 64]),
    Short,
}

#[derive(Debug, Arbitrary)]
enum IdentitySel {
    /// The identity this connection is (or said hello as; party 0 otherwise).
    Own,
    Other(u8),
    FlipAgreement(u8),
    FlipBinding(u8),
    Missing,
    ShortKey,
}

#[derive(Debug, Arbitrary)]
enum SpkSel {
    None,
    Current(bool),
    Forged(u8),
    /// Another party's (validly signed, by the other party).
    Foreign(u8),
}

#[derive(Debug, Arbitrary)]
enum AckSel {
    /// The n-th envelope delivered on this connection.
    Delivered(u8),
    Raw(u8),
    Huge,
}

#[derive(Debug, Arbitrary)]
enum Body {
    Hello {
        who: Who,
        long_agent: bool,
    },
    Auth(AuthSig),
    Publish {
        identity: IdentitySel,
        spk: SpkSel,
        start: u8,
        count: u8,
        salt: u8,
        /// 100 keys from id `1000 + 100·(n/2 mod 16)` (101 when `n` is odd: over the
        /// per-publish limit); eleven distinct ones exceed `MAX_STORED_ONE_TIME_PREKEYS`.
        bulk: Option<u8>,
    },
    Fetch(Who),
    Send {
        to: Who,
        message_id: u8,
        short_id: bool,
        len: u16,
    },
    Ack(Vec<AckSel>),
    /// `MAX_ACKS_PER_FRAME + 1` sequences.
    AckFlood,
    Missing,
    BadVersion(u8),
}

#[derive(Debug, Arbitrary)]
enum Op {
    Frame {
        conn: u8,
        request_id: u8,
        via_bytes: bool,
        defer: bool,
        body: Body,
    },
    Garbage {
        conn: u8,
        bytes: Vec<u8>,
    },
    /// Hands back the n-th deferred store result of a connection.
    Complete {
        conn: u8,
        index: u8,
    },
    /// One delivery page (1–4 envelopes) for a connection.
    Deliver {
        conn: u8,
        limit: u8,
    },
    Purge,
    FramingError {
        conn: u8,
    },
    /// Drops the connection and opens a new one in its place.
    Reconnect {
        conn: u8,
    },
    Advance(u16),
}

// ---------------------------------------------------------------------------------------------
// The model of the store.

#[derive(Clone, Debug, PartialEq, Eq)]
struct Queued {
    sender: IdentityId,
    message_id: [u8; 16],
    body: Vec<u8>,
    received_at: u64,
    expires_at: u64,
}

#[derive(Debug)]
struct Mailbox {
    next_seq: u64,
    queued: BTreeMap<u64, Queued>,
}

impl Default for Mailbox {
    fn default() -> Self {
        Self {
            next_seq: 1,
            queued: BTreeMap::new(),
        }
    }
}

impl Mailbox {
    fn stats(&self) -> MailboxStats {
        MailboxStats {
            count: self.queued.len() as u64,
            bytes: self.queued.values().map(|q| q.body.len() as u64).sum(),
        }
    }
}

#[derive(Clone, Debug, Default)]
struct Directory {
    identity: Option<IdentityKey>,
    spk: Option<SignedPreKey>,
    otks: BTreeMap<u32, [u8; 32]>,
}

#[derive(Debug, Default)]
struct Model {
    mailboxes: HashMap<IdentityId, Mailbox>,
    directory: HashMap<IdentityId, Directory>,
    /// Envelopes their recipient acked: `(recipient, sequence)`.
    acked: HashSet<(IdentityId, u64)>,
}

impl Model {
    fn counts(&self, id: &IdentityId) -> OwnerCounts {
        OwnerCounts {
            one_time_prekeys: self.directory.get(id).map_or(0, |d| d.otks.len() as u32),
            mailbox: self
                .mailboxes
                .get(id)
                .map(Mailbox::stats)
                .unwrap_or_default(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Connections.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Fresh,
    Helloed(IdentityId),
    Authenticating(IdentityId),
    Authenticated(IdentityId),
    Closed,
}

/// What the answer to a store result must be.
#[derive(Debug)]
enum Expect {
    Counts(OwnerCounts),
    SendOk([u8; 16], bool),
    Acked(u32),
    Published(u32),
    Bundle(Option<Box<StoredBundle>>),
    Error(RelayErrorCode),
}

struct Pending {
    request_id: u64,
    result: Result<StoreOutcome, StoreError>,
    expect: Expect,
}

struct Slot {
    conn: RelayConnection,
    phase: Phase,
    pending: Vec<Pending>,
    /// The identity whose mailbox this connection delivers (after `Authenticated`).
    delivering: Option<IdentityId>,
    cursor: u64,
    delivered: Vec<u64>,
}

impl Slot {
    fn new(slot: usize, limits: &Arc<Limits>, rates: &Arc<RateLimiter>) -> Self {
        let params = ConnectionParams {
            // Two connections per address.
            address: IpAddr::V4(Ipv4Addr::new(10, 0, 0, (slot / 2) as u8)),
            nonce: nonce(slot),
            exporter: exporter(slot),
        };
        Self {
            conn: RelayConnection::new(params, Arc::clone(limits), Arc::clone(rates)),
            phase: Phase::Fresh,
            pending: Vec::new(),
            delivering: None,
            cursor: 0,
            delivered: Vec::new(),
        }
    }

    /// The identity this connection is, or said hello as.
    fn claimed(&self) -> Option<IdentityId> {
        match self.phase {
            Phase::Helloed(id) | Phase::Authenticating(id) | Phase::Authenticated(id) => Some(id),
            Phase::Fresh | Phase::Closed => None,
        }
    }
}

fn error_code(f: &v1::ServerFrame) -> Option<RelayErrorCode> {
    match &f.body {
        Some(server_frame::Body::Error(e)) => {
            Some(RelayErrorCode::try_from(e.code).expect("a known error code"))
        }
        _ => None,
    }
}

/// The error codes of the error frames in `actions`.
fn errors(actions: &[Action]) -> Vec<RelayErrorCode> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(f) => error_code(f),
            _ => None,
        })
        .collect()
}

fn is_close(actions: &[Action], reason: CloseReason) -> bool {
    actions
        .iter()
        .any(|a| matches!(a, Action::Close(r) if *r == reason))
}

struct World<'f> {
    fx: &'f Fixture,
    slots: Vec<Slot>,
    limits: Arc<Limits>,
    rates: Arc<RateLimiter>,
    model: Model,
    base: Instant,
    unix: u64,
    step: usize,
}

impl World<'_> {
    fn now(&self) -> Now {
        Now {
            instant: self.base + Duration::from_secs(self.unix - START),
            unix: self.unix,
        }
    }

    fn party_id(&self, n: u8) -> IdentityId {
        self.fx.parties[usize::from(n) % PARTIES].id
    }

    fn who(&self, w: &Who) -> Vec<u8> {
        match w {
            Who::Party(n) => self.party_id(*n).to_vec(),
            Who::Stranger(n) => STRANGERS[usize::from(*n) % STRANGERS.len()].to_vec(),
            Who::Short => vec![7; 31],
        }
    }

    /// The party a connection is (or said hello as), else party 0.
    fn own_party(&self, slot: usize) -> &Party {
        let claimed = self.slots[slot].claimed();
        self.fx
            .parties
            .iter()
            .find(|p| Some(p.id) == claimed)
            .unwrap_or(&self.fx.parties[0])
    }

    fn auth_valid(&self, slot: usize, id: &IdentityId, signature: &[u8]) -> bool {
        self.fx
            .parties
            .iter()
            .any(|p| p.id == *id && p.auth[slot].as_slice() == signature)
    }

    fn build_body(&self, slot: usize, body: &Body) -> Option<client_frame::Body> {
        Some(match body {
            Body::Hello { who, long_agent } => client_frame::Body::Hello(v1::Hello {
                identity: self.who(who),
                agent: if *long_agent {
                    "a".repeat(65)
                } else {
                    "remit-fuzz".into()
                },
            }),
            Body::Auth(sig) => {
                let own = self.own_party(slot);
                let signature = match sig {
                    AuthSig::Own => own.auth[slot].to_vec(),
                    AuthSig::OtherConnection(n) => own.auth[usize::from(*n) % CONNS].to_vec(),
                    AuthSig::Impostor(n) => {
                        self.fx.parties[usize::from(*n) % PARTIES].auth[slot].to_vec()
                    }
                    AuthSig::Flipped(at, x) => {
                        let mut s = own.auth[slot];
                        s[usize::from(*at) % 64] ^= (*x).max(1);
                        s.to_vec()
                    }
                    AuthSig::Random(s) => s.to_vec(),
                    AuthSig::Short => own.auth[slot][..63].to_vec(),
                };
                client_frame::Body::Auth(v1::Auth { signature })
            }
            Body::Publish {
                identity,
                spk,
                start,
                count,
                salt,
                bulk,
            } => {
                let own = self.own_party(slot);
                let identity = match identity {
                    IdentitySel::Own => Some(v1::IdentityKey::from(&own.identity)),
                    IdentitySel::Other(n) => Some(v1::IdentityKey::from(
                        &self.fx.parties[usize::from(*n) % PARTIES].identity,
                    )),
                    IdentitySel::FlipAgreement(at) => {
                        let mut i = own.identity;
                        i.agreement_key[usize::from(*at) % 32] ^= 1;
                        Some(v1::IdentityKey::from(&i))
                    }
                    IdentitySel::FlipBinding(at) => {
                        let mut i = own.identity;
                        i.binding_signature[usize::from(*at) % 64] ^= 1;
                        Some(v1::IdentityKey::from(&i))
                    }
                    IdentitySel::Missing => None,
                    IdentitySel::ShortKey => {
                        let mut i = v1::IdentityKey::from(&own.identity);
                        i.signing_key.pop();
                        Some(i)
                    }
                };
                let spk = match spk {
                    SpkSel::None => None,
                    SpkSel::Current(second) => Some(own.spks[usize::from(*second)]),
                    SpkSel::Forged(at) => {
                        let mut s = own.spks[0];
                        s.signature[usize::from(*at) % 64] ^= 1;
                        Some(s)
                    }
                    SpkSel::Foreign(n) => Some(self.fx.parties[usize::from(*n) % PARTIES].spks[0]),
                };
                let key = |id: u32| {
                    let mut public_key = [*salt; 32];
                    public_key[..4].copy_from_slice(&id.to_be_bytes());
                    v1::OneTimePreKey::from(&OneTimePreKey { id, public_key })
                };
                let one_time_prekeys = match bulk {
                    Some(n) => {
                        let first = 1000 + 100 * u32::from(*n / 2 % 16);
                        let len = MAX_PREKEYS_PER_PUBLISH as u32 + u32::from(*n % 2);
                        (first..first + len).map(key).collect()
                    }
                    None => {
                        let first = u32::from(*start % 16);
                        (first..first + u32::from(*count % 6)).map(key).collect()
                    }
                };
                client_frame::Body::PublishPrekeys(v1::PublishPreKeys {
                    identity,
                    signed_prekey: spk.as_ref().map(Into::into),
                    one_time_prekeys,
                })
            }
            Body::Fetch(who) => client_frame::Body::FetchBundle(v1::FetchBundle {
                identity: self.who(who),
            }),
            Body::Send {
                to,
                message_id,
                short_id,
                len,
            } => {
                let len = usize::from(*len % 260);
                let mut envelope = vec![(self.step % 251) as u8; len];
                if let Some(first) = envelope.first_mut() {
                    *first = slot as u8;
                }
                let mut message_id = vec![*message_id % 6; 16];
                if *short_id {
                    message_id.pop();
                }
                client_frame::Body::Send(v1::Send {
                    recipient: self.who(to),
                    message_id,
                    envelope,
                })
            }
            Body::Ack(sels) => {
                let s = &self.slots[slot];
                let sequences = sels
                    .iter()
                    .take(8)
                    .map(|sel| match sel {
                        AckSel::Delivered(n) if !s.delivered.is_empty() => {
                            s.delivered[usize::from(*n) % s.delivered.len()]
                        }
                        AckSel::Delivered(n) | AckSel::Raw(n) => u64::from(*n % 16),
                        AckSel::Huge => u64::MAX,
                    })
                    .collect();
                client_frame::Body::Ack(v1::Ack { sequences })
            }
            Body::AckFlood => client_frame::Body::Ack(v1::Ack {
                sequences: (1..=MAX_ACKS_PER_FRAME as u64 + 1).collect(),
            }),
            Body::Missing | Body::BadVersion(_) => return None,
        })
    }

    // -- frames -------------------------------------------------------------------------------

    fn frame(&mut self, slot: usize, request_id: u8, via_bytes: bool, defer: bool, body: &Body) {
        let version = match body {
            Body::BadVersion(v) if *v != 1 => u32::from(*v),
            Body::BadVersion(_) => 2,
            _ => 1,
        };
        let frame = v1::ClientFrame {
            version,
            request_id: u64::from(request_id),
            body: self.build_body(slot, body),
        };
        let now = self.now();
        let s = &mut self.slots[slot];
        // Sent as bytes, the core sees what the decoder makes of them (or a decode error).
        let (actions, seen) = match encode(&frame) {
            Ok(bytes) if via_bytes => (
                s.conn.handle_bytes(&bytes, now),
                decode_client_frame(&bytes).ok(),
            ),
            _ => (s.conn.handle_frame(frame.clone(), now), Some(frame)),
        };
        self.after_frame(slot, seen.as_ref(), actions, defer);
    }

    fn garbage(&mut self, slot: usize, bytes: &[u8]) {
        let decoded = decode_client_frame(bytes).ok();
        let now = self.now();
        let actions = self.slots[slot].conn.handle_bytes(bytes, now);
        self.after_frame(slot, decoded.as_ref(), actions, false);
    }

    /// Checks the core's answer to a frame (`None`: bytes that do not decode), updates the
    /// connection's phase and runs its store operations.
    fn after_frame(
        &mut self,
        slot: usize,
        frame: Option<&v1::ClientFrame>,
        actions: Vec<Action>,
        defer: bool,
    ) {
        let before = self.slots[slot].phase;
        let request_id = frame.map_or(0, |f| f.request_id);
        let body = frame
            .filter(|f| f.version == 1)
            .and_then(|f| f.body.as_ref());
        for a in &actions {
            if let Action::Send(f) = a {
                assert_eq!(f.version, 1, "a frame of another version");
                assert_eq!(f.request_id, request_id, "an answer to another request");
            }
        }
        match before {
            Phase::Closed => assert!(actions.is_empty(), "a closed connection answered"),
            Phase::Authenticated(me) => {
                for a in &actions {
                    match a {
                        Action::Store { request_id: r, op } => {
                            assert_eq!(*r, request_id);
                            self.check_bound(me, body, op);
                        }
                        Action::Authenticated(_) => panic!("authenticated twice"),
                        Action::Send(_) | Action::Close(_) => {}
                    }
                }
            }
            Phase::Fresh | Phase::Helloed(_) | Phase::Authenticating(_) => {
                self.check_unauthenticated(slot, before, body, &actions);
            }
        }
        // The phase after the frame.
        let s = &mut self.slots[slot];
        for a in &actions {
            match a {
                Action::Send(v1::ServerFrame {
                    body: Some(server_frame::Body::Challenge(_)),
                    ..
                }) => {
                    let Some(client_frame::Body::Hello(h)) = body else {
                        unreachable!("checked above");
                    };
                    s.phase = Phase::Helloed(h.identity.as_slice().try_into().expect("32 bytes"));
                }
                Action::Store {
                    op: StoreOp::Counts(id),
                    ..
                } => s.phase = Phase::Authenticating(*id),
                Action::Close(_) => s.phase = Phase::Closed,
                _ => {}
            }
        }
        self.check_phase(slot);
        self.run_store(slot, actions, defer);
    }

    fn check_unauthenticated(
        &self,
        slot: usize,
        before: Phase,
        body: Option<&client_frame::Body>,
        actions: &[Action],
    ) {
        for a in actions {
            match a {
                Action::Send(f) if error_code(f).is_some() => {}
                Action::Close(_) => {}
                Action::Send(v1::ServerFrame {
                    body: Some(server_frame::Body::Challenge(c)),
                    ..
                }) => {
                    assert_eq!(before, Phase::Fresh, "a second challenge");
                    assert!(
                        matches!(body, Some(client_frame::Body::Hello(h)) if h.identity.len() == 32),
                        "a challenge for something other than a valid hello"
                    );
                    assert_eq!(c.nonce, nonce(slot), "the challenge is not the nonce");
                }
                Action::Store {
                    op: StoreOp::Counts(id),
                    ..
                } => {
                    assert_eq!(before, Phase::Helloed(*id), "counts for another identity");
                    let Some(client_frame::Body::Auth(auth)) = body else {
                        panic!("counts for something other than auth: {body:?}");
                    };
                    assert!(
                        self.auth_valid(slot, id, &auth.signature),
                        "a forged auth was accepted"
                    );
                }
                other => panic!("unauthenticated connection ({before:?}) got {other:?}"),
            }
        }
        match (before, body) {
            (Phase::Helloed(id), Some(client_frame::Body::Auth(auth)))
                if auth.signature.len() == 64 =>
            {
                let accepted = actions.iter().any(|a| matches!(a, Action::Store { .. }));
                if self.auth_valid(slot, &id, &auth.signature) {
                    assert!(accepted, "a valid auth was refused: {actions:?}");
                } else {
                    assert!(
                        !accepted && is_close(actions, CloseReason::AuthFailed),
                        "a bad auth did not close: {actions:?}"
                    );
                }
            }
            (Phase::Authenticating(_), Some(_)) => assert_eq!(
                errors(actions),
                [RelayErrorCode::Unauthenticated],
                "while authenticating: {actions:?}"
            ),
            _ => {}
        }
    }

    /// An authenticated connection's store operation is bound to its identity and to the frame.
    fn check_bound(&self, me: IdentityId, body: Option<&client_frame::Body>, op: &StoreOp) {
        let now = self.now();
        match (op, body) {
            (StoreOp::Enqueue(e, quota), Some(client_frame::Body::Send(s))) => {
                assert_eq!(e.sender, me, "sent as someone else");
                assert_eq!(e.recipient.as_slice(), s.recipient.as_slice());
                assert_eq!(e.message_id.as_slice(), s.message_id.as_slice());
                assert_eq!(e.body, s.envelope);
                assert!(!e.body.is_empty() && e.body.len() <= MAX_ENVELOPE);
                assert_eq!((e.received_at, e.expires_at), (now.unix, now.unix + TTL));
                assert_eq!(*quota, QUOTA);
            }
            (StoreOp::Ack(who, sequences), Some(client_frame::Body::Ack(a))) => {
                assert_eq!(*who, me, "acked someone else's mailbox");
                assert_eq!(*sequences, a.sequences);
                assert!(sequences.len() <= MAX_ACKS_PER_FRAME);
            }
            (StoreOp::Publish(p), Some(client_frame::Body::PublishPrekeys(_))) => {
                assert_eq!(
                    p.identity.signing_key, me,
                    "published someone else's identity"
                );
                assert!(
                    VerifiedIdentity::verify(&p.identity).is_ok(),
                    "published an identity whose binding does not verify"
                );
                if let Some(spk) = p.signed_prekey {
                    let bundle = PreKeyBundle {
                        identity: p.identity,
                        signed_prekey: spk,
                        one_time_prekey: None,
                    };
                    assert!(
                        VerifiedBundle::verify(&bundle).is_ok(),
                        "published a signed prekey that does not verify"
                    );
                }
                assert!(p.one_time_prekeys.len() <= MAX_PREKEYS_PER_PUBLISH);
                assert_eq!(p.max_one_time_prekeys, MAX_STORED_ONE_TIME_PREKEYS);
                assert_eq!(p.now, now.unix);
            }
            (StoreOp::TakeBundle(target), Some(client_frame::Body::FetchBundle(f))) => {
                assert_eq!(target.as_slice(), f.identity.as_slice());
            }
            (op, body) => panic!("store operation {op:?} for frame {body:?}"),
        }
    }

    fn check_phase(&self, slot: usize) {
        let s = &self.slots[slot];
        assert_eq!(
            s.conn.is_closed(),
            s.phase == Phase::Closed,
            "{:?}",
            s.phase
        );
        let expected = match s.phase {
            Phase::Authenticated(id) => Some(id),
            _ => None,
        };
        assert_eq!(s.conn.identity(), expected);
    }

    // -- the store ------------------------------------------------------------------------

    fn run_store(&mut self, slot: usize, actions: Vec<Action>, defer: bool) {
        for a in actions {
            if let Action::Store { request_id, op } = a {
                let (result, expect) = self.execute(op);
                self.slots[slot].pending.push(Pending {
                    request_id,
                    result,
                    expect,
                });
                if !defer {
                    let last = self.slots[slot].pending.len() - 1;
                    self.complete(slot, last);
                }
            }
        }
    }

    /// Runs a store operation on the store and on the model; they must agree.
    fn execute(&mut self, op: StoreOp) -> (Result<StoreOutcome, StoreError>, Expect) {
        let fx = self.fx;
        let store = &fx.store;
        match op {
            StoreOp::Counts(id) => {
                let counts = fx.block_on(store.counts(id)).expect("counts");
                assert_eq!(
                    counts,
                    self.model.counts(&id),
                    "counts differ from the model"
                );
                (Ok(StoreOutcome::Counts(counts)), Expect::Counts(counts))
            }
            StoreOp::Enqueue(e, quota) => {
                let expected = self.model_enqueue(&e, quota);
                let message_id = e.message_id;
                match (fx.block_on(store.enqueue(e, quota)), expected) {
                    (Ok(got), Some(want)) => {
                        assert_eq!(got, want, "enqueue differs from the model");
                        (
                            Ok(StoreOutcome::Enqueued(message_id, got)),
                            Expect::SendOk(message_id, got.duplicate),
                        )
                    }
                    (Err(e @ StoreError::QuotaExceeded { .. }), None) => {
                        (Err(e), Expect::Error(RelayErrorCode::Quota))
                    }
                    (got, want) => panic!("enqueue: store {got:?}, model {want:?}"),
                }
            }
            StoreOp::Ack(me, sequences) => {
                let deleted = fx.block_on(store.ack(me, sequences.clone())).expect("ack");
                let mailbox = self.model.mailboxes.entry(me).or_default();
                let mut expected = 0;
                for seq in sequences {
                    if mailbox.queued.remove(&seq).is_some() {
                        expected += 1;
                        self.model.acked.insert((me, seq));
                    }
                }
                assert_eq!(deleted, expected, "ack count differs from the model");
                (Ok(StoreOutcome::Acked(deleted)), Expect::Acked(deleted))
            }
            StoreOp::Publish(p) => {
                let owner = p.identity.signing_key;
                let before = self.model.directory.get(&owner).cloned();
                let d = self.model.directory.entry(owner).or_default();
                d.identity = Some(p.identity);
                if p.signed_prekey.is_some() {
                    d.spk = p.signed_prekey;
                }
                for k in &p.one_time_prekeys {
                    d.otks.entry(k.id).or_insert(k.public_key);
                }
                let held = d.otks.len() as u64;
                let over = held > u64::from(p.max_one_time_prekeys);
                match fx.block_on(store.publish(p)) {
                    Ok(n) => {
                        assert!(!over, "publication over the limit accepted");
                        assert_eq!(u64::from(n), held, "prekeys held differ from the model");
                        (Ok(StoreOutcome::Published(n)), Expect::Published(n))
                    }
                    Err(e @ StoreError::TooManyPreKeys { .. }) => {
                        assert!(over, "publication under the limit refused: {e}");
                        // Nothing of the publication stays.
                        match before {
                            Some(b) => self.model.directory.insert(owner, b),
                            None => self.model.directory.remove(&owner),
                        };
                        (Err(e), Expect::Error(RelayErrorCode::Quota))
                    }
                    Err(e) => panic!("publish failed: {e}"),
                }
            }
            StoreOp::TakeBundle(owner) => {
                let got = fx.block_on(store.take_bundle(owner)).expect("take_bundle");
                let d = self.model.directory.entry(owner).or_default();
                match (&got, d.identity, d.spk) {
                    (None, None, _) | (None, Some(_), None) => {}
                    (Some(b), Some(identity), Some(spk)) => {
                        assert_eq!(b.identity, identity, "bundle with another identity");
                        assert_eq!(b.signed_prekey, spk, "bundle with another signed prekey");
                        match &b.one_time_prekey {
                            Some(k) => {
                                let held = d.otks.remove(&k.id);
                                assert_eq!(
                                    held,
                                    Some(k.public_key),
                                    "one-time prekey {} handed out but not held (handed out \
                                     twice, or never published)",
                                    k.id
                                );
                            }
                            None => assert!(
                                d.otks.is_empty(),
                                "no one-time prekey handed out while {} are held",
                                d.otks.len()
                            ),
                        }
                    }
                    (got, identity, spk) => panic!(
                        "take_bundle: store {got:?}, model identity {identity:?} spk {spk:?}"
                    ),
                }
                let expect = Expect::Bundle(got.clone().map(Box::new));
                (Ok(StoreOutcome::Bundle(got.map(Box::new))), expect)
            }
        }
    }

    /// The model's enqueue: `None` if over the quota (nothing stored).
    fn model_enqueue(&mut self, e: &NewEnvelope, quota: Quota) -> Option<Enqueued> {
        let mailbox = self.model.mailboxes.entry(e.recipient).or_default();
        if let Some((&sequence, _)) = mailbox
            .queued
            .iter()
            .find(|(_, q)| q.message_id == e.message_id)
        {
            return Some(Enqueued {
                sequence,
                duplicate: true,
            });
        }
        let stats = mailbox.stats();
        if stats.count + 1 > quota.max_count || stats.bytes + e.body.len() as u64 > quota.max_bytes
        {
            return None;
        }
        let sequence = mailbox.next_seq;
        mailbox.next_seq += 1;
        mailbox.queued.insert(
            sequence,
            Queued {
                sender: e.sender,
                message_id: e.message_id,
                body: e.body.clone(),
                received_at: e.received_at,
                expires_at: e.expires_at,
            },
        );
        Some(Enqueued {
            sequence,
            duplicate: false,
        })
    }

    /// Hands the n-th pending store result back to its connection.
    fn complete(&mut self, slot: usize, index: usize) {
        let s = &mut self.slots[slot];
        if s.pending.is_empty() {
            return;
        }
        let Pending {
            request_id,
            result,
            expect,
        } = s.pending.remove(index % s.pending.len());
        let before = s.phase;
        let actions = s.conn.handle_store_result(request_id, result);
        if before == Phase::Closed {
            assert!(actions.is_empty(), "a closed connection answered a result");
            return;
        }
        let one_frame = |actions: &[Action]| -> v1::ServerFrame {
            match actions {
                [Action::Send(f)] => {
                    assert_eq!(f.request_id, request_id);
                    f.clone()
                }
                other => panic!("expected one frame, got {other:?}"),
            }
        };
        match expect {
            Expect::Counts(counts) => match before {
                Phase::Authenticating(id) => {
                    match actions.as_slice() {
                        [
                            Action::Send(v1::ServerFrame {
                                body: Some(server_frame::Body::AuthOk(ok)),
                                request_id: r,
                                ..
                            }),
                            Action::Authenticated(who),
                        ] => {
                            assert_eq!(*r, request_id);
                            assert_eq!(*who, id, "authenticated as another identity");
                            assert_eq!(
                                (ok.one_time_prekeys_left, ok.queued),
                                (counts.one_time_prekeys, counts.mailbox.count)
                            );
                        }
                        other => panic!("expected AuthOk, Authenticated; got {other:?}"),
                    }
                    s.phase = Phase::Authenticated(id);
                    s.delivering = Some(id);
                    s.cursor = 0;
                }
                _ => panic!("counts result outside authentication"),
            },
            Expect::SendOk(message_id, duplicate) => match one_frame(&actions).body {
                Some(server_frame::Body::SendOk(ok)) => {
                    assert_eq!(ok.message_id, message_id);
                    assert_eq!(ok.duplicate, duplicate);
                }
                other => panic!("expected SendOk, got {other:?}"),
            },
            Expect::Acked(_) if request_id == 0 => {
                assert!(actions.is_empty(), "an ack with request id 0 was answered");
            }
            Expect::Acked(deleted) => match one_frame(&actions).body {
                Some(server_frame::Body::Acked(a)) => assert_eq!(a.deleted, deleted),
                other => panic!("expected Acked, got {other:?}"),
            },
            Expect::Published(n) => match one_frame(&actions).body {
                Some(server_frame::Body::PrekeysPublished(p)) => {
                    assert_eq!(p.one_time_prekeys_left, n);
                }
                other => panic!("expected PrekeysPublished, got {other:?}"),
            },
            Expect::Bundle(None) => {
                assert_eq!(
                    error_code(&one_frame(&actions)),
                    Some(RelayErrorCode::NotFound)
                );
            }
            Expect::Bundle(Some(b)) => match one_frame(&actions).body {
                Some(server_frame::Body::Bundle(wire)) => {
                    let got = PreKeyBundle::try_from(wire).expect("a valid bundle frame");
                    assert_eq!(got.identity, b.identity);
                    assert_eq!(got.signed_prekey, b.signed_prekey);
                    assert_eq!(
                        got.one_time_prekey, b.one_time_prekey,
                        "the bundle frame carries another one-time prekey than the store took"
                    );
                }
                other => panic!("expected Bundle, got {other:?}"),
            },
            Expect::Error(code) => {
                assert_eq!(error_code(&one_frame(&actions)), Some(code));
            }
        }
        self.check_phase(slot);
    }

    // -- delivery, purge, clock, connections ----------------------------------------------

    fn deliver(&mut self, slot: usize, limit: usize) {
        let s = &self.slots[slot];
        if s.phase == Phase::Closed {
            return;
        }
        let Some(me) = s.delivering else {
            return;
        };
        let now = self.unix;
        let got = self
            .fx
            .block_on(self.fx.store.fetch(me, s.cursor, limit, now))
            .expect("fetch");
        let mailbox = self.model.mailboxes.entry(me).or_default();
        let want: Vec<StoredEnvelope> = mailbox
            .queued
            .range(s.cursor + 1..)
            .filter(|(_, q)| q.expires_at > now)
            .take(limit)
            .map(|(&sequence, q)| StoredEnvelope {
                sequence,
                sender: q.sender,
                message_id: q.message_id,
                body: q.body.clone(),
                received_at: q.received_at,
            })
            .collect();
        for e in &got {
            assert!(
                !self.model.acked.contains(&(me, e.sequence)),
                "acked envelope {} delivered again",
                e.sequence
            );
            assert!(
                want.iter().any(|w| w == e),
                "envelope {} delivered to an identity that is not its recipient, or changed",
                e.sequence
            );
        }
        assert_eq!(got, want, "delivery differs from the model");
        let s = &mut self.slots[slot];
        for e in &got {
            assert!(e.sequence > s.cursor, "delivered out of order or twice");
            let f = deliver_frame(e);
            let Some(server_frame::Body::Deliver(d)) = f.body else {
                panic!("deliver_frame made {f:?}");
            };
            assert_eq!(
                (d.sequence, d.sender.as_slice(), d.message_id.as_slice()),
                (e.sequence, e.sender.as_slice(), e.message_id.as_slice())
            );
            assert_eq!(
                (d.envelope.as_slice(), d.received_at),
                (e.body.as_slice(), e.received_at)
            );
            s.cursor = e.sequence;
            s.delivered.push(e.sequence);
        }
    }

    fn purge(&mut self) {
        let now = self.unix;
        let purged = self
            .fx
            .block_on(self.fx.store.purge_expired(now, PURGE_BATCH))
            .expect("purge");
        let mut expected = 0;
        for m in self.model.mailboxes.values_mut() {
            let before = m.queued.len();
            m.queued.retain(|_, q| q.expires_at > now);
            expected += (before - m.queued.len()) as u64;
        }
        assert_eq!(purged, expected, "purge differs from the model");
    }

    fn framing_error(&mut self, slot: usize) {
        let e = split_frame(&[0xFF; 4], 8).expect_err("a header over the limit");
        let s = &mut self.slots[slot];
        let before = s.phase;
        let actions = s.conn.handle_framing_error(&e);
        if before == Phase::Closed {
            assert!(actions.is_empty());
        } else {
            assert_eq!(errors(&actions), [RelayErrorCode::TooLarge]);
            assert!(is_close(&actions, CloseReason::FramingError));
            s.phase = Phase::Closed;
        }
        self.check_phase(slot);
    }

    fn reconnect(&mut self, slot: usize) {
        self.slots[slot] = Slot::new(slot, &self.limits, &self.rates);
    }

    /// At the end: every deferred result is handed back, and the store's counts for every
    /// party equal the model's.
    fn finish(&mut self) {
        for slot in 0..CONNS {
            while !self.slots[slot].pending.is_empty() {
                self.complete(slot, 0);
            }
        }
        for p in &self.fx.parties {
            let counts = self
                .fx
                .block_on(self.fx.store.counts(p.id))
                .expect("counts");
            assert_eq!(counts, self.model.counts(&p.id), "final counts differ");
        }
    }
}

/// Whether to print each operation (`RELAY_CORE_TRACE=1`, to see what an input does).
fn trace() -> bool {
    static TRACE: OnceLock<bool> = OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("RELAY_CORE_TRACE").is_some())
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let fx = fixture();
    fx.wipe();
    let limits = Arc::new(limits());
    let rates = Arc::new(RateLimiter::new(&limits));
    let mut w = World {
        fx,
        slots: (0..CONNS).map(|i| Slot::new(i, &limits, &rates)).collect(),
        limits,
        rates,
        model: Model::default(),
        base: Instant::now(),
        unix: START,
        step: 0,
    };
    let mut u = Unstructured::new(data);
    for step in 0..MAX_OPS {
        // `arbitrary` pads an exhausted input with zeros, which would decode as the same
        // first-variant operation until MAX_OPS: stop where the input ends instead.
        if u.is_empty() {
            break;
        }
        let Ok(op) = Op::arbitrary(&mut u) else {
            break;
        };
        w.step = step;
        if trace() {
            eprintln!("relay_core op {step}: {op:?}");
        }
        let slot = |c: u8| usize::from(c) % CONNS;
        match op {
            Op::Frame {
                conn,
                request_id,
                via_bytes,
                defer,
                body,
            } => w.frame(slot(conn), request_id, via_bytes, defer, &body),
            Op::Garbage { conn, bytes } => w.garbage(slot(conn), &bytes),
            Op::Complete { conn, index } => w.complete(slot(conn), usize::from(index)),
            Op::Deliver { conn, limit } => w.deliver(slot(conn), usize::from(limit % 4) + 1),
            Op::Purge => w.purge(),
            Op::FramingError { conn } => w.framing_error(slot(conn)),
            Op::Reconnect { conn } => w.reconnect(slot(conn)),
            Op::Advance(seconds) => w.unix += u64::from(seconds),
        }
    }
    w.finish();
}
