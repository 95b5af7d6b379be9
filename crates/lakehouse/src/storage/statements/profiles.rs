//! Parquet writer profiles of the statement table's data files: appended files and merged
//! files, per bucket (the reference's SMALL and LARGE profiles, spec `storage-format.md` §2.7).

use deltalake::parquet::basic::{Compression, Encoding, ZstdLevel};
use deltalake::parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use deltalake::parquet::schema::types::ColumnPath;

/// Columns written without a dictionary. Those whose values are (nearly) all distinct (`id`,
/// `entity_id`, `value`, `original_value`): a dictionary would only fill up and fall back to
/// plain encoding after costing a hash insert per value (DuckDB, the reference's merge writer,
/// likewise picks dictionaries per column). And those that hold a handful of values nobody
/// filters on (`dataset`, `source`, `prop_type`, `lang`, `fragment`, `role`): zstd packs their
/// repeats about as well, and the dictionary's hash insert per value costs a merge more time
/// than the slightly smaller files are worth. The same holds for the timestamps (`first_seen`,
/// `last_seen`, `deleted_at`). `schema` and `prop`, which reads filter on, keep theirs.
const PLAIN_COLUMNS: [&str; 13] = [
    "id",
    "entity_id",
    "value",
    "original_value",
    "dataset",
    "source",
    "prop_type",
    "lang",
    "fragment",
    "role",
    "first_seen",
    "last_seen",
    "deleted_at",
];

/// Data page size of appended files outside the full-text buckets, bytes (the reference: 2 MiB).
/// A merge reads all of a partition's appended files side by side, holding one decompressed
/// page of each column of each file: small pages keep that low when an import left many files,
/// and each page is decoded while it is still in the core's cache. The files grow a little, and
/// live only until the merge.
const APPENDED_PAGE_BYTES: usize = 64 << 10;

/// Parquet writer settings for appends to a bucket: row groups of 1,000,000 rows for `thing`,
/// `interval` and `mention`, 10,000 for the full-text buckets `document` and `page` (the
/// reference's SMALL and LARGE profiles, spec §2.7).
///
/// Appended files live only until the next merge, so they carry no bloom filters; see
/// [`merge_writer_properties`] for what else differs from the reference's profiles.
pub fn writer_properties(large: bool) -> WriterProperties {
    profile(large, if large { 10_000 } else { 1_000_000 }, false)
}

/// Parquet writer settings for merged files, which stay: the bucket's profile with
/// the row groups the reference's merge writes (100,000 rows; 10,000 for `document` and `page`)
/// and bloom filters (fpp 0.01) on `prop`, `fragment` and, outside the full-text buckets, `value`.
///
/// Five choices differ from the reference's profiles (spec §2.7), all invisible to readers:
/// - data pages of format 2 (`DataPageV2`, file format 2.6), with the encodings of format 1
///   (`PLAIN` where no dictionary is kept): parquet-rs compresses a version 2 page's values
///   straight from the encoder's buffer, where a version 1 page is first copied whole, and
///   its compression buffer grown once more; the files keep their size. DuckDB (the
///   reference's reader), delta-rs and pyarrow read them;
/// - zstd level 1 instead of 3: files about the same size, for less encoding time;
/// - no dictionary for [`PLAIN_COLUMNS`]: less time, about the same size;
/// - `id` in `DELTA_LENGTH_BYTE_ARRAY` encoding (lengths first, then the values' bytes) instead
///   of `PLAIN`: less work for zstd, and smaller files;
/// - statistics only where rows are clustered, so that they can prune: page-level on
///   `entity_id` (the sort key; a column index for point lookups), chunk-level on `first_seen`
///   and `last_seen`. Min/max on the other columns, whose values mix in every row group, cost
///   encoding time and skip nothing.
pub fn merge_writer_properties(large: bool) -> WriterProperties {
    profile(large, if large { 10_000 } else { 100_000 }, true)
}

fn profile(large: bool, row_group_rows: usize, bloom: bool) -> WriterProperties {
    let mut builder = WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_2_0)
        .set_encoding(Encoding::PLAIN)
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).expect("zstd level 1")))
        .set_data_page_size_limit(match (large, bloom) {
            (true, _) => 16 << 20,
            (false, true) => 2 << 20,
            (false, false) => APPENDED_PAGE_BYTES,
        })
        .set_dictionary_page_size_limit(1 << 20)
        .set_max_row_group_row_count(Some(row_group_rows))
        .set_statistics_enabled(EnabledStatistics::None)
        .set_column_statistics_enabled(ColumnPath::from("entity_id"), EnabledStatistics::Page);
    for name in ["first_seen", "last_seen"] {
        builder = builder.set_column_statistics_enabled(ColumnPath::from(name), EnabledStatistics::Chunk);
    }
    for name in PLAIN_COLUMNS {
        builder = builder.set_column_dictionary_enabled(ColumnPath::from(name), false);
    }
    // The lengths of `id`'s values apart from its bytes: zstd then sees SHA-1 hex alone, which
    // it packs faster and a little smaller than with a length before every id.
    builder = builder.set_column_encoding(ColumnPath::from("id"), Encoding::DELTA_LENGTH_BYTE_ARRAY);
    let bloom_columns: &[&str] = match (bloom, large) {
        (false, _) => &[],
        (true, false) => &["prop", "fragment", "value"],
        (true, true) => &["prop", "fragment"],
    };
    for &name in bloom_columns {
        // Sized for a row group's rows, not parquet-rs's default of 2^20 distinct values: a
        // filter being filled takes 128 KiB instead of 2 MiB, and is folded down to the same
        // false-positive rate, and the same size, when its row group closes.
        builder = builder
            .set_column_bloom_filter_enabled(ColumnPath::from(name), true)
            .set_column_bloom_filter_fpp(ColumnPath::from(name), 0.01)
            .set_column_bloom_filter_max_ndv(ColumnPath::from(name), row_group_rows as u64);
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_profiles() {
        let column = |name: &str| ColumnPath::from(name);
        let merged = merge_writer_properties(false);
        assert_eq!(merged.max_row_group_row_count(), Some(100_000));
        assert_eq!(merged.compression(&column("id")), Compression::ZSTD(ZstdLevel::try_new(1).unwrap()));
        assert!(!merged.dictionary_enabled(&column("id")) && !merged.dictionary_enabled(&column("value")));
        assert_eq!(merged.encoding(&column("id")), Some(Encoding::DELTA_LENGTH_BYTE_ARRAY));
        assert_eq!(merged.writer_version(), WriterVersion::PARQUET_2_0);
        assert_eq!(merged.encoding(&column("value")), Some(Encoding::PLAIN), "not the 2.0 default");
        assert_eq!(merged.encoding(&column("last_seen")), Some(Encoding::PLAIN));
        assert!(!merged.dictionary_enabled(&column("dataset")) && !merged.dictionary_enabled(&column("fragment")));
        assert!(merged.dictionary_enabled(&column("prop")) && merged.dictionary_enabled(&column("schema")));
        let bloom = merged.bloom_filter_properties(&column("value")).expect("bloom filter on value");
        assert_eq!((bloom.fpp(), bloom.ndv()), (0.01, 100_000), "sized for a row group");
        assert_eq!(merged.statistics_enabled(&column("entity_id")), EnabledStatistics::Page);
        assert_eq!(merged.statistics_enabled(&column("last_seen")), EnabledStatistics::Chunk);
        assert_eq!(merged.statistics_enabled(&column("value")), EnabledStatistics::None);
        let merged_text = merge_writer_properties(true);
        assert_eq!(merged_text.max_row_group_row_count(), Some(10_000));
        assert!(merged_text.bloom_filter_properties(&column("prop")).is_some());
        assert!(merged_text.bloom_filter_properties(&column("value")).is_none());
        let appended = writer_properties(false);
        assert_eq!(appended.max_row_group_row_count(), Some(1_000_000));
        assert!(appended.bloom_filter_properties(&column("prop")).is_none());
        assert_eq!(appended.data_page_size_limit(), APPENDED_PAGE_BYTES);
        assert_eq!(merge_writer_properties(false).data_page_size_limit(), 2 << 20, "the reference's SMALL pages");
        assert_eq!(writer_properties(true).data_page_size_limit(), 16 << 20, "the reference's LARGE pages");
        assert!(!appended.dictionary_enabled(&column("entity_id")));
    }
}
