//! The blob protocol of a lakehouse server (spec `interfaces.md` §3.5) as an [`ObjectStore`]:
//! every key below the lake root is `{lake}/{key}`.
//!
//! * `get` is `GET` (with a `Range` header for ranged reads; a server answering 200 to one has
//!   the range cut out of the whole object), `head` is `HEAD`;
//! * `put` is `PUT`; [`PutMode::Create`] asks `HEAD` first, so it is exclusive only as far as
//!   the server's own write-once keys (archive blobs) are; [`PutMode::Update`] is not supported;
//! * a multipart upload is one streamed `PUT`, its parts sent in order as they come (the server
//!   publishes the object when the body ends, and drops it when the body breaks off);
//! * `delete` is `DELETE` (a missing key is not an error, as on S3);
//! * `list` and `list_with_delimiter` are `QUERY {prefix}/` with the `text/plain` body
//!   `1000 stat` or `1 dirs stat` (the reference's blob server wants the depth first, and the
//!   content type): lines `<size> <mtime ns> <key>` relative to the prefix, folders ending in
//!   `/` (a line without the two numbers is a key of unknown size and time);
//! * `copy` reads the object and writes it again.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::channel::{mpsc, oneshot};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    CopyMode, CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, ObjectStoreExt, PutMode, PutMultipartOptions, PutOptions, PutPayload, PutResult, UploadPart,
};
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, ETAG, LAST_MODIFIED, RANGE};
use reqwest::{Method, Response, StatusCode};
use url::Url;

use super::ApiClient;
use crate::error::Error;

/// Name of this store in `object_store` errors.
const STORE: &str = "lakehouse-api";

/// The objects of a served lake.
#[derive(Debug, Clone)]
pub struct BlobStore {
    client: Arc<ApiClient>,
    /// The lake's URL, with a trailing slash.
    root: Url,
}

impl fmt::Display for BlobStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobStore({})", self.root)
    }
}

/// An API error as a store error: 404 is "not found", the rest generic.
fn store_error(path: &Path, e: Error) -> object_store::Error {
    match e {
        Error::Api { status: 404, .. } => object_store::Error::NotFound { path: path.to_string(), source: Box::new(e) },
        e => object_store::Error::Generic { store: STORE, source: Box::new(e) },
    }
}

fn generic(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> object_store::Error {
    object_store::Error::Generic { store: STORE, source: e.into() }
}

/// The `QUERY` method of the blob protocol.
fn query_method() -> Method {
    Method::from_bytes(b"QUERY").expect("a valid method name")
}

impl BlobStore {
    /// The store of the lake at `root` (an `http(s)://` URL ending in `/`).
    pub fn new(client: Arc<ApiClient>, root: Url) -> BlobStore {
        BlobStore { client, root }
    }

    /// `{root}/{key}`, each segment encoded; a trailing `/` for a folder.
    fn url(&self, path: Option<&Path>, folder: bool) -> Url {
        let mut url = self.root.clone();
        {
            let mut segments = url.path_segments_mut().expect("an http URL");
            segments.pop_if_empty();
            for part in path.into_iter().flat_map(Path::parts) {
                segments.push(&percent_encoding::percent_decode_str(part.as_ref()).decode_utf8_lossy());
            }
            if folder {
                segments.push("");
            }
        }
        url
    }

    /// The metadata of `path` from a response's headers.
    fn meta(path: &Path, response: &Response) -> ObjectMeta {
        let header = |name| response.headers().get(name).and_then(|v| v.to_str().ok());
        let size = header(CONTENT_LENGTH).and_then(|v| v.parse().ok()).unwrap_or_default();
        let last_modified = header(LAST_MODIFIED)
            .and_then(|v| DateTime::parse_from_rfc2822(v).ok())
            .map_or_else(Utc::now, |t| t.with_timezone(&Utc));
        ObjectMeta {
            location: path.clone(),
            last_modified,
            size,
            e_tag: header(ETAG).map(str::to_string),
            version: None,
        }
    }

    /// The keys below `prefix` (`QUERY` with `options`), as metadata and folders.
    async fn query(&self, prefix: Option<&Path>, options: &'static str) -> object_store::Result<ListResult> {
        let url = self.url(prefix, true);
        // The reference's blob server wants the options' content type.
        let sent = self
            .client
            .send(query_method(), &url, |r| r.header(reqwest::header::CONTENT_TYPE, "text/plain").body(options))
            .await;
        let text = match sent {
            Ok(response) => response.text().await.map_err(generic)?,
            Err(Error::Api { status: 404, .. }) => String::new(),
            Err(e) => return Err(generic(e)),
        };
        let mut listed = ListResult { common_prefixes: Vec::new(), objects: Vec::new() };
        for line in text.lines().filter(|l| !l.is_empty()) {
            let (size, mtime, name) = parse_line(line);
            let mut location = prefix.cloned().unwrap_or_default();
            for segment in name.split('/').filter(|s| !s.is_empty()) {
                location = location.join(segment);
            }
            if name.ends_with('/') {
                listed.common_prefixes.push(location);
            } else {
                let last_modified = mtime.map_or_else(Utc::now, DateTime::from_timestamp_nanos);
                listed.objects.push(ObjectMeta { location, last_modified, size, e_tag: None, version: None });
            }
        }
        Ok(listed)
    }
}

/// `<size> <mtime ns> <key>`, or a bare key.
fn parse_line(line: &str) -> (u64, Option<i64>, &str) {
    let mut words = line.splitn(3, ' ');
    match (words.next().map(str::parse::<u64>), words.next().map(str::parse::<i64>), words.next()) {
        (Some(Ok(size)), Some(Ok(mtime)), Some(name)) => (size, Some(mtime), name),
        _ => (0, None, line),
    }
}

/// `bytes <start>-<end>/<size>` of a 206 answer.
fn content_range(response: &Response) -> Option<(Range<u64>, u64)> {
    let value = response.headers().get(CONTENT_RANGE)?.to_str().ok()?;
    let (span, size) = value.strip_prefix("bytes ")?.split_once('/')?;
    let (start, end) = span.split_once('-')?;
    let (start, end): (u64, u64) = (start.parse().ok()?, end.parse().ok()?);
    Some((start..end + 1, size.parse().ok()?))
}

#[async_trait]
impl ObjectStore for BlobStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        match opts.mode {
            PutMode::Overwrite => {}
            PutMode::Create => {
                if self.head(location).await.is_ok() {
                    return Err(object_store::Error::AlreadyExists {
                        path: location.to_string(),
                        source: "the key exists on the server".into(),
                    });
                }
            }
            PutMode::Update(_) => {
                return Err(object_store::Error::NotImplemented {
                    operation: "put with PutMode::Update".into(),
                    implementer: STORE.into(),
                });
            }
        }
        let body = Bytes::from(payload);
        let url = self.url(Some(location), false);
        self.client.send(Method::PUT, &url, |r| r.body(body.clone())).await.map_err(|e| store_error(location, e))?;
        Ok(PutResult { e_tag: None, version: None })
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        _opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let (parts, queue) = mpsc::unbounded::<Queued>();
        let body = upload_body(queue);
        let url = self.url(Some(location), false);
        let (client, path) = (self.client.clone(), location.clone());
        let request = tokio::spawn(async move {
            client
                .send_once(Method::PUT, &url, |r| r.body(reqwest::Body::wrap_stream(body)))
                .await
                .map_err(|e| store_error(&path, e))?;
            Ok(PutResult { e_tag: None, version: None })
        });
        Ok(Box::new(Upload { parts: Some(parts), request: Some(request) }))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        let url = self.url(Some(location), false);
        let method = if options.head { Method::HEAD } else { Method::GET };
        let range = options.range.clone();
        let response = self
            .client
            .send(method, &url, |r| match &range {
                Some(range) => r.header(RANGE, range.to_string()),
                None => r,
            })
            .await
            .map_err(|e| store_error(location, e))?;
        let mut meta = BlobStore::meta(location, &response);
        let partial = (response.status() == StatusCode::PARTIAL_CONTENT).then(|| content_range(&response)).flatten();
        if let Some((_, size)) = &partial {
            meta.size = *size;
        }
        if options.head {
            let payload = GetResultPayload::Stream(futures::stream::empty().boxed());
            return Ok(GetResult { payload, range: 0..meta.size, meta, attributes: Default::default() });
        }
        let body = response.bytes_stream().map_err(generic);
        let (range, payload) = match (partial, &range) {
            (Some((range, _)), _) => (range, body.boxed()),
            (None, None) => (0..meta.size, body.boxed()),
            // The server sent the whole object: cut the range out of it.
            (None, Some(wanted)) => {
                let range = wanted.as_range(meta.size).map_err(generic)?;
                let whole = body.try_fold(Vec::new(), |mut all, chunk| async move {
                    all.extend_from_slice(&chunk);
                    Ok(all)
                });
                let bytes = Bytes::from(whole.await?);
                let part = bytes.slice(range.start as usize..(range.end as usize).min(bytes.len()));
                (range, futures::stream::once(async move { Ok(part) }).boxed())
            }
        };
        Ok(GetResult { payload: GetResultPayload::Stream(payload), meta, range, attributes: Default::default() })
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        let store = self.clone();
        locations
            .map(move |location| {
                let store = store.clone();
                async move {
                    let location = location?;
                    let url = store.url(Some(&location), false);
                    match store.client.send(Method::DELETE, &url, |r| r).await {
                        Ok(_) | Err(Error::Api { status: 404, .. }) => Ok(location),
                        Err(e) => Err(store_error(&location, e)),
                    }
                }
            })
            .buffered(8)
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let store = self.clone();
        let prefix = prefix.cloned();
        futures::stream::once(async move { store.query(prefix.as_ref(), "1000 stat").await })
            .map_ok(|listed| futures::stream::iter(listed.objects.into_iter().map(Ok::<_, object_store::Error>)))
            .try_flatten()
            .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.query(prefix, "1 dirs stat").await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> object_store::Result<()> {
        let bytes = self.get(from).await?.bytes().await?;
        let mode = match options.mode {
            CopyMode::Overwrite => PutMode::Overwrite,
            CopyMode::Create => PutMode::Create,
        };
        self.put_opts(to, bytes.into(), PutOptions { mode, ..Default::default() }).await?;
        Ok(())
    }
}

/// What an upload queues: a part with the sender its future waits on, or `None`: the end.
type Queued = Option<(PutPayload, oneshot::Sender<()>)>;

/// The body of an upload: each queued part's chunks in order. A part is acknowledged when the
/// next one is asked for, so an uploader waiting on its parts holds only those not yet sent.
/// A queue closed without the end marker (the upload was dropped) breaks the body off with an
/// error, so that the server does not publish a truncated object.
fn upload_body(queue: mpsc::UnboundedReceiver<Queued>) -> impl futures::Stream<Item = std::io::Result<Bytes>> + Send {
    let state = (queue, None::<oneshot::Sender<()>>, false);
    futures::stream::unfold(state, |(mut queue, ack, done)| async move {
        if done {
            return None;
        }
        if let Some(ack) = ack {
            let _ = ack.send(());
        }
        match queue.next().await {
            Some(Some((payload, ack))) => {
                let chunks: Vec<std::io::Result<Bytes>> = payload.into_iter().map(Ok).collect();
                Some((futures::stream::iter(chunks), (queue, Some(ack), false)))
            }
            Some(None) => None,
            None => {
                let broken = std::io::Error::other("the upload was abandoned");
                Some((futures::stream::iter(vec![Err(broken)]), (queue, None, true)))
            }
        }
    })
    .flatten()
}

/// One streamed `PUT` fed by [`MultipartUpload::put_part`].
#[derive(Debug)]
struct Upload {
    /// The queue of parts; `None` once completed or aborted.
    parts: Option<mpsc::UnboundedSender<Queued>>,
    request: Option<tokio::task::JoinHandle<object_store::Result<PutResult>>>,
}

#[async_trait]
impl MultipartUpload for Upload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let (ack, sent) = oneshot::channel();
        let queued = self.parts.as_ref().map(|parts| parts.unbounded_send(Some((data, ack))));
        Box::pin(async move {
            match queued {
                Some(Ok(())) => sent.await.map_err(|_| generic("the upload stopped before this part was sent")),
                _ => Err(generic("the upload is finished")),
            }
        })
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        if let Some(parts) = self.parts.take() {
            let _ = parts.unbounded_send(None);
        }
        match self.request.take() {
            Some(request) => request.await.map_err(generic)?,
            None => Err(generic("the upload is finished")),
        }
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.parts.take();
        if let Some(request) = self.request.take() {
            request.abort();
        }
        Ok(())
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if let Some(request) = self.request.take() {
            request.abort();
        }
    }
}
