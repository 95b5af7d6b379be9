//! The object stores behind remote lake URIs: one client per bucket (or container, or memory
//! store), built from the standard environment of its cloud and kept for the life of the
//! process, and made known to delta-rs so that the statement table of a lake in a bucket is
//! read and committed through the same client.
//!
//! | scheme | store | configured by |
//! |---|---|---|
//! | `s3://`, `s3a://` | Amazon S3 and S3-compatible servers | `AWS_*` (`AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`, `AWS_REGION`, keys, …) |
//! | `gs://` | Google Cloud Storage | `GOOGLE_*` (`GOOGLE_SERVICE_ACCOUNT`, `GOOGLE_BASE_URL`, …) |
//! | `az://`, `azure://`, `abfs://`, `abfss://` | Azure Blob Storage | `AZURE_*` (`AZURE_STORAGE_ACCOUNT_NAME`, `AZURE_STORAGE_USE_EMULATOR`, …) |
//! | `memory://` | a store in this process's memory, one per name (tests, dry runs) | nothing |
//!
//! The variables are those `object_store` reads (and delta-rs passes on), so a lake configured
//! for the reference (which hands `AWS_*` to delta-rs) is configured for this one.
//!
//! Writers exclude each other with conditional creates (`If-None-Match: *` on S3 and Azure,
//! `ifGenerationMatch=0` on GCS): the write fence's markers and every Delta commit are created
//! only if absent, so two machines committing the same table version cannot both succeed. On
//! S3 this needs a server that honours `If-None-Match` on `PUT` (AWS since 2024, and most
//! S3-compatible servers); one that ignores it would let two concurrent commits overwrite each
//! other, as the reference's lakes on such servers do.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, Once, PoisonError};

use deltalake::DeltaResult;
use deltalake::logstore::{
    LogStore, LogStoreFactory, ObjectStoreFactory, ObjectStoreRef, StorageConfig, default_logstore, logstore_factories,
    object_store_factories,
};
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::http::HttpBuilder;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ClientOptions, ObjectStore};
use url::Url;

use crate::error::{Error, Result};

/// The schemes of remote stores, as [`Location`](super::Location) accepts them.
pub const REMOTE_SCHEMES: [&str; 8] = ["s3", "s3a", "gs", "az", "azure", "abfs", "abfss", "memory"];

/// The clients built so far, by `scheme://authority`.
static STORES: LazyLock<Mutex<HashMap<String, Arc<dyn ObjectStore>>>> = LazyLock::new(Default::default);

/// The bucket (container, memory store) part of `url`: `scheme://authority`.
fn bucket_key(url: &Url) -> String {
    format!("{}://{}", url.scheme(), url.authority())
}

/// The store of the bucket `url` names, rooted at the bucket, and the path of `url` inside it.
/// Built on first use from the environment; later calls get the same client.
///
/// # Errors
/// [`Error::InvalidUri`] for a scheme this build does not know, or a URL its store refuses (no
/// bucket, a malformed account).
pub fn bucket_store(url: &Url) -> Result<(Arc<dyn ObjectStore>, Path)> {
    let path = Path::from_url_path(url.path())
        .map_err(|_| Error::InvalidUri(url.to_string(), "a path segment is not valid in an object store".into()))?;
    let key = bucket_key(url);
    let mut stores = STORES.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(store) = stores.get(&key) {
        return Ok((store.clone(), path));
    }
    let refused = |e: object_store::Error| Error::InvalidUri(url.to_string(), e.to_string());
    let store: Arc<dyn ObjectStore> = match url.scheme() {
        "s3" | "s3a" => Arc::new(AmazonS3Builder::from_env().with_url(url.as_str()).build().map_err(refused)?),
        "gs" => Arc::new(GoogleCloudStorageBuilder::from_env().with_url(url.as_str()).build().map_err(refused)?),
        "az" | "azure" | "abfs" | "abfss" => {
            Arc::new(MicrosoftAzureBuilder::from_env().with_url(url.as_str()).build().map_err(refused)?)
        }
        "memory" => Arc::new(InMemory::new()),
        _ => return Err(Error::InvalidUri(url.to_string(), "not an object store URL".into())),
    };
    stores.insert(key, store.clone());
    Ok((store, path))
}

/// The file an `http(s)://` URL names: a store of the folder it is in, the file's path in that
/// store and its name (decoded). The URL's query, if any, is not kept.
///
/// # Errors
/// [`Error::InvalidUri`] for a URL without a file name, or one the HTTP client refuses.
pub fn http_file(uri: &str) -> Result<(Arc<dyn ObjectStore>, Path, String)> {
    let invalid = |why: &str| Error::InvalidUri(uri.to_string(), why.to_string());
    let url = Url::parse(uri).map_err(|e| invalid(&format!("not a URL: {e}")))?;
    let name = url.path_segments().and_then(|mut s| s.next_back()).filter(|n| !n.is_empty());
    let name = name.ok_or_else(|| invalid("an http(s) source is one file: give its URL"))?.to_string();
    let mut folder = url.clone();
    folder.set_query(None);
    folder.set_fragment(None);
    folder.path_segments_mut().map_err(|()| invalid("not a file URL"))?.pop().push("");
    let options = ClientOptions::new().with_allow_http(url.scheme() == "http");
    let store = HttpBuilder::new().with_url(folder.as_str()).with_client_options(options).build();
    let store: Arc<dyn ObjectStore> = Arc::new(store.map_err(|e| invalid(&e.to_string()))?);
    let path = Path::from_url_path(&name).map_err(|e| invalid(&e.to_string()))?;
    let name = percent_encoding::percent_decode_str(&name).decode_utf8_lossy().into_owned();
    Ok((store, path, name))
}

/// Hands delta-rs the clients of [`bucket_store`] for the remote schemes, with its default log
/// store, which commits with a conditional create. Idempotent.
pub fn register_with_delta() {
    static REGISTERED: Once = Once::new();
    REGISTERED.call_once(|| {
        for scheme in REMOTE_SCHEMES {
            let url = Url::parse(&format!("{scheme}://")).expect("a scheme is a URL");
            object_store_factories().insert(url.clone(), Arc::new(Buckets));
            logstore_factories().insert(url, Arc::new(Buckets));
        }
    });
}

/// The factory delta-rs asks for the stores and log stores of remote tables.
struct Buckets;

impl ObjectStoreFactory for Buckets {
    fn parse_url_opts(&self, url: &Url, _config: &StorageConfig) -> DeltaResult<(ObjectStoreRef, Path)> {
        bucket_store(url).map_err(|e| deltalake::DeltaTableError::Generic(e.to_string()))
    }
}

impl LogStoreFactory for Buckets {
    fn with_options(
        &self,
        prefixed_store: ObjectStoreRef,
        root_store: ObjectStoreRef,
        location: &Url,
        options: &StorageConfig,
    ) -> DeltaResult<Arc<dyn LogStore>> {
        Ok(default_logstore(prefixed_store, root_store, location, options))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_client_per_bucket() {
        let a = Url::parse("memory://backends-test/lake/ds").unwrap();
        let b = Url::parse("memory://backends-test/other").unwrap();
        let (store_a, path_a) = bucket_store(&a).unwrap();
        let (store_b, path_b) = bucket_store(&b).unwrap();
        assert!(Arc::ptr_eq(&store_a, &store_b), "one memory store per name");
        assert_eq!((path_a.as_ref(), path_b.as_ref()), ("lake/ds", "other"));
        let (store_c, _) = bucket_store(&Url::parse("memory://another/x").unwrap()).unwrap();
        assert!(!Arc::ptr_eq(&store_a, &store_c));
        let err = bucket_store(&Url::parse("ftp://host/x").unwrap()).err();
        assert!(
            matches!(&err, Some(Error::InvalidUri(u, why)) if u == "ftp://host/x" && why == "not an object store URL"),
            "{err:?}"
        );
    }
}
