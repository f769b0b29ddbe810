//! Loki's nginx gateway changed while it runs, as a platform team changes it, and what its
//! error log says about the clients it refused over TLS.
//!
//! - New credentials: the htpasswd file is rewritten, nginx is reloaded (SIGHUP, what
//!   `nginx -s reload` sends), and the change is waited for until it is in effect: the new
//!   password accepted, the old one refused. nginx reads the file on every request, so the
//!   reload is not what makes the password count; it is what an operator runs after editing a
//!   gateway, and its new workers replace the old ones, which close the collector's kept-alive
//!   connections: the collector must ride through that too.
//! - Refused handshakes: nginx logs each at `info` (the level of its `error_log` here), in the
//!   texts of [`REFUSALS`].

use std::time::Duration;

use super::nginx::Nginx;

/// What nginx 1.22 logs (at `info`) when it does not let a TLS client in, as seen in its error
/// log with curl, openssl s_client and raw sockets:
/// - `ssl_verify_client on` and no client certificate sent: the handshake completes, then nginx
///   answers 400 `No required SSL certificate was sent` and logs this;
/// - the client sent a certificate the CA did not sign (answered 400 too);
/// - the handshake failed: the client refused the server's certificate with an alert
///   (`... alert unknown ca ...`), or sent something that is not TLS;
/// - the client closed the connection in the middle of the handshake;
/// - the client spoke plain HTTP to the TLS port.
///
/// Not counted: `client closed connection while SSL handshaking`, a connection closed before
/// any byte (the harness's own is-it-listening probes).
pub const REFUSALS: [&str; 5] = [
    "client sent no required SSL certificate",
    "client SSL certificate verify error",
    "SSL_do_handshake() failed",
    "peer closed connection in SSL handshake",
    "client sent plain HTTP request to HTTPS port",
];

/// How long a reload may take to be in effect.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(10);

/// The error-log lines of refused TLS clients, oldest first.
pub fn refused_handshakes(nginx: &Nginx) -> Vec<String> {
    refusals_in(&std::fs::read_to_string(nginx.error_log_path()).unwrap_or_default())
}

fn refusals_in(error_log: &str) -> Vec<String> {
    error_log
        .lines()
        .filter(|l| REFUSALS.iter().any(|r| l.contains(r)))
        .map(str::to_owned)
        .collect()
}

/// How many worker processes nginx has started so far (each reload starts new ones).
fn workers_started(nginx: &Nginx) -> usize {
    let text = std::fs::read_to_string(nginx.error_log_path()).unwrap_or_default();
    text.lines()
        .filter(|l| l.contains("start worker process "))
        .count()
}

/// Makes the gateway accept `user`/`password` instead of what it accepted: rewrites the
/// htpasswd file, reloads nginx, and returns once the new workers run, the new password is
/// accepted and the old one (if it differs) refused.
pub async fn change_credentials(nginx: &Nginx, user: &str, password: &str) -> Result<(), String> {
    let old = nginx.credentials().ok();
    let workers = workers_started(nginx);
    nginx.set_credentials(user, password)?;
    nginx
        .server
        .signal("HUP")
        .map_err(|e| format!("reloading nginx: {e}"))?;
    let client = super::loki::http_client()?;
    let url = format!("http://{}/ready", nginx.plain_address());
    let status = |user: String, password: String| {
        let request = client.get(&url).basic_auth(user, Some(password));
        async move {
            match request.send().await {
                Ok(answer) => answer.status().as_u16(),
                Err(_) => 0,
            }
        }
    };
    let deadline = tokio::time::Instant::now() + RELOAD_TIMEOUT;
    loop {
        let reloaded = workers_started(nginx) > workers;
        let new_ok = reloaded && status(user.into(), password.into()).await == 200;
        let old_refused = match &old {
            Some((u, p)) if new_ok && (u != user || p != password) => {
                status(u.clone(), p.clone()).await == 401
            }
            _ => new_ok,
        };
        if new_ok && old_refused {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "the gateway's new credentials are not in effect after {RELOAD_TIMEOUT:?} \
                 (reloaded: {reloaded}, new accepted: {new_ok}, old refused: {old_refused}):\n{}",
                nginx.error_log_tail(10)
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_the_lines_of_refused_clients_only() {
        // Lines as nginx 1.22.1 wrote them.
        let log = "\
2026/01/01 10:00:00 [notice] 20781#20781: start worker process 20783
2026/01/01 10:00:01 [info] 20783#20783: *1 client sent no required SSL certificate while reading client request headers, client: 127.0.0.1, server: , request: \"GET / HTTP/1.1\", host: \"localhost:18443\"
2026/01/01 10:00:02 [info] 20783#20783: *3 SSL_do_handshake() failed (SSL: error:0A000418:SSL routines::tlsv1 alert unknown ca:SSL alert number 48) while SSL handshaking, client: 127.0.0.1, server: 127.0.0.1:18444
2026/01/01 10:00:03 [info] 20797#20797: *6 client closed connection while SSL handshaking, client: 127.0.0.1, server: 127.0.0.1:18444
";
        let refused = refusals_in(log);
        assert_eq!(refused.len(), 2);
        assert!(refused[0].contains("*1 client sent no required SSL certificate"));
        assert!(refused[1].contains("alert unknown ca"));
    }
}
