//! The receiver position Loki has acknowledged, kept in a `file_storage` directory so that a
//! restart resumes exactly there: nothing lost, nothing shipped twice.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::extensions::FileStorageConfig;
use crate::receiver::k8s_events::Position;

/// One checkpoint file: `<directory>/<key>.checkpoint.json`.
#[derive(Debug, Clone)]
pub struct CheckpointStore {
    path: PathBuf,
}

/// Why the checkpoint cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error(
        "file_storage directory {dir} does not exist (create it, mount a volume there, or set create_directory: true)"
    )]
    MissingDirectory { dir: String },
    #[error("cannot use checkpoint {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl CheckpointStore {
    /// The store for `key` (the pipeline and receiver ids) in `storage`'s directory.
    pub fn open(storage: &FileStorageConfig, key: &str) -> Result<Self, CheckpointError> {
        let dir = Path::new(&storage.directory);
        if !dir.is_dir() {
            if !storage.create_directory {
                return Err(CheckpointError::MissingDirectory {
                    dir: storage.directory.clone(),
                });
            }
            std::fs::create_dir_all(dir).map_err(|source| CheckpointError::Io {
                path: storage.directory.clone(),
                source,
            })?;
        }
        let file: String = key
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        Ok(CheckpointStore {
            path: dir.join(format!("{file}.checkpoint.json")),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved position; `None` when there is none yet. A damaged file is reported and
    /// ignored (the receiver then starts as `start_from` says), never a crash loop.
    pub fn load(&self) -> Option<Position> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(path = %self.path.display(), "cannot read the checkpoint, starting without it: {e}");
                return None;
            }
        };
        match serde_json::from_str(&text) {
            Ok(position) => Some(position),
            Err(e) => {
                tracing::warn!(path = %self.path.display(), "the checkpoint is damaged, starting without it: {e}");
                None
            }
        }
    }

    /// Saves `position` atomically: a crash leaves the old or the new checkpoint, never half.
    pub fn save(&self, position: &Position) -> Result<(), CheckpointError> {
        let io = |source| CheckpointError::Io {
            path: self.path.display().to_string(),
            source,
        };
        let json = serde_json::to_vec(position).map_err(|e| io(std::io::Error::other(e)))?;
        let tmp = self.path.with_extension("json.tmp");
        let mut file = std::fs::File::create(&tmp).map_err(io)?;
        file.write_all(&json).map_err(io)?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(io)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn storage(dir: &Path, create: bool) -> FileStorageConfig {
        FileStorageConfig {
            directory: dir.display().to_string(),
            create_directory: create,
            ..FileStorageConfig::default()
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("kec-checkpoint-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn saves_and_loads_a_position() {
        let dir = temp_dir("roundtrip");
        let store = CheckpointStore::open(&storage(&dir, true), "logs/k8s_events").unwrap();
        assert_eq!(store.load(), None);
        let mut position = Position::at("4711");
        position.namespaces.insert("shop".into(), "4700".into());
        store.save(&position).unwrap();
        assert_eq!(store.load(), Some(position));
        assert!(store.path().ends_with("logs_k8s_events.checkpoint.json"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_missing_directory_is_an_error_unless_it_may_be_created() {
        let dir = temp_dir("missing");
        let err = CheckpointStore::open(&storage(&dir, false), "x").unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }

    #[test]
    fn a_damaged_checkpoint_is_ignored() {
        let dir = temp_dir("damaged");
        let store = CheckpointStore::open(&storage(&dir, true), "x").unwrap();
        std::fs::write(store.path(), "{not json").unwrap();
        assert_eq!(store.load(), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
