//! The quinn shell around [`crate::core`]: TLS and QUIC setup, one task per connection, one
//! delivery task per authenticated connection, the periodic TTL purge, graceful shutdown.
//!
//! Wire: the client opens one bidirectional stream and sends length-prefixed `ClientFrame`s
//! (`remit_wire::encode_frame`); the relay answers and pushes `ServerFrame`s on the same
//! stream. Requests are pipelined: the relay submits each store operation as soon as its
//! frame is read (in frame order, see the ordering contract of [`crate::store`]) and answers
//! when it completes, so one connection keeps many envelopes in one group commit.

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::{Path, PathBuf},
    pin::Pin,
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use futures_util::stream::{FuturesUnordered, StreamExt as _};
use quinn::{VarInt, crypto::rustls::QuicServerConfig};
use rand::Rng as _;
use remit_wire::{DecodeError, FrameDecoder, encode_frame, limits::MAX_FRAME_LEN, v1};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use tokio::{
    sync::{Notify, mpsc, watch},
    task::JoinSet,
};

use remit_relay_proto::{
    ALPN,
    auth::{EXPORTER_LABEL, EXPORTER_LEN, NONCE_LEN},
};

use crate::{
    core::{
        Action, CloseReason, ConnectionParams, Now, RelayConnection, StoreOp, StoreOutcome,
        deliver_frame, queue_empty_frame,
    },
    limits::{DELIVERY_BATCH, Limits, MAX_IN_FLIGHT_REQUESTS, PURGE_BATCH},
    metrics::Metrics,
    rate::RateLimiter,
    store::{
        Backend, IdentityId, PostgresStore, SqliteStore, Store, StoreError, StoredEnvelope, Wake,
    },
};

/// Time a client has after the QUIC handshake to open its stream.
pub(crate) const STREAM_OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// How long shutdown waits for connections to finish their in-flight requests.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How often expired envelopes are purged.
pub(crate) const PURGE_INTERVAL: Duration = Duration::from_secs(60);

/// Encoded frames queued for one connection's writer before producers wait (backpressure
/// towards the delivery task and the request loop, never towards other connections).
pub(crate) const OUT_QUEUE_FRAMES: usize = 1024;

/// Idle timeout: a silent client is dropped after this; clients send keep-alives at a third.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// File names in the data directory.
const DB_FILE: &str = "relay.sqlite3";
const CERT_FILE: &str = "cert.pem";
const KEY_FILE: &str = "key.pem";

/// Where the relay listens and keeps its data.
#[derive(Clone, Debug)]
pub struct RelayConfig {
    /// UDP address to bind.
    pub listen: SocketAddr,
    /// Directory for the database and the generated certificate.
    pub data_dir: PathBuf,
    /// A PEM certificate chain and key to use instead of the generated self-signed one.
    pub cert: Option<(PathBuf, PathBuf)>,
    /// Limits.
    pub limits: Limits,
    /// TCP address for the Prometheus metrics responder (`None`: no metrics port).
    pub metrics: Option<SocketAddr>,
}

impl RelayConfig {
    /// A configuration with the generated certificate, default limits and no metrics port.
    #[must_use]
    pub fn new(listen: SocketAddr, data_dir: PathBuf) -> Self {
        Self {
            listen,
            data_dir,
            cert: None,
            limits: Limits::default(),
            metrics: None,
        }
    }
}

/// Why the relay could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// File or socket I/O.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The store could not be opened.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The certificate or key could not be read.
    #[error("certificate: {0}")]
    Pem(#[from] rustls::pki_types::pem::Error),
    /// Certificate generation failed.
    #[error("certificate generation: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the configuration.
    #[error("tls: {0}")]
    Tls(#[from] rustls::Error),
    /// The certificate file holds no certificate.
    #[error("no certificate in {0}")]
    NoCertificate(PathBuf),
    /// No TLS 1.3 cipher suite usable by QUIC.
    #[error("tls configuration has no QUIC cipher suite")]
    NoQuicSuite,
}

/// A running relay.
#[derive(Debug)]
pub struct Relay {
    local_addr: SocketAddr,
    fingerprint: [u8; 32],
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    metrics: Arc<Metrics>,
    metrics_addr: Option<SocketAddr>,
}

impl Relay {
    /// Opens the store, loads or generates the certificate, binds, and starts serving.
    ///
    /// # Errors
    /// Any [`ServerError`].
    ///
    /// ```
    /// use remit_relay::{Relay, RelayConfig, certificate_fingerprint};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let data = tempfile::tempdir()?;
    /// // Port 0: the system picks a free loopback port.
    /// let relay = Relay::start(RelayConfig::new("127.0.0.1:0".parse()?, data.path().into())).await?;
    /// // What a client needs: the address, and the certificate fingerprint it pins.
    /// assert!(relay.local_addr().port() != 0);
    /// println!("{} {}", relay.local_addr(), hex::encode(relay.fingerprint()));
    /// relay.shutdown().await;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn start(config: RelayConfig) -> Result<Self, ServerError> {
        Self::start_on(config, None).await
    }

    /// [`Relay::start`] on a PostgreSQL database shared with other relay nodes (`postgres://…`,
    /// with the `remit_*` parameters of [`crate::store::PostgresOptions::from_url`]); the data
    /// directory then holds only the certificate. See spec/relay.md §9.
    ///
    /// # Errors
    /// Any [`ServerError`].
    pub async fn start_postgres(config: RelayConfig, url: &str) -> Result<Self, ServerError> {
        Self::start_on(config, Some(url)).await
    }

    async fn start_on(config: RelayConfig, postgres: Option<&str>) -> Result<Self, ServerError> {
        std::fs::create_dir_all(&config.data_dir)?;
        let metrics = Arc::new(Metrics::default());
        let store = match postgres {
            None => Backend::Sqlite(SqliteStore::open_with_metrics(
                config.data_dir.join(DB_FILE),
                Some(Arc::clone(&metrics)),
            )?),
            Some(url) => Backend::Postgres(PostgresStore::connect_url(url).await?),
        };
        let (certs, key) = load_or_generate_certificate(&config.data_dir, config.cert.as_ref())?;
        let fingerprint = certificate_fingerprint(
            certs
                .first()
                .ok_or_else(|| ServerError::NoCertificate(config.data_dir.join(CERT_FILE)))?,
        );
        let endpoint = quinn::Endpoint::server(server_config(certs, key)?, config.listen)?;
        let local_addr = endpoint.local_addr()?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let metrics_addr = match config.metrics {
            Some(addr) => {
                let listener = tokio::net::TcpListener::bind(addr).await?;
                let bound = listener.local_addr()?;
                let store = store.clone();
                tokio::spawn(crate::metrics::serve(
                    listener,
                    Arc::clone(&metrics),
                    move || {
                        let f = store.queued_total();
                        async move { f.await.ok() }
                    },
                    shutdown_rx.clone(),
                ));
                Some(bound)
            }
            None => None,
        };
        let limits = Arc::new(config.limits.clamped());
        let shared = Arc::new(Shared {
            rates: Arc::new(RateLimiter::new(&limits)),
            limits,
            hub: Hub::default(),
            metrics: Arc::clone(&metrics),
            poll: store.poll_interval(),
        });
        if let Some(hints) = store.wakeups() {
            tokio::spawn(forward_wakeups(hints, Arc::downgrade(&shared)));
        }
        let task = tokio::spawn(serve(endpoint, store, shared, shutdown_rx));
        Ok(Self {
            local_addr,
            fingerprint,
            shutdown,
            task,
            metrics,
            metrics_addr,
        })
    }

    /// The bound address of the metrics responder, if one was configured.
    #[must_use]
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The relay's counters.
    #[must_use]
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The bound address.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// SHA-256 of the relay's certificate (DER), for clients to pin.
    #[must_use]
    pub fn fingerprint(&self) -> [u8; 32] {
        self.fingerprint
    }

    /// Stops accepting, lets connections finish their in-flight requests (at most
    /// 10 s), closes them, and waits until every accepted commit is done.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

/// SHA-256 of a DER certificate: what clients pin (`remit_relay_proto::certificate_fingerprint`).
#[must_use]
pub fn certificate_fingerprint(cert: &CertificateDer<'_>) -> [u8; 32] {
    remit_relay_proto::certificate_fingerprint(cert.as_ref())
}

/// Loads the given PEM files, or `cert.pem`/`key.pem` from `data_dir`, generating a
/// self-signed pair there on first start.
///
/// # Errors
/// [`ServerError::Io`], [`ServerError::Pem`], [`ServerError::Generate`].
pub fn load_or_generate_certificate(
    data_dir: &Path,
    given: Option<&(PathBuf, PathBuf)>,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), ServerError> {
    let (cert_path, key_path) = match given {
        Some((c, k)) => (c.clone(), k.clone()),
        None => {
            let c = data_dir.join(CERT_FILE);
            let k = data_dir.join(KEY_FILE);
            if !c.exists() || !k.exists() {
                let ck = rcgen::generate_simple_self_signed(vec![
                    "localhost".to_owned(),
                    "remit-relay".to_owned(),
                ])?;
                write_private(&k, ck.signing_key.serialize_pem().as_bytes())?;
                std::fs::write(&c, ck.cert.pem())?;
            }
            (c, k)
        }
    };
    let certs = CertificateDer::pem_file_iter(&cert_path)?.collect::<Result<Vec<_>, _>>()?;
    if certs.is_empty() {
        return Err(ServerError::NoCertificate(cert_path));
    }
    let key = PrivateKeyDer::from_pem_file(&key_path)?;
    Ok((certs, key))
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// The transport settings, tuned for many connections carrying many small messages.
///
/// quinn's defaults allow 100 concurrent streams of 1.25 MB each and an unbounded connection
/// window: about 125 MB of buffering one client can make the relay hold. A relay client uses a
/// single stream of frames of at most `MAX_FRAME_LEN` (≈ 65 KiB), and the relay reads eagerly,
/// so a 256 KiB stream window (four maximal frames, or about 800 pipelined 256-byte sends)
/// keeps a sender at full speed on loopback and LAN while capping a connection at 512 KiB;
/// 10,000 connections then cannot pin more than 5 GiB even if every peer stalls mid-frame,
/// and idle ones hold nothing.
#[must_use]
pub fn transport_config() -> quinn::TransportConfig {
    let mut t = quinn::TransportConfig::default();
    t.max_concurrent_bidi_streams(VarInt::from_u32(1));
    t.max_concurrent_uni_streams(VarInt::from_u32(0));
    t.stream_receive_window(VarInt::from_u32(256 * 1024));
    t.receive_window(VarInt::from_u32(512 * 1024));
    t.send_window(1024 * 1024);
    t.max_idle_timeout(quinn::IdleTimeout::try_from(IDLE_TIMEOUT).ok());
    t.ack_frequency_config(Some(ack_frequency()));
    t
}

/// The acknowledgement frequency each side asks of its peer (the QUIC ACK frequency
/// extension; quinn on both ends supports it, other peers ignore it).
///
/// Relay traffic is small request/answer frames in both directions, so most ACKs ride on a
/// frame going the other way; by default a receiver still sends an ACK-only packet for every
/// second packet, about one extra datagram per envelope for the client. Asking for an ACK
/// after more than four ack-eliciting packets (or the peer's `max_ack_delay`, 25 ms by
/// default) removes those. A gap of more than two packets is still acknowledged at once
/// (the default reordering threshold), so loss detection is not delayed.
#[must_use]
pub fn ack_frequency() -> quinn::AckFrequencyConfig {
    let mut ack = quinn::AckFrequencyConfig::default();
    ack.ack_eliciting_threshold(VarInt::from_u32(remit_relay_proto::ACK_ELICITING_THRESHOLD));
    ack
}

fn server_config(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<quinn::ServerConfig, ServerError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let quic = QuicServerConfig::try_from(tls).map_err(|_| ServerError::NoQuicSuite)?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(quic));
    config.transport_config(Arc::new(transport_config()));
    Ok(config)
}

struct Shared {
    limits: Arc<Limits>,
    rates: Arc<RateLimiter>,
    hub: Hub,
    metrics: Arc<Metrics>,
    /// Re-read interval of delivery tasks without a wake-up (shared stores; spec/relay.md §9).
    poll: Option<Duration>,
}

/// Bytes of committed `Deliver` frames held for one connection's delivery task before it
/// falls back to reading the store: bounds what a slow reader can make the relay hold, while
/// a reader that keeps up never touches the store for live traffic.
pub const PUSH_QUEUE_BYTES: usize = 256 * 1024;

/// What the hub hands one connection's delivery task: committed `Deliver` frames, in the order
/// their commits completed, or a demand to read the store.
#[derive(Default)]
struct Pushed {
    frames: std::collections::VecDeque<(u64, Arc<[u8]>)>,
    bytes: usize,
    /// Something may be in the store that `frames` does not hold (a hint from another node,
    /// an overflow): the task must read its mailbox.
    reread: bool,
}

/// One online connection's inbox from the hub.
#[derive(Default)]
struct Inbox {
    notify: Notify,
    pushed: Mutex<Pushed>,
}

impl Inbox {
    /// Queues a committed frame, or turns into a re-read demand when the queue is full.
    fn push(&self, sequence: u64, frame: &Arc<[u8]>) {
        if let Ok(mut p) = self.pushed.lock() {
            if p.reread || p.bytes + frame.len() > PUSH_QUEUE_BYTES {
                p.frames.clear();
                p.bytes = 0;
                p.reread = true;
            } else {
                p.bytes += frame.len();
                p.frames.push_back((sequence, Arc::clone(frame)));
            }
        }
        // A stored permit means a wake-up between a take and the wait is not lost.
        self.notify.notify_one();
    }

    fn demand_reread(&self) {
        if let Ok(mut p) = self.pushed.lock() {
            p.frames.clear();
            p.bytes = 0;
            p.reread = true;
        }
        self.notify.notify_one();
    }

    fn take(&self) -> Pushed {
        self.pushed
            .lock()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or(Pushed {
                reread: true,
                ..Pushed::default()
            })
    }
}

/// A connection id and its inbox.
type Waiter = (u64, Arc<Inbox>);

/// Online recipients: identity → the inbox of each of its connections.
#[derive(Default)]
struct Hub {
    online: Mutex<HashMap<IdentityId, Vec<Waiter>>>,
}

impl Hub {
    fn register(&self, identity: IdentityId, conn: u64) -> Arc<Inbox> {
        let inbox = Arc::new(Inbox::default());
        if let Ok(mut m) = self.online.lock() {
            m.entry(identity)
                .or_default()
                .push((conn, Arc::clone(&inbox)));
        }
        inbox
    }

    fn unregister(&self, identity: &IdentityId, conn: u64) {
        if let Ok(mut m) = self.online.lock()
            && let Some(list) = m.get_mut(identity)
        {
            list.retain(|(c, _)| *c != conn);
            if list.is_empty() {
                m.remove(identity);
            }
        }
    }

    fn is_online(&self, identity: &IdentityId) -> bool {
        self.online
            .lock()
            .map_or(true, |m| m.contains_key(identity))
    }

    /// Hands an envelope this node just committed to its recipient's connections.
    fn push(&self, identity: &IdentityId, sequence: u64, frame: &Arc<[u8]>) {
        if let Ok(m) = self.online.lock()
            && let Some(list) = m.get(identity)
        {
            for (_, inbox) in list {
                inbox.push(sequence, frame);
            }
        }
    }

    /// An envelope for `identity` was committed here with `sequence`. `envelope` is what was
    /// captured when its `Send` arrived if the identity was online then; its connections are
    /// handed the encoded frame. Otherwise a connection that authenticated since may have read
    /// its mailbox before this commit, so they are told to read again (a no-op while the
    /// identity is offline).
    fn committed(&self, identity: &IdentityId, sequence: u64, envelope: Option<StoredEnvelope>) {
        let frame = envelope.and_then(|mut stored| {
            stored.sequence = sequence;
            let mut buf = Vec::with_capacity(stored.body.len() + 128);
            encode_frame(&deliver_frame(&stored), &mut buf).ok()?;
            Some(Arc::<[u8]>::from(buf))
        });
        match frame {
            Some(frame) => self.push(identity, sequence, &frame),
            None => self.wake(identity),
        }
    }

    /// Something was committed for `identity` elsewhere: its connections read the store.
    fn wake(&self, identity: &IdentityId) {
        if let Ok(m) = self.online.lock()
            && let Some(list) = m.get(identity)
        {
            for (_, inbox) in list {
                inbox.demand_reread();
            }
        }
    }

    fn wake_all(&self) {
        if let Ok(m) = self.online.lock() {
            for (_, inbox) in m.values().flatten() {
                inbox.demand_reread();
            }
        }
    }
}

fn now() -> Now {
    Now {
        instant: Instant::now(),
        unix: unix_now(),
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

async fn serve<S: Store + Clone>(
    endpoint: quinn::Endpoint,
    store: S,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    let mut next_id = 0u64;
    let mut purge = tokio::time::interval(PURGE_INTERVAL);
    loop {
        tokio::select! {
            incoming = endpoint.accept() => {
                let Some(incoming) = incoming else { break };
                let address = incoming.remote_address().ip();
                if connections.len() >= shared.limits.max_connections {
                    tracing::warn!(%address, "refused: connection limit");
                    shared.metrics.refused_connection_limit();
                    incoming.refuse();
                    continue;
                }
                if shared.rates.connect.take(address, Instant::now()).is_err() {
                    tracing::debug!(%address, "refused: connect rate");
                    shared.metrics.refused_connect_rate();
                    incoming.refuse();
                    continue;
                }
                next_id += 1;
                connections.spawn(handle_connection(
                    incoming,
                    next_id,
                    store.clone(),
                    Arc::clone(&shared),
                    shutdown.clone(),
                ));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = purge.tick() => {
                let store = store.clone();
                tokio::spawn(async move {
                    loop {
                        match store.purge_expired(unix_now(), PURGE_BATCH).await {
                            Ok(n) => {
                                if n > 0 {
                                    tracing::info!(purged = n, "expired envelopes deleted");
                                }
                                if n < u64::from(PURGE_BATCH) {
                                    break;
                                }
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "purge failed");
                                break;
                            }
                        }
                    }
                });
            }
            _ = shutdown.changed() => break,
        }
    }
    tracing::info!(open = connections.len(), "shutting down");
    endpoint.set_server_config(None);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        connections.abort_all();
    }
    endpoint.close(VarInt::from_u32(0), b"relay shutting down");
    let _ = tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
    // Dropping the last store handle joins the writer thread after its queued commits.
    drop(shared);
    let _ = tokio::task::spawn_blocking(move || drop(store)).await;
}

type StoreTask = (u64, Option<IdentityId>, Result<StoreOutcome, StoreError>);

/// The store operations of one connection in flight, polled by the connection's own task: a
/// completed commit wakes that task directly, with no task spawned per request.
type InFlight = FuturesUnordered<Pin<Box<dyn Future<Output = StoreTask> + Send>>>;

async fn handle_connection<S: Store + Clone>(
    incoming: quinn::Incoming,
    conn_id: u64,
    store: S,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let address = incoming.remote_address();
    let conn = match incoming.await {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(%address, error = %e, "handshake failed");
            return;
        }
    };
    let _open = shared.metrics.connection_opened();
    let mut exporter = [0u8; EXPORTER_LEN];
    if conn
        .export_keying_material(&mut exporter, EXPORTER_LABEL, b"")
        .is_err()
    {
        conn.close(VarInt::from_u32(CloseReason::Internal.code()), b"exporter");
        return;
    }
    let opened = tokio::select! {
        s = tokio::time::timeout(STREAM_OPEN_TIMEOUT, conn.accept_bi()) => s.ok().and_then(Result::ok),
        _ = shutdown.changed() => None,
    };
    let Some((send, mut recv)) = opened else {
        conn.close(VarInt::from_u32(0), b"no stream");
        return;
    };
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    let core = RelayConnection::new(
        ConnectionParams {
            address: address.ip(),
            nonce,
            exporter,
        },
        Arc::clone(&shared.limits),
        Arc::clone(&shared.rates),
    );
    tracing::debug!(%address, conn_id, "connected");
    let (out, out_rx) = mpsc::channel::<Vec<u8>>(OUT_QUEUE_FRAMES);
    let mut writer = tokio::spawn(write_loop(send, out_rx));
    let mut session = Session {
        core,
        conn_id,
        store,
        shared: Arc::clone(&shared),
        out,
        inflight: InFlight::new(),
        delivery: None,
        close: None,
    };
    session.run(&conn, &mut recv, &mut shutdown).await;
    let Session {
        delivery,
        out,
        close,
        inflight,
        ..
    } = session;
    drop(inflight);
    if let Some((identity, task)) = delivery {
        task.abort();
        shared.hub.unregister(&identity, conn_id);
    }
    drop(out);
    // The writer finishes the stream once every queued frame is written, and waits (bounded)
    // for the peer to receive it, so error frames arrive before the close.
    if tokio::time::timeout(Duration::from_secs(5), &mut writer)
        .await
        .is_err()
    {
        // The peer stopped reading; its frames are dropped with the connection.
        writer.abort();
    }
    match close {
        Some(reason) => conn.close(VarInt::from_u32(reason.code()), reason.phrase()),
        None if *shutdown.borrow() => conn.close(VarInt::from_u32(0), b"relay shutting down"),
        None => {
            // The client finished its side; keep delivering until it closes.
        }
    }
    tracing::debug!(%address, conn_id, "disconnected");
}

struct Session<S> {
    core: RelayConnection,
    conn_id: u64,
    store: S,
    shared: Arc<Shared>,
    out: mpsc::Sender<Vec<u8>>,
    inflight: InFlight,
    delivery: Option<(IdentityId, tokio::task::JoinHandle<()>)>,
    close: Option<CloseReason>,
}

impl<S: Store + Clone> Session<S> {
    async fn run(
        &mut self,
        conn: &quinn::Connection,
        recv: &mut quinn::RecvStream,
        shutdown: &mut watch::Receiver<bool>,
    ) {
        let mut decoder = FrameDecoder::new(MAX_FRAME_LEN);
        let mut buf = vec![0u8; 64 * 1024];
        let mut reading = true;
        loop {
            if self.close.is_some() {
                break;
            }
            let can_read = reading && self.inflight.len() < MAX_IN_FLIGHT_REQUESTS;
            if !reading && self.inflight.is_empty() {
                // The client finished sending and every answer is out; deliveries continue
                // until the client closes the connection.
                if let Some((_, task)) = &mut self.delivery {
                    tokio::select! {
                        _ = task => {}
                        _ = conn.closed() => {}
                        _ = shutdown.changed() => {}
                    }
                }
                break;
            }
            tokio::select! {
                Some((request_id, _, result)) = self.inflight.next(), if !self.inflight.is_empty() => {
                    let actions = self.core.handle_store_result(request_id, result);
                    self.execute(actions).await;
                }
                read = recv.read(&mut buf), if can_read => {
                    match read {
                        Ok(Some(n)) => {
                            let mut input = buf.get(..n).unwrap_or_default();
                            while !input.is_empty() && self.close.is_none() {
                                match decoder.decode(input) {
                                    Ok((used, frame)) => {
                                        input = input.get(used..).unwrap_or_default();
                                        if let Some(body) = frame {
                                            let actions = self.core.handle_bytes(&body, now());
                                            self.execute(actions).await;
                                        }
                                    }
                                    Err(e) => {
                                        let actions = self.core.handle_framing_error(&e);
                                        self.execute(actions).await;
                                    }
                                }
                            }
                        }
                        Ok(None) => {
                            reading = false;
                            if !decoder.is_idle() {
                                let e = DecodeError::Truncated { what: "frame", needed: 1 };
                                let actions = self.core.handle_framing_error(&e);
                                self.execute(actions).await;
                            }
                        }
                        Err(_) => break,
                    }
                }
                _ = shutdown.changed() => {
                    // Finish what was accepted: every in-flight request gets its answer.
                    while let Some((request_id, _, result)) = self.inflight.next().await {
                        let actions = self.core.handle_store_result(request_id, result);
                        self.execute(actions).await;
                    }
                    break;
                }
            }
        }
    }

    async fn execute(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Send(frame) => self.send(&frame).await,
                Action::Store { request_id, op } => self.submit(request_id, op),
                Action::Authenticated(identity) => {
                    tracing::debug!(conn_id = self.conn_id, identity = %hex::encode(identity), "authenticated");
                    let inbox = self.shared.hub.register(identity, self.conn_id);
                    let task = tokio::spawn(deliver(
                        self.store.clone(),
                        identity,
                        inbox,
                        self.out.clone(),
                        Arc::clone(&self.shared.metrics),
                        self.shared.poll,
                    ));
                    self.delivery = Some((identity, task));
                }
                Action::Close(reason) => {
                    tracing::debug!(conn_id = self.conn_id, ?reason, "closing");
                    self.close = Some(reason);
                }
            }
        }
    }

    async fn send(&mut self, frame: &v1::ServerFrame) {
        if let Some(v1::server_frame::Body::Error(e)) = &frame.body {
            self.shared.metrics.rejected(e.code);
        }
        let mut buf = Vec::new();
        if encode_frame(frame, &mut buf).is_ok() {
            let _ = self.out.send(buf).await;
        }
    }

    fn track(&mut self, operation: impl Future<Output = StoreTask> + Send + 'static) {
        self.inflight.push(Box::pin(operation));
    }

    /// Submits the operation now (call order is commit order) and collects its result later.
    fn submit(&mut self, request_id: u64, op: StoreOp) {
        let s = &self.store;
        match op {
            StoreOp::Counts(identity) => {
                let f = s.counts(identity);
                self.track(async move { (request_id, None, f.await.map(StoreOutcome::Counts)) });
            }
            StoreOp::Enqueue(envelope, quota) => {
                let message_id = envelope.message_id;
                let recipient = envelope.recipient;
                // What the recipient's connections are handed once the commit returns, if it
                // is online now (a connection that authenticates later reads the store).
                let push = self
                    .shared
                    .hub
                    .is_online(&recipient)
                    .then(|| StoredEnvelope {
                        sequence: 0,
                        sender: envelope.sender,
                        message_id,
                        body: envelope.body.clone(),
                        received_at: envelope.received_at,
                    });
                let submitted = Instant::now();
                let f = s.enqueue(envelope, quota);
                let shared = Arc::clone(&self.shared);
                self.track(async move {
                    let r = f.await;
                    shared.metrics.send_stored(submitted.elapsed());
                    if let Ok(e) = &r {
                        shared.metrics.send_accepted(e.duplicate);
                        if !e.duplicate {
                            shared.hub.committed(&recipient, e.sequence, push);
                        }
                    }
                    (
                        request_id,
                        Some(recipient),
                        r.map(|e| StoreOutcome::Enqueued(message_id, e)),
                    )
                });
            }
            StoreOp::Ack(identity, sequences) => {
                let f = s.ack(identity, sequences);
                let metrics = Arc::clone(&self.shared.metrics);
                self.track(async move {
                    let r = f.await;
                    if let Ok(n) = &r {
                        metrics.acked(*n);
                    }
                    (request_id, None, r.map(StoreOutcome::Acked))
                });
            }
            StoreOp::Publish(p) => {
                let f = s.publish(p);
                self.track(async move { (request_id, None, f.await.map(StoreOutcome::Published)) });
            }
            StoreOp::TakeBundle(owner) => {
                let f = s.take_bundle(owner);
                self.track(async move {
                    (
                        request_id,
                        None,
                        f.await.map(|b| StoreOutcome::Bundle(b.map(Box::new))),
                    )
                });
            }
        }
    }
}

/// Writes queued frames, coalescing whatever is queued into one write.
async fn write_loop(mut send: quinn::SendStream, mut frames: mpsc::Receiver<Vec<u8>>) {
    let mut batch = Vec::with_capacity(64 * 1024);
    while let Some(first) = frames.recv().await {
        batch.clear();
        batch.extend_from_slice(&first);
        while batch.len() < 256 * 1024 {
            match frames.try_recv() {
                Ok(more) => batch.extend_from_slice(&more),
                Err(_) => break,
            }
        }
        if send.write_all(&batch).await.is_err() {
            return;
        }
    }
    let _ = send.finish();
    let _ = tokio::time::timeout(Duration::from_secs(2), send.stopped()).await;
}

/// Drains the mailbox in order, then pushes each envelope this node commits for the identity
/// as the hub hands it over, reading the store again whenever the handed-over frames do not
/// continue the sequence (a commit on another node, an overflow, a hint). Never waits for a
/// transport acknowledgement or a client Ack between envelopes.
async fn deliver<S: Store>(
    store: S,
    identity: IdentityId,
    inbox: Arc<Inbox>,
    out: mpsc::Sender<Vec<u8>>,
    metrics: Arc<Metrics>,
    poll: Option<Duration>,
) {
    // The last sequence written to this connection: delivery is in sequence order, each once.
    let mut after = 0;
    let mut delivered = 0u64;
    let mut drained = false;
    let mut reread = true;
    loop {
        if reread {
            let batch = match store
                .fetch(identity, after, DELIVERY_BATCH, unix_now())
                .await
            {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "fetch failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            let full = batch.len() == DELIVERY_BATCH;
            for e in &batch {
                after = e.sequence;
                let mut buf = Vec::with_capacity(e.body.len() + 128);
                if encode_frame(&deliver_frame(e), &mut buf).is_ok() && out.send(buf).await.is_err()
                {
                    return;
                }
                delivered += 1;
                metrics.delivered();
            }
            if full {
                continue;
            }
            reread = false;
            if !drained {
                drained = true;
                let mut buf = Vec::new();
                if encode_frame(&queue_empty_frame(delivered), &mut buf).is_ok()
                    && out.send(buf).await.is_err()
                {
                    return;
                }
            }
        }
        let pushed = inbox.take();
        if pushed.reread {
            reread = true;
            continue;
        }
        if pushed.frames.is_empty() {
            match poll {
                // Shared store: a hint may be lost (spec/relay.md §9), so re-read now and then.
                Some(every) => {
                    let spread = u64::try_from(every.as_millis() / 4).unwrap_or(0);
                    let jitter = Duration::from_millis(rand::RngExt::random_range(
                        &mut rand::rng(),
                        0..=spread,
                    ));
                    if tokio::time::timeout(every + jitter, inbox.notify.notified())
                        .await
                        .is_err()
                    {
                        reread = true;
                    }
                }
                None => inbox.notify.notified().await,
            }
            continue;
        }
        for (sequence, frame) in pushed.frames {
            if sequence <= after {
                // Already read from the store.
                continue;
            }
            if sequence != after + 1 {
                // A gap: something committed that was not handed over here (or its commit
                // finished later); the store has it.
                reread = true;
                break;
            }
            if out.send(frame.to_vec()).await.is_err() {
                return;
            }
            after = sequence;
            delivered += 1;
            metrics.delivered();
        }
    }
}

/// Turns a shared store's hints (commits on any node) into wake-ups of local connections.
async fn forward_wakeups(
    mut hints: tokio::sync::broadcast::Receiver<Wake>,
    shared: std::sync::Weak<Shared>,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let hint = hints.recv().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        match hint {
            Ok(Wake::Identity(id)) => shared.hub.wake(&id),
            Ok(Wake::All) | Err(RecvError::Lagged(_)) => shared.hub.wake_all(),
            Err(RecvError::Closed) => return,
        }
    }
}

#[cfg(test)]
mod tests;
