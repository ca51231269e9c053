//! Opaque cursors for keyset pagination: the sort key of the last row of a page, encoded so
//! that clients pass it back without reading it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// The sort key of the last row of a page: integers (a time, an id) and texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub ints: Vec<i64>,
}

/// A cursor that this version did not produce.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cursor: {0}")]
pub struct CursorError(String);

const VERSION: &str = "c1";

impl Cursor {
    pub fn new(ints: &[i64]) -> Cursor {
        Cursor { ints: ints.to_vec() }
    }

    /// The text given to clients (URL-safe).
    pub fn encode(&self) -> String {
        let ints: Vec<String> = self.ints.iter().map(i64::to_string).collect();
        URL_SAFE_NO_PAD.encode(format!("{VERSION}:{}", ints.join(",")))
    }

    /// Reads a cursor back; `arity` is the number of keys the list sorts by.
    pub fn decode(text: &str, arity: usize) -> Result<Cursor, CursorError> {
        let bad = |why: &str| CursorError(why.to_owned());
        let bytes = URL_SAFE_NO_PAD.decode(text.trim()).map_err(|_| bad("not base64url"))?;
        let text = std::str::from_utf8(&bytes).map_err(|_| bad("not text"))?;
        let rest = text
            .strip_prefix(VERSION)
            .and_then(|r| r.strip_prefix(':'))
            .ok_or_else(|| bad("unknown version"))?;
        let ints = rest
            .split(',')
            .map(|p| p.parse::<i64>().map_err(|_| bad("not a key")))
            .collect::<Result<Vec<_>, _>>()?;
        if ints.len() != arity {
            return Err(bad("not a cursor of this list"));
        }
        Ok(Cursor { ints })
    }
}
