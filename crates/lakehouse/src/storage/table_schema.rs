//! The statement table's Arrow schema (spec `storage-format.md` §2.1, §2.2): 19 columns, of
//! which data files hold the 16 that are not partition columns. Strings are `Utf8`, `external`
//! is `Boolean`, timestamps are `Timestamp(Microsecond, "UTC")`.

use std::sync::{Arc, LazyLock};

use deltalake::arrow::datatypes::{DataType, Field, Schema as ArrowSchema, SchemaRef, TimeUnit};

/// Partition columns, in nesting order.
pub const PARTITION_COLUMNS: [&str; 3] = ["shard", "bucket", "origin"];

#[derive(Clone, Copy)]
enum Kind {
    Utf8,
    Bool,
    Time,
}

/// `(name, kind, nullable)` of every table column, in table order.
const COLUMNS: [(&str, Kind, bool); 19] = [
    ("shard", Kind::Utf8, false),
    ("id", Kind::Utf8, false),
    ("entity_id", Kind::Utf8, false),
    ("dataset", Kind::Utf8, false),
    ("bucket", Kind::Utf8, false),
    ("origin", Kind::Utf8, false),
    ("source", Kind::Utf8, true),
    ("schema", Kind::Utf8, false),
    ("prop", Kind::Utf8, false),
    ("prop_type", Kind::Utf8, true),
    ("value", Kind::Utf8, false),
    ("original_value", Kind::Utf8, true),
    ("lang", Kind::Utf8, true),
    ("external", Kind::Bool, false),
    ("first_seen", Kind::Time, false),
    ("last_seen", Kind::Time, false),
    ("fragment", Kind::Utf8, false),
    ("role", Kind::Utf8, true),
    ("deleted_at", Kind::Time, true),
];

fn field((name, kind, nullable): (&str, Kind, bool)) -> Field {
    let data_type = match kind {
        Kind::Utf8 => DataType::Utf8,
        Kind::Bool => DataType::Boolean,
        Kind::Time => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
    };
    Field::new(name, data_type, nullable)
}

/// The 19-column table schema, partition columns included.
pub fn table_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> =
        LazyLock::new(|| Arc::new(ArrowSchema::new(COLUMNS.into_iter().map(field).collect::<Vec<_>>())));
    SCHEMA.clone()
}

/// The 16-column schema of data files: the table schema without the partition columns.
pub fn file_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        let table = table_schema();
        let fields: Vec<Field> = table
            .fields()
            .iter()
            .filter(|f| !PARTITION_COLUMNS.contains(&f.name().as_str()))
            .map(|f| f.as_ref().clone())
            .collect();
        Arc::new(ArrowSchema::new(fields))
    });
    SCHEMA.clone()
}
