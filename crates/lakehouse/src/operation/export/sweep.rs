//! The sweep: one pass over the live statements, entity by entity in id order, feeding every
//! artifact at once (spec `exports-and-operations.md` §9.2 step 3).
//!
//! Each batch of whole entities goes to the statements.csv task (formatted on a blocking thread
//! of its own while this loop aggregates the same entities), then each entity is aggregated once
//! and handed to `entities.ftm.json`, the statistics, the documents tables and the diffs. What
//! needs every entity first — parents and documents, statistics, the diffs' `DEL` entries — is
//! written after the last batch. Files appear only when everything succeeded (`.tmp` files
//! renamed, or uploads completed); then the artifact tags get the export's start time.
//!
//! An uncompressed export of the lake (not to a `target`) also gets its entity index
//! ([`entity_index`](crate::storage::entity_index)), built on a blocking thread of its own
//! from the same batches and the end of each entity's line, and stamped with the version whose
//! statements the sweep read.

use std::sync::Arc;

use ftm::cypher::CypherWriter;
use ftm::time::{IsoSpeller, Timestamp};
use ftm::{EntityRecord, StatementFields};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::diff::{Diffs, Series, record_state};
use super::documents::Documents;
use super::{ExportMetrics, public_prefix};
use crate::error::{Error, Result};
use crate::operation::artifacts::{
    Artifact, CRAWL_DOCUMENTS, DOCUMENTS, ENTITIES, Finished, GRAPH, PARENTS, Published, STATEMENTS, STATISTICS,
    artifact_key, publish,
};
use crate::operation::optimize::OptimizeScan;
use crate::repository::EntityRepository;
use crate::storage::entity_index::{self, IndexBuilder, IndexFiles};
use crate::storage::location::Location;
use crate::storage::statements::{CsvRows, EntityBatch, EntityStream, Filter, StatsBuilder};

/// Batches queued for the statements.csv task.
const CSV_BATCHES_QUEUED: usize = 4;

/// Bytes of `entities.ftm.json` lines gathered before they are written.
const ENTITY_LINES_BYTES: usize = 1 << 16;

/// Runs the sweep over a scan of the store, or over `merging` (the merge `make`'s optimize is
/// writing, which it waits for before anything is published); `None` when there is no statement
/// table (then nothing is written). Also returns what was published, for `index.json`. With a
/// `target`, the artifacts go there and the lake is left as it was (no versioned statistics, no
/// tags; see [`ExportOptions::target`](super::ExportOptions::target)).
///
/// # Errors
/// Scan and merge errors; [`Error::Io`] writing files (the previous artifacts then stay).
pub(super) async fn sweep(
    repo: &EntityRepository,
    started: Timestamp,
    make_diff: bool,
    merging: Option<(EntityStream, &mut OptimizeScan)>,
    target: Option<&Location>,
) -> Result<Option<(ExportMetrics, Vec<Published>)>> {
    let Some(version) = repo.statements().version().await? else {
        return Ok(None);
    };
    let diffs = if make_diff { Some(Diffs::open(repo, started, version).await?) } else { None };
    let (stream, merge) = match merging {
        Some((stream, merge)) => (stream, Some(merge)),
        None => (repo.statements().scan(&Filter::default()).await?, None),
    };
    let mut sweep = Sweep::open(repo, diffs, target, stream.version())?;
    let mut stream = stream.read_ahead();
    while let Some(batch) = stream.next().await? {
        if !sweep.batch(batch).await? {
            break; // The statements.csv task failed: `finish` reports its error.
        }
    }
    Ok(Some(sweep.finish(repo, started, merge, target).await?))
}

/// The artifacts of one sweep being written.
struct Sweep {
    /// Entity batches for the statements.csv task, and the task.
    csv: mpsc::Sender<Arc<EntityBatch>>,
    csv_task: JoinHandle<Result<Finished>>,
    entities: Artifact,
    /// `entities.ftm.json` lines not yet written.
    lines: Vec<u8>,
    /// Bytes of `entities.ftm.json` lines so far, written or not.
    lines_bytes: u64,
    /// Batches for the entity index task, and the task, for an uncompressed export of the lake.
    index: Option<IndexTask>,
    /// Spellings of recent times, for the JSON lines' three time fields.
    times: [IsoSpeller; 3],
    stats: StatsBuilder,
    documents: Documents,
    diffs: Option<Diffs>,
    /// `exports/graph.cypher` when the config asks for it, with its lines not yet written.
    graph: Option<(Artifact, CypherWriter, Vec<u8>)>,
    metrics: ExportMetrics,
}

impl Sweep {
    /// Starts the statements.csv task and `entities.ftm.json` under `target`, else the
    /// dataset's folder, and the entity index task when it applies; `read` is the version
    /// whose statements the sweep reads.
    fn open(
        repo: &EntityRepository,
        diffs: Option<Diffs>,
        target: Option<&Location>,
        read: Option<u64>,
    ) -> Result<Sweep> {
        let root = target.unwrap_or(repo.dataset().location());
        let codec = repo.config().compression();
        let checksums = listed(repo, target);
        let (csv, csv_task) = statements_writer(Artifact::create(root, STATEMENTS, codec, checksums)?);
        Ok(Sweep {
            csv,
            csv_task,
            entities: Artifact::create(root, ENTITIES, codec, checksums)?,
            lines: Vec::with_capacity(ENTITY_LINES_BYTES),
            lines_bytes: 0,
            index: read.filter(|_| target.is_none() && codec.is_none()).map(index_writer),
            times: Default::default(),
            stats: StatsBuilder::default(),
            documents: Documents::default(),
            diffs,
            graph: match repo.config().cypher() {
                true => Some((Artifact::create(root, GRAPH, codec, checksums)?, CypherWriter::new(), Vec::new())),
                false => None,
            },
            metrics: ExportMetrics::default(),
        })
    }

    /// Feeds one batch of whole entities to every artifact. `false` when the statements.csv
    /// task has stopped (its error comes out of [`Sweep::finish`]).
    async fn batch(&mut self, batch: EntityBatch) -> Result<bool> {
        let batch = Arc::new(batch);
        if self.csv.send(batch.clone()).await.is_err() {
            return Ok(false);
        }
        let mut ends = Vec::new();
        for rows in batch.entities() {
            self.metrics.statements += rows.len() as u64;
            self.metrics.entities += 1;
            match ftm::aggregate(ftm::model(), rows.rows()) {
                Ok(Some(entity)) => self.entity(&entity).await?,
                Ok(None) | Err(ftm::FtmError::SchemaConflict(..)) => {}
                Err(e) => return Err(e.into()),
            }
            if self.index.is_some() {
                ends.push(self.lines_bytes);
            }
        }
        if let Some((index, _)) = &self.index {
            // A failed index task's error comes out of `finish`.
            let _ = index.send((batch, ends)).await;
        }
        Ok(true)
    }

    /// Feeds one aggregated entity to `entities.ftm.json` (and its diff), the statistics and
    /// the documents tables.
    async fn entity(&mut self, entity: &EntityRecord<'_>) -> Result<()> {
        let start = self.lines.len();
        entity.write_json(&mut self.lines, &mut self.times);
        if let Some(diffs) = self.diffs.as_mut()
            && let Some(op) = diffs.op(Series::Entities, entity)
        {
            diffs.entity(op, &self.lines[start..]).await?;
        }
        self.lines.push(b'\n');
        self.lines_bytes += (self.lines.len() - start) as u64;
        self.stats.add(entity);
        self.documents.add(entity, self.diffs.as_mut());
        if let Some((artifact, writer, lines)) = self.graph.as_mut() {
            writer.write(entity, lines);
            if lines.len() >= ENTITY_LINES_BYTES {
                artifact.write(lines).await?;
                lines.clear();
            }
        }
        if self.lines.len() >= ENTITY_LINES_BYTES {
            self.entities.write(&self.lines).await?;
            self.lines.clear();
        }
        Ok(())
    }

    /// Completes every artifact after the last batch: waits for statements.csv and for the merge
    /// (`merge`, when reading one), writes the documents tables, statistics, diffs and entity
    /// index, moves the files into place, records the diff state and stamps the artifact tags
    /// with `started`; with a `target`, writes there and only the artifacts.
    async fn finish(
        mut self,
        repo: &EntityRepository,
        started: Timestamp,
        merge: Option<&mut OptimizeScan>,
        target: Option<&Location>,
    ) -> Result<(ExportMetrics, Vec<Published>)> {
        drop(self.csv);
        // The index task sorts and encodes while the rest is written.
        let index = self.index.take().map(|(batches, task)| {
            drop(batches);
            task
        });
        let statements = self.csv_task.await.map_err(Error::task("statements.csv"))??;
        if let Some(optimizing) = merge {
            // What was read is what the merge commits: nothing is published before the optimize
            // has finished, and the diff state records the version after it, as after `optimize`.
            optimizing.wait(repo).await?;
            if let (Some(diffs), Some(version)) = (self.diffs.as_mut(), repo.statements().version().await?) {
                diffs.read_version(version);
            }
        }
        self.entities.write(&self.lines).await?;
        let mut files = vec![statements, self.entities.finish().await?];
        let graph = self.graph.is_some();
        if let Some((mut artifact, _, lines)) = self.graph.take() {
            artifact.write(&lines).await?;
            files.push(artifact.finish().await?);
        }
        let mut metrics = self.metrics;

        let root = target.unwrap_or(repo.dataset().location());
        let codec = repo.config().compression();
        let tables = self.documents.finish(public_prefix(repo).as_deref(), self.diffs.as_mut()).await?;
        (metrics.parents, metrics.documents, metrics.crawl_documents) =
            (tables.parents, tables.documents, tables.crawl_documents);
        for (name, bytes) in tables.files {
            let mut artifact = Artifact::create(root, name, codec, listed(repo, target))?;
            artifact.write(&bytes).await?;
            files.push(artifact.finish().await?);
        }

        let stats = self.stats.finish();
        metrics.statistics = stats.entity_count;
        let mut bytes = serde_json::to_vec(&stats).expect("stats serialise");
        bytes.push(b'\n');
        let statistics = Published::of(STATISTICS, &bytes);
        if target.is_some() {
            let mut artifact = Artifact::create(root, STATISTICS, None, false)?;
            artifact.write(&bytes).await?;
            files.push(artifact.finish().await?);
            return Ok((metrics, publish(files).await?));
        }
        repo.dataset().versions().write(STATISTICS, bytes).await?;
        let state = match self.diffs {
            Some(diffs) => {
                let outcome = diffs.finish().await?;
                files.extend(outcome.files);
                metrics.diffs = outcome.counts;
                Some(outcome.state)
            }
            None => None,
        };
        let index = match index {
            Some(task) => task.await.map_err(Error::task("entity index"))??,
            None => None,
        };
        let index = index_artifacts(repo.dataset().location(), index).await?;
        let mut published = publish(files).await?;
        published.push(statistics);
        // Not a published resource of `index.json`.
        publish(index).await?;
        let tags = repo.dataset().tags();
        if let Some(state) = state {
            record_state(&tags, &state).await?;
        }
        for key in [STATEMENTS, ENTITIES, PARENTS, DOCUMENTS, CRAWL_DOCUMENTS, STATISTICS] {
            tags.set(key, started).await?;
        }
        if graph {
            tags.set(GRAPH, started).await?;
        }
        Ok((metrics, published))
    }
}

/// Whether an export's artifacts get checksums: `index.json` lists them (with their checksums)
/// only for an export of the lake when a public URL prefix is known (spec
/// `exports-and-operations.md` §7.3: `resources`); hashing a large export costs as much as
/// formatting it.
fn listed(repo: &EntityRepository, target: Option<&Location>) -> bool {
    target.is_none() && public_prefix(repo).is_some()
}

/// A batch for the entity index task, with the export's size after each of its entities.
type IndexInput = (Arc<EntityBatch>, Vec<u64>);

/// The sender of the entity index task's batches, and the task.
type IndexTask = (mpsc::Sender<IndexInput>, JoinHandle<Result<Option<IndexFiles>>>);

/// Builds the entity index on a blocking task of its own from the batches sent to it, in order;
/// the task ends when the sender is dropped and yields the encoded files, stamped with
/// `version` (none when the export holds too many entities to index).
fn index_writer(version: u64) -> IndexTask {
    let (sender, mut batches) = mpsc::channel::<IndexInput>(CSV_BATCHES_QUEUED);
    let task = tokio::task::spawn_blocking(move || {
        let mut builder = IndexBuilder::default();
        while let Some((batch, ends)) = batches.blocking_recv() {
            for (rows, end) in batch.entities().zip(ends) {
                builder.add(rows.rows().map(|r| (r.schema(), r.prop(), r.value())), end);
            }
        }
        builder.finish(version, &artifact_key(ENTITIES, None))
    });
    (sender, task)
}

/// The entity index's files as artifacts under `root`, not yet in place.
///
/// # Errors
/// [`Error::Io`] writing a file; [`Error::Storage`].
async fn index_artifacts(root: &Location, files: Option<IndexFiles>) -> Result<Vec<Finished>> {
    let Some(files) = files else { return Ok(Vec::new()) };
    let mut finished = Vec::with_capacity(2);
    for (key, bytes) in [(entity_index::POSTINGS, files.postings), (entity_index::LINES, files.lines)] {
        let mut artifact = Artifact::create(root, key, None, false)?;
        artifact.write(&bytes).await?;
        finished.push(artifact.finish().await?);
    }
    Ok(finished)
}

/// Writes statements.csv on a blocking task of its own from the entity batches sent to it, in
/// order; the task ends when the sender is dropped and yields the finished artifact. An empty
/// export has no header (spec `exports-and-operations.md` §4).
fn statements_writer(mut artifact: Artifact) -> (mpsc::Sender<Arc<EntityBatch>>, JoinHandle<Result<Finished>>) {
    let (sender, mut batches) = mpsc::channel::<Arc<EntityBatch>>(CSV_BATCHES_QUEUED);
    let task = tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Handle::current();
        let mut buffer = Vec::with_capacity(1 << 20);
        let mut csv = CsvRows::default();
        while let Some(batch) = batches.blocking_recv() {
            csv.write_batch(&mut buffer, &batch);
            runtime.block_on(artifact.write(&buffer))?;
            buffer.clear();
        }
        runtime.block_on(artifact.finish())
    });
    (sender, task)
}
