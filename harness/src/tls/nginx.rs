//! What an nginx gateway in front of Loki answers by itself: its built-in error pages.
//!
//! The bodies are nginx's (`ngx_http_special_response.c`) byte for byte, CRLF line ends
//! included, with `server_tokens off` (the tail says `nginx`, no version), so a collector that
//! shows a gateway's answer to its user is tested against the real text.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The realm of the gateway's `WWW-Authenticate: Basic realm="..."` challenge.
pub const REALM: &str = "Loki";

/// nginx's page for `status`: `401 Authorization Required`, `502 Bad Gateway`, ...; `None` for a
/// status nginx has no page of its own for.
pub fn error_page(status: u16) -> Option<String> {
    let title = match status {
        400 => "400 Bad Request",
        401 => "401 Authorization Required",
        403 => "403 Forbidden",
        404 => "404 Not Found",
        413 => "413 Request Entity Too Large",
        429 => "429 Too Many Requests",
        500 => "500 Internal Server Error",
        502 => "502 Bad Gateway",
        503 => "503 Service Temporarily Unavailable",
        504 => "504 Gateway Time-out",
        _ => return None,
    };
    Some(page(title, title, None))
}

/// The page of nginx's `ssl_verify_client on` when the client sent no certificate (nginx's
/// internal status 496, answered as 400).
pub fn no_client_certificate_page() -> String {
    page(
        "400 No required SSL certificate was sent",
        "400 Bad Request",
        Some("No required SSL certificate was sent"),
    )
}

fn page(title: &str, heading: &str, detail: Option<&str>) -> String {
    let mut out = format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{heading}</h1></center>\r\n"
    );
    if let Some(detail) = detail {
        out.push_str(&format!("<center>{detail}</center>\r\n"));
    }
    out.push_str("<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n");
    out
}

/// A whole HTTP/1.1 response as nginx writes it for an error page it closes the connection after.
pub(crate) fn close_response(status_line: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status_line}\r\nServer: nginx\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// Reads until the end of the request head (an empty line), at most 64 KiB, for at most
/// `patience`; nginx answers only once it has the head.
pub(crate) async fn read_request_head(stream: &mut (impl AsyncRead + Unpin), patience: Duration) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(patience, async {
        while head.len() < 64 * 1024 && !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(buf.get(..n).unwrap_or_default()),
            }
        }
    })
    .await;
}

/// Writes `response`, closes the write side, then keeps reading for a moment before the
/// connection is dropped: closing with unread request bytes makes the kernel send a reset, and
/// the client would see that instead of the answer (nginx's `lingering_close` exists for the
/// same reason).
pub(crate) async fn answer_and_linger(
    stream: &mut (impl AsyncRead + AsyncWrite + Unpin),
    response: &str,
) {
    if stream.write_all(response.as_bytes()).await.is_err() {
        return;
    }
    let _ = stream.flush().await;
    let _ = stream.shutdown().await;
    let mut sink = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_nginx_byte_for_byte() {
        assert_eq!(
            error_page(401).unwrap(),
            "<html>\r\n<head><title>401 Authorization Required</title></head>\r\n<body>\r\n\
             <center><h1>401 Authorization Required</h1></center>\r\n\
             <hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
        );
        assert_eq!(
            no_client_certificate_page(),
            "<html>\r\n<head><title>400 No required SSL certificate was sent</title></head>\r\n\
             <body>\r\n<center><h1>400 Bad Request</h1></center>\r\n\
             <center>No required SSL certificate was sent</center>\r\n\
             <hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
        );
        assert!(
            error_page(502)
                .unwrap()
                .contains("<title>502 Bad Gateway</title>")
        );
        assert_eq!(error_page(418), None);
    }

    #[test]
    fn close_response_has_length_and_connection_close() {
        let response = close_response("400 Bad Request", "body");
        assert!(response.starts_with("HTTP/1.1 400 Bad Request\r\n"));
        assert!(response.contains("\r\nContent-Length: 4\r\n"));
        assert!(response.contains("\r\nConnection: close\r\n\r\nbody"));
    }
}
