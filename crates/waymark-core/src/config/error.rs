//! Configuration errors: each names its file, path and line, and all are reported at once.

use std::fmt;

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file it is in (`<built-in>` for the defaults).
    pub file: String,
    /// The path of the value, like `system[2].pattern`; empty for a syntax error.
    pub path: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found in a configuration; never empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    pub fn one(e: ConfigError) -> ConfigErrors {
        ConfigErrors(vec![e])
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(f, "{n} configuration error{}", if n == 1 { "" } else { "s" })?;
        for e in &self.0 {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

/// Collects errors while validating, with the file and text to turn spans into lines.
pub(crate) struct Collector<'a> {
    pub(crate) file: &'a str,
    pub(crate) text: &'a str,
    pub(crate) errors: Vec<ConfigError>,
}

impl<'a> Collector<'a> {
    pub(crate) fn new(file: &'a str, text: &'a str) -> Collector<'a> {
        Collector { file, text, errors: Vec::new() }
    }

    /// Records an error at `path`; `span` is the value's byte range when it has one.
    pub(crate) fn push(
        &mut self,
        path: impl Into<String>,
        span: Option<std::ops::Range<usize>>,
        message: impl Into<String>,
    ) {
        // A span of 0..0 marks a default value that has no place in the file.
        let line = span.filter(|s| s.end > 0).map(|s| super::line_of(self.text, s.start));
        self.errors.push(ConfigError {
            file: self.file.to_owned(),
            path: path.into(),
            line,
            message: message.into(),
        });
    }

    pub(crate) fn finish<T>(self, value: T) -> Result<T, ConfigErrors> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(ConfigErrors(self.errors))
        }
    }
}
