//! An instance's durable state on disk: the last whole state and the records appended after it.
//!
//! - `<name>.state` holds the whole state ([`algorithms::Effect::Persist`]), written to a temp
//!   file, fsynced and renamed over the old one, so a crash leaves the old state or the new one,
//!   whole.
//! - `<name>.wal` holds the records appended since ([`algorithms::Effect::PersistAppend`]): an
//!   8-byte magic, then records of `[length: u32 LE][CRC-32 of the payload: u32 LE][payload]`,
//!   each fsynced (`fdatasync`) before the instance's next effect. Its first record names the
//!   whole state it follows (that state's length and CRC-32, or none), so after a rewrite the
//!   old log is known as stale even if a crash came between the rename and its removal.
//!
//! Reading back ([`StateFiles::load`]): a last record cut short (its length runs past the end, or
//! it ends at the end with a bad checksum: the write a crash interrupted) is truncated and said
//! so; a record with a bad checksum followed by more bytes is corruption in the middle, and an
//! error naming the file and the byte, which stops the node: replaying around it would invent a
//! log that never was.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The first bytes of every append log.
pub const MAGIC: &[u8; 8] = b"clwal01\n";

/// A record longer than this is read as running past the end (a torn length field).
const MAX_RECORD: usize = 1 << 30;

/// CRC-32 (IEEE 802.3, as zlib computes it), by `crc32fast`.
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// One record as it is written: length, checksum, payload.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// The header record: which whole state the records follow.
fn header(base: Option<&[u8]>) -> Vec<u8> {
    match base {
        None => vec![0],
        Some(state) => {
            let mut h = vec![1];
            h.extend_from_slice(&(state.len() as u64).to_le_bytes());
            h.extend_from_slice(&crc32(state).to_le_bytes());
            h
        }
    }
}

/// What [`StateFiles::load`] found.
#[derive(Debug, Default, PartialEq)]
pub struct Loaded {
    pub whole: Option<Vec<u8>>,
    pub records: Vec<Vec<u8>>,
    /// What was mended on the way, for the node's log: a torn last record truncated, a stale or
    /// half-created append log removed.
    pub notes: Vec<String>,
}

/// The two files of one instance, and the append log while it is open.
pub struct StateFiles {
    state: PathBuf,
    wal: PathBuf,
    /// The header of the whole state on disk: what a new append log must name.
    base: Vec<u8>,
    open: Option<File>,
}

impl StateFiles {
    pub fn new(dir: &Path, name: &str) -> StateFiles {
        StateFiles {
            state: dir.join(format!("{name}.state")),
            wal: dir.join(format!("{name}.wal")),
            base: header(None),
            open: None,
        }
    }

    pub fn state_path(&self) -> &Path {
        &self.state
    }

    pub fn wal_path(&self) -> &Path {
        &self.wal
    }

    /// Reads the whole state and the records after it, mending a torn tail; errors name the file.
    pub fn load(&mut self) -> Result<Loaded, String> {
        let mut loaded = Loaded::default();
        match std::fs::read(&self.state) {
            Ok(bytes) => loaded.whole = Some(bytes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("cannot read {}: {e}", self.state.display())),
        }
        self.base = header(loaded.whole.as_deref());
        let bytes = match std::fs::read(&self.wal) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(loaded),
            Err(e) => return Err(format!("cannot read {}: {e}", self.wal.display())),
        };
        let wal = self.wal.display();
        let remove = |why: String, notes: &mut Vec<String>| -> Result<(), String> {
            std::fs::remove_file(&self.wal).map_err(|e| format!("cannot remove {wal}: {e}"))?;
            notes.push(why);
            Ok(())
        };
        if bytes.len() < MAGIC.len() {
            remove(
                format!("{wal}: removed a log cut short while it was created ({} bytes)", bytes.len()),
                &mut loaded.notes,
            )?;
            return Ok(loaded);
        }
        if &bytes[..MAGIC.len()] != MAGIC {
            return Err(format!("{wal} is not an append log (its first bytes are not {MAGIC:?})"));
        }
        let (records, end) = parse(&bytes).map_err(|(at, n)| {
            format!("{wal} is corrupt: record {n} at byte {at} fails its checksum and more records follow it")
        })?;
        let mut records = records.into_iter();
        match records.next() {
            None => {
                remove(format!("{wal}: removed a log cut short while it was created"), &mut loaded.notes)?;
                return Ok(loaded);
            }
            Some(h) if h != self.base => {
                let why = format!("{wal}: removed records that precede the whole state in {}", self.state.display());
                remove(why, &mut loaded.notes)?;
                return Ok(loaded);
            }
            Some(_) => {}
        }
        if end < bytes.len() {
            let file = OpenOptions::new().write(true).open(&self.wal).map_err(|e| format!("cannot open {wal}: {e}"))?;
            file.set_len(end as u64)
                .and_then(|()| file.sync_all())
                .map_err(|e| format!("cannot truncate {wal}: {e}"))?;
            loaded
                .notes
                .push(format!("{wal}: truncated a torn last record at byte {end} ({} bytes)", bytes.len() - end));
        }
        loaded.records = records.map(<[u8]>::to_vec).collect();
        Ok(loaded)
    }

    /// Replaces everything with `bytes`, whole: the state file is rewritten (temp file, fsync,
    /// rename, the directory fsynced), then the append log, now stale, removed.
    pub fn rewrite(&mut self, bytes: &[u8]) -> io::Result<()> {
        write_whole(&self.state, bytes)?;
        self.base = header(Some(bytes));
        self.open = None;
        match std::fs::remove_file(&self.wal) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Appends one record and fsyncs it; the first append after a rewrite (or a start) creates
    /// the log with its header, or opens the one on disk.
    pub fn append(&mut self, record: &[u8]) -> io::Result<()> {
        if self.open.is_none() {
            self.open = Some(self.open_log()?);
        }
        let file = self.open.as_mut().expect("opened above");
        file.write_all(&frame(record))?;
        file.sync_data()
    }

    fn open_log(&self) -> io::Result<File> {
        if self.wal.exists() {
            return OpenOptions::new().append(true).open(&self.wal);
        }
        let mut file = OpenOptions::new().create(true).write(true).truncate(true).open(&self.wal)?;
        let mut start = MAGIC.to_vec();
        start.extend_from_slice(&frame(&self.base));
        file.write_all(&start)?;
        file.sync_all()?;
        sync_dir(&self.wal)?; // the new file's name must survive a crash too
        Ok(file)
    }
}

/// The records after the magic, and the byte where the last whole one ends.
type Parsed<'a> = (Vec<&'a [u8]>, usize);

/// Where a record fails its checksum with more bytes after it: its byte, its number.
type Corrupt = (usize, usize);

/// The records after the magic, and where the last whole one ends; the place of a record that
/// fails its checksum with more bytes after it.
fn parse(bytes: &[u8]) -> Result<Parsed<'_>, Corrupt> {
    let mut records = Vec::new();
    let mut at = MAGIC.len();
    while at < bytes.len() {
        let Some(head) = bytes.get(at..at + 8) else { break }; // a torn length or checksum
        let len = u32::from_le_bytes(head[..4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(head[4..].try_into().expect("4 bytes"));
        let end = at + 8 + len;
        if len > MAX_RECORD || end > bytes.len() {
            break; // runs past the end: torn
        }
        let payload = &bytes[at + 8..end];
        if crc32(payload) != crc {
            if end == bytes.len() {
                break; // the last record, half written
            }
            return Err((at, records.len()));
        }
        records.push(payload);
        at = end;
    }
    Ok((records, at))
}

/// Writes `bytes` so that after a crash the file holds either the old or the new contents, whole.
pub fn write_whole(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("state.tmp");
    let mut file = File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    sync_dir(path) // the rename itself must survive a crash
}

fn sync_dir(path: &Path) -> io::Result<()> {
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Dir(PathBuf);

    impl Dir {
        fn new(tag: &str) -> Dir {
            let dir = std::env::temp_dir().join(format!("clusterlab-durable-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Dir(dir)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn crc32_is_zlibs() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn a_rewrite_replaces_the_state_whole_and_leaves_no_temp_file() {
        let dir = Dir::new("rewrite");
        let mut files = StateFiles::new(&dir.0, "bully");
        files.rewrite(b"first").unwrap();
        files.rewrite(b"second, longer").unwrap();
        assert_eq!(std::fs::read(files.state_path()).unwrap(), b"second, longer");
        let names: Vec<_> = std::fs::read_dir(&dir.0).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("bully.state")]);
        assert!(StateFiles::new(&dir.0.join("missing"), "x").rewrite(b"x").is_err(), "errors are reported");
    }

    #[test]
    fn records_come_back_after_the_whole_state_and_a_rewrite_drops_them() {
        let dir = Dir::new("records");
        let mut files = StateFiles::new(&dir.0, "raft");
        files.append(b"one").unwrap();
        files.append(b"two").unwrap();
        let loaded = StateFiles::new(&dir.0, "raft").load().unwrap();
        assert_eq!(loaded, Loaded { whole: None, records: vec![b"one".to_vec(), b"two".to_vec()], notes: vec![] });
        files.rewrite(b"whole").unwrap();
        files.append(b"three").unwrap();
        let mut again = StateFiles::new(&dir.0, "raft");
        let loaded = again.load().unwrap();
        assert_eq!((loaded.whole.as_deref(), loaded.records), (Some(&b"whole"[..]), vec![b"three".to_vec()]));
        again.append(b"four").unwrap(); // a restarted node goes on appending to the same log
        assert_eq!(StateFiles::new(&dir.0, "raft").load().unwrap().records, vec![b"three".to_vec(), b"four".to_vec()]);
    }

    #[test]
    fn a_torn_last_record_is_truncated_and_said() {
        let dir = Dir::new("torn");
        let mut files = StateFiles::new(&dir.0, "raft");
        files.append(b"kept").unwrap();
        files.append(b"torn record").unwrap();
        let whole = std::fs::read(files.wal_path()).unwrap();
        let good = whole.len() - frame(b"torn record").len();
        for cut in [good + 3, whole.len() - 4] {
            std::fs::write(files.wal_path(), &whole[..cut]).unwrap();
            let loaded = StateFiles::new(&dir.0, "raft").load().unwrap();
            assert_eq!(loaded.records, vec![b"kept".to_vec()], "cut at {cut}");
            assert!(loaded.notes[0].contains("truncated a torn last record"), "{:?}", loaded.notes);
            assert_eq!(std::fs::metadata(files.wal_path()).unwrap().len() as usize, good, "the tail is gone");
        }
        let mut zeroed = whole.clone(); // the length written, the payload not yet: zeros at the end
        let n = zeroed.len();
        zeroed[n - 5..].fill(0);
        std::fs::write(files.wal_path(), &zeroed).unwrap();
        assert_eq!(StateFiles::new(&dir.0, "raft").load().unwrap().records, vec![b"kept".to_vec()]);
    }

    #[test]
    fn a_bad_record_in_the_middle_is_an_error_naming_the_file_and_the_byte() {
        let dir = Dir::new("corrupt");
        let mut files = StateFiles::new(&dir.0, "raft");
        for r in [&b"one"[..], b"two", b"three"] {
            files.append(r).unwrap();
        }
        let mut bytes = std::fs::read(files.wal_path()).unwrap();
        let two_at = MAGIC.len() + frame(&header(None)).len() + frame(b"one").len();
        bytes[two_at + 8] ^= 0x20; // a flipped bit in "two"
        std::fs::write(files.wal_path(), &bytes).unwrap();
        let err = StateFiles::new(&dir.0, "raft").load().unwrap_err();
        assert!(err.contains(&files.wal_path().display().to_string()), "{err}");
        assert!(err.contains(&format!("record 2 at byte {two_at}")), "{err}");
        assert_eq!(std::fs::read(files.wal_path()).unwrap(), bytes, "left for a person to look at");
        std::fs::write(files.wal_path(), b"not a log at all").unwrap();
        assert!(StateFiles::new(&dir.0, "raft").load().unwrap_err().contains("is not an append log"));
    }

    #[test]
    fn records_from_before_a_rewrite_are_dropped_if_a_crash_left_them() {
        let dir = Dir::new("stale");
        let mut files = StateFiles::new(&dir.0, "raft");
        files.append(b"old").unwrap();
        let stale = std::fs::read(files.wal_path()).unwrap();
        files.rewrite(b"whole, with old in it").unwrap();
        std::fs::write(files.wal_path(), &stale).unwrap(); // as if the crash came before the removal
        let loaded = StateFiles::new(&dir.0, "raft").load().unwrap();
        assert_eq!((loaded.whole.as_deref(), loaded.records.len()), (Some(&b"whole, with old in it"[..]), 0));
        assert!(loaded.notes[0].contains("precede the whole state"), "{:?}", loaded.notes);
        assert!(!files.wal_path().exists());
    }
}
