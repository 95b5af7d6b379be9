//! Where a dataset lives: its root URL and an object store rooted there.
//!
//! Local folders only for now (`/path`, `./path` or `file:///path`); S3, GCS and Azure come with
//! the remote storage work. Keys below the root are POSIX paths (spec `storage-format.md` §1).

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use url::Url;

use crate::error::{Error, Result};

/// The root of one dataset (or of the catalog).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    path: PathBuf,
}

impl Location {
    /// Parses a local path or `file://` URL; relative paths are made absolute against the
    /// working directory. The folder need not exist yet.
    ///
    /// # Errors
    /// [`Error::InvalidUri`] for another scheme or an unusable path.
    pub fn parse(uri: &str) -> Result<Location> {
        let path = if let Some(rest) = uri.strip_prefix("file://") {
            Url::parse(&format!("file://{rest}"))
                .ok()
                .and_then(|u| u.to_file_path().ok())
                .ok_or_else(|| Error::InvalidUri(uri.to_string(), "not a valid file:// URL"))?
        } else if uri.contains("://") {
            return Err(Error::InvalidUri(uri.to_string(), "only local paths and file:// URLs are supported yet"));
        } else {
            std::path::absolute(uri).map_err(|_| Error::InvalidUri(uri.to_string(), "not a usable path"))?
        };
        Ok(Location { path })
    }

    /// A location at a local folder.
    pub fn local(path: impl AsRef<FsPath>) -> Result<Location> {
        Location::parse(&path.as_ref().to_string_lossy())
    }

    /// The child location `name` (a dataset of a catalog, the table of a dataset).
    pub fn child(&self, name: &str) -> Location {
        Location { path: self.path.join(name) }
    }

    /// The local folder.
    pub fn path(&self) -> &FsPath {
        &self.path
    }

    /// The `file://` URL of the folder, with a trailing slash.
    pub fn url(&self) -> Url {
        Url::from_directory_path(&self.path).expect("absolute path")
    }

    /// An object store rooted at this location (the folder is created if missing).
    ///
    /// # Errors
    /// [`Error::Storage`] if the folder cannot be created.
    pub fn object_store(&self) -> Result<Arc<dyn ObjectStore>> {
        std::fs::create_dir_all(&self.path).map_err(|e| Error::Io(self.path.display().to_string(), e))?;
        Ok(Arc::new(LocalFileSystem::new_with_prefix(&self.path)?))
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.path.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_forms() {
        let abs = Location::parse("/tmp/lake").unwrap();
        assert_eq!(abs.path(), FsPath::new("/tmp/lake"));
        assert_eq!(Location::parse("file:///tmp/lake").unwrap(), abs);
        assert_eq!(abs.child("ds").url().as_str(), "file:///tmp/lake/ds/");
        assert!(Location::parse("data").unwrap().path().is_absolute());
        assert!(Location::parse("s3://bucket/lake").is_err());
    }
}
