//! Large objects written to an object store in parts and published only when whole: the
//! counterpart, in a bucket, of a local file assembled under a temporary name and renamed.
//!
//! Bytes are gathered into parts of [`PART_BYTES`]; from the first full part on they go out as a
//! multipart upload, a few parts in flight at a time, so memory stays bounded whatever the
//! object's size. [`Upload::finish`] sends the last part and waits for the others; the object
//! appears only at [`Staged::publish`], when the upload is completed (an object smaller than one
//! part is written with a single `PUT` then). Until then readers see the previous object, if
//! any. An upload that fails, or is dropped unpublished, is aborted so that the store frees its
//! parts (on a Tokio runtime; where the abort cannot be sent, S3 and GCS free them only with a
//! lifecycle rule for incomplete uploads, Azure after a week).

use std::sync::Arc;

use object_store::path::Path;
use object_store::{MultipartUpload, ObjectStore, ObjectStoreExt, PutPayload};
use tokio::task::JoinSet;

use crate::error::{Error, Result};

/// Bytes per part (S3 wants at least 5 MiB for every part but the last).
pub const PART_BYTES: usize = 8 << 20;

/// Parts sent at once; a writer waits beyond this.
const PARTS_IN_FLIGHT: usize = 4;

/// An object being written.
pub struct Upload {
    store: Arc<dyn ObjectStore>,
    path: Path,
    /// Bytes not sent yet.
    buffer: Vec<u8>,
    /// The multipart upload, from the first full part on.
    parts: Option<Box<dyn MultipartUpload>>,
    sending: JoinSet<object_store::Result<()>>,
}

/// A finished [`Upload`], not visible yet; dropped unpublished, it is aborted.
pub struct Staged {
    store: Arc<dyn ObjectStore>,
    path: Path,
    /// `None` once published or aborted.
    state: Option<StagedState>,
}

enum StagedState {
    /// Smaller than a part: written whole at publish.
    Small(Vec<u8>),
    /// Every part sent: completed at publish.
    Parts(Box<dyn MultipartUpload>),
}

impl Upload {
    /// An upload of `path` in `store`. Nothing is sent before the first full part.
    pub fn new(store: Arc<dyn ObjectStore>, path: Path) -> Upload {
        Upload { store, path, buffer: Vec::new(), parts: None, sending: JoinSet::new() }
    }

    /// The object's path, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `bytes`, sending every part that fills.
    ///
    /// # Errors
    /// [`Error::Storage`] if starting the upload or a part failed.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.buffer.extend_from_slice(bytes);
        while self.buffer.len() >= PART_BYTES {
            let rest = self.buffer.split_off(PART_BYTES);
            let part = std::mem::replace(&mut self.buffer, rest);
            self.send(part).await?;
        }
        Ok(())
    }

    async fn send(&mut self, part: Vec<u8>) -> Result<()> {
        if self.parts.is_none() {
            self.parts = Some(self.store.put_multipart(&self.path).await?);
        }
        let upload = self.parts.as_mut().expect("started above");
        self.sending.spawn(upload.put_part(PutPayload::from(part)));
        while self.sending.len() >= PARTS_IN_FLIGHT {
            self.joined_one().await?;
        }
        Ok(())
    }

    /// Waits for one part in flight; `false` when none was.
    async fn joined_one(&mut self) -> Result<bool> {
        match self.sending.join_next().await {
            None => Ok(false),
            Some(joined) => {
                joined.map_err(Error::task("upload"))??;
                Ok(true)
            }
        }
    }

    /// Sends what is left and waits for every part; the object is published by
    /// [`Staged::publish`].
    ///
    /// # Errors
    /// [`Error::Storage`] if a part failed (the upload is then aborted).
    pub async fn finish(mut self) -> Result<Staged> {
        let sent = async {
            if self.parts.is_some() && !self.buffer.is_empty() {
                let last = std::mem::take(&mut self.buffer);
                self.send(last).await?;
            }
            while self.joined_one().await? {}
            Ok(())
        }
        .await;
        if let Err(e) = sent {
            if let Some(mut parts) = self.parts.take() {
                parts.abort().await.ok();
            }
            return Err(e);
        }
        let state = match self.parts.take() {
            Some(parts) => StagedState::Parts(parts),
            None => StagedState::Small(std::mem::take(&mut self.buffer)),
        };
        Ok(Staged { store: self.store.clone(), path: self.path.clone(), state: Some(state) })
    }
}

/// Sends the abort of a multipart upload that will not be completed, if a runtime is there to
/// send it.
fn abort_in_background(mut parts: Box<dyn MultipartUpload>) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move { parts.abort().await.ok() });
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        self.sending.abort_all();
        if let Some(parts) = self.parts.take() {
            abort_in_background(parts);
        }
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if let Some(StagedState::Parts(parts)) = self.state.take() {
            abort_in_background(parts);
        }
    }
}

impl Staged {
    /// Makes the object visible, replacing any previous one.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub async fn publish(mut self) -> Result<()> {
        match self.state.take() {
            Some(StagedState::Small(bytes)) => {
                self.store.put(&self.path, PutPayload::from(bytes)).await?;
            }
            Some(StagedState::Parts(mut parts)) => {
                if let Err(e) = parts.complete().await {
                    parts.abort().await.ok();
                    return Err(e.into());
                }
            }
            None => {}
        }
        Ok(())
    }

    /// The object's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    #[tokio::test]
    async fn visible_only_when_published() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        for size in [0, 10, PART_BYTES, 3 * PART_BYTES + 17] {
            let path = Path::from(format!("exports/{size}.csv"));
            let bytes: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let mut upload = Upload::new(store.clone(), path.clone());
            for chunk in bytes.chunks(1 << 20) {
                upload.write(chunk).await.unwrap();
            }
            let staged = upload.finish().await.unwrap();
            let head = store.head(&path).await;
            assert!(
                matches!(head, Err(object_store::Error::NotFound { .. })),
                "{size}: not visible before publish: {head:?}"
            );
            staged.publish().await.unwrap();
            let read = store.get(&path).await.unwrap().bytes().await.unwrap();
            assert_eq!(read.len(), size);
            assert!(read.as_ref() == bytes.as_slice(), "{size}: same bytes");
        }
    }
}
