//! Published artifacts (exports) of a dataset: their names, their keys with the dataset's codec,
//! writing them so that they appear only when whole, the CSV dialect of the documents tables,
//! and reading them back decompressed (spec `exports-and-operations.md` §1.2, §6; `entities
//! stream`, `statements stream`, `archive download`).
//!
//! In a local folder an artifact is assembled at `<key>.<run>.tmp`, a name of its own per run
//! (written behind, so that gigabytes
//! of exports do not fill the page cache) and renamed into place; in an object store it is a
//! multipart upload completed when the export publishes. Either way readers see the previous artifact until
//! the export publishes.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use object_store::path::Path;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::repository::{Dataset, DatasetConfig};
use crate::storage::Location;
use crate::storage::entity_index;
use crate::storage::object_io::ObjectReader;
use crate::storage::upload::{Staged, Upload};
use crate::storage::write_behind::WriteBehind;

/// The entities export.
pub const ENTITIES: &str = "entities.ftm.json";
/// The statements export.
pub const STATEMENTS: &str = "exports/statements.csv";
/// The documents export: every document of the dataset.
pub const DOCUMENTS: &str = "exports/documents.csv";
/// The documents export of the crawled documents (origin `crawl`).
pub const CRAWL_DOCUMENTS: &str = "exports/documents.crawl.csv";
/// The folders of the documents, with their paths.
pub const PARENTS: &str = "exports/parents.csv";
/// The dataset as a Cypher script, when the config asks for it (`cypher: true`).
pub const GRAPH: &str = "exports/graph.cypher";
/// The statistics file (never compressed, versioned).
pub const STATISTICS: &str = "exports/statistics.json";
/// The dataset index (never compressed, versioned).
pub const INDEX: &str = "index.json";

/// The columns of the documents CSVs (spec §6.2); their diffs put `op` first.
pub const DOCUMENT_COLUMNS: [&str; 8] =
    ["id", "checksum", "name", "mimetype", "path", "size", "updated_at", "public_url"];

/// The key of artifact `name` compressed with `codec` (`entities.ftm.json.zst`).
pub fn artifact_key(name: &str, codec: Option<&str>) -> String {
    match codec {
        Some(codec) => format!("{name}.{codec}"),
        None => name.to_string(),
    }
}

/// Opens artifact `name` of `dataset`, decompressing it with the configured codec. The reader of
/// an artifact in an object store fetches as it is read (see [`ObjectReader`]).
///
/// # Errors
/// [`Error::NotFound`] if it was never exported; [`Error::InvalidConfig`] for an unknown
/// codec; [`Error::Storage`].
pub async fn open_artifact(dataset: &Dataset, config: &DatasetConfig, name: &str) -> Result<Box<dyn Read + Send>> {
    let codec = config.compression();
    let key = artifact_key(name, codec);
    let location = dataset.location();
    let shown = format!("{}/{key}", location);
    let missing = || Error::NotFound(format!("{shown} (run `make` or `export` first)"));
    let raw: Box<dyn Read + Send> = match location.local_path() {
        Some(folder) => match File::open(folder.join(&key)) {
            Ok(file) => Box::new(BufReader::new(file)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(missing()),
            Err(e) => return Err(Error::Io(shown, e)),
        },
        None => {
            let store = dataset.object_store();
            match ObjectReader::open(store.as_ref(), &Path::from(key.as_str()), &shown).await {
                Ok(reader) => Box::new(BufReader::new(reader)),
                Err(Error::NotFound(_)) => return Err(missing()),
                Err(e) => return Err(e),
            }
        }
    };
    // Every decoder reads all the members or frames a file holds (spec
    // `exports-and-operations.md` §1.2: artifacts are multi-frame streams).
    match codec {
        None => Ok(raw),
        Some("gz") => Ok(Box::new(flate2::read::MultiGzDecoder::new(raw))),
        Some("zst") => Ok(Box::new(zstd::Decoder::with_buffer(BufReader::new(raw)).map_err(|e| Error::Io(shown, e))?)),
        Some("bz2") => Ok(Box::new(bzip2::read::MultiBzDecoder::new(raw))),
        Some("xz") => Ok(Box::new(liblzma::read::XzDecoder::new_multi_decoder(raw))),
        Some("lz4") => Ok(Box::new(lz4_flex::frame::FrameDecoder::new(raw))),
        Some(other) => Err(unknown(other)),
    }
}

fn unknown(codec: &str) -> Error {
    Error::InvalidConfig(format!("unknown compression `{codec}` (use gz, bz2, xz, zst or lz4)"))
}

/// A finished artifact, not yet in place: publish it with [`publish`].
pub(crate) struct Finished {
    key: String,
    checksum: Option<String>,
    size: u64,
    place: FinishedPlace,
}

enum FinishedPlace {
    /// Renamed from `tmp` to `path`.
    Local { tmp: PathBuf, path: PathBuf },
    /// Completed.
    Remote(Staged),
}

/// An artifact being written, compressed with the dataset's codec.
pub(crate) struct Artifact {
    key: String,
    /// What messages name: the `.tmp` file, or the object.
    shown: String,
    encoder: Encoder,
    place: Place,
}

enum Place {
    Local { tmp: PathBuf, path: PathBuf },
    Remote(Upload),
}

/// Where the encoder's output goes: the local file, or memory drained into the upload after
/// each write.
enum Sink {
    File(BufWriter<WriteBehind>),
    Memory(Vec<u8>),
}

/// The encoder's output, counted (and hashed, when asked) on its way to the sink: the size and
/// checksum of the stored artifact, which `index.json` lists (so it need not read the artifact
/// back).
struct Output {
    sink: Sink,
    hasher: Option<Sha256>,
    size: u64,
}

impl Output {
    fn new(sink: Sink, checksum: bool) -> Output {
        Output { sink, hasher: checksum.then(Sha256::new), size: 0 }
    }
}

impl Write for Output {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let n = match &mut self.sink {
            Sink::File(w) => w.write(bytes)?,
            Sink::Memory(v) => v.write(bytes)?,
        };
        if let Some(hasher) = &mut self.hasher {
            hasher.update(&bytes[..n]);
        }
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.sink {
            Sink::File(w) => w.flush(),
            Sink::Memory(_) => Ok(()),
        }
    }
}

/// A published artifact: its key, the SHA-256 (lowercase hex, when it was computed) and size in
/// bytes of what was stored, and when it was published.
#[derive(Debug, Clone)]
pub(crate) struct Published {
    pub key: String,
    pub checksum: Option<String>,
    pub size: u64,
    pub at: DateTime<Utc>,
}

impl Published {
    /// The record of `bytes` stored at `key` now.
    pub(crate) fn of(key: &str, bytes: &[u8]) -> Published {
        Published {
            key: key.to_string(),
            checksum: Some(format!("{:x}", Sha256::digest(bytes))),
            size: bytes.len() as u64,
            at: Utc::now(),
        }
    }
}

enum Encoder {
    Plain(Output),
    Gzip(flate2::write::GzEncoder<Output>),
    Zstd(zstd::Encoder<'static, Output>),
    Bzip2(bzip2::write::BzEncoder<Output>),
    Xz(liblzma::write::XzEncoder<Output>),
    Lz4(lz4_flex::frame::FrameEncoder<Output>),
}

impl Encoder {
    fn output(&mut self) -> &mut Output {
        match self {
            Encoder::Plain(w) => w,
            Encoder::Gzip(w) => w.get_mut(),
            Encoder::Zstd(w) => w.get_mut(),
            Encoder::Bzip2(w) => w.get_mut(),
            Encoder::Xz(w) => w.get_mut(),
            Encoder::Lz4(w) => w.get_mut(),
        }
    }
}

impl Artifact {
    /// Starts `name` (with the codec's suffix) of the dataset at `root`: at `<key>.<run>.tmp` in
    /// a local folder (`run` unique to this call), as an upload in an object store. With
    /// `checksum`, the stored bytes are hashed on their way ([`Published::checksum`]): only
    /// what `index.json` lists needs it.
    ///
    /// # Errors
    /// [`Error::Io`]; [`Error::InvalidConfig`] for a codec this build cannot write.
    pub(crate) fn create(root: &Location, name: &str, codec: Option<&str>, checksum: bool) -> Result<Artifact> {
        let key = artifact_key(name, codec);
        let (output, place, shown) = match root.local_path() {
            Some(folder) => {
                let path = folder.join(&key);
                let tmp = folder.join(format!("{key}.{}.tmp", uuid::Uuid::now_v7().simple()));
                let shown = tmp.display().to_string();
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| Error::Io(parent.display().to_string(), e))?;
                }
                let file = File::create(&tmp).map_err(|e| Error::Io(shown.clone(), e))?;
                let output =
                    Output::new(Sink::File(BufWriter::with_capacity(1 << 16, WriteBehind::new(file))), checksum);
                (output, Place::Local { tmp, path }, shown)
            }
            None => {
                let upload = Upload::new(root.object_store()?, Path::from(key.as_str()));
                (Output::new(Sink::Memory(Vec::new()), checksum), Place::Remote(upload), format!("{root}/{key}"))
            }
        };
        let encoder = match codec {
            None => Encoder::Plain(output),
            Some("gz") => Encoder::Gzip(flate2::write::GzEncoder::new(output, flate2::Compression::default())),
            Some("zst") => Encoder::Zstd(zstd::Encoder::new(output, 3).map_err(|e| Error::Io(shown.clone(), e))?),
            // Python's defaults, as the reference's fsspec writes them: bz2 level 9, xz preset 6.
            Some("bz2") => Encoder::Bzip2(bzip2::write::BzEncoder::new(output, bzip2::Compression::best())),
            Some("xz") => Encoder::Xz(liblzma::write::XzEncoder::new(output, 6)),
            Some("lz4") => Encoder::Lz4(lz4_flex::frame::FrameEncoder::new(output)),
            Some(other) => return Err(unknown(other)),
        };
        Ok(Artifact { key, shown, encoder, place })
    }

    /// Appends bytes (compressed on the way). From a blocking thread, run it with
    /// `Handle::block_on`.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file; [`Error::Storage`] sending a part.
    pub(crate) async fn write(&mut self, bytes: &[u8]) -> Result<()> {
        let result = match &mut self.encoder {
            Encoder::Plain(w) => w.write_all(bytes),
            Encoder::Gzip(w) => w.write_all(bytes),
            Encoder::Zstd(w) => w.write_all(bytes),
            Encoder::Bzip2(w) => w.write_all(bytes),
            Encoder::Xz(w) => w.write_all(bytes),
            Encoder::Lz4(w) => w.write_all(bytes),
        };
        result.map_err(|e| Error::Io(self.shown.clone(), e))?;
        self.drain().await
    }

    /// Moves the encoder's output into the upload, in an object store.
    async fn drain(&mut self) -> Result<()> {
        if let (Place::Remote(upload), Sink::Memory(bytes)) = (&mut self.place, &mut self.encoder.output().sink) {
            upload.write(bytes).await?;
            bytes.clear();
        }
        Ok(())
    }

    /// Completes the encoding and sends what is left; the artifact is not in place until
    /// [`publish`].
    ///
    /// # Errors
    /// [`Error::Io`] naming the file; [`Error::Storage`].
    pub(crate) async fn finish(self) -> Result<Finished> {
        let io = |e| Error::Io(self.shown.clone(), e);
        let mut output = match self.encoder {
            Encoder::Plain(w) => w,
            Encoder::Gzip(w) => w.finish().map_err(io)?,
            Encoder::Zstd(w) => w.finish().map_err(io)?,
            Encoder::Bzip2(w) => w.finish().map_err(io)?,
            Encoder::Xz(w) => w.finish().map_err(io)?,
            Encoder::Lz4(w) => w.finish().map_err(|e| io(std::io::Error::other(e)))?,
        };
        output.flush().map_err(io)?;
        let (checksum, size) = (output.hasher.take().map(|h| format!("{:x}", h.finalize())), output.size);
        let place = match (self.place, output.sink) {
            (Place::Local { tmp, path }, _) => FinishedPlace::Local { tmp, path },
            (Place::Remote(mut upload), Sink::Memory(rest)) => {
                upload.write(&rest).await?;
                FinishedPlace::Remote(upload.finish().await?)
            }
            (Place::Remote(_), Sink::File(_)) => unreachable!("an upload encodes into memory"),
        };
        Ok(Finished { key: self.key, checksum, size, place })
    }
}

/// Removes the `.tmp` files of unfinished artifacts in the local folder `root` (the top level,
/// `exports/` and `diffs/`): those of an export that failed or was killed. Run only while
/// holding the export lock, which makes every such file a leftover. Returns how many went;
/// nothing happens in an object store, where an unfinished upload is never visible.
///
/// # Errors
/// [`Error::Io`] naming the file or folder.
pub(crate) fn remove_leftovers(root: &Location) -> Result<usize> {
    fn walk(folder: &std::path::Path, deep: bool, removed: &mut usize) -> Result<()> {
        let entries = match std::fs::read_dir(folder) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::Io(folder.display().to_string(), e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| Error::Io(folder.display().to_string(), e))?;
            let (path, kind) =
                (entry.path(), entry.file_type().map_err(|e| Error::Io(folder.display().to_string(), e))?);
            if kind.is_dir() && deep {
                walk(&path, deep, removed)?;
            } else if kind.is_file() && path.extension().is_some_and(|x| x == "tmp") {
                std::fs::remove_file(&path).map_err(|e| Error::Io(path.display().to_string(), e))?;
                *removed += 1;
            }
        }
        Ok(())
    }
    let mut removed = 0;
    if let Some(folder) = root.local_path() {
        walk(folder, false, &mut removed)?;
        walk(&folder.join("exports"), true, &mut removed)?;
        walk(&folder.join("diffs"), true, &mut removed)?;
        walk(&folder.join(entity_index::FOLDER), false, &mut removed)?;
    }
    Ok(removed)
}

/// Puts finished artifacts in place, one after the other. After a failure the rest are
/// dropped (uploads aborted, `.tmp` files left for [`remove_leftovers`]).
///
/// # Errors
/// [`Error::Io`] naming the file; [`Error::Storage`].
pub(crate) async fn publish(files: Vec<Finished>) -> Result<Vec<Published>> {
    let mut published = Vec::new();
    for Finished { key, checksum, size, place } in files {
        match place {
            FinishedPlace::Local { tmp, path } => {
                std::fs::rename(&tmp, &path).map_err(|e| Error::Io(path.display().to_string(), e))?;
            }
            FinishedPlace::Remote(staged) => staged.publish().await?,
        }
        published.push(Published { key, checksum, size, at: Utc::now() });
    }
    Ok(published)
}

/// Rows of a table in the dialect of the documents and parents CSVs and their diffs (Python's
/// `excel`: minimal quoting, `\r\n` line ends; spec §6), gathered in memory.
pub(crate) struct CsvTable {
    /// The artifact the rows are for, named in errors.
    name: &'static str,
    writer: csv::Writer<Vec<u8>>,
}

impl CsvTable {
    /// An empty table for artifact `name`.
    pub(crate) fn new(name: &'static str) -> CsvTable {
        CsvTable { name, writer: CsvTable::writer() }
    }

    fn writer() -> csv::Writer<Vec<u8>> {
        csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new())
    }

    /// Appends one row.
    ///
    /// # Errors
    /// [`Error::Io`] naming the artifact.
    pub(crate) fn row<'a>(&mut self, fields: impl IntoIterator<Item = &'a str>) -> Result<()> {
        self.writer.write_record(fields).map_err(Error::csv_write(self.name))
    }

    /// The bytes of the rows appended since the last call; the table is empty afterwards.
    ///
    /// # Errors
    /// [`Error::Io`] naming the artifact.
    pub(crate) fn take(&mut self) -> Result<Vec<u8>> {
        let writer = std::mem::replace(&mut self.writer, CsvTable::writer());
        writer.into_inner().map_err(|e| Error::Io(self.name.into(), e.into_error()))
    }
}
