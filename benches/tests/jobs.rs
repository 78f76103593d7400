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

/// Fails a record that reached the subtask of the source subtask that made it.
#[derive(Clone, Default)]
struct NotFromHere {
    subtask: u64,
    parallelism: u64,
}

impl spate::prelude::MapFunction<(u64, u64), (u64, u64)> for NotFromHere {
    fn open(&mut self, ctx: &mut spate::prelude::RuntimeContext) -> spate::prelude::FnResult {
        (self.subtask, self.parallelism) = (ctx.subtask_index().into(), ctx.parallelism().into());
        Ok(())
    }

    fn map(&mut self, record: (u64, u64)) -> spate::prelude::FnResult<(u64, u64)> {
        if record.1 % self.parallelism == self.subtask {
            return Err(format!("record {} stayed on subtask {}", record.1, self.subtask).into());
        }
        Ok(record)
    }
}

#[test]
fn every_record_of_the_crossing_keyed_sum_goes_to_another_subtask() {
    for p in [2u32, 3] {
        let owned = std::sync::Arc::new(jobs::keys_by_subtask(1000, p).unwrap());
        assert_eq!(owned.iter().map(Vec::len).sum::<usize>(), 1000);
        let env = spate::prelude::StreamEnv::local().unwrap();
        env.set_parallelism(p);
        let (o, sink) = (owned.clone(), std::sync::Arc::new(std::sync::Mutex::new(Vec::new())));
        let seen = sink.clone();
        env.from_generator(move |j| jobs::crossing_record(j, &o), Some(30_000))
            .key_by(|r: &(u64, u64)| r.0)
            .map_function(NotFromHere::default())
            .add_sink(move |r: (u64, u64)| seen.lock().unwrap().push(r.1));
        env.execute("crossing").unwrap();
        let mut all = sink.lock().unwrap().clone();
        all.sort_unstable();
        assert_eq!(all, (0..30_000).collect::<Vec<u64>>(), "p={p}");
        jobs::keyed_sum_crossing(20_000, 100, p, &[]).unwrap();
    }
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
