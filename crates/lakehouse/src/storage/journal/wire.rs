//! The journal's wire format: statement rows as one Arrow IPC *stream* (spec `interfaces.md`
//! §3.3), the body of `POST /{dataset}/_api/journal/bulk`.
//!
//! Columns are the journal's (see [`SCHEMA`]), by name: `utf8` text, `bool` `external`,
//! `timestamp[us, tz=UTC]` times, `fragment` an empty string for none, `deleted_at` set on
//! tombstones; no `shard`. [`encode`] compresses the record-batch buffers with zstd, as the
//! reference's client does; [`decode`] reads compressed or plain streams, selects the columns by
//! name (extra ones are ignored) and casts them to these types.

use std::io::Cursor;
use std::sync::{Arc, LazyLock};

use deltalake::arrow::array::{
    Array, ArrayRef, BooleanArray, BooleanBuilder, RecordBatch, StringArray, StringBuilder, TimestampMicrosecondArray,
    TimestampMicrosecondBuilder,
};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use deltalake::arrow::ipc::reader::StreamReader;
use deltalake::arrow::ipc::writer::{IpcWriteOptions, StreamWriter};
use deltalake::arrow::ipc::{self, CompressionType};
use ftm::Statement;
use ftm::time::Timestamp;

use super::{COLUMNS, Kind};
use crate::error::{Error, Result};

/// The timestamp type of the wire's time columns.
fn time_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The Arrow schema of the wire format, in journal column order.
pub static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let fields: Vec<Field> = COLUMNS
        .iter()
        .map(|(name, kind, nullable)| {
            let data_type = match kind {
                Kind::Text => DataType::Utf8,
                Kind::Bool => DataType::Boolean,
                Kind::Time => time_type(),
            };
            Field::new(*name, data_type, *nullable)
        })
        .collect();
    Arc::new(Schema::new(fields))
});

/// A body that cannot be read as journal rows; the message says what is wrong, in the
/// reference's words where it has them.
fn invalid(message: impl Into<String>) -> Error {
    Error::InvalidInput(message.into())
}

/// `statements` (packed: origin and both timestamps set) as one zstd-compressed Arrow IPC
/// stream of one record batch; `bucket` is derived from the schema.
///
/// # Errors
/// [`Error::Ftm`] for an unknown schema; [`Error::Arrow`].
pub fn encode(statements: &[Statement]) -> Result<Vec<u8>> {
    let buckets = super::buckets(statements)?;
    let n = statements.len();
    let mut text: Vec<StringBuilder> = (0..15).map(|_| StringBuilder::with_capacity(n, n * 16)).collect();
    let mut external = BooleanBuilder::with_capacity(n);
    let mut times: Vec<TimestampMicrosecondBuilder> =
        (0..3).map(|_| TimestampMicrosecondBuilder::with_capacity(n)).collect();
    for (s, bucket) in statements.iter().zip(&buckets) {
        let mut t = 0;
        let mut m = 0;
        for cell in super::cells(s, bucket) {
            match cell {
                super::Cell::Text(v) => {
                    text[t].append_option(v);
                    t += 1;
                }
                super::Cell::Bool(b) => external.append_value(b),
                super::Cell::Time(v) => {
                    times[m].append_option(v.map(|v| v.timestamp_micros()));
                    m += 1;
                }
            }
        }
    }
    let (mut text, mut times) = (text.into_iter(), times.into_iter());
    let columns: Vec<ArrayRef> = COLUMNS
        .iter()
        .map(|(_, kind, _)| -> ArrayRef {
            match kind {
                Kind::Text => Arc::new(text.next().expect("15 text columns").finish()),
                Kind::Bool => Arc::new(external.finish()),
                Kind::Time => Arc::new(times.next().expect("3 time columns").finish().with_timezone("UTC")),
            }
        })
        .collect();
    let batch = RecordBatch::try_new(SCHEMA.clone(), columns)?;
    let options = IpcWriteOptions::default().try_with_compression(Some(CompressionType::ZSTD))?;
    let mut out = Vec::new();
    let mut writer = StreamWriter::try_new_with_options(&mut out, &SCHEMA, options)?;
    writer.write(&batch)?;
    writer.finish()?;
    drop(writer);
    Ok(out)
}

/// The column `name` of `batch`, cast to `data_type`.
fn column(batch: &RecordBatch, name: &str, data_type: &DataType) -> Result<ArrayRef> {
    let array = batch
        .column_by_name(name)
        .ok_or_else(|| invalid(format!("Missing statement column: 'Field \"{name}\" does not exist in schema'")))?;
    cast(array, data_type).map_err(|e| invalid(format!("Statement column {name}: {e}")))
}

/// The statement rows of an Arrow IPC stream (see the module docs). An empty body holds none.
///
/// # Errors
/// [`Error::InvalidInput`] for a body that is not an Arrow IPC stream (the Arrow message), a
/// missing column, a column that does not cast, or a null in a column that takes none.
pub fn decode(body: &[u8]) -> Result<Vec<Statement>> {
    // The Arrow IPC reader trusts a message's buffer offsets and panics on some corrupt ones
    // (slicing past the body, found by `tests/fuzz.rs`). A body comes from a client, so such a
    // panic is a bad body, answered as one; nothing was stored by then.
    std::panic::catch_unwind(|| decode_stream(body))
        .unwrap_or_else(|_| Err(invalid("Arrow IPC stream is corrupt: a buffer lies outside the message")))
}

/// Largest uncompressed size one compressed buffer of a body may declare, bytes.
const MAX_BUFFER_BYTES: u64 = 1 << 30;

/// Largest uncompressed size the buffers of one message may declare together, bytes.
const MAX_MESSAGE_BYTES: u64 = 2 << 30;

/// Checks the framing of an IPC stream before the Arrow reader sees it: every message's
/// metadata and body lie inside `body`, every buffer inside its message's body, and no
/// compressed buffer declares more than [`MAX_BUFFER_BYTES`] (nor a message more than
/// [`MAX_MESSAGE_BYTES`]). The reader allocates what a message declares before it checks it,
/// so a crafted body could otherwise make the process abort on a failed allocation.
fn check_framing(body: &[u8]) -> Result<()> {
    let corrupt = |what: &str| invalid(format!("Arrow IPC stream is corrupt: {what}"));
    let word = |at: usize| -> Option<u32> { Some(u32::from_le_bytes(body.get(at..at + 4)?.try_into().ok()?)) };
    let mut at = 0;
    while at < body.len() {
        let first = word(at).ok_or_else(|| corrupt("a message header is cut off"))?;
        let (length, header) = match first {
            0xFFFF_FFFF => (word(at + 4).ok_or_else(|| corrupt("a message header is cut off"))?, 8),
            legacy => (legacy, 4),
        };
        if length == 0 {
            return Ok(()); // The end-of-stream marker.
        }
        let start = at + header;
        let metadata =
            body.get(start..start + length as usize).ok_or_else(|| corrupt("a message overruns the body"))?;
        let message = ipc::root_as_message(metadata).map_err(|e| corrupt(&format!("bad message metadata ({e})")))?;
        let body_start = start + length as usize;
        let body_length = usize::try_from(message.bodyLength()).map_err(|_| corrupt("a negative body length"))?;
        let message_body = body
            .get(body_start..body_start.saturating_add(body_length))
            .ok_or_else(|| corrupt("a message body overruns the stream"))?;
        let batch = message.header_as_record_batch().or_else(|| message.header_as_dictionary_batch()?.data());
        if let Some(batch) = batch {
            let compressed = batch.compression().is_some();
            let mut declared = 0u64;
            for buffer in batch.buffers().iter().flatten() {
                let (offset, length) = (usize::try_from(buffer.offset()), usize::try_from(buffer.length()));
                let (Ok(offset), Ok(length)) = (offset, length) else {
                    return Err(corrupt("a negative buffer offset"));
                };
                let data = message_body
                    .get(offset..offset.saturating_add(length))
                    .ok_or_else(|| corrupt("a buffer lies outside its message"))?;
                if compressed && let Some(prefix) = data.get(..8) {
                    let size = i64::from_le_bytes(prefix.try_into().expect("8 bytes"));
                    let size = u64::try_from(size).unwrap_or(0); // -1: stored uncompressed.
                    declared = declared.saturating_add(size);
                    if size > MAX_BUFFER_BYTES || declared > MAX_MESSAGE_BYTES {
                        return Err(corrupt("a buffer declares more than 1 GiB uncompressed"));
                    }
                }
            }
        }
        at = body_start + body_length;
    }
    Ok(())
}

fn decode_stream(body: &[u8]) -> Result<Vec<Statement>> {
    if body.is_empty() {
        return Ok(Vec::new());
    }
    check_framing(body)?;
    let reader = StreamReader::try_new(Cursor::new(body), None).map_err(|e| invalid(e.to_string()))?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| invalid(e.to_string()))?;
        decode_batch(&batch, &mut out)?;
    }
    Ok(out)
}

fn decode_batch(batch: &RecordBatch, out: &mut Vec<Statement>) -> Result<()> {
    let mut text: Vec<(&str, bool, ArrayRef)> = Vec::with_capacity(15);
    let mut times: Vec<(&str, bool, ArrayRef)> = Vec::with_capacity(3);
    let mut external = None;
    for (name, kind, nullable) in COLUMNS {
        match kind {
            Kind::Text => text.push((name, nullable, column(batch, name, &DataType::Utf8)?)),
            Kind::Bool => external = Some(column(batch, name, &DataType::Boolean)?),
            Kind::Time => times.push((name, nullable, column(batch, name, &time_type())?)),
        }
    }
    for (name, nullable, array) in text.iter().chain(&times) {
        if !nullable && array.null_count() > 0 {
            return Err(invalid(format!("Statement column {name} holds nulls")));
        }
    }
    let external = external.expect("external column");
    let external = external.as_any().downcast_ref::<BooleanArray>().expect("cast to bool");
    if external.null_count() > 0 {
        return Err(invalid("Statement column external holds nulls"));
    }
    let text: Vec<&StringArray> =
        text.iter().map(|(_, _, a)| a.as_any().downcast_ref::<StringArray>().expect("cast to utf8")).collect();
    let times: Vec<&TimestampMicrosecondArray> = times
        .iter()
        .map(|(_, _, a)| a.as_any().downcast_ref::<TimestampMicrosecondArray>().expect("cast to timestamp"))
        .collect();
    let get = |column: usize, row: usize| (!text[column].is_null(row)).then(|| text[column].value(row).to_string());
    let time = |column: usize, row: usize| -> Option<Timestamp> {
        (!times[column].is_null(row)).then(|| Timestamp::from_timestamp_micros(times[column].value(row))).flatten()
    };
    out.reserve(batch.num_rows());
    for row in 0..batch.num_rows() {
        // Text columns in journal order: id, entity_id, dataset, bucket, origin, source, schema,
        // prop, prop_type, value, original_value, lang, fragment, role.
        let entity_id = get(1, row).unwrap_or_default();
        out.push(Statement {
            id: get(0, row).unwrap_or_default(),
            canonical_id: entity_id.clone(),
            entity_id,
            dataset: get(2, row).unwrap_or_default(),
            origin: get(4, row),
            source: get(5, row),
            schema: get(6, row).unwrap_or_default(),
            prop: get(7, row).unwrap_or_default(),
            prop_type: get(8, row).unwrap_or_default(),
            value: get(9, row).unwrap_or_default(),
            original_value: get(10, row),
            lang: get(11, row),
            external: external.value(row),
            first_seen: time(0, row),
            last_seen: time(1, row),
            fragment: get(12, row).unwrap_or_default(),
            role: get(13, row),
            deleted_at: time(2, row),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement(value: &str) -> Statement {
        let now = Timestamp::from_timestamp_micros(1_764_000_000_123_456);
        let mut s = Statement {
            id: String::new(),
            entity_id: "e1".into(),
            canonical_id: "e1".into(),
            prop: "name".into(),
            prop_type: "name".into(),
            schema: "Person".into(),
            value: value.into(),
            dataset: "ds".into(),
            lang: Some("de".into()),
            original_value: None,
            external: false,
            first_seen: now,
            last_seen: now,
            origin: Some("bulk".into()),
            fragment: String::new(),
            role: None,
            deleted_at: None,
            source: None,
        };
        s.rekey();
        s
    }

    #[test]
    fn round_trip_compressed() {
        let rows = vec![statement("Anna"), Statement { deleted_at: Some(chrono::Utc::now()), ..statement("Bo") }];
        let body = encode(&rows).unwrap();
        let back = decode(&body).unwrap();
        let mut want = rows.clone();
        want[1].deleted_at =
            want[1].deleted_at.map(|t| Timestamp::from_timestamp_micros(t.timestamp_micros()).unwrap());
        assert_eq!(back, want);
        assert!(decode(b"").unwrap().is_empty());
    }

    #[test]
    fn bad_bodies_say_why() {
        let err = decode(b"not arrow at all").unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{err}");
        // A stream without the fragment column.
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Utf8, false)]));
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(StringArray::from(vec!["x"]))]).unwrap();
        let mut body = Vec::new();
        let mut writer = StreamWriter::try_new(&mut body, &schema).unwrap();
        writer.write(&batch).unwrap();
        writer.finish().unwrap();
        drop(writer);
        let err = decode(&body).unwrap_err().to_string();
        assert!(err.contains("Missing statement column: 'Field \"entity_id\" does not exist in schema'"), "{err}");
    }
}
