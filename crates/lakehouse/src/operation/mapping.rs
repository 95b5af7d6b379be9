//! Processing a mapping (seed 002 "Process mapping"): the archived CSV file is read as a
//! stream, every row mapped to entities, and the entities written through the journal with
//! origin `mapping:{content_hash}`, replacing that origin's earlier output.

use std::collections::HashMap;

use futures::{StreamExt, TryStreamExt};

use crate::error::{Error, Result};
use crate::model::mapping::{DatasetMapping, mapping_key, mapping_origin, processed_tag};
use crate::operation::import::{ImportOptions, durable_writer};
use crate::repository::{ArchiveRepository, EntityRepository, MappingRepository, WriteOptions};
use crate::storage::object_io::ObjectReader;

/// What processing one mapping did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MappingMetrics {
    /// CSV rows read (the header not counted).
    pub rows: u64,
    /// Entities written (an id mapped from several rows counts each time).
    pub entities: u64,
    /// Values their property type refused (`Discarding unclean value` in followthemoney).
    pub discarded: u64,
    /// Statements of the previous run removed before writing.
    pub removed: u64,
    /// The mapping was processed after its last change and was not forced: nothing done.
    pub skipped: bool,
}

/// One CSV row seen through its header.
struct Row<'a> {
    columns: &'a HashMap<String, usize>,
    record: &'a csv::StringRecord,
}

impl ftm::mapping::Record for Row<'_> {
    fn cell(&self, column: &str) -> Option<&str> {
        self.columns.get(column).and_then(|i| self.record.get(*i))
    }
}

/// A reader of the CSV file `content_hash` from the archive.
async fn open_csv(archive: &ArchiveRepository, content_hash: &str) -> Result<csv::Reader<ObjectReader>> {
    let stream = archive.open(content_hash).await?.map_err(std::io::Error::other).boxed();
    Ok(csv::ReaderBuilder::new().from_reader(ObjectReader::from_stream(stream)))
}

/// The error for row `line` of the CSV file `content_hash`.
fn csv_error(content_hash: &str, error: &csv::Error) -> Error {
    let line = error.position().map_or(1, |p| p.line() as usize);
    Error::Input { input: format!("archive file {content_hash} (CSV)"), line, message: error.to_string() }
}

/// The header's column positions, after checking every column the mapping reads is there.
fn header(reader: &mut csv::Reader<ObjectReader>, mapping: &DatasetMapping) -> Result<HashMap<String, usize>> {
    let headers = reader.headers().map_err(|e| csv_error(&mapping.content_hash, &e))?;
    let columns: HashMap<String, usize> = headers.iter().enumerate().map(|(i, h)| (h.trim().to_string(), i)).collect();
    let missing: Vec<&str> = mapping.mapping.columns().into_iter().filter(|c| !columns.contains_key(*c)).collect();
    if !missing.is_empty() {
        return Err(Error::InvalidMapping {
            name: mapping.content_hash.clone(),
            problem: format!(
                "the CSV file has no column {} (its header: {})",
                missing.iter().map(|c| format!("{c:?}")).collect::<Vec<_>>().join(", "),
                headers.iter().collect::<Vec<_>>().join(", ")
            ),
        });
    }
    Ok(columns)
}

/// Processes the mapping of `content_hash`: skipped (`skipped: true`) when its
/// `mappings/{hash}/last_processed` tag is newer than the mapping, unless `force`. The CSV is
/// read twice: once to check every row reads (a file that is not CSV, ragged rows, invalid
/// UTF-8 fail before anything is touched), then, after the origin's earlier statements are
/// removed, to map and write. Entities whose id the lake cannot store are skipped, as are
/// references to them. `progress` gets the rows written so far.
///
/// # Errors
/// [`Error::NotFound`] for a hash without a mapping or archive record;
/// [`Error::InvalidMapping`] for a mapping that no longer reads or a CSV without a column it
/// uses; [`Error::Input`] naming the CSV row that does not read; journal and store errors.
pub async fn process_mapping(
    repo: &EntityRepository,
    content_hash: &str,
    force: bool,
    mut progress: impl FnMut(u64),
) -> Result<MappingMetrics> {
    let dataset = repo.dataset();
    let mapping = MappingRepository::new(dataset)
        .get(content_hash)
        .await?
        .ok_or_else(|| Error::NotFound(format!("mapping {content_hash}")))?;
    let tags = dataset.tags();
    let tag = processed_tag(content_hash);
    if !force && tags.is_latest(&tag, &[&mapping_key(content_hash)]).await? {
        return Ok(MappingMetrics { skipped: true, ..MappingMetrics::default() });
    }
    let started = chrono::Utc::now();
    let archive = ArchiveRepository::new(dataset);

    let mut reader = open_csv(&archive, content_hash).await?;
    header(&mut reader, &mapping)?;
    let mut record = csv::StringRecord::new();
    while reader.read_record(&mut record).map_err(|e| csv_error(content_hash, &e))? {}

    // Unset the tag first: a run that fails from here on leaves the mapping stale, so the
    // next run redoes it instead of calling the partial output up to date.
    tags.delete(&tag).await?;
    let origin = mapping_origin(content_hash);
    let removed = repo.delete_origin(&origin).await?.unwrap_or(0);
    let mut metrics = MappingMetrics { removed, ..MappingMetrics::default() };
    let mut reader = open_csv(&archive, content_hash).await?;
    let columns = header(&mut reader, &mapping)?;
    let write = WriteOptions { override_origin: true, keep_namespace: mapping.sign, ..WriteOptions::origin(&origin) };
    let options = ImportOptions::new(write);
    let mut writer = durable_writer(repo, &options)?;
    while reader.read_record(&mut record).map_err(|e| csv_error(content_hash, &e))? {
        let mut mapped = mapping.mapping.map(&Row { columns: &columns, record: &record }, &mapping.dataset);
        if mapping.sign {
            mapped.entities.iter_mut().for_each(|entity| entity.sign(&mapping.dataset));
        }
        metrics.rows += 1;
        metrics.discarded += mapped.discarded.len() as u64;
        for entity in &mapped.entities {
            if writer.add_entity_lenient(entity).await? > 0 {
                metrics.entities += 1;
            }
        }
        if metrics.rows.is_multiple_of(1000) {
            progress(metrics.rows);
        }
    }
    writer.close().await?;
    progress(metrics.rows);
    tags.set(&tag, started).await?;
    Ok(metrics)
}

/// Removes the mapping of `content_hash` and the entities it made (origin
/// `mapping:{content_hash}`): the way to retire a CSV file that a newer one replaces. Returns
/// the statements removed, `None` when there was no mapping (nothing touched).
///
/// # Errors
/// [`Error::InvalidChecksum`]; as [`EntityRepository::delete_origin`].
pub async fn delete_mapping(repo: &EntityRepository, content_hash: &str) -> Result<Option<u64>> {
    let mappings = MappingRepository::new(repo.dataset());
    if !mappings.exists(content_hash).await? {
        return Ok(None);
    }
    // The entities first: a failure leaves the mapping in place for a retry.
    let removed = repo.delete_origin(&mapping_origin(content_hash)).await?.unwrap_or(0);
    mappings.delete(content_hash).await?;
    Ok(Some(removed))
}
