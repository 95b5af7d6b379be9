//! Large local files written once and read rarely (the exports): a [`File`] writer,
//! [`WriteBehind`], that starts the write-back of each 8 MiB it has written and then asks the
//! kernel to drop the pages 64 MiB behind, once they are clean.
//!
//! A `make` of a large dataset writes gigabytes of exports. Written the plain way, each byte
//! takes a fresh page-cache page, and the whole file stays cached and dirty until the kernel's
//! flusher gets to it: it pushes out pages other work was using, and on virtual machines that
//! hand free memory back to the host, fresh pages are dear and cost system time. Dropping pages
//! once written keeps the export's footprint in the page cache small and steady.
//!
//! This is the "write-behind" of `dd oflag=nocache` and of PostgreSQL's `*_flush_after`
//! settings, built on `posix_fadvise(POSIX_FADV_DONTNEED)` alone, which on Linux starts the
//! write-back of dirty pages and drops clean ones. Nothing here waits for the disk: pages still
//! dirty when their turn comes stay cached, as plain writes would, so a slow disk makes this no
//! slower than plain writes. Elsewhere than on Linux it is a plain [`File`].

use std::fs::File;
use std::io::{self, Write};

/// Bytes written between two write-back requests.
const CHUNK: u64 = 8 << 20;

/// How far behind the written end pages are dropped: by then their write-back has had
/// [`DROP_LAG`] / [`CHUNK`] chunks' time to finish.
const DROP_LAG: u64 = 64 << 20;

/// A file written front to back whose written pages leave the page cache (see the module docs).
pub struct WriteBehind {
    file: File,
    /// Bytes written so far.
    written: u64,
    /// End of the range whose write-back was requested.
    requested: u64,
    /// End of the range whose pages were dropped.
    dropped: u64,
}

impl WriteBehind {
    /// Wraps a file opened for writing at offset 0 (as [`File::create`] leaves it).
    pub fn new(file: File) -> WriteBehind {
        WriteBehind { file, written: 0, requested: 0, dropped: 0 }
    }

    /// Requests write-back of what was written since the last request and drops the pages
    /// [`DROP_LAG`] behind; `all` does it for the tail too (at the end of the file).
    fn advise(&mut self, all: bool) {
        if self.written - self.requested >= CHUNK || (all && self.written > self.requested) {
            dont_need(&self.file, self.requested, self.written - self.requested);
            self.requested = self.written;
        }
        let behind = self.requested.saturating_sub(DROP_LAG);
        if behind >= self.dropped + CHUNK {
            dont_need(&self.file, self.dropped, behind - self.dropped);
            self.dropped = behind;
        }
    }
}

/// `posix_fadvise(POSIX_FADV_DONTNEED)` over `len` bytes from `offset`. It is advice: a refusal
/// changes nothing that was written, so it is not an error.
#[cfg(target_os = "linux")]
fn dont_need(file: &File, offset: u64, len: u64) {
    let _refused = rustix::fs::fadvise(file, offset, std::num::NonZeroU64::new(len), rustix::fs::Advice::DontNeed);
}

#[cfg(not(target_os = "linux"))]
fn dont_need(_: &File, _: u64, _: u64) {}

impl Write for WriteBehind {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let n = self.file.write(bytes)?;
        self.written += n as u64;
        self.advise(false);
        Ok(n)
    }

    /// Flushes the file and requests write-back of the tail.
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()?;
        self.advise(true);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn writes_every_byte_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let mut out = io::BufWriter::with_capacity(1 << 16, WriteBehind::new(File::create(&path).unwrap()));
        let line: Vec<u8> = (0..=255u8).cycle().take(100_003).collect();
        // 1,000 × 100,003 bytes: past DROP_LAG + CHUNK, so pages are dropped while writing.
        for _ in 0..1_000 {
            out.write_all(&line).unwrap();
        }
        let mut behind = out.into_inner().map_err(|e| e.into_error()).unwrap();
        behind.flush().unwrap();
        assert_eq!(behind.written, 100_003_000);
        let lagging = behind.written - DROP_LAG;
        assert!(behind.dropped > lagging - CHUNK && behind.dropped <= lagging, "dropped up to {}", behind.dropped);
        assert_eq!(behind.requested, behind.written, "the tail's write-back was requested");
        let mut back = Vec::new();
        File::open(&path).unwrap().read_to_end(&mut back).unwrap();
        assert_eq!(back.len(), 100_003_000);
        assert!(back.chunks(line.len()).all(|chunk| chunk == line.as_slice()));
    }
}
