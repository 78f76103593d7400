//! Built-in aggregations that do not depend on the order of their input, and the
//! declaration that a user's function does not either.
//!
//! Order-insensitive functions let sliding windows pre-aggregate slices of time that
//! overlapping windows share (`operator/sliced_window.rs`) instead of adding every
//! record to every window that holds it.

use std::ops::Add;

use super::{AggregateFunction, FnResult, ReduceFunction};
use crate::context::RuntimeContext;

/// Declares that a [`ReduceFunction`] or [`AggregateFunction`] is commutative and
/// associative: its result depends neither on the order of its input nor on how partial
/// results are combined.
///
/// Declaring it for a function that is not (keep-first, concatenation, an average of
/// averages) gives sliding windows other results than Flink's.
///
/// ```
/// use spate_runtime::functions::{Commutative, ReduceFunction};
///
/// let mut sum = Commutative(|a: u64, b: u64| a + b);
/// assert!(sum.is_commutative());
/// assert_eq!(sum.reduce(2, 3).unwrap(), 5);
/// // A closure alone declares nothing: sliding windows keep it per window.
/// assert!(!(|a: u64, b: u64| a + b).is_commutative());
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Commutative<F>(pub F);

impl<T, F: ReduceFunction<T>> ReduceFunction<T> for Commutative<F> {
    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        self.0.open(ctx)
    }
    #[inline]
    fn reduce(&mut self, accumulated: T, value: T) -> FnResult<T> {
        self.0.reduce(accumulated, value)
    }
    fn close(&mut self) -> FnResult {
        self.0.close()
    }
    fn is_commutative(&self) -> bool {
        true
    }
}

impl<IN, ACC, OUT, F: AggregateFunction<IN, ACC, OUT>> AggregateFunction<IN, ACC, OUT> for Commutative<F> {
    fn create_accumulator(&mut self) -> ACC {
        self.0.create_accumulator()
    }
    #[inline]
    fn add(&mut self, value: IN, accumulator: &mut ACC) {
        self.0.add(value, accumulator)
    }
    fn get_result(&mut self, accumulator: &ACC) -> OUT {
        self.0.get_result(accumulator)
    }
    fn merge(&mut self, a: ACC, b: ACC) -> ACC {
        self.0.merge(a, b)
    }
    fn is_commutative(&self) -> bool {
        true
    }
}

/// Counts records (`u64`).
///
/// ```
/// use spate_runtime::functions::{AggregateFunction, Count};
///
/// let mut acc = AggregateFunction::<char, _, _>::create_accumulator(&mut Count);
/// for c in ['a', 'b', 'a'] {
///     Count.add(c, &mut acc);
/// }
/// assert_eq!(AggregateFunction::<char, _, _>::get_result(&mut Count, &acc), 3);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Count;

impl<T> AggregateFunction<T, u64, u64> for Count {
    #[inline]
    fn create_accumulator(&mut self) -> u64 {
        0
    }
    #[inline]
    fn add(&mut self, _: T, accumulator: &mut u64) {
        *accumulator += 1;
    }
    #[inline]
    fn get_result(&mut self, accumulator: &u64) -> u64 {
        *accumulator
    }
    fn merge(&mut self, a: u64, b: u64) -> u64 {
        a + b
    }
    fn is_commutative(&self) -> bool {
        true
    }
}

/// Sums a number taken from each record.
///
/// ```
/// use spate_runtime::functions::{AggregateFunction, Sum};
///
/// let mut sum = Sum::of(|r: &(&str, i64)| r.1);
/// let mut acc = sum.create_accumulator();
/// sum.add(("a", 2), &mut acc);
/// sum.add(("b", 5), &mut acc);
/// assert_eq!(sum.get_result(&acc), 7);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Sum<F>(F);

impl<F> Sum<F> {
    /// Sums `field(record)`.
    pub fn of<T, N>(field: F) -> Self
    where
        F: Fn(&T) -> N,
    {
        Sum(field)
    }
}

/// A number [`Sum`] adds up, and whether its addition is exact: integers add the same
/// in any order and grouping, floating-point numbers round differently, so their sums
/// are not declared commutative (sliding windows keep them per window, in arrival
/// order, as Flink does).
pub trait Summable: Copy + Default + Add<Output = Self> + 'static {
    /// Whether `(a + b) + c == a + (b + c)` always holds.
    const EXACT: bool;
}

macro_rules! summable {
    ($exact:expr => $($t:ty),*) => { $(impl Summable for $t { const EXACT: bool = $exact; })* };
}
summable!(true => i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize);
summable!(false => f32, f64);

impl<T, N, F> AggregateFunction<T, N, N> for Sum<F>
where
    N: Summable,
    F: Fn(&T) -> N + Send + 'static,
{
    #[inline]
    fn create_accumulator(&mut self) -> N {
        N::default()
    }
    #[inline]
    fn add(&mut self, value: T, accumulator: &mut N) {
        *accumulator = *accumulator + (self.0)(&value);
    }
    #[inline]
    fn get_result(&mut self, accumulator: &N) -> N {
        *accumulator
    }
    fn merge(&mut self, a: N, b: N) -> N {
        a + b
    }
    fn is_commutative(&self) -> bool {
        N::EXACT
    }
}

macro_rules! extremum {
    ($(#[$doc:meta])* $name:ident, $keep:tt) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug)]
        pub struct $name<F>(F);

        impl<F> $name<F> {
            /// Of `field(record)`.
            pub fn of<T, N>(field: F) -> Self
            where
                F: Fn(&T) -> N,
            {
                $name(field)
            }
        }

        /// The accumulator is empty only before the first record: windows and keyed
        /// aggregations never emit it, and it reads as `N::default()`. Declared
        /// commutative: the extreme does not depend on the order (but a NaN, which
        /// compares with nothing, keeps whichever value came first).
        impl<T, N, F> AggregateFunction<T, Option<N>, N> for $name<F>
        where
            N: Copy + Default + PartialOrd + 'static,
            F: Fn(&T) -> N + Send + 'static,
        {
            #[inline]
            fn create_accumulator(&mut self) -> Option<N> {
                None
            }
            #[inline]
            fn add(&mut self, value: T, accumulator: &mut Option<N>) {
                let candidate = (self.0)(&value);
                match accumulator {
                    // Ties (and incomparable values) keep the first.
                    Some(current) if candidate $keep *current => *current = candidate,
                    Some(_) => {}
                    None => *accumulator = Some(candidate),
                }
            }
            #[inline]
            fn get_result(&mut self, accumulator: &Option<N>) -> N {
                accumulator.unwrap_or_default()
            }
            fn merge(&mut self, a: Option<N>, b: Option<N>) -> Option<N> {
                match (a, b) {
                    (Some(a), Some(b)) => Some(if b $keep a { b } else { a }),
                    (a, b) => a.or(b),
                }
            }
            fn is_commutative(&self) -> bool {
                true
            }
        }
    };
}

extremum!(
    /// The smallest number taken from the records (the first of equal ones).
    ///
    /// ```
    /// use spate_runtime::functions::{AggregateFunction, Min};
    ///
    /// let mut min = Min::of(|x: &i64| *x);
    /// let mut acc = min.create_accumulator();
    /// for x in [4, 2, 9] {
    ///     min.add(x, &mut acc);
    /// }
    /// assert_eq!(min.get_result(&acc), 2);
    /// ```
    Min,
    <
);
extremum!(
    /// The largest number taken from the records (the first of equal ones).
    ///
    /// ```
    /// use spate_runtime::functions::{AggregateFunction, Max};
    ///
    /// let mut max = Max::of(|x: &i64| *x);
    /// let mut acc = max.create_accumulator();
    /// for x in [4, 2, 9] {
    ///     max.add(x, &mut acc);
    /// }
    /// assert_eq!(max.get_result(&acc), 9);
    /// ```
    Max,
    >
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_aggregates_merge_as_they_add() {
        let values = [5i64, -3, 8, 8, 0];
        let mut min = Min::of(|x: &i64| *x);
        let mut max = Max::of(|x: &i64| *x);
        let mut sum = Sum::of(|x: &i64| *x);
        let (mut a, mut b) = (min.create_accumulator(), min.create_accumulator());
        let (mut c, mut d) = (max.create_accumulator(), max.create_accumulator());
        let (mut e, mut f) = (sum.create_accumulator(), sum.create_accumulator());
        for (i, v) in values.iter().enumerate() {
            if i % 2 == 0 {
                min.add(*v, &mut a);
                max.add(*v, &mut c);
                sum.add(*v, &mut e);
            } else {
                min.add(*v, &mut b);
                max.add(*v, &mut d);
                sum.add(*v, &mut f);
            }
        }
        let merged = min.merge(a, b);
        assert_eq!(min.get_result(&merged), -3);
        let merged = max.merge(c, d);
        assert_eq!(max.get_result(&merged), 8);
        assert_eq!(sum.merge(e, f), 18);
        assert!(AggregateFunction::<i64, i64, i64>::is_commutative(&sum));
        let float_sum = Sum::of(|x: &f64| *x);
        assert!(!AggregateFunction::<f64, f64, f64>::is_commutative(&float_sum), "float sums round by order");
        assert_eq!(min.merge(None, Some(4)), Some(4));
        let mut count = Count;
        let mut n = AggregateFunction::<(), _, _>::create_accumulator(&mut count);
        AggregateFunction::<(), _, _>::add(&mut count, (), &mut n);
        assert_eq!(AggregateFunction::<(), _, _>::merge(&mut count, n, 2), 3);
        assert!(AggregateFunction::<(), u64, u64>::is_commutative(&count));
    }

    #[test]
    fn commutative_declares_and_delegates() {
        let mut plain = |a: i64, b: i64| a + b;
        assert!(!ReduceFunction::is_commutative(&plain));
        assert_eq!(ReduceFunction::reduce(&mut plain, 1, 2).unwrap(), 3);
        let mut declared = Commutative(|a: i64, b: i64| a + b);
        assert!(ReduceFunction::is_commutative(&declared));
        assert_eq!(ReduceFunction::reduce(&mut declared, 1, 2).unwrap(), 3);
    }
}
