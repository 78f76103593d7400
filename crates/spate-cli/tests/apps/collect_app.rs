//! The application of the collect tests: `execute_and_collect` over a cluster.
//!
//! - `--mode vec`: job 0 collects a running count per key into a `Vec`; job 1 is built
//!   from those results (so its workers' replay needs them) and collects their sum.
//!   With `--fail-at N`, job 0's first attempt fails at its N-th record (a restart
//!   strategy then runs it again).
//! - `--mode iter`: reads `--records` numbers through the iterator without keeping
//!   them, and prints their count, sum and the process's peak memory.
//! - `--mode take`: reads `--take` records of an unbounded job and drops the iterator
//!   (which cancels the job).
//! - `--mode listing`: a source at parallelism 4 whose every listing of its splits is
//!   different (it names the process that made it); prints how many listings the
//!   subtasks' records came from and how many splits they read.

use spate::prelude::*;
use spate::{Boundedness, BoxError, Source, SourcePoll, SourceReader, StreamRecord};

/// Fails at the `at`-th record it sees in the job's first attempt, on subtask 0.
#[derive(Clone)]
struct FailFirstAttempt {
    at: Option<u64>,
    seen: u64,
    armed: bool,
}

impl MapFunction<(i64, u64), (i64, u64)> for FailFirstAttempt {
    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        self.armed = ctx.attempt_number() == 0 && ctx.subtask_index() == 0;
        Ok(())
    }

    fn map(&mut self, record: (i64, u64)) -> FnResult<(i64, u64)> {
        self.seen += 1;
        if self.armed && Some(self.seen) == self.at {
            return Err(format!("collect_app fails its first attempt at record {}", self.seen).into());
        }
        Ok(record)
    }
}

/// Lists eight splits named after the process and the moment of the listing, so that
/// two listings never agree; each split is one record, `(listing, split)`.
struct Listings;

impl Listings {
    fn list(parallelism: u32) -> Vec<Vec<u8>> {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        let listing = format!("{}-{nanos}", std::process::id());
        (0..2 * parallelism).map(|split| format!("{listing}/{split}").into_bytes()).collect()
    }
}

impl Source<(String, u32)> for Listings {
    fn name(&self) -> String {
        "Listings".into()
    }

    fn boundedness(&self) -> Boundedness {
        Boundedness::Bounded
    }

    fn create_reader(&self, ctx: &mut RuntimeContext) -> Result<Box<dyn SourceReader<(String, u32)>>, BoxError> {
        let (index, parallelism) = (ctx.subtask_index() as usize, ctx.parallelism() as usize);
        let mine = Listings::list(ctx.parallelism()).into_iter().skip(index).step_by(parallelism).collect();
        Ok(Box::new(ListingReader(mine)))
    }

    fn enumerate_splits(&self, parallelism: u32) -> Result<Option<Vec<Vec<u8>>>, BoxError> {
        Ok(Some(Listings::list(parallelism)))
    }

    fn restore_reader(
        &self,
        _ctx: &mut RuntimeContext,
        splits: Vec<Vec<u8>>,
    ) -> Result<Box<dyn SourceReader<(String, u32)>>, BoxError> {
        Ok(Box::new(ListingReader(splits)))
    }
}

struct ListingReader(Vec<Vec<u8>>);

impl SourceReader<(String, u32)> for ListingReader {
    fn poll_next(&mut self, batch: &mut Vec<StreamRecord<(String, u32)>>, _max: usize) -> Result<SourcePoll, BoxError> {
        let Some(split) = self.0.pop() else { return Ok(SourcePoll::Finished) };
        let text = String::from_utf8(split)?;
        let (listing, index) = text.split_once('/').ok_or("a split without its index")?;
        batch.push(StreamRecord::new((listing.to_string(), index.parse()?)));
        Ok(SourcePoll::More)
    }

    fn snapshot(&mut self) -> Result<Vec<Vec<u8>>, BoxError> {
        Ok(self.0.clone())
    }
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap_or_default();
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0)
}

fn main() -> spate::Result<()> {
    let params = Params::from_args_or_exit(
        &Usage::new("collect_app", "Collects a job's results in the program.")
            .flag(Flag::value("mode", "vec|iter|take|listing", "how to read them (default vec)"))
            .flag(Flag::value("records", "N", "records to generate (default 100000)"))
            .flag(Flag::value("keys", "K", "distinct keys (default 100)"))
            .flag(Flag::value("take", "N", "take mode: records to read (default 1000)"))
            .flag(Flag::value("payload", "BYTES", "iter mode: bytes of text per record (default 0)"))
            .flag(Flag::value("fail-at", "N", "vec mode: the first attempt fails at record N")),
    );
    let env = StreamEnv::from_params(&params)?;
    let records: i64 = params.parsed("records")?.unwrap_or(100_000);
    let keys: i64 = params.parsed("keys")?.unwrap_or(100).max(1);
    match params.get("mode").unwrap_or("vec") {
        "vec" => {
            let at = params.parsed("fail-at")?;
            let counts = env
                .from_sequence(0..records)
                .map(move |x| (x % keys, 1u64))
                .map_function(FailFirstAttempt { at, seen: 0, armed: false })
                .key_by(|(key, _)| *key)
                .reduce(|a, b| (a.0, a.1 + b.1))
                .execute_and_collect()?;
            let checksum: u64 = counts.iter().map(|(_, n)| n).sum();
            println!("job 0 collected {} updates, checksum {checksum}", counts.len());
            // Job 1 depends on what job 0 returned: the final count of every key.
            let mut finals = std::collections::BTreeMap::new();
            for (key, n) in &counts {
                let entry = finals.entry(*key).or_insert(0u64);
                *entry = (*entry).max(*n);
            }
            let finals: Vec<(i64, u64)> = finals.into_iter().collect();
            let mut doubled = env.from_iter(finals).map(|(key, n)| (key, 2 * n)).execute_and_collect()?;
            doubled.sort();
            let total: u64 = doubled.iter().map(|(_, n)| n).sum();
            println!("job 1 collected {} keys, total {total}", doubled.len());
        }
        "iter" if params.parsed::<usize>("payload")?.unwrap_or(0) > 0 => {
            let payload: usize = params.parsed("payload")?.unwrap_or(0);
            let (mut count, mut sum, mut bytes) = (0u64, 0i64, 0usize);
            let records = env.from_sequence(0..records).map(move |x| (x * 3, "x".repeat(payload)));
            for value in records.execute_and_collect_iter()? {
                let (x, text) = value?;
                count += 1;
                sum = sum.wrapping_add(x);
                bytes += text.len();
            }
            println!("collected {count} records, sum {sum}, {bytes} bytes of text");
        }
        "iter" => {
            let (mut count, mut sum) = (0u64, 0i64);
            for value in env.from_sequence(0..records).map(|x| x * 3).execute_and_collect_iter()? {
                count += 1;
                sum = sum.wrapping_add(value?);
            }
            println!("collected {count} records, sum {sum}, peak rss {} KiB", peak_rss_kib());
        }
        "take" => {
            let take: usize = params.parsed("take")?.unwrap_or(1000);
            let results = env.from_sequence(0..i64::MAX).execute_and_collect_iter()?;
            let job = results.job_client().clone();
            let first = results.take(take).collect::<spate::Result<Vec<i64>>>()?;
            println!("took {} records of job {}", first.len(), job.job_id());
        }
        "listing" => {
            let read = env
                .from_source(Listings, WatermarkStrategy::no_watermarks())
                .set_parallelism(4)
                .execute_and_collect()?;
            let listings: std::collections::BTreeSet<&String> = read.iter().map(|(listing, _)| listing).collect();
            let mut splits: Vec<u32> = read.iter().map(|(_, split)| *split).collect();
            splits.sort_unstable();
            println!("read splits {splits:?} from {} listing(s)", listings.len());
        }
        other => return Err(spate::Error::Arguments(format!("--mode {other}: expected vec, iter, take or listing"))),
    }
    Ok(())
}
