//! TLS tests of the Loki exporter: certificates minted with rcgen, and a minimal tokio-rustls
//! server that answers every request with `HTTP/1.1 204 No Content`.

use std::sync::Arc;

use bytes::Bytes;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::*;
use crate::config::http::TlsClientConfig;
use crate::exporter::loki::client::tests::config;
use crate::exporter::loki::test_support::k8s_event_record;

struct Ca {
    issuer: Issuer<'static, KeyPair>,
    der: CertificateDer<'static>,
    pem: String,
}

fn ca() -> Ca {
    named_ca("test CA")
}

fn named_ca(name: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    Ca {
        der: cert.der().clone(),
        pem: cert.pem(),
        issuer: Issuer::new(params, key),
    }
}

struct Leaf {
    der: CertificateDer<'static>,
    pem: String,
    key_der: Vec<u8>,
    key_pem: String,
}

/// A certificate for `name`, signed by `ca` or else self-signed.
fn leaf(name: &str, ca: Option<&Ca>) -> Leaf {
    let params = CertificateParams::new(vec![name.to_owned()]).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = match ca {
        Some(ca) => params.signed_by(&key, &ca.issuer).unwrap(),
        None => params.self_signed(&key).unwrap(),
    };
    Leaf {
        der: cert.der().clone(),
        pem: cert.pem(),
        key_der: key.serialize_der(),
        key_pem: key.serialize_pem(),
    }
}

/// Serves HTTPS on a loopback port with `cert`, requiring a client certificate signed by
/// `client_ca` when given; returns the port.
async fn serve(cert: &Leaf, client_ca: Option<&Ca>) -> u16 {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            roots.add(ca.der.clone()).unwrap();
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .unwrap();
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_der.clone()));
    let config = builder
        .with_single_cert(vec![cert.der.clone()], key)
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                if read_request(&mut tls).await {
                    let _ = tls
                        .write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
                        .await;
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    port
}

/// Reads one request (head and `Content-Length` body); false if the connection ends first.
async fn read_request(stream: &mut (impl AsyncReadExt + Unpin)) -> bool {
    let mut request = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        request.extend_from_slice(&chunk[..n]);
        if let Some(head_end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&request[..head_end]).to_ascii_lowercase();
            let body_len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if request.len() >= head_end + 4 + body_len {
                return true;
            }
        }
    }
}

fn client(port: u16, tls: TlsClientConfig) -> LokiClient {
    let mut c = config(&format!("https://127.0.0.1:{port}/loki/api/v1/push"));
    c.tls = tls;
    LokiClient::new("loki", &c, None).unwrap()
}

/// One push to the server; the status, or the problem a transport failure means.
async fn push(port: u16, tls: TlsClientConfig) -> Result<u16, Problem> {
    match client(port, tls)
        .push(None, Bytes::from_static(b"push"))
        .await
    {
        Ok(answer) => Ok(answer.status),
        Err(PushError::Transport(e)) => Err(Problem::of_transport(&e)),
        Err(other) => panic!("unexpected {other}"),
    }
}

fn trusting(ca: &Ca) -> TlsClientConfig {
    TlsClientConfig {
        ca_pem: Some(ca.pem.clone()),
        ..TlsClientConfig::default()
    }
}

fn message(problem: &Problem) -> String {
    problem.message(&Context {
        endpoint: "https://127.0.0.1/loki/api/v1/push",
        credentials: None,
        timeout: Duration::from_secs(5),
    })
}

#[tokio::test]
async fn a_ca_signed_server_is_trusted_through_ca_file() {
    let ca = ca();
    let port = serve(&leaf("127.0.0.1", Some(&ca)), None).await;
    let dir = std::env::temp_dir().join(format!("loki-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    let mut c = config(&format!("https://127.0.0.1:{port}/loki/api/v1/push"));
    c.tls.ca_file = Some(ca_file.display().to_string());
    let exporter = LokiExporter::new("loki", &c, None).unwrap();
    let (_tx, mut rx) = tokio::sync::watch::channel(false);

    let outcome = exporter.export(&[k8s_event_record()], &mut rx).await;
    assert_eq!((outcome.accepted, outcome.rejected), (1, 0));
}

#[tokio::test]
async fn a_self_signed_server_needs_skip_verify() {
    let port = serve(&leaf("127.0.0.1", None), None).await;

    let problem = push(port, trusting(&ca())).await.unwrap_err();
    assert_eq!(problem, Problem::CertificateNotTrusted);
    assert!(message(&problem).contains(
        "certificate not trusted: set tls.ca_file to the Loki CA, or tls.insecure_skip_verify: true for a self-signed test server"
    ));
    let skip = TlsClientConfig {
        insecure_skip_verify: true,
        ..TlsClientConfig::default()
    };
    assert_eq!(push(port, skip).await, Ok(204));
}

#[tokio::test]
async fn mtls_needs_the_client_certificate() {
    let ca = ca();
    let port = serve(&leaf("127.0.0.1", Some(&ca)), Some(&ca)).await;

    let problem = push(port, trusting(&ca)).await.unwrap_err();
    assert_eq!(
        problem,
        Problem::ClientCertificateRequired,
        "{}",
        message(&problem)
    );
    assert!(
        message(&problem)
            .contains("requires a client certificate: set tls.cert_file and tls.key_file")
    );

    let client_cert = leaf("collector", Some(&ca));
    let with_cert = TlsClientConfig {
        cert_pem: Some(client_cert.pem),
        key_pem: Some(client_cert.key_pem),
        ..trusting(&ca)
    };
    assert_eq!(push(port, with_cert).await, Ok(204));

    let stranger = leaf("collector", Some(&named_ca("another CA")));
    let with_other_cert = TlsClientConfig {
        cert_pem: Some(stranger.pem),
        key_pem: Some(stranger.key_pem),
        ..trusting(&ca)
    };
    let problem = push(port, with_other_cert).await.unwrap_err();
    assert_eq!(
        problem,
        Problem::ClientCertificateRejected,
        "{}",
        message(&problem)
    );
}

#[tokio::test]
async fn a_certificate_for_another_host_is_named() {
    let ca = ca();
    let port = serve(&leaf("loki.example", Some(&ca)), None).await;

    let problem = push(port, trusting(&ca)).await.unwrap_err();
    assert_eq!(
        message(&problem),
        "TLS to https://127.0.0.1/loki/api/v1/push failed: certificate is for loki.example, not 127.0.0.1: use the right host or tls.server_name_override"
    );
    let overridden = TlsClientConfig {
        server_name_override: Some("loki.example".into()),
        ..trusting(&ca)
    };
    assert_eq!(push(port, overridden).await, Ok(204));
}
