//! Sources: files and directories, sockets, generators, and bad input.

use std::io::Write;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use spate::prelude::*;

use crate::{env, sorted, temp_dir};

#[test]
fn text_files_and_directories_are_read_whole() {
    let dir = temp_dir("files");
    std::fs::create_dir_all(dir.join("nested")).unwrap();
    let mut expected = Vec::new();
    for (name, lines) in [("a.txt", 3000), ("b.txt", 1), ("nested/c.txt", 500)] {
        let mut text = String::new();
        for i in 0..lines {
            let line = format!("{name} line {i} {}", "x".repeat(i % 50));
            text.push_str(&line);
            text.push('\n');
            expected.push(line);
        }
        std::fs::write(dir.join(name), text).unwrap();
    }
    std::fs::write(dir.join("empty.txt"), "").unwrap();
    for p in [1, 3] {
        let lines = env(p).read_text_file(&dir).execute_and_collect().unwrap();
        assert_eq!(sorted(lines), sorted(expected.clone()), "parallelism {p}");
    }
    let two = env(2).read_text_files([dir.join("b.txt"), dir.join("nested")]).execute_and_collect().unwrap();
    assert_eq!(two.len(), 501);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn lines_that_are_not_utf8_are_skipped_and_counted() {
    let dir = temp_dir("utf8");
    std::fs::write(dir.join("mixed.txt"), b"first\n\xc3\x28 broken\nlast\n").unwrap();
    let env = env(1);
    let (sender, receiver) = std::sync::mpsc::channel();
    env.read_text_file(dir.join("mixed.txt")).add_sink(move |line: String| sender.send(line).unwrap());
    let result = env.execute("utf8").unwrap();
    assert_eq!(sorted(receiver.try_iter().collect()), vec!["first", "last"]);
    assert_eq!(result.vertex("Source").unwrap().records_in_errors, 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn missing_and_unreadable_inputs_are_clear_errors() {
    let env = env(2);
    env.read_text_file("/no/such/spate/input").add_sink(|_: String| {});
    let text = env.execute("missing").unwrap_err().to_string();
    assert!(text.contains("input path /no/such/spate/input does not exist"), "{text}");

    // A symlink loop cannot be read by anyone, root included.
    let dir = temp_dir("loop");
    std::os::unix::fs::symlink(dir.join("loop"), dir.join("loop")).unwrap();
    let env = crate::env(1);
    env.read_text_file(&dir).add_sink(|_: String| {});
    let text = env.execute("unreadable").unwrap_err().to_string();
    assert!(text.contains("cannot read") && text.contains("loop"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn socket_source_reads_lines_until_the_server_closes() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        for i in 0..1000 {
            writeln!(conn, "line {i}").unwrap();
            if i % 250 == 0 {
                std::thread::sleep(Duration::from_millis(30));
            }
        }
        conn.write_all(b"no newline at the end").unwrap();
    });
    // The source runs as one subtask; the collecting sink downstream runs as three.
    let lines = env(3).socket_text_stream("127.0.0.1", port).execute_and_collect().unwrap();
    server.join().unwrap();
    let mut expected: Vec<String> = (0..1000).map(|i| format!("line {i}")).collect();
    expected.push("no newline at the end".into());
    let lines = sorted(lines);
    assert_eq!(lines.len(), expected.len());
    assert!(lines == sorted(expected), "the lines received differ from the lines sent");
}

#[test]
fn socket_source_that_cannot_connect_names_the_address() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let env = env(1);
    env.socket_text_stream("127.0.0.1", port).add_sink(|_: String| {});
    let text = env.execute("no server").unwrap_err().to_string();
    assert!(text.contains(&format!("cannot connect to socket source at 127.0.0.1:{port}")), "{text}");
}

#[test]
fn generator_covers_the_index_space_at_any_parallelism() {
    for p in [1, 2, 3] {
        let out = env(p).from_generator(|j| j * 2, Some(1000)).execute_and_collect().unwrap();
        assert_eq!(sorted(out), (0..1000).map(|j| j * 2).collect::<Vec<u64>>(), "parallelism {p}");
    }
}

#[test]
fn generator_rate_limit_spreads_records_over_time() {
    let env = env(2);
    let started = Instant::now();
    let out = env
        .from_source(GeneratorSource::new(|j| j, Some(300)).with_rate(1000.0), WatermarkStrategy::no_watermarks())
        .execute_and_collect()
        .unwrap();
    assert_eq!(out.len(), 300);
    // 300 records at 1000 per second cannot take less than about 0.3 s.
    assert!(started.elapsed() >= Duration::from_millis(250), "{:?}", started.elapsed());

    let bad = crate::env(1);
    bad.from_source(GeneratorSource::new(|j| j, Some(3)).with_rate(-1.0), WatermarkStrategy::no_watermarks())
        .add_sink(|_: u64| {});
    assert!(bad.execute("bad rate").unwrap_err().to_string().contains("rate must be a positive number"));
}

#[test]
fn sequences_split_over_subtasks() {
    for p in [1, 4] {
        let out = env(p).from_sequence(-50..50).execute_and_collect().unwrap();
        assert_eq!(sorted(out), (-50..50).collect::<Vec<_>>());
    }
    assert!(env(2).from_sequence(5..5).execute_and_collect().unwrap().is_empty());
}

/// Lists six splits named by the number of the listing; counts its listings.
#[derive(Clone)]
struct CountedListings {
    listings: std::sync::Arc<std::sync::atomic::AtomicU32>,
    panic: bool,
}

impl spate::Source<(u32, u32)> for CountedListings {
    fn name(&self) -> String {
        "Listings".into()
    }

    fn boundedness(&self) -> spate::Boundedness {
        spate::Boundedness::Bounded
    }

    fn create_reader(
        &self,
        _ctx: &mut RuntimeContext,
    ) -> Result<Box<dyn spate::SourceReader<(u32, u32)>>, spate::BoxError> {
        Err("the engine hands every subtask its share of the attempt's listing".into())
    }

    fn enumerate_splits(&self, parallelism: u32) -> Result<Option<Vec<Vec<u8>>>, spate::BoxError> {
        assert!(!self.panic, "the listing service is down");
        let listing = self.listings.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        Ok(Some((0..2 * parallelism).map(|split| [listing as u8, split as u8].to_vec()).collect()))
    }

    fn restore_reader(
        &self,
        _ctx: &mut RuntimeContext,
        splits: Vec<Vec<u8>>,
    ) -> Result<Box<dyn spate::SourceReader<(u32, u32)>>, spate::BoxError> {
        Ok(Box::new(SplitRecords(splits)))
    }
}

/// One record per split: (listing, split).
struct SplitRecords(Vec<Vec<u8>>);

impl spate::SourceReader<(u32, u32)> for SplitRecords {
    fn poll_next(
        &mut self,
        batch: &mut Vec<spate::StreamRecord<(u32, u32)>>,
        _max: usize,
    ) -> Result<spate::SourcePoll, spate::BoxError> {
        match self.0.pop().as_deref() {
            Some(&[listing, split]) => batch.push(spate::StreamRecord::new((u32::from(listing), u32::from(split)))),
            Some(other) => return Err(format!("a split of {} bytes", other.len()).into()),
            None => return Ok(spate::SourcePoll::Finished),
        }
        Ok(spate::SourcePoll::More)
    }
}

#[test]
fn a_source_is_listed_once_per_attempt_and_each_subtask_reads_its_share() {
    let listings = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let env = env(3);
    env.set_config("restart-strategy.type", "fixed-delay").unwrap();
    env.set_config("restart-strategy.fixed-delay.delay", "0 ms").unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    let source = CountedListings { listings: listings.clone(), panic: false };
    env.from_source(source, WatermarkStrategy::no_watermarks())
        .map(|record| {
            // The first attempt fails once a record of its listing arrives.
            assert_ne!(record.0, 1, "the first attempt fails");
            record
        })
        .add_sink(move |record| sender.send(record).unwrap());
    let job = env.execute_async("listings").unwrap();
    assert!(job.wait_timeout(Duration::from_secs(60)), "the job ends");
    let restarts = job.restarts();
    job.wait().unwrap();
    assert_eq!(restarts, 1);
    // One listing per attempt, not one per subtask; the second attempt read all of its.
    assert_eq!(listings.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert_eq!(sorted(receiver.try_iter().collect()), (0..6).map(|split| (2, split)).collect::<Vec<_>>());
}

#[test]
fn a_listing_that_fails_fails_the_source_without_restarts() {
    let env = env(2);
    env.set_config("restart-strategy.type", "fixed-delay").unwrap();
    env.set_config("restart-strategy.fixed-delay.delay", "0 ms").unwrap();
    let source = CountedListings { listings: Default::default(), panic: true };
    env.from_source(source, WatermarkStrategy::no_watermarks()).add_sink(|_| {});
    let job = env.execute_async("listing fails").unwrap();
    assert!(job.wait_timeout(Duration::from_secs(60)), "the job ends");
    let restarts = job.restarts();
    let error = job.wait().unwrap_err().to_string();
    assert!(error.contains("Listings") && error.contains("the listing service is down"), "{error}");
    assert_eq!(restarts, 0);
}
