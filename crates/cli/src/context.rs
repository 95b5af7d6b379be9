//! What every command needs: settings, the catalog, the dataset named by `-d`, and the
//! `-i`/`-o` streams.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};

use anyhow::{Context as _, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use lakehouse::Settings;
use lakehouse::model::DatasetName;
use lakehouse::repository::{Catalog, Dataset};
use lakehouse::storage::Location;
use lakehouse::storage::object_io::{ObjectReader, ObjectWriter, is_object_url};

/// The resolved global options.
pub struct Context {
    pub settings: Settings,
    pub catalog: Catalog,
    dataset: Option<(DatasetName, Option<Location>)>,
}

impl Context {
    pub fn new(settings: Settings, dataset: Option<DatasetName>, dataset_uri: Option<&str>) -> Result<Context> {
        let root = Location::parse(&settings.uri)?;
        let location = dataset_uri.map(Location::parse).transpose()?;
        Ok(Context {
            catalog: Catalog::new(root, settings.clone()),
            settings,
            dataset: dataset.map(|name| (name, location)),
        })
    }

    /// The dataset of `-d`, or the reference's error when there is none.
    pub fn dataset(&self) -> Result<Dataset> {
        let Some((name, location)) = &self.dataset else {
            bail!("Specify dataset name with `-d` option!");
        };
        Ok(self.catalog.dataset(name.clone(), location.clone())?)
    }
}

/// Where `-o` writes: stdout, a local file, or an object published when finished.
pub enum Output {
    /// Stdout or a local file.
    Local(Box<dyn Write>),
    /// An object in a store (`s3://bucket/out.csv`).
    Object(BufWriter<ObjectWriter>),
}

impl Output {
    /// Flushes everything and, for an object, publishes it. Output that is not finished is not
    /// published.
    pub fn finish(self) -> Result<()> {
        match self {
            Output::Local(mut w) => Ok(w.flush()?),
            Output::Object(w) => Ok(w.into_inner().map_err(|e| e.into_error())?.finish()?),
        }
    }
}

impl Write for Output {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        match self {
            Output::Local(w) => w.write(bytes),
            Output::Object(w) => w.write(bytes),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Output::Local(w) => w.flush(),
            Output::Object(w) => w.flush(),
        }
    }
}

/// `-o`: stdout for `-`, an object for a store URI (`s3://…`), else a new local file.
pub fn output(path: &str) -> Result<Output> {
    if path == "-" {
        return Ok(Output::Local(Box::new(BufWriter::new(std::io::stdout().lock()))));
    }
    if is_object_url(path) {
        return Ok(Output::Object(BufWriter::with_capacity(1 << 16, ObjectWriter::create(path)?)));
    }
    let file = File::create(path).with_context(|| format!("cannot write {path}"))?;
    Ok(Output::Local(Box::new(BufWriter::new(file))))
}

/// `-i`: stdin for `-`, an object for a store URI, else the local file; with the name errors
/// should use.
pub fn input(path: &str) -> Result<(Box<dyn BufRead>, String)> {
    if path == "-" {
        return Ok((Box::new(BufReader::new(std::io::stdin().lock())), "<stdin>".to_string()));
    }
    if is_object_url(path) {
        return Ok((Box::new(BufReader::with_capacity(1 << 20, ObjectReader::open_url(path)?)), path.to_string()));
    }
    let file = File::open(path).with_context(|| format!("cannot read {path}"))?;
    Ok((Box::new(BufReader::new(file)), path.to_string()))
}

/// The text of a local file or an object (`configure -c`).
pub fn read_text(path: &str) -> Result<String> {
    let mut text = String::new();
    if is_object_url(path) {
        ObjectReader::open_url(path)?.read_to_string(&mut text).with_context(|| format!("cannot read {path}"))?;
    } else {
        text = std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?;
    }
    Ok(text)
}

/// A progress counter on stderr (hidden when stderr is not a terminal).
pub fn progress(what: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template("{spinner} {msg}: {pos} {per_sec} [{elapsed}]").expect("template"));
    bar.set_message(what.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}
