//! Where the master key comes from: `CONFAB_MASTER_KEY` (plus
//! `CONFAB_PREVIOUS_MASTER_KEYS`), or, on the embedded defaults, a key file
//! in the data folder that Confab generates on first start (mode 0600).

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::config::Config;

use super::keyring::{Keyring, SecretKey};

pub const KEY_FILE: &str = "master.key";
/// Keys replaced by `confab admin rotate-master-key`, one per line, kept so a
/// server that has not reloaded yet can still open rows.
pub const PREVIOUS_KEY_FILE: &str = "master.key.previous";

/// Where the keyring was loaded from.
#[derive(Debug, Clone)]
pub enum KeySource {
    Environment,
    File(PathBuf),
}

/// The keys this instance is configured with: the environment's, or the
/// key files' if `master.key` exists; `None` when there are neither (a key
/// is generated only for an empty database: src/keys/cluster.rs).
pub fn configured(config: &Config) -> Result<Option<(Keyring, KeySource)>, String> {
    if let Some(key) = config.media.master_key {
        let previous = config.media.previous_master_keys.iter().map(|k| SecretKey::from_bytes(*k)).collect();
        return Ok(Some((Keyring::new(SecretKey::from_bytes(key), previous), KeySource::Environment)));
    }
    let path = key_path(config);
    if !path.exists() {
        return Ok(None);
    }
    Ok(Some((read_key_files(&config.data_dir)?, KeySource::File(path))))
}

/// Where the embedded defaults keep the master key.
pub fn key_path(config: &Config) -> PathBuf {
    config.data_dir.join(KEY_FILE)
}

/// Generates the key file (for a database that has no master key yet).
pub fn generate(config: &Config) -> Result<(Keyring, KeySource), String> {
    let dir = &config.data_dir;
    let path = key_path(config);
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    write_key_file(&path, &[SecretKey::random()])?;
    tracing::warn!(
        path = %path.display(),
        "generated a new master key for media encryption; back it up: media cannot be read without it"
    );
    Ok((read_key_files(dir)?, KeySource::File(path)))
}

/// What a key file looked like when read. A rotation replaces the file
/// (rename over it), which changes its modification time and inode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStamp {
    modified: Option<std::time::SystemTime>,
    len: u64,
    inode: u64,
}

/// The stamp of the file at `path` now (blocking: a `stat`).
pub fn stamp(path: &Path) -> std::io::Result<FileStamp> {
    let meta = std::fs::metadata(path)?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    Ok(FileStamp { modified: meta.modified().ok(), len: meta.len(), inode })
}

/// The folder of a key file.
pub fn key_dir(key_file: &Path) -> &Path {
    key_file.parent().unwrap_or(Path::new("."))
}

/// Reads `master.key` and `master.key.previous` from `dir`.
pub fn read_key_files(dir: &Path) -> Result<Keyring, String> {
    let current = read_keys(&dir.join(KEY_FILE))?
        .into_iter()
        .next()
        .ok_or_else(|| format!("{} holds no key", dir.join(KEY_FILE).display()))?;
    let previous_path = dir.join(PREVIOUS_KEY_FILE);
    let previous = if previous_path.exists() { read_keys(&previous_path)? } else { Vec::new() };
    Ok(Keyring::new(current, previous))
}

fn read_keys(path: &Path) -> Result<Vec<SecretKey>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let bytes =
                STANDARD.decode(line.trim()).map_err(|_| format!("{}: not base64", path.display()))?;
            let bytes: [u8; 32] =
                bytes.try_into().map_err(|_| format!("{}: a key must be 32 bytes", path.display()))?;
            Ok(SecretKey::from_bytes(bytes))
        })
        .collect()
}

/// Writes keys (base64, one per line) atomically with mode 0600.
pub fn write_key_file(path: &Path, keys: &[SecretKey]) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    for key in keys {
        writeln!(file, "{}", STANDARD.encode(key.expose()))
            .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    }
    file.sync_all().map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot replace {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, DatabaseUrl};

    #[test]
    fn generates_a_private_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::for_database(DatabaseUrl::Sqlite(dir.path().join("db")), dir.path());
        config.media.master_key = None;
        assert!(configured(&config).unwrap().is_none());
        let (first, source) = generate(&config).unwrap();
        assert!(matches!(source, KeySource::File(_)));
        let (again, _) = configured(&config).unwrap().unwrap();
        assert_eq!(first.current_id(), again.current_id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
