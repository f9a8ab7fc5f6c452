//! [`RelayError`]: why a relay client call failed.

use remit_relay_proto::{ConnectionError, Refusal, RequestError, RequestRefused};
use remit_wire::{DecodeError, EncodeError, v1::RelayErrorCode};

/// Why a relay client call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    /// The relay refused the request.
    #[error("relay refused: {0}")]
    Refused(Refusal),
    /// The relay returned a bundle for another identity than the one asked for.
    #[error("the relay returned a bundle for another identity")]
    BundleMismatch,
    /// The relay answered with a frame of another kind (the connection is closed).
    #[error("the relay answered with an unexpected frame")]
    UnexpectedReply,
    /// The relay did not answer in time (the connection is closed).
    #[error("the relay did not answer in time")]
    TimedOut,
    /// The request was not sent (too many pending, too large).
    #[error("not sent: {0}")]
    NotSent(RequestRefused),
    /// Authentication failed: the relay refused it, did not answer in time, or broke the
    /// protocol.
    #[error("authentication: {0}")]
    Auth(ConnectionError),
    /// The connection is gone; a request in flight may or may not have taken effect.
    #[error("the connection to the relay is closed")]
    Closed,
    /// Setting up the connection failed.
    #[error("connect: {0}")]
    Connect(#[from] quinn::ConnectError),
    /// The connection failed or was closed.
    #[error("connection: {0}")]
    Connection(#[from] quinn::ConnectionError),
    /// Writing to the relay stream failed.
    #[error("write: {0}")]
    Write(#[from] quinn::WriteError),
    /// Reading the relay stream failed.
    #[error("read: {0}")]
    Read(#[from] quinn::ReadError),
    /// The relay sent bytes that do not decode (raw connections).
    #[error("decode: {0}")]
    Decode(#[from] DecodeError),
    /// A frame could not be encoded (raw connections).
    #[error("encode: {0}")]
    Encode(#[from] EncodeError),
    /// The TLS configuration was refused.
    #[error("tls: {0}")]
    Tls(#[from] rustls::Error),
    /// The TLS configuration has no cipher suite QUIC can use.
    #[error("tls configuration has no QUIC cipher suite")]
    NoQuicSuite,
    /// The TLS session gave no exporter value to bind authentication to.
    #[error("the tls exporter is unavailable")]
    ExporterUnavailable,
    /// The UDP socket could not be set up.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The signer refused to sign the authentication statement.
    #[error("sign: {0}")]
    Sign(#[from] remit_session::SignError),
}

impl RelayError {
    /// The relay's error code, if the relay refused the request (or authentication).
    #[must_use]
    pub fn code(&self) -> Option<RelayErrorCode> {
        match self {
            Self::Refused(e) | Self::Auth(ConnectionError::AuthRefused(e)) => e.code,
            _ => None,
        }
    }
}

impl From<RequestError> for RelayError {
    fn from(e: RequestError) -> Self {
        match e {
            RequestError::Refused(e) => Self::Refused(e),
            RequestError::BundleMismatch => Self::BundleMismatch,
            RequestError::UnexpectedReply => Self::UnexpectedReply,
            RequestError::TimedOut => Self::TimedOut,
            // `RequestError` is non-exhaustive: anything else means the answer is gone.
            _ => Self::Closed,
        }
    }
}
