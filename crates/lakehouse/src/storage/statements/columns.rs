//! Statement rows read back from data files or table queries, kept as Arrow columns (spec
//! `storage-format.md` §2.1).
//!
//! Reads normalize every batch to one [`row_schema`]: the 16 data-file columns, cast to the
//! file types, followed by the `bucket` and `origin` partition values of each row. Merges and
//! scans then compare, sort and dedupe rows through [`Columns`] without building a
//! [`Statement`](ftm::Statement) per row, and gather the survivors with Arrow kernels.

use std::sync::{Arc, LazyLock};

use deltalake::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, RecordBatch, StringArray, TimestampMicrosecondArray, new_null_array,
};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Field, Schema as ArrowSchema, SchemaRef, TimestampMicrosecondType};

use crate::error::{Error, Result};
use crate::storage::rows::RowRef;
use crate::storage::table_schema::file_schema;

/// Index of the `bucket` column in [`row_schema`]; the 16 file columns come first.
const BUCKET: usize = 16;
/// Index of the `origin` column in [`row_schema`].
const ORIGIN: usize = 17;

/// The 18-column schema of rows read back: [`file_schema`] then `bucket` and `origin`.
pub fn row_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        let mut fields: Vec<Field> = file_schema().fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.push(Field::new("bucket", DataType::Utf8, false));
        fields.push(Field::new("origin", DataType::Utf8, false));
        Arc::new(ArrowSchema::new(fields))
    });
    SCHEMA.clone()
}

/// The data-file columns of a [`row_schema`] batch: the batch without `bucket` and `origin`.
///
/// # Errors
/// [`Error::Arrow`] for a batch of another schema.
pub fn file_columns(batch: &RecordBatch) -> Result<RecordBatch> {
    Ok(batch.project(&(0..BUCKET).collect::<Vec<_>>())?)
}

/// Normalizes a batch of table columns (a data file's, or a query's with the partition columns)
/// to [`row_schema`], taking columns by name:
/// - columns are cast to the file types (other string encodings, timestamp units or zones);
/// - a missing nullable column reads as nulls, a missing `dataset` or `fragment` as `""`, a
///   missing `external` as false, and null fragments as `""` (files the reference wrote before
///   these columns existed);
/// - `bucket` and `origin` come from the batch's own columns or else from `partition`.
///
/// # Errors
/// [`Error::Corrupt`] naming the column for a missing required column (`id`, `entity_id`,
/// `schema`, `prop`, `value`, `first_seen`, `last_seen`), a type that does not cast, or nulls in a
/// required column.
pub fn normalize(batch: &RecordBatch, partition: Option<(&str, &str)>) -> Result<RecordBatch> {
    let rows = batch.num_rows();
    let schema = row_schema();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for (i, field) in schema.fields().iter().enumerate() {
        let name = field.name().as_str();
        let column = match batch.column_by_name(name) {
            Some(column) if column.data_type() == field.data_type() => column.clone(),
            Some(column) => {
                cast(column, field.data_type()).map_err(|e| Error::Corrupt(format!("column `{name}`: {e}")))?
            }
            None => {
                let value = match i {
                    BUCKET => partition.map(|(bucket, _)| bucket),
                    ORIGIN => partition.map(|(_, origin)| origin),
                    _ => None,
                };
                match (name, value) {
                    (_, Some(value)) => Arc::new(StringArray::from(vec![value; rows])) as ArrayRef,
                    ("dataset" | "fragment", None) => Arc::new(StringArray::from(vec![""; rows])),
                    ("external", None) => Arc::new(BooleanArray::from(vec![false; rows])),
                    _ if field.is_nullable() => new_null_array(field.data_type(), rows),
                    _ => return Err(Error::Corrupt(format!("column `{name}` is missing"))),
                }
            }
        };
        let column = if name == "fragment" && column.null_count() > 0 {
            let fragment = column.as_string::<i32>();
            Arc::new(fragment.iter().map(|f| Some(f.unwrap_or(""))).collect::<StringArray>())
        } else {
            column
        };
        if !field.is_nullable() && column.null_count() > 0 {
            return Err(Error::Corrupt(format!("column `{name}` holds nulls")));
        }
        columns.push(column);
    }
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// Typed views of the columns of a [`row_schema`] batch.
#[derive(Debug, Clone)]
pub struct Columns {
    pub id: StringArray,
    pub entity_id: StringArray,
    pub dataset: StringArray,
    pub source: StringArray,
    pub schema: StringArray,
    pub prop: StringArray,
    pub prop_type: StringArray,
    pub value: StringArray,
    pub original_value: StringArray,
    pub lang: StringArray,
    pub external: BooleanArray,
    /// UTC microseconds.
    pub first_seen: TimestampMicrosecondArray,
    pub last_seen: TimestampMicrosecondArray,
    pub fragment: StringArray,
    pub role: StringArray,
    pub deleted_at: TimestampMicrosecondArray,
    pub bucket: StringArray,
    pub origin: StringArray,
}

impl Columns {
    /// The views of `batch`, which must have [`row_schema`] (as [`normalize`] makes it).
    pub fn new(batch: &RecordBatch) -> Columns {
        let column = |name: &str| batch.column_by_name(name).expect("a row-schema batch");
        let string = |name: &str| column(name).as_string::<i32>().clone();
        let time = |name: &str| column(name).as_primitive::<TimestampMicrosecondType>().clone();
        Columns {
            id: string("id"),
            entity_id: string("entity_id"),
            dataset: string("dataset"),
            source: string("source"),
            schema: string("schema"),
            prop: string("prop"),
            prop_type: string("prop_type"),
            value: string("value"),
            original_value: string("original_value"),
            lang: string("lang"),
            external: column("external").as_boolean().clone(),
            first_seen: time("first_seen"),
            last_seen: time("last_seen"),
            fragment: string("fragment"),
            role: string("role"),
            deleted_at: time("deleted_at"),
            bucket: string("bucket"),
            origin: string("origin"),
        }
    }
}

/// One row of a [`Columns`], with the slot its batch has in the reader that holds it.
#[derive(Debug, Clone, Copy)]
pub struct ColumnRow<'a> {
    pub columns: &'a Columns,
    pub slot: usize,
    pub row: usize,
}

impl<'a> ColumnRow<'a> {
    pub fn id(&self) -> &'a str {
        self.columns.id.value(self.row)
    }

    pub fn prop(&self) -> &'a str {
        self.columns.prop.value(self.row)
    }

    pub fn fragment(&self) -> &'a str {
        self.columns.fragment.value(self.row)
    }

    /// `None` for a null role.
    pub fn role(&self) -> Option<&'a str> {
        self.columns.role.is_valid(self.row).then(|| self.columns.role.value(self.row))
    }

    pub fn bucket(&self) -> &'a str {
        self.columns.bucket.value(self.row)
    }

    pub fn origin(&self) -> &'a str {
        self.columns.origin.value(self.row)
    }

    /// UTC microseconds.
    pub fn first_seen(&self) -> i64 {
        self.columns.first_seen.value(self.row)
    }

    /// UTC microseconds.
    pub fn last_seen(&self) -> i64 {
        self.columns.last_seen.value(self.row)
    }

    /// UTC microseconds; `None` for a live row.
    pub fn deleted_at(&self) -> Option<i64> {
        self.columns.deleted_at.is_valid(self.row).then(|| self.columns.deleted_at.value(self.row))
    }

    /// Every field of the row, borrowed. Inlined: a caller that reads a few fields (the
    /// statements.csv writer) then loads only those.
    #[inline]
    pub fn fields(&self) -> RowRef<'a> {
        let (c, i) = (self.columns, self.row);
        let text = |column: &'a StringArray| column.is_valid(i).then(|| column.value(i));
        let time = |column: &TimestampMicrosecondArray| column.is_valid(i).then(|| column.value(i));
        RowRef {
            id: c.id.value(i),
            entity_id: c.entity_id.value(i),
            dataset: c.dataset.value(i),
            schema: c.schema.value(i),
            prop: c.prop.value(i),
            prop_type: text(&c.prop_type).unwrap_or_default(),
            value: c.value.value(i),
            original_value: text(&c.original_value),
            lang: text(&c.lang),
            external: c.external.value(i),
            first_seen: time(&c.first_seen),
            last_seen: time(&c.last_seen),
            origin: Some(c.origin.value(i)),
            fragment: c.fragment.value(i),
            role: text(&c.role),
            deleted_at: time(&c.deleted_at),
            source: text(&c.source),
        }
    }
}

/// A row read back has no `canonical_id`: it is the entity id.
impl<'a> ftm::StatementFields<'a> for ColumnRow<'a> {
    fn entity_id(&self) -> &'a str {
        self.columns.entity_id.value(self.row)
    }

    fn canonical_id(&self) -> &'a str {
        self.columns.entity_id.value(self.row)
    }

    fn schema(&self) -> &'a str {
        self.columns.schema.value(self.row)
    }

    fn prop(&self) -> &'a str {
        ColumnRow::prop(self)
    }

    fn value(&self) -> &'a str {
        self.columns.value.value(self.row)
    }

    fn dataset(&self) -> &'a str {
        self.columns.dataset.value(self.row)
    }

    fn origin(&self) -> Option<&'a str> {
        Some(ColumnRow::origin(self))
    }

    fn role(&self) -> Option<&'a str> {
        ColumnRow::role(self)
    }

    fn first_seen(&self) -> Option<i64> {
        Some(ColumnRow::first_seen(self))
    }

    fn last_seen(&self) -> Option<i64> {
        Some(ColumnRow::last_seen(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::rows::to_file_batch;
    use ftm::Statement;
    use ftm::time::parse_iso;

    fn batch() -> RecordBatch {
        let mut s = Statement::new("ds", "e1", "Person", "name", "name", "A");
        s.first_seen = parse_iso("2024-01-01");
        s.last_seen = parse_iso("2024-01-02");
        to_file_batch(&[s]).unwrap()
    }

    #[test]
    fn partition_values_fill_bucket_and_origin() {
        let rows = normalize(&batch(), Some(("thing", "bulk"))).unwrap();
        let columns = Columns::new(&rows);
        let row = ColumnRow { columns: &columns, slot: 0, row: 0 };
        assert_eq!((row.bucket(), row.origin(), row.role(), row.deleted_at()), ("thing", "bulk", None, None));
        assert_eq!(row.last_seen(), parse_iso("2024-01-02").unwrap().timestamp_micros());
        assert_eq!(file_columns(&rows).unwrap(), batch());
        assert!(matches!(normalize(&batch(), None), Err(Error::Corrupt(m)) if m.contains("bucket")));
    }

    #[test]
    fn old_files_read_with_defaults() {
        let full = batch();
        let keep: Vec<usize> = ["id", "entity_id", "schema", "prop", "value", "first_seen", "last_seen"]
            .iter()
            .map(|name| full.schema().index_of(name).unwrap())
            .collect();
        let rows = normalize(&full.project(&keep).unwrap(), Some(("thing", "bulk"))).unwrap();
        let columns = Columns::new(&rows);
        assert_eq!((columns.fragment.value(0), columns.role.is_null(0)), ("", true));
        assert_eq!(rows.column_by_name("dataset").unwrap().as_string::<i32>().value(0), "");
        let no_value: Vec<usize> = keep.into_iter().filter(|&i| full.schema().field(i).name() != "value").collect();
        let err = normalize(&full.project(&no_value).unwrap(), Some(("thing", "bulk"))).unwrap_err();
        assert!(matches!(err, Error::Corrupt(m) if m == "column `value` is missing"));
    }
}
