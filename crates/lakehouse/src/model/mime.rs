//! MIME types of archived files: normalisation, guessing from a file name, and the FtM document
//! schema a type implies (spec `archive-and-crawl.md` §1.6, §1.8).
//!
//! No content sniffing: like the reference, the type comes from the source's metadata or the
//! file name. The reference guesses with Python's `mimetypes` plus the host's `/etc/mime.types`,
//! so its answers vary by host; this module pins the reference host's observed answers for the
//! extensions the spec lists and asks `mime_guess` for the rest.

/// The type of a file whose type is unknown.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// Aliases folded onto one canonical name (rigour's `normalize_mimetype` table).
const ALIASES: [(&str, &str); 5] = [
    ("application/x-pdf", "application/pdf"),
    ("image/jpg", "image/jpeg"),
    ("application/msword", "application/vnd.ms-word"),
    ("application/rtf", "text/rtf"),
    ("text/xml", "application/xml"),
];

/// Extensions whose type the reference host answers differently from `mime_guess` (spec §1.6
/// table). An empty type means "unknown" there.
const REFERENCE_TYPES: [(&str, &str); 9] = [
    ("msg", ""),
    ("pst", ""),
    ("md", "text/markdown"),
    ("tsv", "text/tab-separated-values"),
    ("psd", "image/vnd.adobe.photoshop"),
    ("djvu", "image/vnd.djvu"),
    ("7z", "application/x-7z-compressed"),
    ("tgz", "application/x-tar"),
    ("eml", "message/rfc822"),
];

/// Compression suffixes Python's `mimetypes` reads as an encoding, not a type (`x.tar.gz` is a
/// tar archive, `x.gz` is unknown).
const ENCODINGS: [&str; 5] = ["gz", "bz2", "xz", "br", "Z"];

/// Lower-cased, without parameters, aliases folded (`TEXT/PLAIN; charset=utf-8` → `text/plain`).
/// `None` for an empty or malformed value and for the octet-stream types that mean "unknown".
pub fn normalize_mimetype(value: &str) -> Option<String> {
    let base = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let (kind, sub) = base.split_once('/')?;
    let token =
        |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic() && !b"/()<>@,;:\\\"[]?={}".contains(&b));
    if !token(kind) || !token(sub) || base == OCTET_STREAM || base == "binary/octet-stream" {
        return None;
    }
    Some(ALIASES.iter().find(|(alias, _)| *alias == base).map_or(base.clone(), |(_, canonical)| canonical.to_string()))
}

/// The type guessed from a file name, normalised; [`OCTET_STREAM`] when unknown.
pub fn guess_mimetype(name: &str) -> String {
    let mut name = name;
    if let Some((stem, ext)) = name.rsplit_once('.')
        && ENCODINGS.contains(&ext)
    {
        name = stem;
    }
    let Some((_, ext)) = name.rsplit_once('.') else {
        return OCTET_STREAM.to_string();
    };
    let guessed = match REFERENCE_TYPES.iter().find(|(e, _)| e.eq_ignore_ascii_case(ext)) {
        Some((_, mime)) => mime.to_string(),
        None => mime_guess::from_ext(ext).first().map(|m| m.essence_str().to_string()).unwrap_or_default(),
    };
    normalize_mimetype(&guessed).unwrap_or_else(|| OCTET_STREAM.to_string())
}

/// The document schema of a normalised type (spec §1.8 table); `Document` for the rest.
pub fn document_schema(mimetype: &str) -> &'static str {
    match mimetype {
        "application/pdf"
        | "application/vnd.openxmlformats-officedocument.wordprocessing"
        | "application/vnd.ms-word" => "Pages",
        "text/html" | "application/xml" => "HyperText",
        "text/csv"
        | "application/vnd.ms-excel"
        | "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => "Table",
        "image/png" | "image/gif" | "image/jpeg" | "image/tiff" | "image/x.djvu" | "image/vnd.adobe.photoshop" => {
            "Image"
        }
        "application/vnd.ms-outlook" | "application/xml+opfmessage" | "message/rfc822" => "Email",
        "text/plain" | "text/rtf" => "PlainText",
        _ => "Document",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference host's answers (spec §1.6 table).
    #[test]
    fn guesses_match_the_reference_host() {
        let table = [
            ("a.pdf", "application/pdf", "Pages"),
            ("a.doc", "application/vnd.ms-word", "Pages"),
            ("a.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "Document"),
            ("a.txt", "text/plain", "PlainText"),
            ("a.rtf", "text/rtf", "PlainText"),
            ("a.md", "text/markdown", "Document"),
            ("a.csv", "text/csv", "Table"),
            ("a.tsv", "text/tab-separated-values", "Document"),
            ("a.xls", "application/vnd.ms-excel", "Table"),
            ("a.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "Table"),
            ("a.html", "text/html", "HyperText"),
            ("a.htm", "text/html", "HyperText"),
            ("a.xml", "application/xml", "HyperText"),
            ("a.xhtml", "application/xhtml+xml", "Document"),
            ("a.json", "application/json", "Document"),
            ("a.png", "image/png", "Image"),
            ("a.jpg", "image/jpeg", "Image"),
            ("a.tif", "image/tiff", "Image"),
            ("a.psd", "image/vnd.adobe.photoshop", "Image"),
            ("a.djvu", "image/vnd.djvu", "Document"),
            ("a.svg", "image/svg+xml", "Document"),
            ("a.eml", "message/rfc822", "Email"),
            ("a.msg", OCTET_STREAM, "Document"),
            ("a.gz", OCTET_STREAM, "Document"),
            ("README", OCTET_STREAM, "Document"),
            ("a.zip", "application/zip", "Document"),
            ("a.7z", "application/x-7z-compressed", "Document"),
            ("a.tar.gz", "application/x-tar", "Document"),
        ];
        for (name, mime, schema) in table {
            assert_eq!(guess_mimetype(name), mime, "{name}");
            assert_eq!(document_schema(&guess_mimetype(name)), schema, "{name}");
        }
    }

    #[test]
    fn normalises() {
        assert_eq!(normalize_mimetype("TEXT/PLAIN; charset=utf-8").as_deref(), Some("text/plain"));
        assert_eq!(normalize_mimetype("application/x-pdf").as_deref(), Some("application/pdf"));
        assert_eq!(normalize_mimetype("binary/octet-stream"), None);
        assert_eq!(normalize_mimetype("nonsense"), None);
        assert_eq!(normalize_mimetype(""), None);
    }
}
