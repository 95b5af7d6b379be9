//! One object in a store, read or written by synchronous code: a command's `-i` and `-o` when
//! they name an object (`s3://bucket/in.ftm.json`), `configure -c` from a bucket, and exported
//! artifacts read back from a lake in a bucket (spec `interfaces.md` §1.2: `-i`/`-o` take any
//! store URI).
//!
//! Reads fetch the object as a stream, a chunk at a time; writes go out as an [`Upload`],
//! published by [`ObjectWriter::finish`]. Both block the calling thread while they wait for the
//! store, so they must run on a multi-threaded Tokio runtime (or on a thread of its blocking
//! pool), where waiting is handed to [`tokio::task::block_in_place`]; elsewhere they fail with
//! an error saying so.

use std::io::{Read, Write};
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use tokio::runtime::{Handle, RuntimeFlavor};
use url::Url;

use super::backends::{REMOTE_SCHEMES, bucket_store, register_with_delta};
use super::upload::{PART_BYTES, Upload};
use crate::error::{Error, Result};

/// Whether `uri` names an object in a store (its scheme is one of a bucket's), not a local file.
pub fn is_object_url(uri: &str) -> bool {
    uri.split_once("://").is_some_and(|(scheme, _)| REMOTE_SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()))
}

/// The store of the bucket `uri` names and the object's path in it.
///
/// # Errors
/// [`Error::InvalidUri`] for a URI that is not an object's.
pub fn object(uri: &str) -> Result<(Arc<dyn ObjectStore>, Path)> {
    let url = Url::parse(uri).map_err(|e| Error::InvalidUri(uri.to_string(), format!("not a URL: {e}")))?;
    register_with_delta();
    let (store, path) = bucket_store(&url)?;
    if path.as_ref().is_empty() {
        return Err(Error::InvalidUri(uri.to_string(), "names a bucket, not an object".into()));
    }
    Ok((store, path))
}

/// Whether the object `path` exists in `store`.
///
/// # Errors
/// [`Error::Storage`] for any failure but "not found".
pub async fn exists(store: &dyn ObjectStore, path: &Path) -> Result<bool> {
    match store.head(path).await {
        Ok(_) => Ok(true),
        Err(object_store::Error::NotFound { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Deletes the object `path` of `store`; returns whether it was there.
///
/// # Errors
/// [`Error::Storage`] for any failure but "not found".
pub async fn delete(store: &dyn ObjectStore, path: &Path) -> Result<bool> {
    match store.delete(path).await {
        Ok(()) => Ok(true),
        Err(object_store::Error::NotFound { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Creates the object `path` of `store` with `payload` if it is absent (a conditional put,
/// atomic on disk and on object stores that support it); returns whether it was created.
///
/// # Errors
/// [`Error::Storage`] for any failure but "already exists".
pub async fn create(store: &dyn ObjectStore, path: &Path, payload: PutPayload) -> Result<bool> {
    let options = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
    match store.put_opts(path, payload, options).await {
        Ok(_) => Ok(true),
        Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Waits for `future` on the calling thread, which must belong to a multi-threaded Tokio
/// runtime.
fn wait<F: std::future::Future>(future: F) -> std::io::Result<F::Output> {
    let runtime = Handle::try_current().ok().filter(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread);
    let runtime = runtime.ok_or_else(|| std::io::Error::other("object I/O needs a multi-threaded Tokio runtime"))?;
    Ok(tokio::task::block_in_place(|| runtime.block_on(future)))
}

/// An object's bytes, as a [`Read`].
pub struct ObjectReader {
    chunks: BoxStream<'static, std::io::Result<Bytes>>,
    chunk: Bytes,
}

impl ObjectReader {
    /// Opens the object at `path` in `store`.
    ///
    /// # Errors
    /// [`Error::NotFound`] naming `shown` when there is none; [`Error::Storage`].
    pub async fn open(store: &dyn ObjectStore, path: &Path, shown: &str) -> Result<ObjectReader> {
        let got = match store.get(path).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => return Err(Error::NotFound(shown.to_string())),
            Err(e) => return Err(e.into()),
        };
        Ok(ObjectReader::from_stream(got.into_stream().map_err(std::io::Error::other).boxed()))
    }

    /// Reads the chunks of `stream` (an archive blob, say) in order.
    pub fn from_stream(stream: BoxStream<'static, std::io::Result<Bytes>>) -> ObjectReader {
        ObjectReader { chunks: stream, chunk: Bytes::new() }
    }

    /// Opens the object `uri` names, from synchronous code.
    ///
    /// # Errors
    /// As [`object`] and [`ObjectReader::open`].
    pub fn open_url(uri: &str) -> Result<ObjectReader> {
        let (store, path) = object(uri)?;
        wait(ObjectReader::open(store.as_ref(), &path, uri)).map_err(|e| Error::Io(uri.to_string(), e))?
    }
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match wait(self.chunks.next())? {
                None => return Ok(0),
                Some(chunk) => self.chunk = chunk?,
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

/// An object being written, as a [`Write`]; it appears at [`ObjectWriter::finish`] (an unfinished
/// writer publishes nothing).
pub struct ObjectWriter {
    upload: Upload,
    buffer: Vec<u8>,
}

impl ObjectWriter {
    /// A writer of the object `uri` names.
    ///
    /// # Errors
    /// As [`object`].
    pub fn create(uri: &str) -> Result<ObjectWriter> {
        let (store, path) = object(uri)?;
        Ok(ObjectWriter { upload: Upload::new(store, path), buffer: Vec::new() })
    }

    /// Sends what is buffered and publishes the object.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn finish(mut self) -> Result<()> {
        let bytes = std::mem::take(&mut self.buffer);
        let shown = self.upload.path().to_string();
        wait(async move {
            self.upload.write(&bytes).await?;
            self.upload.finish().await?.publish().await
        })
        .map_err(|e| Error::Io(shown, e))?
    }
}

impl Write for ObjectWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= PART_BYTES {
            let full = std::mem::take(&mut self.buffer);
            wait(self.upload.write(&full))?.map_err(std::io::Error::other)?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn write_then_read_back() {
        let uri = "memory://object-io-test/dir/out.json";
        let bytes: Vec<u8> = (0..PART_BYTES + 1000).map(|i| (i % 253) as u8).collect();
        let mut writer = ObjectWriter::create(uri).unwrap();
        for chunk in bytes.chunks(4096) {
            writer.write_all(chunk).unwrap();
        }
        let err = ObjectReader::open_url(uri).err();
        assert!(matches!(&err, Some(Error::NotFound(m)) if m == uri), "nothing before finish: {err:?}");
        writer.finish().unwrap();
        let mut back = Vec::new();
        ObjectReader::open_url(uri).unwrap().read_to_end(&mut back).unwrap();
        assert!(back == bytes);
        let err = ObjectReader::open_url("memory://object-io-test/missing.json").err().unwrap().to_string();
        assert!(err.contains("missing.json"), "{err}");
        let err = object("memory://object-io-test").err();
        assert!(
            matches!(&err, Some(Error::InvalidUri(u, why)) if u == "memory://object-io-test" && why == "names a bucket, not an object"),
            "a bucket is not an object: {err:?}"
        );
        assert!(is_object_url("s3://b/k") && !is_object_url("/tmp/x") && !is_object_url("https://h/x"));
    }
}
