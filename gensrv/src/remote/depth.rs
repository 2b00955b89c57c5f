//! A nesting limit for what comes from the network.
//!
//! postcard has none: a message of a recursive type (`enum Tree { Leaf,
//! Node(Box<Tree>) }`) takes one byte a level, so a 400 kB body nests 400 000
//! levels, and its decoding overflows the stack of the thread that decodes it
//! (an abort, not a panic: the whole node goes), as would its drop later. So
//! every decode goes through [`Limited`], a `Deserializer` that wraps another
//! and fails once values nest deeper than [`MAX_DEPTH`]: the sender gets a
//! refusal, and the node serves on.
//!
//! Every value that can hold another (a sequence, a map, an option, an enum, a
//! newtype, a struct) is one level; only the wrappers below count them, so the
//! wrapped deserializer and the visitors it calls are untouched.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, Visitor};

/// How deep the values of one message may nest. Far beyond any message written
/// by hand, and far below what overflows the smallest thread stack a node
/// decodes on (Zenoh's, 2 MiB), in debug builds too.
pub(crate) const MAX_DEPTH: usize = 256;

/// Decodes a `T` from `deserializer`, nesting at most [`MAX_DEPTH`] levels.
pub(crate) fn deserialize<'de, T, D>(deserializer: D) -> Result<T, D::Error>
where
    T: de::Deserialize<'de>,
    D: Deserializer<'de>,
{
    T::deserialize(Limited {
        inner: deserializer,
        depth: 0,
    })
}

/// `inner`, at `depth` levels down.
struct Limited<D> {
    inner: D,
    depth: usize,
}

fn too_deep<E: de::Error>() -> E {
    E::custom(super::wire::why(format_args!(
        "values nest deeper than {MAX_DEPTH} levels"
    )))
}

impl<D> Limited<D> {
    /// One level further down, or an error past the limit.
    fn down<E: de::Error>(&self) -> Result<usize, E> {
        if self.depth >= MAX_DEPTH {
            return Err(too_deep());
        }
        Ok(self.depth + 1)
    }
}

/// The visitor of a value at `depth`: what it is handed to visit is wrapped
/// again, one level down.
struct Wrap<V> {
    inner: V,
    depth: usize,
}

/// A seed at `depth`: the value it decodes is wrapped.
struct Seed<S> {
    inner: S,
    depth: usize,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Seed<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<S::Value, D::Error> {
        self.inner.deserialize(Limited {
            inner: deserializer,
            depth: self.depth,
        })
    }
}

/// Forwards the `deserialize_*` methods that take only a visitor.
macro_rules! forward {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
                let depth = self.down()?;
                self.inner.$method(Wrap { inner: visitor, depth })
            }
        )*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Limited<D> {
    type Error = D::Error;

    forward! {
        deserialize_any deserialize_bool
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
        deserialize_f32 deserialize_f64 deserialize_char deserialize_str deserialize_string
        deserialize_bytes deserialize_byte_buf deserialize_option deserialize_unit
        deserialize_seq deserialize_map deserialize_identifier deserialize_ignored_any
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let depth = self.down()?;
        self.inner.deserialize_unit_struct(
            name,
            Wrap {
                inner: visitor,
                depth,
            },
        )
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let depth = self.down()?;
        self.inner.deserialize_newtype_struct(
            name,
            Wrap {
                inner: visitor,
                depth,
            },
        )
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let depth = self.down()?;
        self.inner.deserialize_tuple(
            len,
            Wrap {
                inner: visitor,
                depth,
            },
        )
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let depth = self.down()?;
        self.inner.deserialize_tuple_struct(
            name,
            len,
            Wrap {
                inner: visitor,
                depth,
            },
        )
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let depth = self.down()?;
        self.inner.deserialize_struct(
            name,
            fields,
            Wrap {
                inner: visitor,
                depth,
            },
        )
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let depth = self.down()?;
        self.inner.deserialize_enum(
            name,
            variants,
            Wrap {
                inner: visitor,
                depth,
            },
        )
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// Forwards the `visit_*` methods of plain values.
macro_rules! visit {
    ($($method:ident: $ty:ty)*) => {
        $(
            fn $method<E: de::Error>(self, value: $ty) -> Result<V::Value, E> {
                self.inner.$method(value)
            }
        )*
    };
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Wrap<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    visit! {
        visit_bool: bool
        visit_i8: i8 visit_i16: i16 visit_i32: i32 visit_i64: i64 visit_i128: i128
        visit_u8: u8 visit_u16: u16 visit_u32: u32 visit_u64: u64 visit_u128: u128
        visit_f32: f32 visit_f64: f64 visit_char: char
        visit_str: &str visit_borrowed_str: &'de str visit_string: String
        visit_bytes: &[u8] visit_borrowed_bytes: &'de [u8] visit_byte_buf: Vec<u8>
    }

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        self.inner.visit_some(Limited {
            inner: deserializer,
            depth: self.depth,
        })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<V::Value, D::Error> {
        self.inner.visit_newtype_struct(Limited {
            inner: deserializer,
            depth: self.depth,
        })
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.inner.visit_seq(Wrap {
            inner: seq,
            depth: self.depth,
        })
    }

    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.inner.visit_map(Wrap {
            inner: map,
            depth: self.depth,
        })
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.inner.visit_enum(Wrap {
            inner: data,
            depth: self.depth,
        })
    }
}

impl<'de, A: de::SeqAccess<'de>> de::SeqAccess<'de> for Wrap<A> {
    type Error = A::Error;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, A::Error> {
        self.inner.next_element_seed(Seed {
            inner: seed,
            depth: self.depth,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'de, A: de::MapAccess<'de>> de::MapAccess<'de> for Wrap<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        self.inner.next_key_seed(Seed {
            inner: seed,
            depth: self.depth,
        })
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        self.inner.next_value_seed(Seed {
            inner: seed,
            depth: self.depth,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'de, A: de::EnumAccess<'de>> de::EnumAccess<'de> for Wrap<A> {
    type Error = A::Error;
    type Variant = Wrap<A::Variant>;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Wrap<A::Variant>), A::Error> {
        let depth = self.depth;
        let (value, variant) = self.inner.variant_seed(Seed { inner: seed, depth })?;
        Ok((
            value,
            Wrap {
                inner: variant,
                depth,
            },
        ))
    }
}

impl<'de, A: de::VariantAccess<'de>> de::VariantAccess<'de> for Wrap<A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.inner.unit_variant()
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, A::Error> {
        self.inner.newtype_variant_seed(Seed {
            inner: seed,
            depth: self.depth,
        })
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.inner.tuple_variant(
            len,
            Wrap {
                inner: visitor,
                depth: self.depth,
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
            Wrap {
                inner: visitor,
                depth: self.depth,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Tree {
        Leaf,
        Node(Box<Tree>),
        Pair {
            left: Box<Tree>,
            right: Option<Box<Tree>>,
        },
    }

    fn decode<T: de::DeserializeOwned>(bytes: &[u8]) -> Result<T, postcard::Error> {
        deserialize(&mut postcard::Deserializer::from_bytes(bytes))
    }

    #[test]
    fn values_decode_as_before_within_the_limit() {
        let mut tree = Tree::Leaf;
        for i in 0..40 {
            tree = if i % 2 == 0 {
                Tree::Node(Box::new(tree))
            } else {
                Tree::Pair {
                    left: Box::new(tree),
                    right: Some(Box::new(Tree::Leaf)),
                }
            };
        }
        let value = (vec![1u32, 2], Some("text".to_string()), tree);
        let bytes = postcard::to_stdvec(&value).unwrap();
        assert_eq!(
            decode::<(Vec<u32>, Option<String>, Tree)>(&bytes).unwrap(),
            value
        );
    }

    #[test]
    fn a_value_nested_past_the_limit_is_an_error_not_an_overflow() {
        // `Node(Node(..(Leaf)))`, 400 000 levels: one byte each.
        let mut bytes = vec![1u8; 400_000];
        bytes.push(0);
        assert!(decode::<Tree>(&bytes).is_err());
        // Nested options and sequences too.
        let mut bytes = vec![1u8; 100_000];
        bytes.push(0);
        assert!(decode::<Nested>(&bytes).is_err());
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Nested(Option<Box<Nested>>);
}
