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
//! The file is grown ahead of its records, a chunk at a time, by writing zero bytes: the blocks
//! are claimed up front (a store into a hole of a sparse file would raise SIGBUS when the disk is
//! full, a write that fails is an error the tracer reports) and the pages are in the page cache
//! before the first record touches them (`write_zeros`). So until a clean stop trims it,
//! the file ends in zero bytes past its last record. [`written`] tells the records from that
//! tail; the node's next start trims it ([`TraceFile::open`]) and so does the orchestrator when
//! it collects a run ([`trim`]).

use memmap2::{Advice, MmapMut, MmapOptions};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// The file grows by at least this much at a time, and by as much again as it holds, up to
/// [`MAX_CHUNK`]: few remaps for a long trace, little unused tail for a short one. Each chunk's
/// pages are faulted in when it is added, on the writer's thread, so the chunk's size bounds the
/// writer's stall: preparing 4 MiB of fresh page cache took about 1–15 ms here with the blocks
/// allocated by `posix_fallocate` (less with [`write_zeros`]), where a 64 MiB chunk stalled a
/// flooding node for 20–250 ms. (A thread of its own preparing chunks ahead was
/// tried: it took more of the node's CPU than it saved, and at idle priority it could hold the
/// writer up.)
const MIN_CHUNK: u64 = 1 << 20;
const MAX_CHUNK: u64 = 4 << 20;

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
    file: File,
    /// The file from `base` to `cap`: only the page of the last record and the allocated tail
    /// are mapped, so the cost of a remap does not grow with the trace.
    map: Option<MmapMut>,
    base: u64,
    /// Bytes of records in the file.
    len: u64,
    /// Bytes the file holds (records and the allocated tail).
    cap: u64,
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
        let trace = TraceFile { file, map: None, base: 0, len: len as u64, cap: len as u64 };
        Ok((trace, bytes))
    }

    /// Appends `bytes`: a copy into the mapping, and now and then a new chunk of file.
    pub fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        let end = self.len + bytes.len() as u64;
        if end > self.cap || self.map.is_none() {
            self.grow(end)?;
        }
        let map = self.map.as_mut().expect("grow maps the file");
        map[(self.len - self.base) as usize..(end - self.base) as usize].copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }

    fn grow(&mut self, need: u64) -> io::Result<()> {
        let chunk = self.cap.clamp(MIN_CHUNK, MAX_CHUNK);
        let cap = need.max(self.cap) + chunk;
        // Unmap before the file changes size; a failure below leaves the file as it was.
        self.map = None;
        write_zeros(&self.file, self.cap, cap)?;
        self.cap = cap;
        let base = self.len - self.len % page_size();
        // SAFETY: the mapping is of a file only this process writes while it runs; the
        // orchestrator trims a trace only after its node has exited ([`trim`]), and the node
        // never shrinks the file below `cap` while it is mapped (only in `finish`, after unmapping).
        let map = unsafe { MmapOptions::new().offset(base).len((cap - base) as usize).map_mut(&self.file)? };
        // The pages are faulted in writable now, in one call, rather than one write fault per
        // page as records first touch them (MAP_POPULATE would map a shared file read-only and
        // leave those faults). A kernel without MADV_POPULATE_WRITE (before 5.14) only loses the
        // head start.
        let _ = map.advise(Advice::PopulateWrite);
        self.map = Some(map);
        self.base = base;
        Ok(())
    }

    /// Unmaps the file and cuts it to its records: what a clean stop leaves.
    pub fn finish(&mut self) -> io::Result<()> {
        self.map = None;
        if self.cap != self.len {
            self.file.set_len(self.len)?;
            self.cap = self.len;
        }
        Ok(())
    }
}

/// Fills `from..to` of the file with zero bytes, a megabyte per write. This is how a chunk's
/// blocks are claimed (a full disk fails here, not as a SIGBUS on a later store) and how its
/// pages enter the page cache: large writes fill it with large folios, so the mapping's write
/// faults find them ready. Measured here (`transport-bench --records-only`), a 169-byte record's
/// copy into the mapping costs 94-98 ns this way against 231-258 ns after `posix_fallocate`,
/// whose unwritten extents the kernel prepared one 4 KiB page per fault. A megabyte is the best
/// block of those tried: 64 KiB gave 147-165 ns, 256 KiB 93-107 ns, 4 MiB 183-371 ns.
fn write_zeros(file: &File, from: u64, to: u64) -> io::Result<()> {
    const BLOCK: usize = 1 << 20;
    let zeros = vec![0u8; BLOCK.min((to - from) as usize)];
    let mut at = from;
    while at < to {
        let n = ((to - at) as usize).min(zeros.len());
        file.write_all_at(&zeros[..n], at)?;
        at += n as u64;
    }
    Ok(())
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
        assert_eq!(bytes.len() as u64, MIN_CHUNK + 8, "one chunk ahead of the first record");
        assert_eq!(written(&bytes), b"{\"a\":1}\n{\"b\":2}\n");
        drop(file);
        assert_eq!(std::fs::read(&path).unwrap(), b"{\"a\":1}\n{\"b\":2}\n", "a clean close trims");
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn a_reopened_file_goes_on_after_its_records_and_grows_past_chunks() {
        let path = temp("reopen");
        std::fs::write(&path, b"{\"a\":1}\n\0\0\0\0").unwrap();
        let (mut file, old) = TraceFile::open(&path).unwrap();
        assert_eq!(old, b"{\"a\":1}\n");
        let line = vec![b'x'; 100_000];
        for _ in 0..30 {
            file.append(&line).unwrap();
        }
        drop(file);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 8 + 3_000_000);
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
