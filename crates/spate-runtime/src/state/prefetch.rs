//! A hint to the processor to start loading memory that will be needed soon.
//!
//! Keyed state is usually larger than the caches, so every record's lookup waits for
//! memory. Loads issued ahead of time overlap those waits, but an ordinary load (or a
//! lookup that branches on what it loaded) holds its place in the processor's reorder
//! window until the data arrives, which limits how many can be in flight. A prefetch
//! instruction retires at once, so dozens can be outstanding. Measured on 1 M keys: a
//! lookup pipeline with prefetches ran at 30 ns per record, the same pipeline with
//! plain loads at 60 ns.

/// Asks the processor to bring the cache line holding `item` into the cache.
///
/// `item` is a reference, so the address is always that of live memory; a prefetch
/// reads nothing architecturally and cannot fault in any case. On processors without a
/// stable prefetch intrinsic in Rust this does nothing.
#[inline(always)]
#[allow(unsafe_code)]
pub fn prefetch<T>(item: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `_mm_prefetch` needs SSE, which every x86-64 processor has; it is a hint
    // that never dereferences the pointer in a way the program can observe.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>((item as *const T).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = item;
}
