//! Store tests on real Delta tables in temporary folders.

use std::collections::BTreeSet;
use std::path::{Path as FsPath, PathBuf};
use std::time::Duration;

use ftm::Statement;
use ftm::time::{Timestamp, parse_iso};

use super::*;
use crate::model::query::Query;
use crate::storage::fence::{Fence, LOCK};

fn settings() -> Settings {
    Settings { lock_max_retries: 3, ..Settings::default() }
}

fn store(dir: &FsPath, shards: u32) -> StatementStore {
    let root = Location::local(dir).unwrap();
    let fence = Fence::new(root.object_store().unwrap(), "ds", 3).with_backoff(Duration::from_millis(10));
    StatementStore::new(root, DatasetName::new("ds").unwrap(), shards, &settings()).unwrap().with_fence(fence)
}

fn ts(text: &str) -> Option<Timestamp> {
    parse_iso(text)
}

fn stmt(entity: &str, schema: &str, prop: &str, value: &str, seen: &str) -> Statement {
    let mut s = Statement::new("ds", entity, schema, prop, "name", value);
    s.origin = Some("bulk".into());
    s.first_seen = ts(seen);
    s.last_seen = ts(seen);
    s
}

fn tombstone(of: &Statement, at: Timestamp) -> Statement {
    let mut t = of.clone();
    t.deleted_at = Some(at);
    t.last_seen = Some(at.max(of.last_seen.unwrap()));
    t
}

async fn live(store: &StatementStore) -> Vec<Statement> {
    let mut out = Vec::new();
    let mut stream = store.scan(&Filter::default()).await.unwrap();
    while let Some(rows) = stream.next().await.unwrap() {
        out.extend(rows);
    }
    out
}

/// `(entity_id, prop, value, first_seen, last_seen)` of a live row.
type Summary = (String, String, String, Option<Timestamp>, Option<Timestamp>);

fn summary(rows: &[Statement]) -> BTreeSet<Summary> {
    rows.iter().map(|s| (s.entity_id.clone(), s.prop.clone(), s.value.clone(), s.first_seen, s.last_seen)).collect()
}

fn data_files(dir: &FsPath) -> Vec<PathBuf> {
    fn walk(dir: &FsPath, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "parquet") && !path.to_string_lossy().contains("_delta_log")
            {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&dir.join("statements"), &mut out);
    out
}

#[tokio::test]
async fn append_merge_compact_vacuum_keeps_the_live_rows() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), 4);
    assert!(!store.exists().await.unwrap());
    assert!(live(&store).await.is_empty());

    let now = chrono::Utc::now();
    let old = (now - chrono::Duration::days(60)).to_rfc3339();
    let recent = (now - chrono::Duration::days(1)).to_rfc3339();
    let alice = stmt("p1", "Person", "name", "Alice", "2024-01-02");
    let gone_long_ago = stmt("p1", "Person", "alias", "Ali", "2024-01-01");
    let gone_recently = stmt("p2", "Person", "name", "Bob", "2024-01-01");
    let frag = |value: &str, seen: &str| {
        let mut s = stmt("c1", "Company", "name", value, seen);
        s.fragment = "page-1".into();
        s
    };
    let first = vec![
        alice.clone(),
        gone_long_ago.clone(),
        gone_recently.clone(),
        frag("Old Name", "2024-01-01"),
        stmt("o1", "Ownership", "role", "owner", "2024-01-01"),
    ];
    let m = store.append(first).await.unwrap();
    assert_eq!((m.rows, m.commits), (5, 2), "one commit per bucket (thing, interval)");
    assert_eq!(store.version().await.unwrap(), Some(2), "version 0 is the empty create");
    let second = vec![
        stmt("p1", "Person", "name", "Alice", "2024-03-01"),
        tombstone(&gone_long_ago, ts(&old).unwrap()),
        tombstone(&gone_recently, ts(&recent).unwrap()),
        frag("New Name", "2024-02-01"),
    ];
    store.append(second).await.unwrap();

    let expected = BTreeSet::from([
        ("c1".into(), "name".into(), "New Name".into(), ts("2024-02-01"), ts("2024-02-01")),
        ("o1".into(), "role".into(), "owner".into(), ts("2024-01-01"), ts("2024-01-01")),
        ("p1".into(), "name".into(), "Alice".into(), ts("2024-01-02"), ts("2024-03-01")),
    ]);
    assert_eq!(summary(&live(&store).await), expected, "dirty reads dedupe");
    assert!(store.partitions().await.unwrap().iter().all(|p| !p.is_clean()));

    let merged = store.merge(&MergeOptions::default()).await.unwrap();
    assert_eq!(merged.rows_read, 9);
    assert_eq!(merged.rows_written, 4, "3 live rows + the tombstone within grace");
    assert_eq!(summary(&live(&store).await), expected, "merge keeps the live view");
    let parts = store.partitions().await.unwrap();
    assert!(parts.iter().all(Partition::is_clean), "{parts:?}");
    assert_eq!(parts.iter().map(|p| p.rows).sum::<u64>(), 4);

    // A zero grace period reaps the recent tombstone too.
    let forced = store.merge(&MergeOptions { grace_period_days: Some(0), force: true }).await.unwrap();
    assert_eq!(forced.rows_written, 3);

    // Compaction merges small part files; vacuum then deletes everything unreferenced.
    store.append(vec![stmt("p3", "Person", "name", "Carol", "2024-01-01")]).await.unwrap();
    store.append(vec![stmt("p3", "Person", "name", "Carol", "2024-01-05")]).await.unwrap();
    let before = live(&store).await;
    store.compact().await.unwrap();
    assert_eq!(summary(&live(&store).await), summary(&before));
    let vacuumed = store.vacuum(0).await.unwrap();
    assert!(!vacuumed.files_deleted.is_empty());
    let referenced: usize = store.partitions().await.unwrap().iter().map(|p| p.files.len()).sum();
    assert_eq!(data_files(dir.path()).len(), referenced, "only referenced files remain");
    assert_eq!(summary(&live(&store).await), summary(&before));
    // A compacted file (Delta's writer: string views, no sort footer) merges as any other.
    store.append(vec![stmt("p3", "Person", "alias", "Caro", "2024-01-06")]).await.unwrap();
    let all = live(&store).await;
    store.merge(&MergeOptions::default()).await.unwrap();
    assert_eq!(summary(&live(&store).await), summary(&all));
}

#[tokio::test]
async fn a_reader_reads_the_version_it_opened_while_merge_and_vacuum_run() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), 1);
    let rows = |n: usize, seen: &str| -> Vec<Statement> {
        (0..n).map(|i| stmt(&format!("e{i:05}"), "Person", "name", &format!("Name {i}"), seen)).collect()
    };
    store.append(rows(5_000, "2024-01-01")).await.unwrap();
    store.append(rows(5_000, "2024-01-02")).await.unwrap();
    let expected = summary(&live(&store).await);
    let mut reader = store.scan(&Filter::default()).await.unwrap();
    // Another process merges the partition and vacuums the files the reader opened.
    let other = self::store(dir.path(), 1);
    other.merge(&MergeOptions::default()).await.unwrap();
    let vacuumed = other.vacuum(0).await.unwrap();
    assert!(vacuumed.files_deleted.is_empty(), "vacuumed under a reader: {:?}", vacuumed.files_deleted);
    let mut read = Vec::new();
    while let Some(rows) = reader.next().await.unwrap() {
        read.extend(rows);
    }
    assert_eq!(summary(&read), expected);
    // Files a commit removed are not orphans; a file no commit added is.
    assert!(other.orphans(false).await.unwrap().is_empty());
    let data = data_files(dir.path());
    let orphan = data[0].with_file_name("part-00000-never-committed.parquet");
    std::fs::copy(&data[0], &orphan).unwrap();
    let relative = orphan.strip_prefix(dir.path().join("statements")).unwrap().to_string_lossy().to_string();
    assert_eq!(other.orphans(false).await.unwrap(), vec![relative.clone()]);
    assert!(orphan.exists(), "listed, not removed");
    assert_eq!(other.orphans(true).await.unwrap(), vec![relative]);
    assert!(!orphan.exists());
    // The reader done, its lease is gone and the replaced files go, and with them the versions
    // of the two appends (0 is the empty table, 3 the merge).
    let vacuumed = other.vacuum(0).await.unwrap();
    assert_eq!(vacuumed.files_deleted.len(), 2);
    assert_eq!(vacuumed.unreadable_versions, vec![1..=2]);
    assert_eq!(data_files(dir.path()).len(), 1);
}

#[tokio::test]
async fn lookups_filters_and_changes() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), 8);
    let rows = vec![
        stmt("p1", "Person", "name", "Alice", "2024-01-01"),
        stmt("p1", "Person", "nationality", "de", "2024-01-01"),
        stmt("p2", "Person", "name", "Bob", "2024-01-01"),
        stmt("c1", "Company", "name", "ACME", "2024-01-01"),
    ];
    store.append(rows).await.unwrap();
    let mut other = stmt("c1", "Company", "name", "ACME Ltd", "2024-02-01");
    other.origin = Some("crawl".into());
    store.append(vec![other]).await.unwrap();

    let alice = store.get("p1").await.unwrap().unwrap();
    assert_eq!((alice.schema.name.as_str(), alice.caption.as_ref()), ("Person", "Alice"));
    assert_eq!(store.get_statements("p2").await.unwrap().len(), 1);
    assert!(store.get("nobody").await.unwrap().is_none());

    let ids = |filter: Filter| {
        let store = store.clone();
        async move {
            let mut stream = store.scan(&filter).await.unwrap();
            let mut ids = Vec::new();
            while let Some(rows) = stream.next().await.unwrap() {
                ids.push(rows[0].entity_id.clone());
            }
            ids
        }
    };
    assert_eq!(ids(Filter::default()).await, ["c1", "p1", "p2"]);
    let query = |q: &str| Filter::query(Query::from_flat(q).unwrap().node);
    assert_eq!(ids(query("filter:schemata=LegalEntity")).await, ["c1", "p1", "p2"]);
    assert_eq!(ids(query("filter:schemata=Company")).await, ["c1"]);
    assert_eq!(ids(query("filter:properties.nationality=de")).await, ["p1"]);
    // The origin of one row selects the whole entity, both origins' rows.
    let mut stream = store.scan(&query("filter:context.origin=crawl")).await.unwrap();
    assert_eq!(stream.next().await.unwrap().unwrap().len(), 2);
    assert!(stream.next().await.unwrap().is_none());
    assert_eq!(ids(query("exclude:schema=Company&filter:ilike:properties.name=ALI")).await, ["p1"]);
    // A list longer than a pushed-down predicate may be is left to the evaluation.
    let many: Vec<String> = (0..5000).map(|i| format!("filter:id=x{i}")).chain(["filter:id=p2".into()]).collect();
    assert_eq!(ids(query(&many.join("&"))).await, ["p2"]);
    // Ids at the top of the query are read straight away; the rest of the tree still decides.
    assert_eq!(ids(query("filter:id=p1&filter:id=c1")).await, ["c1", "p1"]);
    assert_eq!(ids(query("filter:id=p1&filter:properties.nationality=de")).await, ["p1"]);
    assert!(ids(query("filter:id=p2&filter:properties.nationality=de")).await.is_empty());
    assert!(ids(query("filter:id=nobody")).await.is_empty());
    assert_eq!(ids(query("exclude:id=p1")).await, ["c1", "p2"]);
    let crawl = Filter { origins: vec!["crawl".into()], ..Filter::default() };
    let mut stream = store.scan(&crawl).await.unwrap();
    let c1 = stream.next().await.unwrap().unwrap();
    assert_eq!(c1.len(), 1);
    assert_eq!(c1[0].value, "ACME Ltd");

    let since = ts("2024-01-15").unwrap();
    assert_eq!(store.get_changed_entity_ids(since).await.unwrap(), ["c1"]);
    let bob = store.get_statements("p2").await.unwrap();
    store.append(vec![tombstone(&bob[0], ts("2024-03-01").unwrap())]).await.unwrap();
    assert_eq!(store.get_changed_entity_ids(since).await.unwrap(), ["c1", "p2"]);
    assert!(store.get("p2").await.unwrap().is_none());

    let stats = store.stats().await.unwrap();
    assert_eq!(stats.entity_count, 2);
    assert_eq!(stats.countries, ["de"]);
    assert_eq!(stats.things.countries[0].label, "Germany");

    let mut csv = Vec::new();
    assert_eq!(store.export_csv(&Filter::default(), &mut csv).await.unwrap(), 4);
    let text = String::from_utf8(csv).unwrap();
    assert!(text.starts_with("\"id\",\"entity_id\""));
    assert_eq!(text.lines().count(), 5);
}

#[tokio::test]
async fn concurrent_appends_both_land() {
    let dir = tempfile::tempdir().unwrap();
    let a = store(dir.path(), 0);
    a.append(vec![stmt("seed", "Person", "name", "Seed", "2024-01-01")]).await.unwrap();
    let tasks: Vec<_> = (0..2)
        .map(|n| {
            let s = store(dir.path(), 0);
            tokio::spawn(async move {
                let rows: Vec<_> =
                    (0..50).map(|i| stmt(&format!("w{n}e{i}"), "Person", "name", "X", "2024-01-01")).collect();
                s.append(rows).await.unwrap()
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(live(&a).await.len(), 101);
}

#[tokio::test]
async fn maintenance_waits_for_an_append_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), 0);
    s.append(vec![stmt("p1", "Person", "name", "A", "2024-01-01")]).await.unwrap();
    let in_flight = s.fence().append().await.unwrap();
    let merging = {
        let root = Location::local(dir.path()).unwrap();
        let fence = Fence::new(root.object_store().unwrap(), "ds", 10).with_backoff(Duration::from_millis(20));
        let s = s.clone().with_fence(fence);
        tokio::spawn(async move { s.merge(&MergeOptions::default()).await })
    };
    // Holding `.LOCK-MERGE`, the merge is past both locks and at the append marker: it cannot
    // finish while the marker is there, however slow the machine.
    crate::testing::wait_for_file(&dir.path().join(crate::storage::fence::LOCK_MERGE)).await;
    assert!(!merging.is_finished(), "merge must wait for the append marker");
    in_flight.release().await.unwrap();
    assert_eq!(merging.await.unwrap().unwrap().partitions, 1);
}

#[tokio::test]
async fn stale_lock_is_a_clear_error_until_unlocked() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), 0);
    s.append(vec![stmt("p1", "Person", "name", "A", "2024-01-01")]).await.unwrap();
    std::fs::write(dir.path().join(LOCK), "\"2024-01-01T00:00:00+00:00\"").unwrap();
    let err = s.append(vec![stmt("p2", "Person", "name", "B", "2024-01-01")]).await.unwrap_err();
    let message = err.to_string();
    assert!(message.contains("`.LOCK`") && message.contains("maintenance unlock"), "{message}");
    let merged = s.merge(&MergeOptions::default()).await;
    assert!(matches!(&merged, Err(Error::Locked { marker, .. }) if marker == LOCK), "{merged:?}");
    assert!(s.unlock().await.unwrap());
    assert!(!s.unlock().await.unwrap());
    s.append(vec![stmt("p2", "Person", "name", "B", "2024-01-01")]).await.unwrap();
    assert_eq!(live(&s).await.len(), 2, "nothing stored was lost");
}

#[tokio::test]
async fn destroy_drops_the_log_only() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), 0);
    assert!(!s.destroy().await.unwrap());
    s.append(vec![stmt("p1", "Person", "name", "A", "2024-01-01")]).await.unwrap();
    assert!(s.destroy().await.unwrap());
    assert!(!s.exists().await.unwrap());
    assert_eq!(data_files(dir.path()).len(), 1, "data files stay");
    assert!(live(&s).await.is_empty());
}

#[tokio::test]
async fn origins_with_escaped_characters_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), 0);
    let mut odd = stmt("p1", "Person", "name", "A", "2024-01-01");
    odd.origin = Some("a b:c%dé".into());
    s.append(vec![odd.clone(), odd]).await.unwrap();
    assert_eq!(s.partitions().await.unwrap()[0].origin, "a b:c%dé");
    s.merge(&MergeOptions::default()).await.unwrap();
    let rows = live(&s).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].origin.as_deref(), Some("a b:c%dé"));
}

#[tokio::test]
async fn append_escapes_partition_folders_and_records_entity_id_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), 0);
    let origin = "mapping:ab c";
    let mut rows: Vec<Statement> =
        ["p9", "p1", "p5"].iter().map(|e| stmt(e, "Person", "name", e, "2024-01-01")).collect();
    for s in &mut rows {
        s.origin = Some(origin.into());
    }
    store.append(&mut rows).await.unwrap();
    assert_eq!(rows[0].first_seen, ts("2024-01-01"), "packed in place, the buffer stays with the caller");
    let files = data_files(dir.path());
    assert_eq!(files.len(), 1, "{files:?}");
    let folder = files[0].parent().unwrap().strip_prefix(dir.path().join("statements")).unwrap();
    assert_eq!(folder, FsPath::new("shard=0/bucket=thing/origin=mapping%3Aab%20c"), "delta-rs's escaping");
    let table = store.table().await.unwrap().unwrap();
    let file = table.snapshot().unwrap().log_data().iter().next().unwrap();
    assert_eq!(file.partition_values_map().get("origin").cloned().flatten().as_deref(), Some(origin));
    assert_eq!(file.num_records(), Some(3));
    assert_eq!(u64::try_from(file.size()).unwrap(), std::fs::metadata(&files[0]).unwrap().len(), "the log's size");
    let stats = file.stats().unwrap();
    assert!(stats.contains(r#""minValues":{"entity_id":"p1"}"#) && stats.contains(r#""maxValues":{"entity_id":"p9"}"#));
    let read: Vec<String> = live(&store).await.into_iter().map(|s| s.entity_id).collect();
    assert_eq!(read, ["p1", "p5", "p9"]);
    assert_eq!(store.get_statements("p5").await.unwrap().len(), 1);
    // The k-way merge and the merged-file scan open the files under the escaped folder.
    store
        .append(
            vec![stmt("p3", "Person", "name", "p3", "2024-01-02")]
                .into_iter()
                .map(|mut s| {
                    s.origin = Some(origin.into());
                    s
                })
                .collect::<Vec<_>>(),
        )
        .await
        .unwrap();
    assert_eq!(store.merge(&MergeOptions::default()).await.unwrap().rows_written, 4);
    let read: Vec<String> = live(&store).await.into_iter().map(|s| s.entity_id).collect();
    assert_eq!(read, ["p1", "p3", "p5", "p9"]);
}

/// Appends `rows` in the given order as one `part-*` file, as the reference's unsorted
/// appends land.
async fn append_unsorted(store: &StatementStore, rows: &[Statement]) {
    use deltalake::kernel::Action;
    use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
    use deltalake::protocol::{DeltaOperation, SaveMode};

    let table = store.ensure_table().await.unwrap();
    let key = ("0".to_string(), "thing".to_string(), "bulk".to_string());
    let props = super::profiles::writer_properties(false);
    let objects = store.table_store().unwrap();
    let name = format!("part-00000-{}-c000.zstd.parquet", uuid::Uuid::new_v4());
    let mut file = datafile::DataFile::create(&objects, &datafile::partition_folder(&key), &name, key, props).unwrap();
    file.write(&crate::storage::rows::to_file_batch(rows).unwrap()).await.unwrap();
    let add = file.finish(true).await.unwrap().unwrap();
    let operation = DeltaOperation::Write { mode: SaveMode::Append, partition_by: None, predicate: None };
    CommitBuilder::from(CommitProperties::default())
        .with_actions(vec![Action::Add(add)])
        .build(Some(table.snapshot().unwrap()), table.log_store(), operation)
        .await
        .unwrap();
}

/// Whether the footer of each file of `part` says its rows are sorted by entity id.
fn footers_say_sorted(table_dir: &FsPath, part: &Partition) -> Vec<bool> {
    use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    part.files
        .iter()
        .map(|file| {
            let builder = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(table_dir.join(file)).unwrap());
            let kv = builder.unwrap().metadata().file_metadata().key_value_metadata().cloned().unwrap_or_default();
            kv.iter().any(|e| e.key == datafile::SORTED_BY && e.value.as_deref() == Some("entity_id"))
        })
        .collect()
}

#[tokio::test]
async fn merge_sorts_unsorted_files_and_merges_sorted_ones_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), 0);
    store
        .append(vec![
            stmt("p2", "Person", "name", "Old", "2024-01-01"),
            stmt("p1", "Person", "name", "A", "2024-01-01"),
        ])
        .await
        .unwrap();
    let table_dir = dir.path().join("statements");
    let part = store.partitions().await.unwrap().remove(0);
    assert!(sorted_merge::is_sorted(&store.table_files().unwrap(), &part).await.unwrap(), "our appends are sorted");
    assert_eq!(footers_say_sorted(&table_dir, &part), [true], "and say so");
    let mut unsorted = vec![
        stmt("p9", "Person", "name", "Z", "2024-02-01"),
        stmt("p2", "Person", "name", "Old", "2024-03-01"),
        stmt("p5", "Person", "name", "M", "2024-02-01"),
    ];
    crate::storage::rows::pack(&mut unsorted, chrono::Utc::now()).unwrap();
    append_unsorted(&store, &unsorted).await;
    let part = store.partitions().await.unwrap().remove(0);
    assert!(
        !sorted_merge::is_sorted(&store.table_files().unwrap(), &part).await.unwrap(),
        "the second file is not sorted"
    );
    let mut footers = footers_say_sorted(&table_dir, &part);
    footers.sort();
    assert_eq!(footers, [false, true], "an unsorted file does not claim it");

    let merged = store.merge(&MergeOptions::default()).await.unwrap();
    assert_eq!((merged.rows_read, merged.rows_written), (5, 4));
    let rows = live(&store).await;
    let ids: Vec<&str> = rows.iter().map(|s| s.entity_id.as_str()).collect();
    assert_eq!(ids, ["p1", "p2", "p5", "p9"]);
    assert_eq!((rows[1].first_seen, rows[1].last_seen), (ts("2024-01-01"), ts("2024-03-01")), "folded duplicate");
    let part = store.partitions().await.unwrap().remove(0);
    assert!(part.is_clean() && sorted_merge::is_sorted(&store.table_files().unwrap(), &part).await.unwrap());
    assert_eq!(footers_say_sorted(&table_dir, &part), [true], "merged files say so too");

    // A sorted merged file plus a sorted append merge k-way to the same result as a sort.
    store.append(vec![stmt("p3", "Person", "name", "C", "2024-04-01")]).await.unwrap();
    store.merge(&MergeOptions::default()).await.unwrap();
    let ids: Vec<String> = live(&store).await.into_iter().map(|s| s.entity_id).collect();
    assert_eq!(ids, ["p1", "p2", "p3", "p5", "p9"]);
}

#[tokio::test]
async fn a_reshard_whose_config_update_is_outstanding_reads_and_appends_by_the_new_count() {
    let dir = tempfile::tempdir().unwrap();
    let old = store(dir.path(), 1);
    let rows: Vec<Statement> =
        (0..200).map(|i| stmt(&format!("e{i:03}"), "Person", "name", &format!("N{i}"), "2024-01-01")).collect();
    old.append(rows).await.unwrap();
    let metrics = old.reshard(8).await.unwrap();
    assert_eq!((metrics.rows, metrics.files_removed), (200, 1));
    // The config still says 1 (the process died before writing it): the table's pending count
    // wins, for lookups pruned by shard and for appends.
    let table = old.table().await.unwrap().unwrap();
    assert_eq!(old.shards_of(&table).await.unwrap(), 8);
    for i in [0, 57, 199] {
        assert!(old.get(&format!("e{i:03}")).await.unwrap().is_some(), "e{i:03}");
    }
    old.append(vec![stmt("late", "Person", "name", "Late", "2024-01-02")]).await.unwrap();
    let parts = old.partitions().await.unwrap();
    let late = crate::model::shard("late", 8);
    let expected = (0..200).filter(|i| crate::model::shard(&format!("e{i:03}"), 8) == late).count() + 1;
    let rows: u64 = parts.iter().filter(|p| p.shard == late).map(|p| p.rows).sum();
    assert_eq!(rows, expected as u64, "the append went to shard {late} of 8");
    assert!(old.get("late").await.unwrap().is_some());
    // Re-sharding again to the pending count rewrites nothing; once the config says 8, the
    // property goes.
    assert_eq!(old.reshard(8).await.unwrap().version, None);
    let new = store(dir.path(), 8);
    assert!(new.finish_reshard().await.unwrap());
    assert!(!new.finish_reshard().await.unwrap());
    assert_eq!(new.shards_of(&new.table().await.unwrap().unwrap()).await.unwrap(), 8);
    assert_eq!(live(&new).await.len(), 201);
}

/// A merge's removes carry the time of its commit, not of its start: a vacuum keeps the files
/// removed since the oldest read lease began, and a reader that opened the table while the merge
/// ran must find the removed files still there.
#[tokio::test]
async fn a_merge_stamps_its_removes_at_commit() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), 0);
    for round in 0..2 {
        let rows = (0..5_000).map(|i| stmt(&format!("p{i}"), "Person", "name", &format!("N{round}"), "2024-01-01"));
        s.append(rows.collect::<Vec<_>>()).await.unwrap();
    }
    s.merge(&MergeOptions::default()).await.unwrap();
    let log = dir.path().join("statements/_delta_log");
    let mut commits: Vec<PathBuf> = std::fs::read_dir(&log)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    commits.sort();
    let text = std::fs::read_to_string(commits.last().unwrap()).unwrap();
    let actions: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let written = actions.iter().filter_map(|a| a["add"]["modificationTime"].as_i64()).max().expect("an add");
    let removed: Vec<i64> = actions.iter().filter_map(|a| a["remove"]["deletionTimestamp"].as_i64()).collect();
    assert_eq!(removed.len(), 2, "{text}");
    for at in removed {
        assert!(at >= written, "a remove at {at} predates the merged file written at {written}");
    }
}
