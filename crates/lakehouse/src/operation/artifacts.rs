//! Published artifacts (exports) of a dataset: their keys with the dataset's codec, and reading
//! them back decompressed (spec `exports-and-operations.md` §1.2; `entities stream`,
//! `statements stream`).

use std::fs::File;
use std::io::{BufReader, Read};

use crate::error::{Error, Result};
use crate::repository::{Dataset, DatasetConfig};

/// The entities export.
pub const ENTITIES: &str = "entities.ftm.json";
/// The statements export.
pub const STATEMENTS: &str = "exports/statements.csv";

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
