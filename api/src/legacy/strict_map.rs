//! A string map that rejects duplicate keys while deserializing, as yaml.v2's `UnmarshalStrict`
//! does (serde's `BTreeMap` silently keeps the last value).

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{Deserialize, Deserializer, Error, MapAccess, Visitor};
use serde::{Serialize, Serializer};

/// Sorted `String → String` map whose deserializer fails on a repeated key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StrictMap(pub BTreeMap<String, String>);

impl<'de> Deserialize<'de> for StrictMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrictVisitor;
        impl<'de> Visitor<'de> for StrictVisitor {
            type Value = StrictMap;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of strings")
            }
            fn visit_unit<E: Error>(self) -> Result<StrictMap, E> {
                Ok(StrictMap::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<StrictMap, A::Error> {
                let mut map = BTreeMap::new();
                while let Some((key, value)) =
                    access.next_entry::<String, super::types::Scalar>()?
                {
                    if map.contains_key(&key) {
                        return Err(A::Error::custom(format!("duplicate key {key:?}")));
                    }
                    map.insert(key, value.0);
                }
                Ok(StrictMap(map))
            }
        }
        deserializer.deserialize_any(StrictVisitor)
    }
}

impl Serialize for StrictMap {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}
