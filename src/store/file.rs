//! [`FileStore`]: an append-only log of checksummed records, compacted when mostly dead.
//!
//! The log is one file, `<dir>/<client id>.pahoish` (characters other than ASCII letters, digits,
//! `.`, `_` and `-` written as `%XX`). Each record is
//!
//! ```text
//! len: u32 LE | crc32: u32 LE (of type and payload) | type: u8 | payload: len bytes
//! ```
//!
//! with types PUT (payload: key length u8, key, value), REMOVE (payload: key) and CLEAR (nothing).
//! Opening replays the log into an index of the live keys (key to the value's place in the file) and
//! cuts the file at the first record that is short, too long or fails its checksum: the torn tail a
//! crash in the middle of an append leaves. Values are read back from the file (`pread`), so the
//! store holds only the index in memory.
//!
//! When the dead records (replaced, removed) outweigh the live ones, and the file is past a small
//! floor, the live records are written to `<name>.tmp`, which is fsynced and renamed over the log,
//! and then the directory is fsynced: at every instant the log on disk is the old one or the whole
//! new one. Paho C's file store (one file per key, no fsync, no rename) is what this avoids: empty
//! files after a power loss that crash the restore, keys overwritten across restarts, slow starts
//! with thousands of files.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::Store;
use crate::error::{Error, Result};

/// When a [`FileStore`] makes its writes durable (`fsync`), and so what it survives.
///
/// Every record is written to the file (`write(2)`) before the packet it describes goes to the
/// network, whatever the policy: the page cache holds it, so a crash of the process (a panic, `kill
/// -9`, the OOM killer) loses nothing under any policy. The policies differ on a crash of the
/// machine (power loss, kernel panic), which loses what the disk did not get.
///
/// ```
/// use std::time::Duration;
/// use pahoish::{FileStore, SyncPolicy};
/// let dir = std::env::temp_dir().join("pahoish-doc-sync-policy");
/// let store = FileStore::new(&dir, SyncPolicy::Interval(Duration::from_millis(100)));
/// # let _ = std::fs::remove_dir_all(&dir);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPolicy {
    /// `fdatasync` before the packets of what was stored are written to the network (one flush per
    /// batch the loop writes, not per message, when messages come faster than a flush), and when
    /// `publish()` queues a message while the client is offline. Survives power loss: a message the
    /// client sent is on the disk, and so is every acknowledgement state it acted on (no loss at
    /// QoS 1, no loss and no duplicate at QoS 2).
    Always,
    /// Group commit: `fdatasync` at most once per interval, at a turn of the client's loop (the
    /// first write after a quiet spell is flushed at once; the changes of a burst's last interval
    /// wait for the next turn, which an idle client takes at its next packet, a PINGREQ at the
    /// latest). Survives a crash of the process; a power loss loses the changes not yet flushed:
    /// messages published then (QoS 1/2 may be lost) and acknowledgement states (a message may be
    /// sent twice, at QoS 2 too).
    Interval(Duration),
    /// Never `fsync` (the kernel writes back when it likes, typically within 30 s). Survives a crash
    /// of the process only.
    Never,
}

/// The record types.
const PUT: u8 = 1;
const REMOVE: u8 = 2;
const CLEAR: u8 = 3;
/// Bytes before a record's payload: length, checksum, type.
const HEADER: usize = 9;
/// The longest payload a record may claim: an MQTT packet's limit with room for the key.
const MAX_PAYLOAD: u32 = 268_435_455 + 1024;
/// Below this many dead bytes the log is never compacted.
const COMPACT_FLOOR: u64 = 64 * 1024;

/// A [`Store`] in one append-only file of checksummed records, made durable as the
/// [`SyncPolicy`] says (see the module notes in the source for the format).
///
/// A process holds the file with an exclusive `flock` while the store is open: a second client on
/// the same file, in this process or another, fails to open it.
///
/// ```
/// use pahoish::{Client, FileStore, Store, SyncPolicy};
/// let dir = std::env::temp_dir().join(format!("pahoish-doc-filestore-{}", std::process::id()));
/// let client = Client::builder()
///     .client_id("sensor-7")
///     .clean_session(false)
///     .persistence(FileStore::new(&dir, SyncPolicy::Always))
///     .build()?;
/// drop(client);
/// // The same store, opened again: what the client left (nothing here).
/// let mut store = FileStore::new(&dir, SyncPolicy::Always);
/// store.open("sensor-7", "")?;
/// assert!(store.keys()?.iter().all(|k| k == "meta"));
/// # drop(store);
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), pahoish::Error>(())
/// ```
#[derive(Debug)]
pub struct FileStore {
    dir: PathBuf,
    policy: SyncPolicy,
    path: PathBuf,
    file: Option<File>,
    /// Live keys: where each value starts in the file, its length, and its whole record's length.
    index: HashMap<String, Entry>,
    /// The file's length.
    len: u64,
    /// The bytes of the live records.
    live: u64,
    /// How much of the file an `fdatasync` (or the compaction's `fsync`) has covered.
    synced: u64,
    last_sync: Option<Instant>,
    /// A record being assembled (kept for reuse).
    buf: Vec<u8>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    value_at: u64,
    value_len: u32,
    record_len: u32,
}

impl FileStore {
    /// A store whose log lives in `dir` (created when the store is opened), made durable as `policy`
    /// says. Nothing is touched until [`open`](Store::open).
    ///
    /// ```
    /// use pahoish::{FileStore, SyncPolicy};
    /// let store = FileStore::new("/var/lib/my-daemon/mqtt", SyncPolicy::Always);
    /// ```
    pub fn new(dir: impl AsRef<Path>, policy: SyncPolicy) -> FileStore {
        FileStore {
            dir: dir.as_ref().to_path_buf(),
            policy,
            path: PathBuf::new(),
            file: None,
            index: HashMap::new(),
            len: 0,
            live: 0,
            synced: 0,
            last_sync: None,
            buf: Vec::new(),
        }
    }

    /// The log's path (known once the store is open; empty before).
    ///
    /// ```
    /// use pahoish::{FileStore, Store, SyncPolicy};
    /// let dir = std::env::temp_dir().join(format!("pahoish-doc-path-{}", std::process::id()));
    /// let mut store = FileStore::new(&dir, SyncPolicy::Never);
    /// store.open("a/b", "")?;
    /// assert!(store.path().ends_with("a%2Fb.pahoish"));
    /// # drop(store);
    /// # std::fs::remove_dir_all(&dir).ok();
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many bytes of the log are known to be on the disk (covered by an `fdatasync`): what a
    /// power loss would leave at most. For tests that model one.
    ///
    /// ```
    /// use pahoish::{FileStore, Store, SyncPolicy};
    /// let dir = std::env::temp_dir().join(format!("pahoish-doc-synced-{}", std::process::id()));
    /// let mut store = FileStore::new(&dir, SyncPolicy::Always);
    /// store.open("c", "")?;
    /// store.put("k", &[b"v"])?;
    /// assert_eq!(store.synced_len(), 0);
    /// store.sync()?;
    /// assert!(store.synced_len() > 0);
    /// # drop(store);
    /// # std::fs::remove_dir_all(&dir).ok();
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn synced_len(&self) -> u64 {
        self.synced
    }

    /// Makes everything written so far durable now (`fdatasync`), whatever the policy.
    ///
    /// ```
    /// use pahoish::{FileStore, Store, SyncPolicy};
    /// let dir = std::env::temp_dir().join(format!("pahoish-doc-flush-{}", std::process::id()));
    /// let mut store = FileStore::new(&dir, SyncPolicy::Never);
    /// store.open("c", "")?;
    /// store.put("k", &[b"v"])?;
    /// store.flush()?;
    /// assert_eq!(store.synced_len(), std::fs::metadata(store.path())?.len());
    /// # drop(store);
    /// # std::fs::remove_dir_all(&dir).ok();
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn flush(&mut self) -> Result<()> {
        if self.synced < self.len {
            self.file()?.sync_data()?;
            self.synced = self.len;
        }
        self.last_sync = Some(Instant::now());
        Ok(())
    }

    fn file(&self) -> Result<&File> {
        self.file
            .as_ref()
            .ok_or_else(|| Error::Io(io::Error::other("the store is not open")))
    }

    /// Appends the record in `buf`.
    fn append(&mut self) -> Result<()> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| Error::Io(io::Error::other("the store is not open")))?;
        if let Err(e) = file.write_all(&self.buf) {
            // A short write leaves a torn record: cut it off so that later records stay readable.
            let _ = file.set_len(self.len);
            return Err(Error::Io(e));
        }
        self.len += self.buf.len() as u64;
        Ok(())
    }

    /// Starts a record of `kind` with a payload of `payload_len` bytes in `buf`; the caller appends
    /// the payload, then [`seal`] fills in the checksum.
    fn begin(&mut self, kind: u8, payload_len: usize) -> Result<()> {
        let len = u32::try_from(payload_len)
            .ok()
            .filter(|&l| l <= MAX_PAYLOAD)
            .ok_or_else(|| Error::invalid("value", "too large for the store"))?;
        self.buf.clear();
        self.buf.extend_from_slice(&len.to_le_bytes());
        self.buf.extend_from_slice(&[0; 4]);
        self.buf.push(kind);
        Ok(())
    }

    fn seal(&mut self) {
        let crc = crc32(&self.buf[8..]);
        self.buf[4..8].copy_from_slice(&crc.to_le_bytes());
    }

    fn maybe_compact(&mut self) -> Result<()> {
        let dead = self.len - self.live;
        if dead > self.live && dead > COMPACT_FLOOR {
            self.compact()?;
        }
        Ok(())
    }

    /// Writes the live records to a new file, fsyncs it, renames it over the log and fsyncs the
    /// directory.
    fn compact(&mut self) -> Result<()> {
        let tmp = self.path.with_extension("pahoish.tmp");
        let mut entries: Vec<(String, Entry)> =
            self.index.iter().map(|(k, e)| (k.clone(), *e)).collect();
        entries.sort_by_key(|(_, e)| e.value_at);
        let mut out = io::BufWriter::new(File::create(&tmp)?);
        let mut index = HashMap::with_capacity(entries.len());
        let mut at = 0u64;
        let mut value = Vec::new();
        for (key, e) in entries {
            value.resize(e.value_len as usize, 0);
            self.file()?.read_exact_at(&mut value, e.value_at)?;
            put_record(&mut self.buf, &key, &[&value])?;
            out.write_all(&self.buf)?;
            let record_len = self.buf.len() as u32;
            index.insert(
                key.clone(),
                Entry {
                    value_at: at + (HEADER + 1 + key.len()) as u64,
                    value_len: e.value_len,
                    record_len,
                },
            );
            at += u64::from(record_len);
        }
        let file = out.into_inner().map_err(|e| Error::Io(e.into_error()))?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, &self.path)?;
        sync_dir(&self.dir)?;
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&self.path)?;
        lock(&file)?;
        self.file = Some(file);
        self.index = index;
        self.len = at;
        self.live = at;
        self.synced = at;
        Ok(())
    }
}

/// A PUT record for `key` and the concatenation of `parts`, sealed, in `buf`.
fn put_record(buf: &mut Vec<u8>, key: &str, parts: &[&[u8]]) -> Result<()> {
    let key_len =
        u8::try_from(key.len()).map_err(|_| Error::invalid("key", "longer than 255 bytes"))?;
    let value_len: usize = parts.iter().map(|p| p.len()).sum();
    let len = u32::try_from(1 + key.len() + value_len)
        .ok()
        .filter(|&l| l <= MAX_PAYLOAD)
        .ok_or_else(|| Error::invalid("value", "too large for the store"))?;
    buf.clear();
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(&[0; 4]);
    buf.push(PUT);
    buf.push(key_len);
    buf.extend_from_slice(key.as_bytes());
    for p in parts {
        buf.extend_from_slice(p);
    }
    let crc = crc32(&buf[8..]);
    buf[4..8].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

impl Store for FileStore {
    fn open(&mut self, client_id: &str, server: &str) -> Result<()> {
        fs::create_dir_all(&self.dir)?;
        let mut name = file_name(client_id);
        if !server.is_empty() {
            name.push('-');
            name.push_str(&file_name(server));
        }
        name.push_str(".pahoish");
        self.path = self.dir.join(name);
        // A compaction that died before its rename left this behind; the log itself is whole.
        let _ = fs::remove_file(self.path.with_extension("pahoish.tmp"));
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&self.path)?;
        lock(&file)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let (index, good) = replay(&bytes);
        if good < bytes.len() {
            // The torn tail of an append a crash cut short: cut it off, durably, before anything is
            // appended after it.
            file.set_len(good as u64)?;
            file.sync_all()?;
        }
        self.live = index.values().map(|e| u64::from(e.record_len)).sum();
        self.index = index;
        self.len = good as u64;
        self.synced = self.len;
        self.file = Some(file);
        if self.len == 0 {
            // A new log: its directory entry must survive a power loss too.
            sync_dir(&self.dir)?;
        }
        self.maybe_compact()
    }

    fn put(&mut self, key: &str, parts: &[&[u8]]) -> Result<()> {
        let mut buf = std::mem::take(&mut self.buf);
        let made = put_record(&mut buf, key, parts);
        self.buf = buf;
        made?;
        let at = self.len;
        self.append()?;
        let record_len = self.buf.len() as u32;
        let entry = Entry {
            value_at: at + (HEADER + 1 + key.len()) as u64,
            value_len: record_len - (HEADER + 1 + key.len()) as u32,
            record_len,
        };
        if let Some(old) = self.index.insert(key.to_owned(), entry) {
            self.live -= u64::from(old.record_len);
        }
        self.live += u64::from(record_len);
        self.maybe_compact()
    }

    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>> {
        let Some(e) = self.index.get(key).copied() else {
            return Ok(None);
        };
        let mut value = vec![0; e.value_len as usize];
        self.file()?.read_exact_at(&mut value, e.value_at)?;
        Ok(Some(value))
    }

    fn remove(&mut self, key: &str) -> Result<()> {
        let Some(old) = self.index.get(key).copied() else {
            return Ok(());
        };
        self.begin(REMOVE, key.len())?;
        self.buf.extend_from_slice(key.as_bytes());
        self.seal();
        self.append()?;
        self.index.remove(key);
        self.live -= u64::from(old.record_len);
        self.maybe_compact()
    }

    fn keys(&mut self) -> Result<Vec<String>> {
        let mut keys: Vec<(u64, String)> = self
            .index
            .iter()
            .map(|(k, e)| (e.value_at, k.clone()))
            .collect();
        keys.sort();
        Ok(keys.into_iter().map(|(_, k)| k).collect())
    }

    fn clear(&mut self) -> Result<()> {
        self.begin(CLEAR, 0)?;
        self.seal();
        self.append()?;
        self.index.clear();
        self.live = 0;
        self.maybe_compact()
    }

    fn contains_key(&mut self, key: &str) -> Result<bool> {
        Ok(self.index.contains_key(key))
    }

    fn sync(&mut self) -> Result<()> {
        if self.synced >= self.len {
            return Ok(());
        }
        match self.policy {
            SyncPolicy::Always => self.flush(),
            SyncPolicy::Interval(every) => match self.last_sync {
                Some(t) if t.elapsed() < every => Ok(()),
                _ => self.flush(),
            },
            SyncPolicy::Never => Ok(()),
        }
    }

    fn close(&mut self) -> Result<()> {
        if self.policy != SyncPolicy::Never && self.file.is_some() {
            self.flush()?;
        }
        self.file = None;
        Ok(())
    }
}

impl Drop for FileStore {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// Replays a log: the live keys, and how many bytes of it are whole records (the rest is a torn
/// tail).
fn replay(bytes: &[u8]) -> (HashMap<String, Entry>, usize) {
    let mut index = HashMap::new();
    let mut at = 0usize;
    while bytes.len() - at >= HEADER {
        let head = &bytes[at..at + HEADER];
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        let kind = head[8];
        if len > MAX_PAYLOAD || bytes.len() - at - HEADER < len as usize {
            break;
        }
        let end = at + HEADER + len as usize;
        if crc32(&bytes[at + 8..end]) != crc {
            break;
        }
        let payload = &bytes[at + HEADER..end];
        match kind {
            PUT => {
                let Some((&key_len, rest)) = payload.split_first() else {
                    break;
                };
                let Some(key) = rest
                    .get(..usize::from(key_len))
                    .and_then(|k| std::str::from_utf8(k).ok())
                else {
                    break;
                };
                let value_len = rest.len() - usize::from(key_len);
                index.insert(
                    key.to_owned(),
                    Entry {
                        value_at: (at + HEADER + 1 + usize::from(key_len)) as u64,
                        value_len: value_len as u32,
                        record_len: (HEADER + len as usize) as u32,
                    },
                );
            }
            REMOVE => match std::str::from_utf8(payload) {
                Ok(key) => {
                    index.remove(key);
                }
                Err(_) => break,
            },
            CLEAR => index.clear(),
            _ => break,
        }
        at = end;
    }
    (index, at)
}

/// A client id (or server) as a file name: ASCII letters, digits, `.`, `_` and `-` as they are
/// (a leading `.` escaped), anything else as `%XX`; `_` for an empty one.
fn file_name(s: &str) -> String {
    if s.is_empty() {
        return "_".to_owned();
    }
    let mut out = String::with_capacity(s.len());
    for (i, b) in s.bytes().enumerate() {
        let plain = b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || (b == b'.' && i > 0);
        if plain {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Takes an exclusive lock on the log, or fails if another store holds it. Tries for a while: a
/// process forked by this one holds a copy of the lock until it execs or exits.
#[allow(unsafe_code)]
fn lock(file: &File) -> Result<()> {
    for _ in 0..LOCK_TRIES {
        // SAFETY: flock on a file descriptor we own; no memory is involved.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::WouldBlock {
            return Err(Error::Io(e));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err(Error::Io(io::Error::new(
        io::ErrorKind::WouldBlock,
        "the store is in use by another client",
    )))
}

/// How many times (10 ms apart) `lock` tries.
const LOCK_TRIES: usize = 20;

/// Makes a rename or a new file in `dir` durable.
fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// The CRC-32 of IEEE 802.3 (reflected, polynomial 0xEDB88320), as zlib and PNG compute it.
pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc = CRC_TABLE[usize::from((crc as u8) ^ b)] ^ (crc >> 8);
    }
    !crc
}

const CRC_TABLE: [u32; 256] = crc_table();

const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("pahoish-file-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn records_survive_reopening_and_removes_and_clears_replay() {
        let d = dir("reopen");
        let mut s = FileStore::new(&d, SyncPolicy::Never);
        s.open("id", "").unwrap();
        s.put("a", &[b"1", b"23"]).unwrap();
        s.put("b", &[b"x"]).unwrap();
        s.put("a", &[b"4"]).unwrap();
        s.remove("b").unwrap();
        s.put("c", &[b""]).unwrap();
        drop(s);
        let mut s = FileStore::new(&d, SyncPolicy::Never);
        s.open("id", "").unwrap();
        assert_eq!(s.keys().unwrap(), vec!["a", "c"]);
        assert_eq!(s.get("a").unwrap().as_deref(), Some(&b"4"[..]));
        assert_eq!(s.get("c").unwrap().as_deref(), Some(&b""[..]));
        assert_eq!(s.get("b").unwrap(), None);
        s.clear().unwrap();
        s.put("d", &[b"5"]).unwrap();
        drop(s);
        let mut s = FileStore::new(&d, SyncPolicy::Never);
        s.open("id", "").unwrap();
        assert_eq!(s.keys().unwrap(), vec!["d"]);
        // A second store on the same log is refused while the first holds it.
        let mut other = FileStore::new(&d, SyncPolicy::Never);
        assert!(other.open("id", "").is_err());
        drop(s);
        fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn the_log_is_compacted_when_dead_bytes_outweigh_live_ones() {
        let d = dir("compact");
        let mut s = FileStore::new(&d, SyncPolicy::Never);
        s.open("id", "").unwrap();
        let value = vec![7u8; 1000];
        for i in 0..500u32 {
            s.put(&format!("k{}", i % 10), &[&value, &i.to_le_bytes()])
                .unwrap();
        }
        let len = fs::metadata(s.path()).unwrap().len();
        assert!(len <= 2 * COMPACT_FLOOR + 20_000, "{len}");
        drop(s);
        let mut s = FileStore::new(&d, SyncPolicy::Never);
        s.open("id", "").unwrap();
        assert_eq!(s.keys().unwrap().len(), 10);
        let v = s.get("k9").unwrap().unwrap();
        assert_eq!(&v[1000..], &499u32.to_le_bytes());
        drop(s);
        fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn file_names_escape_what_a_path_could_misread() {
        assert_eq!(file_name(""), "_");
        assert_eq!(file_name("a/b"), "a%2Fb");
        assert_eq!(file_name(".."), "%2E.");
        assert_eq!(file_name("sensor-7_x.y"), "sensor-7_x.y");
    }
}
