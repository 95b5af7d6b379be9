//! A lake served over HTTP by a lakehouse server ("api mode", spec `interfaces.md` §3.8): the
//! `LAKEHOUSE_URI` is `http(s)://host[:port][/prefix]`.
//!
//! * Objects (configs, tags, versions, job records, archive blobs and records, exports) go
//!   through the blob protocol of §3.5 ([`BlobStore`], an [`ObjectStore`](object_store::ObjectStore)),
//!   so every store of the storage layer works on a served lake unchanged.
//! * The journal, flushes, queries, deletes and operations go to the dataset's `_api` routes
//!   ([`DatasetApi`]).
//!
//! Every request carries `User-Agent: ftm-lakehouse/<version>` and, when both
//! `LAKEHOUSE_API_KEY` and `LAKEHOUSE_API_SECRET` are set, `X-Api-Key` and `X-Api-Secret`.
//! Requests whose body can be sent again are tried up to 5 times on transport errors and 5xx
//! answers, waiting `(attempt + random)²` seconds between tries (the reference client's rule);
//! 4xx answers fail at once with the server's `detail`. Streamed query responses are not
//! retried once they began. Unlike the reference, whose blob client speaks https unless
//! `PUTFS_HTTPS=false`, both kinds of request use the URI's own scheme.

mod blob;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;
use url::Url;

pub use blob::BlobStore;

use crate::error::{Error, Result};
use crate::settings::Settings;

/// Tries of a request that can be sent again (the reference client's 5).
const ATTEMPTS: u32 = 5;

/// Time a request may take, body included (the reference client's 6 hours: operations run
/// synchronously on the server).
const TIMEOUT: Duration = Duration::from_secs(6 * 3600);

/// The HTTP client of one served lake: connection pool, headers, and the datasets already
/// ensured by this process. Cheap to share ([`Arc`]).
#[derive(Debug)]
pub struct ApiClient {
    http: reqwest::Client,
    /// Datasets whose `_api/ensure` was posted (once per dataset and process, as the reference).
    ensured: Mutex<HashSet<String>>,
}

impl ApiClient {
    /// A client sending the key and secret of `settings` (both or none).
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] for a key or secret that cannot be a header value.
    pub fn new(settings: &Settings) -> Result<ApiClient> {
        let mut headers = reqwest::header::HeaderMap::new();
        if let (Some(key), Some(secret)) = (&settings.api_key, &settings.api_secret) {
            for (name, var, value) in
                [("x-api-key", "LAKEHOUSE_API_KEY", key), ("x-api-secret", "LAKEHOUSE_API_SECRET", secret)]
            {
                let value = reqwest::header::HeaderValue::from_str(value).map_err(|_| Error::InvalidSetting {
                    var: var.into(),
                    value: "…".into(),
                    reason: "not a valid header value",
                })?;
                headers.insert(name, value);
            }
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("ftm-lakehouse/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| Error::InvalidUri("http client".into(), e.to_string()))?;
        Ok(ApiClient { http, ensured: Mutex::new(HashSet::new()) })
    }

    /// Sends the request `build` makes, trying again on transport errors and 5xx (see the
    /// module docs); returns the successful response.
    ///
    /// # Errors
    /// [`Error::Api`] for an error status (the last one after the tries), or a transport error.
    pub(crate) async fn send(
        &self,
        method: Method,
        url: &Url,
        build: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response> {
        let request = format!("{method} {url}");
        let mut attempt = 0;
        loop {
            let result = build(self.http.request(method.clone(), url.clone())).send().await;
            let retry = match &result {
                Ok(response) => response.status().is_server_error(),
                Err(e) => !e.is_builder() && !e.is_body(),
            };
            attempt += 1;
            if !retry || attempt >= ATTEMPTS {
                return answer(&request, result).await;
            }
            tokio::time::sleep(backoff(attempt)).await;
        }
    }

    /// Sends a request once (streamed bodies cannot be sent again).
    ///
    /// # Errors
    /// [`Error::Api`] for an error status or a failed connection.
    pub(crate) async fn send_once(
        &self,
        method: Method,
        url: &Url,
        build: impl FnOnce(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response> {
        let request = format!("{method} {url}");
        answer(&request, build(self.http.request(method, url.clone())).send().await).await
    }
}

/// The response of a sent request when its status is a success, else [`Error::Api`] (see
/// [`check`]); a transport error as [`Error::Api`] with status 0.
async fn answer(request: &str, result: reqwest::Result<Response>) -> Result<Response> {
    match result {
        Ok(response) => check(request, response).await,
        Err(e) => Err(Error::Api { request: request.to_string(), status: 0, detail: describe(&e) }),
    }
}

/// `(attempt + random)²` seconds, random in `[0, 1)`.
fn backoff(attempt: u32) -> Duration {
    let random = f64::from(uuid::Uuid::new_v4().as_fields().0) / f64::from(u32::MAX);
    Duration::from_secs_f64((f64::from(attempt) + random).powi(2))
}

/// A transport error with its causes.
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `response` when its status is a success, else [`Error::Api`] with the body's `detail` (a
/// string, or the JSON of a validation list) or the body.
async fn check(request: &str, response: Response) -> Result<Response> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = response.text().await.unwrap_or_default();
    let detail = match serde_json::from_str::<Value>(&body) {
        Ok(Value::Object(mut map)) => match map.remove("detail") {
            Some(Value::String(text)) => text,
            Some(other) => other.to_string(),
            None => body,
        },
        _ => body,
    };
    let detail = if detail.is_empty() { status.canonical_reason().unwrap_or_default().to_string() } else { detail };
    Err(Error::Api { request: request.to_string(), status: status.as_u16(), detail })
}

/// The `_api` routes of one dataset: `{lake}/{dataset}/_api/…` (spec `interfaces.md` §3.2).
#[derive(Debug, Clone)]
pub struct DatasetApi {
    client: Arc<ApiClient>,
    name: String,
    /// `{lake}/{dataset}/_api/`.
    base: Url,
}

impl DatasetApi {
    /// The routes of the dataset at `location` (its URL, with a trailing slash).
    pub fn new(client: Arc<ApiClient>, name: &str, location: &Url) -> DatasetApi {
        let base = location.join("_api/").expect("a relative path joins");
        DatasetApi { client, name: name.to_string(), base }
    }

    fn url(&self, route: &str) -> Url {
        self.base.join(route).expect("a relative path joins")
    }

    /// `POST _api/ensure`, once per dataset and process.
    ///
    /// # Errors
    /// [`Error::Api`] for an error status or a failed connection.
    pub async fn ensure(&self) -> Result<()> {
        if self.client.ensured.lock().expect("not poisoned").contains(&self.name) {
            return Ok(());
        }
        self.client.send(Method::POST, &self.url("ensure"), |r| r).await?;
        self.client.ensured.lock().expect("not poisoned").insert(self.name.clone());
        Ok(())
    }

    /// `POST _api/journal/bulk` with a zstd Arrow IPC stream; returns the rows the server took.
    ///
    /// # Errors
    /// [`Error::Api`] for an error status or a failed connection; [`Error::InvalidInput`] for an answer that is not a count.
    pub async fn journal_bulk(&self, body: Vec<u8>) -> Result<u64> {
        let body = Bytes::from(body);
        let response = self
            .client
            .send(Method::POST, &self.url("journal/bulk"), |r| {
                r.header(reqwest::header::CONTENT_TYPE, "application/vnd.apache.arrow.stream").body(body.clone())
            })
            .await?;
        count(response).await
    }

    /// `POST _api/entities/flush`: the statements the server moved from its journal.
    ///
    /// # Errors
    /// As [`DatasetApi::journal_bulk`].
    pub async fn flush(&self) -> Result<u64> {
        count(self.client.send(Method::POST, &self.url("entities/flush"), |r| r).await?).await
    }

    /// `POST _api/entities/query` (`statements` false) or `_api/entities/statements/query` with
    /// `{"flush_first": …, "query": …}`: the NDJSON lines of the answer, as they arrive.
    ///
    /// # Errors
    /// [`Error::Api`] for an error status or a failed connection; transport errors while streaming come with the lines.
    pub async fn query(&self, query: Value, flush_first: bool, statements: bool) -> Result<Lines> {
        let route = if statements { "entities/statements/query" } else { "entities/query" };
        let body = serde_json::json!({"flush_first": flush_first, "query": query});
        let response = self.client.send_once(Method::POST, &self.url(route), |r| r.json(&body)).await?;
        Ok(Lines::new(response))
    }

    /// `DELETE _api/entities/{id}[?origin=…]`: the tombstones written.
    ///
    /// # Errors
    /// As [`DatasetApi::journal_bulk`].
    pub async fn delete_entity(&self, entity_id: &str, origin: Option<&str>) -> Result<u64> {
        let mut url = self.url("entities/");
        url.path_segments_mut().expect("a base URL").pop_if_empty().push(entity_id);
        if let Some(origin) = origin {
            url.query_pairs_mut().append_pair("origin", origin);
        }
        count(self.client.send(Method::DELETE, &url, |r| r).await?).await
    }

    /// `DELETE _api/entities/origins/{origin}`.
    ///
    /// # Errors
    /// [`Error::Api`] for an error status or a failed connection.
    pub async fn delete_origin(&self, origin: &str) -> Result<()> {
        let mut url = self.url("entities/origins/");
        url.path_segments_mut().expect("a base URL").pop_if_empty().push(origin);
        self.client.send(Method::DELETE, &url, |r| r).await?;
        Ok(())
    }

    /// `POST _api/operations?force=…` with the job `{"name": …, fields…}`: the final job record
    /// the server returns (it runs the job before answering).
    ///
    /// # Errors
    /// [`Error::Api`] for an error status or a failed connection; [`Error::InvalidInput`] for an answer that is not a JSON object.
    pub async fn operation(&self, job: &Value, force: bool) -> Result<Value> {
        let mut url = self.url("operations");
        url.query_pairs_mut().append_pair("force", if force { "true" } else { "false" });
        let response = self.client.send(Method::POST, &url, |r| r.json(job)).await?;
        let text = response.text().await.map_err(|e| Error::InvalidInput(describe(&e)))?;
        match serde_json::from_str::<Value>(&text) {
            Ok(record @ Value::Object(_)) => Ok(record),
            _ => Err(Error::InvalidInput(format!("{url}: not a job record: {text:.200}"))),
        }
    }
}

/// The integer a text route answers with.
async fn count(response: Response) -> Result<u64> {
    let url = response.url().clone();
    let text = response.text().await.map_err(|e| Error::InvalidInput(describe(&e)))?;
    text.trim().parse().map_err(|_| Error::InvalidInput(format!("{url}: expected a count, got {text:.200}")))
}

/// The lines of a streamed NDJSON response, without their newlines.
pub struct Lines {
    body: BoxStream<'static, reqwest::Result<Bytes>>,
    buffer: BytesMut,
    done: bool,
    url: Url,
}

impl Lines {
    fn new(response: Response) -> Lines {
        let url = response.url().clone();
        Lines { body: response.bytes_stream().boxed(), buffer: BytesMut::new(), done: false, url }
    }

    /// The next non-empty line, `None` at the end.
    ///
    /// # Errors
    /// [`Error::Api`] when the connection fails mid-stream (the server stops a response whose
    /// query failed after it began).
    pub async fn next(&mut self) -> Result<Option<Bytes>> {
        loop {
            if let Some(end) = memchr::memchr(b'\n', &self.buffer) {
                let line = self.buffer.split_to(end + 1).freeze().slice(..end);
                if line.is_empty() {
                    continue;
                }
                return Ok(Some(line));
            }
            if self.done {
                let rest = std::mem::take(&mut self.buffer).freeze();
                return Ok((!rest.is_empty()).then_some(rest));
            }
            match self.body.try_next().await {
                Ok(Some(chunk)) => self.buffer.extend_from_slice(&chunk),
                Ok(None) => self.done = true,
                Err(e) => {
                    return Err(Error::Api {
                        request: format!("POST {}", self.url),
                        status: StatusCode::OK.as_u16(),
                        detail: format!("the response broke off: {}", describe(&e)),
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    /// A server answering each connection with the next status: the request heads it saw.
    fn answering(statuses: &'static [&'static str]) -> (String, std::thread::JoinHandle<Vec<String>>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for status in statuses {
                let (mut socket, _) = listener.accept().unwrap();
                let mut head = [0u8; 4096];
                let n = socket.read(&mut head).unwrap();
                seen.push(String::from_utf8_lossy(&head[..n]).to_lowercase());
                let body = if status.starts_with('4') { r#"{"detail":"no such thing"}"# } else { "ok" };
                let answer =
                    format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
                socket.write_all(answer.as_bytes()).unwrap();
            }
            seen
        });
        (addr, server)
    }

    #[tokio::test]
    async fn server_errors_are_tried_again_client_errors_are_not() {
        let (addr, server) = answering(&["503 Service Unavailable", "200 OK", "404 Not Found"]);
        let settings = Settings { api_key: Some("k".into()), api_secret: Some("s".into()), ..Settings::default() };
        let client = Arc::new(ApiClient::new(&settings).unwrap());
        let api = DatasetApi::new(client, "ds", &Url::parse(&format!("http://{addr}/lake/ds/")).unwrap());
        api.ensure().await.unwrap();
        api.ensure().await.unwrap(); // Once per dataset and process: no request.
        let err = api.delete_origin("o").await.unwrap_err();
        assert_eq!(err.to_string(), format!("DELETE http://{addr}/lake/ds/_api/entities/origins/o: 404 no such thing"));
        let seen = server.join().unwrap();
        let lines: Vec<&str> = seen.iter().map(|head| head.lines().next().unwrap()).collect();
        assert_eq!(
            lines,
            [
                "post /lake/ds/_api/ensure http/1.1",
                "post /lake/ds/_api/ensure http/1.1",
                "delete /lake/ds/_api/entities/origins/o http/1.1"
            ]
        );
        for head in &seen {
            assert!(head.contains("x-api-key: k\r\n") && head.contains("x-api-secret: s\r\n"), "{head}");
            assert!(head.contains(concat!("user-agent: ftm-lakehouse/", env!("CARGO_PKG_VERSION"))), "{head}");
        }
    }
}
