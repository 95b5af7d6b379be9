//! The client side of the blob protocol (api mode's `BlobStore`) against a real server: what a
//! store of the storage layer asks of an object store behaves as on disk.

mod common;

use futures::TryStreamExt;
use lakehouse::storage::Location;
use lakehouse_api::ApiSettings;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutMode, PutPayload};

use common::Running;

#[tokio::test(flavor = "multi_thread")]
async fn the_blob_protocol_as_an_object_store() {
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(dir.path(), ApiSettings::default()).await;
    let store = Location::parse(&server.url).unwrap().child("ds").object_store().unwrap();
    let key = Path::from("a/b.txt");

    store.put(&key, PutPayload::from_static(b"hello world")).await.unwrap();
    assert_eq!(std::fs::read(dir.path().join("ds/a/b.txt")).unwrap(), b"hello world");
    assert_eq!(store.get(&key).await.unwrap().bytes().await.unwrap().as_ref(), b"hello world");
    assert_eq!(store.head(&key).await.unwrap().size, 11);
    assert_eq!(store.get_range(&key, 6..11).await.unwrap().as_ref(), b"world");
    let again = store.put_opts(&key, PutPayload::from_static(b"other"), PutMode::Create.into()).await;
    assert!(matches!(again, Err(object_store::Error::AlreadyExists { .. })), "{again:?}");
    let missing = store.get(&Path::from("nothing")).await;
    assert!(matches!(missing, Err(object_store::Error::NotFound { .. })), "{missing:?}");

    // Listings, recursive and one level.
    store.put(&Path::from("a/c/d.txt"), PutPayload::from_static(b"d")).await.unwrap();
    store.put(&Path::from("e.txt"), PutPayload::from_static(b"e")).await.unwrap();
    let mut all: Vec<String> = store.list(None).map_ok(|m| m.location.to_string()).try_collect().await.unwrap();
    all.sort();
    assert_eq!(all, ["a/b.txt", "a/c/d.txt", "e.txt"]);
    let top = store.list_with_delimiter(None).await.unwrap();
    assert_eq!(top.common_prefixes, [Path::from("a")]);
    assert_eq!(top.objects.iter().map(|m| (m.location.to_string(), m.size)).collect::<Vec<_>>(), [("e.txt".into(), 1)]);
    let inner = store.list_with_delimiter(Some(&Path::from("a"))).await.unwrap();
    assert_eq!(inner.common_prefixes, [Path::from("a/c")]);
    assert_eq!(inner.objects[0].location, key);

    // An upload in parts is one object, its parts in order.
    let parts: Vec<Vec<u8>> = (0..3u8).map(|i| vec![b'a' + i; 1 << 20]).collect();
    let mut upload = store.put_multipart(&Path::from("big.bin")).await.unwrap();
    let sent: Vec<_> = parts.iter().map(|p| upload.put_part(PutPayload::from(p.clone()))).collect();
    futures::future::try_join_all(sent).await.unwrap();
    upload.complete().await.unwrap();
    assert_eq!(std::fs::read(dir.path().join("ds/big.bin")).unwrap(), parts.concat());

    // An upload dropped before it completes publishes nothing.
    let mut upload = store.put_multipart(&Path::from("gone.bin")).await.unwrap();
    // The part is queued when put; its future only reports when it was sent.
    drop(upload.put_part(PutPayload::from(parts[0].clone())));
    drop(upload);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!dir.path().join("ds/gone.bin").exists());

    store.delete(&key).await.unwrap();
    store.delete(&key).await.unwrap(); // Missing keys delete as on S3.
    assert!(!dir.path().join("ds/a/b.txt").exists());
    server.stop().await;
}
