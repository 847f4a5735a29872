//! The trace file, written through a shared memory mapping.
//!
//! Why a mapping: the trace promises that a SIGKILL loses at most the record being written. One
//! write(2) per record kept that promise at the price of a system call per record, which cost
//! the traced node most of its throughput. Stores into a `MAP_SHARED` mapping keep the promise
//! without system calls: the mapped pages are the kernel's page cache of the file, not the
//! process's memory, so what was copied into them reaches the file however the process ends
//! (exit, panic, SIGKILL). A power failure is another matter; traces never promised to survive
//! one.
//!
//! The file is prepared ahead of its records: its blocks allocated (`posix_fallocate`: a store
//! into a hole of a sparse file would raise SIGBUS when the disk is full, an allocation that fails
//! is an error the tracer reports) and its pages faulted in writable (`MADV_POPULATE_WRITE`),
//! a chunk at a time, by a thread of its own at `SCHED_IDLE` priority: the kernel's work of
//! zeroing and mapping fresh page-cache pages (most of what a traced record cost the node's
//! thread, in stalls of tens of milliseconds per large chunk) is done while the node has nothing
//! else to do, and the node's thread only copies bytes. If the records catch up with the
//! preparation, the node's thread prepares the next chunk itself. The whole file is one mapping of
//! a large reserved range of address space (pages past the prepared end are never touched), so
//! it is never remapped as it grows.
//!
//! Until a clean stop trims it, the file ends in zero bytes past its last record. [`written`]
//! tells the records from that tail; the node's next start trims it ([`TraceFile::open`]) and so
//! does the orchestrator when it collects a run ([`trim`]).

use memmap2::{MmapMut, MmapOptions};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

/// How far past the last record the file is kept prepared: a quarter of what the trace holds,
/// between these bounds. A quiet node (most nodes of a large cluster) holds little prepared,
/// zero-filled file; a flooding one stays far enough ahead never to wait.
const MIN_AHEAD: u64 = 256 << 10;
const MAX_AHEAD: u64 = 16 << 20;
/// The most prepared in one step: few system calls, short waits for a writer that catches up.
const MAX_CHUNK: u64 = 2 << 20;

fn ahead(len: u64) -> u64 {
    (len / 4).clamp(MIN_AHEAD, MAX_AHEAD)
}

fn chunk(ready: u64) -> u64 {
    (ready / 8).clamp(MIN_AHEAD, MAX_CHUNK)
}

/// Address space reserved for the mapping: the largest trace a node can write (pages are only
/// mapped as they are prepared, so the reservation costs no memory).
const RESERVE: u64 = 1 << 40;

/// The part of a trace file's bytes that holds records: everything before the tail of zero bytes
/// a node that did not stop cleanly leaves behind. A record never contains a zero byte (JSON
/// escapes control characters), so the tail is exactly the unwritten space.
pub fn written(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    &bytes[..end]
}

/// Cuts the unwritten tail off a trace file whose node is gone (no process maps it any more:
/// truncating a file under a live mapping would fault the writer). A missing file is no error.
/// Only the tail is read, backwards from the end, so a long trace is not read whole.
pub fn trim(path: &Path) -> io::Result<()> {
    let mut file = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let size = file.metadata()?.len();
    let mut end = size;
    let mut block = vec![0u8; 64 << 10];
    while end > 0 {
        let start = end.saturating_sub(block.len() as u64);
        let part = &mut block[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(part)?;
        if let Some(i) = part.iter().rposition(|&b| b != 0) {
            end = start + i as u64 + 1;
            break;
        }
        end = start;
    }
    if end < size {
        file.set_len(end)?;
    }
    Ok(())
}

/// An append-only file written through a shared mapping; see the module's comment.
pub struct TraceFile {
    /// `None` once finished.
    map: Option<MmapMut>,
    /// Bytes of records in the file.
    len: u64,
    /// What the preparer shares with the writer.
    prep: Arc<Prep>,
    preparer: Option<JoinHandle<()>>,
    /// The prepared end at the last wake-up of the preparer.
    nudged_at: u64,
}

/// The file and how far it is prepared, shared by the node's thread and the preparer.
struct Prep {
    file: File,
    /// Bytes of file allocated and faulted in (under this lock: one preparer at a time).
    ready: Mutex<u64>,
    /// `ready`, readable without the lock (it only grows).
    ready_hint: AtomicU64,
    /// The writer's record count in bytes, for the preparer to keep ahead of.
    len: AtomicU64,
    /// The mapping's address, for the preparer's `madvise` calls.
    base: usize,
    wake: Condvar,
    stop: AtomicBool,
}

impl Prep {
    /// Prepares chunks until `need` bytes are ready; returns how far the file is prepared.
    fn prepare_to(&self, need: u64) -> io::Result<u64> {
        let mut ready = self.ready.lock().unwrap_or_else(|p| p.into_inner());
        while *ready < need {
            let chunk = chunk(*ready).min(RESERVE - *ready);
            if chunk == 0 {
                return Err(io::Error::other(format!("a trace cannot grow past {RESERVE} bytes")));
            }
            nix::fcntl::posix_fallocate(self.file.as_raw_fd(), *ready as i64, chunk as i64).map_err(io::Error::from)?;
            // Faulted in writable now, in one call, rather than one write fault per page as
            // records first touch them. A kernel without MADV_POPULATE_WRITE (before 5.14)
            // leaves those faults to the writer.
            let from = *ready - *ready % page_size();
            // SAFETY: the range lies inside the mapping and inside the file (allocated up to here).
            unsafe {
                let start = (self.base + from as usize) as *mut libc::c_void;
                libc::madvise(start, (*ready + chunk - from) as usize, libc::MADV_POPULATE_WRITE)
            };
            *ready += chunk;
            self.ready_hint.store(*ready, Ordering::Release);
        }
        Ok(*ready)
    }

    /// The preparer's loop: keep [`ahead`] bytes ready past the records, sleeping in between.
    fn run(&self) {
        // Only idle CPU time: the node's own thread always comes first.
        // SAFETY: sched_setscheduler on the calling thread (pid 0) with a valid parameter.
        unsafe {
            let param = libc::sched_param { sched_priority: 0 };
            libc::sched_setscheduler(0, libc::SCHED_IDLE, &param);
        }
        loop {
            if self.stop.load(Ordering::Acquire) {
                return;
            }
            let len = self.len.load(Ordering::Acquire);
            let target = len + ahead(len);
            if self.ready_hint.load(Ordering::Acquire) < target {
                // A failure (disk full) is left for the writer to meet and report.
                if self.prepare_to(target).is_err() {
                    return;
                }
                continue;
            }
            // Checked again under the lock the writer wakes us under: no wake-up is missed.
            let ready = self.ready.lock().unwrap_or_else(|p| p.into_inner());
            let len = self.len.load(Ordering::Acquire);
            if self.stop.load(Ordering::Acquire) || *ready < len + ahead(len) {
                continue;
            }
            let _unused = self.wake.wait_timeout(ready, std::time::Duration::from_millis(100));
        }
    }

    /// Wakes the preparer, unless it is preparing (then it holds the lock, and will look again).
    fn nudge(&self) -> bool {
        match self.ready.try_lock() {
            Ok(_ready) => {
                self.wake.notify_one();
                true
            }
            Err(_) => false,
        }
    }
}

impl TraceFile {
    /// Opens or creates the file, trims a tail an earlier life left, and returns it with the
    /// records already in it.
    pub fn open(path: &Path) -> io::Result<(TraceFile, Vec<u8>)> {
        let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let len = written(&bytes).len();
        bytes.truncate(len);
        file.set_len(len as u64)?;
        // SAFETY: the mapping is of a file only this process writes while it runs; the
        // orchestrator trims a trace only after its node has exited ([`trim`]). Only the prepared
        // part (inside the file) is ever touched, and the file never shrinks while it is mapped
        // (only in `finish`, after unmapping).
        let map = unsafe { MmapOptions::new().len(RESERVE as usize).map_mut(&file)? };
        let prep = Arc::new(Prep {
            base: map.as_ptr() as usize,
            file,
            ready: Mutex::new(len as u64),
            ready_hint: AtomicU64::new(len as u64),
            len: AtomicU64::new(len as u64),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let shared = prep.clone();
        let preparer =
            std::thread::Builder::new().name("trace-prep".into()).stack_size(64 << 10).spawn(move || shared.run())?;
        let trace = TraceFile { map: Some(map), len: len as u64, prep, preparer: Some(preparer), nudged_at: 0 };
        Ok((trace, bytes))
    }

    /// Appends `bytes`: a copy into the mapping (and, if the records caught up with the
    /// preparer, the next chunk prepared first).
    pub fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        let Some(map) = self.map.as_mut() else {
            return Err(io::Error::other("the trace is closed"));
        };
        let end = self.len + bytes.len() as u64;
        let ready = self.prep.ready_hint.load(Ordering::Acquire);
        if end > ready {
            self.prep.prepare_to(end)?;
        }
        map[self.len as usize..end as usize].copy_from_slice(bytes);
        self.len = end;
        self.prep.len.store(end, Ordering::Release);
        // Below the low-water mark: wake the preparer, once per prepared end (not per record).
        if ready.saturating_sub(end) < ahead(end) / 2 && self.nudged_at != ready && self.prep.nudge() {
            self.nudged_at = ready;
        }
        Ok(())
    }

    /// Stops the preparer, unmaps the file and cuts it to its records: what a clean stop leaves.
    pub fn finish(&mut self) -> io::Result<()> {
        if let Some(preparer) = self.preparer.take() {
            self.prep.stop.store(true, Ordering::Release);
            drop(self.prep.ready.lock().unwrap_or_else(|p| p.into_inner()));
            self.prep.wake.notify_one();
            let _ = preparer.join();
        }
        // Unmapped before the file shrinks.
        let was_mapped = self.map.take().is_some();
        if was_mapped {
            self.prep.file.set_len(self.len)?;
        }
        Ok(())
    }
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).ok().filter(|&s| s > 0).unwrap_or(4096)
}

impl Drop for TraceFile {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("clusterlab-trace-file-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("node-1.jsonl")
    }

    #[test]
    fn records_are_in_the_file_before_it_is_closed_and_the_tail_is_trimmed_after() {
        let path = temp("tail");
        let (mut file, old) = TraceFile::open(&path).unwrap();
        assert!(old.is_empty());
        file.append(b"{\"a\":1}\n").unwrap();
        file.append(b"{\"b\":2}\n").unwrap();
        // What a SIGKILL would leave: the records, then the allocated tail.
        let bytes = std::fs::read(&path).unwrap();
        let prepared = bytes.len() as u64;
        assert!((MIN_AHEAD..=2 * MIN_AHEAD + 16).contains(&prepared), "prepared ahead of the records: {prepared}");
        assert_eq!(written(&bytes), b"{\"a\":1}\n{\"b\":2}\n");
        drop(file);
        assert_eq!(std::fs::read(&path).unwrap(), b"{\"a\":1}\n{\"b\":2}\n", "a clean close trims");
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn a_reopened_file_goes_on_after_its_records_and_grows_past_what_was_prepared() {
        let path = temp("reopen");
        std::fs::write(&path, b"{\"a\":1}\n\0\0\0\0").unwrap();
        let (mut file, old) = TraceFile::open(&path).unwrap();
        assert_eq!(old, b"{\"a\":1}\n");
        let line = vec![b'x'; 100_000];
        // Past several chunks and past what the preparer keeps ahead.
        for _ in 0..400 {
            file.append(&line).unwrap();
        }
        drop(file);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 8 + 40_000_000);
        assert!(bytes[8..].iter().all(|&b| b == b'x'));
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn trim_cuts_only_the_zero_tail() {
        let path = temp("trim");
        std::fs::write(&path, b"{\"a\":1}\n{\"b\"\0\0\0").unwrap();
        trim(&path).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"{\"a\":1}\n{\"b\"", "a torn line stays for the reader to report");
        trim(&path.with_file_name("absent.jsonl")).unwrap();
        // A tail longer than the blocks it is read back in, and a file of zeros only.
        let mut long = b"{\"a\":1}\n".to_vec();
        long.resize(200_000, 0);
        std::fs::write(&path, &long).unwrap();
        trim(&path).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"{\"a\":1}\n");
        std::fs::write(&path, vec![0u8; 100_000]).unwrap();
        trim(&path).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"");
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
}
