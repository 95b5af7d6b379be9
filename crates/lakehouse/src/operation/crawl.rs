//! `crawl`: archive every file of a source and write a Document entity per file, with its
//! Folder chain, through the journal with origin `crawl` (seed 002 "Crawl operation", spec
//! `archive-and-crawl.md` §2).
//!
//! A source is a local folder or file (a path or `file://` URL), a prefix or object in a bucket
//! (`s3://`, `gs://`, `az://`, … as lake URIs take them), or one file over `http(s)://`. Files
//! are visited in path order (the reference's walk order is unspecified). Hidden files count;
//! symbolic links to files are followed, links to folders are not descended. A remote file is
//! first fetched to a temporary local file, hashed and archived from there, as the reference
//! does (spec §1.3), one file at a time. The first
//! file that cannot be read stops the crawl with an error naming it; what was archived before it
//! stays, and its entities are flushed. Unlike the reference, a source that does not exist is an
//! error (the reference reports an empty, successful crawl).

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use globset::{GlobBuilder, GlobMatcher};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use super::jobs::Job;
use crate::error::{Error, Result};
use crate::model::file::validate_relative_path;
use crate::model::origin::CRAWL_ORIGIN;
use crate::repository::archive::{ArchiveRepository, StoreOptions};
use crate::repository::{BulkWriter, EntityRepository, WriteOptions};
use crate::storage::Location;
use crate::storage::archive::checksum_file;
use crate::storage::backends::http_file;
use crate::storage::object_io::exists;
use crate::storage::tags::keys::CRAWL_LAST_RUN;

/// Keys between two progress saves of the job record and the archive tag (spec §2.4).
const SAVE_EVERY: u64 = 1000;

/// What to do with a file the archive already has (spec §2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Store it again (its record is rewritten, its entities re-emitted).
    Overwrite,
    /// Skip it when its blob exists and one of the blob's records has the same key.
    SkipPath,
    /// Skip it when its blob exists.
    SkipChecksum,
}

impl Existing {
    /// The reference's spelling: `overwrite`, `skip-path`, `skip-checksum`.
    pub fn as_str(self) -> &'static str {
        match self {
            Existing::Overwrite => "overwrite",
            Existing::SkipPath => "skip-path",
            Existing::SkipChecksum => "skip-checksum",
        }
    }
}

impl std::str::FromStr for Existing {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "overwrite" => Ok(Existing::Overwrite),
            "skip-path" => Ok(Existing::SkipPath),
            "skip-checksum" => Ok(Existing::SkipChecksum),
            _ => Err(format!("unknown mode {s:?} (overwrite, skip-path or skip-checksum)")),
        }
    }
}

/// A crawl's parameters: the `CrawlJob` fields (spec §2.1). `Default` gives the API and library
/// defaults (`skip-path`, no entities); the CLI turns entities on and overwrites.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrawlOptions {
    /// The source: a local folder or file (a path or `file://` URL), a bucket prefix or object,
    /// or an `http(s)://` file.
    pub uri: String,
    /// Crawl only this sub-folder of the source (keys stay relative to the source).
    pub prefix: Option<String>,
    /// Skip keys that start with this string.
    pub exclude_prefix: Option<String>,
    /// Only keys matching this glob, relative to the walk start: `*` and `?` stay within a path
    /// segment, `**` as a whole segment spans folders.
    pub glob: Option<String>,
    /// Skip keys matching this `fnmatch` pattern, where `*` crosses `/`.
    pub exclude_glob: Option<String>,
    /// Write a Document entity (and its folders) per file.
    pub make_entities: bool,
    /// Write the `{file_id}.json` records.
    pub store_metadata: bool,
    /// What to do with known files; `None` never skips.
    pub existing: Option<Existing>,
}

impl Default for CrawlOptions {
    fn default() -> Self {
        CrawlOptions {
            uri: String::new(),
            prefix: None,
            exclude_prefix: None,
            glob: None,
            exclude_glob: None,
            make_entities: false,
            store_metadata: true,
            existing: Some(Existing::SkipPath),
        }
    }
}

/// What a crawl did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CrawlMetrics {
    /// Files archived.
    pub done: u64,
    /// Files skipped by the `existing` policy.
    pub skipped: u64,
    /// Entities written (documents and folders, folders once per file that has them).
    pub entities: u64,
    /// Statements moved from the journal to the store at the end.
    pub flushed: u64,
    /// The final `CrawlJob` record.
    pub job: Value,
}

/// A crawl source.
enum Source {
    /// A local folder, or a file.
    Local(PathBuf),
    /// A prefix in a bucket (an object store rooted there).
    Bucket(Arc<dyn ObjectStore>),
    /// One object: its store, its path there and its name, the file's key.
    Object(Arc<dyn ObjectStore>, Path, String),
}

/// Where a crawled file's bytes are.
enum SourceFile {
    Local(PathBuf),
    Object(Arc<dyn ObjectStore>, Path),
}

/// Opens the source named by `uri`.
async fn source(uri: &str) -> Result<Source> {
    let missing = || Error::NotFound(format!("crawl source {uri}"));
    let is_http =
        uri.split_once("://").is_some_and(|(s, _)| matches!(s.to_ascii_lowercase().as_str(), "http" | "https"));
    let location = if is_http { None } else { Some(Location::parse(uri)?) };
    if let Some(path) = location.as_ref().and_then(Location::local_path) {
        if !path.exists() {
            return Err(missing());
        }
        return Ok(Source::Local(path.to_path_buf()));
    }
    let object = match &location {
        None => Some(http_file(uri)?),
        Some(location) => {
            let store = location.object_store()?;
            if store.list(None).next().await.transpose()?.is_some() {
                return Ok(Source::Bucket(store));
            }
            // Not a prefix with objects under it: maybe one object.
            location.as_object()
        }
    };
    let (store, path, name) = object.ok_or_else(missing)?;
    if !exists(store.as_ref(), &path).await? {
        return Err(missing());
    }
    Ok(Source::Object(store, path, name))
}

impl Source {
    /// The files to visit, from `start` (the prefix, if any) on, as (key, where), in key order.
    async fn files(&self, prefix: Option<&str>) -> Result<Vec<Result<(String, SourceFile)>>> {
        match self {
            Source::Local(root) => {
                let start = prefix.map_or_else(|| root.clone(), |p| root.join(p));
                Ok(walk(root, &start).map(|f| f.map(|(key, path)| (key, SourceFile::Local(path)))).collect())
            }
            Source::Bucket(store) => {
                let start = prefix.map(Path::parse).transpose().map_err(|e| Error::InvalidName {
                    kind: "crawl prefix",
                    name: e.to_string(),
                    reason: "not an object path",
                })?;
                let mut keys: Vec<Path> = store.list(start.as_ref()).map_ok(|meta| meta.location).try_collect().await?;
                keys.sort();
                Ok(keys
                    .into_iter()
                    .map(|path| Ok((path.as_ref().to_string(), SourceFile::Object(store.clone(), path))))
                    .collect())
            }
            Source::Object(store, path, name) => {
                Ok(vec![Ok((name.clone(), SourceFile::Object(store.clone(), path.clone())))])
            }
        }
    }
}

/// Fetches an object to a temporary local file; also returns its last change.
async fn fetch(store: &dyn ObjectStore, path: &Path) -> Result<(tempfile::TempPath, chrono::DateTime<chrono::Utc>)> {
    let temp = tempfile::NamedTempFile::new().map_err(|e| Error::Io("temporary file".into(), e))?.into_temp_path();
    let io = |e| Error::Io(temp.display().to_string(), e);
    let mut out = tokio::fs::File::create(&temp).await.map_err(io)?;
    let got = store.get(path).await?;
    let modified = got.meta.last_modified;
    let mut chunks = got.into_stream();
    while let Some(chunk) = chunks.next().await {
        out.write_all(&chunk?).await.map_err(io)?;
    }
    out.flush().await.map_err(io)?;
    Ok((temp, modified))
}

fn matcher(pattern: &str, literal_separator: bool) -> Result<GlobMatcher> {
    GlobBuilder::new(pattern)
        .literal_separator(literal_separator)
        .backslash_escape(false)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| Error::InvalidPattern { pattern: pattern.to_string(), reason: e.kind().to_string() })
}

/// The key filters of spec §2.3.
struct Selection {
    glob: Option<GlobMatcher>,
    exclude_glob: Option<GlobMatcher>,
    prefix: Option<String>,
    exclude_prefix: Option<String>,
}

impl Selection {
    fn new(options: &CrawlOptions) -> Result<Selection> {
        let prefix = match &options.prefix {
            Some(p) => Some(validate_relative_path("crawl prefix", p.trim_matches('/'))?.to_string()),
            None => None,
        };
        if let Some(glob) = &options.glob
            && glob.split('/').any(|segment| segment.contains("**") && segment != "**")
        {
            let reason = "'**' can only be an entire path component".to_string();
            return Err(Error::InvalidPattern { pattern: glob.clone(), reason });
        }
        Ok(Selection {
            glob: options.glob.as_deref().map(|p| matcher(p, true)).transpose()?,
            exclude_glob: options.exclude_glob.as_deref().map(|p| matcher(p, false)).transpose()?,
            prefix,
            exclude_prefix: options.exclude_prefix.clone(),
        })
    }

    fn selects(&self, key: &str) -> bool {
        let from_start = match &self.prefix {
            Some(prefix) => key.strip_prefix(prefix.as_str()).and_then(|k| k.strip_prefix('/')).unwrap_or(key),
            None => key,
        };
        self.glob.as_ref().is_none_or(|g| g.is_match(from_start))
            && self.exclude_prefix.as_ref().is_none_or(|p| !key.starts_with(p.as_str()))
            && self.exclude_glob.as_ref().is_none_or(|g| !g.is_match(key))
    }
}

/// The files under `root` (or `root` itself when it is a file) as (key, path), in key order.
fn walk(root: &FsPath, start: &FsPath) -> impl Iterator<Item = Result<(String, PathBuf)>> {
    let single = root.is_file();
    walkdir::WalkDir::new(start).follow_links(false).sort_by_file_name().into_iter().filter_map(move |entry| {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                let path = e.path().map(|p| p.display().to_string()).unwrap_or_default();
                return Some(Err(Error::Io(path, e.into())));
            }
        };
        let path = entry.path();
        let kind = entry.file_type();
        if kind.is_dir() {
            return None;
        }
        if kind.is_symlink() {
            match std::fs::metadata(path) {
                Ok(meta) if meta.is_file() => {}
                Ok(_) => return None,
                Err(e) => return Some(Err(Error::Io(path.display().to_string(), e))),
            }
        } else if !kind.is_file() {
            return None;
        }
        let relative = if single { path.file_name().map(FsPath::new) } else { path.strip_prefix(root).ok() };
        let key = relative.and_then(FsPath::to_str).map(|k| k.replace(std::path::MAIN_SEPARATOR, "/"));
        Some(match key {
            Some(key) => Ok((key, path.to_path_buf())),
            None => Err(Error::InvalidName {
                kind: "crawl path",
                name: path.display().to_string(),
                reason: "not UTF-8; keys are UTF-8 paths",
            }),
        })
    })
}

/// The state of one crawl run.
struct Crawler<'a> {
    repo: &'a EntityRepository,
    archive: ArchiveRepository,
    options: &'a CrawlOptions,
    selection: Selection,
    job: Job,
    metrics: CrawlMetrics,
}

impl Crawler<'_> {
    /// Whether the `existing` policy skips the file `key` with `checksum` (spec §2.5).
    async fn skips(&self, checksum: &str, key: &str) -> Result<bool> {
        let mode = match self.options.existing {
            None | Some(Existing::Overwrite) => return Ok(false),
            Some(_) if !self.options.store_metadata => Existing::SkipChecksum,
            Some(mode) => mode,
        };
        if !self.archive.exists(checksum).await? {
            return Ok(false);
        }
        Ok(mode == Existing::SkipChecksum || self.archive.files(checksum).await?.iter().any(|f| f.key == key))
    }

    /// Archives the selected files, adding their entities to `writer`.
    async fn run(
        &mut self,
        files: impl Iterator<Item = Result<(String, SourceFile)>>,
        writer: &mut Option<BulkWriter<'_>>,
        mut progress: impl FnMut(u64),
    ) -> Result<()> {
        let dataset = self.repo.dataset();
        let mut listed = 0u64;
        for file in files {
            let (key, file) = file?;
            if !self.selection.selects(&key) {
                continue;
            }
            if listed > 0 && listed.is_multiple_of(SAVE_EVERY) {
                self.job.update(dataset).await?;
                self.archive.touch().await?;
            }
            listed += 1;
            self.job.pending += 1;
            let (path, _fetched, updated_at) = match file {
                SourceFile::Local(path) => (path, None, None),
                SourceFile::Object(store, object) => {
                    let (fetched, modified) = fetch(store.as_ref(), &object).await?;
                    (fetched.to_path_buf(), Some(fetched), Some(modified))
                }
            };
            let checksum = checksum_file(&path).await?;
            if self.skips(&checksum, &key).await? {
                self.metrics.skipped += 1;
            } else {
                let stored = StoreOptions {
                    key: Some(key),
                    origin: Some(CRAWL_ORIGIN.to_string()),
                    checksum: Some(checksum),
                    skip_metadata: !self.options.store_metadata,
                    skip_tag: true,
                    updated_at,
                    ..StoreOptions::default()
                };
                let file = self.archive.store_path(&path, stored).await?;
                if let Some(writer) = writer.as_mut() {
                    for entity in file.make_entities()? {
                        writer.add_entity(&entity).await?;
                        self.metrics.entities += 1;
                    }
                }
                self.metrics.done += 1;
                self.job.done += 1;
            }
            self.job.pending -= 1;
            progress(listed);
        }
        Ok(())
    }
}

/// Crawls `options.uri` into the dataset of `repo`, calling `progress` with the files visited.
///
/// # Errors
/// [`Error::NotFound`] for a missing source; [`Error::InvalidUri`] for an unusable one;
/// [`Error::InvalidPattern`]; [`Error::Io`] naming the first file that cannot be read; journal
/// and storage errors. The `CrawlJob` record then holds the message.
pub async fn crawl(repo: &EntityRepository, options: &CrawlOptions, progress: impl FnMut(u64)) -> Result<CrawlMetrics> {
    let source = source(&options.uri).await?;
    let selection = Selection::new(options)?;
    let files = source.files(selection.prefix.as_deref()).await?;
    let dataset = repo.dataset();
    let mut job = Job::start("CrawlJob", dataset);
    let text = |v: &Option<String>| v.clone().map_or(Value::Null, Value::String);
    for (key, value) in [
        ("uri", Value::String(options.uri.clone())),
        ("prefix", text(&options.prefix)),
        ("exclude_prefix", text(&options.exclude_prefix)),
        ("glob", text(&options.glob)),
        ("exclude_glob", text(&options.exclude_glob)),
        ("make_entities", options.make_entities.into()),
        ("store_metadata", options.store_metadata.into()),
        ("existing", options.existing.map_or(Value::Null, |e| e.as_str().into())),
    ] {
        job.fields.insert(key.into(), value);
    }
    job.begin(dataset).await?;
    let archive = ArchiveRepository::new(dataset);
    let mut crawler = Crawler { repo, archive, options, selection, job, metrics: CrawlMetrics::default() };
    let mut writer = if options.make_entities { Some(repo.writer(WriteOptions::origin(CRAWL_ORIGIN))?) } else { None };
    let mut crawled = crawler.run(files.into_iter(), &mut writer, progress).await;
    // What was archived keeps its entities, even when a later file failed.
    if let Some(writer) = writer {
        crawled = crawled.and(writer.close().await.map(|_| ()));
        let flushed = repo.flush().await;
        crawled = crawled.and(flushed.map(|f| crawler.metrics.flushed = f.statements));
    }
    if crawled.is_ok() {
        crawled = crawler.archive.touch().await;
    }
    let Crawler { mut job, mut metrics, .. } = crawler;
    job.pending = 0;
    metrics.job = job.finish(dataset, crawled.as_ref().err().map(ToString::to_string).as_deref()).await?;
    crawled?;
    dataset.tags().set(CRAWL_LAST_RUN, job.started()).await?;
    Ok(metrics)
}
