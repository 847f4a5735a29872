//! Algorithm events as types: what a process records for the checkers (`elected`, `enter_cs`,
//! ...), written with one call (`ctx.emit(&ElectionEvent::leader(3))`) and read back by type
//! ([`crate::core::trace::TraceRecord::event_as`]).
//!
//! A trace line keeps its shape: an event is a `name` and a JSON `data` object, exactly as the
//! serde encoding of the enum with `#[serde(tag = "name", content = "data", rename_all =
//! "snake_case")]` gives them. Every variant carries a struct (an empty one is `Foo {}`), so
//! `data` is always an object. The families' events are in [`crate::check::events`]
//! ([`crate::check::events::ElectionEvent`], [`crate::check::events::MutexEvent`]); an algorithm's own events sit beside it (e.g. Raft's `term` and
//! `voted`).

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// An enum of algorithm events, encoded as `{"name": .., "data": {..}}` (see the module doc).
pub trait Event: Serialize + DeserializeOwned {
    /// The event's name and data, as a trace `event` record holds them.
    fn to_parts(&self) -> (String, Value) {
        let Value::Object(mut encoded) = serde_json::to_value(self).expect("events always encode") else {
            panic!("{} does not encode as {{name, data}}", std::any::type_name::<Self>());
        };
        let (Some(Value::String(name)), data) = (encoded.remove("name"), encoded.remove("data")) else {
            panic!("{} does not encode as {{name, data}}", std::any::type_name::<Self>());
        };
        (name, data.unwrap_or_else(|| Value::Object(Default::default())))
    }

    /// Reads a recorded event back; `None` when it is another type's event or its data does not
    /// fit (a field the type needs is missing or of another type).
    fn from_parts(name: &str, data: &Value) -> Option<Self> {
        Self::deserialize(Parts { name, data, next: 0 }).ok()
    }
}

/// A recorded event as the `{"name": .., "data": ..}` map its enum reads, lent rather than
/// rebuilt: checkers ask every record whether it is their type's event, so reading one must not
/// copy its data, and a name that is another type's (most asks) must cost no error message.
struct Parts<'a> {
    name: &'a str,
    data: &'a Value,
    /// The next entry to hand out: 0 the name, 1 the data, 2 none.
    next: u8,
}

/// Not this type's event, or data that does not fit: the reader only needs to know which, so
/// nothing is formatted.
#[derive(Debug)]
struct Miss;

impl std::fmt::Display for Miss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not this type's event")
    }
}

impl std::error::Error for Miss {}

impl serde::de::Error for Miss {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        Miss
    }
}

impl<'de> serde::Deserializer<'de> for Parts<'de> {
    type Error = Miss;

    fn deserialize_any<V: serde::de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Miss> {
        visitor.visit_map(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

impl<'de> serde::de::MapAccess<'de> for Parts<'de> {
    type Error = Miss;

    fn next_key_seed<K: serde::de::DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Miss> {
        let key = match self.next {
            0 => "name",
            1 => "data",
            _ => return Ok(None),
        };
        seed.deserialize(serde::de::value::BorrowedStrDeserializer::new(key)).map(Some)
    }

    fn next_value_seed<V: serde::de::DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Miss> {
        self.next += 1;
        match self.next {
            1 => seed.deserialize(serde::de::value::BorrowedStrDeserializer::new(self.name)),
            _ => seed.deserialize(self.data).map_err(|_| Miss),
        }
    }
}

/// For an `Option<Option<T>>` field that is left out when `None` and written as `null` for
/// `Some(None)`: with `#[serde(default, skip_serializing_if = "Option::is_none", deserialize_with
/// = "present")]`, a `null` in the data reads back as `Some(None)`, not as `None`.
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}
