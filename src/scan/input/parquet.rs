//! Parquet files as Arrow record batches: only the article columns are decoded, row
//! groups in parallel, into [`Columns`] kept in memory for the scan's passes.

use bytes::Bytes;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ParquetRecordBatchReaderBuilder};
use rayon::prelude::*;

use super::Fields;
use super::arrow::{Columns, Plan};

/// Rows per decoded batch.
const BATCH_ROWS: usize = 8192;

/// A Parquet file's article columns, batch by batch, in row order.
#[derive(Debug)]
pub struct Table {
    batches: Vec<Columns>,
    /// First row of each batch.
    starts: Vec<usize>,
    rows: usize,
    /// Optional fields (date, source) without a column, for a warning.
    pub missing: Vec<String>,
}

impl Table {
    /// Decodes the columns of `fields` from the Parquet file in `bytes`.
    pub fn read(bytes: Bytes, fields: &Fields) -> Result<Table, String> {
        let metadata = ArrowReaderMetadata::load(&bytes, Default::default())
            .map_err(|e| format!("unreadable Parquet metadata: {e}"))?;
        let plan = Plan::new(metadata.schema(), fields)?;
        let projection = ProjectionMask::roots(metadata.parquet_schema(), plan.columns());
        let groups = metadata.metadata().num_row_groups();
        let decoded: Vec<Vec<Columns>> = (0..groups)
            .into_par_iter()
            .map(|group| -> Result<Vec<Columns>, String> {
                let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(
                    bytes.clone(),
                    metadata.clone(),
                )
                .with_projection(projection.clone())
                .with_row_groups(vec![group])
                .with_batch_size(BATCH_ROWS)
                .build()
                .map_err(|e| format!("row group {group}: {e}"))?;
                reader
                    .map(|batch| {
                        let batch = batch.map_err(|e| format!("row group {group}: {e}"))?;
                        // The projected batch has its own column order: plan it again.
                        Columns::new(&batch, fields)
                    })
                    .collect()
            })
            .collect::<Result<_, _>>()?;
        let batches: Vec<Columns> = decoded.into_iter().flatten().collect();
        Ok(Table::of(batches, plan.missing))
    }

    /// The article columns of record batches already in memory (from another Arrow
    /// producer: a Python table, a Spark partition), in order, without copying them.
    pub fn from_batches(
        batches: &[arrow_array::RecordBatch],
        schema: &arrow_schema::Schema,
        fields: &Fields,
    ) -> Result<Table, String> {
        let plan = Plan::new(schema, fields)?;
        let batches: Vec<Columns> =
            batches.iter().map(|batch| Columns::with_plan(batch, &plan)).collect();
        Ok(Table::of(batches, plan.missing))
    }

    fn of(batches: Vec<Columns>, missing: Vec<String>) -> Table {
        let mut starts = Vec::with_capacity(batches.len());
        let mut rows = 0;
        for batch in &batches {
            starts.push(rows);
            rows += batch.len();
        }
        Table { batches, starts, rows, missing }
    }

    /// Rows in the file.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// True when the file has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The batches, in row order.
    pub fn batches(&self) -> &[Columns] {
        &self.batches
    }

    /// The batch holding 0-based row `row` and the row's index in it.
    pub fn locate(&self, row: usize) -> Option<(&Columns, usize)> {
        if row >= self.rows {
            return None;
        }
        let batch = self.starts.partition_point(|&start| start <= row) - 1;
        Some((&self.batches[batch], row - self.starts[batch]))
    }
}
