//! `export`: publish a dataset's artifacts in one sweep over its live statements (seed 002
//! "Export …"; spec `exports-and-operations.md` §1–§7, §9.2).
//!
//! One scan, entity by entity in id order, feeds every artifact:
//!
//! * `exports/statements.csv` — the live rows, sorted by entity id then statement id, formatted
//!   on a blocking task of its own while the sweep aggregates the same entities;
//! * `entities.ftm.json` — one aggregated entity per line, sorted by id (one record per entity
//!   even when its statements span buckets: the reference writes one per bucket);
//! * `exports/documents.csv`, `exports/documents.crawl.csv` and `exports/parents.csv`;
//! * `exports/statistics.json` (versioned), then `index.json` (versioned).
//!
//! The scan is of the store, or, in `make`, of the merge its optimize is writing
//! ([`export_from`]). Files are compressed with the dataset's codec (`gz` or `zst`; statistics and index never),
//! assembled at `<file>.tmp` and renamed into place only when the whole sweep succeeded. The
//! export flushes the journal first and is skipped when `operations/export/last_run` is newer
//! than `statements/last_updated` and `journal/last_updated`, unless forced. Artifact tags get
//! the export's start time; an `ExportJob` record is written.
//!
//! Differences from the reference: documents whose `contentHash` is a SHA-1 (the FtM convention)
//! export like SHA-256 ones (the reference aborts the whole export); a non-integer `fileSize`
//! exports as `0` instead of failing. The diffs since the previous export (`diffs/`) are written
//! by [`diff`](super::diff) from the same sweep.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::sync::Arc;

use chrono::Utc;
use ftm::EntityRecord;
use ftm::time::IsoSpeller;
use ftm::time::{Timestamp, iso_z};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::artifacts::{Artifact, ENTITIES, Finished, STATEMENTS, artifact_key, publish};
use super::diff::{DiffCounts, Diffs, Op, Series, record_state};
use super::jobs::Job;
use super::optimize::OptimizeScan;
use crate::error::{Error, Result};
use crate::repository::config::clean_dump;
use crate::repository::entities::{JOURNAL_UPDATED, STATEMENTS_UPDATED};
use crate::repository::{DatasetConfig, EntityRepository};
use crate::storage::statements::{CsvRows, EntityBatch, EntityStream, Filter, StatsBuilder};

/// Target tag of the export operation.
pub const EXPORT_LAST_RUN: &str = "operations/export/last_run";
/// The documents exports and the parents export.
pub const DOCUMENTS: &str = "exports/documents.csv";
pub const CRAWL_DOCUMENTS: &str = "exports/documents.crawl.csv";
pub const PARENTS: &str = "exports/parents.csv";
/// The statistics file (never compressed).
pub const STATISTICS: &str = "exports/statistics.json";
/// The dataset index (never compressed).
pub const INDEX: &str = "index.json";

/// The columns of the documents CSVs (spec §6.3).
pub const DOCUMENT_COLUMNS: [&str; 8] =
    ["id", "checksum", "name", "mimetype", "path", "size", "updated_at", "public_url"];

/// Options of an export.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportOptions {
    /// Export even when the artifacts are fresh.
    pub force: bool,
    /// Write no diffs and keep the diff state (the reference's `make_diff=False`).
    pub skip_diff: bool,
}

/// What an export wrote (the `result` of the `ExportJob`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportMetrics {
    /// Fresh: nothing was written.
    pub skipped: bool,
    pub statements: u64,
    pub entities: u64,
    pub parents: u64,
    pub documents: u64,
    pub crawl_documents: u64,
    pub statistics: u64,
    /// Diff entries (add, mod, del) of the entities, documents and crawl documents series.
    pub diffs: [DiffCounts; 3],
}

impl ExportMetrics {
    /// The job `result` object (keys present only when counted, `parents` always).
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        let diff = |name: &str, series: Series| {
            let (add, modified, del) = self.diffs[series as usize];
            [(format!("{name}_add"), add), (format!("{name}_mod"), modified), (format!("{name}_del"), del)]
        };
        let mut entries = vec![("statements".to_string(), self.statements), ("entities".to_string(), self.entities)];
        entries.extend(diff("entities", Series::Entities));
        entries.push(("parents".to_string(), self.parents));
        entries.push(("documents".to_string(), self.documents));
        entries.extend(diff("documents", Series::Documents));
        entries.push(("crawl_documents".to_string(), self.crawl_documents));
        entries.extend(diff("crawl_documents", Series::CrawlDocuments));
        entries.push(("statistics".to_string(), self.statistics));
        for (key, n) in entries {
            if n > 0 || key == "parents" {
                out.insert(key, n.into());
            }
        }
        Value::Object(out)
    }
}

/// Whether a job with target tag `target` is fresh: the target and at least one dependency are
/// set, and the target is newer than every dependency (spec `exports-and-operations.md` §9.1).
pub(crate) async fn is_fresh(repo: &EntityRepository, target: &str, dependencies: &[&str]) -> Result<bool> {
    let tags = repo.dataset().tags();
    let Some(own) = tags.get(target).await? else {
        return Ok(false);
    };
    let mut any = false;
    for dep in dependencies {
        if let Some(time) = tags.get(dep).await? {
            any = true;
            if time >= own {
                return Ok(false);
            }
        }
    }
    Ok(any)
}

/// A document row's source, collected during the sweep.
struct Document {
    id: String,
    checksum: String,
    name: String,
    mimetype: String,
    parents: Vec<String>,
    size: u64,
    updated_at: Option<Timestamp>,
    crawl: bool,
    /// Diff entries in the documents and crawl documents series.
    ops: [Option<Op>; 2],
}

/// A registered folder: its name and first parent.
struct Folder {
    name: String,
    parent: Option<String>,
}

/// The file name rule: first `fileName`, else the caption.
fn file_name(entity: &EntityRecord<'_>) -> String {
    entity.first("fileName").unwrap_or(&entity.caption).to_string()
}

/// A MIME type, lower-cased and without parameters; `None` for the octet-stream default.
fn normalise_mime(value: &str) -> Option<String> {
    let base = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    (base.matches('/').count() == 1 && base != "application/octet-stream").then_some(base)
}

fn is_checksum(value: &str) -> bool {
    matches!(value.len(), 40 | 64) && value.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Document {
    fn of(entity: &EntityRecord<'_>) -> Option<Document> {
        let schema = entity.schema;
        if !schema.is_a("Document") || schema.name == "Folder" {
            return None;
        }
        let checksum = entity.values("contentHash").iter().map(|c| c.to_ascii_lowercase()).find(|c| is_checksum(c))?;
        let name = file_name(entity);
        let mimetype = entity
            .values("mimeType")
            .iter()
            .find_map(|v| normalise_mime(v))
            .or_else(|| mime_guess::from_path(&name).first().map(|m| m.essence_str().to_string()))
            .unwrap_or_else(|| "application/octet-stream".to_string());
        Some(Document {
            id: entity.id.to_string(),
            checksum,
            name,
            mimetype,
            parents: entity.values("parent").iter().map(|p| p.to_string()).collect(),
            size: entity.first("fileSize").and_then(|s| s.trim().parse().ok()).unwrap_or(0),
            updated_at: entity.last_change,
            crawl: entity.origin.iter().any(|o| o == "crawl"),
            ops: [None, None],
        })
    }
}

/// The path of folder `id`: names from its top ancestor down; a cycle stops at the first repeat.
fn folder_path(folders: &HashMap<String, Folder>, id: &str) -> String {
    let mut names = Vec::new();
    let mut seen = Vec::new();
    let mut current = Some(id.to_string());
    while let Some(cid) = current {
        let Some(folder) = folders.get(&cid) else { break };
        if seen.contains(&cid) {
            break;
        }
        names.push(folder.name.clone());
        seen.push(cid);
        current = folder.parent.clone();
    }
    names.reverse();
    names.join("/")
}

/// The public URL prefix: the config's, else `LAKEHOUSE_PUBLIC_URL_PREFIX` with `${dataset}`.
fn public_prefix(repo: &EntityRepository) -> Option<String> {
    let name = repo.dataset().name().as_str();
    repo.config()
        .public_url_prefix()
        .map(str::to_string)
        .or_else(|| repo.dataset().settings().public_url_prefix.as_ref().map(|p| p.replace("${dataset}", name)))
        .map(|p| p.trim_end_matches('/').to_string())
}

pub(crate) fn csv_writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new())
}

/// Exports the dataset (see the module docs).
///
/// # Errors
/// Flush and scan errors; [`Error::Io`] writing files (the previous artifacts then stay);
/// [`Error::InvalidConfig`] for an unsupported codec.
pub async fn export(repo: &EntityRepository, options: &ExportOptions) -> Result<ExportMetrics> {
    export_from(repo, options, None).await
}

/// Exports as [`export`] does, from `merging` when given: the live statements of a merge
/// being written (`make`'s optimize, see [`optimize_scan`](super::optimize::optimize_scan)),
/// instead of a scan of the store. The journal is not flushed then (`make` flushed before the
/// merge), and nothing is published before the optimize has finished.
///
/// # Errors
/// As [`export`]; the merge's error if it failed.
pub(crate) async fn export_from(
    repo: &EntityRepository,
    options: &ExportOptions,
    merging: Option<(EntityStream, &mut OptimizeScan)>,
) -> Result<ExportMetrics> {
    if merging.is_none() {
        repo.flush().await?;
    }
    if !options.force && is_fresh(repo, EXPORT_LAST_RUN, &[STATEMENTS_UPDATED, JOURNAL_UPDATED]).await? {
        return Ok(ExportMetrics { skipped: true, ..Default::default() });
    }
    let dataset = repo.dataset();
    let mut job = Job::start("ExportJob", dataset);
    job.fields.insert("make_diff".into(), (!options.skip_diff).into());
    job.fields.insert("result".into(), Value::Null);
    job.begin(dataset).await?;
    let result = sweep(repo, job.started(), !options.skip_diff, merging).await;
    let result = match result {
        Ok(metrics) => write_index(repo).await.map(|()| metrics),
        Err(e) => Err(e),
    };
    job.done = 1;
    match &result {
        Ok(metrics) => {
            job.fields.insert("result".into(), metrics.as_ref().map_or(Value::Null, ExportMetrics::to_json));
            job.finish(dataset, None).await?;
            dataset.tags().set(EXPORT_LAST_RUN, job.started()).await?;
        }
        Err(e) => {
            job.finish(dataset, Some(&e.to_string())).await?;
        }
    }
    result.map(Option::unwrap_or_default)
}

/// The sweep, over a scan of the store or over `merging`; `None` when there is no statement
/// table (then only the index is written).
async fn sweep(
    repo: &EntityRepository,
    started: Timestamp,
    make_diff: bool,
    merging: Option<(EntityStream, &mut OptimizeScan)>,
) -> Result<Option<ExportMetrics>> {
    let Some(version) = repo.statements().version().await? else {
        return Ok(None);
    };
    let mut diffs = if make_diff { Some(Diffs::open(repo, started, version).await?) } else { None };
    let root = repo.dataset().location().path().to_path_buf();
    let codec = repo.config().compression();
    let (csv, csv_task) = statements_writer(Artifact::create(&root, STATEMENTS, codec)?);
    let mut entities = Artifact::create(&root, ENTITIES, codec)?;
    let mut stats = StatsBuilder::default();
    let mut metrics = ExportMetrics::default();
    let mut documents = Vec::new();
    let mut folders: HashMap<String, Folder> = HashMap::new();
    let mut folder_order: Vec<String> = Vec::new();
    let (stream, mut merge) = match merging {
        Some((stream, merge)) => (stream, Some(merge)),
        None => (repo.statements().scan(&Filter::default()).await?, None),
    };
    let mut stream = stream.read_ahead();
    let mut lines = Vec::with_capacity(1 << 16);
    let mut times: [IsoSpeller; 3] = Default::default();
    // A batch of entities at a time: the CSV task formats it while this loop aggregates it.
    while let Some(batch) = stream.next().await? {
        let batch = Arc::new(batch);
        if csv.send(batch.clone()).await.is_err() {
            break; // The CSV task failed: its error is reported below.
        }
        for rows in batch.entities() {
            metrics.statements += rows.len() as u64;
            metrics.entities += 1;
            let entity = match ftm::aggregate(ftm::model(), rows.rows()) {
                Ok(Some(entity)) => entity,
                Ok(None) | Err(ftm::FtmError::SchemaConflict(..)) => continue,
                Err(e) => return Err(e.into()),
            };
            let start = lines.len();
            entity.write_json(&mut lines, &mut times);
            if let Some(diffs) = diffs.as_mut()
                && let Some(op) = diffs.op(Series::Entities, &entity)
            {
                diffs.entity(op, &lines[start..])?;
            }
            lines.push(b'\n');
            stats.add(&entity);
            if entity.schema.is_a("Folder") && !folders.contains_key(entity.id.as_ref()) {
                folders.insert(
                    entity.id.to_string(),
                    Folder { name: file_name(&entity), parent: entity.first("parent").map(str::to_string) },
                );
                folder_order.push(entity.id.to_string());
            }
            if let Some(mut doc) = Document::of(&entity) {
                if let Some(diffs) = diffs.as_mut() {
                    doc.ops = [
                        diffs.op(Series::Documents, &entity),
                        doc.crawl.then(|| diffs.op(Series::CrawlDocuments, &entity)).flatten(),
                    ];
                }
                documents.push(doc);
            }
            if lines.len() >= 1 << 16 {
                entities.write(&lines)?;
                lines.clear();
            }
        }
    }
    drop(csv);
    let statements = csv_task.await.map_err(|e| Error::Corrupt(format!("statements.csv task failed: {e}")))??;
    if let Some(optimizing) = merge.as_mut() {
        // What was read is what the merge commits: nothing is published before the optimize
        // has finished, and the diff state records the version after it, as after `optimize`.
        optimizing.wait(repo).await?;
        if let (Some(diffs), Some(version)) = (diffs.as_mut(), repo.statements().version().await?) {
            diffs.read_version(version);
        }
    }
    entities.write(&lines)?;
    let mut files = vec![statements, entities.finish()?];

    // Parents and documents, after the sweep (paths need every folder).
    let prefix = public_prefix(repo);
    let mut parents = csv_writer();
    parents.write_record(["id", "name", "path"]).map_err(csv_error)?;
    for id in &folder_order {
        parents.write_record([id.as_str(), &folders[id].name, &folder_path(&folders, id)]).map_err(csv_error)?;
    }
    metrics.parents = folder_order.len() as u64;
    let (mut all, mut crawl) = (csv_writer(), csv_writer());
    all.write_record(DOCUMENT_COLUMNS).map_err(csv_error)?;
    crawl.write_record(DOCUMENT_COLUMNS).map_err(csv_error)?;
    for doc in &documents {
        let mut paths: Vec<String> =
            doc.parents.iter().filter(|p| folders.contains_key(*p)).map(|p| folder_path(&folders, p)).collect();
        if paths.is_empty() {
            paths.push(String::new());
        }
        let c = &doc.checksum;
        let url = prefix
            .as_ref()
            .map(|p| format!("{p}/archive/{}/{}/{}/{c}/blob", &c[..2], &c[2..4], &c[4..6]))
            .unwrap_or_default();
        let updated = doc.updated_at.map(|t| iso_z(&t)).unwrap_or_default();
        for path in paths {
            let row = [doc.id.as_str(), c, &doc.name, &doc.mimetype, &path, &doc.size.to_string(), &updated, &url];
            all.write_record(row).map_err(csv_error)?;
            if doc.crawl {
                crawl.write_record(row).map_err(csv_error)?;
            }
            if let Some(diffs) = diffs.as_mut() {
                for (series, op) in [Series::Documents, Series::CrawlDocuments].into_iter().zip(doc.ops) {
                    if let Some(op) = op {
                        diffs.document(series, op, &row)?;
                    }
                }
            }
        }
        metrics.documents += 1;
        metrics.crawl_documents += u64::from(doc.crawl);
    }
    let codec_files = [(PARENTS, parents), (DOCUMENTS, all), (CRAWL_DOCUMENTS, crawl)];
    for (name, writer) in codec_files {
        let mut artifact = Artifact::create(&root, name, codec)?;
        artifact.write(&writer.into_inner().map_err(|e| csv_error(e.into_error().into()))?)?;
        files.push(artifact.finish()?);
    }

    let stats = stats.finish();
    metrics.statistics = stats.entity_count;
    let mut bytes = serde_json::to_vec(&stats).expect("stats serialise");
    bytes.push(b'\n');
    repo.dataset().versions().write(STATISTICS, bytes).await?;
    let state = match diffs {
        Some(diffs) => {
            let outcome = diffs.finish()?;
            files.extend(outcome.files);
            metrics.diffs = outcome.counts;
            Some(outcome.state)
        }
        None => None,
    };
    publish(files)?;
    let tags = repo.dataset().tags();
    if let Some(state) = state {
        record_state(&tags, &state).await?;
    }
    for key in [STATEMENTS, ENTITIES, PARENTS, DOCUMENTS, CRAWL_DOCUMENTS, STATISTICS] {
        tags.set(key, started).await?;
    }
    Ok(Some(metrics))
}

/// Batches queued for the statements.csv task.
const CSV_BATCHES_QUEUED: usize = 4;

/// Writes statements.csv on a blocking task of its own from the entity batches sent to it, in
/// order; the task ends when the sender is dropped and yields the finished artifact. An empty
/// export has no header (spec `exports-and-operations.md` §4).
fn statements_writer(
    mut artifact: Artifact,
) -> (tokio::sync::mpsc::Sender<Arc<EntityBatch>>, tokio::task::JoinHandle<Result<Finished>>) {
    let (sender, mut batches) = tokio::sync::mpsc::channel::<Arc<EntityBatch>>(CSV_BATCHES_QUEUED);
    let task = tokio::task::spawn_blocking(move || {
        let mut buffer = Vec::with_capacity(1 << 20);
        let mut csv = CsvRows::default();
        while let Some(batch) = batches.blocking_recv() {
            csv.write_batch(&mut buffer, &batch);
            artifact.write(&buffer)?;
            buffer.clear();
        }
        artifact.finish()
    });
    (sender, task)
}

fn csv_error(e: csv::Error) -> Error {
    Error::Io("export".into(), std::io::Error::other(e))
}

/// Field order of the dataset model in `index.json` (spec §7.3).
const INDEX_ORDER: [&str; 29] = [
    "name",
    "title",
    "license",
    "summary",
    "description",
    "url",
    "updated_at",
    "last_export",
    "entity_count",
    "thing_count",
    "version",
    "category",
    "tags",
    "publisher",
    "coverage",
    "resources",
    "children",
    "deprecation",
    "deprecated",
    "prefix",
    "maintainer",
    "stats",
    "git_repo",
    "content_type",
    "uri",
    "storage",
    "public_url_prefix",
    "shards",
    "compression",
];

/// A resource entry for an artifact that exists.
fn resource(root: &std::path::Path, key: &str, prefix: &str) -> Option<Value> {
    let path = root.join(key);
    let meta = std::fs::metadata(&path).ok()?;
    // Hash the stored bytes as a stream: exports can be far larger than memory.
    let mut hasher = Sha256::new();
    std::io::copy(&mut File::open(&path).ok()?, &mut hasher).ok()?;
    let created: chrono::DateTime<Utc> = meta.modified().ok()?.into();
    let (mime, label) = if key.contains(".csv") {
        ("text/csv", "Comma-separated table")
    } else if key.starts_with(ENTITIES) {
        ("application/json+ftm", "FollowTheMoney Entities")
    } else {
        ("application/json", "JavaScript Object Notation")
    };
    Some(json!({
        "name": key.rsplit('/').next().unwrap_or(key),
        "url": format!("{prefix}/{key}"),
        "checksum": format!("{:x}", hasher.finalize()),
        "timestamp": created.format("%Y-%m-%dT%H:%M:%S").to_string(),
        "mime_type": mime,
        "size": meta.len(),
        "mime_type_label": label,
    }))
}

/// Writes `index.json`: the config in model field order, statistics applied, resources listed
/// when a public URL prefix is known (spec §7.3). Versioned.
async fn write_index(repo: &EntityRepository) -> Result<()> {
    let dataset = repo.dataset();
    let config: &DatasetConfig = repo.config();
    let mut fields: BTreeMap<String, Value> = config.as_map().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    fields.insert("uri".into(), Value::String(dataset.location().url().as_str().trim_end_matches('/').to_string()));
    let root = dataset.location().path();
    let codec = config.compression();
    let resources: Vec<Value> = match public_prefix(repo) {
        Some(prefix) => [STATEMENTS, ENTITIES, PARENTS, DOCUMENTS, CRAWL_DOCUMENTS]
            .iter()
            .map(|name| artifact_key(name, codec))
            .chain([STATISTICS.to_string()])
            .filter_map(|key| resource(root, &key, &prefix))
            .collect(),
        None => Vec::new(),
    };
    fields.insert("resources".into(), Value::Array(resources));
    if let Some(bytes) = dataset.versions().read(STATISTICS).await? {
        let stats: Value = serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt(format!("{STATISTICS}: {e}")))?;
        fields.insert("entity_count".into(), stats["entity_count"].clone());
        fields.insert("thing_count".into(), stats["things"]["total"].clone());
        fields.insert("stats".into(), stats);
    }
    let mut index = Map::new();
    for key in INDEX_ORDER {
        if let Some(v) = fields.remove(key) {
            index.insert(key.to_string(), v);
        }
    }
    index.extend(fields);
    let index = clean_dump(Value::Object(index), false).unwrap_or_default();
    let mut bytes = serde_json::to_vec(&index).expect("index serialises");
    bytes.push(b'\n');
    dataset.versions().write(INDEX, bytes).await?;
    Ok(())
}
