//! A nesting limit for any `serde` deserializer, for codecs whose format has
//! none (or an incomplete one): the postcard codec, the MessagePack example
//! codec and the reader of RusToK's MessagePack envelopes all use it.
//!
//! A deserializer recurses once per nested value, and a recursive event type
//! (`enum Tree { Leaf, Node(Box<Tree>) }`) lets crafted bytes nest as deep as
//! the payload is long. postcard has no limit at all; `rmp-serde` counts arrays
//! and maps but not enums. A megabyte of such bytes recurses a million times
//! and overflows the stack, which aborts the whole process: no error, no DLQ
//! entry, no chance to catch it. [`DepthGuard::limit`] wraps any
//! `serde::Deserializer` and makes it fail with the format's own error type once
//! values nest deeper than a limit, long before the stack is at risk.
//!
//! It counts a level each time a visitor is handed a compound value (`Some`, a
//! newtype struct, a sequence, a map, an enum), which is every way a
//! `Deserialize` impl can recurse into the same deserializer. Some formats
//! (postcard among them) drop the text of custom errors, so the guard also
//! records that the limit was hit, for the codec to say so in its error.
//!
//! ```
//! use rustok_iggy::depth::DepthGuard;
//! use serde::Deserialize;
//!
//! #[derive(Debug, Deserialize)]
//! enum Tree { Leaf, Node(Box<Tree>) }
//!
//! // `Node(Node(... Leaf))`, a million levels deep.
//! let mut bytes = vec![1_u8; 1_000_000];
//! bytes.push(0);
//!
//! let guard = DepthGuard::new(128);
//! let mut de = postcard::Deserializer::from_bytes(&bytes);
//! assert!(Tree::deserialize(guard.limit(&mut de)).is_err());
//! assert!(guard.exceeded());
//! assert_eq!(guard.message(), "value nests deeper than 128 levels");
//! ```

use std::{cell::Cell, fmt};

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};

/// A nesting limit, and whether a deserializer it wrapped hit it. Use one guard
/// per decoded value.
#[derive(Debug)]
pub struct DepthGuard {
    max: usize,
    exceeded: Cell<bool>,
}

impl DepthGuard {
    /// A limit of `max_depth` nested compound values (options, newtype structs,
    /// sequences, tuples, structs, maps, enums).
    pub fn new(max_depth: usize) -> Self {
        Self {
            max: max_depth,
            exceeded: Cell::new(false),
        }
    }

    /// The limit.
    pub fn max_depth(&self) -> usize {
        self.max
    }

    /// Wraps `inner` so that it fails on values nested deeper than the limit.
    /// Pass `&mut` to a format's deserializer to keep it for checking what is
    /// left after the value.
    pub fn limit<D>(&self, inner: D) -> DepthLimited<'_, D> {
        DepthLimited {
            inner,
            budget: Budget {
                remaining: self.max,
                guard: self,
            },
        }
    }

    /// Whether a value nested deeper than the limit; when it did, that is why
    /// the decode failed, whatever the format made of the error's text.
    pub fn exceeded(&self) -> bool {
        self.exceeded.get()
    }

    /// The error text for a value beyond the limit.
    pub fn message(&self) -> String {
        format!("value nests deeper than {} levels", self.max)
    }
}

/// How many more levels may nest.
#[derive(Debug, Clone, Copy)]
struct Budget<'g> {
    remaining: usize,
    guard: &'g DepthGuard,
}

impl Budget<'_> {
    fn descend<E: de::Error>(self) -> Result<Self, E> {
        match self.remaining.checked_sub(1) {
            Some(remaining) => Ok(Self { remaining, ..self }),
            None => {
                self.guard.exceeded.set(true);
                Err(E::custom(self.guard.message()))
            }
        }
    }
}

/// A deserializer that fails on values nested deeper than a limit; made by
/// [`DepthGuard::limit`].
#[derive(Debug)]
pub struct DepthLimited<'g, D> {
    inner: D,
    budget: Budget<'g>,
}

macro_rules! forward_deserialize {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, D::Error> {
                self.inner.$method($($arg,)* Limited { inner: visitor, budget: self.budget })
            }
        )*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for DepthLimited<'_, D> {
    type Error = D::Error;

    forward_deserialize! {
        deserialize_any();
        deserialize_bool();
        deserialize_i8();
        deserialize_i16();
        deserialize_i32();
        deserialize_i64();
        deserialize_i128();
        deserialize_u8();
        deserialize_u16();
        deserialize_u32();
        deserialize_u64();
        deserialize_u128();
        deserialize_f32();
        deserialize_f64();
        deserialize_char();
        deserialize_str();
        deserialize_string();
        deserialize_bytes();
        deserialize_byte_buf();
        deserialize_option();
        deserialize_unit();
        deserialize_unit_struct(name: &'static str);
        deserialize_newtype_struct(name: &'static str);
        deserialize_seq();
        deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize);
        deserialize_map();
        deserialize_struct(name: &'static str, fields: &'static [&'static str]);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
        deserialize_identifier();
        deserialize_ignored_any();
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// Wraps a visitor, a seed, or an access so that everything below it stays
/// limited.
struct Limited<'g, T> {
    inner: T,
    budget: Budget<'g>,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Limited<'_, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<S::Value, D::Error> {
        self.inner.deserialize(DepthLimited {
            inner: deserializer,
            budget: self.budget,
        })
    }
}

macro_rules! forward_visit {
    ($($method:ident($ty:ty);)*) => {
        $(
            fn $method<E: de::Error>(self, v: $ty) -> Result<Self::Value, E> {
                self.inner.$method(v)
            }
        )*
    };
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Limited<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    forward_visit! {
        visit_bool(bool);
        visit_i8(i8);
        visit_i16(i16);
        visit_i32(i32);
        visit_i64(i64);
        visit_i128(i128);
        visit_u8(u8);
        visit_u16(u16);
        visit_u32(u32);
        visit_u64(u64);
        visit_u128(u128);
        visit_f32(f32);
        visit_f64(f64);
        visit_char(char);
        visit_str(&str);
        visit_borrowed_str(&'de str);
        visit_string(String);
        visit_bytes(&[u8]);
        visit_borrowed_bytes(&'de [u8]);
        visit_byte_buf(Vec<u8>);
    }

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        let budget = self.budget.descend()?;
        self.inner.visit_some(DepthLimited {
            inner: deserializer,
            budget,
        })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<V::Value, D::Error> {
        let budget = self.budget.descend()?;
        self.inner.visit_newtype_struct(DepthLimited {
            inner: deserializer,
            budget,
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        let budget = self.budget.descend()?;
        self.inner.visit_seq(Limited { inner: seq, budget })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        let budget = self.budget.descend()?;
        self.inner.visit_map(Limited { inner: map, budget })
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        let budget = self.budget.descend()?;
        self.inner.visit_enum(Limited {
            inner: data,
            budget,
        })
    }
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Limited<'_, A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        self.inner.next_element_seed(Limited {
            inner: seed,
            budget: self.budget,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Limited<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        self.inner.next_key_seed(Limited {
            inner: seed,
            budget: self.budget,
        })
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        self.inner.next_value_seed(Limited {
            inner: seed,
            budget: self.budget,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'g, 'de, A: EnumAccess<'de>> EnumAccess<'de> for Limited<'g, A> {
    type Error = A::Error;
    type Variant = Limited<'g, A::Variant>;

    fn variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<(T::Value, Self::Variant), A::Error> {
        let budget = self.budget;
        let (value, variant) = self.inner.variant_seed(Limited {
            inner: seed,
            budget,
        })?;
        Ok((
            value,
            Limited {
                inner: variant,
                budget,
            },
        ))
    }
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for Limited<'_, A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.inner.unit_variant()
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        self.inner.newtype_variant_seed(Limited {
            inner: seed,
            budget: self.budget,
        })
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.inner.tuple_variant(
            len,
            Limited {
                inner: visitor,
                budget: self.budget,
            },
        )
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.inner.struct_variant(
            fields,
            Limited {
                inner: visitor,
                budget: self.budget,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    enum Tree {
        Leaf,
        Node(Box<Tree>),
    }

    fn decode(bytes: &[u8], max: usize) -> Result<Tree, postcard::Error> {
        let mut de = postcard::Deserializer::from_bytes(bytes);
        Tree::deserialize(DepthGuard::new(max).limit(&mut de))
    }

    #[test]
    fn values_within_the_limit_decode() {
        // Node(Node(Leaf)): two enum levels around a unit one, three in all.
        assert_eq!(
            decode(&[1, 1, 0], 3).ok(),
            Some(Tree::Node(Box::new(Tree::Node(Box::new(Tree::Leaf)))))
        );
    }

    #[test]
    fn values_beyond_the_limit_fail_instead_of_recursing() {
        assert!(decode(&[1, 1, 0], 2).is_err());
        // Without the limit this would recurse a million times.
        let guard = DepthGuard::new(128);
        let mut de = postcard::Deserializer::from_bytes(&[1; 1 << 20]);
        assert!(Tree::deserialize(guard.limit(&mut de)).is_err());
        assert!(guard.exceeded());
        assert_eq!(guard.message(), "value nests deeper than 128 levels");
    }

    #[test]
    fn other_errors_do_not_count_as_exceeding() {
        let guard = DepthGuard::new(128);
        let mut de = postcard::Deserializer::from_bytes(&[1, 1, 9]);
        assert!(Tree::deserialize(guard.limit(&mut de)).is_err());
        assert!(!guard.exceeded());
    }

    #[test]
    fn sequences_maps_and_options_count_as_levels() {
        #[derive(Debug, Deserialize)]
        struct Wrap(Option<Vec<Vec<u8>>>);
        // newtype, option, outer seq, inner seq: four levels.
        let bytes = postcard::to_stdvec(&Some(vec![vec![7_u8]])).unwrap_or_default();
        let ok = |max| {
            let mut de = postcard::Deserializer::from_bytes(&bytes);
            Wrap::deserialize(DepthGuard::new(max).limit(&mut de))
                .is_ok_and(|w| w.0 == Some(vec![vec![7]]))
        };
        assert!(ok(4));
        assert!(!ok(3));
    }
}
