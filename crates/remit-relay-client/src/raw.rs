//! A relay connection that exchanges raw frames: what hostile-client tests use to send bytes a
//! [`crate::Client`] never would. Behind the `internal` feature; not part of the API.

use std::net::SocketAddr;

use quinn::VarInt;
use remit_wire::{FrameDecoder, decode_server_frame, encode_frame, limits::MAX_FRAME_LEN, v1};

use crate::{RelayError, tls};

/// A connection with its relay stream, exchanging raw frames.
#[derive(Debug)]
pub struct RawConnection {
    connection: quinn::Connection,
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    exporter: [u8; 32],
    decoder: FrameDecoder,
    pending: Vec<u8>,
}

impl RawConnection {
    /// Connects to `relay`, accepting only the certificate with SHA-256 `fingerprint`, and opens
    /// the relay stream.
    ///
    /// # Errors
    /// Connection and TLS failures (a wrong fingerprint fails the handshake).
    pub async fn connect(relay: SocketAddr, fingerprint: [u8; 32]) -> Result<Self, RelayError> {
        let endpoint = tls::client_endpoint(relay)?;
        Self::connect_on(&endpoint, relay, fingerprint).await
    }

    /// [`Self::connect`] on an existing client endpoint.
    ///
    /// # Errors
    /// As [`Self::connect`].
    pub async fn connect_on(
        endpoint: &quinn::Endpoint,
        relay: SocketAddr,
        fingerprint: [u8; 32],
    ) -> Result<Self, RelayError> {
        let (connection, send, recv, exporter) = tls::open(endpoint, relay, fingerprint).await?;
        Ok(Self {
            connection,
            send,
            recv,
            exporter,
            decoder: FrameDecoder::new(MAX_FRAME_LEN),
            pending: Vec::new(),
        })
    }

    /// The TLS exporter value that binds authentication to this connection.
    #[must_use]
    pub fn exporter(&self) -> [u8; 32] {
        self.exporter
    }

    /// The QUIC connection.
    #[must_use]
    pub fn connection(&self) -> &quinn::Connection {
        &self.connection
    }

    /// Writes raw bytes to the relay stream.
    ///
    /// # Errors
    /// [`RelayError::Write`].
    pub async fn write_bytes(&mut self, bytes: &[u8]) -> Result<(), RelayError> {
        self.send.write_all(bytes).await?;
        Ok(())
    }

    /// Writes one frame.
    ///
    /// # Errors
    /// [`RelayError::Encode`], [`RelayError::Write`].
    pub async fn write_frame(&mut self, frame: &v1::ClientFrame) -> Result<(), RelayError> {
        let mut buf = Vec::new();
        encode_frame(frame, &mut buf)?;
        self.write_bytes(&buf).await
    }

    /// Finishes the client's side of the stream (the relay sees end of stream).
    pub fn finish(&mut self) {
        let _ = self.send.finish();
    }

    /// Reads the next frame; `Ok(None)` when the relay finished the stream.
    ///
    /// # Errors
    /// [`RelayError::Read`], [`RelayError::Decode`].
    pub async fn read_frame(&mut self) -> Result<Option<v1::ServerFrame>, RelayError> {
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

    /// Closes the connection.
    pub fn close(&self) {
        self.connection.close(VarInt::from_u32(0), b"bye");
    }
}
