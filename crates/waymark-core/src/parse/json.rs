//! A flat, borrowing view of one JSON object: `{"a": {"b": 1}}` becomes `a.b = 1`.
//!
//! Records are parsed once into this view and every system's matcher and field mapping reads it;
//! strings without escapes are borrowed from the record, so a typical record costs one small
//! vector and no string copies.

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
    entries: Vec<(Cow<'a, str>, Scalar<'a>)>,
}

impl<'a> FlatJson<'a> {
    /// Parses a record that must be one JSON object.
    pub fn parse(bytes: &'a [u8]) -> Result<FlatJson<'a>, serde_json::Error> {
        let mut flat = FlatJson { entries: Vec::with_capacity(8) };
        let mut de = serde_json::Deserializer::from_slice(bytes);
        ObjectSeed { prefix: None, out: &mut flat.entries }.deserialize(&mut de)?;
        de.end()?;
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
}

struct ObjectSeed<'o, 'a> {
    prefix: Option<String>,
    out: &'o mut Vec<(Cow<'a, str>, Scalar<'a>)>,
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
    out: &'o mut Vec<(Cow<'a, str>, Scalar<'a>)>,
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

    #[test]
    fn rejects_non_objects_and_trailing_data() {
        for bad in [&b"[1]"[..], b"\"s\"", b"{\"a\":1} x", b"{\"a\":", b"{\"a\" 1}"] {
            assert!(FlatJson::parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
