//! Cleaning raw values into FtM's canonical form, as a mapping needs it.
//!
//! The lakehouse stores pre-cleaned values verbatim ([`crate::entity`]); mappings read raw CSV
//! cells, so each value passes through its property type's cleaning first, exactly as
//! followthemoney 4.11.2's `clean_text` does on the mapping path (no outer sanitising: a string
//! keeps its spaces, a name has its whitespace squashed). A value the type rejects is `None`
//! and the mapping discards it.
//!
//! The oracle is `tests/fixtures/clean_cases.json`: about 7,000 `[type, input, output]` cases
//! written by `tools/gen-ftm-tables.py` from followthemoney itself, checked by
//! `tests/clean.rs`.

mod date;
mod lookup;
mod phone;
mod web;

use std::net::IpAddr;

use crate::ids::{is_entity_id, is_python_space, python_strip, sanitize_text};
use crate::types::PropertyType;

pub use date::check_format;
pub use lookup::{is_topic, language_code, territory_code};

/// Cleans `text` as a value of type `kind`; `None` when the type rejects it. `format` is a
/// `strptime` format for dates (a mapping's `format`, e.g. `%d.%m.%Y`), ignored by other types.
///
/// Rules per type (followthemoney 4.11.2 `clean_text`): `name` squashes whitespace; `address`
/// turns line breaks into `, `; `date` keeps an ISO 8601 prefix between the years 1000 and 2999
/// (or parses `format`); `country` looks up codes and names in rigour's territory table;
/// `language` gives an ISO 639-3 code of FtM's 74; `email`, `url`, `ip`, `phone`, `mimetype`,
/// `gender`, `topic` and `entity` validate and normalise; the other types keep the text.
pub fn clean_text(kind: PropertyType, text: &str, format: Option<&str>) -> Option<String> {
    use PropertyType as T;
    let kept = || (!text.is_empty()).then(|| text.to_string());
    match kind {
        T::String | T::Text | T::Html | T::Json | T::Identifier | T::Number | T::Checksum => kept(),
        T::Name => squash(&sanitize_text(text)?),
        T::Address => address(text),
        T::Date => match format {
            Some(format) => date::parse_format(text, format),
            None => date::parse_prefix(python_strip(text)),
        },
        T::Country => territory_code(text).map(str::to_string),
        T::Language => language_code(text).map(str::to_string),
        T::Gender => gender(text),
        T::Topic => {
            let code = python_strip(text).to_lowercase();
            is_topic(&code).then_some(code)
        }
        T::Entity => is_entity_id(text).then(|| text.to_string()),
        T::Email => web::email(text),
        T::Url => web::url(text),
        T::Ip => ip(text),
        T::Mimetype => mimetype(text),
        T::Phone => phone::phone(text),
    }
}

/// Collapses every run of whitespace to one space and strips the ends; `None` if empty.
fn squash(text: &str) -> Option<String> {
    let words: Vec<&str> = text.split(is_python_space).filter(|w| !w.is_empty()).collect();
    (!words.is_empty()).then(|| words.join(" "))
}

/// An address on one line: line breaks become `, `, doubled commas one, whitespace squashed.
fn address(text: &str) -> Option<String> {
    let joined = text.replace("\r\n", ", ").replace(['\n', '\r'], ", ").replace(",,", ",");
    squash(&sanitize_text(&joined)?)
}

/// `male`, `female` or `other`, from the codes and FtM's list of spellings.
fn gender(text: &str) -> Option<String> {
    const LOOKUP: [(&str, &str); 18] = [
        ("male", "male"),
        ("female", "female"),
        ("other", "other"),
        ("m", "male"),
        ("man", "male"),
        ("masculin", "male"),
        ("männlich", "male"),
        ("мужской", "male"),
        ("男", "male"),
        ("f", "female"),
        ("woman", "female"),
        ("féminin", "female"),
        ("weiblich", "female"),
        ("женский", "female"),
        ("女", "female"),
        ("o", "other"),
        ("d", "other"),
        ("divers", "other"),
    ];
    let key = python_strip(text).to_lowercase();
    LOOKUP.iter().find(|(spelling, _)| *spelling == key).map(|(_, code)| code.to_string())
}

/// An IPv4 or IPv6 address in Python's `ipaddress` spelling (IPv6 compressed, lower case, an
/// IPv4-mapped tail in hex); no surrounding spaces allowed.
fn ip(text: &str) -> Option<String> {
    match text.parse::<IpAddr>().ok()? {
        IpAddr::V4(v4) => Some(v4.to_string()),
        IpAddr::V6(v6) => {
            let segments = v6.segments();
            // The longest run of two or more zero segments, the first on a tie, becomes `::`.
            let (mut best, mut run) = ((0, 0), (0, 0));
            for (i, segment) in segments.iter().enumerate() {
                if *segment == 0 {
                    run = if run.1 == 0 { (i, 1) } else { (run.0, run.1 + 1) };
                    if run.1 > best.1 {
                        best = run;
                    }
                } else {
                    run = (0, 0);
                }
            }
            let hex = |s: &[u16]| s.iter().map(|v| format!("{v:x}")).collect::<Vec<_>>().join(":");
            Some(if best.1 >= 2 {
                format!("{}::{}", hex(&segments[..best.0]), hex(&segments[best.0 + best.1..]))
            } else {
                hex(&segments)
            })
        }
    }
}

/// A MIME type without parameters, in lower case; `None` without a `/`.
fn mimetype(text: &str) -> Option<String> {
    let essence = python_strip(text.split(';').next().unwrap_or_default()).to_lowercase();
    let (kind, sub) = essence.split_once('/')?;
    (!kind.is_empty() && !sub.is_empty()).then_some(essence)
}
