//! CSV and JSON lines writers: the text formats. Times are RFC 3339 UTC text, lists are JSON
//! arrays (a JSON value in JSON lines, its text in a CSV cell), and NULL is an empty cell or
//! `null`.

use std::io::Write;

use waymark_core::normalize::format_utc;
use waymark_store::{Column, ExportRow, Value};

use super::RowWriter;

/// CSV with a header row (RFC 4180 quoting by the `csv` crate).
pub(crate) struct CsvWriter<W: Write> {
    out: csv::Writer<W>,
}

impl<W: Write> CsvWriter<W> {
    pub(crate) fn new(out: W, columns: &[Column]) -> anyhow::Result<CsvWriter<W>> {
        let mut out = csv::Writer::from_writer(out);
        out.write_record(columns.iter().map(|c| c.name)).map_err(io_error)?;
        Ok(CsvWriter { out })
    }
}

/// A CSV error as an io::Error of the same kind, so a closed pipe is recognised as one (exit 0).
fn io_error(e: csv::Error) -> std::io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => io,
        other => std::io::Error::other(format!("{other:?}")),
    }
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Text(t) => t.clone(),
        Value::Timestamp(t) => format_utc(*t),
        Value::TextList(l) => serde_json::to_string(l).unwrap_or_default(),
    }
}

impl<W: Write> RowWriter for CsvWriter<W> {
    fn write(&mut self, rows: &[ExportRow]) -> anyhow::Result<()> {
        for r in rows {
            self.out.write_record(r.values.iter().map(cell)).map_err(io_error)?;
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> anyhow::Result<()> {
        let mut out = self.out.into_inner().map_err(|e| e.into_error())?;
        out.flush()?;
        Ok(())
    }
}

/// One JSON object per line, the columns as keys in table order.
pub(crate) struct JsonlWriter<W: Write> {
    out: W,
    names: Vec<&'static str>,
}

impl<W: Write> JsonlWriter<W> {
    pub(crate) fn new(out: W, columns: &[Column]) -> JsonlWriter<W> {
        JsonlWriter { out, names: columns.iter().map(|c| c.name).collect() }
    }
}

fn json(v: &Value) -> serde_json::Value {
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Int(i) => (*i).into(),
        Value::Float(f) => {
            serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into)
        }
        Value::Text(t) => t.as_str().into(),
        Value::Timestamp(t) => format_utc(*t).into(),
        Value::TextList(l) => l.iter().map(|s| serde_json::Value::from(s.as_str())).collect(),
    }
}

impl<W: Write> RowWriter for JsonlWriter<W> {
    fn write(&mut self, rows: &[ExportRow]) -> anyhow::Result<()> {
        // Written key by key: the columns keep the table's order (a JSON map would sort them).
        // A line is built in memory and written whole, so a closed pipe is an io::Error.
        let mut line = Vec::new();
        for r in rows {
            line.clear();
            line.push(b'{');
            for (i, (name, v)) in self.names.iter().zip(&r.values).enumerate() {
                if i > 0 {
                    line.push(b',');
                }
                serde_json::to_writer(&mut line, name)?;
                line.push(b':');
                serde_json::to_writer(&mut line, &json(v))?;
            }
            line.extend_from_slice(b"}\n");
            self.out.write_all(&line)?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> anyhow::Result<()> {
        self.out.flush()?;
        Ok(())
    }
}
