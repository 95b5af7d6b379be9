//! `maintenance migrate` (spec `storage-format.md` §5.8; seed 002 "Storage layout"): a lake in
//! the seed's layout (`entities/statements` partitioned by origin, its translog, blobs named
//! `data`) and a table written before the `role` column and the retention properties are
//! migrated in place, then export what a fresh import of the same data exports; a second run is
//! fresh.

use std::path::Path;

use deltalake::DeltaTable;
use deltalake::arrow::array::RecordBatch;
use deltalake::protocol::SaveMode;
use lakehouse::Settings;
use lakehouse::model::DatasetName;
use lakehouse::operation::export::{ExportOptions, export};
use lakehouse::operation::import::{ImportOptions, import_entities};
use lakehouse::operation::migrate::{MIGRATIONS, migrate};
use lakehouse::repository::{Catalog, EntityRepository, WriteOptions};
use lakehouse::storage::Location;

async fn open(lake: &Path) -> EntityRepository {
    let catalog = Catalog::new(Location::local(lake).unwrap(), Settings::default());
    let dataset = catalog.dataset(DatasetName::new("donations").unwrap(), None).unwrap();
    dataset.ensure().await.unwrap();
    EntityRepository::open(&dataset).await.unwrap()
}

/// A lake of the donations fixture, imported and exported as today's code does.
async fn fresh(lake: &Path) -> EntityRepository {
    let repo = open(lake).await;
    let text = std::fs::read_to_string(testkit::fixtures().join("donations.ftm.json")).unwrap();
    let options = ImportOptions::new(WriteOptions::origin("bulk"));
    import_entities(&repo, text.as_bytes(), "donations.ftm.json", &options, |_| {}).await.unwrap();
    export(&repo, &ExportOptions::default()).await.unwrap();
    repo
}

/// The exports without timestamps: statements.csv rows and the entities.
fn exports(lake: &Path) -> (std::collections::BTreeSet<Vec<String>>, Vec<serde_json::Value>) {
    let read = |name: &str| std::fs::read_to_string(lake.join("donations").join(name)).unwrap();
    (
        testkit::timeless_statement_rows(&read("exports/statements.csv")),
        testkit::timeless_entities(&read("entities.ftm.json")),
    )
}

/// Writes `batches` as a new Delta table at `folder`, partitioned by `partitions`.
async fn write_table(folder: &Path, batches: Vec<RecordBatch>, partitions: &[&str]) {
    std::fs::create_dir_all(folder).unwrap();
    let url = url::Url::from_directory_path(folder).unwrap();
    DeltaTable::try_from_url(url)
        .await
        .unwrap()
        .write(batches)
        .with_partition_columns(partitions.iter().map(|p| p.to_string()))
        .with_save_mode(SaveMode::Overwrite)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seed_layout_lake_migrates_and_exports_as_a_fresh_import() {
    let dir = tempfile::tempdir().unwrap();
    let (today, seed) = (dir.path().join("today"), dir.path().join("seed"));
    let repo = fresh(&today).await;
    let expected = exports(&today);

    // The seed's table: the same statements, partitioned by origin only, and a ghost entity
    // the translog marks deleted.
    let columns = "id, entity_id, dataset, schema, prop, prop_type, value, original_value, lang, external, \
                   first_seen, last_seen, origin";
    let mut rows = repo.sql(&format!("SELECT {columns} FROM statement")).await.unwrap();
    rows.extend(
        repo.sql(
            "SELECT 'ghost-' || id AS id, 'ghost' AS entity_id, dataset, schema, prop, prop_type, value, \
             original_value, lang, external, first_seen, last_seen, origin FROM statement \
             WHERE entity_id = '006dd13b055a6b66947f991ced6c854defe0e626'",
        )
        .await
        .unwrap(),
    );
    let ghost_ids = repo
        .sql(
            "SELECT 'ghost-' || id AS id, first_seen, last_seen, last_seen AS deleted_at FROM statement \
             WHERE entity_id = '006dd13b055a6b66947f991ced6c854defe0e626'",
        )
        .await
        .unwrap();
    let ghost_rows: usize = ghost_ids.iter().map(RecordBatch::num_rows).sum();
    assert!(ghost_rows > 0);
    let root = seed.join("donations");
    write_table(&root.join("entities/statements"), rows, &["origin"]).await;
    write_table(&root.join("entities/translog"), ghost_ids, &[]).await;
    // A blob under the seed's name.
    let blob = root.join("archive/ab/cd/ef/abcdef0123/data");
    std::fs::create_dir_all(blob.parent().unwrap()).unwrap();
    std::fs::write(&blob, b"seed bytes").unwrap();

    let seeded = open(&seed).await;
    let metrics = migrate(&seeded, false).await.unwrap();
    assert_eq!(metrics.ran, MIGRATIONS.to_vec());
    assert_eq!(metrics.statements as usize, expected.0.len() + ghost_rows, "the donations rows and the ghost's");
    assert_eq!(metrics.blobs, 1);
    assert_eq!(metrics.job["name"], "MigrateJob");
    assert!(!root.join("entities/statements").exists() && !root.join("entities/translog").exists());
    assert_eq!(std::fs::read(blob.with_file_name("blob")).unwrap(), b"seed bytes");
    assert!(!blob.exists());
    export(&seeded, &ExportOptions::default()).await.unwrap();
    assert_eq!(exports(&seed), expected, "the ghost is deleted, everything else as a fresh import");
    // Done: fresh, unless forced (then a no-op).
    assert!(migrate(&seeded, false).await.unwrap().skipped);
    let again = migrate(&seeded, true).await.unwrap();
    assert_eq!((again.statements, again.blobs, again.columns.len(), again.properties), (0, 0, 0, false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_without_role_and_properties_gains_them() {
    let dir = tempfile::tempdir().unwrap();
    let (today, old) = (dir.path().join("today"), dir.path().join("old"));
    let repo = fresh(&today).await;
    let expected = exports(&today);
    // The table as an older reference wrote it: no `role` column, no retention properties.
    let rows = repo
        .sql(
            "SELECT shard, id, entity_id, dataset, bucket, origin, source, schema, prop, prop_type, value, \
             original_value, lang, external, first_seen, last_seen, fragment, deleted_at FROM statement_raw",
        )
        .await
        .unwrap();
    write_table(&old.join("donations/statements"), rows, &["shard", "bucket", "origin"]).await;

    let migrated = open(&old).await;
    let metrics = migrate(&migrated, false).await.unwrap();
    assert_eq!(metrics.columns, vec!["role".to_string()]);
    assert!(metrics.properties);
    let table = migrated.statements().table().await.unwrap().unwrap();
    let snapshot = table.snapshot().unwrap();
    let config = snapshot.metadata().configuration();
    assert_eq!(config.get("delta.logRetentionDuration").map(String::as_str), Some("interval 1 days"));
    assert_eq!(config.get("delta.deletedFileRetentionDuration").map(String::as_str), Some("interval 1 hours"));
    export(&migrated, &ExportOptions::default()).await.unwrap();
    assert_eq!(exports(&old), expected);
}
