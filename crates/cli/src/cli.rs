//! The command tree and its flags (spec `interfaces.md` §1.1, §1.4, §1.5; `zfs.md` §7).

use std::path::PathBuf;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Args, CommandFactory, Parser, Subcommand};
use lakehouse::model::origin::BULK_ORIGIN;

/// FollowTheMoney data lakehouse: entity graph data and source documents on a Delta Lake.
#[derive(Debug, Parser)]
#[command(name = "ftm-lakehouse", disable_version_flag = true)]
pub struct Cli {
    /// Print the version, and the reference version whose lakes and commands it is compatible
    /// with, to stderr and exit.
    #[arg(long, overrides_with = "no_version")]
    pub version: bool,
    /// Do not print the version (the reference's spelling; the default).
    #[arg(long, overrides_with = "version", hide = true)]
    pub no_version: bool,
    /// Print the resolved settings and CLI state to stderr and exit.
    #[arg(long)]
    pub settings: bool,
    /// Lakehouse root (catalog) for this invocation [default: $LAKEHOUSE_URI or `data`].
    #[arg(long, value_name = "URI")]
    pub uri: Option<String>,
    /// Dataset name (lowercase letters and digits separated by single underscores).
    #[arg(short = 'd', value_name = "NAME")]
    pub dataset: Option<String>,
    /// Explicit storage root of the dataset [default: {uri}/{NAME}].
    #[arg(long, value_name = "URI")]
    pub dataset_uri: Option<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// The parsed command line. A usage error exits 2 with clap's message and the usage line of
    /// the (sub-)command it belongs to, as the reference prints its usage errors (spec
    /// `interfaces.md` §1.3); clap leaves the usage out of some errors (an invalid value) and
    /// it is added here. `--help` prints the help and exits 0.
    pub fn parse_or_exit() -> Cli {
        let mut err = match Cli::try_parse() {
            Ok(cli) => return cli,
            Err(err) => err,
        };
        let help = matches!(err.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion);
        if !help && err.get(ContextKind::Usage).is_none() {
            let usage = usage_of(std::env::args().skip(1));
            err.insert(ContextKind::Usage, ContextValue::StyledStr(usage));
        }
        err.exit()
    }
}

/// The usage line of the deepest sub-command named in `args` (the top level when none is).
fn usage_of(args: impl Iterator<Item = String>) -> clap::builder::StyledStr {
    let mut command = Cli::command();
    command.build();
    let mut current = &mut command;
    for arg in args {
        if current.find_subcommand(&arg).is_none() {
            continue;
        }
        current = current.find_subcommand_mut(&arg).expect("found above");
    }
    current.render_usage()
}

/// The sub-commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the dataset names of the catalog, one per line.
    Ls(Output),
    /// Print every dataset's configuration as JSON lines.
    Datasets(Output),
    /// Merge a YAML file into the dataset's config.yml.
    Configure {
        /// The YAML file (keys to set; `name` and `uri` are ignored).
        #[arg(short = 'c', value_name = "YML")]
        config: String,
    },
    /// Archive the files of a local folder, with a Document entity per file.
    Crawl(CrawlArgs),
    /// The file archive: get, head, ls, download.
    #[command(subcommand)]
    Archive(ArchiveCommand),
    /// Read, query and write entities.
    #[command(subcommand)]
    Entities(EntitiesCommand),
    /// Read, query and write statements.
    #[command(subcommand)]
    Statements(StatementsCommand),
    /// Tags per tenant: ls, get, set, delete (the `lakehouse` tenant is the lake's own).
    #[command(subcommand)]
    Tags(TagsCommand),
    /// A tenant's queue of mutations: put, ls, consume.
    #[command(subcommand)]
    Queue(QueueCommand),
    /// Mappings of archived CSV files to entities: put, ls, get, delete, process.
    #[command(subcommand)]
    Mappings(MappingsCommand),
    /// Flush, optimize and export the dataset: the main job.
    Make(MakeArgs),
    /// Export every artifact (statements.csv, entities.ftm.json, documents, statistics, index).
    Export(ExportArgs),
    /// Flush, optimize and unlock the statement store.
    #[command(subcommand)]
    Maintenance(MaintenanceCommand),
    /// ZFS dataset management for the lakehouse
    #[command(subcommand, arg_required_else_help = true)]
    Zfs(ZfsCommand),
    /// Serve the lake over HTTP: the reference's REST API and blob protocol.
    Api(ApiArgs),
    /// Print a shell completion script (`source <(ftm-lakehouse completions bash)`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Options of `api` (the rest comes from `LAKEHOUSE_API_*`).
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// Address to listen on.
    #[arg(long, env = "LAKEHOUSE_API_HOST", default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on (0: any free port, printed at start).
    #[arg(long, env = "LAKEHOUSE_API_PORT", default_value_t = 8000)]
    pub port: u16,
}

/// Options of `crawl` (spec `archive-and-crawl.md` §2).
#[derive(Debug, Args)]
pub struct CrawlArgs {
    /// The source folder (a path or `file://` URL), or one file.
    pub uri: String,
    /// Where the job record goes (`-`: a summary on stderr; a file: one JSON line).
    #[arg(short = 'o', default_value = "-", value_name = "OUT")]
    pub output: String,
    /// Only paths matching this glob (`*` stays within a folder, `**/` spans folders).
    #[arg(long, value_name = "GLOB")]
    pub include: Option<String>,
    /// Skip paths matching this pattern (`*` crosses folders).
    #[arg(long, value_name = "GLOB")]
    pub exclude: Option<String>,
    /// Crawl only this sub-folder of the source.
    #[arg(long, value_name = "FOLDER")]
    pub prefix: Option<String>,
    /// Skip paths that start with this string.
    #[arg(long, value_name = "TEXT")]
    pub exclude_prefix: Option<String>,
    /// Write a Document entity per file (the default).
    #[arg(long, overrides_with = "no_make_entities")]
    pub make_entities: bool,
    /// Archive the files only.
    #[arg(long, overrides_with = "make_entities")]
    pub no_make_entities: bool,
    /// Files already archived: overwrite, skip-path or skip-checksum.
    #[arg(long, default_value = "overwrite", value_parser = ["overwrite", "skip-path", "skip-checksum"])]
    pub existing: String,
}

/// `tags …` (seed 002 "Tags", "Tenant usage").
#[derive(Debug, Subcommand)]
pub enum TagsCommand {
    /// List a tenant's tags: key, a tab, the value; one per line.
    Ls {
        /// Whose tags.
        #[arg(long, default_value = "lakehouse")]
        tenant: String,
        /// Only keys under this prefix (`mappings/`).
        #[arg(long)]
        prefix: Option<String>,
        #[command(flatten)]
        output: Output,
    },
    /// Print a tag's value (exit 1 when it is not set).
    Get {
        /// The tag's key, e.g. `journal/last_updated`.
        key: String,
        /// Whose tag.
        #[arg(long, default_value = "lakehouse")]
        tenant: String,
    },
    /// Set a tag of a tenant to a time (now, when none is given).
    Set {
        /// The tag's key.
        key: String,
        /// An ISO 8601 time.
        time: Option<String>,
        /// Whose tag (not `lakehouse`: those are the lake's own).
        #[arg(long)]
        tenant: String,
    },
    /// Unset a tag of a tenant.
    Delete {
        /// The tag's key.
        key: String,
        /// Whose tag (not `lakehouse`).
        #[arg(long)]
        tenant: String,
    },
}

/// `queue …` (seed 001 "QueueStore", seed 002 "Queue").
#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// Queue items, one JSON object per line: `{"action": "UPSERT"|"DELETE", "resource":
    /// "entity"|"file", "payload": {…}}` (entity JSON; `{"id", "origin"?}`; `{"path",
    /// "key"?}`; `{"checksum", "file_id"?}`). All are checked before any is queued.
    Put {
        /// The items (`-` = stdin).
        #[arg(short = 'i', default_value = "-", value_name = "IN")]
        input: String,
        /// Whose queue.
        #[arg(long)]
        tenant: String,
    },
    /// List the queued items, oldest first, as JSON lines with their `id` (an item that does
    /// not read as `{"id", "unreadable": its text}`).
    Ls {
        /// Whose queue.
        #[arg(long)]
        tenant: String,
        /// At most this many.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
        #[command(flatten)]
        output: Output,
    },
    /// Run the queued items in order, removing each once it is durable.
    Consume {
        /// Whose queue.
        #[arg(long)]
        tenant: String,
        /// Keep waiting for new items (stop with Ctrl-C).
        #[arg(long)]
        follow: bool,
        /// Items run and made durable together.
        #[arg(long, default_value_t = 1000)]
        batch: usize,
    },
}

/// `mappings …` (seed 002 "Mappings").
#[derive(Debug, Subcommand)]
pub enum MappingsCommand {
    /// Check and store a mapping (YAML: `dataset`, `content_hash`, `queries`).
    Put {
        /// The mapping's YAML file (`-` = stdin).
        #[arg(short = 'i', default_value = "-", value_name = "YML")]
        input: String,
        /// The archived CSV file's checksum, instead of the YAML's `content_hash`.
        #[arg(long, value_name = "CHECKSUM")]
        content_hash: Option<String>,
    },
    /// List the checksums that have a mapping, one per line.
    Ls(Output),
    /// Print a stored mapping as YAML.
    Get {
        /// The archived CSV file's checksum.
        content_hash: String,
        #[command(flatten)]
        output: Output,
    },
    /// Remove a mapping and the entities it made.
    Delete {
        /// The archived CSV file's checksum.
        content_hash: String,
    },
    /// Map archived CSV files to entities, replacing each mapping's earlier output.
    Process {
        /// The checksums whose mappings to run.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        content_hashes: Vec<String>,
        /// Run every mapping of the dataset.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        force: Force,
    },
}

/// `archive …` (spec `archive-and-crawl.md` §4).
#[derive(Debug, Subcommand)]
pub enum ArchiveCommand {
    /// Write the bytes of an archived file.
    Get {
        /// The file's SHA-256.
        checksum: String,
        #[command(flatten)]
        output: Output,
    },
    /// Print every metadata record of a checksum as JSON lines.
    Head {
        /// The file's SHA-256.
        checksum: String,
        #[command(flatten)]
        output: Output,
    },
    /// Print every metadata record as JSON lines (or only keys, or only checksums).
    Ls {
        #[command(flatten)]
        output: Output,
        /// Only the keys (paths), one per line.
        #[arg(long, overrides_with = "no_keys")]
        keys: bool,
        /// The reference's spelling of the default; the later of the pair wins.
        #[arg(long, overrides_with = "keys", hide = true)]
        no_keys: bool,
        /// Only the checksums, one per record.
        #[arg(long, overrides_with = "no_checksums")]
        checksums: bool,
        /// The reference's spelling of the default; the later of the pair wins.
        #[arg(long, overrides_with = "checksums", hide = true)]
        no_checksums: bool,
    },
    /// Write the archived files under their paths (from the documents export) into a folder.
    Download {
        /// The target folder.
        #[arg(short = 'o', value_name = "TARGET")]
        output: String,
    },
}

/// Options of `make`.
#[derive(Debug, Args)]
pub struct MakeArgs {
    /// A YAML file merged into config.yml first.
    #[arg(short = 'c', value_name = "YML")]
    pub config: Option<String>,
    /// Skip draining the journal (the export still flushes).
    #[arg(long, overrides_with = "flush")]
    pub no_flush: bool,
    /// The reference's spelling of the default; the later of the pair wins.
    #[arg(long, overrides_with = "no_flush", hide = true)]
    pub flush: bool,
    /// Only flush: no optimize, no exports.
    #[arg(long, overrides_with = "exports")]
    pub no_exports: bool,
    /// The reference's spelling of the default; the later of the pair wins.
    #[arg(long, overrides_with = "no_exports", hide = true)]
    pub exports: bool,
    /// Skip the optimize stage.
    #[arg(long, overrides_with = "optimize")]
    pub no_optimize: bool,
    /// The reference's spelling of the default; the later of the pair wins.
    #[arg(long, overrides_with = "no_optimize", hide = true)]
    pub optimize: bool,
    /// Optimize even when no partition is dirty.
    #[arg(long, overrides_with = "no_force_optimize")]
    pub force_optimize: bool,
    /// The reference's spelling of the default; the later of the pair wins.
    #[arg(long, overrides_with = "force_optimize", hide = true)]
    pub no_force_optimize: bool,
    /// Export even when the artifacts are fresh.
    #[arg(long, overrides_with = "no_force_exports")]
    pub force_exports: bool,
    /// The reference's spelling of the default; the later of the pair wins.
    #[arg(long, overrides_with = "force_exports", hide = true)]
    pub no_force_exports: bool,
}

/// `export`'s flags.
#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub force: Force,
    /// Write the artifacts into this folder (or bucket prefix) instead of the dataset's,
    /// leaving the lake as it is: no diffs, tags, job record or index.
    #[arg(short = 'o', value_name = "DIR")]
    pub output: Option<String>,
    /// Export the table as of this version or ISO 8601 time (with `-o`).
    #[arg(long, value_name = "VERSION|TIME", requires = "output")]
    pub as_of: Option<String>,
}

/// `--force` and the reference's `--no-force` (the later of the two wins).
#[derive(Debug, Args)]
pub struct Force {
    /// Run even when the result is fresh (nothing changed since the last run).
    #[arg(long, overrides_with = "no_force")]
    pub force: bool,
    /// The reference's spelling of the default; the later of the pair wins.
    #[arg(long, overrides_with = "force", hide = true)]
    pub no_force: bool,
}

/// `-o OUT`: where data goes.
#[derive(Debug, Args)]
pub struct Output {
    /// Output file (`-` = stdout).
    #[arg(short = 'o', default_value = "-", value_name = "OUT")]
    pub output: String,
}

/// Options of `entities import` and `statements import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Input file (`-` = stdin).
    #[arg(short = 'i', default_value = "-", value_name = "IN")]
    pub input: String,
    /// Origin for input carrying none.
    #[arg(long, default_value = BULK_ORIGIN)]
    pub origin: String,
    /// Use --origin even for input carrying its own origin.
    #[arg(long, overrides_with = "no_override_origin")]
    pub override_origin: bool,
    /// The reference's spelling of the default; the later of the pair wins.
    #[arg(long, overrides_with = "override_origin", hide = true)]
    pub no_override_origin: bool,
    /// Role for input carrying none.
    #[arg(long)]
    pub role: Option<String>,
    /// Statements per append when the import writes straight to the store (in-memory journal)
    /// [default: 500000, at most $LAKEHOUSE_MAX_BUFFER_ROWS].
    #[arg(long)]
    pub bulk_size: Option<usize>,
    /// Default `last_seen` (and `first_seen`) for input without timestamps, ISO 8601.
    #[arg(long, value_name = "DATETIME")]
    pub last_seen: Option<String>,
    /// Fast lenient path: skip what cannot be written instead of failing.
    #[arg(long = "unsafe")]
    pub lenient: bool,
}

/// `-q` or `--rql`: which entities a read returns (spec `interfaces.md` §2).
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// Query string (`filter:schema=Person&sort=properties.name&limit=10`).
    #[arg(short = 'q', long = "query", value_name = "QUERY", conflicts_with = "rql")]
    pub query: Option<String>,
    /// RQL query (`and(eq(schema,Person),ne(properties.country,de))`).
    #[arg(long, value_name = "RQL")]
    pub rql: Option<String>,
    /// Read the statement table as of a version (`maintenance history` lists them) or a time.
    #[arg(long, value_name = "VERSION|TIME")]
    pub as_of: Option<String>,
}

/// Options of `entities iterate` and `statements iterate`.
#[derive(Debug, Args)]
pub struct IterateArgs {
    #[command(flatten)]
    pub output: Output,
    #[command(flatten)]
    pub query: QueryArgs,
}

/// `entities …`.
#[derive(Debug, Subcommand)]
pub enum EntitiesCommand {
    /// Import FtM entities (JSON lines).
    Import(ImportArgs),
    /// Stream live entities from the statement store as JSON lines.
    Iterate(IterateArgs),
    /// Print one entity as JSON (exit 1 when it has no statements).
    Get {
        /// The entity id.
        id: String,
        /// Only the entity's statements of this origin.
        #[arg(long)]
        origin: Option<String>,
        /// Read the statement table as of a version or a time.
        #[arg(long, value_name = "VERSION|TIME")]
        as_of: Option<String>,
        #[command(flatten)]
        output: Output,
    },
    /// Drop every statement of one origin (other origins of the same entities stay).
    DeleteOrigin {
        /// The origin.
        origin: String,
    },
    /// Copy the exported entities.ftm.json, decompressed.
    Stream(Output),
}

/// Output formats of `statements sql`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SqlFormat {
    /// An aligned text table and a row count.
    Table,
    /// CSV with a header.
    Csv,
    /// One JSON object per row.
    Json,
}

/// `statements …`.
#[derive(Debug, Subcommand)]
pub enum StatementsCommand {
    /// Import statements (CSV with a header).
    Import(ImportArgs),
    /// Stream the live statement rows of the selected entities as CSV.
    Iterate(IterateArgs),
    /// Copy the exported exports/statements.csv, decompressed.
    Stream(Output),
    /// Run SQL over the views `statement` (live rows, with `canonical_id`) and `statement_raw`
    /// (every stored row).
    Sql {
        /// The SQL query.
        query: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: SqlFormat,
        /// Read the statement table as of a version or a time.
        #[arg(long, value_name = "VERSION|TIME")]
        as_of: Option<String>,
        #[command(flatten)]
        output: Output,
    },
}

/// `maintenance …`.
#[derive(Debug, Subcommand)]
pub enum MaintenanceCommand {
    /// Drain the journal into the statement store.
    Flush {
        /// Flush every dataset of the catalog.
        #[arg(long)]
        all: bool,
    },
    /// Merge and vacuum the statement store.
    Optimize {
        /// Vacuum files unreferenced for at least this many hours.
        #[arg(long, default_value_t = 0)]
        retention_hours: u32,
        #[command(flatten)]
        force: Force,
    },
    /// Rewrite the statement table for another shard count, in one commit, then set `shards`
    /// in config.yml. Partitions come out dirty: run `optimize` afterwards.
    Shard {
        /// The new shard count (0 and 1: one shard).
        #[arg(long)]
        shards: u32,
        #[command(flatten)]
        force: Force,
    },
    /// Bring the dataset to today's layout: the seed layout's statement table and archive blob
    /// names, missing table columns, the table's retention properties. Prints the job record.
    Migrate {
        /// Migrate every dataset of the catalog.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        force: Force,
    },
    /// Pack each partition's small files into larger ones (Delta's OPTIMIZE, bin-packing),
    /// without deduplicating: a lighter step than the merge of `optimize`; the files it writes
    /// are merged by the next `optimize`.
    Compact,
    /// Release a stale write fence (.LOCK, .LOCK-MERGE, append markers, read leases).
    Unlock,
    /// Check the dataset: every data file of the table exists and reads; with --archive every
    /// blob hashes to its checksum; staging leftovers are listed (removed with --repair).
    /// Exits 1 with a report when something is wrong.
    Verify {
        /// Hash every archived blob too.
        #[arg(long)]
        archive: bool,
        /// Remove staging leftovers (never a referenced file). Run it when no writer runs.
        #[arg(long)]
        repair: bool,
    },
    /// List the statement table's versions, oldest first, as JSON lines: `version`,
    /// `timestamp`, `operation`, `parameters` (for `--as-of`).
    History(Output),
}

/// `zfs …`: needs no lakehouse, only the ZFS settings.
#[derive(Debug, Subcommand)]
pub enum ZfsCommand {
    /// Create ZFS datasets for a lakehouse dataset.
    ///
    /// Creates the parent, archive, and statements ZFS datasets with tuned properties under the
    /// given pool, through the agent when LAKEHOUSE_ZFS_SOCKET is set.
    Init {
        /// Dataset name to initialize.
        dataset: String,
        /// ZFS pool path [default: $LAKEHOUSE_ZFS_POOL].
        #[arg(short = 'p', long)]
        pool: Option<String>,
    },
    /// Serve ZFS dataset creation on a Unix socket, for clients without ZFS tools (host side).
    Agent(AgentArgs),
}

/// Options of `zfs agent`.
#[derive(Debug, Args)]
pub struct AgentArgs {
    /// Unix socket path to listen on [default: $LAKEHOUSE_ZFS_SOCKET].
    #[arg(short = 's', long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// ZFS pool path; datasets are only created under it [default: $LAKEHOUSE_ZFS_POOL].
    #[arg(short = 'p', long)]
    pub pool: Option<String>,
    /// uid:gid to chown new mountpoints to [default: $LAKEHOUSE_ZFS_OWNER; unset: keep root's].
    #[arg(short = 'o', long, value_name = "UID:GID")]
    pub owner: Option<String>,
    /// The only UID allowed to connect, checked via SO_PEERCRED [default:
    /// $LAKEHOUSE_ZFS_ALLOWED_UID, else the agent's own UID].
    #[arg(long, value_name = "UID")]
    pub allowed_uid: Option<u32>,
}
