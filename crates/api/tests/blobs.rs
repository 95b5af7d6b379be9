//! The blob protocol over HTTP: read, write, list and delete keys below the lake root; archive
//! blobs written once and checked; traversal refused.

mod common;

use common::Running;
use lakehouse_api::ApiSettings;
use reqwest::Method;
use sha2::Digest;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_get_list_delete() {
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(dir.path(), ApiSettings::default()).await;
    let c = &server.client;
    let put = c.put(server.at("/ds/tags/a%20b.txt")).body("hello").send().await.unwrap();
    assert_eq!(put.status(), 201);
    assert_eq!(std::fs::read_to_string(dir.path().join("ds/tags/a b.txt")).unwrap(), "hello");
    let put = c.put(server.at("/ds/tags/a%20b.txt")).body("hello again").send().await.unwrap();
    assert_eq!(put.status(), 201, "last writer wins");
    c.put(server.at("/ds/x/y/z.json")).body("{}").send().await.unwrap();

    let got = c.get(server.at("/ds/tags/a%20b.txt")).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.headers()["content-length"], "11");
    assert!(got.headers().contains_key("last-modified"));
    assert_eq!(got.text().await.unwrap(), "hello again");
    let head = c.head(server.at("/ds/tags/a%20b.txt")).send().await.unwrap();
    assert_eq!((head.status().as_u16(), head.headers()["content-length"].to_str().unwrap()), (200, "11"));
    let missing = c.get(server.at("/ds/nothing")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.text().await.unwrap(), "");
    assert_eq!(c.head(server.at("/ds/nothing")).send().await.unwrap().status(), 404);

    let query = Method::from_bytes(b"QUERY").unwrap();
    let list = |path: &str, options: &'static str| {
        let request = c.request(query.clone(), server.at(path)).body(options);
        async move { request.send().await.unwrap().text().await.unwrap() }
    };
    assert_eq!(list("/ds/", "").await, "tags/a b.txt\nx/y/z.json\n");
    assert_eq!(list("/ds/", "1 dirs").await, "tags/\nx/\n");
    assert_eq!(list("/ds/", "2 dirs").await, "tags/\ntags/a b.txt\nx/\nx/y/\n");
    assert_eq!(list("/", "1 dirs").await, "ds/\n");
    let stat = list("/ds/tags/", "stat").await;
    let fields: Vec<&str> = stat.trim_end().splitn(3, ' ').collect();
    assert_eq!((fields[0], fields[2]), ("11", "a b.txt"), "{stat}");
    assert!(fields[1].parse::<i64>().unwrap() > 0);
    assert_eq!(list("/nothing/", "").await, "");
    let folder = c.get(server.at("/ds/tags/")).send().await.unwrap();
    assert_eq!((folder.status().as_u16(), folder.headers()["allow"].to_str().unwrap()), (405, "QUERY"));
    assert_eq!(c.request(query.clone(), server.at("/ds/tags")).send().await.unwrap().status(), 400);

    assert_eq!(c.delete(server.at("/ds/x/y/z.json")).send().await.unwrap().status(), 204);
    assert!(!dir.path().join("ds/x").exists(), "emptied folders are pruned");
    assert_eq!(c.delete(server.at("/ds/x/y/z.json")).send().await.unwrap().status(), 404);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_blobs_are_written_once_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(dir.path(), ApiSettings::default()).await;
    let c = &server.client;
    let bytes = b"evidence".to_vec();
    let checksum = hex::encode(sha2::Sha256::digest(&bytes));
    let key = format!("/ds/archive/{}/{}/{}/{checksum}/blob", &checksum[..2], &checksum[2..4], &checksum[4..6]);
    assert_eq!(c.put(server.at(&key)).body(bytes.clone()).send().await.unwrap().status(), 201);
    assert_eq!(c.put(server.at(&key)).body("tampered").send().await.unwrap().status(), 204, "written once");
    assert_eq!(c.get(server.at(&key)).send().await.unwrap().bytes().await.unwrap().as_ref(), b"evidence");
    let other = hex::encode(sha2::Sha256::digest(b"other"));
    let wrong = format!("/ds/archive/{}/{}/{}/{other}/blob", &other[..2], &other[2..4], &other[4..6]);
    let response = c.put(server.at(&wrong)).body("not other").send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("Checksum mismatch"));
    assert!(c.get(server.at(&wrong)).send().await.unwrap().status() == 404, "nothing stored");
    server.stop().await;
}

/// The status of a request sent byte for byte (an HTTP client would resolve `..` itself).
async fn raw_status(url: &str, method: &str, path: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = url.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx");
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    socket.read_to_string(&mut answer).await.unwrap();
    answer.split(' ').nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traversal_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let server = Running::start(&lake, ApiSettings::default()).await;
    for path in
        ["/ds/../../outside.txt", "/ds/%2e%2e/%2e%2e/outside.txt", "/ds//x", "/ds/a%5C..%5Cb", "/ds/%00", "/ds/./x"]
    {
        assert_eq!(raw_status(&server.url, "PUT", path).await, 400, "PUT {path}");
        assert_eq!(raw_status(&server.url, "GET", path).await, 400, "GET {path}");
    }
    assert!(!dir.path().join("outside.txt").exists());
    let deep = "/a".repeat(40);
    assert_eq!(server.client.put(server.at(&deep)).body("x").send().await.unwrap().status(), 400);
    server.stop().await;
}
