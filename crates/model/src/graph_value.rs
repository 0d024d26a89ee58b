//! The machinery behind every Graph type in this crate: tolerant, lossless, single-pass reading.
//!
//! Why not `#[derive(Deserialize)]`: derive fails the whole record when one property has an
//! unexpected shape (a `location` that is a string, an `errorCode` sent as `"50126"`, a
//! `conditionalAccessAudiences` of objects where the schema says strings), rejects or mishandles
//! duplicate keys in places, and cannot keep the original value of a property it could not read.
//! Microsoft's data has all of these. Here every known property is read through [`ReadSeed`]:
//!
//! - a value of the expected shape becomes the typed field (`Read::Typed`);
//! - a value that converts without doubt becomes the typed field too (`"50126"` for an integer,
//!   `"TRUE"` for a boolean, any timestamp spelling [`crate::time`] knows); it is then written
//!   back in Graph's shape (a documented normalisation);
//! - anything else, `null` included, is kept verbatim (`Read::Verbatim`): the typed field stays
//!   empty and the value goes to the struct's `extra` map under the property's Graph name, so
//!   serialising writes it back unchanged.
//!
//! Keys are matched exactly first (the fast path: one `match` on the key), then ignoring ASCII
//! case (`Type` for `type`); unknown keys go to `extra` as they are. A repeated key overwrites the
//! earlier value (last wins), as in `serde_json::Value`.
//!
//! The [`graph_struct!`] macro generates, from one field list, the struct, its key matcher, its
//! reader and a `Serialize` that writes Graph's shape, so the list of properties lives in one place.

use std::marker::PhantomData;

use chrono::{DateTime, Utc};
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Number, Value};

/// The result of reading one property value.
pub(crate) enum Read<T> {
    /// The value, read (possibly converted) into its type.
    Typed(T),
    /// The value as it was, because it was `null` or not of the property's type.
    Verbatim(Value),
}

/// A type a Graph property can have. Each `from_*` says whether a JSON value of that shape can
/// be read as `Self`; `None` keeps the value verbatim.
pub(crate) trait GraphValue: Sized {
    /// True for objects and collections: Log Analytics exports such values as JSON text.
    const STRUCTURED: bool = false;

    fn from_str(_text: &str) -> Option<Self> {
        None
    }
    fn from_string(text: String) -> Result<Self, String> {
        Self::from_str(&text).ok_or(text)
    }
    fn from_bool(_value: bool) -> Option<Self> {
        None
    }
    fn from_i64(_value: i64) -> Option<Self> {
        None
    }
    fn from_u64(_value: u64) -> Option<Self> {
        None
    }
    fn from_f64(_value: f64) -> Option<Self> {
        None
    }
    fn from_map<'de, A: MapAccess<'de>>(map: A) -> Result<Read<Self>, A::Error> {
        Ok(Read::Verbatim(Value::deserialize(MapAccessDeserializer::new(map))?))
    }
    fn from_seq<'de, A: SeqAccess<'de>>(seq: A) -> Result<Read<Self>, A::Error> {
        Ok(Read::Verbatim(Value::deserialize(SeqAccessDeserializer::new(seq))?))
    }

    /// Writes the value in Graph's shape.
    fn write<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error>;
}

/// Serialises a [`GraphValue`] in Graph's shape.
pub(crate) struct AsGraph<'a, T>(pub &'a T);

impl<T: GraphValue> Serialize for AsGraph<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.write(serializer)
    }
}

/// The JSON a typed value is written as (used when a collection must fall back to verbatim).
pub(crate) fn to_graph_json<T: GraphValue>(value: &T) -> Value {
    serde_json::to_value(AsGraph(value)).unwrap_or(Value::Null)
}

/// Reads one property value as `T`, tolerantly.
pub(crate) struct ReadSeed<T>(PhantomData<T>);

impl<T> ReadSeed<T> {
    pub(crate) fn new() -> Self {
        ReadSeed(PhantomData)
    }
}

impl<'de, T: GraphValue> DeserializeSeed<'de> for ReadSeed<T> {
    type Value = Read<T>;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Read<T>, D::Error> {
        deserializer.deserialize_any(ReadVisitor::<T>(PhantomData))
    }
}

struct ReadVisitor<T>(PhantomData<T>);

impl<'de, T: GraphValue> Visitor<'de> for ReadVisitor<T> {
    type Value = Read<T>;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Read<T>, E> {
        Ok(T::from_bool(value).map_or(Read::Verbatim(Value::Bool(value)), Read::Typed))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Read<T>, E> {
        Ok(T::from_i64(value).map_or(Read::Verbatim(Value::Number(value.into())), Read::Typed))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Read<T>, E> {
        Ok(T::from_u64(value).map_or(Read::Verbatim(Value::Number(value.into())), Read::Typed))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Read<T>, E> {
        Ok(match T::from_f64(value) {
            Some(typed) => Read::Typed(typed),
            None => Read::Verbatim(Number::from_f64(value).map_or(Value::Null, Value::Number)),
        })
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Read<T>, E> {
        Ok(T::from_str(value).map_or_else(|| Read::Verbatim(Value::String(value.to_owned())), Read::Typed))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Read<T>, E> {
        Ok(match T::from_string(value) {
            Ok(typed) => Read::Typed(typed),
            Err(text) => Read::Verbatim(Value::String(text)),
        })
    }

    fn visit_unit<E: de::Error>(self) -> Result<Read<T>, E> {
        Ok(Read::Verbatim(Value::Null))
    }

    fn visit_none<E: de::Error>(self) -> Result<Read<T>, E> {
        Ok(Read::Verbatim(Value::Null))
    }

    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Read<T>, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Read<T>, A::Error> {
        T::from_map(map)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Read<T>, A::Error> {
        T::from_seq(seq)
    }
}

impl GraphValue for String {
    fn from_str(text: &str) -> Option<Self> {
        Some(text.to_owned())
    }
    fn from_string(text: String) -> Result<Self, String> {
        Ok(text)
    }
    fn write<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self)
    }
}

/// Graph's `Edm.Int32` (and the 64-bit values some exports use). Integral floats and integer
/// text convert; they are written back as JSON integers.
impl GraphValue for i64 {
    fn from_i64(value: i64) -> Option<Self> {
        Some(value)
    }
    fn from_u64(value: u64) -> Option<Self> {
        i64::try_from(value).ok()
    }
    fn from_f64(value: f64) -> Option<Self> {
        (value.fract() == 0.0 && value >= i64::MIN as f64 && value < i64::MAX as f64).then_some(value as i64)
    }
    fn from_str(text: &str) -> Option<Self> {
        text.trim().parse().ok()
    }
    fn write<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(*self)
    }
}

/// Graph's `Edm.Double`. Integers and finite numeric text convert; `"NaN"`/`"INF"` stay verbatim.
impl GraphValue for f64 {
    fn from_f64(value: f64) -> Option<Self> {
        Some(value)
    }
    fn from_i64(value: i64) -> Option<Self> {
        Some(value as f64)
    }
    fn from_u64(value: u64) -> Option<Self> {
        Some(value as f64)
    }
    fn from_str(text: &str) -> Option<Self> {
        text.trim().parse::<f64>().ok().filter(|v| v.is_finite())
    }
    fn write<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(*self)
    }
}

/// Graph's `Edm.Boolean`; `"true"`/`"TRUE"`/`"False"` text converts (CSV exports).
impl GraphValue for bool {
    fn from_bool(value: bool) -> Option<Self> {
        Some(value)
    }
    fn from_str(text: &str) -> Option<Self> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("true") {
            Some(true)
        } else if text.eq_ignore_ascii_case("false") {
            Some(false)
        } else {
            None
        }
    }
    fn write<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bool(*self)
    }
}

/// Graph's `Edm.DateTimeOffset`, in any spelling [`crate::time::parse_timestamp`] reads; written
/// as Graph writes it ([`crate::time::format_graph_timestamp`]).
impl GraphValue for DateTime<Utc> {
    fn from_str(text: &str) -> Option<Self> {
        crate::time::parse_timestamp(text)
    }
    fn write<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut text = String::with_capacity(30);
        crate::time::write_graph_timestamp(self, &mut text);
        serializer.serialize_str(&text)
    }
}

/// A collection: typed when every element reads as `T`; otherwise the whole collection is kept
/// verbatim (elements already read are written back as JSON, so nothing is lost).
impl<T: GraphValue> GraphValue for Vec<T> {
    const STRUCTURED: bool = true;

    fn from_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Read<Self>, A::Error> {
        let mut typed = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(element) = seq.next_element_seed(ReadSeed::<T>::new())? {
            match element {
                Read::Typed(value) => typed.push(value),
                Read::Verbatim(odd) => {
                    let mut verbatim: Vec<Value> = typed.iter().map(to_graph_json).collect();
                    verbatim.push(odd);
                    while let Some(rest) = seq.next_element::<Value>()? {
                        verbatim.push(rest);
                    }
                    return Ok(Read::Verbatim(Value::Array(verbatim)));
                }
            }
        }
        Ok(Read::Typed(typed))
    }

    fn write<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.len()))?;
        for element in self {
            seq.serialize_element(&AsGraph(element))?;
        }
        seq.end()
    }
}

/// A JSON object key, matched to a known property of `F`'s struct or kept as text.
pub(crate) enum Key<F> {
    Known(F),
    Other(String),
}

/// Implemented by the field enums [`graph_struct!`] generates.
pub(crate) trait FieldName: Sized + Copy {
    /// Exact Graph name first, then ignoring ASCII case.
    fn from_key(key: &str) -> Option<Self>;
}

pub(crate) struct KeySeed<F>(PhantomData<F>);

impl<F> KeySeed<F> {
    pub(crate) fn new() -> Self {
        KeySeed(PhantomData)
    }
}

impl<'de, F: FieldName> DeserializeSeed<'de> for KeySeed<F> {
    type Value = Key<F>;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Key<F>, D::Error> {
        deserializer.deserialize_str(KeyVisitor::<F>(PhantomData))
    }
}

struct KeyVisitor<F>(PhantomData<F>);

impl<'de, F: FieldName> Visitor<'de> for KeyVisitor<F> {
    type Value = Key<F>;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a property name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Key<F>, E> {
        Ok(F::from_key(key).map_or_else(|| Key::Other(key.to_owned()), Key::Known))
    }

    fn visit_string<E: de::Error>(self, key: String) -> Result<Key<F>, E> {
        Ok(F::from_key(&key).map_or(Key::Other(key), Key::Known))
    }
}

/// Looks `key` up in a table keyed by lowercase names, without allocating for short keys.
pub(crate) fn lookup_lowercase<F: Copy>(table: &std::collections::HashMap<String, F>, key: &str) -> Option<F> {
    let mut buffer = [0u8; 64];
    let bytes = key.as_bytes();
    if bytes.len() > buffer.len() {
        return table.get(&key.to_ascii_lowercase()).copied();
    }
    let lower = &mut buffer[..bytes.len()];
    lower.copy_from_slice(bytes);
    lower.make_ascii_lowercase();
    // ASCII lowercasing keeps UTF-8 valid.
    std::str::from_utf8(lower).ok().and_then(|k| table.get(k).copied())
}

/// A short description of a JSON value's kind, for error messages.
pub(crate) fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Generates a Graph complex or entity type: the struct (every listed field `pub`, plus
/// `pub extra`), its field enum and key matcher, its tolerant reader, `Serialize` in Graph's
/// shape and `Deserialize`.
///
/// Field kinds: `opt name: T = "graphName"` is `Option<T>`; `vec name: T = "graphName"` is a
/// `Vec<T>` that is never `None` (an explicit `[]` is remembered in `extra`); `req name: String =
/// "graphName"` is a `String` that is never `None` (an explicit `""` is remembered in `extra`).
macro_rules! graph_struct {
    (
        $(#[$struct_meta:meta])*
        pub struct $name:ident / $field_enum:ident {
            $(
                $(#[$field_meta:meta])*
                $kind:ident $field:ident : $inner:ty = $json:literal,
            )*
        }
    ) => {
        $(#[$struct_meta])*
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct $name {
            $(
                $(#[$field_meta])*
                pub $field: graph_struct!(@type $kind $inner),
            )*
            /// Properties this crate does not model, and modelled properties whose value was
            /// `null` or not of the documented type, kept verbatim under their JSON name and
            /// written back unchanged.
            pub extra: serde_json::Map<String, serde_json::Value>,
        }

        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum $field_enum {
            $($field,)*
        }

        impl $crate::graph_value::FieldName for $field_enum {
            #[inline]
            fn from_key(key: &str) -> Option<Self> {
                Self::exact(key).or_else(|| Self::ignoring_case(key))
            }
        }

        #[allow(dead_code)]
        impl $field_enum {
            /// The field whose Graph name is exactly `key`.
            #[inline]
            pub(crate) fn exact(key: &str) -> Option<Self> {
                match key {
                    $($json => Some(Self::$field),)*
                    _ => None,
                }
            }

            /// The field whose Graph name equals `key` ignoring ASCII case (`Type` for `type`).
            pub(crate) fn ignoring_case(key: &str) -> Option<Self> {
                static LOWERCASE: std::sync::OnceLock<std::collections::HashMap<String, $field_enum>> =
                    std::sync::OnceLock::new();
                let table = LOWERCASE.get_or_init(|| {
                    [$(($json.to_ascii_lowercase(), Self::$field),)*].into_iter().collect()
                });
                $crate::graph_value::lookup_lowercase(table, key)
            }
        }

        #[allow(dead_code)]
        impl $field_enum {
            /// The property's Graph name.
            pub(crate) fn graph_name(self) -> &'static str {
                match self {
                    $(Self::$field => $json,)*
                }
            }

            /// Whether the property is an object or a collection.
            pub(crate) fn structured(self) -> bool {
                match self {
                    $(Self::$field => <graph_struct!(@value $kind $inner) as $crate::graph_value::GraphValue>::STRUCTURED,)*
                }
            }
        }

        impl $name {
            /// The Graph names of the typed properties, in the order they are written.
            pub const PROPERTY_NAMES: &'static [&'static str] = &[$($json,)*];

            /// Reads the value of a known property from `map` into its field (or `extra`).
            #[allow(dead_code)]
            pub(crate) fn read_field<'de, A: serde::de::MapAccess<'de>>(
                &mut self,
                field: $field_enum,
                map: &mut A,
            ) -> Result<(), A::Error> {
                let read = match field {
                    $(
                        $field_enum::$field => {
                            map.next_value_seed($crate::graph_value::ReadSeed::<graph_struct!(@value $kind $inner)>::new())?
                                .map_into(|typed| graph_struct!(@assign $kind self.$field, typed))
                        }
                    )*
                };
                match read {
                    Some(verbatim) => {
                        self.clear_field(field);
                        self.extra.insert(field.graph_name().to_owned(), verbatim);
                    }
                    None => {
                        if self.field_is_empty(field) {
                            // Remember that the property was present, e.g. `"targetResources": []`.
                            let json = self.field_json(field);
                            self.extra.insert(field.graph_name().to_owned(), json);
                        } else if !self.extra.is_empty() {
                            self.extra.remove(field.graph_name());
                        }
                    }
                }
                Ok(())
            }

            /// Reads a whole JSON object into `self`, property by property.
            #[allow(dead_code)]
            pub(crate) fn read_object<'de, A: serde::de::MapAccess<'de>>(&mut self, mut map: A) -> Result<(), A::Error> {
                while let Some(key) = map.next_key_seed($crate::graph_value::KeySeed::<$field_enum>::new())? {
                    match key {
                        $crate::graph_value::Key::Known(field) => self.read_field(field, &mut map)?,
                        $crate::graph_value::Key::Other(name) => {
                            let value: serde_json::Value = map.next_value()?;
                            self.extra.insert(name, value);
                        }
                    }
                }
                Ok(())
            }

            fn clear_field(&mut self, field: $field_enum) {
                match field {
                    $($field_enum::$field => self.$field = Default::default(),)*
                }
            }

            /// True for a `vec`/`req` field holding an explicitly empty value (`[]`, `""`);
            /// always false for `opt` fields (their emptiness is `None`).
            fn field_is_empty(&self, field: $field_enum) -> bool {
                match field {
                    $($field_enum::$field => graph_struct!(@explicit_empty $kind self.$field),)*
                }
            }

            fn field_json(&self, field: $field_enum) -> serde_json::Value {
                match field {
                    $($field_enum::$field => graph_struct!(@json $kind self.$field),)*
                }
            }

            /// Whether the typed field named `key` holds a value (it then wins over `extra`).
            fn typed_present(&self, key: &str) -> bool {
                match key {
                    $($json => graph_struct!(@present $kind self.$field),)*
                    _ => false,
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let mut map = serializer.serialize_map(None)?;
                $( graph_struct!(@write $kind map, $json, self.$field); )*
                for (key, value) in &self.extra {
                    if !self.typed_present(key) {
                        map.serialize_entry(key, value)?;
                    }
                }
                map.end()
            }
        }

        impl $crate::graph_value::GraphValue for $name {
            const STRUCTURED: bool = true;

            fn from_map<'de, A: serde::de::MapAccess<'de>>(map: A) -> Result<$crate::graph_value::Read<Self>, A::Error> {
                let mut out = Self::default();
                out.read_object(map)?;
                Ok($crate::graph_value::Read::Typed(out))
            }

            fn write<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serde::Serialize::serialize(self, serializer)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                match serde::de::DeserializeSeed::deserialize(
                    $crate::graph_value::ReadSeed::<$name>::new(),
                    deserializer,
                )? {
                    $crate::graph_value::Read::Typed(value) => Ok(value),
                    $crate::graph_value::Read::Verbatim(other) => Err(<D::Error as serde::de::Error>::custom(
                        format_args!(
                            concat!("expected a JSON object for ", stringify!($name), ", found {}"),
                            $crate::graph_value::describe(&other)
                        ),
                    )),
                }
            }
        }
    };

    (@value opt $inner:ty) => { $inner };
    (@value vec $inner:ty) => { Vec<$inner> };
    (@value req $inner:ty) => { $inner };

    (@type opt $inner:ty) => { Option<$inner> };
    (@type vec $inner:ty) => { Vec<$inner> };
    (@type req $inner:ty) => { $inner };

    (@assign opt $place:expr, $typed:expr) => { $place = Some($typed) };
    (@assign vec $place:expr, $typed:expr) => { $place = $typed };
    (@assign req $place:expr, $typed:expr) => { $place = $typed };

    (@explicit_empty opt $place:expr) => { false };
    (@explicit_empty vec $place:expr) => { $place.is_empty() };
    (@explicit_empty req $place:expr) => { $place.is_empty() };

    (@json opt $place:expr) => { serde_json::Value::Null };
    (@json vec $place:expr) => { $crate::graph_value::to_graph_json(&$place) };
    (@json req $place:expr) => { $crate::graph_value::to_graph_json(&$place) };

    (@present opt $place:expr) => { $place.is_some() };
    (@present vec $place:expr) => { !$place.is_empty() };
    (@present req $place:expr) => { !$place.is_empty() };

    (@write opt $map:ident, $json:literal, $place:expr) => {
        if let Some(value) = &$place {
            $map.serialize_entry($json, &$crate::graph_value::AsGraph(value))?;
        }
    };
    (@write vec $map:ident, $json:literal, $place:expr) => {
        if !$place.is_empty() {
            $map.serialize_entry($json, &$crate::graph_value::AsGraph(&$place))?;
        }
    };
    (@write req $map:ident, $json:literal, $place:expr) => {
        if !$place.is_empty() {
            $map.serialize_entry($json, &$crate::graph_value::AsGraph(&$place))?;
        }
    };
}

pub(crate) use graph_struct;

impl<T> Read<T> {
    /// Stores a typed value with `store` and returns `None`, or returns the verbatim value.
    #[inline]
    pub(crate) fn map_into(self, store: impl FnOnce(T)) -> Option<Value> {
        match self {
            Read::Typed(value) => {
                store(value);
                None
            }
            Read::Verbatim(value) => Some(value),
        }
    }
}

/// Any JSON: for properties whose shape Microsoft does not fix. Only `null` goes to `extra`.
impl GraphValue for Value {
    const STRUCTURED: bool = true;

    fn from_str(text: &str) -> Option<Self> {
        Some(Value::String(text.to_owned()))
    }
    fn from_string(text: String) -> Result<Self, String> {
        Ok(Value::String(text))
    }
    fn from_bool(value: bool) -> Option<Self> {
        Some(Value::Bool(value))
    }
    fn from_i64(value: i64) -> Option<Self> {
        Some(Value::Number(value.into()))
    }
    fn from_u64(value: u64) -> Option<Self> {
        Some(Value::Number(value.into()))
    }
    fn from_f64(value: f64) -> Option<Self> {
        Number::from_f64(value).map(Value::Number)
    }
    fn from_map<'de, A: MapAccess<'de>>(map: A) -> Result<Read<Self>, A::Error> {
        Ok(Read::Typed(Value::deserialize(MapAccessDeserializer::new(map))?))
    }
    fn from_seq<'de, A: SeqAccess<'de>>(seq: A) -> Result<Read<Self>, A::Error> {
        Ok(Read::Typed(Value::deserialize(SeqAccessDeserializer::new(seq))?))
    }
    fn write<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.serialize(serializer)
    }
}
