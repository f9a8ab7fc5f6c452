//! A minimal relay client: connect with a pinned certificate fingerprint, authenticate,
//! publish and fetch prekeys, send, receive and acknowledge envelopes. Used by the tests and the
//! load generator; an app talks to a relay through remit-client's transport
//! (`remit_client::transport::Client`).
//!
//! The identity key never enters this crate: [`Client::connect`] takes an [`AuthSigner`]
//! (implemented for `remit_session::Account`, so an app passes `&account`), which signs the
//! statement of [`crate::auth`] through the session's `sign_statement`.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use quinn::{VarInt, crypto::rustls::QuicClientConfig};
use remit_wire::{
    DecodeError, EncodeError, FrameDecoder, decode_server_frame, encode_frame,
    limits::MAX_FRAME_LEN,
    session::PreKeyBundle,
    v1::{self, RelayErrorCode, client_frame, server_frame},
};
use rustls::{
    DigitallySignedStruct, SignatureScheme,
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    pki_types::{CertificateDer, ServerName, UnixTime},
};
use tokio::sync::{mpsc, oneshot};

use crate::{
    ALPN,
    auth::{AuthSigner, EXPORTER_LABEL, EXPORTER_LEN, NONCE_LEN, sign_auth},
    core::FRAME_VERSION,
    server::certificate_fingerprint,
};

/// Events pushed by the relay that a client has not yet taken.
pub const MAX_QUEUED_EVENTS: usize = 4096;

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The relay answered with an error frame.
    #[error("relay error {code:?}: {detail}")]
    Relay {
        /// The code (`None` if this client does not know it).
        code: Option<RelayErrorCode>,
        /// The relay's detail text.
        detail: String,
        /// For rate limits: how long to wait.
        retry_after: Duration,
    },
    /// Setting up the connection failed.
    #[error("connect: {0}")]
    Connect(#[from] quinn::ConnectError),
    /// The connection failed or was closed.
    #[error("connection: {0}")]
    Connection(#[from] quinn::ConnectionError),
    /// Writing failed.
    #[error("write: {0}")]
    Write(#[from] quinn::WriteError),
    /// Reading failed.
    #[error("read: {0}")]
    Read(#[from] quinn::ReadError),
    /// The relay sent bytes that do not decode.
    #[error("decode: {0}")]
    Decode(#[from] DecodeError),
    /// A request could not be encoded.
    #[error("encode: {0}")]
    Encode(#[from] EncodeError),
    /// TLS configuration.
    #[error("tls: {0}")]
    Tls(#[from] rustls::Error),
    /// Socket setup.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The relay answered with an unexpected frame.
    #[error("protocol: {0}")]
    Protocol(&'static str),
    /// The connection is gone.
    #[error("closed")]
    Closed,
    /// The signer refused to sign the authentication statement.
    #[error("sign: {0}")]
    Sign(#[from] remit_session::SignError),
}

impl ClientError {
    /// The relay's error code, if this is a relay error.
    #[must_use]
    pub fn code(&self) -> Option<RelayErrorCode> {
        match self {
            Self::Relay { code, .. } => *code,
            _ => None,
        }
    }
}

fn relay_error(e: &v1::Error) -> ClientError {
    ClientError::Relay {
        code: RelayErrorCode::try_from(e.code).ok(),
        detail: e.detail.clone(),
        retry_after: Duration::from_millis(u64::from(e.retry_after_ms)),
    }
}

/// Accepts exactly the certificate whose SHA-256 is pinned (and checks the TLS 1.3 handshake
/// signature with it).
#[derive(Debug)]
struct PinnedCertificate {
    fingerprint: [u8; 32],
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for PinnedCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if certificate_fingerprint(end_entity) == self.fingerprint {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::Tls13RequiredForQuic,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn client_config(fingerprint: [u8; 32]) -> Result<quinn::ClientConfig, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedCertificate {
            fingerprint,
            provider,
        }))
        .with_no_client_auth();
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let quic = QuicClientConfig::try_from(tls)
        .map_err(|_| ClientError::Protocol("no QUIC cipher suite"))?;
    let mut config = quinn::ClientConfig::new(Arc::new(quic));
    let mut transport = quinn::TransportConfig::default();
    transport.keep_alive_interval(Some(Duration::from_secs(20)));
    transport.ack_frequency_config(Some(crate::server::ack_frequency()));
    config.transport_config(Arc::new(transport));
    Ok(config)
}

/// A client endpoint (an unbound-port UDP socket) suitable for reaching `relay`.
///
/// # Errors
/// [`ClientError::Io`] if the socket cannot be bound.
pub fn client_endpoint(relay: SocketAddr) -> Result<quinn::Endpoint, ClientError> {
    let bind: SocketAddr = if relay.ip().is_loopback() {
        (relay.ip(), 0).into()
    } else if relay.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    Ok(quinn::Endpoint::client(bind)?)
}

/// A connection with its relay stream, exchanging raw frames: the building block of
/// [`Client`], and what tests use to send malformed bytes.
#[derive(Debug)]
pub struct RawConnection {
    endpoint: quinn::Endpoint,
    connection: quinn::Connection,
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    decoder: FrameDecoder,
    pending: Vec<u8>,
}

impl RawConnection {
    #[cfg(feature = "internal")]
    /// Connects to `relay`, accepting only the certificate with SHA-256 `fingerprint`, and opens
    /// the relay stream.
    ///
    /// # Errors
    /// Connection and TLS failures (a wrong fingerprint fails the handshake).
    pub async fn connect(relay: SocketAddr, fingerprint: [u8; 32]) -> Result<Self, ClientError> {
        let endpoint = client_endpoint(relay)?;
        Self::connect_on(&endpoint, relay, fingerprint).await
    }

    /// [`Self::connect`] on an existing client endpoint (one UDP socket for many
    /// connections, as a load generator or a multi-account client wants).
    ///
    /// # Errors
    /// As [`Self::connect`].
    pub async fn connect_on(
        endpoint: &quinn::Endpoint,
        relay: SocketAddr,
        fingerprint: [u8; 32],
    ) -> Result<Self, ClientError> {
        let endpoint = endpoint.clone();
        let connection = endpoint
            .connect_with(client_config(fingerprint)?, relay, "remit-relay")?
            .await?;
        let (send, recv) = connection.open_bi().await?;
        Ok(Self {
            endpoint,
            connection,
            send,
            recv,
            decoder: FrameDecoder::new(MAX_FRAME_LEN),
            pending: Vec::new(),
        })
    }

    /// The TLS exporter value that binds authentication to this connection.
    ///
    /// # Errors
    /// [`ClientError::Protocol`] if the exporter is unavailable.
    pub fn exporter(&self) -> Result<[u8; EXPORTER_LEN], ClientError> {
        let mut out = [0u8; EXPORTER_LEN];
        self.connection
            .export_keying_material(&mut out, EXPORTER_LABEL, b"")
            .map_err(|_| ClientError::Protocol("tls exporter unavailable"))?;
        Ok(out)
    }

    #[cfg(feature = "internal")]
    /// The QUIC connection.
    #[must_use]
    pub fn connection(&self) -> &quinn::Connection {
        &self.connection
    }

    /// Writes raw bytes to the relay stream.
    ///
    /// # Errors
    /// [`ClientError::Write`].
    pub async fn write_bytes(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.send.write_all(bytes).await?;
        Ok(())
    }

    /// Writes one frame.
    ///
    /// # Errors
    /// [`ClientError::Encode`], [`ClientError::Write`].
    pub async fn write_frame(&mut self, frame: &v1::ClientFrame) -> Result<(), ClientError> {
        let mut buf = Vec::new();
        encode_frame(frame, &mut buf)?;
        self.write_bytes(&buf).await
    }

    #[cfg(feature = "internal")]
    /// Finishes the client's side of the stream (the relay sees end of stream).
    pub fn finish(&mut self) {
        let _ = self.send.finish();
    }

    /// Reads the next frame; `Ok(None)` when the relay finished the stream.
    ///
    /// # Errors
    /// [`ClientError::Read`], [`ClientError::Decode`].
    pub async fn read_frame(&mut self) -> Result<Option<v1::ServerFrame>, ClientError> {
        loop {
            while !self.pending.is_empty() {
                let (used, body) = self.decoder.decode(&self.pending)?;
                self.pending.drain(..used);
                if let Some(body) = body {
                    return Ok(Some(decode_server_frame(&body)?));
                }
            }
            match self.recv.read_chunk(64 * 1024, true).await? {
                Some(chunk) => self.pending.extend_from_slice(&chunk.bytes),
                None => return Ok(None),
            }
        }
    }

    #[cfg(feature = "internal")]
    /// Closes the connection.
    pub fn close(&self) {
        self.connection.close(VarInt::from_u32(0), b"bye");
    }
}

fn frame(request_id: u64, body: client_frame::Body) -> v1::ClientFrame {
    v1::ClientFrame {
        version: FRAME_VERSION,
        request_id,
        body: Some(body),
    }
}

/// An envelope delivered by the relay.
#[derive(Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The mailbox sequence number, for [`Client::ack`].
    pub sequence: u64,
    /// The sender as authenticated by the relay (a routing hint, not end-to-end proof).
    pub sender: [u8; 32],
    /// The sender's message id.
    pub message_id: [u8; 16],
    /// The envelope bytes.
    pub envelope: Vec<u8>,
    /// When the relay accepted it, Unix seconds.
    pub received_at: u64,
}

impl core::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Delivery")
            .field("sequence", &self.sequence)
            .field("envelope_len", &self.envelope.len())
            .finish_non_exhaustive()
    }
}

/// Something the relay pushed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// An envelope.
    Deliver(Delivery),
    /// The backlog queued at authentication has been delivered.
    QueueEmpty {
        /// How many envelopes that drain delivered.
        delivered: u64,
    },
    /// An error frame not tied to a request (for example after a malformed frame).
    Error(ClientError),
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<v1::ServerFrame>>>>;

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

/// An authenticated relay client. Requests may be issued concurrently from several tasks
/// (`&self`); pushed envelopes are read with [`Client::next_event`] or [`Client::recv`].
#[derive(Debug)]
pub struct Client {
    endpoint: quinn::Endpoint,
    connection: quinn::Connection,
    out: mpsc::Sender<Vec<u8>>,
    pending: Pending,
    events: mpsc::Receiver<Event>,
    next_id: AtomicU64,
    identity: [u8; 32],
    one_time_prekeys_left: u32,
    queued: u64,
}

impl Client {
    /// Connects, pins the certificate, and authenticates as `signer`'s identity; `signer`
    /// (an `&Account`) signs the relay authentication statement (spec/relay.md §2).
    ///
    /// # Errors
    /// Connection failures; [`ClientError::Sign`] if the signer refuses;
    /// [`ClientError::Relay`] with `AUTH_FAILED` if the relay refuses the signature.
    pub async fn connect<S: AuthSigner + ?Sized>(
        relay: SocketAddr,
        fingerprint: [u8; 32],
        signer: &S,
    ) -> Result<Self, ClientError> {
        let endpoint = client_endpoint(relay)?;
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
    ) -> Result<Self, ClientError> {
        let identity = signer.identity();
        let mut raw = RawConnection::connect_on(endpoint, relay, fingerprint).await?;
        raw.write_frame(&frame(
            1,
            client_frame::Body::Hello(v1::Hello {
                identity: identity.to_vec(),
                agent: concat!("remit-relay-client/", env!("CARGO_PKG_VERSION")).into(),
            }),
        ))
        .await?;
        let nonce = match raw.read_frame().await?.and_then(|f| f.body) {
            Some(server_frame::Body::Challenge(c)) => {
                <[u8; NONCE_LEN]>::try_from(c.nonce.as_slice())
                    .map_err(|_| ClientError::Protocol("challenge nonce is not 32 bytes"))?
            }
            Some(server_frame::Body::Error(e)) => return Err(relay_error(&e)),
            _ => return Err(ClientError::Protocol("expected a challenge")),
        };
        let signature = sign_auth(&nonce, &raw.exporter()?, signer)?;
        raw.write_frame(&frame(
            2,
            client_frame::Body::Auth(v1::Auth {
                signature: signature.to_vec(),
            }),
        ))
        .await?;
        let ok = match raw.read_frame().await?.and_then(|f| f.body) {
            Some(server_frame::Body::AuthOk(ok)) => ok,
            Some(server_frame::Body::Error(e)) => return Err(relay_error(&e)),
            _ => return Err(ClientError::Protocol("expected auth_ok")),
        };
        let RawConnection {
            endpoint,
            connection,
            mut send,
            recv,
            decoder,
            pending: leftover,
        } = raw;
        let (out, mut out_rx) = mpsc::channel::<Vec<u8>>(1024);
        tokio::spawn(async move {
            let mut batch = Vec::new();
            while let Some(first) = out_rx.recv().await {
                batch.clear();
                batch.extend_from_slice(&first);
                while let Ok(more) = out_rx.try_recv() {
                    batch.extend_from_slice(&more);
                    if batch.len() > 256 * 1024 {
                        break;
                    }
                }
                if send.write_all(&batch).await.is_err() {
                    return;
                }
            }
            let _ = send.finish();
        });
        let pending: Pending = Arc::default();
        let (events_tx, events) = mpsc::channel(MAX_QUEUED_EVENTS);
        tokio::spawn(read_loop(
            recv,
            decoder,
            leftover,
            Arc::clone(&pending),
            events_tx,
        ));
        Ok(Self {
            endpoint,
            connection,
            out,
            pending,
            events,
            next_id: AtomicU64::new(3),
            identity,
            one_time_prekeys_left: ok.one_time_prekeys_left,
            queued: ok.queued,
        })
    }

    /// The authenticated identity.
    #[must_use]
    pub fn identity(&self) -> [u8; 32] {
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

    async fn request(&self, body: client_frame::Body) -> Result<server_frame::Body, ClientError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        if let Ok(mut p) = self.pending.lock() {
            p.insert(id, tx);
        }
        if self.connection.close_reason().is_some() {
            return Err(ClientError::Closed);
        }
        let mut buf = Vec::new();
        encode_frame(&frame(id, body), &mut buf)?;
        self.out.send(buf).await.map_err(|_| ClientError::Closed)?;
        match rx.await.map_err(|_| ClientError::Closed)?.body {
            Some(server_frame::Body::Error(e)) => Err(relay_error(&e)),
            Some(body) => Ok(body),
            None => Err(ClientError::Protocol("empty answer")),
        }
    }

    /// Publishes prekeys for our identity; returns the one-time prekeys the relay now holds.
    ///
    /// # Errors
    /// [`ClientError::Relay`] (`FORBIDDEN`, `BAD_SIGNATURE`, `QUOTA`, ...), connection errors.
    pub async fn publish(&self, publish: v1::PublishPreKeys) -> Result<u32, ClientError> {
        match self
            .request(client_frame::Body::PublishPrekeys(publish))
            .await?
        {
            server_frame::Body::PrekeysPublished(p) => Ok(p.one_time_prekeys_left),
            _ => Err(ClientError::Protocol("expected prekeys_published")),
        }
    }

    /// Fetches a peer's bundle (consuming one of its one-time prekeys). The bundle is decoded
    /// but *not verified*: the caller checks it with `remit_session::VerifiedBundle::verify`
    /// and that its identity is the one asked for.
    ///
    /// # Errors
    /// [`ClientError::Relay`] (`NOT_FOUND`, `RATE_LIMITED`), decode and connection errors.
    pub async fn fetch_bundle(&self, identity: [u8; 32]) -> Result<PreKeyBundle, ClientError> {
        match self
            .request(client_frame::Body::FetchBundle(v1::FetchBundle {
                identity: identity.to_vec(),
            }))
            .await?
        {
            server_frame::Body::Bundle(b) => Ok(PreKeyBundle::try_from(b)?),
            _ => Err(ClientError::Protocol("expected a bundle")),
        }
    }

    /// Sends an envelope; resolves once the relay holds it durably. Returns whether the relay
    /// already had this message id for this recipient.
    ///
    /// # Errors
    /// [`ClientError::Relay`] (`QUOTA`, `TOO_LARGE`, `RATE_LIMITED`), connection errors.
    pub async fn send(
        &self,
        recipient: [u8; 32],
        message_id: [u8; 16],
        envelope: Vec<u8>,
    ) -> Result<bool, ClientError> {
        match self
            .request(client_frame::Body::Send(v1::Send {
                recipient: recipient.to_vec(),
                message_id: message_id.to_vec(),
                envelope,
            }))
            .await?
        {
            server_frame::Body::SendOk(ok) if ok.message_id == message_id => Ok(ok.duplicate),
            _ => Err(ClientError::Protocol(
                "expected send_ok for this message id",
            )),
        }
    }

    /// Acknowledges delivered envelopes; resolves once they are deleted, with how many were.
    ///
    /// # Errors
    /// Connection errors.
    pub async fn ack(&self, sequences: Vec<u64>) -> Result<u32, ClientError> {
        match self
            .request(client_frame::Body::Ack(v1::Ack { sequences }))
            .await?
        {
            server_frame::Body::Acked(a) => Ok(a.deleted),
            _ => Err(ClientError::Protocol("expected acked")),
        }
    }

    /// Takes the pushed-event stream, so that one task reads events while others issue
    /// requests (`&self`, e.g. through an `Arc<Client>`). Afterwards [`Client::next_event`] and
    /// [`Client::recv`] return `None`.
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
        let _ = tokio::time::timeout(Duration::from_secs(1), self.endpoint.wait_idle()).await;
    }
}

async fn read_loop(
    recv: quinn::RecvStream,
    decoder: FrameDecoder,
    buf: Vec<u8>,
    pending: Pending,
    events: mpsc::Sender<Event>,
) {
    read_frames(recv, decoder, buf, &pending, events).await;
    // Waiting requests learn that the connection is gone.
    if let Ok(mut p) = pending.lock() {
        p.clear();
    }
}

async fn read_frames(
    mut recv: quinn::RecvStream,
    mut decoder: FrameDecoder,
    mut buf: Vec<u8>,
    pending: &Pending,
    events: mpsc::Sender<Event>,
) {
    loop {
        while !buf.is_empty() {
            let Ok((used, body)) = decoder.decode(&buf) else {
                return;
            };
            buf.drain(..used);
            let Some(body) = body else { continue };
            let frame = match decode_server_frame(&body) {
                Ok(f) => f,
                Err(e) => {
                    let _ = events.send(Event::Error(e.into())).await;
                    continue;
                }
            };
            if frame.request_id != 0 {
                let waiter = pending
                    .lock()
                    .ok()
                    .and_then(|mut p| p.remove(&frame.request_id));
                if let Some(w) = waiter {
                    let _ = w.send(frame);
                }
                continue;
            }
            let event = match frame.body {
                Some(server_frame::Body::Deliver(d)) => {
                    match (
                        <[u8; 32]>::try_from(d.sender.as_slice()),
                        <[u8; 16]>::try_from(d.message_id.as_slice()),
                    ) {
                        (Ok(sender), Ok(message_id)) => Event::Deliver(Delivery {
                            sequence: d.sequence,
                            sender,
                            message_id,
                            envelope: d.envelope,
                            received_at: d.received_at,
                        }),
                        _ => Event::Error(ClientError::Protocol("malformed deliver frame")),
                    }
                }
                Some(server_frame::Body::QueueEmpty(q)) => Event::QueueEmpty {
                    delivered: q.delivered,
                },
                Some(server_frame::Body::Error(e)) => Event::Error(relay_error(&e)),
                _ => Event::Error(ClientError::Protocol("unexpected pushed frame")),
            };
            if events.send(event).await.is_err() {
                return;
            }
        }
        match recv.read_chunk(64 * 1024, true).await {
            Ok(Some(chunk)) => buf.extend_from_slice(&chunk.bytes),
            _ => return,
        }
    }
}
