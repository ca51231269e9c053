//! A flat, borrowing view of one JSON object: `{"a": {"b": 1}}` becomes `a.b = 1`.
//!
//! Records are parsed once into this view and every system's matcher and field mapping reads it;
//! strings without escapes are borrowed from the record, so a typical record costs one small
//! vector and no string copies.
//!
//! Two readers build the view. A hand-written scanner ([`fast`]) reads the usual record: the
//! whole record checked as UTF-8 once, strings borrowed, escapes decoded, integers read, nesting
//! up to [`fast::MAX_DEPTH`]. Whatever it is not sure of (an error, a fraction or exponent, a
//! lone surrogate, deeper nesting) it leaves to `serde_json`, which then decides exactly as it
//! always did: the scanner accepts a subset of what `serde_json` accepts, with the same view,
//! and every refusal and its message are `serde_json`'s. Tests and a fuzz target compare the two.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

/// A scalar JSON value. Arrays are skipped: no schema field is a list.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar<'a> {
    Str(Cow<'a, str>),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
}

impl Scalar<'_> {
    /// The value as text, as a field of the schema wants it; `None` for null.
    pub fn to_text(&self) -> Option<Cow<'_, str>> {
        match self {
            Scalar::Str(s) => Some(Cow::Borrowed(s.as_ref())),
            Scalar::Int(i) => Some(Cow::Owned(i.to_string())),
            Scalar::Float(f) => Some(Cow::Owned(f.to_string())),
            Scalar::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
            Scalar::Null => None,
        }
    }
}

/// The flattened object.
#[derive(Debug, Default)]
pub struct FlatJson<'a> {
    entries: Entries<'a>,
}

/// A path and its value.
pub type Entry<'a> = (Cow<'a, str>, Scalar<'a>);

/// Entries kept inline up to a record's usual count, so that a record costs no allocation.
#[derive(Debug, Default)]
struct Entries<'a> {
    inline: [Option<Entry<'a>>; INLINE],
    len: usize,
    more: Vec<Entry<'a>>,
}

const INLINE: usize = 8;

impl<'a> Entries<'a> {
    fn push(&mut self, e: Entry<'a>) {
        match self.inline.get_mut(self.len) {
            Some(slot) => *slot = Some(e),
            None => self.more.push(e),
        }
        self.len += 1;
    }

    fn iter(&self) -> impl Iterator<Item = &Entry<'a>> {
        self.inline.iter().map_while(Option::as_ref).chain(&self.more)
    }

    fn clear(&mut self) {
        *self = Entries::default();
    }
}

impl<'a> FlatJson<'a> {
    /// Parses a record that must be one JSON object.
    pub fn parse(bytes: &'a [u8]) -> Result<FlatJson<'a>, serde_json::Error> {
        let mut flat = FlatJson::default();
        flat.fill(bytes)?;
        Ok(flat)
    }

    /// [`FlatJson::parse`] into an empty view the caller holds (the view is a few hundred
    /// bytes: filled in place rather than moved).
    pub fn fill(&mut self, bytes: &'a [u8]) -> Result<(), serde_json::Error> {
        if fast::fill(bytes, &mut self.entries).is_some() {
            return Ok(());
        }
        self.entries.clear();
        self.fill_serde(bytes)
    }

    /// The view read by `serde_json` alone.
    fn fill_serde(&mut self, bytes: &'a [u8]) -> Result<(), serde_json::Error> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        ObjectSeed { prefix: None, out: &mut self.entries }.deserialize(&mut de)?;
        de.end()
    }

    /// The same view read by `serde_json` alone: what [`FlatJson::parse`] falls back to, public
    /// so that tests and fuzz targets can compare the two.
    #[doc(hidden)]
    pub fn parse_serde(bytes: &'a [u8]) -> Result<FlatJson<'a>, serde_json::Error> {
        let mut flat = FlatJson::default();
        flat.fill_serde(bytes)?;
        Ok(flat)
    }

    /// The value at a dotted path.
    pub fn get(&self, path: &str) -> Option<&Scalar<'a>> {
        self.entries.iter().find(|(k, _)| k == path).map(|(_, v)| v)
    }

    /// Whether the path is present (even as null).
    pub fn has(&self, path: &str) -> bool {
        self.get(path).is_some()
    }

    /// Every path and value, in the record's order (repeated keys kept; tests and fuzz targets).
    #[doc(hidden)]
    pub fn entries(&self) -> Vec<&Entry<'a>> {
        self.entries.iter().collect()
    }
}

/// The scanner of the usual record; `None` leaves the record to `serde_json`.
mod fast {
    use std::borrow::Cow;

    use serde::de::DeserializeSeed;

    #[cfg(test)]
    use super::FlatJson;
    use super::{Entries, Scalar, ValueSeed};

    /// Objects and arrays nested deeper than this are left to `serde_json` (its own limit, 128,
    /// then applies as before).
    pub(super) const MAX_DEPTH: u32 = 16;

    #[cfg(test)]
    pub(super) fn parse(bytes: &[u8]) -> Option<FlatJson<'_>> {
        let mut flat = FlatJson::default();
        fill(bytes, &mut flat.entries)?;
        Some(flat)
    }

    /// `None`: left to `serde_json` (`out` then holds a part of the record).
    pub(super) fn fill<'a>(bytes: &'a [u8], out: &mut Entries<'a>) -> Option<()> {
        // One UTF-8 check of the whole record instead of one per string. A record that fails it
        // may still be JSON to `serde_json` (the strings of a skipped array are not checked).
        let text = std::str::from_utf8(bytes).ok()?;
        let mut s = Scanner { text, b: bytes, i: 0 };
        s.ws();
        s.eat(b'{')?;
        s.object(None, 1, out)?;
        s.ws();
        (s.i == bytes.len()).then_some(())
    }

    struct Scanner<'a> {
        text: &'a str,
        b: &'a [u8],
        i: usize,
    }

    /// Bytes that end the plain run of a string: `"`, `\\` and control characters.
    static STOP: [bool; 256] = {
        let mut t = [false; 256];
        let mut c = 0;
        while c < 0x20 {
            t[c] = true;
            c += 1;
        }
        t[b'"' as usize] = true;
        t[b'\\' as usize] = true;
        t
    };

    /// The index of the first `"`, `\\` or control character at or after `from` (`b.len()` if
    /// none), eight bytes at a time: a string's plain run is most of a record.
    fn plain_run(b: &[u8], from: usize) -> usize {
        const ONES: u64 = u64::MAX / 255;
        let rest = b.get(from..).unwrap_or_default();
        let mut chunks = rest.chunks_exact(8);
        let mut at = from;
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            let w = u64::from_le_bytes(word);
            // The classic "has a zero byte" test, for bytes below 0x20, `"` and `\\`: the lowest
            // flagged byte is always a real one.
            let ctrl = w.wrapping_sub(ONES * 0x20) & !w;
            let q = w ^ (ONES * u64::from(b'"'));
            let q = q.wrapping_sub(ONES) & !q;
            let bs = w ^ (ONES * u64::from(b'\\'));
            let bs = bs.wrapping_sub(ONES) & !bs;
            let hits = (ctrl | q | bs) & (ONES << 7);
            if hits != 0 {
                return at + hits.trailing_zeros() as usize / 8;
            }
            at += 8;
        }
        at + chunks
            .remainder()
            .iter()
            .position(|&c| STOP[usize::from(c)])
            .unwrap_or(chunks.remainder().len())
    }

    impl<'a> Scanner<'a> {
        fn peek(&self) -> Option<u8> {
            self.b.get(self.i).copied()
        }

        fn eat(&mut self, c: u8) -> Option<()> {
            (self.peek()? == c).then(|| self.i += 1)
        }

        /// JSON whitespace only (not form feed, unlike `u8::is_ascii_whitespace`).
        fn ws(&mut self) {
            while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
                self.i += 1;
            }
        }

        /// The members of an object whose `{` was read; paths under `prefix`.
        fn object(
            &mut self,
            prefix: Option<&str>,
            depth: u32,
            out: &mut Entries<'a>,
        ) -> Option<()> {
            self.ws();
            if self.eat(b'}').is_some() {
                return Some(());
            }
            loop {
                self.ws();
                self.eat(b'"')?;
                let key = self.string()?;
                self.ws();
                self.eat(b':')?;
                self.ws();
                let path = match prefix {
                    Some(p) => Cow::Owned(format!("{p}.{key}")),
                    None => key,
                };
                self.value(path, depth, out)?;
                if !self.more(b'}')? {
                    return Some(());
                }
            }
        }

        /// After a member or an element: `,` reads on (`true`), `close` ends the container
        /// (`false`), anything else is not for this reader (`None`).
        fn more(&mut self, close: u8) -> Option<bool> {
            self.ws();
            let go_on = match self.peek()? {
                b',' => true,
                c if c == close => false,
                _ => return None,
            };
            self.i += 1;
            Some(go_on)
        }

        fn value(&mut self, path: Cow<'a, str>, depth: u32, out: &mut Entries<'a>) -> Option<()> {
            let v = match self.peek()? {
                b'"' => {
                    self.i += 1;
                    Scalar::Str(self.string()?)
                }
                b'{' => {
                    if depth >= MAX_DEPTH {
                        return None;
                    }
                    self.i += 1;
                    return self.object(Some(&path), depth + 1, out);
                }
                b'[' => {
                    if depth >= MAX_DEPTH {
                        return None;
                    }
                    self.i += 1;
                    return self.skip_array(depth + 1);
                }
                b't' => self.ident(b"true", Scalar::Bool(true))?,
                b'f' => self.ident(b"false", Scalar::Bool(false))?,
                b'n' => self.ident(b"null", Scalar::Null)?,
                b'-' | b'0'..=b'9' => self.number()?,
                _ => return None,
            };
            out.push((path, v));
            Some(())
        }

        fn ident(&mut self, word: &[u8], v: Scalar<'a>) -> Option<Scalar<'a>> {
            self.b[self.i..].starts_with(word).then(|| {
                self.i += word.len();
                v
            })
        }

        /// A number, read by `serde_json` itself unless it is a short integer: the same value
        /// and the same kind (integer or float) whatever its text.
        fn number(&mut self) -> Option<Scalar<'a>> {
            let start = self.i;
            let negative = self.eat(b'-').is_some();
            let digits_start = self.i;
            match self.peek()? {
                b'0' => self.i += 1,
                b'1'..=b'9' => {
                    while let Some(b'0'..=b'9') = self.peek() {
                        self.i += 1;
                    }
                }
                _ => return None,
            }
            let int_end = self.i;
            let mut plain = true;
            if self.eat(b'.').is_some() {
                plain = false;
                self.digits()?;
            }
            if let Some(b'e' | b'E') = self.peek() {
                plain = false;
                self.i += 1;
                if let Some(b'+' | b'-') = self.peek() {
                    self.i += 1;
                }
                self.digits()?;
            }
            // A leading zero is read alone: a digit after it ends the value and the record is
            // then not for this reader (`serde_json` refuses it).
            let n = int_end - digits_start;
            if plain && n <= 18 && !(negative && self.b[digits_start..int_end] == *b"0") {
                let v = self.b[digits_start..int_end]
                    .iter()
                    .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0'));
                return Some(Scalar::Int(if negative { -v } else { v }));
            }
            let mut out = Entries::default();
            let mut de = serde_json::Deserializer::from_slice(&self.b[start..self.i]);
            ValueSeed { path: Cow::Borrowed(""), out: &mut out }.deserialize(&mut de).ok()?;
            de.end().ok()?;
            out.inline[0].take().map(|(_, v)| v)
        }

        /// At least one digit.
        fn digits(&mut self) -> Option<()> {
            let start = self.i;
            while let Some(b'0'..=b'9') = self.peek() {
                self.i += 1;
            }
            (self.i > start).then_some(())
        }

        /// The rest of a string whose `"` was read: borrowed unless it has escapes.
        fn string(&mut self) -> Option<Cow<'a, str>> {
            let start = self.i;
            self.i = plain_run(self.b, start);
            if *self.b.get(self.i)? == b'"' {
                let s = self.text.get(start..self.i)?;
                self.i += 1;
                return Some(Cow::Borrowed(s));
            }
            let mut owned = String::with_capacity(self.i - start + 16);
            owned.push_str(self.text.get(start..self.i)?);
            loop {
                match self.b.get(self.i)? {
                    b'"' => {
                        self.i += 1;
                        return Some(Cow::Owned(owned));
                    }
                    b'\\' => {
                        self.i += 1;
                        owned.push(self.escape()?);
                    }
                    _ => return None,
                }
                let run = self.i;
                self.i = plain_run(self.b, run);
                owned.push_str(self.text.get(run..self.i)?);
            }
        }

        /// One escape after its backslash. Surrogates only as a pair, else `serde_json` decides.
        fn escape(&mut self) -> Option<char> {
            let c = *self.b.get(self.i)?;
            self.i += 1;
            Some(match c {
                b'"' => '"',
                b'\\' => '\\',
                b'/' => '/',
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b'n' => '\n',
                b'r' => '\r',
                b't' => '\t',
                b'u' => {
                    let hi = self.hex4()?;
                    if (0xDC00..0xE000).contains(&hi) {
                        return None;
                    }
                    if (0xD800..0xDC00).contains(&hi) {
                        self.eat(b'\\')?;
                        self.eat(b'u')?;
                        let lo = self.hex4()?;
                        if !(0xDC00..0xE000).contains(&lo) {
                            return None;
                        }
                        let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                        return char::from_u32(c);
                    }
                    return char::from_u32(hi);
                }
                _ => return None,
            })
        }

        fn hex4(&mut self) -> Option<u32> {
            let h = self.b.get(self.i..self.i + 4)?;
            self.i += 4;
            h.iter().try_fold(0u32, |acc, &c| Some(acc * 16 + char::from(c).to_digit(16)?))
        }

        /// The rest of an array whose `[` was read, checked and skipped.
        fn skip_array(&mut self, depth: u32) -> Option<()> {
            self.ws();
            if self.eat(b']').is_some() {
                return Some(());
            }
            let mut sink = Entries::default();
            loop {
                self.ws();
                self.value(Cow::Borrowed(""), depth, &mut sink)?;
                sink.clear();
                if !self.more(b']')? {
                    return Some(());
                }
            }
        }
    }
}

struct ObjectSeed<'o, 'a> {
    prefix: Option<String>,
    out: &'o mut Entries<'a>,
}

impl<'de, 'o> DeserializeSeed<'de> for ObjectSeed<'o, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, 'o> Visitor<'de> for ObjectSeed<'o, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(CowStr)? {
            let path: Cow<'de, str> = match &self.prefix {
                Some(p) => Cow::Owned(format!("{p}.{key}")),
                None => key,
            };
            map.next_value_seed(ValueSeed { path, out: self.out })?;
        }
        Ok(())
    }
}

struct ValueSeed<'o, 'a> {
    path: Cow<'a, str>,
    out: &'o mut Entries<'a>,
}

impl<'de, 'o> DeserializeSeed<'de> for ValueSeed<'o, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, 'o> ValueSeed<'o, 'de> {
    fn push(self, v: Scalar<'de>) {
        self.out.push((self.path, v));
    }
}

impl<'de, 'o> Visitor<'de> for ValueSeed<'o, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<(), E> {
        self.push(Scalar::Str(Cow::Borrowed(v)));
        Ok(())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.push(Scalar::Str(Cow::Owned(v.to_owned())));
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.push(Scalar::Int(v));
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.push(i64::try_from(v).map(Scalar::Int).unwrap_or(Scalar::Float(v as f64)));
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.push(Scalar::Float(v));
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.push(Scalar::Bool(v));
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.push(Scalar::Null);
        Ok(())
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let prefix = Some(self.path.into_owned());
        ObjectSeed { prefix, out: self.out }.visit_map(map)
    }
}

struct CowStr;

impl<'de> DeserializeSeed<'de> for CowStr {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for CowStr {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattens_nested_objects_and_borrows_plain_strings() {
        let src = br#"{"a": "x", "b": {"c": 1, "d": [1, {"e": 2}], "f": null}, "g": "q\"uote"}"#;
        let flat = FlatJson::parse(src).unwrap();
        assert!(matches!(flat.get("a"), Some(Scalar::Str(Cow::Borrowed("x")))));
        assert_eq!(flat.get("b.c"), Some(&Scalar::Int(1)));
        assert_eq!(flat.get("b.f"), Some(&Scalar::Null));
        assert_eq!(flat.get("b.d"), None);
        assert_eq!(flat.get("g").and_then(|v| v.to_text()).as_deref(), Some("q\"uote"));
    }

    /// `parse` (scanner, else `serde_json`) and `serde_json` alone give the same view or the
    /// same error; where the scanner answers, it answers as `serde_json` does.
    fn same_as_serde(src: &[u8]) {
        let shown = String::from_utf8_lossy(src);
        let serde = FlatJson::parse_serde(src);
        if let Some(flat) = fast::parse(src) {
            let want = serde.as_ref().map_err(|e| e.to_string());
            assert_eq!(Ok(flat.entries()), want.map(FlatJson::entries), "{shown}");
        }
        match (FlatJson::parse(src), serde) {
            (Ok(a), Ok(b)) => assert_eq!(a.entries(), b.entries(), "{shown}"),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{shown}"),
            (a, b) => panic!(
                "{shown}: {:?} vs {:?}",
                a.as_ref().map(FlatJson::entries),
                b.as_ref().map(FlatJson::entries)
            ),
        }
    }

    #[test]
    fn scanner_agrees_with_serde_on_tricky_records() {
        let cases: &[&[u8]] = &[
            br#"{}"#,
            b" \t\r\n{ } \n",
            b"\x0c{}",
            b"{}\x0c",
            br#"{"a":1,}"#,
            br#"{,"a":1}"#,
            br#"{"a" : 1 , "b" : "x" }"#,
            br#"{"a":"x","a":"y"}"#,
            br#"{"a":{"b":{"c":[1,2,{"d":3}]}},"a.b.c":4}"#,
            br#"{"a":{}}"#,
            br#"{"a":[]}"#,
            br#"{"a":[,]}"#,
            br#"{"a":[1,]}"#,
            br#"{"a":[1 2]}"#,
            br#"{"a":["\ud800"]}"#,
            br#"{"a":"\ud800"}"#,
            br#"{"a":"\udc00"}"#,
            br#"{"a":"\ud83d\ude00 \u00e9\u0000\n\t\"\\\/\b\f\r"}"#,
            br#"{"a":"\ud83d\u0041"}"#,
            br#"{"a":"\ud83d"}"#,
            br#"{"a":"\x"}"#,
            br#"{"a":"\u12"}"#,
            br#"{"a":"\u12G4"}"#,
            br#"{"a\"b":"c","\u0041":1}"#,
            "{\"é\":\"ü ☃ 😀\"}".as_bytes(),
            b"{\"a\":\"\xff\"}",
            b"{\"a\":[\"\xff\"],\"b\":1}",
            b"{\"a\":\"tab\there\"}",
            b"{\"a\":\"nl\nhere\"}",
            b"{\"a\":\"del\x7fhere\"}",
            br#"{"a":0,"b":-0,"c":-1,"d":01,"e":-01,"f":1.5,"g":1e3,"h":1E-3,"i":-0.0}"#,
            br#"{"a":1.}"#,
            br#"{"a":.5}"#,
            br#"{"a":1e}"#,
            br#"{"a":1e+}"#,
            br#"{"a":-}"#,
            br#"{"a":+1}"#,
            br#"{"a":123456789012345678}"#,
            br#"{"a":1234567890123456789}"#,
            br#"{"a":-9223372036854775808}"#,
            br#"{"a":-9223372036854775809}"#,
            br#"{"a":9223372036854775807}"#,
            br#"{"a":9223372036854775808}"#,
            br#"{"a":18446744073709551615}"#,
            br#"{"a":18446744073709551616}"#,
            br#"{"a":123456789012345678901234567890}"#,
            br#"{"a":0.1e-400,"b":1e400}"#,
            br#"{"a":true,"b":false,"c":null}"#,
            br#"{"a":tru}"#,
            br#"{"a":nul}"#,
            br#"{"a":True}"#,
            br#"{"a":truex}"#,
            br#"{"a":1x}"#,
            br#"{"a":"x"}x"#,
            br#"{"a":"x"}{}"#,
            br#"{"a":"x""#,
            br#"{"a":"x"#,
            br#"{"a""#,
            br#"{"a":}"#,
            br#"{a:1}"#,
            br#"{'a':1}"#,
            br#"{"a":1"#,
            br#"["a"]"#,
            br#""a""#,
            b"",
            b"{",
        ];
        for src in cases {
            same_as_serde(src);
        }
        let deep = |n: usize, open: &str, close: &str| {
            let mut s = String::from("{\"k\":");
            s.push_str(&open.repeat(n));
            s.push('1');
            s.push_str(&close.repeat(n));
            s.push('}');
            s
        };
        for n in [0, 1, 14, 15, 16, 17, 126, 127, 128, 200] {
            same_as_serde(deep(n, "{\"x\":", "}").as_bytes());
            same_as_serde(deep(n, "[", "]").as_bytes());
        }
    }

    #[test]
    fn the_scanner_reads_the_usual_records_itself() {
        for src in [
            &br#"{"system": "fedebom", "checkpoint": "INITIATED", "status": "SUCCESS", "timestamp": "2025-05-04T10:30:00", "correlation_id": "cfc5d07f-4132-000000"}"#[..],
            br#"{"a": {"b": [1, "x", {"c": null}], "d": -12}, "e": "q\"uote \u00e9"}"#,
        ] {
            assert!(fast::parse(src).is_some(), "{}", String::from_utf8_lossy(src));
            same_as_serde(src);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// JSON-like texts from a small alphabet of its tokens, valid or not.
        #[test]
        fn scanner_agrees_with_serde_on_token_soup(
            tokens in proptest::collection::vec(proptest::sample::select(&[
                "{", "}", "[", "]", ":", ",", " ", "\n", "\"a\"", "\"a.b\"", "\"\\u00e9\"",
                "\"\\ud83d\\ude00\"", "\"\\ud83d\"", "\"\\n\"", "\"é\"", "\"", "\\", "1", "0",
                "-", "-0", "1.5", "2e9", "00", "99999999999999999999", "true", "null", "fals",
                "\t", "\u{1}", "x",
            ][..]), 0..24)
        ) {
            let mut src = String::from("{");
            src.extend(tokens);
            same_as_serde(src.as_bytes());
        }

        /// Well-formed objects, nested, with every kind of value, then maybe one byte changed.
        #[test]
        fn scanner_agrees_with_serde_on_objects(
            v in json_object(),
            edit in proptest::option::of((proptest::num::usize::ANY, proptest::num::u8::ANY)),
        ) {
            let mut src = v.into_bytes();
            if let (Some((at, byte)), false) = (edit, src.is_empty()) {
                let at = at % src.len();
                src[at] = byte;
            }
            same_as_serde(&src);
        }
    }

    fn json_object() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let key = prop_oneof![
            Just("a".to_owned()),
            Just("system".to_owned()),
            "[a-z.é\"\\\\ ]{0,6}".prop_map(|s| s),
        ];
        let leaf = prop_oneof![
            any::<i64>().prop_map(|i| i.to_string()),
            any::<u64>().prop_map(|i| i.to_string()),
            any::<f64>().prop_map(|f| serde_json::to_string(&f).unwrap()),
            any::<bool>().prop_map(|b| b.to_string()),
            Just("null".to_owned()),
            any::<String>().prop_map(|s| serde_json::to_string(&s).unwrap()),
            "[ -~]{0,8}".prop_map(|s| serde_json::to_string(&s).unwrap()),
        ];
        let key2 = key.clone();
        leaf.prop_recursive(20, 64, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4)
                    .prop_map(|items| format!("[{}]", items.join(","))),
                proptest::collection::vec((key2.clone(), inner), 0..5).prop_map(|members| {
                    let body: Vec<String> = members
                        .into_iter()
                        .map(|(k, v)| format!("{} : {v}", serde_json::to_string(&k).unwrap()))
                        .collect();
                    format!("{{ {} }}", body.join(", "))
                }),
            ]
        })
        .prop_flat_map(move |v| {
            proptest::collection::vec((key.clone(), Just(v)), 1..4).prop_map(|members| {
                let body: Vec<String> = members
                    .into_iter()
                    .map(|(k, v)| format!("{}:{v}", serde_json::to_string(&k).unwrap()))
                    .collect();
                format!("{{{}}}", body.join(","))
            })
        })
    }

    #[test]
    fn rejects_non_objects_and_trailing_data() {
        for bad in [&b"[1]"[..], b"\"s\"", b"{\"a\":1} x", b"{\"a\":", b"{\"a\" 1}"] {
            assert!(FlatJson::parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
