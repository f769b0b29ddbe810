//! The files Loki and its nginx gateway run with: Loki's config (multi-tenant), nginx's config
//! (TLS and basic auth in front of Loki) and the htpasswd file made from the Secret's values.

use crate::tls::nginx::REALM;

/// Where the gateway container finds its files (each mounted read-only).
pub const NGINX_CONF: &str = "/etc/nginx/nginx.conf";
pub const NGINX_HTPASSWD: &str = "/etc/nginx/htpasswd";
pub const NGINX_CERTS: &str = "/etc/nginx/certs";

/// Where the Loki container finds its config.
pub const LOKI_CONF: &str = "/etc/loki/e2e.yaml";

/// Loki's HTTP port, inside the kind network.
pub const LOKI_PORT: u16 = 3100;

/// Loki 3.4 as a single binary with everything on its local disk, and `auth_enabled: true`:
/// every push and query needs `X-Scope-OrgID`, as with a multi-tenant Loki in production.
/// The shape is Loki's own `local-config.yaml`, minus the ruler and usage reports.
pub const LOKI_CONFIG: &str = "\
# Written by harness::kind: Loki of the kind environment (multi-tenant, local disk).
auth_enabled: true

server:
  http_listen_port: 3100
  grpc_listen_port: 9096
  log_level: warn

common:
  instance_addr: 127.0.0.1
  path_prefix: /loki
  storage:
    filesystem:
      chunks_directory: /loki/chunks
      rules_directory: /loki/rules
  replication_factor: 1
  ring:
    kvstore:
      store: inmemory

schema_config:
  configs:
    - from: 2024-01-01
      store: tsdb
      object_store: filesystem
      schema: v13
      index:
        prefix: index_
        period: 24h

limits_config:
  allow_structured_metadata: true

analytics:
  reporting_enabled: false
";

/// nginx's config: TLS with the scenario's CA-signed certificate for `server_name`, basic auth
/// against [`NGINX_HTPASSWD`], everything passed on to Loki at `loki_host` (headers included,
/// so `X-Scope-OrgID` reaches Loki as sent).
pub fn nginx_config(server_name: &str, loki_host: &str) -> String {
    format!(
        "\
# Written by harness::kind: the Loki gateway of the kind environment (TLS and basic auth).
worker_processes 1;
error_log /dev/stderr notice;

events {{
    worker_connections 256;
}}

http {{
    server_tokens off;
    access_log /dev/stdout;
    # Above nginx's 1 MiB default, so that Loki's limits decide what is too large, not ours.
    client_max_body_size 16m;

    server {{
        listen 443 ssl;
        server_name {server_name};
        ssl_certificate {NGINX_CERTS}/server.pem;
        ssl_certificate_key {NGINX_CERTS}/server-key.pem;

        location / {{
            auth_basic \"{REALM}\";
            auth_basic_user_file {NGINX_HTPASSWD};
            proxy_pass http://{loki_host}:{LOKI_PORT};
        }}
    }}
}}
"
    )
}

/// The htpasswd line for `user` and `password`, in nginx's `{PLAIN}` scheme (RFC 2307 syntax,
/// which `auth_basic_user_file` reads). Plain text, because the tree has neither a SHA-1 nor a
/// bcrypt crate and a throwaway test password does not earn one; the file lives only in
/// `target/e2e/kind/` and in the gateway container.
pub fn htpasswd_line(user: &str, password: &str) -> Result<String, String> {
    // nginx splits each line at the first ':' and reads one user per line.
    if user.is_empty() || user.contains([':', '\n', '\r']) {
        return Err(format!(
            "the Secret's user {user:?} cannot go into an htpasswd file (empty, ':' or a newline)"
        ));
    }
    if password.contains(['\n', '\r']) {
        return Err("the Secret's password contains a newline: nginx could not read it".into());
    }
    Ok(format!("{user}:{{PLAIN}}{password}\n"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn htpasswd_is_plain_scheme_one_line_per_user() {
        assert_eq!(
            htpasswd_line("k8s-event-collector", "change-me").unwrap(),
            "k8s-event-collector:{PLAIN}change-me\n"
        );
        // A ':' in the password is fine: nginx splits at the first one.
        assert_eq!(htpasswd_line("u", "a:b").unwrap(), "u:{PLAIN}a:b\n");
        assert!(htpasswd_line("a:b", "p").is_err());
        assert!(htpasswd_line("", "p").is_err());
        let err = htpasswd_line("u", "p\nq").unwrap_err();
        assert!(!err.contains("p\nq"), "the password leaked: {err}");
    }

    #[test]
    fn nginx_terminates_tls_checks_basic_auth_and_proxies_to_loki() {
        let conf = nginx_config("gw", "loki");
        for expected in [
            "listen 443 ssl;",
            "server_name gw;",
            "ssl_certificate /etc/nginx/certs/server.pem;",
            "ssl_certificate_key /etc/nginx/certs/server-key.pem;",
            "auth_basic \"Loki\";",
            "auth_basic_user_file /etc/nginx/htpasswd;",
            "proxy_pass http://loki:3100;",
            "server_tokens off;",
        ] {
            assert!(conf.contains(expected), "missing {expected:?} in\n{conf}");
        }
        // Balanced braces: nginx refuses the file otherwise.
        assert_eq!(conf.matches('{').count(), conf.matches('}').count());
    }

    #[test]
    fn loki_is_multi_tenant_on_port_3100() {
        assert!(LOKI_CONFIG.contains("\nauth_enabled: true\n"));
        assert!(LOKI_CONFIG.contains("http_listen_port: 3100\n"));
        let doc = crate::sim::apiserver::yaml_documents(LOKI_CONFIG).unwrap();
        assert_eq!(doc[0]["auth_enabled"], true);
        assert_eq!(doc[0]["server"]["http_listen_port"], u64::from(LOKI_PORT));
        assert_eq!(doc[0]["schema_config"]["configs"][0]["schema"], "v13");
    }
}
