//! What every command needs: settings, the catalog, the dataset named by `-d`, and the
//! `-i`/`-o` streams.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};

use anyhow::{Context as _, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use lakehouse::Settings;
use lakehouse::model::DatasetName;
use lakehouse::repository::{Catalog, Dataset};
use lakehouse::storage::Location;

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

/// `-o`: stdout for `-`, else a new file.
pub fn output(path: &str) -> Result<Box<dyn Write>> {
    if path == "-" {
        return Ok(Box::new(BufWriter::new(std::io::stdout().lock())));
    }
    let file = File::create(path).with_context(|| format!("cannot write {path}"))?;
    Ok(Box::new(BufWriter::new(file)))
}

/// `-i`: stdin for `-`, else the file; with the name errors should use.
pub fn input(path: &str) -> Result<(Box<dyn BufRead>, String)> {
    if path == "-" {
        return Ok((Box::new(BufReader::new(std::io::stdin().lock())), "<stdin>".to_string()));
    }
    let file = File::open(path).with_context(|| format!("cannot read {path}"))?;
    Ok((Box::new(BufReader::new(file)), path.to_string()))
}

/// A progress counter on stderr (hidden when stderr is not a terminal).
pub fn progress(what: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template("{spinner} {msg}: {pos} {per_sec} [{elapsed}]").expect("template"));
    bar.set_message(what.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}
