//! Lets a CRD's `spec` be absent, as MetalLB's `omitempty` specs may be.
//!
//! kube's derive gives the root struct a plain `spec: T` field, so a missing `spec` would fail
//! to deserialize — and one such object would break every watcher of its kind. Spec types
//! declared with `#[serde(remote = "Self")]` get their derived (de)serializers as inherent
//! functions; [`optional_spec!`] then implements the traits so that a missing or `null` spec
//! becomes `T::default()` (serde asks a missing field for an `Option`, which we answer).

/// Implements `Serialize`/`Deserialize` for a spec type declared with `#[serde(remote = "Self")]`,
/// accepting a missing or `null` spec as `Default::default()`.
#[macro_export]
macro_rules! optional_spec {
    ($ty:ty) => {
        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct OptionalSpec;
                impl<'de> ::serde::de::Visitor<'de> for OptionalSpec {
                    type Value = $ty;
                    fn expecting(&self, f: &mut ::std::fmt::Formatter) -> ::std::fmt::Result {
                        f.write_str("a spec object")
                    }
                    fn visit_none<E: ::serde::de::Error>(self) -> Result<$ty, E> {
                        Ok(<$ty>::default())
                    }
                    fn visit_unit<E: ::serde::de::Error>(self) -> Result<$ty, E> {
                        Ok(<$ty>::default())
                    }
                    fn visit_some<D2: ::serde::Deserializer<'de>>(
                        self,
                        d: D2,
                    ) -> Result<$ty, D2::Error> {
                        <$ty>::deserialize(d)
                    }
                }
                d.deserialize_option(OptionalSpec)
            }
        }
        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                <$ty>::serialize(self, s)
            }
        }
    };
}
