//! Phone numbers in E.164 (`+49301234567`).

/// A phone number in E.164: an optional `tel:` prefix, a leading `+`, then 8 to 15 digits with
/// spaces, dots, dashes, slashes and brackets between them. followthemoney also reads national
/// numbers in the entity's countries and checks numbering plans (libphonenumber); this does
/// not (README, differences).
pub(super) fn phone(text: &str) -> Option<String> {
    let text = text.trim();
    let text = text.strip_prefix("tel:").unwrap_or(text);
    let rest = text.strip_prefix('+')?;
    if !rest.chars().all(|c| c.is_ascii_digit() || " .-()/".contains(c)) {
        return None;
    }
    let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
    (8..=15).contains(&digits.len()).then(|| format!("+{digits}"))
}
