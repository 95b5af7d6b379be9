//! The 20 FollowTheMoney property types (followthemoney 4.11.2 `registry`).
//!
//! Each type carries the metadata of spec `ftm-model.md` §2.1 (label, group, matchable, pivot,
//! max_length) and whether statements of that type keep a `lang` (§4.3). Values are never
//! cleaned here: the lakehouse stores pre-cleaned input verbatim (§2.2, "cleaned mode").

use std::fmt;
use std::str::FromStr;

use crate::error::FtmError;

/// A property type, e.g. `name`, `entity` or `date`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PropertyType {
    /// `address`: a postal address as one line of text.
    Address,
    /// `checksum`: a content hash in hex (`contentHash`).
    Checksum,
    /// `country`: an FtM country code (`de`, `gb-sct`, `zz`).
    Country,
    /// `date`: an ISO 8601 date or a prefix of one (`2024`, `2024-05`, `2024-05-01T10:00`).
    Date,
    /// `email`: an e-mail address.
    Email,
    /// `entity`: the id of another entity, of the property's `range` schema.
    Entity,
    /// `gender`: `male`, `female` or `other`.
    Gender,
    /// `html`: an HTML document or fragment.
    Html,
    /// `identifier`: a registration number, code or similar, with an optional `format`.
    Identifier,
    /// `ip`: an IPv4 or IPv6 address.
    Ip,
    /// `json`: nested data serialised as JSON text.
    Json,
    /// `language`: an ISO 639-3 language code.
    Language,
    /// `mimetype`: a MIME type (`text/plain`).
    Mimetype,
    /// `name`: a name of a person, company, vessel or other thing.
    Name,
    /// `number`: a number as text, possibly with a unit.
    Number,
    /// `phone`: a phone number (E.164 once cleaned).
    Phone,
    /// `string`: a short label (the type of a property whose YAML gives none).
    String,
    /// `text`: a long free text, such as a document's body.
    Text,
    /// `topic`: a topic code from FtM's list (`crime`, `role.pep`, …).
    Topic,
    /// `url`: a URL.
    Url,
}

/// Static facts of one type: `(name, label, group, matchable, pivot, max_length)`.
type TypeInfo = (&'static str, &'static str, Option<&'static str>, bool, bool, usize);

impl PropertyType {
    /// Every type, in name order.
    pub const ALL: [PropertyType; 20] = [
        Self::Address,
        Self::Checksum,
        Self::Country,
        Self::Date,
        Self::Email,
        Self::Entity,
        Self::Gender,
        Self::Html,
        Self::Identifier,
        Self::Ip,
        Self::Json,
        Self::Language,
        Self::Mimetype,
        Self::Name,
        Self::Number,
        Self::Phone,
        Self::String,
        Self::Text,
        Self::Topic,
        Self::Url,
    ];

    fn info(self) -> TypeInfo {
        match self {
            Self::Address => ("address", "Address", Some("addresses"), true, true, 250),
            Self::Checksum => ("checksum", "Checksum", Some("checksums"), true, true, 40),
            Self::Country => ("country", "Country", Some("countries"), true, false, 16),
            Self::Date => ("date", "Date", Some("dates"), true, false, 32),
            Self::Email => ("email", "E-Mail Address", Some("emails"), true, true, 250),
            Self::Entity => ("entity", "Entity", Some("entities"), true, true, 200),
            Self::Gender => ("gender", "Gender", Some("genders"), false, false, 16),
            Self::Html => ("html", "HTML", None, false, false, 65000),
            Self::Identifier => ("identifier", "Identifier", Some("identifiers"), true, true, 64),
            Self::Ip => ("ip", "IP Address", Some("ips"), true, true, 64),
            Self::Json => ("json", "Nested data", None, false, false, 250),
            Self::Language => ("language", "Language", Some("languages"), false, false, 16),
            Self::Mimetype => ("mimetype", "MIME-Type", Some("mimetypes"), false, false, 250),
            Self::Name => ("name", "Name", Some("names"), true, true, 384),
            Self::Number => ("number", "Number", None, false, false, 250),
            Self::Phone => ("phone", "Phone number", Some("phones"), true, true, 64),
            Self::String => ("string", "Label", None, false, false, 1024),
            Self::Text => ("text", "Text", None, false, false, 65000),
            Self::Topic => ("topic", "Topic", Some("topics"), false, false, 64),
            Self::Url => ("url", "URL", Some("urls"), true, true, 4096),
        }
    }

    /// The type name as written in schema YAML and in the `prop_type` column, e.g. `"name"`.
    pub fn name(self) -> &'static str {
        self.info().0
    }

    /// The English label, e.g. `"E-Mail Address"`.
    pub fn label(self) -> &'static str {
        self.info().1
    }

    /// The group name used for facets (`"names"`), or `None` for ungrouped types (string, text…).
    pub fn group(self) -> Option<&'static str> {
        self.info().2
    }

    /// Whether values of this type are used for matching (a property's default `matchable`).
    pub fn matchable(self) -> bool {
        self.info().3
    }

    /// Whether values of this type are pivots (useful to find related entities).
    pub fn pivot(self) -> bool {
        self.info().4
    }

    /// The nominal maximum value length in characters. Metadata only: never enforced on add.
    pub fn max_length(self) -> usize {
        self.info().5
    }

    /// Whether a statement of this type keeps its `lang`. Spec `ftm-model.md` §4.3: `lang` is
    /// forced to none for entity, date, checksum, email, phone, gender, mimetype, topic, url,
    /// country, language and ip; it survives for name, address, string, text, html,
    /// identifier, number and json.
    pub fn keeps_lang(self) -> bool {
        matches!(
            self,
            Self::Name
                | Self::Address
                | Self::String
                | Self::Text
                | Self::Html
                | Self::Identifier
                | Self::Number
                | Self::Json
        )
    }
}

impl FromStr for PropertyType {
    type Err = FtmError;

    fn from_str(name: &str) -> Result<Self, FtmError> {
        Self::ALL
            .into_iter()
            .find(|t| t.name() == name)
            .ok_or_else(|| FtmError::Model(format!("unknown property type `{name}`")))
    }
}

impl fmt::Display for PropertyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in PropertyType::ALL {
            assert_eq!(t.name().parse::<PropertyType>().unwrap(), t);
        }
        assert!(matches!("colour".parse::<PropertyType>(), Err(FtmError::Model(m)) if m.contains("`colour`")));
    }

    #[test]
    fn lang_rule() {
        let kept: Vec<_> = PropertyType::ALL.into_iter().filter(|t| t.keeps_lang()).collect();
        assert_eq!(kept.len(), 8);
        assert!(!PropertyType::Entity.keeps_lang());
        assert!(PropertyType::Name.keeps_lang());
    }
}
