//! Credentials of the HTTP exporters: the `Authorization` header of a `basicauth` or
//! `bearertokenauth` extension, re-reading `_file` secrets when they change.
//!
//! Kubernetes updates a mounted Secret by swapping a symlink, so a file is re-read whenever its
//! modification time or length differs from the last read (one `stat` per request). A file that
//! cannot be re-read keeps its last value, with one warning. Secrets never appear in `Debug`
//! output or errors: both say only where a credential comes from.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use http::HeaderValue;

use crate::config::ExtensionConfig;
use crate::config::extensions::{BasicAuthConfig, BearerTokenAuthConfig};

/// Why an authenticator cannot be built or used. Names settings and files, never values.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("extension {id} is not an authenticator: use a basicauth or bearertokenauth extension")]
    NotAnAuthenticator { id: String },
    #[error("extension {id} has no client_auth: add client_auth with a username and password")]
    NoClientAuth { id: String },
    #[error("extension {id} has neither token nor filename")]
    NoToken { id: String },
    #[error("extension {id}: cannot read {key} {path}: {source}")]
    Read {
        id: String,
        key: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error(
        "extension {id}: the credentials contain a character an HTTP header cannot carry (a newline or other control character?)"
    )]
    InvalidHeader { id: String },
}

/// The `Authorization` header provider of an exporter.
pub struct Authenticator {
    id: String,
    scheme: Scheme,
}

enum Scheme {
    Basic {
        username: Credential,
        password: Credential,
    },
    Bearer {
        /// `Bearer` unless configured otherwise; empty means the token alone.
        prefix: String,
        token: Credential,
    },
}

impl Authenticator {
    /// The authenticator of extension `id`. Files are read once now, so a missing Secret file is
    /// reported at start-up.
    pub fn from_extension(id: &str, extension: &ExtensionConfig) -> Result<Self, AuthError> {
        let scheme = match extension {
            ExtensionConfig::BasicAuth(config) => basic(id, config)?,
            ExtensionConfig::BearerTokenAuth(config) => bearer(id, config)?,
            _ => return Err(AuthError::NotAnAuthenticator { id: id.to_owned() }),
        };
        Ok(Self {
            id: id.to_owned(),
            scheme,
        })
    }

    /// The extension id, e.g. `basicauth/client`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// What to check when the credentials are refused, and where they come from: e.g. `the
    /// basicauth username/password (basicauth/client: username from the config, password from
    /// password_file /etc/loki/password)`. Never the values.
    pub fn describe(&self) -> String {
        match &self.scheme {
            Scheme::Basic { username, password } => format!(
                "the basicauth username/password ({}: username {}, password {})",
                self.id,
                username.origin(),
                password.origin()
            ),
            Scheme::Bearer { token, .. } => {
                format!("the bearer token ({}: token {})", self.id, token.origin())
            }
        }
    }

    /// The `Authorization` header for the next request, marked sensitive so HTTP/2 never
    /// indexes it and `Debug` of a header map hides it.
    pub fn header(&self) -> Result<HeaderValue, AuthError> {
        let raw = match &self.scheme {
            Scheme::Basic { username, password } => {
                let mut pair = username.value(&self.id);
                pair.push(b':');
                pair.extend_from_slice(&password.value(&self.id));
                format!("Basic {}", crate::gofmt::base64(&pair)).into_bytes()
            }
            Scheme::Bearer { prefix, token } => {
                let mut out = Vec::new();
                if !prefix.is_empty() {
                    out.extend_from_slice(prefix.as_bytes());
                    out.push(b' ');
                }
                out.extend_from_slice(&token.value(&self.id));
                out
            }
        };
        let mut value = HeaderValue::from_bytes(&raw).map_err(|_| AuthError::InvalidHeader {
            id: self.id.clone(),
        })?;
        value.set_sensitive(true);
        Ok(value)
    }
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("credentials", &self.describe())
            .finish()
    }
}

fn basic(id: &str, config: &BasicAuthConfig) -> Result<Scheme, AuthError> {
    let auth = config
        .client_auth
        .as_ref()
        .ok_or_else(|| AuthError::NoClientAuth { id: id.to_owned() })?;
    Ok(Scheme::Basic {
        username: Credential::new(
            id,
            auth.username.as_deref(),
            auth.username_file.as_deref(),
            "username_file",
        )?,
        password: Credential::new(
            id,
            auth.password.as_deref(),
            auth.password_file.as_deref(),
            "password_file",
        )?,
    })
}

fn bearer(id: &str, config: &BearerTokenAuthConfig) -> Result<Scheme, AuthError> {
    if config.token.is_none() && config.filename.is_none() {
        return Err(AuthError::NoToken { id: id.to_owned() });
    }
    Ok(Scheme::Bearer {
        prefix: config.scheme.clone(),
        token: Credential::new(
            id,
            config.token.as_deref(),
            config.filename.as_deref(),
            "filename",
        )?,
    })
}

/// One credential: a literal from the config, or a file (which wins, as in OpenTelemetry).
enum Credential {
    Literal(Vec<u8>),
    File(SecretFile),
}

impl Credential {
    fn new(
        id: &str,
        literal: Option<&str>,
        file: Option<&str>,
        file_key: &'static str,
    ) -> Result<Self, AuthError> {
        match file {
            Some(path) => Ok(Self::File(SecretFile::open(id, file_key, path)?)),
            // A missing username is an empty one, as in OpenTelemetry.
            None => Ok(Self::Literal(
                literal.unwrap_or_default().as_bytes().to_vec(),
            )),
        }
    }

    fn value(&self, id: &str) -> Vec<u8> {
        match self {
            Self::Literal(v) => v.clone(),
            Self::File(file) => file.current(id),
        }
    }

    fn origin(&self) -> String {
        match self {
            Self::Literal(_) => "from the config".into(),
            Self::File(file) => format!("from {} {}", file.key, file.path.display()),
        }
    }
}

/// A secret file and its last read value.
struct SecretFile {
    key: &'static str,
    path: PathBuf,
    state: Mutex<FileState>,
}

struct FileState {
    stamp: Option<Stamp>,
    value: Vec<u8>,
    /// Whether the last re-read failed (and was reported).
    failing: bool,
}

/// What tells a changed file apart: modification time and length.
type Stamp = (Option<SystemTime>, u64);

impl SecretFile {
    fn open(id: &str, key: &'static str, path: &str) -> Result<Self, AuthError> {
        let path = PathBuf::from(path);
        let (stamp, value) = read_secret(&path).map_err(|source| AuthError::Read {
            id: id.to_owned(),
            key,
            path: path.display().to_string(),
            source,
        })?;
        Ok(Self {
            key,
            path,
            state: Mutex::new(FileState {
                stamp: Some(stamp),
                value,
                failing: false,
            }),
        })
    }

    /// The file's value, re-read if the file changed since the last read.
    fn current(&self, id: &str) -> Vec<u8> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = std::fs::metadata(&self.path).map(|m| stamp_of(&m));
        if now.as_ref().ok() != state.stamp.as_ref() || state.failing {
            match read_secret(&self.path) {
                Ok((stamp, value)) => {
                    if state.failing {
                        tracing::info!(
                            extension = id,
                            "{} {} is readable again",
                            self.key,
                            self.path.display()
                        );
                    }
                    *state = FileState {
                        stamp: Some(stamp),
                        value,
                        failing: false,
                    };
                }
                Err(error) => {
                    if !state.failing {
                        tracing::warn!(
                            extension = id,
                            "cannot re-read {} {}: {error}; still using its previous value",
                            self.key,
                            self.path.display()
                        );
                    }
                    state.failing = true;
                }
            }
        }
        state.value.clone()
    }
}

fn stamp_of(meta: &std::fs::Metadata) -> Stamp {
    (meta.modified().ok(), meta.len())
}

/// The file's contents without the trailing newline an editor or `echo` leaves.
fn read_secret(path: &Path) -> std::io::Result<(Stamp, Vec<u8>)> {
    let meta = std::fs::metadata(path)?;
    let mut value = std::fs::read(path)?;
    while value.last().is_some_and(|b| matches!(b, b'\n' | b'\r')) {
        value.pop();
    }
    Ok((stamp_of(&meta), value))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::extensions::BasicClientAuth;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("auth-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn basic_ext(auth: BasicClientAuth) -> ExtensionConfig {
        ExtensionConfig::BasicAuth(BasicAuthConfig {
            client_auth: Some(auth),
            htpasswd: None,
        })
    }

    #[test]
    fn basic_header_is_rfc7617() {
        let ext = basic_ext(BasicClientAuth {
            username: Some("tenant-a".into()),
            password: Some("s3cr3t-pw".into()),
            ..BasicClientAuth::default()
        });
        let auth = Authenticator::from_extension("basicauth/client", &ext).unwrap();
        let header = auth.header().unwrap();
        assert_eq!(header.to_str().unwrap(), "Basic dGVuYW50LWE6czNjcjN0LXB3");
        assert!(header.is_sensitive());
    }

    #[test]
    fn bearer_header_uses_the_scheme() {
        let ext = ExtensionConfig::BearerTokenAuth(BearerTokenAuthConfig {
            token: Some("tok-123".into()),
            filename: None,
            scheme: "Bearer".into(),
        });
        let auth = Authenticator::from_extension("bearertokenauth", &ext).unwrap();
        assert_eq!(auth.header().unwrap().to_str().unwrap(), "Bearer tok-123");
    }

    #[test]
    fn files_win_and_are_reread_when_they_change() {
        let dir = temp_dir("reread");
        let password = dir.join("password");
        std::fs::write(&password, "first-pw\n").unwrap();
        let ext = basic_ext(BasicClientAuth {
            username: Some("u".into()),
            password: Some("literal-pw".into()),
            password_file: Some(password.display().to_string()),
            ..BasicClientAuth::default()
        });
        let auth = Authenticator::from_extension("basicauth/client", &ext).unwrap();
        let first = auth.header().unwrap();
        assert_eq!(
            first.to_str().unwrap(),
            format!("Basic {}", crate::gofmt::base64(b"u:first-pw"))
        );
        // A different length is a change even within the file system's mtime granularity.
        std::fs::write(&password, "second-password\n").unwrap();
        let second = auth.header().unwrap();
        assert_eq!(
            second.to_str().unwrap(),
            format!("Basic {}", crate::gofmt::base64(b"u:second-password"))
        );
        // A vanished file keeps the last value.
        std::fs::remove_file(&password).unwrap();
        assert_eq!(auth.header().unwrap(), second);
    }

    #[test]
    fn missing_file_at_start_is_an_error_naming_it() {
        let ext = basic_ext(BasicClientAuth {
            username: Some("u".into()),
            password_file: Some("/nonexistent/password".into()),
            ..BasicClientAuth::default()
        });
        let err = Authenticator::from_extension("basicauth/client", &ext).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "extension basicauth/client: cannot read password_file /nonexistent/password"
            ),
            "{err}"
        );
    }

    #[test]
    fn secrets_never_show_in_debug_errors_or_descriptions() {
        let ext = basic_ext(BasicClientAuth {
            username: Some("tenant-a".into()),
            password: Some("s3cr3t-pw\n".into()),
            ..BasicClientAuth::default()
        });
        let auth = Authenticator::from_extension("basicauth/client", &ext).unwrap();
        let shown = format!("{auth:?} {} {:?}", auth.describe(), auth.header());
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(
            !shown.contains(&crate::gofmt::base64(b"tenant-a:s3cr3t-pw\n")),
            "{shown}"
        );
        // A token with a newline cannot be a header: the error names the extension only.
        let ext = ExtensionConfig::BearerTokenAuth(BearerTokenAuthConfig {
            token: Some("s3cr3t\ntoken".into()),
            filename: None,
            scheme: "Bearer".into(),
        });
        let auth = Authenticator::from_extension("bearertokenauth", &ext).unwrap();
        let err = auth.header().unwrap_err().to_string();
        assert!(
            err.contains("bearertokenauth") && !err.contains("s3cr3t"),
            "{err}"
        );
    }

    #[test]
    fn other_extensions_are_not_authenticators() {
        let ext = ExtensionConfig::HealthCheck(Default::default());
        assert!(matches!(
            Authenticator::from_extension("health_check", &ext),
            Err(AuthError::NotAnAuthenticator { .. })
        ));
    }
}
