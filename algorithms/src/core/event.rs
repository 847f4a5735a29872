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
        serde_json::from_value(serde_json::json!({ "name": name, "data": data })).ok()
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
