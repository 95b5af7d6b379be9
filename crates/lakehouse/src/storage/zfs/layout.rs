//! The ZFS datasets of one lakehouse dataset and their tuned properties (spec `zfs.md` §2).

use crate::model::DatasetName;
use crate::storage::archive::ARCHIVE;
use crate::storage::statements::STATEMENTS_DIR;

/// Record size of the archive's ZFS dataset. 128K as in the mission text and the upstream docs
/// and tests; the reference 0.9.0 code says 1M (spec `zfs.md` §2).
pub const ARCHIVE_RECORDSIZE: &str = "128K";

/// The dataset's parent ZFS dataset: no access times, xattrs in the dnode.
const PARENT_PROPERTIES: [(&str, &str); 3] = [("atime", "off"), ("xattr", "sa"), ("dnodesize", "auto")];

/// The archive: mixed-entropy blobs, compressed hard.
const ARCHIVE_PROPERTIES: [(&str, &str); 4] =
    [("recordsize", ARCHIVE_RECORDSIZE), ("compression", "zstd-9"), ("sync", "standard"), ("logbias", "throughput")];

/// The statement table: parquet compresses itself (SNAPPY), so ZFS compression would only burn CPU.
const STATEMENTS_PROPERTIES: [(&str, &str); 4] =
    [("recordsize", "1M"), ("compression", "off"), ("sync", "standard"), ("logbias", "throughput")];

/// ZFS properties in `-o` order: `(name, value)` pairs, each name once.
///
/// Setting a name again replaces its value and keeps its position (spec `zfs.md` §2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties(Vec<(String, String)>);

impl Properties {
    /// No properties.
    pub fn new() -> Properties {
        Properties::default()
    }

    /// Sets `name` to `value`.
    pub fn set(&mut self, name: &str, value: &str) {
        match self.0.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => *v = value.to_string(),
            None => self.0.push((name.to_string(), value.to_string())),
        }
    }

    /// The `(name, value)` pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> FromIterator<(&'a str, &'a str)> for Properties {
    fn from_iter<I: IntoIterator<Item = (&'a str, &'a str)>>(pairs: I) -> Properties {
        let mut props = Properties::new();
        for (name, value) in pairs {
            props.set(name, value);
        }
        props
    }
}

/// The three ZFS datasets of `dataset` under `pool`, in creation order, with their properties:
/// `<pool>/<dataset>`, `<pool>/<dataset>/archive` and `<pool>/<dataset>/statements` (the
/// statement store's folder, [`STATEMENTS_DIR`]), so each mounts where its store writes.
pub fn layout(pool: &str, dataset: &DatasetName) -> [(String, Properties); 3] {
    let parent = format!("{pool}/{dataset}");
    [
        (parent.clone(), PARENT_PROPERTIES.into_iter().collect()),
        (format!("{parent}/{ARCHIVE}"), ARCHIVE_PROPERTIES.into_iter().collect()),
        (format!("{parent}/{STATEMENTS_DIR}"), STATEMENTS_PROPERTIES.into_iter().collect()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(props: &Properties) -> Vec<String> {
        props.iter().map(|(n, v)| format!("{n}={v}")).collect()
    }

    #[test]
    fn setting_again_keeps_the_position() {
        let mut props: Properties = [("recordsize", "128K"), ("compression", "zstd")].into_iter().collect();
        props.set("quota", "1T");
        props.set("recordsize", "1M");
        assert_eq!(pairs(&props), ["recordsize=1M", "compression=zstd", "quota=1T"]);
    }

    #[test]
    fn three_datasets_in_order() {
        let layout = layout("tank/lake", &DatasetName::new("my_dataset").unwrap());
        let names: Vec<&str> = layout.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["tank/lake/my_dataset", "tank/lake/my_dataset/archive", "tank/lake/my_dataset/statements"]);
        assert_eq!(pairs(&layout[0].1), ["atime=off", "xattr=sa", "dnodesize=auto"]);
        assert_eq!(
            pairs(&layout[1].1),
            ["recordsize=128K", "compression=zstd-9", "sync=standard", "logbias=throughput"]
        );
        assert_eq!(pairs(&layout[2].1), ["recordsize=1M", "compression=off", "sync=standard", "logbias=throughput"]);
    }
}
