//! English names of the 281 FtM country codes (spec `ftm-model.md` §2.4), for labels in
//! statistics. Exported once from rigour's territory table (MIT) into `data/countries.tsv`.

use std::collections::HashMap;
use std::sync::LazyLock;

static NAMES: LazyLock<HashMap<&'static str, &'static str>> = LazyLock::new(|| {
    include_str!("../data/countries.tsv")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('\t'))
        .collect()
});

/// The English name of an FtM country code (`de` → `Germany`, `zz` → `Global`).
pub fn country_name(code: &str) -> Option<&'static str> {
    NAMES.get(code).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(NAMES.len(), 281);
        assert_eq!(country_name("de"), Some("Germany"));
        assert_eq!(country_name("xk"), Some("Kosovo"));
        assert_eq!(country_name("zz"), Some("Global"));
        assert_eq!(country_name("xx"), None);
    }
}
