//! The partition of a statement row: `(shard, bucket, origin)`.
//!
//! * bucket — from the statement's schema, first match wins: `is_a(Page)` → `page`,
//!   `is_a(Mention)` → `mention`, `is_a(Document)` → `document`, `is_a(Interval)` →
//!   `interval`, else `thing` (spec `storage-format.md` §2.4). `document` and `page` hold full
//!   text and use the large parquet writer profile (§2.7).
//! * shard — from the entity id and the dataset's configured shard count (§2.3).

use std::fmt;

use ftm::Schema;
use sha1::{Digest, Sha1};

/// The schema family a statement is stored under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Bucket {
    /// `page`: the `Page` schema, one page of a document's text; a full-text bucket.
    Page,
    /// `mention`: the `Mention` schema.
    Mention,
    /// `document`: `Document` and its descendants (`Email`, `Folder`, `Pages`, …); a full-text
    /// bucket.
    Document,
    /// `interval`: `Interval` and its descendants, the relationships and events (`Ownership`,
    /// `Payment`, `Sanction`, …).
    Interval,
    /// `thing`: every other schema (`Person`, `Company`, `Address`, …).
    Thing,
}

impl Bucket {
    /// Every bucket, in the order the rule tests them.
    pub const ALL: [Bucket; 5] = [Bucket::Page, Bucket::Mention, Bucket::Document, Bucket::Interval, Bucket::Thing];

    /// The bucket of `schema`.
    pub fn of(schema: &Schema) -> Bucket {
        if schema.is_a("Page") {
            Bucket::Page
        } else if schema.is_a("Mention") {
            Bucket::Mention
        } else if schema.is_a("Document") {
            Bucket::Document
        } else if schema.is_a("Interval") {
            Bucket::Interval
        } else {
            Bucket::Thing
        }
    }

    /// The partition value: `page`, `mention`, `document`, `interval` or `thing`.
    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Page => "page",
            Bucket::Mention => "mention",
            Bucket::Document => "document",
            Bucket::Interval => "interval",
            Bucket::Thing => "thing",
        }
    }

    /// Whether the bucket holds full text (`document`, `page`): large writer profile.
    pub fn is_large(self) -> bool {
        matches!(self, Bucket::Document | Bucket::Page)
    }

    /// The bucket named `name`, if any.
    pub fn parse(name: &str) -> Option<Bucket> {
        Bucket::ALL.into_iter().find(|b| b.as_str() == name)
    }
}

impl fmt::Display for Bucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The shard of `entity_id` for a dataset with `shards` shards.
///
/// `shards <= 1` gives `"0"`. Otherwise the first 8 hex digits of SHA-1(entity id) as a `u32`,
/// modulo `shards`, in lowercase hex zero-padded to the digits needed for `shards - 1`
/// (`"abc"`: 8 → `6`, 17 → `0d`, 257 → `0e9`, 4097 → `054c`).
pub fn shard(entity_id: &str, shards: u32) -> String {
    if shards <= 1 {
        return "0".to_string();
    }
    let digest = Sha1::digest(entity_id.as_bytes());
    let h32 = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    let bits = u32::BITS - (shards - 1).leading_zeros();
    let width = bits.div_ceil(4).max(1) as usize;
    format!("{:0width$x}", h32 % shards)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ftm::model;

    #[test]
    fn shard_table() {
        let cases = [
            (0, "0"),
            (1, "0"),
            (2, "0"),
            (8, "6"),
            (16, "6"),
            (17, "0d"),
            (32, "16"),
            (256, "36"),
            (257, "0e9"),
            (4096, "e36"),
            (4097, "054c"),
        ];
        for (n, want) in cases {
            assert_eq!(shard("abc", n), want, "N={n}");
        }
    }

    #[test]
    fn bucket_table() {
        let expect = |bucket: Bucket, names: &str| {
            for name in names.split_whitespace() {
                assert_eq!(Bucket::of(model().schema(name).unwrap()), bucket, "{name}");
            }
        };
        expect(
            Bucket::Thing,
            "Address Airplane Analyzable Asset BankAccount Company Contract CourtCase CryptoWallet LegalEntity License Note Organization Person Position PublicBody RealEstate Security Similar Territory Thing UserAccount Value Vehicle Vessel",
        );
        expect(
            Bucket::Interval,
            "Associate Call CallForTenders ContractAward Control CourtCaseParty Debt Directorship Documentation EconomicActivity Employment Event Family Identification Interest Interval Membership Occupancy Ownership Passport Payment Project ProjectParticipant Representation Risk Sanction Succession TaxRoll Trip UnknownLink",
        );
        expect(
            Bucket::Document,
            "Article Audio Document Email Folder HyperText Image Message Package Pages PlainText Table Video Workbook",
        );
        expect(Bucket::Mention, "Mention");
        expect(Bucket::Page, "Page");
        assert_eq!(model().schemata().count(), 71);
        assert!(Bucket::Page.is_large() && !Bucket::Thing.is_large());
        assert_eq!(Bucket::parse("interval"), Some(Bucket::Interval));
    }
}
