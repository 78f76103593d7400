//! How the key of a record is found.
//!
//! A key selector either computes the key (`key_by(|r| r.0 % 10)`) or points at a field
//! of the record (`key_by_ref(|r| &r.word)`). A field is read in place to route the
//! record, hash it and look up its state, and is copied only when a new key enters
//! state: for a string key, that saves an allocation and a free per record.

use std::sync::Arc;

/// Finds the key of a record.
pub trait KeyExtractor<T, K>: Send + Sync {
    /// The key as a reference into the record, if this selector reads a field.
    fn borrowed<'a>(&self, value: &'a T) -> Option<&'a K>;

    /// The key as a value of its own.
    fn owned(&self, value: &T) -> K;
}

/// A shared key selector, as the partitioner and the keyed operator both use it.
pub type KeySelector<T, K> = Arc<dyn KeyExtractor<T, K>>;

/// A selector that computes the key.
pub struct ComputedKey<F>(pub F);

impl<T, K, F> KeyExtractor<T, K> for ComputedKey<F>
where
    F: Fn(&T) -> K + Send + Sync,
{
    #[inline]
    fn borrowed<'a>(&self, _value: &'a T) -> Option<&'a K> {
        None
    }

    #[inline]
    fn owned(&self, value: &T) -> K {
        (self.0)(value)
    }
}

/// A selector that reads a field of the record.
pub struct FieldKey<F>(pub F);

impl<T, K, F> KeyExtractor<T, K> for FieldKey<F>
where
    K: Clone,
    F: for<'a> Fn(&'a T) -> &'a K + Send + Sync,
{
    #[inline]
    fn borrowed<'a>(&self, value: &'a T) -> Option<&'a K> {
        Some((self.0)(value))
    }

    #[inline]
    fn owned(&self, value: &T) -> K {
        (self.0)(value).clone()
    }
}

/// Applies `f` to the key of `value`, borrowing it if the selector can.
#[inline]
pub fn with_key<T, K, R>(selector: &dyn KeyExtractor<T, K>, value: &T, f: impl FnOnce(&K) -> R) -> R {
    match selector.borrowed(value) {
        Some(key) => f(key),
        None => f(&selector.owned(value)),
    }
}
