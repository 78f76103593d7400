//! Spate's benchmarks: the same jobs, on the same input, as the Apache Flink reference
//! figures in `docs/benchmarks.md`, and plain single-threaded loops doing the same work
//! as the practical limit.

pub mod gen_text;
pub mod jobs;
pub mod plain;

/// The splitmix64 mixing function, as defined by the reference generator.
#[inline]
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The key of record `j` of the keyed benchmarks: `(splitmix64(j) >> 1) % keys`.
#[inline]
pub fn keyed_record(j: u64, keys: u64) -> (u64, u64) {
    ((splitmix64(j) >> 1) % keys, j)
}

/// The peak resident set size of this process, in bytes (Linux `VmHWM`).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Whether a character belongs to a word, as Java's `\w` (ASCII letters, digits, `_`).
#[inline]
pub fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The byte ranges of the words of `text`: maximal runs of word bytes (Flink's
/// WordCount splits on `\W+` and drops empty tokens). Both ends of every range are
/// ASCII bytes or the end of the text, so they are `str` char boundaries.
#[inline]
pub fn word_spans(text: &[u8]) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < text.len() && !is_word_byte(text[i]) {
            i += 1;
        }
        let start = i;
        while i < text.len() && is_word_byte(text[i]) {
            i += 1;
        }
        (i > start).then_some(start..i)
    })
}
