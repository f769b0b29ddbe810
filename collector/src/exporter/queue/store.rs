//! The persistent queue: one file per request in `<file_storage.directory>/<key>.queue/`.
//!
//! A file is `KECQ1\n`, a one-line JSON header (tenant, records, body length, SHA-256 of the
//! body), then the body exactly as it is sent. Only the body and the tenant are kept: headers
//! and credentials come from the config at send time, so no secret is ever written here.
//!
//! Crash safety: written to `<seq>.req.tmp`, fsynced, renamed to `<seq>.req`, and the directory
//! fsynced, all before the batch is acknowledged to the pipeline. A leftover `.tmp` was never
//! acknowledged (its records will be read again), so it is deleted. A file that does not parse
//! or whose checksum does not match is reported once, by name, and renamed to `.corrupt`.

use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Request;
use super::lanes::LaneKey;
use crate::config::extensions::FileStorageConfig;

const MAGIC: &[u8] = b"KECQ1\n";

/// The directory of one exporter's persistent queue.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

/// Why the persistent queue cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "file_storage directory {dir} does not exist (create it, mount a volume there, or set create_directory: true)"
    )]
    MissingDirectory { dir: String },
    #[error("cannot use the sending queue directory {dir}: {source}")]
    Io { dir: String, source: std::io::Error },
}

/// A request found on disk at start.
#[derive(Debug)]
pub struct Restored {
    pub seq: u64,
    pub lane: LaneKey,
    pub records: usize,
    pub path: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct Header {
    tenant: Option<String>,
    records: usize,
    len: usize,
    sha256: String,
}

impl Store {
    /// The queue directory for `key` (pipeline and exporter ids) under `storage`'s directory.
    pub fn open(storage: &FileStorageConfig, key: &str) -> Result<Store, StoreError> {
        let base = Path::new(&storage.directory);
        if !base.is_dir() && !storage.create_directory {
            return Err(StoreError::MissingDirectory {
                dir: storage.directory.clone(),
            });
        }
        let name: String = key
            .chars()
            .map(|c| match c {
                'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' => c,
                _ => '_',
            })
            .collect();
        let dir = base.join(format!("{name}.queue"));
        std::fs::create_dir_all(&dir).map_err(|source| StoreError::Io {
            dir: dir.display().to_string(),
            source,
        })?;
        Ok(Store { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The requests left by the last run, oldest first. Damaged files are reported and set
    /// aside; leftovers of interrupted writes are deleted.
    pub fn restore(&self) -> Vec<Restored> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) => {
                tracing::error!(dir = %self.dir.display(), "cannot read the sending queue directory, starting with an empty queue: {e}");
                return Vec::new();
            }
        };
        let mut found = Vec::new();
        for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if name.ends_with(".req.tmp") {
                // Never acknowledged: the receiver reads these records again.
                let _ = std::fs::remove_file(&path);
                continue;
            }
            let Some(seq) = name
                .strip_suffix(".req")
                .and_then(|s| s.parse::<u64>().ok())
            else {
                continue;
            };
            match read(&path) {
                Ok(request) => found.push(Restored {
                    seq,
                    lane: request.tenant,
                    records: request.records,
                    path,
                }),
                Err(why) => set_aside(&path, &why),
            }
        }
        found.sort_by_key(|r| r.seq);
        found
    }

    /// Writes request `seq` durably; returns its path.
    pub fn write(&self, seq: u64, request: &Request) -> std::io::Result<PathBuf> {
        let path = self.dir.join(format!("{seq:020}.req"));
        let tmp = self.dir.join(format!("{seq:020}.req.tmp"));
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&encode(request)?)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        // The rename itself must survive a power loss before the batch is acknowledged.
        std::fs::File::open(&self.dir)?.sync_all()?;
        Ok(path)
    }
}

/// Reads the request in `path`; the error says what is wrong with the file.
pub fn read(path: &Path) -> Result<Request, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    decode(&bytes)
}

/// Deletes a sent request's file. A file that stays would be sent again after a restart.
pub fn remove(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        tracing::warn!(path = %path.display(), "cannot delete a delivered request from the sending queue; it will be sent again after a restart: {e}");
    }
}

/// Reports a damaged file by name and renames it so it is neither read again nor lost.
pub fn set_aside(path: &Path, why: &str) {
    let aside = path.with_extension("corrupt");
    let _ = std::fs::rename(path, &aside);
    tracing::error!(path = %path.display(), "sending queue file is damaged and is skipped (kept as {}): {why}", aside.display());
}

fn encode(request: &Request) -> std::io::Result<Vec<u8>> {
    let header = Header {
        tenant: request.tenant.clone(),
        records: request.records,
        len: request.body.len(),
        sha256: hex_sha256(&request.body),
    };
    let mut out = MAGIC.to_vec();
    serde_json::to_writer(&mut out, &header).map_err(std::io::Error::other)?;
    out.push(b'\n');
    out.extend_from_slice(&request.body);
    Ok(out)
}

fn decode(bytes: &[u8]) -> Result<Request, String> {
    let rest = bytes
        .strip_prefix(MAGIC)
        .ok_or("not a sending queue file (bad magic)")?;
    let end = rest
        .iter()
        .position(|&b| b == b'\n')
        .ok_or("the header is cut off")?;
    let (header, body) = (&rest[..end], &rest[end + 1..]);
    let header: Header = serde_json::from_slice(header).map_err(|e| format!("bad header: {e}"))?;
    if body.len() != header.len {
        return Err(format!(
            "the body has {} bytes, the header says {} (torn write?)",
            body.len(),
            header.len
        ));
    }
    if hex_sha256(body) != header.sha256 {
        return Err("the body does not match its checksum".into());
    }
    Ok(Request {
        tenant: header.tenant,
        records: header.records,
        body: Bytes::copy_from_slice(body),
    })
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    pub(crate) fn temp_storage(name: &str) -> FileStorageConfig {
        let dir = std::env::temp_dir().join(format!("kec-queue-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        FileStorageConfig {
            directory: dir.display().to_string(),
            create_directory: true,
            ..FileStorageConfig::default()
        }
    }

    fn request(tenant: Option<&str>, body: &'static [u8]) -> Request {
        Request {
            tenant: tenant.map(str::to_owned),
            records: 2,
            body: Bytes::from_static(body),
        }
    }

    #[test]
    fn written_requests_are_restored_in_order_and_read_back() {
        let storage = temp_storage("roundtrip");
        let store = Store::open(&storage, "logs/loki").unwrap();
        assert!(store.dir().ends_with("logs_loki.queue"));
        store.write(10, &request(Some("b"), b"\x00ten\n")).unwrap();
        store.write(9, &request(None, b"nine")).unwrap();
        let restored = Store::open(&storage, "logs/loki").unwrap().restore();
        let seqs: Vec<u64> = restored.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, [9, 10]);
        assert_eq!(restored[1].lane.as_deref(), Some("b"));
        let back = read(&restored[1].path).unwrap();
        assert_eq!(back, request(Some("b"), b"\x00ten\n"));
        remove(&restored[0].path);
        assert_eq!(store.restore().len(), 1);
        let _ = std::fs::remove_dir_all(&storage.directory);
    }

    #[test]
    fn damaged_files_are_set_aside_and_tmp_leftovers_deleted() {
        let storage = temp_storage("damaged");
        let store = Store::open(&storage, "q").unwrap();
        let good = store.write(1, &request(None, b"good")).unwrap();
        let full = std::fs::read(&good).unwrap();
        // Torn: cut in the body. Flipped: same length, other bytes. Garbage: no magic.
        std::fs::write(store.dir().join("2.req"), &full[..full.len() - 2]).unwrap();
        let mut flipped = full.clone();
        *flipped.last_mut().unwrap() ^= 1;
        std::fs::write(store.dir().join("3.req"), flipped).unwrap();
        std::fs::write(store.dir().join("4.req"), b"{not a queue file").unwrap();
        std::fs::write(store.dir().join("5.req.tmp"), b"half").unwrap();
        let restored = store.restore();
        assert_eq!(restored.len(), 1);
        assert_eq!(restored[0].seq, 1);
        for n in [2, 3, 4] {
            assert!(store.dir().join(format!("{n}.corrupt")).exists(), "{n}");
        }
        assert!(!store.dir().join("5.req.tmp").exists());
        assert!(
            decode(&full[..full.len() - 2])
                .unwrap_err()
                .contains("torn")
        );
        assert!(decode(b"").unwrap_err().contains("magic"));
        let _ = std::fs::remove_dir_all(&storage.directory);
    }

    #[test]
    fn a_missing_directory_is_an_error_unless_it_may_be_created() {
        let mut storage = temp_storage("missing");
        storage.create_directory = false;
        let err = Store::open(&storage, "q").unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }
}
