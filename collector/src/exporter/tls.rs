//! TLS of the HTTP exporters: a rustls client config built from the `tls:` settings, on ring.
//!
//! The config is built here rather than by reqwest because reqwest's `rustls-no-provider` build
//! has no crypto provider of its own: handing it a finished config means no process-wide
//! provider has to be installed. Trusted roots are, in order: `ca_file`/`ca_pem` when set (plus
//! the system bundle with `include_system_ca_certs_pool`), else the system bundle, read as PEM
//! from `SSL_CERT_FILE` or the distributions' usual paths. Reading the bundle file ourselves
//! (instead of rustls-platform-verifier) keeps one verifier, webpki, whose errors name the
//! problem precisely (see [`super::problem`]), and works the same in a distroless image.
//!
//! Certificate files are read once, when the exporter is built: `reload_interval` is not acted
//! on yet.

use std::fmt;
use std::io::BufReader;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::config::http::TlsClientConfig;

/// System CA bundles, first found wins: Debian/Ubuntu/Alpine/distroless, RHEL/Fedora,
/// openSUSE, and the BSD/macOS/Alpine `cert.pem`.
const SYSTEM_CA_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// Why the `tls:` settings do not give a usable client config. Never holds key material.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read tls.{key} {path}: {source}")]
    Read {
        key: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("tls.{file_key} and tls.{pem_key} are both set: use one of them")]
    Both {
        file_key: &'static str,
        pem_key: &'static str,
    },
    #[error("{origin} holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)")]
    NoCertificate { origin: String },
    #[error("{origin} is not valid PEM: {source}")]
    Pem {
        origin: String,
        source: std::io::Error,
    },
    #[error(
        "{origin} holds no private key (expected -----BEGIN PRIVATE KEY----- or an RSA/EC key)"
    )]
    NoKey { origin: String },
    #[error("{origin} holds a certificate rustls cannot use as a trust anchor: {source}")]
    BadCa {
        origin: String,
        source: rustls::Error,
    },
    #[error(
        "a client certificate needs both a certificate (tls.cert_file or tls.cert_pem) and its key (tls.key_file or tls.key_pem)"
    )]
    HalfIdentity,
    #[error("the client certificate and key cannot be used together: {0}")]
    Identity(rustls::Error),
    #[error("tls.{key}: `{value}` is not a TLS version this collector speaks: use 1.2 or 1.3")]
    Version { key: &'static str, value: String },
    #[error("tls.min_version is above tls.max_version")]
    VersionRange,
    #[error("tls.server_name_override `{0}` is not a valid host name or IP address")]
    ServerName(String),
    #[error(
        "no system CA certificates found (looked at SSL_CERT_FILE and {}): set tls.ca_file to the CA that signed Loki's certificate",
        SYSTEM_CA_BUNDLES.join(", ")
    )]
    NoSystemRoots,
    #[error("cannot build the certificate verifier: {0}")]
    Verifier(String),
}

/// The rustls client config for an `https://` endpoint with these settings. ALPN offers HTTP/2
/// and HTTP/1.1, as reqwest would have.
pub fn client_config(tls: &TlsClientConfig) -> Result<ClientConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = if tls.insecure_skip_verify {
        Arc::new(AcceptAnyServerCert {
            algorithms: provider.signature_verification_algorithms,
        })
    } else {
        let roots = Arc::new(trusted_roots(tls)?);
        WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .map_err(|e| TlsError::Verifier(e.to_string()))?
    };
    let verifier = match &tls.server_name_override {
        Some(name) => Arc::new(VerifyAs {
            name: ServerName::try_from(name.clone())
                .map_err(|_| TlsError::ServerName(name.clone()))?,
            inner: verifier,
        }),
        None => verifier,
    };
    let builder = builder(provider, tls)?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match client_identity(tls)? {
        Some((certs, key)) => builder
            .with_client_auth_cert(certs, key)
            .map_err(TlsError::Identity)?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// A config for `http://` endpoints: reqwest wants one even when it never speaks TLS. It
/// trusts nothing, so it cannot be used by accident.
pub fn plaintext_client_config() -> Result<ClientConfig, TlsError> {
    Ok(builder(
        Arc::new(rustls::crypto::ring::default_provider()),
        &TlsClientConfig::default(),
    )?
    .with_root_certificates(RootCertStore::empty())
    .with_no_client_auth())
}

type ProtocolBuilder = rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier>;

fn builder(
    provider: Arc<CryptoProvider>,
    tls: &TlsClientConfig,
) -> Result<ProtocolBuilder, TlsError> {
    let min = parse_version("min_version", tls.min_version.as_deref())?.unwrap_or(Version::Tls12);
    let max = parse_version("max_version", tls.max_version.as_deref())?.unwrap_or(Version::Tls13);
    if min > max {
        return Err(TlsError::VersionRange);
    }
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = [
        (Version::Tls12, &rustls::version::TLS12),
        (Version::Tls13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(v, _)| (min..=max).contains(v))
    .map(|(_, p)| p)
    .collect();
    ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| TlsError::Verifier(e.to_string()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Version {
    Tls12,
    Tls13,
}

fn parse_version(key: &'static str, value: Option<&str>) -> Result<Option<Version>, TlsError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some("1.2") => Ok(Some(Version::Tls12)),
        Some("1.3") => Ok(Some(Version::Tls13)),
        Some(other) => Err(TlsError::Version {
            key,
            value: other.to_owned(),
        }),
    }
}

/// PEM text and where it came from, for error messages.
struct PemSource {
    origin: String,
    text: Vec<u8>,
}

/// The PEM of `tls.<file_key>` (read now) or `tls.<pem_key>`, if either is set.
fn pem_source(
    file: Option<&str>,
    pem: Option<&str>,
    file_key: &'static str,
    pem_key: &'static str,
) -> Result<Option<PemSource>, TlsError> {
    match (file, pem) {
        (Some(_), Some(_)) => Err(TlsError::Both { file_key, pem_key }),
        (Some(path), None) => Ok(Some(PemSource {
            origin: format!("tls.{file_key} {path}"),
            text: std::fs::read(path).map_err(|source| TlsError::Read {
                key: file_key,
                path: path.to_owned(),
                source,
            })?,
        })),
        (None, Some(text)) => Ok(Some(PemSource {
            origin: format!("tls.{pem_key}"),
            text: text.as_bytes().to_vec(),
        })),
        (None, None) => Ok(None),
    }
}

fn certificates(source: &PemSource) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = rustls_pemfile::certs(&mut BufReader::new(source.text.as_slice()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            origin: source.origin.clone(),
            source: e,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            origin: source.origin.clone(),
        });
    }
    Ok(certs)
}

/// The roots the server certificate must chain to.
fn trusted_roots(tls: &TlsClientConfig) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    let custom = pem_source(
        tls.ca_file.as_deref(),
        tls.ca_pem.as_deref(),
        "ca_file",
        "ca_pem",
    )?;
    if let Some(source) = &custom {
        for cert in certificates(source)? {
            roots.add(cert).map_err(|e| TlsError::BadCa {
                origin: source.origin.clone(),
                source: e,
            })?;
        }
    }
    if custom.is_none() || tls.include_system_ca_certs_pool {
        let env = std::env::var("SSL_CERT_FILE").ok();
        let candidates: Vec<&str> = match env.as_deref() {
            Some(path) if !path.is_empty() => vec![path],
            _ => SYSTEM_CA_BUNDLES.to_vec(),
        };
        let added = add_system_roots(&mut roots, &candidates);
        if added == 0 && custom.is_some() {
            tracing::warn!(
                "include_system_ca_certs_pool is set but no system CA bundle was found; trusting only tls.ca_file/ca_pem"
            );
        }
    }
    if roots.is_empty() {
        return Err(TlsError::NoSystemRoots);
    }
    Ok(roots)
}

/// Adds the certificates of the first readable bundle among `paths`; returns how many. Odd
/// certificates in a system bundle are skipped, as every TLS library does.
fn add_system_roots(roots: &mut RootCertStore, paths: &[&str]) -> usize {
    for path in paths {
        let Ok(text) = std::fs::read(path) else {
            continue;
        };
        let mut reader = BufReader::new(text.as_slice());
        let certs = rustls_pemfile::certs(&mut reader).flatten();
        let (added, _ignored) = roots.add_parsable_certificates(certs);
        if added > 0 {
            return added;
        }
    }
    0
}

type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// The client certificate chain and key for mTLS, if configured.
fn client_identity(tls: &TlsClientConfig) -> Result<Option<Identity>, TlsError> {
    let cert = pem_source(
        tls.cert_file.as_deref(),
        tls.cert_pem.as_deref(),
        "cert_file",
        "cert_pem",
    )?;
    let key = pem_source(
        tls.key_file.as_deref(),
        tls.key_pem.as_deref(),
        "key_file",
        "key_pem",
    )?;
    let (cert, key) = match (cert, key) {
        (None, None) => return Ok(None),
        (Some(cert), Some(key)) => (cert, key),
        _ => return Err(TlsError::HalfIdentity),
    };
    let certs = certificates(&cert)?;
    // The parser's error never quotes the input, so no key material reaches the message.
    let private_key = rustls_pemfile::private_key(&mut BufReader::new(key.text.as_slice()))
        .map_err(|e| TlsError::Pem {
            origin: key.origin.clone(),
            source: e,
        })?
        .ok_or(TlsError::NoKey { origin: key.origin })?;
    Ok(Some((certs, private_key)))
}

/// `insecure_skip_verify`: any server certificate is accepted, but the handshake signatures are
/// still checked, so the session is at least bound to the key the server showed.
struct AcceptAnyServerCert {
    algorithms: WebPkiSupportedAlgorithms,
}

impl fmt::Debug for AcceptAnyServerCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AcceptAnyServerCert")
    }
}

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// `server_name_override`: verify the certificate for this name instead of the endpoint's host
/// (the SNI sent is still the endpoint's host: reqwest takes it from the URL).
#[derive(Debug)]
struct VerifyAs {
    name: ServerName<'static>,
    inner: Arc<dyn ServerCertVerifier>,
}

impl ServerCertVerifier for VerifyAs {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }

    fn requires_raw_public_keys(&self) -> bool {
        self.inner.requires_raw_public_keys()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn self_signed(name: &str) -> rcgen::CertifiedKey<rcgen::KeyPair> {
        rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap()
    }

    #[test]
    fn inline_ca_and_client_identity_build() {
        let ca = self_signed("loki.example");
        let client = self_signed("client");
        let tls = TlsClientConfig {
            ca_pem: Some(ca.cert.pem()),
            cert_pem: Some(client.cert.pem()),
            key_pem: Some(client.signing_key.serialize_pem()),
            ..TlsClientConfig::default()
        };
        let config = client_config(&tls).unwrap();
        assert!(config.client_auth_cert_resolver.has_certs());
        assert_eq!(
            config.alpn_protocols,
            [b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }

    #[test]
    fn versions_are_limited_to_what_is_configured() {
        let ca = self_signed("x");
        let only13 = TlsClientConfig {
            ca_pem: Some(ca.cert.pem()),
            min_version: Some("1.3".into()),
            ..TlsClientConfig::default()
        };
        assert!(client_config(&only13).is_ok());
        let inverted = TlsClientConfig {
            max_version: Some("1.2".into()),
            ..only13.clone()
        };
        assert!(matches!(
            client_config(&inverted),
            Err(TlsError::VersionRange)
        ));
        let old = TlsClientConfig {
            min_version: Some("1.1".into()),
            ..only13
        };
        let err = client_config(&old).unwrap_err().to_string();
        assert!(err.contains("tls.min_version: `1.1`"), "{err}");
    }

    #[test]
    fn errors_name_the_setting_and_never_quote_a_key() {
        let secret_key =
            "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n";
        let ca = self_signed("x");
        let tls = TlsClientConfig {
            ca_pem: Some(ca.cert.pem()),
            cert_pem: Some(ca.cert.pem()),
            key_pem: Some(secret_key.into()),
            ..TlsClientConfig::default()
        };
        let err = client_config(&tls).unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(!text.contains("c2VjcmV0"), "{text}");

        let missing = TlsClientConfig {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..TlsClientConfig::default()
        };
        let err = client_config(&missing).unwrap_err().to_string();
        assert!(
            err.starts_with("cannot read tls.ca_file /nonexistent/ca.pem"),
            "{err}"
        );

        let not_pem = TlsClientConfig {
            ca_pem: Some("hello".into()),
            ..TlsClientConfig::default()
        };
        let err = client_config(&not_pem).unwrap_err().to_string();
        assert!(err.contains("tls.ca_pem holds no PEM certificate"), "{err}");

        let half = TlsClientConfig {
            ca_pem: Some(ca.cert.pem()),
            cert_pem: Some(ca.cert.pem()),
            ..TlsClientConfig::default()
        };
        assert!(matches!(client_config(&half), Err(TlsError::HalfIdentity)));
    }

    #[test]
    fn bad_server_name_override_is_reported() {
        let tls = TlsClientConfig {
            insecure_skip_verify: true,
            server_name_override: Some("not a host".into()),
            ..TlsClientConfig::default()
        };
        assert!(matches!(client_config(&tls), Err(TlsError::ServerName(_))));
    }

    #[test]
    fn system_roots_come_from_the_first_bundle_found() {
        let ca = self_signed("x");
        let dir = std::env::temp_dir().join(format!("tls-roots-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bundle = dir.join("bundle.pem");
        std::fs::write(&bundle, format!("junk\n{}", ca.cert.pem())).unwrap();
        let mut roots = RootCertStore::empty();
        let added = add_system_roots(
            &mut roots,
            &["/nonexistent/bundle.pem", bundle.to_str().unwrap()],
        );
        assert_eq!(added, 1);
        assert_eq!(
            add_system_roots(&mut RootCertStore::empty(), &["/nonexistent"]),
            0
        );
    }
}
