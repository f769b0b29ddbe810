//! Certificates minted per scenario with rcgen: CA-signed, self-signed, expired, wrong host, client.
//!
//! Every scenario mints its own set, so no key outlives a run and no scenario can pass because
//! of another's trust store. Keys are ECDSA P-256 (rcgen's default, served by rustls on ring);
//! private keys are PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), which every TLS stack reads.
//! The server certificates name `localhost` and `127.0.0.1` because the simulated servers listen
//! on loopback and the collector is pointed at `https://localhost:PORT`.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, date_time_ymd,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The names the CA-signed (and self-signed, and expired) server certificates are valid for.
pub const SERVER_NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

/// The only name of the wrong-host certificate: `.invalid` never resolves (RFC 2606).
pub const WRONG_HOST: &str = "loki.example.invalid";

/// Why certificates could not be minted (rcgen refused the parameters or the key generation).
#[derive(Debug, thiserror::Error)]
#[error("cannot mint the {what} certificate: {source}")]
pub struct CertError {
    what: &'static str,
    source: rcgen::Error,
}

/// One certificate and its private key, as PEM (what the collector reads) and DER (what rustls
/// takes).
#[derive(Clone)]
pub struct CertKey {
    /// `-----BEGIN CERTIFICATE-----`.
    pub cert_pem: String,
    /// `-----BEGIN PRIVATE KEY-----` (PKCS#8).
    pub key_pem: String,
    cert_der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

impl CertKey {
    fn new(cert: &rcgen::Certificate, key: &KeyPair) -> Self {
        Self {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().clone(),
            key_der: key.serialize_der(),
        }
    }

    /// The certificate, DER-encoded, for rustls.
    pub fn cert_der(&self) -> CertificateDer<'static> {
        self.cert_der.clone()
    }

    /// The private key, DER-encoded PKCS#8, for rustls.
    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }
}

impl fmt::Debug for CertKey {
    /// The certificate only: keys never reach logs or failure reports.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertKey")
            .field("cert_pem", &format_args!("{} bytes", self.cert_pem.len()))
            .field("key_pem", &"[REDACTED]")
            .finish()
    }
}

/// A scenario's certificates: one CA and every server and client certificate a TLS scenario
/// needs.
#[derive(Debug, Clone)]
pub struct Certs {
    /// The CA certificate (trust anchor for clients, and for the server when it checks client
    /// certificates). Its key is not kept: nothing signs after minting.
    pub ca_pem: String,
    ca_der: CertificateDer<'static>,
    /// Server certificate for [`SERVER_NAMES`], signed by the CA.
    pub server: CertKey,
    /// Server certificate for [`SERVER_NAMES`], signed by its own key: no client trusting the
    /// CA accepts it.
    pub self_signed: CertKey,
    /// Server certificate for [`SERVER_NAMES`], signed by the CA, valid only in 2020.
    pub expired: CertKey,
    /// Server certificate for [`WRONG_HOST`] only, signed by the CA.
    pub wrong_host: CertKey,
    /// Client certificate (`CN=k8s-event-collector`, client-auth usage), signed by the CA.
    pub client: CertKey,
}

/// Where [`Certs::write_to`] put each file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertPaths {
    /// `ca.pem`: for the collector's `tls.ca_file`.
    pub ca: PathBuf,
    /// `server.pem` and `server-key.pem`.
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// `self-signed.pem` and `self-signed-key.pem`.
    pub self_signed_cert: PathBuf,
    pub self_signed_key: PathBuf,
    /// `expired.pem` and `expired-key.pem`.
    pub expired_cert: PathBuf,
    pub expired_key: PathBuf,
    /// `wrong-host.pem` and `wrong-host-key.pem`.
    pub wrong_host_cert: PathBuf,
    pub wrong_host_key: PathBuf,
    /// `client.pem` and `client-key.pem`: for the collector's `tls.cert_file`/`tls.key_file`.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

impl Certs {
    /// Mints a fresh CA and every certificate signed by (or beside) it.
    pub fn mint() -> Result<Self, CertError> {
        Self::mint_for(&SERVER_NAMES)
    }

    /// Like [`Certs::mint`], with the CA-signed, self-signed and expired server certificates
    /// valid for `server_names` instead of [`SERVER_NAMES`]: the `kind` environment's gateway is
    /// reached by its container name, not on loopback.
    pub fn mint_for(server_names: &[&str]) -> Result<Self, CertError> {
        let fail = |what| move |source| CertError { what, source };

        let ca_key = KeyPair::generate().map_err(fail("CA"))?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(fail("CA"))?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        ca_params.distinguished_name = dn("k8s-event-collector harness CA");
        let ca_cert = ca_params.self_signed(&ca_key).map_err(fail("CA"))?;
        let ca = Issuer::new(ca_params, ca_key);

        let server_names: Vec<String> = server_names.iter().map(|s| s.to_string()).collect();
        let server = leaf(&server_names, Usage::Server, Validity::Current, Some(&ca))
            .map_err(fail("server"))?;
        let self_signed = leaf(&server_names, Usage::Server, Validity::Current, None)
            .map_err(fail("self-signed server"))?;
        let expired = leaf(&server_names, Usage::Server, Validity::Expired, Some(&ca))
            .map_err(fail("expired server"))?;
        let wrong_host = leaf(
            &[WRONG_HOST.to_owned()],
            Usage::Server,
            Validity::Current,
            Some(&ca),
        )
        .map_err(fail("wrong-host server"))?;
        let client =
            leaf(&[], Usage::Client, Validity::Current, Some(&ca)).map_err(fail("client"))?;

        Ok(Self {
            ca_pem: ca_cert.pem(),
            ca_der: ca_cert.der().clone(),
            server,
            self_signed,
            expired,
            wrong_host,
            client,
        })
    }

    /// The CA certificate, DER-encoded, for a rustls root store.
    pub fn ca_der(&self) -> CertificateDer<'static> {
        self.ca_der.clone()
    }

    /// A root store holding only this CA.
    pub fn root_store(&self) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        // A freshly minted CA certificate always parses; a failure would leave the store empty,
        // which makes every handshake fail loudly rather than pass.
        let _ = roots.add(self.ca_der());
        roots
    }

    /// Writes every certificate and key as PEM files into `dir` (created if missing) and returns
    /// their paths.
    pub fn write_to(&self, dir: &Path) -> io::Result<CertPaths> {
        std::fs::create_dir_all(dir)?;
        let write = |name: &str, pem: &str| -> io::Result<PathBuf> {
            let path = dir.join(name);
            std::fs::write(&path, pem)?;
            Ok(path)
        };
        Ok(CertPaths {
            ca: write("ca.pem", &self.ca_pem)?,
            server_cert: write("server.pem", &self.server.cert_pem)?,
            server_key: write("server-key.pem", &self.server.key_pem)?,
            self_signed_cert: write("self-signed.pem", &self.self_signed.cert_pem)?,
            self_signed_key: write("self-signed-key.pem", &self.self_signed.key_pem)?,
            expired_cert: write("expired.pem", &self.expired.cert_pem)?,
            expired_key: write("expired-key.pem", &self.expired.key_pem)?,
            wrong_host_cert: write("wrong-host.pem", &self.wrong_host.cert_pem)?,
            wrong_host_key: write("wrong-host-key.pem", &self.wrong_host.key_pem)?,
            client_cert: write("client.pem", &self.client.cert_pem)?,
            client_key: write("client-key.pem", &self.client.key_pem)?,
        })
    }
}

#[derive(Clone, Copy)]
enum Usage {
    Server,
    Client,
}

#[derive(Clone, Copy)]
enum Validity {
    /// rcgen's default, 1975 to 4096: never the reason a handshake fails.
    Current,
    /// All of 2020: long expired, on any clock a test machine has.
    Expired,
}

/// An end-entity certificate for `names`, signed by `issuer` (or by its own key when `None`).
fn leaf(
    names: &[String],
    usage: Usage,
    validity: Validity,
    issuer: Option<&Issuer<'_, KeyPair>>,
) -> Result<CertKey, rcgen::Error> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(names.to_vec())?;
    params.is_ca = IsCa::ExplicitNoCa;
    params.use_authority_key_identifier_extension = issuer.is_some();
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let (common_name, eku) = match usage {
        Usage::Server => (
            names.first().map_or("server", String::as_str),
            ExtendedKeyUsagePurpose::ServerAuth,
        ),
        Usage::Client => ("k8s-event-collector", ExtendedKeyUsagePurpose::ClientAuth),
    };
    params.distinguished_name = dn(common_name);
    params.extended_key_usages = vec![eku];
    if let Validity::Expired = validity {
        params.not_before = date_time_ymd(2020, 1, 1);
        params.not_after = date_time_ymd(2021, 1, 1);
    }
    let cert = match issuer {
        Some(issuer) => params.signed_by(&key, issuer)?,
        None => params.self_signed(&key)?,
    };
    Ok(CertKey::new(&cert, &key))
}

fn dn(common_name: &str) -> rcgen::DistinguishedName {
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;

    use rustls::client::WebPkiServerVerifier;
    use rustls::client::danger::ServerCertVerifier;
    use rustls::pki_types::{ServerName, UnixTime};

    use super::*;

    fn verify(certs: &Certs, cert: &CertKey, host: &str) -> Result<(), rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(certs.root_store()), provider)
                .build()
                .unwrap();
        verifier
            .verify_server_cert(
                &cert.cert_der(),
                &[],
                &ServerName::try_from(host.to_owned()).unwrap(),
                &[],
                UnixTime::now(),
            )
            .map(|_| ())
    }

    #[test]
    fn each_server_certificate_passes_or_fails_verification_as_named() {
        let certs = Certs::mint().unwrap();
        verify(&certs, &certs.server, "localhost").unwrap();
        verify(&certs, &certs.server, "127.0.0.1").unwrap();
        verify(&certs, &certs.wrong_host, WRONG_HOST).unwrap();

        let err = |cert: &CertKey, host: &str| verify(&certs, cert, host).unwrap_err().to_string();
        assert!(
            err(&certs.self_signed, "localhost").contains("UnknownIssuer"),
            "{}",
            err(&certs.self_signed, "localhost")
        );
        assert!(
            err(&certs.expired, "localhost").contains("expired"),
            "{}",
            err(&certs.expired, "localhost")
        );
        assert!(
            err(&certs.wrong_host, "localhost").contains("not valid for name"),
            "{}",
            err(&certs.wrong_host, "localhost")
        );
    }

    #[test]
    fn mint_for_names_the_given_hosts() {
        let certs = Certs::mint_for(&["loki-gateway"]).unwrap();
        verify(&certs, &certs.server, "loki-gateway").unwrap();
        assert!(verify(&certs, &certs.server, "localhost").is_err());
    }

    #[test]
    fn keys_match_their_certificates_and_are_pkcs8_pem() {
        let certs = Certs::mint().unwrap();
        for cert in [&certs.server, &certs.client, &certs.expired] {
            assert!(cert.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
            let key = rustls::crypto::ring::sign::any_supported_type(&cert.key_der()).unwrap();
            let certified = rustls::sign::CertifiedKey::new(vec![cert.cert_der()], key);
            certified.keys_match().unwrap();
        }
    }

    #[test]
    fn mints_differ_and_debug_hides_keys() {
        let (a, b) = (Certs::mint().unwrap(), Certs::mint().unwrap());
        assert_ne!(a.ca_pem, b.ca_pem);
        assert_ne!(a.client.key_pem, b.client.key_pem);
        let shown = format!("{a:?}");
        assert!(!shown.contains("PRIVATE KEY"), "{shown}");
        assert!(shown.contains("[REDACTED]"));
    }

    #[test]
    fn write_to_puts_every_pem_in_the_directory() {
        let certs = Certs::mint().unwrap();
        let dir = std::env::temp_dir().join(format!("harness-certs-{}", std::process::id()));
        let paths = certs.write_to(&dir).unwrap();
        assert_eq!(std::fs::read_to_string(&paths.ca).unwrap(), certs.ca_pem);
        assert_eq!(
            std::fs::read_to_string(&paths.client_key).unwrap(),
            certs.client.key_pem
        );
        assert_eq!(paths.server_cert, dir.join("server.pem"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
