//! Origins: the provenance label of a statement and its third partition column.
//!
//! Rule of the reference's `validate_origin` (spec `storage-format.md` §2.5): a non-empty string
//! of at most 255 characters, not `.` or `..`, without `..`, `/`, `\`, control characters
//! (U+0000–U+001F, U+007F), `'` or `"`.

use crate::error::{Error, Result};

/// Origin of the writer and journal API when none is given.
pub const DEFAULT_ORIGIN: &str = "default";
/// Origin of `entities import` / `statements import`.
pub const BULK_ORIGIN: &str = "bulk";
/// Origin of the crawler's Document entities.
pub const CRAWL_ORIGIN: &str = "crawl";

/// Returns `origin` if it is a valid origin.
///
/// # Errors
/// [`Error::InvalidOrigin`] naming the origin and the broken rule.
pub fn validate_origin(origin: &str) -> Result<&str> {
    let reason = if origin.is_empty() {
        Some("must not be empty")
    } else if origin.chars().count() > 255 {
        Some("must be at most 255 characters")
    } else if origin.contains("..") {
        Some("must not contain `..`")
    } else if origin == "." {
        Some("must not be `.`")
    } else if origin.contains(['/', '\\']) {
        Some("must not contain `/` or `\\`")
    } else if origin.chars().any(|c| c.is_ascii_control()) {
        Some("must not contain control characters")
    } else if origin.contains(['\'', '"']) {
        Some("must not contain quotes")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::InvalidOrigin { origin: origin.to_string(), reason }),
        None => Ok(origin),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        for ok in ["bulk", "crawl", "mapping:abc123", "a b:c%d", "é", "x.y"] {
            assert_eq!(validate_origin(ok).unwrap(), ok);
        }
        let long = "x".repeat(256);
        let (dots, slash, control, quotes) = ("`..`", "`/` or `\\`", "control characters", "quotes");
        for (bad, why) in [
            ("", "must not be empty"),
            (".", "must not be `.`"),
            ("..", dots),
            ("a..b", dots),
            ("a/b", slash),
            ("a\\b", slash),
            ("a\nb", control),
            ("a\u{7f}", control),
            ("it's", quotes),
            ("\"q\"", quotes),
            (long.as_str(), "at most 255 characters"),
        ] {
            let result = validate_origin(bad);
            assert!(
                matches!(&result, Err(Error::InvalidOrigin { origin, reason }) if origin == bad && reason.ends_with(why)),
                "{bad:?}: {result:?}"
            );
        }
        assert_eq!(
            validate_origin("a/b").unwrap_err().to_string(),
            "Invalid origin \"a/b\": must not contain `/` or `\\`"
        );
    }
}
