//! Plain single-threaded loops doing the benchmarks' work with a fast hash and no
//! needless allocation: the practical limit Spate is measured against.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use hashbrown::HashMap;

use crate::{keyed_record, word_spans};

/// Reads, splits, lowercases and counts words; writes `word count` lines. Returns the
/// number of words.
pub fn wordcount(input: &Path, output: &Path) -> io::Result<u64> {
    let mut reader = BufReader::with_capacity(1 << 20, File::open(input)?);
    let mut counts: HashMap<Vec<u8>, u64> = HashMap::new();
    let (mut line, mut word) = (Vec::new(), Vec::new());
    let mut words = 0;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        for span in word_spans(&line) {
            word.clear();
            word.extend(line[span].iter().map(u8::to_ascii_lowercase));
            match counts.get_mut(word.as_slice()) {
                Some(c) => *c += 1,
                None => {
                    counts.insert(word.clone(), 1);
                }
            }
            words += 1;
        }
    }
    let mut out = BufWriter::new(File::create(output)?);
    for (w, c) in &counts {
        out.write_all(w)?;
        writeln!(out, " {c}")?;
    }
    out.flush()?;
    Ok(words)
}

/// Sums the value per key of `records` generated records; returns the number of keys.
pub fn keyed_sum(records: u64, keys: u64) -> u64 {
    let mut sums: HashMap<u64, u64> = HashMap::with_capacity(keys as usize);
    for j in 0..records {
        let (key, value) = keyed_record(j, keys);
        let sum = sums.entry(key).or_insert(0);
        *sum = sum.wrapping_add(value);
    }
    std::hint::black_box(&sums);
    sums.len() as u64
}
