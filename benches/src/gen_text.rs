//! The deterministic Zipf text generator of the WordCount benchmark, byte for byte the
//! reference `gen_text.py` (whose docstring defines it):
//!
//! - vocabulary: word `r` has 3..10 letters drawn from the splitmix64 stream of
//!   `seed·1000003 + r (+ salt·2^48)`, re-drawn with a salt until unique;
//! - token `t`: `u = splitmix64(seed<<40 ^ t)`, `x = (u>>11)·2^-53`, rank = the first `r`
//!   with `CDF[r] > x`, where CDF is the normalised cumulative sum of `1/(r+1)^s`;
//! - line `L`: `5 + splitmix64(seed<<40 ^ 1<<39 ^ L) % 11` tokens joined by spaces, ending
//!   in `\n`; lines are written until the size reaches the limit (the last line whole).

use std::collections::HashSet;
use std::io::{self, Write};

use crate::splitmix64;

/// What a generated text holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextStats {
    /// Bytes written.
    pub bytes: u64,
    /// Lines written.
    pub lines: u64,
    /// Words (tokens) written.
    pub words: u64,
}

/// The generator for one vocabulary size, exponent and seed.
pub struct TextGenerator {
    words: Vec<Vec<u8>>,
    cdf: Vec<f64>,
    seed: u64,
}

impl TextGenerator {
    /// The reference defaults: 100000 words, s = 1.0, seed 42.
    pub fn reference() -> Self {
        Self::new(100_000, 1.0, 42)
    }

    /// A generator with its vocabulary and cumulative distribution computed.
    pub fn new(vocab: usize, s: f64, seed: u64) -> Self {
        let mut words = Vec::with_capacity(vocab);
        let mut seen = HashSet::with_capacity(vocab);
        for r in 0..vocab as u64 {
            let mut salt = 0u64;
            let word = loop {
                let h = splitmix64(seed.wrapping_mul(1_000_003).wrapping_add(r).wrapping_add(salt << 48));
                let length = 3 + h % 8;
                let mut g = h;
                let mut letters = Vec::with_capacity(length as usize);
                for i in 0..length {
                    g = splitmix64(g.wrapping_add(i));
                    letters.push(b'a' + (g % 26) as u8);
                }
                if !seen.contains(&letters) {
                    break letters;
                }
                salt += 1;
            };
            seen.insert(word.clone());
            words.push(word);
        }
        // numpy: cumsum adds left to right; then every element is divided by the last.
        let mut cdf = Vec::with_capacity(vocab);
        let mut total = 0.0f64;
        for r in 0..vocab {
            total += 1.0 / ((r + 1) as f64).powf(s);
            cdf.push(total);
        }
        let last = total;
        for c in &mut cdf {
            *c /= last;
        }
        TextGenerator { words, cdf, seed }
    }

    fn word(&self, token: u64) -> &[u8] {
        let u = splitmix64((self.seed << 40) ^ token);
        let x = (u >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
        let rank = self.cdf.partition_point(|&c| c <= x).min(self.words.len() - 1);
        &self.words[rank]
    }

    /// Writes lines until `limit_bytes` is reached (keeping the last line whole).
    pub fn write(&self, out: &mut impl Write, limit_bytes: u64) -> io::Result<TextStats> {
        let mut stats = TextStats { bytes: 0, lines: 0, words: 0 };
        let mut line = Vec::with_capacity(256);
        let line_base = (self.seed << 40) ^ (1 << 39);
        while stats.bytes < limit_bytes {
            let tokens = 5 + splitmix64(line_base ^ stats.lines) % 11;
            line.clear();
            for i in 0..tokens {
                if i > 0 {
                    line.push(b' ');
                }
                line.extend_from_slice(self.word(stats.words + i));
            }
            line.push(b'\n');
            out.write_all(&line)?;
            stats.bytes += line.len() as u64;
            stats.words += tokens;
            stats.lines += 1;
        }
        Ok(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MD5 (RFC 1321), only to compare with the reference checksums.
    fn md5(data: &[u8]) -> String {
        const S: [u32; 64] = [
            7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9,
            14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10,
            15, 21, 6, 10, 15, 21,
        ];
        let k: Vec<u32> = (0..64).map(|i| ((i as f64 + 1.0).sin().abs() * 4294967296.0) as u32).collect();
        let mut state: [u32; 4] = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];
        let mut message = data.to_vec();
        message.push(0x80);
        while message.len() % 64 != 56 {
            message.push(0);
        }
        message.extend_from_slice(&((data.len() as u64).wrapping_mul(8)).to_le_bytes());
        for chunk in message.chunks(64) {
            let m: Vec<u32> = chunk.chunks(4).map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]])).collect();
            let [mut a, mut b, mut c, mut d] = state;
            for i in 0..64 {
                let (f, g) = match i / 16 {
                    0 => ((b & c) | (!b & d), i),
                    1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                    2 => (b ^ c ^ d, (3 * i + 5) % 16),
                    _ => (c ^ (b | !d), (7 * i) % 16),
                };
                let rotated = a.wrapping_add(f).wrapping_add(k[i]).wrapping_add(m[g]).rotate_left(S[i]);
                (a, d, c) = (d, c, b);
                b = b.wrapping_add(rotated);
            }
            for (s, v) in state.iter_mut().zip([a, b, c, d]) {
                *s = s.wrapping_add(v);
            }
        }
        state.iter().flat_map(|s| s.to_le_bytes()).map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn md5_matches_known_digests() {
        assert_eq!(md5(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(md5(b"The quick brown fox jumps over the lazy dog"), "9e107d9d372bb6826bd81d3542a419d6");
    }

    /// The reference figures of `gen_text.md` for 1 MiB (defaults).
    #[test]
    fn one_mebibyte_is_byte_identical_to_the_reference() {
        let mut text = Vec::new();
        let stats = TextGenerator::reference().write(&mut text, 1 << 20).unwrap();
        assert_eq!(stats, TextStats { bytes: 1_048_635, lines: 12_639, words: 126_419 });
        assert_eq!(md5(&text), "6a05890c2569b5eabf33ba0abd31d0ad");
        let first_line = text.split(|&b| b == b'\n').next().unwrap();
        assert_eq!(
            std::str::from_utf8(first_line).unwrap(),
            "hlsioavvr ucmwwwi cksbbv urs ujzkrzbr meyyywwqy hqjxrsg djzanfcrqk glyq tpkatmfw lxathlspw zbslfgprn"
        );
    }
}
