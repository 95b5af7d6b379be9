//! The entity repository end to end: write through the journal, flush, read, delete.

use lakehouse::Settings;
use lakehouse::model::DatasetName;
use lakehouse::model::query::Query;
use lakehouse::operation::import::{ImportOptions, import_entities};
use lakehouse::operation::optimize::{OptimizeOptions, optimize};
use lakehouse::repository::{Catalog, EntityRepository, WriteOptions};
use lakehouse::storage::Location;
use lakehouse::storage::statements::Filter;

async fn repo(dir: &std::path::Path) -> EntityRepository {
    repo_with_journal(dir, &format!("sqlite:///{}/journal.db", dir.display())).await
}

async fn repo_with_journal(dir: &std::path::Path, journal_uri: &str) -> EntityRepository {
    let settings = Settings { journal_uri: journal_uri.to_string(), lock_max_retries: 2, ..Settings::default() };
    let catalog = Catalog::new(Location::local(dir.join("lake")).unwrap(), settings);
    let dataset = catalog.dataset(DatasetName::new("donations").unwrap(), None).unwrap();
    EntityRepository::open(&dataset).await.unwrap()
}

async fn ids(repo: &EntityRepository) -> Vec<String> {
    let mut stream = repo.query(&Query::default(), true).await.unwrap();
    let mut out = Vec::new();
    while let Some(e) = stream.next_entity().await.unwrap() {
        out.push(e.id.into_owned());
    }
    out
}

const PERSON: &str = "f9c295f21b233ac878fbac4d271bb6fd13d7952a";

#[tokio::test]
async fn delete_hides_then_optimize_past_grace_reaps() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path()).await;
    let input = std::fs::File::open(testkit::fixtures().join("donations.ftm.json")).unwrap();
    let options = ImportOptions::new(WriteOptions::origin("bulk"));
    let metrics =
        import_entities(&repo, std::io::BufReader::new(input), "donations.ftm.json", &options, |_| {}).await.unwrap();
    assert_eq!((metrics.items, metrics.statements, metrics.stored), (474, 2857, false));
    assert_eq!(repo.journal().count().await.unwrap(), 2857);
    // Reads flush first.
    let person = repo.get(PERSON, None).await.unwrap().unwrap();
    assert_eq!(person.caption, "Frau Lina Dachner");
    assert_eq!(repo.journal().count().await.unwrap(), 0);
    assert_eq!(ids(&repo).await.len(), 474);

    assert_eq!(repo.delete_entity(PERSON, None).await.unwrap(), 4, "three properties and the checksum");
    assert!(repo.get(PERSON, None).await.unwrap().is_none());
    assert!(!ids(&repo).await.contains(&PERSON.to_string()));
    let mut csv = Vec::new();
    repo.statements().export_csv(&Filter::default(), &mut csv).await.unwrap();
    let own_rows = format!("\"{PERSON}\",\"{PERSON}\""); // entity_id, canonical_id
    assert!(!String::from_utf8(csv).unwrap().contains(&own_rows), "no row of the deleted entity");
    let physical: u64 = repo.statements().partitions().await.unwrap().iter().map(|p| p.rows).sum();
    assert_eq!(physical, 2857 + 4, "tombstones are rows");

    // Within the grace period the tombstones stay; past it they go with what they shadowed.
    let kept = optimize(&repo, &OptimizeOptions::default()).await.unwrap();
    assert_eq!(kept.merge.rows_written, 2857, "2853 live rows and 4 tombstones");
    let reaped = optimize(&repo, &OptimizeOptions { force: true, grace_period_days: Some(0), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(reaped.merge.rows_written, 2853);
    let physical: u64 = repo.statements().partitions().await.unwrap().iter().map(|p| p.rows).sum();
    assert_eq!(physical, 2853);
    assert!(repo.get(PERSON, None).await.unwrap().is_none());
}

#[tokio::test]
async fn statements_are_rekeyed_under_the_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path()).await;
    let mut writer = repo.writer(WriteOptions::origin("api")).unwrap();
    let mut s = ftm::Statement::new("elsewhere", "p1", "Person", "nationality", "", "de");
    s.lang = Some("deu".into());
    s.id = "carried-over".into();
    writer.add_statement(s).await.unwrap();
    let unknown = writer.add_statement(ftm::Statement::new("x", "p1", "Person", "colour", "", "red")).await;
    let message = unknown.unwrap_err().to_string();
    assert!(message.contains("colour") && message.contains("Person"), "{message}");
    writer.close().await.unwrap();
    repo.flush().await.unwrap();
    let rows = repo.statements().get_statements("p1").await.unwrap();
    assert_eq!(rows.len(), 1);
    let s = &rows[0];
    assert_eq!((s.dataset.as_str(), s.prop_type.as_str(), s.lang.as_deref()), ("donations", "country", None));
    assert_eq!(s.id, ftm::make_key("donations", "p1", "nationality", "de", false, None));
    assert_eq!(s.origin.as_deref(), Some("api"));
}

#[tokio::test]
async fn an_import_into_a_memory_journal_appends_straight_to_the_store_in_batches() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo_with_journal(dir.path(), "sqlite:///:memory:").await;
    let input = std::fs::File::open(testkit::fixtures().join("donations.ftm.json")).unwrap();
    let options = ImportOptions { bulk_size: Some(1000), ..ImportOptions::new(WriteOptions::origin("bulk")) };
    let metrics =
        import_entities(&repo, std::io::BufReader::new(input), "donations.ftm.json", &options, |_| {}).await.unwrap();
    assert_eq!((metrics.items, metrics.statements, metrics.stored), (474, 2857, true));
    assert_eq!(repo.journal().count().await.unwrap(), 0, "nothing waits in the journal");
    let tags = repo.dataset().tags();
    assert!(tags.get("statements/last_updated").await.unwrap().is_some());
    assert!(tags.get("journal/last_updated").await.unwrap().is_none());
    // 2857 statements in batches of 1000: three appends of one commit per bucket each.
    let version = repo.statements().version().await.unwrap().unwrap();
    assert_eq!(version, 6, "version 0 creates the table, then 3 appends x 2 buckets");
    let parts = repo.statements().partitions().await.unwrap();
    assert_eq!(parts.iter().map(|p| p.rows).sum::<u64>(), 2857);
    assert!(parts.iter().all(|p| p.files.len() == 3), "{parts:?}");
    assert_eq!(ids(&repo).await.len(), 474);
}

/// One statement into the journal through a writer.
async fn journal_one(repo: &EntityRepository, entity: &str) {
    let mut writer = repo.writer(WriteOptions::origin("api")).unwrap();
    writer.add_statement(ftm::Statement::new("donations", entity, "Person", "name", "", entity)).await.unwrap();
    writer.close().await.unwrap();
}

/// A flush that finds another one running (here the lock file a flushing process holds) waits
/// for it and then runs, so the writes acknowledged before it are in the store when it returns;
/// when the other appends nothing for the lock patience (3 s here), it gives up busy. A flush
/// that moves nothing leaves a fresh `journal/last_flushed` alone.
#[tokio::test]
async fn a_flush_waits_for_another_running_then_runs() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path()).await;
    journal_one(&repo, "p1").await;
    let database = std::fs::canonicalize(dir.path().join("journal.db")).unwrap();
    let lock = std::fs::File::create(format!("{}-journal_donations.flush", database.display())).unwrap();
    lock.try_lock().unwrap();
    let started = std::time::Instant::now();
    let (flushed, ()) = tokio::join!(repo.flush(), async {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        lock.unlock().unwrap();
    });
    let flushed = flushed.unwrap();
    assert_eq!((flushed.statements, flushed.skipped), (1, false));
    assert!(started.elapsed() >= std::time::Duration::from_millis(500), "it ran before the other ended");

    journal_one(&repo, "p2").await;
    lock.try_lock().unwrap();
    let err = repo.flush().await.unwrap_err();
    assert!(matches!(&err, lakehouse::Error::Busy { operation, .. } if operation == "journal flush"), "{err}");
    lock.unlock().unwrap();
    assert_eq!(repo.flush().await.unwrap().statements, 1);

    let tag = dir.path().join("lake/donations/tags/lakehouse/journal/last_flushed");
    let before = std::fs::read_to_string(&tag).unwrap();
    assert_eq!(repo.flush().await.unwrap().statements, 0);
    assert_eq!(std::fs::read_to_string(&tag).unwrap(), before, "a flush moving nothing wrote the tag");
}
