//! Text and id rules shared by entities and statements: Python whitespace stripping,
//! `sanitize_text`, the entity id rule and namespace stripping.
//!
//! Sources: spec `ftm-model.md` §2.2 (sanitising), §3.3 (namespaces) and §6 pitfall 8 (Python's
//! whitespace set also holds U+001C–U+001F, which Rust's `trim` keeps).

use unicode_normalization::UnicodeNormalization;

/// Whether Python's `str.isspace()` is true for `c`.
pub fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.strip()`.
pub fn python_strip(text: &str) -> &str {
    text.trim_matches(is_python_space)
}

/// Characters `sanitize_text` deletes (spec §2.2 step 3).
fn is_deleted(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{8}' | '\u{b}'..='\u{c}' | '\u{e}'..='\u{1f}' | '\u{7f}' | '\u{80}'..='\u{9f}'
        | '\u{ad}' | '\u{61c}' | '\u{200b}'..='\u{200f}' | '\u{2060}'..='\u{2064}' | '\u{feff}')
}

/// Characters `sanitize_text` replaces by a plain space (spec §2.2 step 3).
fn is_spaced(c: char) -> bool {
    matches!(
        c,
        '\u{2000}'
            ..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{a00}' | '\u{1680}' | '\u{202f}' | '\u{205f}' | '\u{3000}'
    )
}

/// FtM's `sanitize_text`: Unicode NFC, delete or space out unsafe characters, strip Python
/// whitespace. `None` when nothing is left. TAB, LF, CR and NBSP survive inside the text.
pub fn sanitize_text(text: &str) -> Option<String> {
    let cleaned: String = text.nfc().filter(|c| !is_deleted(*c)).map(|c| if is_spaced(c) { ' ' } else { c }).collect();
    let stripped = python_strip(&cleaned);
    (!stripped.is_empty()).then(|| stripped.to_string())
}

/// The entity id rule: one ASCII alphanumeric, optionally followed by ASCII alphanumerics, `.`
/// and `-`, ending in an ASCII alphanumeric (`^[0-9a-zA-Z]([0-9a-zA-Z\.\-]*[0-9a-zA-Z])?$`).
pub fn is_entity_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'.' || *b == b'-')
        }
        _ => false,
    }
}

/// An entity reference cleaned as FtM's entity type does: Python-stripped, then checked
/// against [`is_entity_id`]; `None` if it fails.
pub fn clean_entity_id(id: &str) -> Option<&str> {
    let id = python_strip(id);
    is_entity_id(id).then_some(id)
}

/// Applies the empty namespace the lakehouse uses on every imported entity (spec §3.3,
/// `storage-format.md` §3.2): clean the id as an entity reference, then drop everything from
/// its last `.` on (`p1.sig` → `p1`, `d.e.f` → `d.e`). `None` when the id fails the rule.
pub fn strip_namespace(id: &str) -> Option<&str> {
    let id = clean_entity_id(id)?;
    Some(id.rsplit_once('.').map_or(id, |(plain, _)| plain))
}

/// Signs an id in the namespace `name` as followthemoney's `Namespace.sign` does: `id.` and
/// the hex HMAC-SHA1 of the id keyed with the name (`ftm map-csv -d NAME`). An id already
/// carrying a namespace is signed on its plain part.
pub fn sign(name: &str, id: &str) -> String {
    use hmac::{Hmac, Mac};
    let plain = id.rsplit_once('.').map_or(id, |(plain, _)| plain);
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(name.as_bytes()).expect("HMAC takes any key length");
    mac.update(plain.as_bytes());
    format!("{plain}.{}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_whitespace() {
        assert_eq!(python_strip("\u{1c} a b\u{a0}\u{3000}"), "a b");
        assert_eq!(python_strip("\u{200b}x"), "\u{200b}x");
    }

    #[test]
    fn sanitize() {
        assert_eq!(sanitize_text("  hello  world  ").as_deref(), Some("hello  world"));
        assert_eq!(sanitize_text("a\r\nb").as_deref(), Some("a\r\nb"));
        assert_eq!(sanitize_text("a\u{7}b").as_deref(), Some("ab"));
        assert_eq!(sanitize_text("A\u{200b}B").as_deref(), Some("AB"));
        assert_eq!(sanitize_text("a\u{2003}b").as_deref(), Some("a b"));
        assert_eq!(sanitize_text("e\u{301}").as_deref(), Some("\u{e9}"));
        // NFC happens before the removal, so the result can be non-NFC (pitfall 8).
        assert_eq!(sanitize_text("e\u{200b}\u{301}").as_deref(), Some("e\u{301}"));
        assert_eq!(sanitize_text(" \u{feff} "), None);
    }

    #[test]
    fn entity_ids() {
        for ok in ["a", "abc-123.def", "0", "A.b.C"] {
            assert!(is_entity_id(ok), "{ok}");
        }
        for bad in ["", "a_b", "-abc", "abc.", "a b", "ä", ".a"] {
            assert!(!is_entity_id(bad), "{bad}");
        }
        assert_eq!(clean_entity_id(" e2 "), Some("e2"));
    }

    #[test]
    fn signing() {
        // `ftm map-csv -d test_dataset` of the shared companies.csv, first row.
        let signed = sign("test_dataset", "e40aae1f2591f0e7e63c37ce234b6fca0d355e87");
        assert_eq!(signed, "e40aae1f2591f0e7e63c37ce234b6fca0d355e87.b921f605a7c72735d6258f179942ef91c3fcd761");
        assert_eq!(sign("test_dataset", &signed), signed);
    }

    #[test]
    fn namespace_stripping() {
        assert_eq!(strip_namespace("p1.sig"), Some("p1"));
        assert_eq!(strip_namespace(" e2.sig "), Some("e2"));
        assert_eq!(strip_namespace("d.e.f"), Some("d.e"));
        assert_eq!(strip_namespace("abc"), Some("abc"));
        assert_eq!(strip_namespace("a_b.sig"), None);
        assert_eq!(strip_namespace("abc."), None);
    }
}
