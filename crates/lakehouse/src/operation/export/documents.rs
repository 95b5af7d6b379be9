//! The documents exports and the parents export (spec `exports-and-operations.md` §6):
//! `exports/documents.csv` (every document), `exports/documents.crawl.csv` (the crawled ones) and
//! `exports/parents.csv` (the folders, with their paths).
//!
//! The sweep registers every folder and every document it meets ([`Documents::add`]); the rows
//! are written after it ([`Documents::finish`]), since a document's path needs every folder
//! above it. A document has one row per `parent` that is a registered folder, with that folder's
//! path, or one row with an empty path.
//!
//! Differences from the reference: a `contentHash` that is a SHA-1 (the FtM convention) is a
//! checksum like a SHA-256 one (the reference aborts the whole export), and a non-integer
//! `fileSize` exports as `0` instead of failing.

use std::collections::HashMap;

use ftm::EntityRecord;
use ftm::time::{Timestamp, iso_z};

use super::diff::{Diffs, Op, Series};
use crate::error::Result;
use crate::model::file::{checksum_path, is_document, validate_checksum};
use crate::model::mime::{guess_mimetype, normalize_mimetype};
use crate::model::origin::CRAWL_ORIGIN;
use crate::operation::artifacts::{CRAWL_DOCUMENTS, CsvTable, DOCUMENT_COLUMNS, DOCUMENTS, PARENTS};

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

impl Document {
    /// The document row source of `entity`: `None` unless it is a document (spec §6.1) with a
    /// valid checksum among its `contentHash` values.
    fn of(entity: &EntityRecord<'_>) -> Option<Document> {
        if !is_document(entity.schema) {
            return None;
        }
        let checksum = entity
            .values("contentHash")
            .iter()
            .map(|c| c.to_ascii_lowercase())
            .find(|c| validate_checksum(c).is_ok())?;
        let name = file_name(entity);
        let mimetype = entity
            .values("mimeType")
            .iter()
            .find_map(|v| normalize_mimetype(v))
            .unwrap_or_else(|| guess_mimetype(&name));
        Some(Document {
            id: entity.id.to_string(),
            checksum,
            name,
            mimetype,
            parents: entity.values("parent").iter().map(|p| p.to_string()).collect(),
            size: entity.first("fileSize").and_then(|s| s.trim().parse().ok()).unwrap_or(0),
            updated_at: entity.last_change,
            crawl: entity.origin.iter().any(|o| o == CRAWL_ORIGIN),
            ops: [None, None],
        })
    }
}

/// The folders and documents met in a sweep.
#[derive(Default)]
pub(super) struct Documents {
    documents: Vec<Document>,
    folders: HashMap<String, Folder>,
    /// Folder ids in sweep order.
    folder_order: Vec<String>,
}

/// The tables [`Documents::finish`] writes, with their counts.
pub(super) struct Tables {
    /// `(artifact name, CSV bytes)` of the parents, documents and crawl documents exports.
    pub files: [(&'static str, Vec<u8>); 3],
    pub parents: u64,
    pub documents: u64,
    pub crawl_documents: u64,
}

impl Documents {
    /// Registers `entity` if it is a folder (the first time its id is met) or a document, with
    /// the document's entries in the documents diff series of `diffs`.
    pub(super) fn add(&mut self, entity: &EntityRecord<'_>, diffs: Option<&mut Diffs>) {
        if entity.schema.is_a("Folder") && !self.folders.contains_key(entity.id.as_ref()) {
            let folder = Folder { name: file_name(entity), parent: entity.first("parent").map(str::to_string) };
            self.folders.insert(entity.id.to_string(), folder);
            self.folder_order.push(entity.id.to_string());
        }
        if let Some(mut doc) = Document::of(entity) {
            if let Some(diffs) = diffs {
                doc.ops = [
                    diffs.op(Series::Documents, entity),
                    doc.crawl.then(|| diffs.op(Series::CrawlDocuments, entity)).flatten(),
                ];
            }
            self.documents.push(doc);
        }
    }

    /// The path of folder `id`: names from its top ancestor down; a cycle stops at the first
    /// repeat.
    fn folder_path(&self, id: &str) -> String {
        let mut names = Vec::new();
        let mut seen = Vec::new();
        let mut current = Some(id.to_string());
        while let Some(cid) = current {
            let Some(folder) = self.folders.get(&cid) else { break };
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

    /// Writes the three tables, and each document row's diff entries to `diffs`; `prefix` is
    /// the public URL prefix of the dataset, if any.
    ///
    /// # Errors
    /// [`Error::Io`](crate::error::Error::Io) writing a row.
    pub(super) async fn finish(self, prefix: Option<&str>, mut diffs: Option<&mut Diffs>) -> Result<Tables> {
        let mut parents = CsvTable::new(PARENTS);
        parents.row(["id", "name", "path"])?;
        for id in &self.folder_order {
            parents.row([id.as_str(), &self.folders[id].name, &self.folder_path(id)])?;
        }
        let (mut all, mut crawl) = (CsvTable::new(DOCUMENTS), CsvTable::new(CRAWL_DOCUMENTS));
        all.row(DOCUMENT_COLUMNS)?;
        crawl.row(DOCUMENT_COLUMNS)?;
        for doc in &self.documents {
            let mut paths: Vec<String> =
                doc.parents.iter().filter(|p| self.folders.contains_key(*p)).map(|p| self.folder_path(p)).collect();
            if paths.is_empty() {
                paths.push(String::new());
            }
            let c = &doc.checksum;
            let url = prefix.map(|p| format!("{p}/archive/{}/blob", checksum_path(c))).unwrap_or_default();
            let updated = doc.updated_at.map(|t| iso_z(&t)).unwrap_or_default();
            for path in paths {
                let row = [doc.id.as_str(), c, &doc.name, &doc.mimetype, &path, &doc.size.to_string(), &updated, &url];
                all.row(row)?;
                if doc.crawl {
                    crawl.row(row)?;
                }
                if let Some(diffs) = diffs.as_deref_mut() {
                    for (series, op) in [Series::Documents, Series::CrawlDocuments].into_iter().zip(doc.ops) {
                        if let Some(op) = op {
                            diffs.document(series, op, &row).await?;
                        }
                    }
                }
            }
        }
        Ok(Tables {
            files: [(PARENTS, parents.take()?), (DOCUMENTS, all.take()?), (CRAWL_DOCUMENTS, crawl.take()?)],
            parents: self.folder_order.len() as u64,
            documents: self.documents.len() as u64,
            crawl_documents: self.documents.iter().filter(|d| d.crawl).count() as u64,
        })
    }
}
