//! The QUIC transport to a relay, built on the [`Engine`] (feature `transport`, default on).
//!
//! A [`Client`] owns one engine and one background task that keeps a relay connection:
//!
//! ```text
//!   app ── request_payment, send_text, ... ──▶ Engine (commit, outbox) ──▶ flush ──▶ relay Send
//!   app ◀── next_event() ◀── handle_envelope ◀── relay Deliver ──▶ ack (after the commit)
//! ```
//!
//! - **Connect**: QUIC with the relay certificate pinned by its SHA-256 fingerprint, through
//!   `remit-relay-client` (never the relay server), authenticated by the engine's signature over
//!   the relay's challenge ([`Engine::sign_relay_auth`]; the transport holds no key), then the
//!   transport sends what the engine decides to publish ([`Engine::poll_prekey_publication`]:
//!   the identity and signed prekey once per connection, one-time prekeys whenever the relay
//!   holds fewer than [`TransportConfig::min_one_time_prekeys`]).
//! - **Send**: every outgoing call commits its envelope to the engine's outbox first, then the
//!   task sends the whole outbox and marks each envelope sent once the relay holds it. After a
//!   crash or a reconnect the outbox is sent again; the relay stores a repeated message id once.
//! - **Receive**: each pushed envelope goes to [`Engine::handle_envelope`]; the relay is acked
//!   only after that returned (the effect is committed). A crash in between causes a redelivery
//!   that the engine recognises and reports nothing for. An envelope that can never be processed
//!   (it does not decrypt, it is malformed) is reported as [`ClientEvent::Dropped`] and acked; a
//!   store failure is not acked and the connection is restarted.
//! - **Sessions**: a call to a peer without a session fetches the peer's bundle first
//!   ([`Client::ensure_session`]), checking that it is the identity asked for.
//! - **Reconnect** with exponential backoff ([`TransportConfig::backoff_initial`] to
//!   [`TransportConfig::backoff_max`]); while offline, outgoing calls still commit and queue.
//!
//! Time comes from a [`Clock`] (system time plus an adjustable offset), so a demo or a test can
//! move the clock forward instead of sleeping.

mod task;

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use rand::rngs::ChaCha20Rng;
use remit_pay::{CancelReason, DeclineReason, Id, Money, RequestDraft, Settlement};
use remit_session::VerifiedBundle;
use remit_wire::session::PreKeyBundle;
use tokio::sync::{Mutex, MutexGuard, mpsc, oneshot};

use crate::{
    engine::Engine,
    error::ClientError,
    event::{Event, Outgoing, Sent},
    store::Store,
};

pub use remit_relay_client::RelayError;

/// The random number generator the transport gives the engine (seeded from the OS).
pub type Rng = ChaCha20Rng;

/// A generator seeded from the OS, for the engine's calls.
#[must_use]
pub fn os_rng() -> Rng {
    rand::make_rng()
}

/// Events the transport buffers for the app before it stops reading the relay.
pub const EVENT_BUFFER: usize = 4096;

/// Wall-clock time in Unix seconds plus an offset that can be moved (demo and tests).
#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset: Arc<AtomicI64>,
}

impl Clock {
    /// The system clock, offset by `seconds`.
    #[must_use]
    pub fn with_offset(seconds: i64) -> Self {
        Self {
            offset: Arc::new(AtomicI64::new(seconds)),
        }
    }

    /// Now, in Unix seconds.
    #[must_use]
    pub fn now(&self) -> u64 {
        let system = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        system.saturating_add_signed(self.offset.load(Ordering::Relaxed))
    }

    /// Moves the clock by `seconds` (every copy of this clock moves).
    pub fn advance(&self, seconds: i64) {
        self.offset.fetch_add(seconds, Ordering::Relaxed);
    }

    /// The current offset from the system clock.
    #[must_use]
    pub fn offset(&self) -> i64 {
        self.offset.load(Ordering::Relaxed)
    }
}

/// How to reach the relay and how to behave on it.
#[derive(Clone)]
#[non_exhaustive]
pub struct TransportConfig {
    /// The relay's UDP address.
    pub relay: SocketAddr,
    /// SHA-256 of the relay's certificate (DER): the only certificate accepted.
    pub fingerprint: [u8; 32],
    /// Top up one-time prekeys on the relay when it holds fewer than this.
    pub min_one_time_prekeys: u32,
    /// How many one-time prekeys one top-up publishes (at most `MAX_PREKEYS_PER_PUBLISH`).
    pub one_time_prekey_batch: usize,
    /// How long a connection attempt (QUIC handshake and authentication) may take.
    pub connect_timeout: Duration,
    /// How long one relay request may take before the connection is considered lost.
    pub request_timeout: Duration,
    /// First reconnect delay.
    pub backoff_initial: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
    /// The clock.
    pub clock: Clock,
    /// Called after an envelope is committed and before it is acked (tests only).
    #[cfg(feature = "internal")]
    pub before_ack: Option<crate::internal::BeforeAck>,
}

impl TransportConfig {
    /// Defaults for a relay at `relay` with certificate `fingerprint`.
    #[must_use]
    pub fn new(relay: SocketAddr, fingerprint: [u8; 32]) -> Self {
        Self {
            relay,
            fingerprint,
            min_one_time_prekeys: 20,
            one_time_prekey_batch: 50,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(15),
            backoff_initial: Duration::from_millis(250),
            backoff_max: Duration::from_secs(30),
            clock: Clock::default(),
            #[cfg(feature = "internal")]
            before_ack: None,
        }
    }
}

impl core::fmt::Debug for TransportConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TransportConfig")
            .field("relay", &self.relay)
            .field("min_one_time_prekeys", &self.min_one_time_prekeys)
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

/// Why a transport call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// Nothing answered at the relay's address in time.
    #[error("relay at {addr} is not reachable (is it running?)")]
    Unreachable {
        /// The address tried.
        addr: SocketAddr,
    },
    /// The relay's certificate is not the pinned one.
    #[error("relay at {addr} presented a certificate that does not match the pinned fingerprint")]
    WrongFingerprint {
        /// The address tried.
        addr: SocketAddr,
    },
    /// The relay refused a request, or the connection failed.
    #[error("relay: {0}")]
    Relay(RelayError),
    /// The call needs the relay (a bundle fetch) and there is no connection right now.
    #[error("not connected to the relay")]
    Offline,
    /// The relay has no prekeys for this peer: it never connected to this relay.
    #[error("peer {} is not registered at this relay", hex(.peer))]
    UnknownPeer {
        /// The peer's address.
        peer: [u8; 32],
    },
    /// The relay returned a bundle for another identity than the one asked for.
    #[error("the relay returned a bundle for another identity")]
    BundleMismatch,
    /// The engine refused the call (nothing changed).
    #[error(transparent)]
    Engine(#[from] ClientError),
    /// The transport task has stopped.
    #[error("the transport has stopped")]
    Stopped,
}

impl From<RelayError> for TransportError {
    fn from(e: RelayError) -> Self {
        Self::Relay(e)
    }
}

/// What the transport reports to the app.
// `Event` is the large variant; as for `Event` itself, boxing buys nothing for a value consumed
// once.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientEvent {
    /// The engine's event for a received envelope (already committed).
    Engine(Event),
    /// Connected and authenticated; `queued` envelopes wait at the relay.
    Connected {
        /// Envelopes in our mailbox at authentication.
        queued: u64,
    },
    /// The relay delivered everything that was queued when we connected.
    Idle,
    /// The connection was lost; the transport reconnects after `retry_in`.
    Disconnected {
        /// What happened.
        error: TransportError,
        /// When the next attempt starts.
        retry_in: Duration,
    },
    /// An envelope left for the relay, which now holds it.
    Sent {
        /// The recipient's address.
        recipient: [u8; 32],
        /// The envelope's size in bytes (all the relay learns besides the addresses).
        size: usize,
    },
    /// An envelope arrived.
    Received {
        /// The sender's address, as the relay authenticated it.
        sender: [u8; 32],
        /// The envelope's size in bytes.
        size: usize,
    },
    /// An envelope that can never be processed (malformed, does not decrypt) was acked and
    /// dropped.
    Dropped {
        /// The sender's address.
        sender: [u8; 32],
        /// Why.
        error: ClientError,
    },
    /// One-time prekeys were published; the relay now holds `left`.
    PrekeysPublished {
        /// One-time prekeys on the relay.
        left: u32,
    },
    /// Something went wrong that the transport works around.
    Warning(Warning),
}

/// What the transport worked around ([`ClientEvent::Warning`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Warning {
    /// A send failed; the envelope stays in the outbox and is sent again on the next flush or
    /// connection (the relay stores a repeated message id once).
    #[error("send failed, kept in the outbox: {0}")]
    SendFailed(RelayError),
    /// Envelopes the relay holds could not be marked sent; they are sent again later, and the
    /// relay stores them once.
    #[error("outbox: {0}")]
    MarkSent(ClientError),
    /// The relay pushed an error frame not tied to a request; the connection stays open.
    #[error("relay: {0}")]
    Relay(RelayError),
}

/// The engine and the random number generator it is driven with, behind the client's lock.
pub struct Core<S: Store> {
    /// The engine.
    pub engine: Engine<S>,
    /// The generator for its calls.
    pub rng: Rng,
}

impl<S: Store> core::fmt::Debug for Core<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Core")
            .field("engine", &self.engine)
            .finish_non_exhaustive()
    }
}

/// How a flush went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FlushReport {
    /// Envelopes the relay took in this flush.
    pub sent: usize,
    /// Envelopes still in the outbox (offline, or the relay refused them for now).
    pub pending: usize,
}

enum Command {
    Fetch {
        peer: [u8; 32],
        reply: oneshot::Sender<Result<PreKeyBundle, TransportError>>,
    },
    Flush {
        reply: oneshot::Sender<FlushReport>,
    },
    Sync {
        reply: oneshot::Sender<()>,
    },
    Close {
        reply: oneshot::Sender<()>,
    },
}

/// A relay-connected client: an [`Engine`] driven by a background task that keeps the relay
/// connection (see the module documentation).
pub struct Client<S: Store + Send + 'static> {
    core: Arc<Mutex<Core<S>>>,
    commands: mpsc::Sender<Command>,
    events: mpsc::Receiver<ClientEvent>,
    task: tokio::task::JoinHandle<()>,
    clock: Clock,
    address: [u8; 32],
}

impl<S: Store + Send + 'static> core::fmt::Debug for Client<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Client")
            .field("address", &hex(&self.address))
            .finish_non_exhaustive()
    }
}

impl<S: Store + Send + 'static> Client<S> {
    /// Connects `engine` to the relay of `config`: the first connection (authentication,
    /// prekey publication, the outbox sent again) happens before this returns, so a wrong
    /// address or fingerprint is an error here. Later losses are reconnected in the
    /// background.
    ///
    /// # Errors
    /// [`TransportError::Unreachable`], [`TransportError::WrongFingerprint`],
    /// [`TransportError::Relay`], or an engine error while publishing prekeys.
    pub async fn connect(
        engine: Engine<S>,
        config: TransportConfig,
    ) -> Result<Self, TransportError> {
        let address = engine.address();
        let clock = config.clock.clone();
        let core = Arc::new(Mutex::new(Core {
            engine,
            rng: rand::make_rng(),
        }));
        let (events_tx, events) = mpsc::channel(EVENT_BUFFER);
        let mut worker = task::Worker {
            core: Arc::clone(&core),
            config,
            events: events_tx,
            sync_waiters: Vec::new(),
            idle: false,
        };
        let relay = worker.connect().await?;
        let (commands, commands_rx) = mpsc::channel(64);
        let task = tokio::spawn(worker.run(relay, commands_rx));
        Ok(Self {
            core,
            commands,
            events,
            task,
            clock,
            address,
        })
    }

    /// Our address.
    #[must_use]
    pub fn address(&self) -> [u8; 32] {
        self.address
    }

    /// The clock the client uses.
    #[must_use]
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The engine, locked (getters, trust calls, settlement verification). Do not hold the
    /// guard across an `.await` on this client: the transport task needs the engine too.
    pub async fn lock(&self) -> MutexGuard<'_, Core<S>> {
        self.core.lock().await
    }

    /// The next event; `None` once the transport stopped.
    pub async fn next_event(&mut self) -> Option<ClientEvent> {
        self.events.recv().await
    }

    /// An event already waiting, if any.
    pub fn try_next_event(&mut self) -> Option<ClientEvent> {
        self.events.try_recv().ok()
    }

    /// Waits until the relay delivered everything that was queued for us when the current
    /// connection authenticated (its `QueueEmpty`); the events for it are then in
    /// [`Client::next_event`].
    ///
    /// # Errors
    /// [`TransportError::Stopped`].
    pub async fn sync(&self) -> Result<(), TransportError> {
        let (reply, rx) = oneshot::channel();
        self.command(Command::Sync { reply }).await?;
        rx.await.map_err(|_| TransportError::Stopped)
    }

    /// Sends the outbox now; reports what left and what is still queued.
    ///
    /// # Errors
    /// [`TransportError::Stopped`].
    pub async fn flush(&self) -> Result<FlushReport, TransportError> {
        let (reply, rx) = oneshot::channel();
        self.command(Command::Flush { reply }).await?;
        rx.await.map_err(|_| TransportError::Stopped)
    }

    /// Makes sure a session with `peer` exists: if not, fetches its bundle from the relay,
    /// checks that it is `peer`'s, and starts a session. With a `handle`, the identity is
    /// pinned to it ([`Engine::pin_peer`]); returns the engine's events (an
    /// [`Event::IdentityChanged`] the app must show).
    ///
    /// # Errors
    /// [`TransportError::Offline`], [`TransportError::UnknownPeer`],
    /// [`TransportError::BundleMismatch`], or an engine error.
    pub async fn ensure_session(
        &self,
        peer: &[u8; 32],
        handle: Option<&str>,
    ) -> Result<Vec<Event>, TransportError> {
        {
            let mut core = self.core.lock().await;
            if let Some(identity) = core.engine.peer_identity(peer).copied() {
                let mut events = Vec::new();
                if let Some(handle) = handle {
                    let pinned = core.engine.contact(handle).map(|c| c.identity);
                    if pinned != Some(identity) {
                        events.extend(core.engine.pin_peer(handle, identity)?);
                    }
                }
                return Ok(events);
            }
        }
        let (reply, rx) = oneshot::channel();
        self.command(Command::Fetch { peer: *peer, reply }).await?;
        let bundle = rx.await.map_err(|_| TransportError::Stopped)??;
        let verified = VerifiedBundle::verify(&bundle).map_err(ClientError::from)?;
        if verified.identity().signing_key() != peer {
            return Err(TransportError::BundleMismatch);
        }
        let core = &mut *self.core.lock().await;
        if core.engine.has_session(peer) {
            // A session appeared meanwhile (the peer wrote first): keep it.
            return Ok(Vec::new());
        }
        Ok(core.engine.start_session(handle, &bundle, &mut core.rng)?)
    }

    /// Sends chat text to `peer` (fetching its bundle if needed).
    ///
    /// # Errors
    /// As [`Client::ensure_session`] and [`Engine::send_text`].
    pub async fn send_text(&self, peer: &[u8; 32], text: &str) -> Result<Outgoing, TransportError> {
        self.ensure_session(peer, None).await?;
        let out = {
            let core = &mut *self.core.lock().await;
            core.engine.send_text(peer, text, &mut core.rng)?
        };
        self.flush().await?;
        Ok(out)
    }

    /// Asks `peer` for money ([`Engine::request_payment`]) and sends the request.
    ///
    /// # Errors
    /// As [`Client::ensure_session`] and [`Engine::request_payment`].
    pub async fn request_payment(
        &self,
        peer: &[u8; 32],
        draft: &RequestDraft,
    ) -> Result<Sent, TransportError> {
        self.ensure_session(peer, None).await?;
        let now = self.clock.now();
        self.send(|c| c.engine.request_payment(peer, draft, now, &mut c.rng))
            .await
    }

    /// Sends an itemised invoice to `peer` ([`Engine::send_invoice`]).
    ///
    /// # Errors
    /// As [`Client::ensure_session`] and [`Engine::send_invoice`].
    pub async fn send_invoice(
        &self,
        peer: &[u8; 32],
        draft: &RequestDraft,
    ) -> Result<Sent, TransportError> {
        self.ensure_session(peer, None).await?;
        let now = self.clock.now();
        self.send(|c| c.engine.send_invoice(peer, draft, now, &mut c.rng))
            .await
    }

    /// Tells the payee we paid ([`Engine::notify_payment`]).
    ///
    /// # Errors
    /// As [`Engine::notify_payment`].
    pub async fn notify_payment(
        &self,
        request_id: &Id,
        amount: Money,
        method_index: u32,
        settlement: Settlement,
        note: &str,
    ) -> Result<Sent, TransportError> {
        let now = self.clock.now();
        self.send(|c| {
            c.engine.notify_payment(
                request_id,
                amount,
                method_index,
                settlement,
                note,
                now,
                &mut c.rng,
            )
        })
        .await
    }

    /// Sends a signed receipt ([`Engine::send_receipt`]).
    ///
    /// # Errors
    /// As [`Engine::send_receipt`].
    pub async fn send_receipt(&self, request_id: &Id) -> Result<Sent, TransportError> {
        let now = self.clock.now();
        self.send(|c| c.engine.send_receipt(request_id, now, &mut c.rng))
            .await
    }

    /// Declines a request ([`Engine::decline`]).
    ///
    /// # Errors
    /// As [`Engine::decline`].
    pub async fn decline(
        &self,
        request_id: &Id,
        reason_code: DeclineReason,
        reason: &str,
    ) -> Result<Sent, TransportError> {
        let now = self.clock.now();
        self.send(|c| {
            c.engine
                .decline(request_id, reason_code, reason, now, &mut c.rng)
        })
        .await
    }

    /// Withdraws a request ([`Engine::cancel`]).
    ///
    /// # Errors
    /// As [`Engine::cancel`].
    pub async fn cancel(
        &self,
        request_id: &Id,
        reason_code: CancelReason,
        reason: &str,
    ) -> Result<Sent, TransportError> {
        let now = self.clock.now();
        self.send(|c| {
            c.engine
                .cancel(request_id, reason_code, reason, now, &mut c.rng)
        })
        .await
    }

    /// Applies the clock to every thread ([`Engine::handle_timeout`]).
    ///
    /// # Errors
    /// As [`Engine::handle_timeout`].
    pub async fn handle_timeout(&self) -> Result<Vec<Event>, TransportError> {
        let now = self.clock.now();
        Ok(self.core.lock().await.engine.handle_timeout(now)?)
    }

    /// Stops the transport task and closes the connection; returns the engine (everything is
    /// committed).
    pub async fn close(self) -> Option<Engine<S>> {
        let (reply, rx) = oneshot::channel();
        if self.commands.send(Command::Close { reply }).await.is_ok() {
            let _ = rx.await;
        }
        let _ = self.task.await;
        drop(self.commands);
        Arc::into_inner(self.core).map(|m| m.into_inner().engine)
    }

    async fn send(
        &self,
        call: impl FnOnce(&mut Core<S>) -> Result<Sent, ClientError>,
    ) -> Result<Sent, TransportError> {
        let sent = call(&mut *self.core.lock().await)?;
        self.flush().await?;
        Ok(sent)
    }

    async fn command(&self, command: Command) -> Result<(), TransportError> {
        self.commands
            .send(command)
            .await
            .map_err(|_| TransportError::Stopped)
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use core::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
