//! QUIC and TLS for a relay client: the relay's certificate is pinned by its SHA-256, not
//! checked against a CA (spec/relay.md §1).

use std::{net::SocketAddr, sync::Arc, time::Duration};

use quinn::{VarInt, crypto::rustls::QuicClientConfig};
use remit_relay_proto::{ALPN, certificate_fingerprint};
use rustls::{
    DigitallySignedStruct, SignatureScheme,
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    pki_types::{CertificateDer, ServerName, UnixTime},
};

use crate::RelayError;

/// The server name a client sends in TLS (spec/relay.md §1). The certificate is pinned, so the
/// name is not checked; it is fixed so that every client looks alike.
pub const SERVER_NAME: &str = "remit-relay";

/// How often an idle connection proves it is alive (a QUIC PING), so that neither side's idle
/// timeout closes it and a NAT keeps its mapping.
pub const KEEP_ALIVE: Duration = Duration::from_secs(20);

/// Accepts exactly the certificate whose SHA-256 is pinned, and checks the TLS 1.3 handshake
/// signature with it.
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
        // The fingerprint is public (the relay prints it): no secret is compared here.
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

/// The acknowledgement frequency a client asks of the relay: an ACK after more than
/// [`remit_relay_proto::ACK_ELICITING_THRESHOLD`] ack-eliciting packets (relay traffic is
/// request/answer frames, so most ACKs ride on a frame going the other way). The relay asks the
/// same of its clients.
#[must_use]
pub fn ack_frequency() -> quinn::AckFrequencyConfig {
    let mut ack = quinn::AckFrequencyConfig::default();
    ack.ack_eliciting_threshold(VarInt::from_u32(remit_relay_proto::ACK_ELICITING_THRESHOLD));
    ack
}

/// The QUIC client configuration for a relay whose certificate has SHA-256 `fingerprint`.
pub(crate) fn client_config(fingerprint: [u8; 32]) -> Result<quinn::ClientConfig, RelayError> {
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
    let quic = QuicClientConfig::try_from(tls).map_err(|_| RelayError::NoQuicSuite)?;
    let mut config = quinn::ClientConfig::new(Arc::new(quic));
    let mut transport = quinn::TransportConfig::default();
    transport.keep_alive_interval(Some(KEEP_ALIVE));
    transport.ack_frequency_config(Some(ack_frequency()));
    config.transport_config(Arc::new(transport));
    Ok(config)
}

/// A client endpoint (a UDP socket on an unbound port) suitable for reaching `relay`: on the
/// loopback address for a loopback relay, on the unspecified address of the relay's family
/// otherwise.
///
/// # Errors
/// [`RelayError::Io`] if the socket cannot be bound.
pub fn client_endpoint(relay: SocketAddr) -> Result<quinn::Endpoint, RelayError> {
    let bind: SocketAddr = if relay.ip().is_loopback() {
        (relay.ip(), 0).into()
    } else if relay.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    Ok(quinn::Endpoint::client(bind)?)
}

/// Connects to `relay` on `endpoint` with the pinned certificate, opens the relay stream and
/// reads the TLS exporter value that binds authentication to this connection.
pub(crate) async fn open(
    endpoint: &quinn::Endpoint,
    relay: SocketAddr,
    fingerprint: [u8; 32],
) -> Result<
    (
        quinn::Connection,
        quinn::SendStream,
        quinn::RecvStream,
        [u8; 32],
    ),
    RelayError,
> {
    let connection = endpoint
        .connect_with(client_config(fingerprint)?, relay, SERVER_NAME)?
        .await?;
    let (send, recv) = connection.open_bi().await?;
    let mut exporter = [0u8; remit_relay_proto::auth::EXPORTER_LEN];
    connection
        .export_keying_material(&mut exporter, remit_relay_proto::auth::EXPORTER_LABEL, b"")
        .map_err(|_| RelayError::ExporterUnavailable)?;
    Ok((connection, send, recv, exporter))
}
