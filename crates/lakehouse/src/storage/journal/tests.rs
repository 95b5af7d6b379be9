//! Journal tests on every backend: a SQLite file, the in-memory journal and a real
//! PostgreSQL server (`LAKEHOUSE_TEST_POSTGRES_URI`; `bash .ci/postgres.sh` starts one).

use ftm::Statement;
use ftm::time::parse_iso;

use super::*;

/// A journal URI per backend; the temp dir keeps the SQLite file alive.
pub(crate) fn backends(dir: &std::path::Path) -> Vec<String> {
    let postgres = std::env::var("LAKEHOUSE_TEST_POSTGRES_URI")
        .expect("LAKEHOUSE_TEST_POSTGRES_URI must name a PostgreSQL server: run `eval \"$(bash .ci/postgres.sh)\"`");
    vec![format!("sqlite:///{}/journal.db", dir.display()), "sqlite:///:memory:".to_string(), postgres]
}

/// A dataset name no other test uses.
pub(crate) fn unique_dataset() -> DatasetName {
    DatasetName::new(&format!("t{}", uuid::Uuid::new_v4().simple())).unwrap()
}

/// The rows of a drained batch, read back as statements with their origins.
fn statements(batch: StatementRows) -> Vec<Statement> {
    let rows = batch.finish(None).unwrap();
    let mut out = crate::storage::rows::from_batch(&rows.batch).unwrap();
    for (s, origin) in out.iter_mut().zip(&rows.origin) {
        s.origin = Some(rows.origins[*origin as usize].clone());
    }
    out
}

fn stmt(entity: &str, schema: &str, prop: &str, value: &str, origin: &str) -> Statement {
    let mut s = Statement::new("ds", entity, schema, prop, "name", value);
    s.origin = Some(origin.into());
    s.first_seen = parse_iso("2024-01-01T00:00:00.123456Z");
    s.last_seen = parse_iso("2024-01-02T00:00:00Z");
    s
}

#[tokio::test]
async fn put_count_read_clear() {
    let dir = tempfile::tempdir().unwrap();
    for uri in backends(dir.path()) {
        let journal = JournalStore::open(&uri, &unique_dataset(), "lake").await.unwrap();
        assert_eq!(journal.count().await.unwrap(), 0, "{uri}");
        let mut tomb = stmt("p1", "Person", "alias", "Al", "bulk");
        tomb.deleted_at = parse_iso("2024-01-03T00:00:00Z");
        let mut full = stmt("p1", "Person", "name", "Ann \"A\"\nB", "bulk");
        full.lang = Some("eng".into());
        full.original_value = Some("ann".into());
        full.role = Some("analyst".into());
        full.fragment = "f1".into();
        full.external = true;
        journal.put(vec![full.clone(), tomb, stmt("p2", "Person", "name", "Bob", "bulk")]).await.unwrap();
        assert_eq!(journal.count().await.unwrap(), 3, "{uri}");
        assert_eq!(journal.entity_rows("p1").await.unwrap(), vec![full], "{uri}: round trip, tombstone hidden");
        journal.clear().await.unwrap();
        assert_eq!(journal.count().await.unwrap(), 0, "{uri}");
        let unknown = Statement::new("ds", "x", "Nope", "name", "name", "x");
        let result = journal.put(vec![unknown]).await;
        assert!(
            matches!(&result, Err(Error::Ftm(ftm::FtmError::UnknownSchema(s))) if s == "Nope"),
            "{uri}: {result:?}"
        );
    }
}

#[tokio::test]
async fn drain_keeps_insertion_order_and_entities_whole() {
    let dir = tempfile::tempdir().unwrap();
    for uri in backends(dir.path()) {
        let journal = JournalStore::open(&uri, &unique_dataset(), "lake").await.unwrap();
        let mut rows = Vec::new();
        for e in ["c", "a", "b"] {
            for v in 0..3 {
                rows.push(stmt(e, "Person", "name", &v.to_string(), "bulk"));
            }
        }
        rows.push(stmt("z", "Payment", "amount", "1", "bulk"));
        rows.push(stmt("y", "Person", "name", "x", "crawl"));
        journal.put(rows).await.unwrap();
        let mut batches: Vec<Vec<(String, String)>> = Vec::new();
        let drained = journal
            .drain(4, |batch: StatementRows| {
                batches
                    .push(statements(batch).iter().map(|s| (s.origin.clone().unwrap(), s.entity_id.clone())).collect());
                std::future::ready(Ok(()))
            })
            .await
            .unwrap();
        assert_eq!(drained, Some(11), "{uri}");
        let flat: Vec<&str> = batches.iter().flatten().map(|(_, e)| e.as_str()).collect();
        assert_eq!(flat, ["c", "c", "c", "a", "a", "a", "b", "b", "b", "z", "y"], "{uri}: insertion order");
        for batch in &batches[..batches.len() - 1] {
            assert!(batch.len() >= 4, "{uri}: {batches:?}");
        }
        let sizes: Vec<usize> = batches.iter().map(Vec::len).collect();
        assert_eq!(sizes, [6, 4, 1], "{uri}: entity a is not split at the fourth row");
        assert_eq!(journal.count().await.unwrap(), 0, "{uri}");
    }
}

#[tokio::test]
async fn failed_sink_keeps_the_segment() {
    let dir = tempfile::tempdir().unwrap();
    for uri in backends(dir.path()) {
        let journal = JournalStore::open(&uri, &unique_dataset(), "lake").await.unwrap();
        journal.put((0..5).map(|i| stmt(&format!("e{i}"), "Person", "name", "x", "bulk")).collect()).await.unwrap();
        let mut calls = 0;
        let failed = journal
            .drain(2, |_batch: StatementRows| {
                calls += 1;
                std::future::ready(if calls == 2 { Err(Error::Journal("sink down".into())) } else { Ok(()) })
            })
            .await;
        assert!(matches!(&failed, Err(Error::Journal(e)) if e.to_string() == "sink down"), "{uri}: {failed:?}");
        journal.put(vec![stmt("late", "Person", "name", "x", "bulk")]).await.unwrap();
        assert_eq!(journal.count().await.unwrap(), 6, "{uri}: the segment stays");
        let mut seen = 0;
        let again = journal
            .drain(100, |batch: StatementRows| {
                seen += batch.len();
                std::future::ready(Ok(()))
            })
            .await
            .unwrap();
        assert_eq!((again, seen), (Some(6), 6), "{uri}");
        assert_eq!(journal.count().await.unwrap(), 0, "{uri}");
    }
}

#[tokio::test]
async fn each_lake_has_its_own_in_memory_journal() {
    // Two lakes in one process with a dataset of the same name: tests side by side, a server
    // over two catalogs. Rows written to one are neither seen nor drained by the other.
    let dataset = unique_dataset();
    let (a, b) = ("file:///lakes/a/", "file:///lakes/b/");
    let first = JournalStore::open("sqlite:///:memory:", &dataset, a).await.unwrap();
    let other = JournalStore::open("sqlite:///:memory:", &dataset, b).await.unwrap();
    first.put(vec![stmt("p1", "Person", "name", "Ann", "bulk")]).await.unwrap();
    assert_eq!((first.count().await.unwrap(), other.count().await.unwrap()), (1, 0));
    assert_eq!(other.drain(10, |_| std::future::ready(Ok(()))).await.unwrap(), Some(0), "nothing to drain in lake b");
    let again = JournalStore::open("sqlite:///:memory:", &dataset, a).await.unwrap();
    assert_eq!(again.count().await.unwrap(), 1, "lake a's journal, opened again");
    assert_eq!(again.drain(10, |_| std::future::ready(Ok(()))).await.unwrap(), Some(1));
}

/// One flush of a journal at a time: a flush that finds another running returns `Ok(None)` and
/// leaves the rows. On PostgreSQL the other one is any session holding the reference's advisory
/// lock `pg_advisory_lock(crc32(table))`; on SQLite, a flush in this process or the holder of
/// the lock file beside the database.
#[tokio::test]
async fn a_flush_running_elsewhere_makes_a_flush_return_none() {
    async fn drain_all(journal: &JournalStore) -> Option<u64> {
        journal.drain(100, |_batch: StatementRows| std::future::ready(Ok(()))).await.unwrap()
    }
    let dir = tempfile::tempdir().unwrap();
    let postgres = backends(dir.path()).pop().unwrap();
    let dataset = unique_dataset();
    let journal = JournalStore::open(&postgres, &dataset, "lake").await.unwrap();
    journal.put(vec![stmt("p1", "Person", "name", "A", "bulk")]).await.unwrap();
    let (other, connection) = tokio_postgres::connect(&postgres, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let key = i64::from(crc32fast::hash(format!("journal_{dataset}").as_bytes()));
    other.execute("SELECT pg_advisory_lock($1)", &[&key]).await.unwrap();
    assert_eq!(drain_all(&journal).await, None, "postgres: another session flushes");
    assert_eq!(journal.count().await.unwrap(), 1);
    other.execute("SELECT pg_advisory_unlock($1)", &[&key]).await.unwrap();
    assert_eq!(drain_all(&journal).await, Some(1), "postgres");

    let file = format!("sqlite:///{}/journal.db", dir.path().display());
    let (first, second) = (
        JournalStore::open(&file, &dataset, "lake").await.unwrap(),
        JournalStore::open(&file, &dataset, "lake").await.unwrap(),
    );
    first.put(vec![stmt("p1", "Person", "name", "A", "bulk")]).await.unwrap();
    let (entered, is_entered) = tokio::sync::oneshot::channel::<()>();
    let (go, may_go) = tokio::sync::oneshot::channel::<()>();
    let mut gate = Some((entered, may_go));
    let running = tokio::spawn(async move {
        first
            .drain(100, move |_batch: StatementRows| {
                let gate = gate.take();
                async move {
                    if let Some((entered, may_go)) = gate {
                        entered.send(()).unwrap();
                        may_go.await.unwrap();
                    }
                    Ok(())
                }
            })
            .await
            .unwrap()
    });
    is_entered.await.unwrap();
    assert_eq!(drain_all(&second).await, None, "sqlite: a flush runs in this process");
    go.send(()).unwrap();
    assert_eq!(running.await.unwrap(), Some(1), "sqlite");
    assert_eq!(second.count().await.unwrap(), 0);
    // Another process's flush holds the lock file beside the database.
    second.put(vec![stmt("p2", "Person", "name", "B", "bulk")]).await.unwrap();
    let lock = std::fs::File::create(dir.path().join(format!("journal.db-journal_{dataset}.flush"))).unwrap();
    lock.try_lock().unwrap();
    assert_eq!(drain_all(&second).await, None, "sqlite: another process flushes");
    lock.unlock().unwrap();
    assert_eq!(drain_all(&second).await, Some(1), "sqlite");
}

/// A PostgreSQL flush dropped half way (an API client gone mid-request) releases the advisory
/// lock: another session can take it, so other processes' flushes do not wait on a dead one.
#[tokio::test]
async fn a_dropped_postgres_flush_releases_its_lock() {
    let dir = tempfile::tempdir().unwrap();
    let postgres = backends(dir.path()).pop().unwrap();
    let dataset = unique_dataset();
    let journal = std::sync::Arc::new(JournalStore::open(&postgres, &dataset, "lake").await.unwrap());
    journal.put(vec![stmt("p1", "Person", "name", "A", "bulk")]).await.unwrap();
    let (entered, is_entered) = tokio::sync::oneshot::channel::<()>();
    let mut entered = Some(entered);
    let flushing = {
        let journal = journal.clone();
        tokio::spawn(async move {
            journal
                .drain(100, move |_batch: StatementRows| {
                    if let Some(entered) = entered.take() {
                        entered.send(()).unwrap();
                    }
                    std::future::pending::<Result<()>>()
                })
                .await
        })
    };
    is_entered.await.unwrap();
    flushing.abort();
    assert!(flushing.await.unwrap_err().is_cancelled());
    let (other, connection) = tokio_postgres::connect(&postgres, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let key = i64::from(crc32fast::hash(format!("journal_{dataset}").as_bytes()));
    let started = std::time::Instant::now();
    loop {
        let taken: bool = other.query_one("SELECT pg_try_advisory_lock($1)", &[&key]).await.unwrap().get(0);
        if taken {
            break;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "the dropped flush kept the lock");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    other.execute("SELECT pg_advisory_unlock($1)", &[&key]).await.unwrap();
}

/// Rows put while a drain runs are not part of it: they stay for the next drain. They are put
/// through a second handle, as another request or process would: a PostgreSQL handle is one
/// session, which the drain holds.
#[tokio::test]
async fn rows_put_during_a_drain_wait_for_the_next() {
    let dir = tempfile::tempdir().unwrap();
    for uri in backends(dir.path()) {
        let dataset = unique_dataset();
        let journal = std::sync::Arc::new(JournalStore::open(&uri, &dataset, "lake").await.unwrap());
        let writer = JournalStore::open(&uri, &dataset, "lake").await.unwrap();
        journal.put((0..3).map(|i| stmt(&format!("e{i}"), "Person", "name", "x", "bulk")).collect()).await.unwrap();
        let (entered, is_entered) = tokio::sync::oneshot::channel::<()>();
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let draining = {
            let journal = journal.clone();
            let (mut entered, mut released) = (Some(entered), Some(released));
            tokio::spawn(async move {
                journal
                    .drain(100, move |batch: StatementRows| {
                        entered.take().unwrap().send(()).unwrap();
                        let released = released.take().unwrap();
                        async move {
                            released.await.unwrap();
                            assert_eq!(batch.len(), 3);
                            Ok(())
                        }
                    })
                    .await
            })
        };
        is_entered.await.unwrap();
        writer.put(vec![stmt("late", "Person", "name", "x", "bulk")]).await.unwrap();
        release.send(()).unwrap();
        assert_eq!(draining.await.unwrap().unwrap(), Some(3), "{uri}");
        assert_eq!(journal.count().await.unwrap(), 1, "{uri}: the late row stays");
        let mut late = Vec::new();
        journal
            .drain(100, |batch: StatementRows| {
                late.extend(statements(batch).into_iter().map(|s| s.entity_id));
                std::future::ready(Ok(()))
            })
            .await
            .unwrap();
        assert_eq!(late, ["late"], "{uri}");
    }
}

/// Inserts from many tasks at once all land, each batch's rows together.
#[tokio::test]
async fn concurrent_puts_all_land() {
    let dir = tempfile::tempdir().unwrap();
    for uri in backends(dir.path()) {
        let journal = std::sync::Arc::new(JournalStore::open(&uri, &unique_dataset(), "lake").await.unwrap());
        let writers: Vec<_> = (0..8)
            .map(|w| {
                let journal = journal.clone();
                tokio::spawn(async move {
                    for b in 0..10 {
                        let rows =
                            (0..20).map(|v| stmt(&format!("w{w}b{b}"), "Person", "name", &v.to_string(), "bulk"));
                        journal.put(rows.collect()).await.unwrap();
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.await.unwrap();
        }
        assert_eq!(journal.count().await.unwrap(), 8 * 10 * 20, "{uri}");
        let mut entities: Vec<String> = Vec::new();
        let drained = journal
            .drain(50, |batch: StatementRows| {
                entities.extend(statements(batch).into_iter().map(|s| s.entity_id));
                std::future::ready(Ok(()))
            })
            .await
            .unwrap();
        assert_eq!(drained, Some(1600), "{uri}");
        let mut runs = entities.clone();
        runs.dedup();
        assert_eq!(runs.len(), 80, "{uri}: each insert's entity is one run of rows");
    }
}
