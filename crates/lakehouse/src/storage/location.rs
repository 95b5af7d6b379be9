//! Where a lake, a dataset or a table lives: a local folder, or a prefix in an object store
//! (spec `storage-format.md` §1; `interfaces.md` §1.2, §4: `LAKEHOUSE_URI`, `--uri` and
//! `--dataset-uri` take any of these).
//!
//! * a local path (`/srv/lake`, `./data`) or a `file://` URL: a folder, made absolute against
//!   the working directory, created when a store is first opened in it;
//! * `s3://bucket/prefix`, `gs://…`, `az://container/prefix`, `abfs[s]://…`, `memory://name/…`:
//!   a prefix in the bucket's store ([`backends`](super::backends)), which needs no folder;
//! * `http(s)://host[:port][/prefix]`: a lake served by a lakehouse server ("api mode",
//!   [`remote`](super::remote)): objects through its blob protocol, the rest through its API
//!   ([`Location::served`]).
//!
//! Keys below a location are `/`-separated object paths either way, so every store of the
//! storage layer works on both through [`Location::object_store`]. What only a local folder can
//! do (hand a file to the kernel's page cache, read a file in place) asks for
//! [`Location::local_path`].

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use url::Url;

use super::backends::{REMOTE_SCHEMES, bucket_store, register_with_delta};
use super::remote::{ApiClient, BlobStore};
use crate::error::{Error, Result};
use crate::settings::Settings;

/// A lake, dataset or table root.
#[derive(Debug, Clone)]
pub struct Location {
    url: Url,
    place: Place,
    /// The client of a served lake (`http(s)://`), shared by its children.
    served: Option<Arc<ApiClient>>,
}

#[derive(Debug, Clone)]
enum Place {
    /// An absolute local folder.
    Local(PathBuf),
    /// A prefix (no leading or trailing `/`, empty at the bucket's root) in a bucket's store.
    Remote { bucket: Arc<dyn ObjectStore>, prefix: Path },
}

impl PartialEq for Location {
    fn eq(&self, other: &Location) -> bool {
        self.url == other.url
    }
}

impl Eq for Location {}

impl Location {
    /// Parses a local path, a `file://` URL or an object store URL (see the module docs). Local
    /// folders need not exist yet; no remote store is contacted.
    ///
    /// # Errors
    /// [`Error::InvalidUri`] for an unknown scheme, an unusable path, or a URL its store
    /// refuses; [`Error::InvalidSetting`] for a served lake when `LAKEHOUSE_API_KEY` or
    /// `LAKEHOUSE_API_SECRET` (read from the environment) cannot be sent.
    pub fn parse(uri: &str) -> Result<Location> {
        let invalid = |why: &str| Error::InvalidUri(uri.to_string(), why.to_string());
        if let Some(rest) = uri.strip_prefix("file://") {
            let path = Url::parse(&format!("file://{rest}"))
                .ok()
                .and_then(|u| u.to_file_path().ok())
                .ok_or_else(|| invalid("not a valid file:// URL"))?;
            return Location::folder(path);
        }
        let Some((scheme, _)) = uri.split_once("://") else {
            return Location::folder(std::path::absolute(uri).map_err(|_| invalid("not a usable path"))?);
        };
        let scheme = scheme.to_ascii_lowercase();
        if scheme == "http" || scheme == "https" {
            let mut url = Url::parse(uri).map_err(|e| invalid(&format!("not a URL: {e}")))?;
            if url.host_str().is_none_or(str::is_empty) || url.query().is_some() {
                return Err(invalid("a served lake is http(s)://host[:port][/prefix]"));
            }
            if !url.path().ends_with('/') {
                url.set_path(&format!("{}/", url.path()));
            }
            let client = Arc::new(ApiClient::new(&Settings::from_env()?)?);
            let bucket: Arc<dyn ObjectStore> = Arc::new(BlobStore::new(client.clone(), url.clone()));
            return Ok(Location {
                url,
                place: Place::Remote { bucket, prefix: Path::default() },
                served: Some(client),
            });
        }
        if !REMOTE_SCHEMES.contains(&scheme.as_str()) {
            return Err(invalid(&format!(
                "unknown scheme `{scheme}://`: use a local path, file://, s3://, gs://, az://, abfs[s]:// or memory://"
            )));
        }
        let mut url = Url::parse(uri).map_err(|e| invalid(&format!("not a URL: {e}")))?;
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid("no bucket (or container) after the scheme"));
        }
        if !url.path().ends_with('/') {
            url.set_path(&format!("{}/", url.path()));
        }
        register_with_delta();
        let (bucket, prefix) = bucket_store(&url)?;
        Ok(Location { url, place: Place::Remote { bucket, prefix }, served: None })
    }

    fn folder(path: PathBuf) -> Result<Location> {
        let url = Url::from_directory_path(&path)
            .map_err(|()| Error::InvalidUri(path.display().to_string(), "not an absolute path".into()))?;
        Ok(Location { url, place: Place::Local(path), served: None })
    }

    /// A location at a local folder.
    ///
    /// # Errors
    /// [`Error::InvalidUri`] for an unusable path.
    pub fn local(path: impl AsRef<FsPath>) -> Result<Location> {
        Location::folder(
            std::path::absolute(path.as_ref())
                .map_err(|_| Error::InvalidUri(path.as_ref().display().to_string(), "not a usable path".into()))?,
        )
    }

    /// The child location `name` (a dataset of a catalog, the table of a dataset); `name` is one
    /// or more `/`-separated segments.
    pub fn child(&self, name: &str) -> Location {
        let url = self.url.join(&format!("{name}/")).expect("a relative path joins");
        let place = match &self.place {
            Place::Local(path) => Place::Local(path.join(name)),
            Place::Remote { bucket, prefix } => {
                let prefix = name.split('/').fold(prefix.clone(), |p, segment| p.join(segment));
                Place::Remote { bucket: bucket.clone(), prefix }
            }
        };
        Location { url, place, served: self.served.clone() }
    }

    /// The client of a lake served over HTTP (api mode), `None` for every other location.
    pub fn served(&self) -> Option<&Arc<ApiClient>> {
        self.served.as_ref()
    }

    /// The local folder, `None` for an object store.
    pub fn local_path(&self) -> Option<&FsPath> {
        match &self.place {
            Place::Local(path) => Some(path),
            Place::Remote { .. } => None,
        }
    }

    /// Whether this is a local folder.
    pub fn is_local(&self) -> bool {
        matches!(self.place, Place::Local(_))
    }

    /// This location read as one object of a bucket: the bucket's store, the object's path in
    /// it and its name (the last segment, decoded); `None` for a local folder or a bucket's
    /// root.
    pub fn as_object(&self) -> Option<(Arc<dyn ObjectStore>, Path, String)> {
        let Place::Remote { bucket, prefix } = &self.place else {
            return None;
        };
        let name = prefix.filename()?;
        let name = percent_encoding::percent_decode_str(name).decode_utf8_lossy().into_owned();
        Some((bucket.clone(), prefix.clone(), name))
    }

    /// The URL, with a trailing slash (`file:///srv/lake/`, `s3://bucket/lake/`).
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// An object store rooted here. A local folder is created if missing; a remote one is a
    /// view of its bucket's client.
    ///
    /// # Errors
    /// [`Error::Io`] if the folder cannot be created; [`Error::Storage`].
    pub fn object_store(&self) -> Result<Arc<dyn ObjectStore>> {
        match &self.place {
            Place::Local(path) => {
                std::fs::create_dir_all(path).map_err(|e| Error::Io(path.display().to_string(), e))?;
                Ok(Arc::new(LocalFileSystem::new_with_prefix(path)?))
            }
            Place::Remote { bucket, prefix } if prefix.as_ref().is_empty() => Ok(bucket.clone()),
            Place::Remote { bucket, prefix } => Ok(Arc::new(PrefixStore::new(bucket.clone(), prefix.clone()))),
        }
    }
}

impl std::fmt::Display for Location {
    /// A local folder as its path, anything else as its URL.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.place {
            Place::Local(path) => write!(f, "{}", path.display()),
            Place::Remote { .. } => write!(f, "{}", self.url.as_str().trim_end_matches('/')),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::{ObjectStoreExt, PutPayload};

    #[test]
    fn parse_forms() {
        let abs = Location::parse("/tmp/lake").unwrap();
        assert_eq!(abs.local_path(), Some(FsPath::new("/tmp/lake")));
        assert_eq!(Location::parse("file:///tmp/lake").unwrap(), abs);
        assert_eq!(abs.child("ds").url().as_str(), "file:///tmp/lake/ds/");
        assert!(Location::parse("data").unwrap().local_path().unwrap().is_absolute());
        let s3 = Location::parse("s3://bucket/lake").unwrap();
        assert_eq!(s3.child("ds").child("statements").url().as_str(), "s3://bucket/lake/ds/statements/");
        assert_eq!(s3.to_string(), "s3://bucket/lake");
        assert!(!s3.is_local() && s3.local_path().is_none());
        let served = Location::parse("http://127.0.0.1:8000/lake").unwrap();
        assert_eq!(served.child("ds").url().as_str(), "http://127.0.0.1:8000/lake/ds/");
        assert!(served.child("ds").served().is_some() && s3.served().is_none());
        for bad in ["ftp://host/x", "https://", "http://host/lake?x=1", "s3:///no-bucket"] {
            let err = Location::parse(bad).unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
    }

    #[tokio::test]
    async fn children_share_the_bucket() {
        let lake = Location::parse("memory://location-test/lake").unwrap();
        let ds = lake.child("ds");
        ds.object_store().unwrap().put(&Path::from("config.yml"), PutPayload::from_static(b"x")).await.unwrap();
        let bucket = Location::parse("memory://location-test").unwrap().object_store().unwrap();
        let bytes = bucket.get(&Path::from("lake/ds/config.yml")).await.unwrap().bytes().await.unwrap();
        assert_eq!(bytes.as_ref(), b"x");
    }
}
