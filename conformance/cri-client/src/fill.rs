//! JSON -> CRI message with protobuf semantics: a field left out is its default.
//!
//! The k8s-cri types derive serde's `Deserialize` without `#[serde(default)]`, so
//! serde_json alone would want every field of every message spelled out. This
//! deserializer wraps a `serde_json::Value` and answers a struct's missing fields
//! with a value that deserializes to the type's zero (0, "", false, empty list or
//! map, None), as protobuf does. Unknown fields are an error (a typo in a config
//! file should not be silently ignored).

use serde::de::{
    self, value::StringDeserializer, DeserializeOwned, DeserializeSeed, MapAccess, SeqAccess,
    Visitor,
};
use serde::forward_to_deserialize_any;
use serde_json::{Error, Value};

/// Deserialize `T` from `v`, missing fields taking their protobuf defaults.
pub fn from_value<T: DeserializeOwned>(v: Value) -> Result<T, Error> {
    T::deserialize(Filled(v))
}

struct Filled(Value);

/// A map's entries; `Err(name)` is a struct field that was not given.
struct Entries {
    it: std::vec::IntoIter<(String, Result<Value, &'static str>)>,
    value: Option<Result<Value, &'static str>>,
}

impl Entries {
    fn new(v: Vec<(String, Result<Value, &'static str>)>) -> Self {
        Entries {
            it: v.into_iter(),
            value: None,
        }
    }
}

impl<'de> MapAccess<'de> for Entries {
    type Error = Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.it.next() {
            Some((k, v)) => {
                self.value = Some(v);
                seed.deserialize(StringDeserializer::<Error>::new(k))
                    .map(Some)
            }
            None => Ok(None),
        }
    }
    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, Error> {
        match self.value.take() {
            Some(Ok(v)) => seed.deserialize(Filled(v)),
            Some(Err(name)) => seed.deserialize(Missing(name)),
            None => Err(de::Error::custom("map value without a key")),
        }
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.it.len())
    }
}

struct Items(std::vec::IntoIter<Value>);

impl<'de> SeqAccess<'de> for Items {
    type Error = Error;
    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, Error> {
        self.0
            .next()
            .map(|v| seed.deserialize(Filled(v)))
            .transpose()
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

fn struct_entries(
    name: &str,
    fields: &'static [&'static str],
    mut m: serde_json::Map<String, Value>,
) -> Result<Entries, Error> {
    if let Some(k) = m.keys().find(|k| !fields.contains(&k.as_str())) {
        return Err(de::Error::custom(format!(
            "unknown field `{k}` in {name}, expected one of: {}",
            fields.join(", ")
        )));
    }
    Ok(Entries::new(
        fields
            .iter()
            .map(|f| (f.to_string(), m.remove(*f).ok_or(*f)))
            .collect(),
    ))
}

impl<'de> de::Deserializer<'de> for Filled {
    type Error = Error;
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Array(a) => visitor.visit_seq(Items(a.into_iter())),
            Value::Object(m) => visitor.visit_map(Entries::new(
                m.into_iter().map(|(k, v)| (k, Ok(v))).collect(),
            )),
            v => de::Deserializer::deserialize_any(v, visitor),
        }
    }
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            v => visitor.visit_some(Filled(v)),
        }
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            Value::Object(m) => visitor.visit_map(struct_entries(name, fields, m)?),
            v => Err(de::Error::custom(format!(
                "{name}: expected an object, got {v}"
            ))),
        }
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_enum(self.0, name, variants, visitor)
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }
    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map identifier ignored_any
    }
}

/// A struct field that was not given: deserializes to the zero of the asked type.
struct Missing(&'static str);

macro_rules! zero {
    ($($m:ident => $visit:ident($($v:expr)?);)*) => {
        $(fn $m<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> { visitor.$visit($($v)?) })*
    };
}

impl<'de> de::Deserializer<'de> for Missing {
    type Error = Error;
    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
        Err(de::Error::missing_field(self.0))
    }
    zero! {
        deserialize_bool => visit_bool(false);
        deserialize_i8 => visit_i64(0);
        deserialize_i16 => visit_i64(0);
        deserialize_i32 => visit_i64(0);
        deserialize_i64 => visit_i64(0);
        deserialize_u8 => visit_u64(0);
        deserialize_u16 => visit_u64(0);
        deserialize_u32 => visit_u64(0);
        deserialize_u64 => visit_u64(0);
        deserialize_f32 => visit_f64(0.0);
        deserialize_f64 => visit_f64(0.0);
        deserialize_str => visit_str("");
        deserialize_string => visit_str("");
        deserialize_bytes => visit_bytes(b"");
        deserialize_byte_buf => visit_bytes(b"");
        deserialize_unit => visit_unit();
        deserialize_identifier => visit_unit();
        deserialize_ignored_any => visit_unit();
    }
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_none()
    }
    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_seq(Items(Vec::new().into_iter()))
    }
    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }
    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_map(Entries::new(Vec::new()))
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_map(struct_entries(name, fields, serde_json::Map::new())?)
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }
    fn deserialize_char<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
        Err(de::Error::missing_field(self.0))
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Error> {
        Err(de::Error::missing_field(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::from_value;
    use k8s_cri::v1::{ContainerConfig, PodSandboxConfig};
    use serde_json::json;

    #[test]
    fn missing_fields_are_defaults() {
        let p: PodSandboxConfig = from_value(json!({
            "metadata": {"name": "p", "uid": "u"},
            "linux": {"security_context": {"namespace_options": {"network": 2}}},
            "labels": {"a": "b"}
        }))
        .unwrap();
        let m = p.metadata.unwrap();
        assert_eq!(
            (m.name.as_str(), m.namespace.as_str(), m.attempt),
            ("p", "", 0)
        );
        assert_eq!(p.labels["a"], "b");
        assert!(p.dns_config.is_none() && p.port_mappings.is_empty());
        let ns = p
            .linux
            .unwrap()
            .security_context
            .unwrap()
            .namespace_options
            .unwrap();
        assert_eq!((ns.network, ns.pid), (2, 0));
    }

    #[test]
    fn lists_and_unknown_fields() {
        let c: ContainerConfig = from_value(json!({
            "command": ["sh", "-c", "true"],
            "envs": [{"key": "K", "value": "V"}],
            "image": {"image": "img"}
        }))
        .unwrap();
        assert_eq!(c.command, ["sh", "-c", "true"]);
        assert_eq!(c.envs[0].key, "K");
        assert_eq!(c.image.unwrap().image, "img");
        let e = from_value::<ContainerConfig>(json!({"comand": []}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `comand`"), "{e}");
    }
}
