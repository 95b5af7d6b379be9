//! Dataset names.
//!
//! A name must equal its own FtM slug with `_` as separator, i.e. match
//! `^[a-z0-9]+(_[a-z0-9]+)*$` (followthemoney `dataset_name_check`, spec `zfs.md` §9.1), and
//! must not be `catalog` or `default`, which the catalog reserves (spec `storage-format.md`
//! §1.1).

use std::fmt;

use crate::error::{Error, Result};

/// Names the catalog reserves.
pub const RESERVED_NAMES: [&str; 2] = ["catalog", "default"];

/// A validated dataset name, e.g. `donations`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DatasetName(String);

/// Whether `name` is an FtM dataset name (the slug rule only, reserved names pass).
pub fn is_slug(name: &str) -> bool {
    !name.is_empty()
        && name
            .split('_')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
}

impl DatasetName {
    /// Validates `name`.
    ///
    /// # Errors
    /// [`Error::InvalidDatasetName`]: `Invalid dataset name: 'My-DS'`.
    pub fn new(name: &str) -> Result<DatasetName> {
        if !is_slug(name) {
            let reason = " (use lowercase ASCII letters and digits separated by single underscores)";
            return Err(Error::InvalidDatasetName { name: name.to_string(), reason });
        }
        if RESERVED_NAMES.contains(&name) {
            return Err(Error::InvalidDatasetName { name: name.to_string(), reason: " (reserved)" });
        }
        Ok(DatasetName(name.to_string()))
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DatasetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for DatasetName {
    type Err = Error;

    fn from_str(name: &str) -> Result<DatasetName> {
        DatasetName::new(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names() {
        for ok in ["my_dataset", "a", "1ds", "123", "archive", "statements", "donations"] {
            assert_eq!(DatasetName::new(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn invalid_names() {
        for bad in ["", "_a", "a_", "a__b", "A", "my-ds", "a.b", "my ds", "ä", "é", "ß", "a\n", "../x"] {
            let err = DatasetName::new(bad).unwrap_err();
            assert!(err.to_string().starts_with(&format!("Invalid dataset name: '{bad}'")), "{err}");
        }
        assert_eq!(DatasetName::new("catalog").unwrap_err().to_string(), "Invalid dataset name: 'catalog' (reserved)");
        assert_eq!(DatasetName::new("default").unwrap_err().to_string(), "Invalid dataset name: 'default' (reserved)");
    }
}
