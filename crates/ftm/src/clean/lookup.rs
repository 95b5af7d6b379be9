//! Lookup tables exported once from followthemoney and rigour (both MIT) by
//! `tools/gen-ftm-tables.py`: territory codes and names, languages, topics.

use std::collections::HashMap;
use std::sync::LazyLock;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use crate::ids::python_strip;

/// Rows of a generated table, comments skipped.
fn rows(table: &'static str) -> impl Iterator<Item = Vec<&'static str>> {
    table.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).map(|l| l.split('\t').collect())
}

/// Codes (`de`, `deu`, `Q183`, `de-by`) by their cleaned spelling, and names by their
/// normalised spelling, each to the FtM country of the territory.
struct Territories {
    codes: HashMap<String, &'static str>,
    names: HashMap<String, &'static str>,
}

static TERRITORIES: LazyLock<Territories> = LazyLock::new(|| {
    let mut codes = HashMap::new();
    // Strong names win over weak ones, weak over places; within a rank the last one wins
    // (rigour's order of precedence).
    let mut ranks: [HashMap<String, &'static str>; 3] = Default::default();
    for row in rows(include_str!("../../data/territories.tsv")) {
        let (kind, text, country) = (row[0], row[1], row[2]);
        match kind {
            "i" => {
                codes.insert(clean_code(text), country);
            }
            "s" | "w" | "p" => {
                let rank = "swp".find(kind).unwrap_or(2);
                ranks[rank].insert(normalize_name(text), country);
            }
            _ => {}
        }
    }
    let mut names = HashMap::new();
    for rank in ranks {
        for (name, country) in rank {
            names.entry(name).or_insert(country);
        }
    }
    Territories { codes, names }
});

/// A territory code as rigour compares them: lower case, `_` as `-`, stripped.
fn clean_code(code: &str) -> String {
    python_strip(&code.to_lowercase().replace('_', "-")).to_string()
}

/// A territory name as compared: accents dropped, lower case, `.()[],;:_-/ʻ'’` removed, other
/// punctuation and symbols as spaces, whitespace squashed (`Côte d'Ivoire` → `cote divoire`).
fn normalize_name(name: &str) -> String {
    const SKIPPED: &str = ".()[],;:_-/ʻ'’";
    let mut out = String::with_capacity(name.len());
    for c in name.nfkd().filter(|c| !is_combining_mark(*c)).flat_map(char::to_lowercase) {
        match c {
            c if SKIPPED.contains(c) => {}
            'ß' => out.push_str("ss"),
            'æ' => out.push_str("ae"),
            'œ' => out.push_str("oe"),
            'ø' => out.push('o'),
            'đ' => out.push('d'),
            'ł' => out.push('l'),
            'ı' => out.push('i'),
            c if c.is_alphanumeric() => out.push(c),
            _ => out.push(' '),
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The FtM country code of a territory code or name (`Germany`, `DEU`, `de-by` → `de`,
/// `Scotland` → `gb-sct`), as followthemoney's `country` type cleans it; `None` if unknown.
pub fn territory_code(text: &str) -> Option<&'static str> {
    let territories = &*TERRITORIES;
    territories.codes.get(&clean_code(text)).or_else(|| territories.names.get(&normalize_name(text))).copied()
}

static LANGUAGES: LazyLock<HashMap<&'static str, &'static str>> =
    LazyLock::new(|| rows(include_str!("../../data/languages.tsv")).map(|r| (r[0], r[1])).collect());

/// The ISO 639-3 code of a language code or name (`en`, `ger`, `German`, `en_US` → `eng`) among
/// the 74 FtM accepts; `None` otherwise.
pub fn language_code(text: &str) -> Option<&'static str> {
    let key = python_strip(text).to_lowercase();
    LANGUAGES.get(key.as_str()).copied().or_else(|| {
        let (base, _) = key.split_once(['_', '-'])?;
        LANGUAGES.get(base).copied()
    })
}

static TOPICS: LazyLock<HashMap<&'static str, &'static str>> =
    LazyLock::new(|| rows(include_str!("../../data/topics.tsv")).map(|r| (r[0], r[1])).collect());

/// Whether `code` is one of FtM's topics (`crime`, `role.pep`, …).
pub fn is_topic(code: &str) -> bool {
    TOPICS.contains_key(code)
}
