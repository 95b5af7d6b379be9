//! Published artifacts (exports) of a dataset: their names, their keys with the dataset's codec,
//! writing them through a `.tmp` file, the CSV dialect of the documents tables, and reading them
//! back decompressed (spec `exports-and-operations.md` §1.2, §6; `entities stream`,
//! `statements stream`, `archive download`).

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::repository::{Dataset, DatasetConfig};
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

/// Opens artifact `name` of `dataset`, decompressing it with the configured codec.
///
/// # Errors
/// [`Error::NotFound`] if it was never exported; [`Error::InvalidConfig`] for a codec this
/// build cannot read (`bz2`, `xz`, `lz4`).
pub fn open_artifact(dataset: &Dataset, config: &DatasetConfig, name: &str) -> Result<Box<dyn Read>> {
    let codec = config.compression();
    let path = dataset.location().path().join(artifact_key(name, codec));
    let file = match File::open(&path) {
        Ok(file) => BufReader::new(file),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::NotFound(format!("{} (run `make` or `export` first)", path.display())));
        }
        Err(e) => return Err(Error::Io(path.display().to_string(), e)),
    };
    match codec {
        None => Ok(Box::new(file)),
        Some("gz") => Ok(Box::new(flate2::read::MultiGzDecoder::new(file))),
        Some("zst") => {
            Ok(Box::new(zstd::Decoder::with_buffer(file).map_err(|e| Error::Io(path.display().to_string(), e))?))
        }
        Some(other) => Err(Error::InvalidConfig(format!("compression `{other}` is not supported yet (use gz or zst)"))),
    }
}

/// An output file being assembled at `<path>.tmp`, compressed with the dataset codec.
/// A finished artifact still at its `.tmp` path: (tmp, final path, key).
pub(crate) type Finished = (PathBuf, PathBuf, String);

pub(crate) struct Artifact {
    key: String,
    tmp: PathBuf,
    path: PathBuf,
    encoder: Encoder,
}

enum Encoder {
    Plain(BufWriter<WriteBehind>),
    Gzip(flate2::write::GzEncoder<BufWriter<WriteBehind>>),
    Zstd(zstd::Encoder<'static, BufWriter<WriteBehind>>),
}

impl Artifact {
    /// Starts `name` (with the codec's suffix) under `root`, at `<path>.tmp`.
    ///
    /// # Errors
    /// [`Error::Io`]; [`Error::InvalidConfig`] for a codec this build cannot write.
    pub(crate) fn create(root: &std::path::Path, name: &str, codec: Option<&str>) -> Result<Artifact> {
        let key = artifact_key(name, codec);
        let path = root.join(&key);
        let tmp = root.join(format!("{key}.tmp"));
        let io = |e| Error::Io(tmp.display().to_string(), e);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::Io(parent.display().to_string(), e))?;
        }
        let file = BufWriter::with_capacity(1 << 16, WriteBehind::new(File::create(&tmp).map_err(io)?));
        let encoder = match codec {
            None => Encoder::Plain(file),
            Some("gz") => Encoder::Gzip(flate2::write::GzEncoder::new(file, flate2::Compression::default())),
            Some("zst") => Encoder::Zstd(zstd::Encoder::new(file, 3).map_err(io)?),
            Some(other) => {
                return Err(Error::InvalidConfig(format!(
                    "compression `{other}` is not supported yet (use gz or zst)"
                )));
            }
        };
        Ok(Artifact { key, tmp, path, encoder })
    }

    /// Appends bytes (compressed on the way).
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<()> {
        let result = match &mut self.encoder {
            Encoder::Plain(w) => w.write_all(bytes),
            Encoder::Gzip(w) => w.write_all(bytes),
            Encoder::Zstd(w) => w.write_all(bytes),
        };
        result.map_err(|e| Error::Io(self.tmp.display().to_string(), e))
    }

    /// Completes the encoding; the file stays at `.tmp` until [`publish`] moves it: (tmp, path, key).
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub(crate) fn finish(self) -> Result<Finished> {
        let io = |e| Error::Io(self.tmp.display().to_string(), e);
        let mut file = match self.encoder {
            Encoder::Plain(w) => w,
            Encoder::Gzip(w) => w.finish().map_err(io)?,
            Encoder::Zstd(w) => w.finish().map_err(io)?,
        };
        file.flush().map_err(io)?;
        Ok((self.tmp, self.path, self.key))
    }
}

/// Moves finished artifacts into place; returns their keys.
///
/// # Errors
/// [`Error::Io`] naming the file.
pub(crate) fn publish(files: Vec<Finished>) -> Result<Vec<String>> {
    let mut keys = Vec::new();
    for (tmp, path, key) in files {
        std::fs::rename(&tmp, &path).map_err(|e| Error::Io(path.display().to_string(), e))?;
        keys.push(key);
    }
    Ok(keys)
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
        self.writer.write_record(fields).map_err(|e| Error::Io(self.name.into(), std::io::Error::other(e)))
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
