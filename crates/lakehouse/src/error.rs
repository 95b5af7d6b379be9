//! The lakehouse error type.

use thiserror::Error;

/// Everything the lakehouse library can fail with. Messages name the offending value.
#[derive(Debug, Error)]
pub enum Error {
    /// A dataset name that fails the FtM slug rule or is reserved.
    #[error("Invalid dataset name: '{name}'{reason}")]
    InvalidDatasetName {
        /// The name as given.
        name: String,
        /// Appended to the message as is: `" (reserved)"`, or the rule the name breaks.
        reason: &'static str,
    },
    /// An origin label that cannot be a partition value (spec `storage-format.md` §2.5).
    #[error("Invalid origin {origin:?}: {reason}")]
    InvalidOrigin {
        /// The origin as given.
        origin: String,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// A `LAKEHOUSE_*` environment variable whose value does not parse.
    #[error("Invalid setting {var}={value:?}: {reason}")]
    InvalidSetting {
        /// The variable's name, upper-cased (`LAKEHOUSE_WORKERS`).
        var: String,
        /// Its value.
        value: String,
        /// What the value must be.
        reason: &'static str,
    },
    /// A fence marker stayed held through every retry.
    #[error(
        "Write fence busy: `{marker}` of dataset `{dataset}` is held (since {since}). If no process is writing, run `ftm-lakehouse -d {dataset} maintenance unlock`"
    )]
    Locked {
        /// The marker's path below the dataset root (`.LOCK`, `.LOCK-APPENDS/<uuid>`, …).
        marker: String,
        /// The dataset's name.
        dataset: String,
        /// When the marker was taken, as written in it, or `unknown`.
        since: String,
    },
    /// An operation lock (`locks/{tenant}/{operation}`) is held by another process: a tenant's
    /// queue consumer, an export.
    #[error("`{operation}` is running in another process: {holder} holds lock `{lock}`; one runs at a time")]
    Busy {
        /// The operation (the lock's name).
        operation: String,
        /// Who holds the lock, as written in it.
        holder: String,
        /// The lock's path below the dataset root.
        lock: String,
    },
    /// Stored data that does not have the expected shape.
    #[error("corrupt statement data: {0}")]
    Corrupt(String),
    /// The object store failed: the request and the store's answer, in one line.
    #[error("storage error: {}", describe_storage(.0))]
    Storage(#[from] object_store::Error),
    /// Arrow failed to build or read a batch.
    #[error("arrow error: {0}")]
    Arrow(#[from] deltalake::arrow::error::ArrowError),
    /// The Delta table failed.
    #[error("delta table error: {0}")]
    Delta(#[from] deltalake::DeltaTableError),
    /// A DataFusion query failed.
    #[error("query error: {0}")]
    Query(#[from] deltalake::datafusion::error::DataFusionError),
    /// A parquet file could not be written or read.
    #[error("parquet error: {0}")]
    Parquet(#[from] deltalake::parquet::errors::ParquetError),
    /// A query string that cannot be used.
    #[error("Invalid query: {0}")]
    InvalidQuery(String),
    /// A request body or other input as a whole that cannot be read (a journal bulk that is
    /// not an Arrow IPC stream, a column missing from it); the message says what is wrong.
    #[error("{0}")]
    InvalidInput(String),
    /// A line of user input that cannot be imported.
    #[error("{input} line {line}: {message}")]
    Input {
        /// The input's name: its path, or `<stdin>`.
        input: String,
        /// The 1-based line (for CSV input, the row's line counting the header as 1).
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// One entity has more statements than a writer may buffer.
    #[error("an entity with {rows} statements exceeds LAKEHOUSE_MAX_BUFFER_ROWS={max}")]
    BufferFull {
        /// The entity's statements.
        rows: usize,
        /// The cap, `LAKEHOUSE_MAX_BUFFER_ROWS`.
        max: usize,
    },
    /// The SQL journal's database (SQLite or PostgreSQL) failed; its error is the source.
    #[error("journal error: {0}")]
    Journal(#[source] BoxError),
    /// A background task of an operation (a parser, an encoder, a merge) panicked or was
    /// cancelled before it finished.
    #[error("{task} task failed: {source}")]
    Task {
        /// What the task did (`append`, `merge`, `statements.csv`, …).
        task: &'static str,
        /// Why the task did not finish (panic or cancellation).
        source: tokio::task::JoinError,
    },
    /// A `config.yml` that cannot be used.
    #[error("Invalid dataset config: {0}")]
    InvalidConfig(String),
    /// A mapping that cannot be stored or run.
    #[error("Invalid mapping {name}: {problem}")]
    InvalidMapping {
        /// The mapping's file or content hash.
        name: String,
        /// What is wrong, naming the query, entity and property or column.
        problem: String,
    },
    /// Something that should exist does not.
    #[error("Not found: {0}")]
    NotFound(String),
    /// A blob checksum that is not lowercase hex SHA-256 or SHA-1 (spec `archive-and-crawl.md` §1.1).
    #[error("Invalid checksum: '{0}' (must be a lowercase hex SHA-256 digest of 64 characters, or SHA-1 of 40)")]
    InvalidChecksum(String),
    /// A file id, origin, key or path that could escape its folder (spec `archive-and-crawl.md` §1.2).
    #[error("Invalid {kind} {name:?}: {reason}")]
    InvalidName {
        /// What the value names (`file id`, `file key`, `crawl path`, …).
        kind: &'static str,
        /// The value as given.
        name: String,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// A crawl include or exclude pattern that does not parse.
    #[error("Invalid pattern {pattern:?}: {reason}")]
    InvalidPattern {
        /// The glob as given.
        pattern: String,
        /// The glob parser's complaint, or the rule the pattern breaks.
        reason: String,
    },
    /// A tag or file key that is empty or escapes its folder.
    #[error("Invalid key {0:?}: keys are relative paths without empty, `.` or `..` segments")]
    InvalidKey(String),
    /// A lakehouse server (api mode) answered with an error status: the request (`POST
    /// http://…/_api/entities/flush`), the status and the server's `detail`.
    #[error("{request}: {status} {detail}")]
    Api {
        /// Method and URL.
        request: String,
        /// HTTP status.
        status: u16,
        /// The body's `detail`, or the body.
        detail: String,
    },
    /// A command that cannot run against a lakehouse served over HTTP (spec `interfaces.md` §3.8).
    #[error("`{0}` is not available in api mode (LAKEHOUSE_URI is an http(s):// server): run it on the server's lake")]
    NotInApiMode(&'static str),
    /// A storage URI this build cannot use: the URI, and why.
    #[error("Invalid storage URI {0:?}: {1}")]
    InvalidUri(String, String),
    /// A local file operation failed.
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
    /// Creating the ZFS datasets of a dataset failed (a `ZfsError` of the storage layer, which
    /// converts itself).
    #[error(transparent)]
    Zfs(BoxError),
    /// An error of the FtM model (unknown schema, stub property, …).
    #[error(transparent)]
    Ftm(#[from] ftm::FtmError),
}

/// An object store error in one line: the request that failed and the root cause, with an XML
/// error body of S3 or Azure cut to its code and message. The store's own message repeats each
/// cause and carries whole response bodies.
fn describe_storage(e: &object_store::Error) -> String {
    let text = e.to_string();
    let request = text.rsplit_once("Error performing ").map(|(_, rest)| {
        let mut words = rest.split(' ');
        format!("{} {}", words.next().unwrap_or_default(), words.next().unwrap_or_default())
    });
    let mut root: &dyn std::error::Error = e;
    while let Some(source) = root.source() {
        root = source;
    }
    let root = root.to_string();
    let element = |name: &str| {
        let (_, rest) = root.split_once(&format!("<{name}>"))?;
        Some(rest.split_once(&format!("</{name}>"))?.0.lines().next().unwrap_or_default().trim().to_string())
    };
    let code = element("Code");
    // A missing object is said plainly; a missing bucket or container, also a 404, is not that.
    if let object_store::Error::NotFound { path, .. } = e
        && code.as_deref().is_none_or(|c| matches!(c, "NoSuchKey" | "BlobNotFound"))
    {
        return format!("{path} not found");
    }
    let cause = match (root.split_once(": <?xml"), code, element("Message")) {
        (Some((status, _)), Some(code), Some(message)) => format!("{status}: {code}: {message}"),
        _ => root.lines().next().unwrap_or_default().to_string(),
    };
    match request {
        Some(request) => format!("{request}: {cause}"),
        None if text.contains(&cause) => text.lines().next().unwrap_or_default().to_string(),
        None => format!("{}: {cause}", text.lines().next().unwrap_or_default()),
    }
}

/// An error of another library kept as a source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Error {
    /// Maps a failed join of a background task doing `task` to [`Error::Task`].
    pub fn task(task: &'static str) -> impl FnOnce(tokio::task::JoinError) -> Error {
        move |source| Error::Task { task, source }
    }

    /// Maps a failed CSV write to `what` to [`Error::Io`], keeping the I/O error itself when
    /// there is one (so a closed pipe still reads as one).
    pub fn csv_write(what: &str) -> impl FnOnce(csv::Error) -> Error + '_ {
        move |e| match e.is_io_error() {
            true => match e.into_kind() {
                csv::ErrorKind::Io(io) => Error::Io(what.to_string(), io),
                kind => Error::Io(what.to_string(), std::io::Error::other(format!("{kind:?}"))),
            },
            false => Error::Io(what.to_string(), std::io::Error::other(e)),
        }
    }
}

/// Result with [`Error`](enum@Error).
pub type Result<T, E = Error> = std::result::Result<T, E>;
