//! Job run records: `jobs/runs/<JobClass>/<run_id>.json` (spec `storage-format.md` §7.5,
//! `exports-and-operations.md` §9.6).
//!
//! Compact JSON, all fields present (nulls kept), no trailing newline: `run_id, started,
//! stopped, last_updated, pending, done, errors, running, exc, took, dataset`, the job's own
//! fields, then `name` (the class name). `exc` is the string `"None"` on success. Run ids use the
//! reference's time-ordered layout (36-bit Unix seconds, 24-bit fraction, version 7, a counter
//! and random bits) so "latest run by file name" keeps working in a lake both implementations
//! write; an RFC 9562 UUIDv7 would sort before every reference id.

use std::sync::atomic::{AtomicU16, Ordering};

use chrono::{DateTime, Utc};
use object_store::ObjectStoreExt;
use object_store::path::Path;
use serde_json::{Map, Value};

use ftm::time::iso_z;

use crate::error::Result;
use crate::repository::Dataset;
use crate::storage::remote::DatasetApi;

/// A run id in the reference's uuid7 layout (`06b011f2-74a1-7da7-8000-90e9037b01dd`).
pub fn run_id(now: DateTime<Utc>) -> String {
    static COUNTER: AtomicU16 = AtomicU16::new(0);
    let seconds = now.timestamp() as u64 & ((1 << 36) - 1);
    let fraction = ((u64::from(now.timestamp_subsec_nanos()) << 24) / 1_000_000_000) & 0xff_ffff;
    let counter = u64::from(COUNTER.fetch_add(1, Ordering::Relaxed) & 0x3fff);
    let random =
        u64::from_le_bytes(uuid::Uuid::new_v4().as_bytes()[..8].try_into().expect("8 bytes")) & ((1 << 48) - 1);
    let hi = (seconds << 28) | ((fraction >> 12) << 16) | (0x7 << 12) | (fraction & 0xfff);
    let lo = (0b10 << 62) | (counter << 48) | random;
    let hex = format!("{hi:016x}{lo:016x}");
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

tokio::task_local! {
    /// The run id a caller chose for the job of one class that this task starts: the class
    /// and the id, taken by the first [`Job::start`] of that class.
    static CHOSEN: std::cell::RefCell<Option<(String, String)>>;
}

/// Runs `work` with `run_id` (when given) as the run id of the first job of `class` it starts,
/// as the reference's operations endpoint keeps a client's `run_id` (spec `interfaces.md`
/// §3.6). Jobs of other classes that `work` starts (a `MakeJob`'s export) mint their own.
pub async fn with_run_id<F: Future>(class: &str, run_id: Option<String>, work: F) -> F::Output {
    match run_id {
        Some(id) => CHOSEN.scope(std::cell::RefCell::new(Some((class.to_string(), id))), work).await,
        None => work.await,
    }
}

/// Checks a chosen run id: it names the record's file (`jobs/runs/<class>/<run_id>.json`), so
/// it must be one path segment of printable characters, at most 200 bytes, and not `.` or
/// `..` (the reference takes any string, so `../x` writes outside `jobs/runs`).
///
/// # Errors
/// What is wrong with it, as one line.
pub fn check_run_id(id: &str) -> std::result::Result<(), String> {
    if id.is_empty() || id.len() > 200 {
        return Err("a run id has 1 to 200 bytes".into());
    }
    if id == "." || id == ".." || id.contains(['/', '\\']) || id.chars().any(char::is_control) {
        return Err(format!("a run id is one path segment, not `{}`", id.escape_debug()));
    }
    Ok(())
}

/// The chosen run id for a job of `class` starting in this task, if any (see [`with_run_id`]).
fn chosen_run_id(class: &str) -> Option<String> {
    let taken = CHOSEN.try_with(|chosen| chosen.borrow_mut().take_if(|(c, _)| c == class)).ok().flatten();
    taken.map(|(_, id)| id)
}

/// An ISO 8601 duration as Python's isodate writes it (`PT0.158709S`).
fn iso_duration(d: chrono::Duration) -> String {
    let micros = d.num_microseconds().unwrap_or(0).max(0);
    let (secs, frac) = (micros / 1_000_000, micros % 1_000_000);
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = String::from("PT");
    if h > 0 {
        out.push_str(&format!("{h}H"));
    }
    if m > 0 {
        out.push_str(&format!("{m}M"));
    }
    if frac > 0 {
        out.push_str(&format!("{s}.{}S", format!("{frac:06}").trim_end_matches('0')));
    } else if s > 0 || out == "PT" {
        out.push_str(&format!("{s}S"));
    }
    out
}

/// One job run.
#[derive(Debug, Clone)]
pub struct Job {
    class: &'static str,
    run_id: String,
    dataset: String,
    started: DateTime<Utc>,
    /// Units of work listed but not finished.
    pub pending: u64,
    /// Units of work done.
    pub done: u64,
    /// When the record was last saved while running.
    last_updated: Option<DateTime<Utc>>,
    /// Job-specific fields, in order.
    pub fields: Map<String, Value>,
}

impl Job {
    /// A job of `class` (`ExportJob`, `MakeJob`, `OptimizeJob`, …) starting now, with a new
    /// run id or the one chosen by [`with_run_id`].
    pub fn start(class: &'static str, dataset: &Dataset) -> Job {
        let started = Utc::now();
        Job {
            class,
            run_id: chosen_run_id(class).unwrap_or_else(|| run_id(started)),
            dataset: dataset.name().to_string(),
            started,
            pending: 0,
            done: 0,
            last_updated: None,
            fields: Map::new(),
        }
    }

    /// The start time.
    pub fn started(&self) -> DateTime<Utc> {
        self.started
    }

    fn record(&self, stopped: Option<DateTime<Utc>>, exc: Option<&str>) -> Value {
        let mut out = Map::new();
        out.insert("run_id".into(), self.run_id.clone().into());
        out.insert("started".into(), iso_z(&self.started).into());
        out.insert("stopped".into(), stopped.map(|s| iso_z(&s)).into());
        out.insert("last_updated".into(), self.last_updated.map(|t| iso_z(&t)).into());
        out.insert("pending".into(), self.pending.into());
        out.insert("done".into(), self.done.into());
        out.insert("errors".into(), u64::from(exc.is_some() && stopped.is_some()).into());
        out.insert("running".into(), stopped.is_none().into());
        out.insert("exc".into(), exc.unwrap_or("None").into());
        out.insert("took".into(), iso_duration(stopped.unwrap_or(self.started) - self.started).into());
        out.insert("dataset".into(), self.dataset.clone().into());
        for (k, v) in &self.fields {
            out.insert(k.clone(), v.clone());
        }
        out.insert("name".into(), self.class.into());
        Value::Object(out)
    }

    async fn save(&self, dataset: &Dataset, record: Value) -> Result<()> {
        let path = Path::from(format!("jobs/runs/{}/{}.json", self.class, self.run_id));
        let bytes = serde_json::to_vec(&record).expect("JSON values serialise");
        dataset.object_store().put(&path, bytes.into()).await?;
        Ok(())
    }

    /// The record of this job when it was skipped as fresh, as the reference returns it from its
    /// operations endpoint (spec `interfaces.md` §3.6): `started` and `last_updated` null,
    /// `stopped` now, nothing done, `took` `PT0S`. Not saved.
    pub fn skipped(&self) -> Value {
        let mut record = self.record(Some(Utc::now()), None);
        record["started"] = Value::Null;
        record["took"] = "PT0S".into();
        record
    }

    /// Runs this job on the server of a served lake (api mode, spec `interfaces.md` §3.6,
    /// §3.8): posts its record (run id, fields and name) to the operations route and returns
    /// the final record the server answers with (`started` null when it was fresh).
    ///
    /// # Errors
    /// [`Error::Api`](crate::error::Error::Api).
    pub async fn run_served(&self, api: &DatasetApi, force: bool) -> Result<Value> {
        api.operation(&self.record(None, None), force).await
    }

    /// Whether a final record says the job was skipped as fresh (`started` null).
    pub fn was_skipped(record: &Value) -> bool {
        record.get("started").is_some_and(Value::is_null)
    }

    /// Writes the record of the running job.
    ///
    /// # Errors
    /// [`Error::Storage`](crate::error::Error::Storage).
    pub async fn begin(&self, dataset: &Dataset) -> Result<()> {
        self.save(dataset, self.record(None, None)).await
    }

    /// Saves the running job's progress, `last_updated` set to now.
    ///
    /// # Errors
    /// [`Error::Storage`](crate::error::Error::Storage).
    pub async fn update(&mut self, dataset: &Dataset) -> Result<()> {
        self.last_updated = Some(Utc::now());
        self.save(dataset, self.record(None, None)).await
    }

    /// Writes the final record, with the error message when the job failed, and returns it.
    ///
    /// # Errors
    /// [`Error::Storage`](crate::error::Error::Storage).
    pub async fn finish(&self, dataset: &Dataset, error: Option<&str>) -> Result<Value> {
        let record = self.record(Some(Utc::now()), error);
        self.save(dataset, record.clone()).await?;
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chosen_run_ids_are_one_path_segment() {
        assert_eq!(check_run_id(&run_id(Utc::now())), Ok(()));
        assert_eq!(check_run_id("nightly 2026-12-04"), Ok(()));
        for bad in ["", ".", "..", "a/b", "../x", "a\\b", "a\nb", &"x".repeat(201)] {
            assert!(check_run_id(bad).is_err(), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn a_chosen_run_id_names_the_first_job_of_its_class() {
        let chosen = with_run_id("MakeJob", Some("mine".into()), async {
            (chosen_run_id("ExportJob"), chosen_run_id("MakeJob"), chosen_run_id("MakeJob"))
        })
        .await;
        assert_eq!(chosen, (None, Some("mine".into()), None));
        assert_eq!(chosen_run_id("MakeJob"), None, "outside the scope");
    }

    #[test]
    fn run_ids_sort_with_the_reference() {
        let t = ftm::time::parse_iso("2026-11-21T04:33:43.289510Z").unwrap();
        let id = run_id(t);
        assert!(id.starts_with("06b011f2-74a1-7d"), "{id}");
        assert_eq!(&id[19..20], "8", "{id}");
        let later = run_id(t + chrono::Duration::milliseconds(1));
        assert!(later > id && id.as_str() > "06b011f2-54f6-7c39-8000-a9061faa7032");
        assert_eq!(iso_duration(chrono::Duration::microseconds(158_709)), "PT0.158709S");
        assert_eq!(iso_duration(chrono::Duration::seconds(125) + chrono::Duration::microseconds(30)), "PT2M5.00003S");
        assert_eq!(iso_z(&t), "2026-11-21T04:33:43.289510Z");
    }
}
