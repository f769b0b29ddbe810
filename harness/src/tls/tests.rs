//! The terminator against a real rustls client (reqwest on ring), mode by mode.

use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;

use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;

async fn backend() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&server)
        .await;
    server
}

/// A client trusting only the scenario's CA, with a client certificate when given one.
fn client(certs: &Certs, identity: Option<&CertKey>) -> reqwest::Client {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(certs.root_store());
    let config = match identity {
        Some(id) => builder
            .with_client_auth_cert(vec![id.cert_der()], id.key_der())
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .no_proxy()
        .build()
        .unwrap()
}

/// The error and all its sources, one string.
fn chain(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The stats once `done` holds, or the last ones after 5 s.
async fn stats_when(terminator: &TlsTerminator, done: impl Fn(&TlsStats) -> bool) -> TlsStats {
    for _ in 0..100 {
        let stats = terminator.stats();
        if done(&stats) {
            return stats;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    terminator.stats()
}

async fn get(client: &reqwest::Client, url: &str) -> Result<(u16, String), reqwest::Error> {
    let response = client.get(format!("{url}/ready")).send().await?;
    let status = response.status().as_u16();
    Ok((status, response.text().await?))
}

#[tokio::test]
async fn ca_signed_is_accepted_by_a_client_trusting_the_ca() {
    let (certs, backend) = (Certs::mint().unwrap(), backend().await);
    let tls = TlsTerminator::start(*backend.address(), TlsMode::CaSigned, &certs).unwrap();
    assert!(tls.url().starts_with("https://localhost:"));

    let answer = get(&client(&certs, None), &tls.url()).await.unwrap();
    assert_eq!(answer, (200, "ok".to_owned()));
    let stats = tls.stats();
    assert_eq!((stats.handshakes, stats.handshake_failures), (1, 0));
}

/// Each bad server certificate: the client refuses it, and the terminator records why.
#[tokio::test]
async fn bad_server_certificates_are_refused_and_recorded() {
    let (certs, backend) = (Certs::mint().unwrap(), backend().await);
    for (mode, client_says, server_hears) in [
        (TlsMode::SelfSigned, "UnknownIssuer", "UnknownCA"),
        (
            TlsMode::Expired,
            "certificate expired",
            "CertificateExpired",
        ),
        (TlsMode::WrongHost, "not valid for name", "BadCertificate"),
    ] {
        let tls = TlsTerminator::start(*backend.address(), mode, &certs).unwrap();
        let err = get(&client(&certs, None), &tls.url()).await.unwrap_err();
        assert!(
            chain(&err).contains(client_says),
            "{mode:?}: {}",
            chain(&err)
        );

        let stats = stats_when(&tls, |s| s.handshake_failures > 0).await;
        assert_eq!(stats.handshake_failures, 1, "{mode:?}");
        assert_eq!(stats.handshakes, 0, "{mode:?}");
        let error = stats.last_handshake_error.unwrap_or_default();
        assert!(error.contains(server_hears), "{mode:?}: {error}");
    }
}

#[tokio::test]
async fn mutual_tls_answers_nginx_400_without_a_client_certificate() {
    let (certs, backend) = (Certs::mint().unwrap(), backend().await);
    let tls = TlsTerminator::start(*backend.address(), TlsMode::MutualTls, &certs).unwrap();

    let (status, body) = get(&client(&certs, None), &tls.url()).await.unwrap();
    assert_eq!(status, 400);
    assert_eq!(body, nginx::no_client_certificate_page());
    assert_eq!(tls.stats().missing_client_certificate, 1);
}

#[tokio::test]
async fn mutual_tls_accepts_the_ca_signed_client_certificate_only() {
    let (certs, backend) = (Certs::mint().unwrap(), backend().await);
    let tls = TlsTerminator::start(*backend.address(), TlsMode::MutualTls, &certs).unwrap();

    let answer = get(&client(&certs, Some(&certs.client)), &tls.url()).await;
    assert_eq!(answer.unwrap(), (200, "ok".to_owned()));

    // A certificate the CA did not sign fails the handshake, as with nginx.
    let err = get(&client(&certs, Some(&certs.self_signed)), &tls.url()).await;
    assert!(err.is_err());
    let stats = stats_when(&tls, |s| s.handshake_failures > 0).await;
    assert_eq!(stats.handshake_failures, 1);
    assert_eq!(stats.missing_client_certificate, 0);
}

#[tokio::test]
async fn dead_backend_is_answered_502_and_drop_stops_listening() {
    let certs = Certs::mint().unwrap();
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let tls = TlsTerminator::start(dead, TlsMode::CaSigned, &certs).unwrap();
    let (status, body) = get(&client(&certs, None), &tls.url()).await.unwrap();
    assert_eq!(status, 502);
    assert_eq!(Some(body), nginx::error_page(502));
    assert_eq!(tls.stats().backend_unreachable, 1);

    let addr = tls.addr();
    drop(tls);
    let err = tokio::net::TcpStream::connect(addr).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
}
