//! Rows copied out of several batches into one, in runs: the survivors of a merge, which lie in
//! runs of consecutive rows of their source batch (appended files keep each entity's rows in
//! merged order, so an entity's survivors are mostly one run).
//!
//! Arrow's `interleave` copies one row at a time; a run is copied here at once: one copy of its
//! string bytes, its offsets shifted in one loop, so the cost goes with the runs rather than
//! the rows. Handles the column types of the row schema: strings, booleans and timestamps.

use std::sync::Arc;

use deltalake::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, BooleanBufferBuilder, PrimitiveArray, StringArray, new_null_array,
};
use deltalake::arrow::buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use deltalake::arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};

use crate::error::{Error, Result};

/// Rows to gather as runs `(slot, start, end)`: rows `start..end` of the batch in `slot`.
#[derive(Debug, Default)]
pub struct Runs {
    runs: Vec<(usize, usize, usize)>,
    rows: usize,
}

impl Runs {
    /// Appends row `row` of the batch in `slot`, extending the last run when it continues it.
    pub fn push(&mut self, slot: usize, row: usize) {
        match self.runs.last_mut() {
            Some((last, _, end)) if *last == slot && *end == row => *end += 1,
            _ => self.runs.push((slot, row, row + 1)),
        }
        self.rows += 1;
    }

    /// Rows pushed.
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    pub fn clear(&mut self) {
        self.runs.clear();
        self.rows = 0;
    }
}

/// The rows `runs` names of one column, given that column of each slot's batch (all of one
/// type): an array of [`Runs::len`] rows.
///
/// # Errors
/// [`Error::Corrupt`] for a column type other than strings, booleans and microsecond
/// timestamps, or more than 2 GiB of string bytes.
pub fn gather_column(arrays: &[&dyn Array], runs: &Runs) -> Result<ArrayRef> {
    let Some(first) = arrays.first() else {
        return Err(Error::Corrupt("nothing to gather from".into()));
    };
    let all_null = || arrays.iter().all(|a| a.null_count() == a.len());
    match first.data_type() {
        // Columns nobody filled (`role`, `lang`, `deleted_at` in most lakes): nothing to copy.
        DataType::Utf8 | DataType::Boolean | DataType::Timestamp(TimeUnit::Microsecond, _) if all_null() => {
            Ok(new_null_array(first.data_type(), runs.rows))
        }
        DataType::Utf8 => strings(arrays, runs, nulls(arrays, runs)),
        DataType::Boolean => {
            let mut values = BooleanBufferBuilder::new(runs.rows);
            for &(slot, start, end) in &runs.runs {
                let bits = arrays[slot].as_boolean().values();
                values.append_packed_range(bits.offset() + start..bits.offset() + end, bits.values());
            }
            Ok(Arc::new(BooleanArray::new(values.finish(), nulls(arrays, runs))))
        }
        DataType::Timestamp(TimeUnit::Microsecond, zone) => {
            let mut values: Vec<i64> = Vec::with_capacity(runs.rows);
            for &(slot, start, end) in &runs.runs {
                values.extend_from_slice(&arrays[slot].as_primitive::<TimestampMicrosecondType>().values()[start..end]);
            }
            let array =
                PrimitiveArray::<TimestampMicrosecondType>::new(ScalarBuffer::from(values), nulls(arrays, runs));
            Ok(Arc::new(array.with_timezone_opt(zone.clone())))
        }
        other => Err(Error::Corrupt(format!("cannot gather a column of type {other}"))),
    }
}

/// The validity of the gathered rows; `None` when no source has nulls.
fn nulls(arrays: &[&dyn Array], runs: &Runs) -> Option<NullBuffer> {
    if arrays.iter().all(|a| a.null_count() == 0) {
        return None;
    }
    let mut valid = BooleanBufferBuilder::new(runs.rows);
    for &(slot, start, end) in &runs.runs {
        match arrays[slot].nulls() {
            Some(nulls) => valid.append_packed_range(nulls.offset() + start..nulls.offset() + end, nulls.validity()),
            None => valid.append_n(end - start, true),
        }
    }
    Some(NullBuffer::new(valid.finish()))
}

fn strings(arrays: &[&dyn Array], runs: &Runs, nulls: Option<NullBuffer>) -> Result<ArrayRef> {
    let arrays: Vec<&StringArray> = arrays.iter().map(|a| a.as_string::<i32>()).collect();
    let bytes: usize = runs
        .runs
        .iter()
        .map(|&(slot, start, end)| {
            let offsets = arrays[slot].value_offsets();
            (offsets[end] - offsets[start]) as usize
        })
        .sum();
    if i32::try_from(bytes).is_err() {
        return Err(Error::Corrupt(format!("{bytes} bytes of strings in one batch")));
    }
    let mut values: Vec<u8> = Vec::with_capacity(bytes);
    let mut offsets: Vec<i32> = Vec::with_capacity(runs.rows + 1);
    offsets.push(0);
    for &(slot, start, end) in &runs.runs {
        let array = arrays[slot];
        let source = array.value_offsets();
        let (low, high) = (source[start], source[end]);
        // Fits: every end offset is at most `bytes`, checked above.
        let shift = values.len() as i32 - low;
        values.extend_from_slice(&array.value_data()[low as usize..high as usize]);
        offsets.extend(source[start + 1..=end].iter().map(|o| o + shift));
    }
    let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
    // SAFETY: every run copies whole values of a `StringArray`, which holds valid UTF-8 between
    // offsets on character boundaries; so `values` is a concatenation of valid UTF-8 strings,
    // each offset lies between two of them, the offsets rise from 0 to `values.len()`, and
    // `nulls` (if any) has one bit per row. `try_new` would check all of this again, scanning
    // every byte of every string a merge copies.
    Ok(Arc::new(unsafe { StringArray::new_unchecked(offsets, Buffer::from_vec(values), nulls) }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::TimestampMicrosecondArray;
    use deltalake::arrow::compute::interleave;

    /// The same rows as `interleave` takes, for every type, with and without nulls, from
    /// sliced arrays (offsets into their buffers).
    #[test]
    fn gathers_what_interleave_takes() {
        let a = StringArray::from(vec![Some("x"), None, Some("yy"), Some(""), Some("zzz")]);
        let b = StringArray::from(vec![Some("skip"), Some("b1"), Some("b2"), None]).slice(1, 3);
        let t = TimestampMicrosecondArray::from(vec![Some(1), Some(2), None, Some(4), Some(5)]).with_timezone("UTC");
        let u = TimestampMicrosecondArray::from(vec![7, 8, 9]).with_timezone("UTC");
        let f = BooleanArray::from(vec![true, false, true, true, false]);
        let g = BooleanArray::from(vec![Some(false), Some(true), None, Some(true)]).slice(1, 3);
        let rows = [(0, 1), (0, 2), (1, 0), (1, 1), (0, 4), (1, 2), (0, 0)];
        let mut runs = Runs::default();
        for (slot, row) in rows {
            runs.push(slot, row);
        }
        assert_eq!((runs.len(), runs.runs.len()), (7, 5));
        let none = StringArray::from(vec![None::<&str>; 5]);
        let nothing = StringArray::from(vec![None::<&str>; 4]).slice(1, 3);
        let never = TimestampMicrosecondArray::from(vec![None; 5]).with_timezone("UTC");
        let unset = TimestampMicrosecondArray::from(vec![None; 3]).with_timezone("UTC");
        for pair in [[&a as &dyn Array, &b], [&t, &u], [&f, &g], [&none, &nothing], [&never, &unset], [&a, &nothing]] {
            let gathered = gather_column(&pair, &runs).unwrap();
            assert_eq!(gathered.as_ref(), interleave(&pair, &rows).unwrap().as_ref());
        }
        let ints = deltalake::arrow::array::Int32Array::from(vec![1]);
        let err = gather_column(&[&ints], &runs).unwrap_err();
        assert!(matches!(&err, Error::Corrupt(m) if m == "cannot gather a column of type Int32"), "{err:?}");
    }
}
