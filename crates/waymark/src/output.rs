//! Output for people: aligned tables and numbers with thousands separators.

use std::io::{self, Write};

/// A plain text table, columns padded to their widest cell.
#[derive(Debug, Default)]
pub(crate) struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn new(header: &[&str]) -> Table {
        Table { header: header.iter().map(|s| s.to_string()).collect(), rows: Vec::new() }
    }

    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub(crate) fn print(&self, out: &mut impl Write) -> io::Result<()> {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(c.chars().count());
                }
            }
        }
        let line = |cells: &[String], out: &mut dyn Write| -> io::Result<()> {
            let mut text = String::new();
            for (i, c) in cells.iter().enumerate() {
                let width = widths.get(i).copied().unwrap_or(0);
                text.push_str(&format!("{c:<width$}  "));
            }
            // Empty last cells leave no trailing blanks.
            writeln!(out, "{}", text.trim_end())
        };
        line(&self.header, out)?;
        for r in &self.rows {
            line(r, out)?;
        }
        Ok(())
    }
}

/// A column of labelled counts, as the run summaries and `status` print them.
pub(crate) fn print_counts(out: &mut impl Write, rows: &[(&str, u64)]) -> io::Result<()> {
    for (label, n) in rows {
        writeln!(out, "  {label:<24}{:>12}", thousands(*n))?;
    }
    Ok(())
}

/// `1234567` → `1,234,567`.
pub(crate) fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Text from a log, made safe for one terminal line: control characters are escaped.
pub(crate) fn clean(s: &str) -> String {
    s.chars()
        .flat_map(|c| if c.is_control() { c.escape_default().collect() } else { vec![c] })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(clean("a\u{1b}[31mb\n"), "a\\u{1b}[31mb\\n");
        let mut t = Table::new(&["a", "bb"]);
        t.row(vec!["xxx".into(), "y".into()]);
        let mut out = Vec::new();
        t.print(&mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "a    bb\nxxx  y\n");
    }
}
