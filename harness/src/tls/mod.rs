//! A TLS terminator in front of a plain local server: the TLS modes of a Loki gateway.
//!
//! It plays the TLS half of the nginx gateway of the `local` and `kind` environments: it
//! accepts TLS on `127.0.0.1` with the certificate a [`TlsMode`] names, then copies bytes both
//! ways to the plain backend (the fake Loki). It never parses HTTP, except where nginx answers
//! by itself:
//! - [`TlsMode::MutualTls`] asks for a client certificate signed by the scenario's CA. A client
//!   that presents a bad one fails the handshake (as with nginx); a client that presents none
//!   completes the handshake and is answered nginx's `400 No required SSL certificate was sent`
//!   page, because that is what nginx's `ssl_verify_client on` does and rustls allows the same
//!   (an optional client certificate, checked after the handshake).
//! - A backend that refuses the connection (the fake Loki is down) is answered nginx's
//!   `502 Bad Gateway` page, as nginx answers for a dead upstream.
//!
//! Simplified: each client connection has its own backend connection, so when the backend
//! closes it (the fake Loki going down) the client's connection ends too, where nginx would keep
//! it and answer 502 to the next request; the client's next connection gets the 502.
//!
//! Only HTTP/1.1 is offered by ALPN, as an nginx without `http2 on` does. Every refused
//! handshake is counted with its error text, so a scenario can assert that a bad certificate was
//! refused and say why ([`TlsTerminator::stats`]).

pub(crate) mod gate;
pub mod nginx;

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use crate::certs::{CertKey, Certs};
use gate::Gate;

/// A client that connects and never finishes the handshake is dropped after this long.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Which certificate the terminator serves, and whether it asks for one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// The CA-signed certificate for `localhost`/`127.0.0.1`: a client trusting the CA connects.
    CaSigned,
    /// A self-signed certificate: a client trusting only the CA refuses it.
    SelfSigned,
    /// A CA-signed certificate that expired in 2021: refused for its dates.
    Expired,
    /// A CA-signed certificate for `loki.example.invalid` only: refused for its name.
    WrongHost,
    /// The CA-signed certificate, and a client certificate signed by the CA is required.
    MutualTls,
}

/// What the terminator saw, for assertions and diagnostics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsStats {
    /// Handshakes completed.
    pub handshakes: usize,
    /// Handshakes that failed: the client refused our certificate, presented a bad one, spoke
    /// no TLS, or timed out.
    pub handshake_failures: usize,
    /// The error text of the last failed handshake, e.g. `received fatal alert: UnknownCA`.
    pub last_handshake_error: Option<String>,
    /// Connections answered `400 No required SSL certificate was sent` ([`TlsMode::MutualTls`]).
    pub missing_client_certificate: usize,
    /// Connections answered `502 Bad Gateway` because the backend refused the connection.
    pub backend_unreachable: usize,
}

/// A running TLS terminator; it stops (refusing connections, ending open ones) when dropped.
#[derive(Debug)]
pub struct TlsTerminator {
    gate: Gate,
    mode: TlsMode,
    stats: Arc<Mutex<TlsStats>>,
}

struct Terminator {
    acceptor: TlsAcceptor,
    mode: TlsMode,
    backend: SocketAddr,
    stats: Arc<Mutex<TlsStats>>,
}

impl TlsTerminator {
    /// Listens on `127.0.0.1:0`, terminating TLS as `mode` says with `certs`, and forwards to
    /// `backend`. Must be called within a Tokio runtime.
    pub fn start(backend: SocketAddr, mode: TlsMode, certs: &Certs) -> io::Result<Self> {
        let config = server_config(mode, certs).map_err(io::Error::other)?;
        let stats = Arc::new(Mutex::new(TlsStats::default()));
        let terminator = Arc::new(Terminator {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            mode,
            backend,
            stats: stats.clone(),
        });
        let gate = Gate::bind(Arc::new(move |stream| {
            let terminator = terminator.clone();
            Box::pin(async move { terminator.serve(stream).await })
        }))?;
        Ok(Self { gate, mode, stats })
    }

    /// `https://localhost:PORT`: the name the CA-signed certificate is valid for.
    pub fn url(&self) -> String {
        format!("https://localhost:{}", self.gate.addr().port())
    }

    /// The listening address (`127.0.0.1:PORT`).
    pub fn addr(&self) -> SocketAddr {
        self.gate.addr()
    }

    /// The mode it was started with.
    pub fn mode(&self) -> TlsMode {
        self.mode
    }

    /// What it saw so far.
    pub fn stats(&self) -> TlsStats {
        self.stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Failed handshakes so far.
    pub fn handshake_failures(&self) -> usize {
        self.stats().handshake_failures
    }

    /// The error text of the last failed handshake.
    pub fn last_handshake_error(&self) -> Option<String> {
        self.stats().last_handshake_error
    }
}

/// The rustls server config of `mode`, on ring (the only provider in the build).
fn server_config(mode: TlsMode, certs: &Certs) -> Result<ServerConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let served: &CertKey = match mode {
        TlsMode::CaSigned | TlsMode::MutualTls => &certs.server,
        TlsMode::SelfSigned => &certs.self_signed,
        TlsMode::Expired => &certs.expired,
        TlsMode::WrongHost => &certs.wrong_host,
    };
    let builder = if mode == TlsMode::MutualTls {
        // Optional at the TLS level so a missing certificate gets nginx's 400 page; a presented
        // certificate is still verified against the CA during the handshake.
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(certs.root_store()), provider)
                .allow_unauthenticated()
                .build()
                .map_err(|e| rustls::Error::General(e.to_string()))?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder.with_single_cert(vec![served.cert_der()], served.key_der())?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

impl Terminator {
    fn record(&self, change: impl FnOnce(&mut TlsStats)) {
        change(&mut self.stats.lock().unwrap_or_else(PoisonError::into_inner));
    }

    async fn serve(&self, tcp: TcpStream) {
        let mut tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, self.acceptor.accept(tcp)).await
        {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => return self.handshake_failed(e.to_string()),
            Err(_) => return self.handshake_failed("handshake timed out".to_owned()),
        };
        self.record(|s| s.handshakes += 1);

        if self.mode == TlsMode::MutualTls && tls.get_ref().1.peer_certificates().is_none() {
            self.record(|s| s.missing_client_certificate += 1);
            nginx::read_request_head(&mut tls, Duration::from_secs(5)).await;
            let page = nginx::no_client_certificate_page();
            nginx::answer_and_linger(&mut tls, &nginx::close_response("400 Bad Request", &page))
                .await;
            return;
        }

        match TcpStream::connect(self.backend).await {
            Ok(mut backend) => {
                // Ends when either side closes; a client leaving without close_notify is an
                // error here and of no interest.
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut backend).await;
            }
            Err(_) => {
                self.record(|s| s.backend_unreachable += 1);
                nginx::read_request_head(&mut tls, Duration::from_secs(5)).await;
                let page = nginx::error_page(502).unwrap_or_default();
                nginx::answer_and_linger(
                    &mut tls,
                    &nginx::close_response("502 Bad Gateway", &page),
                )
                .await;
            }
        }
    }

    fn handshake_failed(&self, error: String) {
        self.record(|s| {
            s.handshake_failures += 1;
            s.last_handshake_error = Some(error);
        });
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
