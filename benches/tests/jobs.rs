//! The benchmark jobs compute what the plain loops compute, on a small input, so a
//! figure never comes from a job that does less work than it claims.

use std::collections::BTreeMap;
use std::path::Path;

use spate_bench::gen_text::TextGenerator;
use spate_bench::{jobs, keyed_record, plain};

fn read_counts(path: &Path) -> BTreeMap<String, u64> {
    let files: Vec<_> = if path.is_dir() {
        std::fs::read_dir(path).unwrap().map(|e| e.unwrap().path()).collect()
    } else {
        vec![path.to_path_buf()]
    };
    let mut counts = BTreeMap::new();
    for file in files {
        for line in std::fs::read_to_string(file).unwrap().lines() {
            let (word, count) = line.rsplit_once(' ').unwrap();
            assert!(counts.insert(word.to_string(), count.parse::<u64>().unwrap()).is_none(), "{word} twice");
        }
    }
    counts
}

#[test]
fn wordcount_job_matches_the_plain_loop() {
    let dir = std::env::temp_dir().join(format!("spate-bench-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("text.txt");
    let mut file = std::fs::File::create(&input).unwrap();
    let stats = TextGenerator::reference().write(&mut file, 1 << 20).unwrap();
    drop(file);

    let words = plain::wordcount(&input, &dir.join("plain.txt")).unwrap();
    assert_eq!(words, stats.words);
    let expected = read_counts(&dir.join("plain.txt"));
    assert_eq!(expected.values().sum::<u64>(), stats.words);
    for p in [1, 2] {
        let out = dir.join(format!("spate-{p}"));
        jobs::wordcount(&input, &out, p, &["execution.records-per-batch=100"]).unwrap();
        assert!(read_counts(&out) == expected, "the Spate job's counts differ at parallelism {p}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn keyed_sum_job_runs_and_the_plain_loop_sums() {
    for p in [1, 2] {
        jobs::keyed_sum(20_000, 100, p, &[]).unwrap();
    }
    assert_eq!(plain::keyed_sum(20_000, 100), 100);
    let (key, value) = keyed_record(7, 100);
    assert!(key < 100 && value == 7);
}
