//! A real server on 127.0.0.1 over a lake in a temporary folder, and the statements tests post.
// Each suite uses some of these helpers.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;

use ftm::Statement;
use lakehouse::Settings;
use lakehouse::repository::Catalog;
use lakehouse::storage::Location;
use lakehouse::storage::journal::wire;
use lakehouse_api::{ApiSettings, Server};
use tokio::sync::oneshot;

/// A running server; stopped (gracefully) when dropped.
pub struct Running {
    pub url: String,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Running {
    /// Starts a server over the lake at `root` with `settings`.
    pub async fn start(root: &Path, settings: ApiSettings) -> Running {
        let catalog = Catalog::new(Location::local(root).unwrap(), Settings::default());
        let server = Server::bind(catalog, settings, "127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = server.local_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        Running { url: format!("http://{addr}"), client: reqwest::Client::new(), stop: Some(stop), task: Some(task) }
    }

    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// Stops accepting and waits for the requests in flight.
    pub async fn stop(mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        self.task.take().unwrap().await.unwrap().unwrap();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The statements of the donations sample's first `n` entities, packed for `dataset` as a
/// client packs them (origin `bulk`, timestamps now).
pub fn donations(dataset: &str, n: usize) -> Vec<Statement> {
    let text = std::fs::read_to_string(testkit::fixtures().join("donations.ftm.json")).unwrap();
    let mut out = Vec::new();
    for line in text.lines().take(n) {
        let entity = ftm::Entity::from_json_str(ftm::model(), line).unwrap();
        let exploded = ftm::explode::explode_rows(&entity, dataset, true).unwrap().unwrap();
        for mut s in exploded.statements(dataset) {
            s.origin = Some("bulk".into());
            out.push(s);
        }
    }
    lakehouse::storage::rows::pack(&mut out, chrono::Utc::now()).unwrap();
    out
}

/// The Arrow IPC body of `rows`.
pub fn body(rows: &[Statement]) -> Vec<u8> {
    wire::encode(rows).unwrap()
}

/// POSTs `rows` as a journal bulk; the count the server answers.
pub async fn post_bulk(server: &Running, dataset: &str, rows: &[Statement]) -> u64 {
    let response =
        server.client.post(server.at(&format!("/{dataset}/_api/journal/bulk"))).body(body(rows)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap().parse().unwrap()
}

/// A POST with a JSON body: status and body text.
pub async fn post_json(server: &Running, path: &str, json: &str) -> (u16, String) {
    let response = server
        .client
        .post(server.at(path))
        .header("content-type", "application/json")
        .body(json.to_string())
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}
