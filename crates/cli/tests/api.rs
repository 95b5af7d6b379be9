//! `ftm-lakehouse api`: the server as a process. It prints where it listens, serves the lake,
//! and on SIGTERM stops accepting but finishes the request in flight before it exits 0.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// One HTTP/1.1 request on its own connection; the answer's status line and body.
fn request(addr: &str, head: &str, body: &[u8]) -> (String, String) {
    let mut socket = TcpStream::connect(addr).unwrap();
    socket.write_all(head.as_bytes()).unwrap();
    socket.write_all(body).unwrap();
    let mut answer = String::new();
    socket.read_to_string(&mut answer).unwrap();
    let status = answer.lines().next().unwrap_or_default().to_string();
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

#[test]
fn serves_and_stops_gracefully() {
    let lake = tempfile::tempdir().unwrap();
    let mut served = testkit::Served::start(Path::new(env!("CARGO_BIN_EXE_ftm-lakehouse")), lake.path(), &[]);
    let addr = served.addr.clone();

    let head =
        format!("POST /don/_api/ensure HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let (status, body) = request(&addr, &head, b"");
    assert!(status.contains("200"), "{status}");
    assert_eq!(body, "ok");

    // A blob upload in flight when SIGTERM arrives: half the body, the signal, the rest.
    let mut upload = TcpStream::connect(&addr).unwrap();
    let head = format!(
        "PUT /don/evidence.txt HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 10\r\nConnection: close\r\n\r\nhello"
    );
    upload.write_all(head.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let killed = Command::new("kill").args(["-TERM", &served.process.id().to_string()]).status().unwrap();
    assert!(killed.success());
    std::thread::sleep(Duration::from_millis(200));
    upload.write_all(b"world").unwrap();
    let mut answer = String::new();
    upload.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let status = served.process.wait().unwrap();
    assert!(status.success(), "{status}");
    assert_eq!(std::fs::read_to_string(lake.path().join("don/evidence.txt")).unwrap(), "helloworld");
    let mut rest = String::new();
    served.stderr.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("Stopped."), "{rest}");
    assert!(TcpStream::connect(&addr).is_err(), "no longer listening");
}
