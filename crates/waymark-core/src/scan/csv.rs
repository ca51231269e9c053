//! CSV- and TSV-structured logs: a header names the columns a rule can target.

use std::borrow::Cow;

/// The layout of a delimited log, from its header line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvLayout {
    pub delimiter: u8,
    pub columns: Vec<String>,
}

impl CsvLayout {
    /// Reads `first_line` as a header. `hint` is the delimiter the file name suggests
    /// (`.csv`, `.tsv`); without one, a tab-separated header is recognised. A header has at
    /// least three fields, each a short name (a letter, then letters, digits, spaces or
    /// `_.-/()#`), so that an ordinary first log line is not taken for one.
    pub fn detect(first_line: &[u8], hint: Option<u8>) -> Option<CsvLayout> {
        let line = first_line.strip_prefix(b"\xef\xbb\xbf").unwrap_or(first_line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let delimiter = hint.unwrap_or(b'\t');
        // Three fields need two delimiters: most first lines of logs are ruled out here,
        // before a CSV reader is built (a few microseconds per file, in every scan).
        memchr::memchr_iter(delimiter, line).nth(1)?;
        let fields = split_fields(line, delimiter);
        if fields.len() < 3 || !fields.iter().all(|f| is_name(f)) {
            return None;
        }
        let columns = fields.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect();
        Some(CsvLayout { delimiter, columns })
    }

    /// The index of a column, by name (ASCII case ignored).
    pub fn index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.eq_ignore_ascii_case(name))
    }
}

fn is_name(field: &[u8]) -> bool {
    let ok = |b: &u8| b.is_ascii_alphanumeric() || b" _.-/()#".contains(b);
    field.len() <= 40
        && field.first().is_some_and(u8::is_ascii_alphabetic)
        && !field.ends_with(b" ")
        && field.iter().all(ok)
}

/// Splits one line into fields, by the `csv` crate's reader: a field in double quotes may
/// hold the delimiter, and `""` inside it is one quote. A line the reader cannot read (it
/// never fails on bytes, but to be sure) is one field.
pub fn split_fields(line: &[u8], delimiter: u8) -> Vec<Cow<'_, [u8]>> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(line);
    let mut record = csv::ByteRecord::new();
    match reader.read_byte_record(&mut record) {
        Ok(true) => record.iter().map(|f| Cow::Owned(f.to_vec())).collect(),
        _ => vec![Cow::Borrowed(line)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_and_fields() {
        let tsv = CsvLayout::detect(b"Severity\tTimestamp\tNode\tMessage\r", None).unwrap();
        assert_eq!(tsv.index("severity"), Some(0));
        assert_eq!(CsvLayout::detect(b"2025-01-01 10:00:00 INFO started", None), None);
        assert_eq!(CsvLayout::detect(b"a,b", Some(b',')), None);
        assert_eq!(CsvLayout::detect(b"\"a,b,c\",d", Some(b',')), None);
        assert_eq!(CsvLayout::detect(b"a,b,c", Some(b',')).map(|l| l.columns.len()), Some(3));
        let f = split_fields(b"x,\"a,\"\"b\"\"\",,z", b',');
        let f: Vec<&[u8]> = f.iter().map(|c| c.as_ref()).collect();
        assert_eq!(f, [&b"x"[..], b"a,\"b\"", b"", b"z"]);
    }
}
