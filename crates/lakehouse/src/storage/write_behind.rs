//! Large local files written once and read rarely (the exports): a [`File`] writer that, on
//! Linux, writes whole 4 MiB chunks with direct I/O from a thread of its own (see
//! [`WriteBehind::create`]), and otherwise, or for the tail, starts the write-back of each 8 MiB
//! it has written and then asks the kernel to drop the pages [`DROP_LAG`] behind, once they are
//! clean.
//!
//! A `make` writes gigabytes of exports (1M entities: 1.7 GB of statements.csv, 0.5 GB of
//! entities.ftm.json). Written the plain way, each byte takes a fresh page-cache page, and the
//! whole file stays cached and dirty until the kernel's flusher gets to it: it pushes out pages
//! other work was using, and on virtual machines that hand free memory back to the host, fresh
//! pages are dear (measured here: 2.2 GB written took 1.3–5.8 s of system time plain, 0.8–0.9 s
//! this way, on the same disk). This is the "write-behind" of `dd oflag=nocache` and of
//! PostgreSQL's `*_flush_after` settings, built on `posix_fadvise(POSIX_FADV_DONTNEED)` alone,
//! which on Linux starts the write-back of dirty pages and drops clean ones. Nothing here waits
//! for the disk: pages still dirty when their turn comes stay cached, as plain writes would, so
//! a slow disk makes this no slower than plain writes. Elsewhere than on Linux it is a plain
//! [`File`].

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::Path;

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
    /// The writes going around the page cache, until the file's tail.
    direct: Option<direct::Chunks>,
}

impl WriteBehind {
    /// Wraps a file opened for writing at offset 0 (as [`File::create`] leaves it).
    pub fn new(file: File) -> WriteBehind {
        WriteBehind { file, written: 0, requested: 0, dropped: 0, direct: None }
    }

    /// Creates (or truncates) the file at `path`. On Linux it is opened for direct I/O where the
    /// file system allows it: whole chunks then go to the disk from a thread of their own,
    /// around the page cache, and only the tail is written the advised way at [`flush`].
    ///
    /// # Errors
    /// Those of [`File::create`].
    ///
    /// [`flush`]: Write::flush
    pub fn create(path: &Path) -> io::Result<WriteBehind> {
        if let Some((file, chunks)) = direct::open(path) {
            return Ok(WriteBehind { direct: Some(chunks), ..WriteBehind::new(file) });
        }
        Ok(WriteBehind::new(File::create(path)?))
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
        if let Some(chunks) = &mut self.direct {
            return chunks.write(bytes);
        }
        let n = self.file.write(bytes)?;
        self.written += n as u64;
        self.advise(false);
        Ok(n)
    }

    /// Flushes the file and requests write-back of the tail. A file written directly waits for
    /// its chunks, then writes its tail (less than a block) through the page cache and goes on
    /// that way.
    fn flush(&mut self) -> io::Result<()> {
        if let Some(chunks) = self.direct.take() {
            let (end, tail) = chunks.finish(&self.file)?;
            self.file.seek(SeekFrom::Start(end))?;
            self.file.write_all(&tail)?;
            (self.written, self.requested, self.dropped) = (end + tail.len() as u64, end, end);
        }
        self.file.flush()?;
        self.advise(true);
        Ok(())
    }
}

/// Direct I/O (`O_DIRECT`) of whole chunks from a writer thread. Writing gigabytes through the
/// page cache costs this VM's kernel more than the copy itself; direct writes take a tenth of
/// the system time (`dd` of 2 GiB: 5.1 s plain, 0.2 s direct), and the disk keeps pace with an
/// export. Buffers, file offsets and lengths are aligned to [`BLOCK`](direct::BLOCK) bytes.
#[cfg(target_os = "linux")]
mod direct {
    use std::fs::{File, OpenOptions};
    use std::io;
    use std::os::unix::fs::{FileExt, OpenOptionsExt};
    use std::path::Path;
    use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
    use std::thread::JoinHandle;

    use rustix::fs::OFlags;

    /// Alignment of direct writes: memory, offsets and lengths (the largest logical block size
    /// of common disks).
    pub(super) const BLOCK: usize = 4096;
    /// Bytes per direct write.
    const CHUNK: usize = 4 << 20;
    /// Chunks queued for the writer thread besides the one it writes.
    const QUEUED: usize = 2;

    /// A chunk buffer: its bytes start at `pad`, where the memory is aligned to [`BLOCK`].
    struct Buffer {
        bytes: Vec<u8>,
        pad: usize,
    }

    impl Buffer {
        fn new() -> Buffer {
            let mut bytes: Vec<u8> = Vec::with_capacity(CHUNK + BLOCK);
            let pad = bytes.as_ptr().align_offset(BLOCK);
            bytes.resize(pad, 0);
            Buffer { bytes, pad }
        }

        fn len(&self) -> usize {
            self.bytes.len() - self.pad
        }
    }

    /// The chunk being filled and the writer thread of the ones before it.
    pub(super) struct Chunks {
        filling: Buffer,
        /// File offset of `filling`.
        offset: u64,
        queue: SyncSender<(Buffer, u64)>,
        /// Buffers the thread is done with.
        spare: Receiver<Buffer>,
        thread: JoinHandle<io::Result<()>>,
    }

    /// Opens `path` for direct writes; `None` where the file system refuses them (then the
    /// caller writes through the page cache).
    pub(super) fn open(path: &Path) -> Option<(File, Chunks)> {
        let direct = OFlags::DIRECT.bits() as i32;
        let file = OpenOptions::new().write(true).create(true).truncate(true).custom_flags(direct).open(path).ok()?;
        let writer = file.try_clone().ok()?;
        let (queue, jobs) = sync_channel::<(Buffer, u64)>(QUEUED);
        let (done, spare) = sync_channel::<Buffer>(QUEUED + 2);
        let thread = std::thread::spawn(move || -> io::Result<()> {
            for (mut buffer, offset) in jobs {
                let bytes = &buffer.bytes[buffer.pad..];
                match writer.write_all_at(bytes, offset) {
                    // A device whose blocks are larger than BLOCK: the rest goes through the
                    // page cache.
                    Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) => {
                        rustix::fs::fcntl_setfl(&writer, rustix::fs::fcntl_getfl(&writer)? - OFlags::DIRECT)?;
                        writer.write_all_at(bytes, offset)?;
                    }
                    written => written?,
                }
                buffer.bytes.truncate(buffer.pad);
                let _ = done.try_send(buffer);
            }
            Ok(())
        });
        Some((file, Chunks { filling: Buffer::new(), offset: 0, queue, spare, thread }))
    }

    impl Chunks {
        /// Takes bytes into the chunk being filled, queuing it when full.
        pub(super) fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            let n = bytes.len().min(CHUNK - self.filling.len());
            self.filling.bytes.extend_from_slice(&bytes[..n]);
            if self.filling.len() == CHUNK {
                let next = self.spare.try_recv().unwrap_or_else(|_| Buffer::new());
                let full = std::mem::replace(&mut self.filling, next);
                self.send(full)?;
            }
            Ok(n)
        }

        fn send(&mut self, buffer: Buffer) -> io::Result<()> {
            let len = buffer.len() as u64;
            if self.queue.send((buffer, self.offset)).is_err() {
                return Err(io::Error::other("the direct writer stopped"));
            }
            self.offset += len;
            Ok(())
        }

        /// Queues the whole blocks still held, waits for the thread, and turns direct I/O off
        /// for `file`: the offset where the direct writes end, and the bytes after it.
        ///
        /// # Errors
        /// The thread's write error.
        pub(super) fn finish(mut self, file: &File) -> io::Result<(u64, Vec<u8>)> {
            let whole = self.filling.len() / BLOCK * BLOCK;
            let tail = self.filling.bytes.split_off(self.filling.pad + whole);
            if whole > 0 {
                let blocks = std::mem::replace(&mut self.filling, Buffer { bytes: Vec::new(), pad: 0 });
                self.send(blocks)?;
            }
            let Chunks { offset, queue, thread, .. } = self;
            drop(queue);
            thread.join().map_err(|_| io::Error::other("the direct writer panicked"))??;
            rustix::fs::fcntl_setfl(file, rustix::fs::fcntl_getfl(file)? - OFlags::DIRECT)?;
            Ok((offset, tail))
        }
    }
}

/// Elsewhere than on Linux, files are written through the page cache.
#[cfg(not(target_os = "linux"))]
mod direct {
    use std::fs::File;
    use std::io;
    use std::path::Path;

    pub(super) const BLOCK: usize = 4096;

    pub(super) enum Chunks {}

    pub(super) fn open(_: &Path) -> Option<(File, Chunks)> {
        None
    }

    impl Chunks {
        pub(super) fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            match *self {}
        }

        pub(super) fn finish(self, _: &File) -> io::Result<(u64, Vec<u8>)> {
            match self {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn created_files_take_every_byte_in_order_and_go_on_after_a_flush() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        let behind = WriteBehind::create(&path).unwrap();
        // Direct where the file system allows it (this test's temp dir may not).
        let direct = behind.direct.is_some();
        let mut out = io::BufWriter::with_capacity(1 << 16, behind);
        let line: Vec<u8> = (0..=255u8).cycle().take(100_003).collect();
        // 3 chunks and then some, ending mid-block.
        for _ in 0..130 {
            out.write_all(&line).unwrap();
        }
        out.flush().unwrap();
        out.write_all(b"after the flush").unwrap();
        out.flush().unwrap();
        let behind = out.into_inner().map_err(|e| e.into_error()).unwrap();
        assert!(behind.direct.is_none(), "direct I/O ends at the first flush (was it on: {direct})");
        assert_eq!(behind.written, 130 * 100_003 + 15);
        let mut back = Vec::new();
        File::open(&path).unwrap().read_to_end(&mut back).unwrap();
        assert_eq!(back.len(), 130 * 100_003 + 15);
        let (body, end) = back.split_at(130 * 100_003);
        assert!(body.chunks(line.len()).all(|chunk| chunk == line.as_slice()));
        assert_eq!(end, b"after the flush");
    }

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
