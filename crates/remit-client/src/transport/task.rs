//! The background task of a [`super::Client`]: one relay connection at a time, reconnected
//! with backoff; receives, hands envelopes to the engine, acks, flushes the outbox, tops up
//! prekeys and answers the client's commands.

use std::{sync::Arc, time::Duration};

use remit_relay_client::{
    Client as RelayClient, ClientConfig, Delivery, Event, RelayError, client_endpoint,
};
use remit_wire::v1::RelayErrorCode;
use tokio::sync::{Mutex, mpsc, oneshot};

use super::{ClientEvent, Command, Core, FlushReport, TransportConfig, TransportError, Warning};
use crate::{PreKeyPolicy, error::ClientError, event::Outgoing, store::Store};

/// Why a connection ended.
enum End {
    /// The client closed (or dropped) the transport.
    Closed,
    /// The connection was lost or failed; reconnect.
    Lost(TransportError),
}

pub(super) struct Worker<S: Store> {
    pub(super) core: Arc<Mutex<Core<S>>>,
    pub(super) config: TransportConfig,
    pub(super) events: mpsc::Sender<ClientEvent>,
    pub(super) sync_waiters: Vec<oneshot::Sender<()>>,
    /// The relay reported `QueueEmpty` on this connection.
    pub(super) idle: bool,
}

impl<S: Store + Send + 'static> Worker<S> {
    /// Connects, authenticates, publishes prekeys and sends the outbox.
    pub(super) async fn connect(&mut self) -> Result<RelayClient, TransportError> {
        let addr = self.config.relay;
        let relay =
            match tokio::time::timeout(self.config.connect_timeout, self.authenticate()).await {
                Err(_) => return Err(TransportError::Unreachable { addr }),
                Ok(Err(e)) => return Err(classify(addr, e)),
                Ok(Ok(c)) => c,
            };
        self.idle = false;
        self.core
            .lock()
            .await
            .engine
            .handle_relay_connected(relay.one_time_prekeys_left());
        let queued = relay.queued_at_auth();
        self.publish(&relay).await?;
        self.emit(ClientEvent::Connected { queued }).await;
        self.flush(&relay).await;
        Ok(relay)
    }

    /// Connects and authenticates: the engine signs the relay's challenge (the transport holds
    /// no key).
    async fn authenticate(&self) -> Result<RelayClient, RelayError> {
        let addr = self.config.relay;
        let endpoint = client_endpoint(addr)?;
        let identity = self.core.lock().await.engine.address().into();
        let mut config = ClientConfig::new(AGENT);
        config.request_timeout = self.config.request_timeout;
        config.auth_timeout = self.config.connect_timeout;
        let challenge =
            RelayClient::begin(&endpoint, addr, self.config.fingerprint, identity, config).await?;
        let signature = self
            .core
            .lock()
            .await
            .engine
            .sign_relay_auth(&challenge.digest())?;
        challenge.authenticate(signature).await
    }

    /// The connection loop: serve a connection until it ends, then reconnect with backoff.
    pub(super) async fn run(mut self, first: RelayClient, mut commands: mpsc::Receiver<Command>) {
        let mut relay = Some(first);
        let mut backoff = self.config.backoff_initial;
        loop {
            let connection = match relay.take() {
                Some(c) => c,
                None => match self.connect().await {
                    Ok(c) => {
                        backoff = self.config.backoff_initial;
                        c
                    }
                    Err(e) => {
                        self.emit(ClientEvent::Disconnected {
                            error: e,
                            retry_in: backoff,
                        })
                        .await;
                        if self.wait_offline(backoff, &mut commands).await {
                            return;
                        }
                        backoff = (backoff * 2).min(self.config.backoff_max);
                        continue;
                    }
                },
            };
            let mut connection = connection;
            let end = self.serve(&mut connection, &mut commands).await;
            connection.close().await;
            self.core.lock().await.engine.handle_relay_disconnected();
            match end {
                End::Closed => return,
                End::Lost(error) => {
                    self.emit(ClientEvent::Disconnected {
                        error,
                        retry_in: backoff,
                    })
                    .await;
                    if self.wait_offline(backoff, &mut commands).await {
                        return;
                    }
                }
            }
        }
    }

    /// Answers commands without a connection for `delay`; `true` if the client closed.
    async fn wait_offline(
        &mut self,
        delay: Duration,
        commands: &mut mpsc::Receiver<Command>,
    ) -> bool {
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => return false,
                command = commands.recv() => match command {
                    None => return true,
                    Some(Command::Close { reply }) => {
                        let _ = reply.send(());
                        return true;
                    }
                    Some(Command::Fetch { reply, .. }) => {
                        let _ = reply.send(Err(TransportError::Offline));
                    }
                    Some(Command::Flush { reply }) => {
                        let pending = self.core.lock().await.engine.pending_outgoing().len();
                        let _ = reply.send(FlushReport { sent: 0, pending });
                    }
                    Some(Command::Sync { reply }) => self.sync_waiters.push(reply),
                },
            }
        }
    }

    async fn serve(
        &mut self,
        relay: &mut RelayClient,
        commands: &mut mpsc::Receiver<Command>,
    ) -> End {
        loop {
            tokio::select! {
                biased;
                command = commands.recv() => match command {
                    None => return End::Closed,
                    Some(Command::Close { reply }) => {
                        let _ = reply.send(());
                        return End::Closed;
                    }
                    Some(Command::Fetch { peer, reply }) => {
                        let result = self.fetch(relay, peer).await;
                        let _ = reply.send(result);
                    }
                    Some(Command::Flush { reply }) => {
                        let report = self.flush(relay).await;
                        let _ = reply.send(report);
                    }
                    Some(Command::Sync { reply }) => {
                        if self.idle {
                            let _ = reply.send(());
                        } else {
                            self.sync_waiters.push(reply);
                        }
                    }
                },
                event = relay.next_event() => match event {
                    None => return End::Lost(TransportError::Relay(RelayError::Closed)),
                    Some(Event::Deliver(d)) => {
                        if let Err(e) = self.deliver(relay, d).await {
                            return End::Lost(e);
                        }
                    }
                    Some(Event::QueueEmpty { .. }) => {
                        self.idle = true;
                        for w in self.sync_waiters.drain(..) {
                            let _ = w.send(());
                        }
                        self.emit(ClientEvent::Idle).await;
                    }
                    Some(Event::Error(e)) => self.emit(ClientEvent::Warning(Warning::Relay(e))).await,
                    Some(_) => {}
                },
            }
        }
    }

    /// Hands one envelope to the engine, reports its events, then acks it.
    async fn deliver(&mut self, relay: &RelayClient, d: Delivery) -> Result<(), TransportError> {
        let now = self.config.clock.now();
        let policy = self.policy();
        // One lock for the envelope and the engine's word on prekeys: a first message may have
        // used one of ours and made a top-up due.
        let (result, publication) = {
            let core = &mut *self.core.lock().await;
            let result = core.engine.handle_envelope(
                d.sender.to_bytes(),
                d.message_id.to_bytes(),
                &d.envelope,
                now,
            );
            let publication = match &result {
                Ok(_) => core.engine.poll_prekey_publication(&policy, &mut core.rng),
                Err(_) => Ok(None),
            };
            (result, publication)
        };
        match result {
            Ok(events) => {
                self.emit(ClientEvent::Received {
                    sender: d.sender.to_bytes(),
                    size: d.envelope.len(),
                })
                .await;
                for e in events {
                    self.emit(ClientEvent::Engine(e)).await;
                }
            }
            // Not committed: leave it at the relay, and start over.
            Err(e @ ClientError::Store(_)) => return Err(TransportError::Engine(e)),
            Err(e) => {
                self.emit(ClientEvent::Dropped {
                    sender: d.sender.to_bytes(),
                    error: e,
                })
                .await;
            }
        }
        #[cfg(feature = "internal")]
        if let Some(hook) = &self.config.before_ack {
            hook();
        }
        relay.ack(vec![d.sequence]).await?;
        if let Some(publication) = publication? {
            self.send_publication(relay, publication).await?;
        }
        Ok(())
    }

    fn policy(&self) -> PreKeyPolicy {
        PreKeyPolicy::new(
            self.config.min_one_time_prekeys,
            self.config.one_time_prekey_batch,
        )
    }

    /// Sends what the engine decided to publish, if anything, and reports the relay's answer
    /// back to it.
    async fn publish(&mut self, relay: &RelayClient) -> Result<(), TransportError> {
        let policy = self.policy();
        let publication = {
            let core = &mut *self.core.lock().await;
            core.engine
                .poll_prekey_publication(&policy, &mut core.rng)?
        };
        match publication {
            Some(publication) => self.send_publication(relay, publication).await,
            None => Ok(()),
        }
    }

    async fn send_publication(
        &mut self,
        relay: &RelayClient,
        publication: remit_wire::v1::PublishPreKeys,
    ) -> Result<(), TransportError> {
        let keys = !publication.one_time_prekeys.is_empty();
        let left = relay.publish(publication).await?;
        self.core.lock().await.engine.handle_prekeys_published(left);
        if keys {
            self.emit(ClientEvent::PrekeysPublished { left }).await;
        }
        Ok(())
    }

    async fn fetch(
        &mut self,
        relay: &RelayClient,
        peer: [u8; 32],
    ) -> Result<remit_wire::session::PreKeyBundle, TransportError> {
        match relay.fetch_bundle(peer.into()).await {
            Err(e) if e.code() == Some(RelayErrorCode::NotFound) => {
                Err(TransportError::UnknownPeer { peer })
            }
            other => Ok(other?),
        }
    }

    /// Sends the engine's outbox, oldest first, pipelined: up to [`SEND_WINDOW`] sends are in
    /// flight on the connection at once (the relay keeps one connection's sends in order), and
    /// the envelopes the relay acknowledged are marked sent in one commit at the end. An
    /// envelope whose send failed stays queued, as does everything after a lost connection;
    /// the next flush (or reconnect) sends them again, oldest first, and the relay stores a
    /// repeated message id once.
    async fn flush(&mut self, relay: &RelayClient) -> FlushReport {
        use futures_util::{StreamExt as _, stream};

        let pending: Vec<_> = self.core.lock().await.engine.pending_outgoing().to_vec();
        let results: Vec<_> = stream::iter(pending)
            .map(|out| async move {
                let Outgoing {
                    recipient,
                    message_id,
                    envelope,
                } = out;
                let size = envelope.len();
                let result = relay
                    .send(recipient.into(), message_id.into(), envelope)
                    .await;
                (recipient, message_id, size, result)
            })
            .buffered(SEND_WINDOW)
            .collect()
            .await;
        let mut delivered = Vec::new();
        let mut failure = None;
        for (recipient, message_id, size, result) in results {
            match result {
                Ok(_) => {
                    delivered.push(message_id);
                    self.emit(ClientEvent::Sent { recipient, size }).await;
                }
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        if let Some(e) = failure {
            self.emit(ClientEvent::Warning(Warning::SendFailed(e)))
                .await;
        }
        if let Err(e) = self.core.lock().await.engine.mark_sent_all(&delivered) {
            // Sent but not marked: they are sent again later, and the relay stores them once.
            self.emit(ClientEvent::Warning(Warning::MarkSent(e))).await;
        }
        let pending = self.core.lock().await.engine.pending_outgoing().len();
        FlushReport {
            sent: delivered.len(),
            pending,
        }
    }

    async fn emit(&self, event: ClientEvent) {
        let _ = self.events.send(event).await;
    }
}

/// Sends one flush keeps in flight at once. Below the relay's per-connection limit
/// (`MAX_IN_FLIGHT_REQUESTS`, 256) so acks and fetches still fit beside them, and far below the
/// ratchet's `MAX_SKIP` (1,000), so even a reordered window could not outrun a receiver.
const SEND_WINDOW: usize = 128;

/// The software name the transport sends in Hello.
const AGENT: &str = concat!("remit-client/", env!("CARGO_PKG_VERSION"));

/// Turns a connection failure into what the user should be told.
fn classify(addr: std::net::SocketAddr, e: RelayError) -> TransportError {
    match &e {
        RelayError::Connection(quinn::ConnectionError::TransportError(t))
            if (0x100..0x200).contains(&u64::from(t.code)) =>
        {
            TransportError::WrongFingerprint { addr }
        }
        RelayError::Connection(
            quinn::ConnectionError::TimedOut | quinn::ConnectionError::ConnectionClosed(_),
        )
        | RelayError::Io(_) => TransportError::Unreachable { addr },
        _ => TransportError::Relay(e),
    }
}
