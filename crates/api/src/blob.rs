//! The blob protocol (spec `interfaces.md` §3.5): every path outside `/{dataset}/_api/` is a key
//! below the lake root. `GET`/`HEAD` read an object, `PUT` writes one (streamed, published
//! whole), `DELETE` removes one, `QUERY` on a folder (a trailing slash) lists the keys below
//! it. This is how api-mode clients read and write configs, tags, versions, job records,
//! archive blobs and exports.
//!
//! Keys are checked before anything is touched: no empty, `.` or `..` segment, no backslash or
//! NUL, at most 32 segments (the blob server's `PUTFS_MAX_PATH_DEPTH`); else 400. Archive
//! blobs (`{dataset}/archive/ab/cd/ef/{checksum}/blob`) are content-addressed, so they are
//! written once (a second `PUT` answers 204 and changes nothing) and their bytes must hash to
//! the checksum in the key (else 400 and nothing is stored), which the reference's server does
//! only when configured to.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::{StreamExt, TryStreamExt};
use lakehouse::model::DatasetName;
use lakehouse::storage::zfs::Zfs;
use object_store::ObjectStoreExt;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use sha1::Digest;
use tokio::io::AsyncWriteExt;

use crate::error::{ApiError, ApiResult};
use crate::state;

/// Most segments a key may have.
const MAX_DEPTH: usize = 32;

/// A checked key: its segments, and whether it names a folder (trailing slash, or the root).
struct Key {
    segments: Vec<String>,
    folder: bool,
}

impl Key {
    /// The key of a request path (percent-encoded, with its leading slash).
    fn parse(path: &str) -> ApiResult<Key> {
        let decoded = percent_encoding::percent_decode_str(path)
            .decode_utf8()
            .map_err(|_| ApiError::BadRequest(format!("Invalid path {path:?}: not UTF-8")))?;
        let trimmed = decoded.trim_start_matches('/');
        let folder = trimmed.is_empty() || trimmed.ends_with('/');
        let body = trimmed.trim_end_matches('/');
        let segments: Vec<String> =
            if body.is_empty() { Vec::new() } else { body.split('/').map(str::to_string).collect() };
        let bad = |why: &str| ApiError::BadRequest(format!("Invalid path {decoded:?}: {why}"));
        if segments.len() > MAX_DEPTH {
            return Err(bad("too deep"));
        }
        for segment in &segments {
            if segment.is_empty() || segment == "." || segment == ".." {
                return Err(bad("empty, `.` or `..` segment"));
            }
            if segment.contains(['\\', '\0']) {
                return Err(bad("backslash or NUL"));
            }
        }
        Ok(Key { segments, folder })
    }

    fn path(&self) -> Path {
        Path::from_iter(self.segments.iter().map(String::as_str))
    }

    /// The checksum of an archive blob key.
    fn archive_checksum(&self) -> Option<&str> {
        let [_, archive, a, b, c, checksum, blob] = self.segments.as_slice() else {
            return None;
        };
        let hex = |s: &str| s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        let shaped = archive == "archive"
            && blob == "blob"
            && matches!(checksum.len(), 40 | 64)
            && hex(checksum)
            && [a, b, c].iter().enumerate().all(|(i, part)| checksum.get(2 * i..2 * i + 2) == Some(part.as_str()));
        shaped.then_some(checksum.as_str())
    }

    /// The dataset a write to this key belongs to, when the first segment is a dataset name.
    fn dataset(&self) -> Option<DatasetName> {
        self.segments.first().and_then(|s| DatasetName::new(s).ok())
    }
}

/// Serves a blob request (everything the lakehouse routes do not match).
pub async fn serve(State(state): State<state::State>, request: Request) -> Response {
    match dispatch(&state, request).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn dispatch(state: &state::State, request: Request) -> ApiResult<Response> {
    let key = Key::parse(request.uri().path())?;
    let method = request.method().clone();
    if method.as_str() == "QUERY" {
        if !key.folder {
            return Err(ApiError::BadRequest("QUERY lists a folder: end the path with `/`".into()));
        }
        let body = axum::body::to_bytes(request.into_body(), 4096)
            .await
            .map_err(|e| ApiError::BadRequest(format!("listing options: {e}")))?;
        return list(state, &key, &String::from_utf8_lossy(&body)).await;
    }
    if key.folder {
        let mut response = StatusCode::METHOD_NOT_ALLOWED.into_response();
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("QUERY"));
        return Ok(response);
    }
    match method {
        Method::GET => get(state, &key, true).await,
        Method::HEAD => get(state, &key, false).await,
        Method::PUT => put(state, &key, request.into_body()).await,
        Method::DELETE => delete(state, &key).await,
        _ => {
            let mut response = StatusCode::METHOD_NOT_ALLOWED.into_response();
            let allow = HeaderValue::from_static("GET, HEAD, PUT, DELETE");
            response.headers_mut().insert(header::ALLOW, allow);
            Ok(response)
        }
    }
}

/// An object store error as a response: a missing object is an empty 404.
fn storage_error(e: object_store::Error) -> ApiResult<Response> {
    match e {
        object_store::Error::NotFound { .. } => Ok(StatusCode::NOT_FOUND.into_response()),
        other => Err(lakehouse::Error::from(other).into()),
    }
}

/// `GET`/`HEAD /{key}`: the bytes (streamed) with `content-length` and `last-modified`.
#[utoipa::path(
    get, path = "/{key}", tag = "blobs",
    params(("key" = String, Path, description = "A key below the lake root, e.g. `my_dataset/config.yml`")),
    responses(
        (status = 200, description = "The object's bytes", content_type = "application/octet-stream"),
        (status = 404, description = "No such object"),
        (status = 405, description = "A folder key (trailing slash): only QUERY"),
    )
)]
async fn get(state: &state::State, key: &Key, with_body: bool) -> ApiResult<Response> {
    let path = key.path();
    let (meta, body) = if with_body {
        match state.root.get(&path).await {
            Ok(result) => {
                let meta = result.meta.clone();
                let stream = result.into_stream().map_err(std::io::Error::other);
                (meta, Body::from_stream(stream))
            }
            Err(e) => return storage_error(e),
        }
    } else {
        match state.root.head(&path).await {
            Ok(meta) => (meta, Body::empty()),
            Err(e) => return storage_error(e),
        }
    };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_LENGTH, meta.size.into());
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    let modified = meta.last_modified.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    headers.insert(header::LAST_MODIFIED, HeaderValue::from_str(&modified).expect("ASCII date"));
    Ok(response)
}

/// Creates the ZFS datasets of the key's dataset before a write, when the lake is on ZFS
/// (spec `zfs.md`; the reference's middleware does this for every write).
async fn ensure_zfs(state: &state::State, key: &Key) -> ApiResult<()> {
    let settings = state.catalog.settings();
    if let (true, Some(pool), Some(name)) = (settings.on_zfs, settings.zfs_pool.as_deref(), key.dataset()) {
        Zfs::from_settings(settings).ensure(pool, &name).await.map_err(|e| ApiError::Internal(e.to_string()))?;
    }
    Ok(())
}

/// A hash of the bytes of an archive blob being written.
enum Checksum {
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

impl Checksum {
    fn update(&mut self, bytes: &[u8]) {
        match self {
            Checksum::Sha1(h) => h.update(bytes),
            Checksum::Sha256(h) => h.update(bytes),
        }
    }

    fn hex(self) -> String {
        match self {
            Checksum::Sha1(h) => hex::encode(h.finalize()),
            Checksum::Sha256(h) => hex::encode(h.finalize()),
        }
    }
}

/// `PUT /{key}`: the body, streamed into the store and published whole; 201. Archive blobs are
/// written once (204 when present) and checked against their checksum.
#[utoipa::path(
    put, path = "/{key}", tag = "blobs",
    params(("key" = String, Path, description = "A key below the lake root")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses(
        (status = 201, description = "Written"),
        (status = 204, description = "An archive blob that exists already: unchanged"),
        (status = 400, description = "Invalid key, or bytes that do not hash to the blob's checksum"),
        (status = 413, description = "Body larger than LAKEHOUSE_API_MAX_BODY_SIZE"),
    )
)]
async fn put(state: &state::State, key: &Key, body: Body) -> ApiResult<Response> {
    ensure_zfs(state, key).await?;
    let path = key.path();
    let expected = key.archive_checksum().map(str::to_string);
    let mut checksum = match expected.as_deref().map(str::len) {
        Some(40) => Some(Checksum::Sha1(sha1::Sha1::new())),
        Some(_) => Some(Checksum::Sha256(sha2::Sha256::new())),
        None => None,
    };
    if checksum.is_some() && state.root.head(&path).await.is_ok() {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let mut writer = BufWriter::new(state.root.clone(), path.clone());
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) => {
                let _ = writer.abort().await;
                return Err(body_error(e));
            }
        };
        if let Some(hash) = &mut checksum {
            hash.update(&chunk);
        }
        if let Err(e) = writer.write_all(&chunk).await {
            let _ = writer.abort().await;
            return Err(ApiError::Internal(format!("writing {path}: {e}")));
        }
    }
    if let (Some(hash), Some(expected)) = (checksum, expected) {
        let actual = hash.hex();
        if actual != expected {
            let _ = writer.abort().await;
            return Err(ApiError::BadRequest(format!("Checksum mismatch for {path}: the bytes hash to {actual}")));
        }
    }
    writer.shutdown().await.map_err(|e| ApiError::Internal(format!("writing {path}: {e}")))?;
    forget_config(state, key).await;
    Ok(StatusCode::CREATED.into_response())
}

/// A request body that failed while read: over the size limit is a 413.
fn body_error(e: axum::Error) -> ApiError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(cause) = source {
        if cause.is::<http_body_util::LengthLimitError>() {
            return ApiError::TooLarge;
        }
        source = cause.source();
    }
    ApiError::BadRequest(format!("reading the request body: {e}"))
}

/// Drops the open repository of a dataset whose `config.yml` changed.
async fn forget_config(state: &state::State, key: &Key) {
    if let [dataset, file] = key.segments.as_slice()
        && file == "config.yml"
    {
        state.forget(dataset).await;
    }
}

/// `DELETE /{key}`: 204, folders the delete empties pruned on a local lake; 404 if missing.
#[utoipa::path(
    delete, path = "/{key}", tag = "blobs",
    params(("key" = String, Path, description = "A key below the lake root")),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such object"))
)]
async fn delete(state: &state::State, key: &Key) -> ApiResult<Response> {
    ensure_zfs(state, key).await?;
    let path = key.path();
    if let Err(e) = state.root.head(&path).await {
        return storage_error(e);
    }
    if let Err(e) = state.root.delete(&path).await {
        return storage_error(e);
    }
    forget_config(state, key).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Listing options of a `QUERY` body: `<depth> [dirs] [stat]` (all optional).
#[derive(Debug, Default, PartialEq, Eq)]
struct ListOptions {
    depth: Option<usize>,
    dirs: bool,
    stat: bool,
}

impl ListOptions {
    fn parse(text: &str) -> ApiResult<ListOptions> {
        let mut options = ListOptions::default();
        for word in text.split_whitespace() {
            match word {
                "dirs" => options.dirs = true,
                "stat" => options.stat = true,
                depth => {
                    let depth = depth.parse().map_err(|_| {
                        ApiError::BadRequest(format!("Invalid listing option {word:?}: `<depth> [dirs] [stat]`"))
                    })?;
                    options.depth = Some(depth);
                }
            }
        }
        Ok(options)
    }
}

/// `QUERY /{prefix}/`: the keys below the prefix, relative to it, one per line, sorted; folders
/// (with a trailing slash) with `dirs`; `<size> <mtime ns> <key>` with `stat`. (OpenAPI has no
/// `QUERY` method: the `blobs` tag's description documents it.)
async fn list(state: &state::State, key: &Key, options: &str) -> ApiResult<Response> {
    let options = ListOptions::parse(options)?;
    let prefix = key.path();
    let prefix = (!key.segments.is_empty()).then_some(&prefix);
    let mut entries: BTreeMap<String, (u64, i64)> = BTreeMap::new();
    let mut listing = state.root.list(prefix);
    while let Some(meta) = listing.next().await {
        let meta = meta.map_err(lakehouse::Error::from)?;
        let mut parts: Vec<String> = meta
            .location
            .parts()
            .skip(key.segments.len())
            .map(|p| percent_encoding::percent_decode_str(p.as_ref()).decode_utf8_lossy().into_owned())
            .collect();
        let mtime = meta.last_modified.timestamp_nanos_opt().unwrap_or_default();
        if options.dirs {
            for end in 1..parts.len() {
                if options.depth.is_none_or(|d| end <= d) {
                    entries.entry(format!("{}/", parts[..end].join("/"))).or_insert((0, mtime));
                }
            }
        }
        if options.depth.is_none_or(|d| parts.len() <= d) {
            let name = std::mem::take(&mut parts).join("/");
            entries.insert(name, (meta.size, mtime));
        }
    }
    let mut out = String::new();
    for (name, (size, mtime)) in entries {
        if options.stat {
            out.push_str(&format!("{size} {mtime} {name}\n"));
        } else {
            out.push_str(&name);
            out.push('\n');
        }
    }
    let mut response = Response::new(Body::from(out));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    Ok(response)
}

/// The OpenAPI paths of the blob protocol (documentation only: requests reach [`serve`]).
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(get, put, delete),
    tags((name = "blobs", description = "Every path outside `/{dataset}/_api/` is a key below the lake root. \
        `QUERY /{prefix}/` (the HTTP method QUERY, a trailing slash; `/` for the root) lists the keys below a \
        folder, one per line, relative to it; an optional text body `<depth> [dirs] [stat]` limits the depth, adds \
        folders (with a trailing slash) and prefixes each line with `<size> <mtime ns>`. Other methods on a \
        folder answer 405 with `Allow: QUERY`."))
)]
pub struct BlobDocs;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        let key = Key::parse("/ds/archive/ab/cd/ef/abcdef0123456789abcdef0123456789abcdef01/blob").unwrap();
        assert_eq!(key.archive_checksum(), Some("abcdef0123456789abcdef0123456789abcdef01"));
        assert!(
            Key::parse("/ds/archive/ab/cd/ee/abcdef0123456789abcdef0123456789abcdef01/blob")
                .unwrap()
                .archive_checksum()
                .is_none()
        );
        assert!(Key::parse("/").unwrap().folder && Key::parse("/ds/tags/").unwrap().folder);
        let dots = "empty, `.` or `..` segment";
        let deep = "/a".repeat(33);
        for (bad, why) in [
            ("/ds/../etc", dots),
            ("/ds/%2e%2e/x", dots),
            ("/a//b", dots),
            ("/a/./b", dots),
            ("/a%5Cb", "backslash or NUL"),
            ("/%ff", "not UTF-8"),
            (&deep, "too deep"),
        ] {
            let err = Key::parse(bad).err();
            assert!(
                matches!(&err, Some(ApiError::BadRequest(m)) if m.starts_with("Invalid path") && m.ends_with(why)),
                "{bad}: {err:?}"
            );
        }
        assert_eq!(Key::parse("/ds/a%20b.txt").unwrap().segments, ["ds", "a b.txt"]);
    }

    #[test]
    fn list_options() {
        assert_eq!(ListOptions::parse("").unwrap(), ListOptions::default());
        assert_eq!(ListOptions::parse("1 dirs stat").unwrap(), ListOptions { depth: Some(1), dirs: true, stat: true });
        let result = ListOptions::parse("deep");
        assert!(matches!(&result, Err(ApiError::BadRequest(m)) if m.contains("listing option \"deep\"")), "{result:?}");
    }
}
