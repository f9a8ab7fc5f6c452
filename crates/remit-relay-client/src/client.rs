//! [`Client`]: a relay connection driven by a task that moves bytes between quinn and a
//! [`ClientConnection`], which decides everything else.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use quinn::VarInt;
use remit_relay_proto::{
    Address, AuthSigner, ClientConfig, ClientConnection, ConnectionError, Delivery, Event as Proto,
    MessageId, Reply, RequestError, RequestId, RequestRefused, auth::DIGEST_LEN,
};
use remit_wire::{session::PreKeyBundle, v1};
use tokio::sync::{Notify, mpsc, oneshot};

use crate::{RelayError, tls};

/// Events pushed by the relay that the app has not taken yet. When full, the client stops
/// reading the relay stream until the app takes one (the relay then holds the rest).
pub const MAX_QUEUED_EVENTS: usize = 4096;

/// How long [`Client::close`] waits for the close to reach the relay.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// How long the driver sleeps when the machine waits on no timer (nothing in flight).
const IDLE_WAKE: Duration = Duration::from_secs(3600);

/// Something the relay pushed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// An envelope from our mailbox; acknowledge it ([`Client::ack`]) once its effect is durable.
    Deliver(Delivery),
    /// The backlog queued at authentication has been delivered.
    QueueEmpty {
        /// How many envelopes that drain delivered.
        delivered: u64,
    },
    /// An error frame not tied to a request (for example after a malformed frame of ours).
    Error(RelayError),
}

/// A client's pushed events, taken with [`Client::take_events`].
#[derive(Debug)]
pub struct Events(mpsc::Receiver<Event>);

impl Events {
    /// The next event; `None` once the connection is gone.
    pub async fn recv(&mut self) -> Option<Event> {
        self.0.recv().await
    }

    /// The next event if one is already queued.
    pub fn try_recv(&mut self) -> Option<Event> {
        self.0.try_recv().ok()
    }
}

/// A connection whose relay has sent its authentication challenge: sign
/// [`Challenge::digest`] under the relay-auth context with the identity key, then
/// [`Challenge::authenticate`]. The key never enters this crate.
#[derive(Debug)]
pub struct Challenge {
    endpoint: quinn::Endpoint,
    connection: quinn::Connection,
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    machine: ClientConnection,
    digest: [u8; DIGEST_LEN],
}

impl Challenge {
    /// What the identity key signs, as `AUTH_CONTEXT ‖ digest` (`Account::sign_statement`).
    #[must_use]
    pub fn digest(&self) -> [u8; DIGEST_LEN] {
        self.digest
    }

    /// Sends the signature and waits for the relay to accept it.
    ///
    /// # Errors
    /// [`RelayError::Auth`] if the relay refuses or the connection fails.
    pub async fn authenticate(mut self, signature: [u8; 64]) -> Result<Client, RelayError> {
        self.machine
            .handle_signature(signature)
            .map_err(|_| RelayError::Auth(ConnectionError::Closed))?;
        let (one_time_prekeys_left, queued) = loop {
            match pump_until_event(
                &mut self.machine,
                &mut self.send,
                &mut self.recv,
                &self.connection,
            )
            .await?
            {
                Proto::Authenticated {
                    one_time_prekeys_left,
                    queued,
                } => break (one_time_prekeys_left, queued),
                Proto::Closed(e) => return Err(RelayError::Auth(e)),
                _ => {}
            }
        };
        Ok(Client::start(
            self.endpoint,
            self.connection,
            self.send,
            self.recv,
            self.machine,
            one_time_prekeys_left,
            queued,
        ))
    }
}

/// Moves bytes until the machine reports an event (the authentication phase, before the
/// driver task exists).
async fn pump_until_event(
    machine: &mut ClientConnection,
    send: &mut quinn::SendStream,
    recv: &mut quinn::RecvStream,
    connection: &quinn::Connection,
) -> Result<Proto, RelayError> {
    loop {
        if let Some(bytes) = machine.poll_transmit() {
            send.write_all(&bytes).await?;
        }
        if let Some(event) = machine.poll_event() {
            return Ok(event);
        }
        let deadline = machine
            .poll_timeout()
            .unwrap_or_else(|| Instant::now() + IDLE_WAKE);
        tokio::select! {
            chunk = recv.read_chunk(64 * 1024, true) => match chunk {
                Ok(Some(chunk)) => machine.handle_input(&chunk.bytes, Instant::now()),
                Ok(None) => machine.handle_end(),
                Err(e) => {
                    connection.close(VarInt::from_u32(0), b"read failed");
                    return Err(RelayError::Read(e));
                }
            },
            () = tokio::time::sleep_until(deadline.into()) => machine.handle_timeout(Instant::now()),
        }
    }
}

/// An authenticated relay connection. Requests may be issued concurrently from several tasks
/// (`&self`, for example through an `Arc<Client>`), many in flight at once; pushed envelopes
/// are read with [`Client::next_event`] or [`Client::recv`], or from [`Client::take_events`].
#[derive(Debug)]
pub struct Client {
    endpoint: quinn::Endpoint,
    connection: quinn::Connection,
    shared: Arc<Mutex<Shared>>,
    wake: Arc<Notify>,
    events: mpsc::Receiver<Event>,
    identity: Address,
    one_time_prekeys_left: u32,
    queued: u64,
}

/// What the app's calls and the driver task share. Never locked across an `.await`.
#[derive(Debug)]
struct Shared {
    machine: ClientConnection,
    waiters: HashMap<RequestId, oneshot::Sender<Result<Reply, RequestError>>>,
}

impl Client {
    /// Connects to `relay` (accepting only the certificate with SHA-256 `fingerprint`) and
    /// authenticates as `signer`'s identity.
    ///
    /// # Errors
    /// Connection and TLS failures (a wrong fingerprint fails the handshake);
    /// [`RelayError::Sign`] if the signer refuses; [`RelayError::Auth`] if the relay refuses.
    pub async fn connect<S: AuthSigner + ?Sized>(
        relay: SocketAddr,
        fingerprint: [u8; 32],
        signer: &S,
    ) -> Result<Self, RelayError> {
        let endpoint = tls::client_endpoint(relay)?;
        Self::connect_on(&endpoint, relay, fingerprint, signer).await
    }

    /// [`Self::connect`] on an existing client endpoint (many connections, one UDP socket).
    ///
    /// # Errors
    /// As [`Self::connect`].
    pub async fn connect_on<S: AuthSigner + ?Sized>(
        endpoint: &quinn::Endpoint,
        relay: SocketAddr,
        fingerprint: [u8; 32],
        signer: &S,
    ) -> Result<Self, RelayError> {
        let challenge = Self::begin(
            endpoint,
            relay,
            fingerprint,
            signer.identity(),
            ClientConfig::new(AGENT),
        )
        .await?;
        let signature = signer.sign_auth_digest(&challenge.digest())?;
        challenge.authenticate(signature).await
    }

    /// Connects and sends Hello as `identity`; returns when the relay's challenge is in, for
    /// the caller to sign ([`Challenge::authenticate`]).
    ///
    /// # Errors
    /// Connection and TLS failures; [`RelayError::Auth`] if the relay refuses the Hello or
    /// does not answer within `config.auth_timeout`.
    pub async fn begin(
        endpoint: &quinn::Endpoint,
        relay: SocketAddr,
        fingerprint: [u8; 32],
        identity: Address,
        config: ClientConfig,
    ) -> Result<Challenge, RelayError> {
        let (connection, mut send, mut recv, exporter) =
            tls::open(endpoint, relay, fingerprint).await?;
        let mut machine = ClientConnection::new(identity, exporter, config, Instant::now());
        loop {
            match pump_until_event(&mut machine, &mut send, &mut recv, &connection).await? {
                Proto::AuthChallenge { digest } => {
                    return Ok(Challenge {
                        endpoint: endpoint.clone(),
                        connection,
                        send,
                        recv,
                        machine,
                        digest,
                    });
                }
                Proto::Closed(e) => return Err(RelayError::Auth(e)),
                _ => {}
            }
        }
    }

    fn start(
        endpoint: quinn::Endpoint,
        connection: quinn::Connection,
        send: quinn::SendStream,
        recv: quinn::RecvStream,
        machine: ClientConnection,
        one_time_prekeys_left: u32,
        queued: u64,
    ) -> Self {
        let identity = machine.identity();
        let shared = Arc::new(Mutex::new(Shared {
            machine,
            waiters: HashMap::new(),
        }));
        let wake = Arc::new(Notify::new());
        let (events_tx, events) = mpsc::channel(MAX_QUEUED_EVENTS);
        let (out, out_rx) = mpsc::unbounded_channel();
        tokio::spawn(write_loop(send, out_rx));
        tokio::spawn(drive(
            Arc::clone(&shared),
            Arc::clone(&wake),
            recv,
            out,
            events_tx,
        ));
        Self {
            endpoint,
            connection,
            shared,
            wake,
            events,
            identity,
            one_time_prekeys_left,
            queued,
        }
    }

    /// The authenticated identity.
    #[must_use]
    pub fn identity(&self) -> Address {
        self.identity
    }

    /// One-time prekeys the relay held for us at authentication.
    #[must_use]
    pub fn one_time_prekeys_left(&self) -> u32 {
        self.one_time_prekeys_left
    }

    /// Envelopes queued for us at authentication.
    #[must_use]
    pub fn queued_at_auth(&self) -> u64 {
        self.queued
    }

    /// The QUIC connection.
    #[must_use]
    pub fn connection(&self) -> &quinn::Connection {
        &self.connection
    }

    /// Publishes prekeys for our identity; returns the one-time prekeys the relay now holds.
    ///
    /// # Errors
    /// [`RelayError::Refused`] (`FORBIDDEN`, `BAD_SIGNATURE`, `QUOTA`, ...), connection errors.
    pub async fn publish(&self, publish: v1::PublishPreKeys) -> Result<u32, RelayError> {
        match self
            .request(|m, now| m.publish(publish, now))?
            .await
            .map_err(|_| RelayError::Closed)??
        {
            Reply::Published {
                one_time_prekeys_left,
            } => Ok(one_time_prekeys_left),
            _ => Err(RequestError::UnexpectedReply.into()),
        }
    }

    /// Fetches `identity`'s bundle (consuming one of its one-time prekeys at the relay). The
    /// bundle is for the identity asked for (checked), decoded but *not verified*: the caller
    /// checks it with `remit_session::VerifiedBundle::verify`.
    ///
    /// # Errors
    /// [`RelayError::Refused`] (`NOT_FOUND`, `RATE_LIMITED`), [`RelayError::BundleMismatch`],
    /// connection errors.
    pub async fn fetch_bundle(&self, identity: Address) -> Result<PreKeyBundle, RelayError> {
        match self
            .request(|m, now| m.fetch_bundle(identity, now))?
            .await
            .map_err(|_| RelayError::Closed)??
        {
            Reply::Bundle(bundle) => Ok(*bundle),
            _ => Err(RequestError::UnexpectedReply.into()),
        }
    }

    /// Sends an envelope; resolves once the relay holds it durably, with whether the relay
    /// already had this message id for this recipient.
    ///
    /// # Errors
    /// [`RelayError::Refused`] (`QUOTA`, `TOO_LARGE`, `RATE_LIMITED`), connection errors.
    pub async fn send(
        &self,
        recipient: Address,
        message_id: MessageId,
        envelope: Vec<u8>,
    ) -> Result<bool, RelayError> {
        match self
            .request(|m, now| m.send(recipient, message_id, envelope, now))?
            .await
            .map_err(|_| RelayError::Closed)??
        {
            Reply::Sent { duplicate } => Ok(duplicate),
            _ => Err(RequestError::UnexpectedReply.into()),
        }
    }

    /// Acknowledges delivered envelopes; resolves once they are deleted, with how many were.
    ///
    /// # Errors
    /// Connection errors.
    pub async fn ack(&self, sequences: Vec<u64>) -> Result<u32, RelayError> {
        match self
            .request(|m, now| m.ack(sequences, now))?
            .await
            .map_err(|_| RelayError::Closed)??
        {
            Reply::Acked { deleted } => Ok(deleted),
            _ => Err(RequestError::UnexpectedReply.into()),
        }
    }

    /// Takes the pushed-event stream, so that one task reads events while others issue
    /// requests. Afterwards [`Client::next_event`] and [`Client::recv`] return `None`.
    pub fn take_events(&mut self) -> Events {
        let (_, closed) = mpsc::channel(1);
        Events(std::mem::replace(&mut self.events, closed))
    }

    /// The next pushed event; `None` once the connection is gone.
    pub async fn next_event(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// The next delivered envelope, skipping other events; `None` once the connection is gone.
    pub async fn recv(&mut self) -> Option<Delivery> {
        loop {
            if let Event::Deliver(d) = self.events.recv().await? {
                return Some(d);
            }
        }
    }

    /// Closes the connection and waits (briefly) for the close to reach the relay.
    pub async fn close(self) {
        self.connection.close(VarInt::from_u32(0), b"bye");
        let _ = tokio::time::timeout(CLOSE_WAIT, self.endpoint.wait_idle()).await;
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        // A panic while holding the lock cannot leave the machine half-changed in a way that
        // matters here: every call on it is a complete step.
        self.shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn request(
        &self,
        make: impl FnOnce(&mut ClientConnection, Instant) -> Result<RequestId, RequestRefused>,
    ) -> Result<oneshot::Receiver<Result<Reply, RequestError>>, RelayError> {
        let (tx, rx) = oneshot::channel();
        {
            let mut shared = self.lock();
            let id = make(&mut shared.machine, Instant::now()).map_err(|e| match e {
                RequestRefused::Closed => RelayError::Closed,
                e => RelayError::NotSent(e),
            })?;
            shared.waiters.insert(id, tx);
        }
        self.wake.notify_one();
        Ok(rx)
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.connection.close(VarInt::from_u32(0), b"dropped");
    }
}

/// The software name sent in Hello.
const AGENT: &str = concat!("remit-relay-client/", env!("CARGO_PKG_VERSION"));

async fn write_loop(mut send: quinn::SendStream, mut out: mpsc::UnboundedReceiver<Vec<u8>>) {
    while let Some(bytes) = out.recv().await {
        if send.write_all(&bytes).await.is_err() {
            return;
        }
    }
    let _ = send.finish();
}

/// The driver: moves stream bytes into the machine and its transmit bytes to the writer, runs
/// its timers, and hands its events to the waiting requests and the app. The writer is a task of
/// its own, so a relay that stops reading never stops this one from reading (the machine caps
/// the requests in flight, which bounds what waits to be written).
async fn drive(
    shared: Arc<Mutex<Shared>>,
    wake: Arc<Notify>,
    mut recv: quinn::RecvStream,
    out: mpsc::UnboundedSender<Vec<u8>>,
    events: mpsc::Sender<Event>,
) {
    let lock = || {
        shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    let mut pushed = Vec::new();
    loop {
        let (deadline, closed) = {
            let mut s = lock();
            if let Some(bytes) = s.machine.poll_transmit() {
                let _ = out.send(bytes);
            }
            let mut closed = false;
            while let Some(event) = s.machine.poll_event() {
                match event {
                    Proto::Completed { request, result } => {
                        if let Some(waiter) = s.waiters.remove(&request) {
                            let _ = waiter.send(result);
                        }
                    }
                    Proto::Delivered(d) => pushed.push(Event::Deliver(d)),
                    Proto::QueueEmpty { delivered } => pushed.push(Event::QueueEmpty { delivered }),
                    Proto::Error(e) => pushed.push(Event::Error(RelayError::Refused(e))),
                    Proto::Closed(_) => closed = true,
                    _ => {}
                }
            }
            (s.machine.poll_timeout(), closed)
        };
        for event in pushed.drain(..) {
            // A full queue holds the driver here: nothing more is read until the app takes
            // an event. An app that dropped its receiver only loses what it stopped reading.
            let _ = events.send(event).await;
        }
        if closed {
            return;
        }
        let deadline = deadline.unwrap_or_else(|| Instant::now() + IDLE_WAKE);
        tokio::select! {
            chunk = recv.read_chunk(64 * 1024, true) => match chunk {
                Ok(Some(chunk)) => lock().machine.handle_input(&chunk.bytes, Instant::now()),
                Ok(None) | Err(_) => lock().machine.handle_end(),
            },
            () = wake.notified() => {}
            () = tokio::time::sleep_until(deadline.into()) => {
                lock().machine.handle_timeout(Instant::now());
            }
        }
    }
}
