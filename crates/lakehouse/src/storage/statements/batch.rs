//! Batches of whole entities: the unit the sorted merge hands on and every scan reads.

use std::ops::Range;

use deltalake::arrow::array::{RecordBatch, UInt32Array};
use deltalake::arrow::compute::take_record_batch;
use ftm::Statement;

use super::columns::{ColumnRow, Columns};
use crate::error::Result;
use crate::storage::rows::from_batch;

/// Live statements of consecutive entities in entity-id order, as columns. Each entity's rows
/// are a contiguous run, in merged order, of one of the batches the entities lie in: a batch
/// read from a merged file (its rows need no copy) or the rows the merge gathered.
#[derive(Debug, Clone)]
pub struct EntityBatch {
    /// Batches of [`row_schema`](super::columns::row_schema), with their views.
    pub(super) parts: Vec<(RecordBatch, Columns)>,
    /// Each entity the stream's filter selects, in order: its part and its rows there.
    pub(super) entities: Vec<(usize, Range<usize>)>,
}

/// The rows of one entity of an [`EntityBatch`].
#[derive(Debug, Clone)]
pub struct EntityRows<'a> {
    /// The columns of the batch the entity's rows lie in.
    pub columns: &'a Columns,
    /// The rows, in `columns`.
    pub range: Range<usize>,
}

impl<'a> EntityRows<'a> {
    /// The rows, borrowed.
    pub fn rows(&self) -> impl Iterator<Item = ColumnRow<'a>> + use<'a> {
        let columns = self.columns;
        self.range.clone().map(move |row| ColumnRow { columns, slot: 0, row })
    }

    /// Rows of the entity.
    pub fn len(&self) -> usize {
        self.range.len()
    }

    /// Whether the entity has no rows (an entity of an [`EntityBatch`] always has some).
    pub fn is_empty(&self) -> bool {
        self.range.is_empty()
    }
}

impl EntityBatch {
    /// The entities, in order.
    pub fn entities(&self) -> impl Iterator<Item = EntityRows<'_>> {
        self.entities.iter().map(|(part, range)| EntityRows { columns: &self.parts[*part].1, range: range.clone() })
    }

    /// Per part, the rows of its entities, in entity order: the part itself when they are all
    /// of its rows, else a copy of those rows. Parts without entities give empty batches.
    ///
    /// # Errors
    /// [`Error::Arrow`](crate::error::Error::Arrow) if a copy fails.
    pub(super) fn selected(&self) -> Result<Vec<RecordBatch>> {
        let mut out = Vec::with_capacity(self.parts.len());
        for (index, (batch, _)) in self.parts.iter().enumerate() {
            let rows: Vec<u32> = self
                .entities
                .iter()
                .filter(|(part, _)| *part == index)
                .flat_map(|(_, range)| range.clone().map(|row| row as u32))
                .collect();
            let whole = rows.len() == batch.num_rows() && rows.windows(2).all(|w| w[0] < w[1]);
            out.push(if whole { batch.clone() } else { take_record_batch(batch, &UInt32Array::from(rows))? });
        }
        Ok(out)
    }

    /// The rows of each entity as statements (only the entities' rows are converted).
    ///
    /// # Errors
    /// [`Error::Corrupt`](crate::error::Error::Corrupt) if a batch does not read as statements.
    pub fn statements(&self) -> Result<Vec<Vec<Statement>>> {
        let mut parts = Vec::with_capacity(self.parts.len());
        for batch in self.selected()? {
            parts.push(from_batch(&batch)?.into_iter());
        }
        Ok(self.entities.iter().map(|(part, range)| parts[*part].by_ref().take(range.len()).collect()).collect())
    }

    /// Keeps the entities whose rows satisfy `keep`.
    pub(super) fn retain(&mut self, mut keep: impl FnMut(&[ColumnRow]) -> bool) {
        let parts = &self.parts;
        self.entities.retain(|(part, range)| {
            let columns = &parts[*part].1;
            keep(&range.clone().map(|row| ColumnRow { columns, slot: 0, row }).collect::<Vec<_>>())
        });
    }
}
