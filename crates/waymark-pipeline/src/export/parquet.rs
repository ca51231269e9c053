//! The Parquet writer (feature `parquet`): typed columns through arrow-rs — integers as INT64,
//! reals as DOUBLE, times as TIMESTAMP(MICROS, UTC), the JSON arrays as LIST<STRING> — one
//! row group per page of rows, Snappy-compressed.

use std::io::Write;
use std::sync::Arc;

use arrow_array::builder::{
    Float64Builder, Int64Builder, ListBuilder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use waymark_store::{Column, ColumnType, ExportRow, Value};

use super::RowWriter;

/// The arrow type of a column.
fn data_type(ty: ColumnType) -> DataType {
    match ty {
        ColumnType::Int => DataType::Int64,
        ColumnType::Float => DataType::Float64,
        ColumnType::Text => DataType::Utf8,
        ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        ColumnType::TextList => DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
    }
}

/// The arrow schema of a table.
pub fn schema(columns: &[Column]) -> SchemaRef {
    Arc::new(Schema::new(
        columns.iter().map(|c| Field::new(c.name, data_type(c.ty), c.nullable)).collect::<Vec<_>>(),
    ))
}

pub(crate) struct ParquetWriter<W: Write + Send> {
    writer: ArrowWriter<W>,
    schema: SchemaRef,
    columns: Vec<Column>,
}

impl<W: Write + Send> ParquetWriter<W> {
    pub(crate) fn new(out: W, columns: &[Column]) -> anyhow::Result<ParquetWriter<W>> {
        let schema = schema(columns);
        let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
        let writer = ArrowWriter::try_new(out, schema.clone(), Some(props))?;
        Ok(ParquetWriter { writer, schema, columns: columns.to_vec() })
    }
}

/// One column of a page as an arrow array. A value of another type than the column's is a bug
/// of the store; it is written as NULL (and refused by a non-nullable field).
fn array(ty: ColumnType, rows: &[ExportRow], i: usize) -> ArrayRef {
    let values = rows.iter().map(|r| r.values.get(i).unwrap_or(&Value::Null));
    match ty {
        ColumnType::Int => {
            let mut b = Int64Builder::with_capacity(rows.len());
            values
                .for_each(|v| b.append_option(if let Value::Int(x) = v { Some(*x) } else { None }));
            Arc::new(b.finish())
        }
        ColumnType::Float => {
            let mut b = Float64Builder::with_capacity(rows.len());
            values.for_each(|v| {
                b.append_option(if let Value::Float(x) = v { Some(*x) } else { None })
            });
            Arc::new(b.finish())
        }
        ColumnType::Text => {
            let mut b = StringBuilder::new();
            values.for_each(|v| {
                b.append_option(if let Value::Text(x) = v { Some(x.as_str()) } else { None })
            });
            Arc::new(b.finish())
        }
        ColumnType::Timestamp => {
            let mut b = TimestampMicrosecondBuilder::with_capacity(rows.len()).with_timezone("UTC");
            values.for_each(|v| {
                b.append_option(if let Value::Timestamp(x) = v { Some(*x) } else { None })
            });
            Arc::new(b.finish())
        }
        ColumnType::TextList => {
            let mut b = ListBuilder::new(StringBuilder::new());
            values.for_each(|v| match v {
                Value::TextList(items) => {
                    items.iter().for_each(|s| b.values().append_value(s));
                    b.append(true);
                }
                _ => b.append(false),
            });
            Arc::new(b.finish())
        }
    }
}

impl<W: Write + Send> RowWriter for ParquetWriter<W> {
    fn write(&mut self, rows: &[ExportRow]) -> anyhow::Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let arrays = self.columns.iter().enumerate().map(|(i, c)| array(c.ty, rows, i)).collect();
        let batch = RecordBatch::try_new(self.schema.clone(), arrays)?;
        self.writer.write(&batch)?;
        Ok(())
    }

    fn finish(self: Box<Self>) -> anyhow::Result<()> {
        let mut out = self.writer.into_inner()?;
        out.flush()?;
        Ok(())
    }
}
