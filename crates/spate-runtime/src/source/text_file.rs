//! `read_text_file`: the lines of a file, or of every file under a directory.
//!
//! The input is cut into byte-range splits; a line belongs to the split in which it
//! starts, so a reader skips the partial line at its split's start and reads past its
//! end to finish its last line. Every line is read exactly once, whatever the cuts.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use spate_core::{BoxError, StreamRecord, codec};
use tracing::warn;

use super::{Boundedness, Source, SourcePoll, SourceReader};
use crate::context::RuntimeContext;
use crate::metrics::TaskMetrics;

/// A byte range of one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSplit {
    /// The file.
    pub path: PathBuf,
    /// First byte of the range.
    pub start: u64,
    /// One past the last byte of the range.
    pub end: u64,
}

/// Reads text files line by line. Lines end with `\n` (a `\r` before it is dropped);
/// a line that is not valid UTF-8 is skipped, counted in `numRecordsInErrors` and
/// reported in a warning.
pub struct TextFileSource {
    paths: Vec<PathBuf>,
    split_size: Option<u64>,
}

/// Smallest split the automatic sizing makes.
const MIN_SPLIT: u64 = 1 << 20;

impl TextFileSource {
    /// A source over files and directories (directories are read recursively; names
    /// starting with `.` or `_` are skipped, as Flink does).
    pub fn new(paths: Vec<PathBuf>) -> Self {
        TextFileSource { paths, split_size: None }
    }

    /// Cuts files into splits of this many bytes (default: about four splits per
    /// subtask, at least 1 MiB each).
    pub fn with_split_size(mut self, bytes: u64) -> Self {
        self.split_size = Some(bytes.max(1));
        self
    }

    /// The files to read, in a fixed order, with their sizes.
    pub fn list_files(&self) -> Result<Vec<(PathBuf, u64)>, FileSourceError> {
        let mut files = Vec::new();
        for path in &self.paths {
            let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => FileSourceError::Missing(path.clone()),
                _ => FileSourceError::io("read input path", path, e),
            })?;
            if meta.is_dir() {
                list_dir(path, &mut files)?;
            } else {
                files.push((path.clone(), meta.len()));
            }
        }
        Ok(files)
    }

    /// The splits of the input as it is now, for `parallelism` readers.
    pub fn splits(&self, parallelism: u32) -> Result<Vec<FileSplit>, FileSourceError> {
        let files = self.list_files()?;
        let total: u64 = files.iter().map(|(_, len)| len).sum();
        let size = self.split_size.unwrap_or_else(|| (total / (4 * u64::from(parallelism.max(1)))).max(MIN_SPLIT));
        let mut splits = Vec::new();
        for (path, len) in files {
            let mut start = 0;
            while start < len {
                let end = (start + size).min(len);
                splits.push(FileSplit { path: path.clone(), start, end });
                start = end;
            }
        }
        Ok(splits)
    }
}

/// A split as readers write it in checkpoints: path, range, and the offset of the line
/// to resume at (`None`: the split's start).
type EncodedSplit<'a> = (&'a Path, u64, u64, Option<u64>);

/// Why the text file source cannot read its input.
#[derive(Clone, Debug, thiserror::Error)]
pub enum FileSourceError {
    /// An input path given does not exist.
    #[error("input path {} does not exist", .0.display())]
    Missing(PathBuf),
    /// A file or directory could not be read.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error (shared: every subtask reports the same listing).
        #[source]
        source: Arc<std::io::Error>,
    },
}

impl FileSourceError {
    fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        FileSourceError::Io { action, path: path.to_path_buf(), source: Arc::new(source) }
    }
}

fn list_dir(dir: &Path, files: &mut Vec<(PathBuf, u64)>) -> Result<(), FileSourceError> {
    let entries = std::fs::read_dir(dir).map_err(|e| FileSourceError::io("list directory", dir, e))?;
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| FileSourceError::io("list directory", dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name.starts_with('_') {
            continue;
        }
        paths.push(entry.path());
    }
    paths.sort();
    for path in paths {
        let meta = std::fs::metadata(&path).map_err(|e| FileSourceError::io("read", &path, e))?;
        if meta.is_dir() {
            list_dir(&path, files)?;
        } else {
            files.push((path, meta.len()));
        }
    }
    Ok(())
}

impl Source<String> for TextFileSource {
    fn name(&self) -> String {
        "File Source".into()
    }

    fn boundedness(&self) -> Boundedness {
        Boundedness::Bounded
    }

    /// A reader that lists the input itself (the engine lists it once per attempt
    /// through [`Source::enumerate_splits`] instead).
    fn create_reader(&self, ctx: &mut RuntimeContext) -> Result<Box<dyn SourceReader<String>>, BoxError> {
        let (index, parallelism) = (ctx.subtask_index() as usize, ctx.parallelism() as usize);
        let splits = self.splits(ctx.parallelism()).map_err(spate_core::Unrecoverable::new)?;
        let mine = splits.into_iter().skip(index).step_by(parallelism).map(|s| (s, None)).collect();
        Ok(Box::new(TextFileReader { pending: mine, current: None, metrics: ctx.metrics().clone() }))
    }

    fn enumerate_splits(&self, parallelism: u32) -> Result<Option<Vec<Vec<u8>>>, BoxError> {
        let mut encoded = Vec::new();
        for split in self.splits(parallelism)? {
            let fresh: EncodedSplit<'_> = (&split.path, split.start, split.end, None);
            encoded.push(codec::encode(&fresh)?);
        }
        Ok(Some(encoded))
    }

    fn restore_reader(
        &self,
        ctx: &mut RuntimeContext,
        splits: Vec<Vec<u8>>,
    ) -> Result<Box<dyn SourceReader<String>>, BoxError> {
        let mut pending = VecDeque::new();
        for bytes in splits {
            let (path, start, end, resume): (PathBuf, u64, u64, Option<u64>) = codec::decode(&bytes)?;
            pending.push_back((FileSplit { path, start, end }, resume));
        }
        Ok(Box::new(TextFileReader { pending, current: None, metrics: ctx.metrics().clone() }))
    }
}

struct TextFileReader {
    /// Splits to read, with the offset of the line to resume at for a split begun
    /// before a restore.
    pending: VecDeque<(FileSplit, Option<u64>)>,
    current: Option<SplitReader>,
    metrics: Arc<TaskMetrics>,
}

impl SourceReader<String> for TextFileReader {
    fn poll_next(&mut self, batch: &mut Vec<StreamRecord<String>>, max: usize) -> Result<SourcePoll, BoxError> {
        let mut emitted = 0;
        while emitted < max {
            let split = match &mut self.current {
                Some(split) => split,
                None => match self.pending.pop_front() {
                    Some((next, resume)) => self.current.insert(SplitReader::open(next, resume)?),
                    None => return Ok(SourcePoll::Finished),
                },
            };
            match split.next_line()? {
                Some(Ok(line)) => {
                    batch.push(StreamRecord::new(line));
                    emitted += 1;
                }
                Some(Err(offset)) => {
                    self.metrics.add_records_in_errors(1);
                    if split.invalid == 1 {
                        warn!(file = %split.split.path.display(), offset, "skipping a line that is not valid UTF-8");
                    }
                }
                None => {
                    if let Some(done) = self.current.take() {
                        done.report();
                    }
                }
            }
        }
        Ok(SourcePoll::More)
    }

    fn snapshot(&mut self) -> Result<Vec<Vec<u8>>, BoxError> {
        let mut splits = Vec::new();
        if let Some(current) = &self.current {
            let s = &current.split;
            splits.push(codec::encode(&(&s.path, s.start, s.end, Some(current.position)))?);
        }
        for (s, resume) in &self.pending {
            splits.push(codec::encode(&(&s.path, s.start, s.end, resume))?);
        }
        Ok(splits)
    }
}

/// Reads the lines that start inside one split.
struct SplitReader {
    split: FileSplit,
    reader: BufReader<File>,
    /// File offset of the next unread byte.
    position: u64,
    line: Vec<u8>,
    invalid: u64,
}

impl SplitReader {
    /// Opens `split`, at line offset `resume` if given (a position from a snapshot,
    /// always at the start of a line).
    fn open(split: FileSplit, resume: Option<u64>) -> Result<Self, FileSourceError> {
        let describe = |e: std::io::Error| FileSourceError::io("read", &split.path, e);
        let file = File::open(&split.path).map_err(describe)?;
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut position = 0;
        if let Some(at) = resume {
            reader.seek(SeekFrom::Start(at)).map_err(describe)?;
            position = at;
        } else if split.start > 0 {
            // The line that starts before this split belongs to the previous one: skip
            // through the first newline at or after byte start - 1.
            reader.seek(SeekFrom::Start(split.start - 1)).map_err(describe)?;
            let mut skipped = Vec::new();
            position = split.start - 1 + reader.read_until(b'\n', &mut skipped).map_err(describe)? as u64;
        }
        Ok(SplitReader { split, reader, position, line: Vec::new(), invalid: 0 })
    }

    /// The next line: `Ok(text)`, `Err(offset)` for a line that is not UTF-8, or `None`
    /// at the end of the split.
    fn next_line(&mut self) -> Result<Option<Result<String, u64>>, FileSourceError> {
        if self.position >= self.split.end {
            return Ok(None);
        }
        self.line.clear();
        let read = self
            .reader
            .read_until(b'\n', &mut self.line)
            .map_err(|e| FileSourceError::io("read", &self.split.path, e))?;
        if read == 0 {
            return Ok(None);
        }
        let offset = self.position;
        self.position += read as u64;
        let mut text = &self.line[..];
        if let [rest @ .., b'\n'] = text {
            text = rest;
        }
        if let [rest @ .., b'\r'] = text {
            text = rest;
        }
        match std::str::from_utf8(text) {
            Ok(s) => Ok(Some(Ok(s.to_owned()))),
            Err(_) => {
                self.invalid += 1;
                Ok(Some(Err(offset)))
            }
        }
    }

    fn report(&self) {
        if self.invalid > 0 {
            warn!(
                file = %self.split.path.display(),
                bytes = format!("{}..{}", self.split.start, self.split.end),
                "skipped {} line(s) that are not valid UTF-8",
                self.invalid
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("spate-text-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn read_all(source: &TextFileSource, parallelism: u32) -> (Vec<String>, u64) {
        let listing = crate::source::SplitListing::Listed(source.enumerate_splits(parallelism).unwrap().unwrap());
        let metrics = Arc::new(TaskMetrics::default());
        let mut lines = Vec::new();
        for k in 0..parallelism {
            let info = crate::context::TaskInfo {
                subtask_index: k,
                parallelism,
                ..(**crate::context::test_context(Arc::new(crate::time::SystemClock), false).task_info()).clone()
            };
            let mut ctx = RuntimeContext::new(Arc::new(info), "File Source", metrics.clone());
            let mut reader = source.restore_reader(&mut ctx, listing.share(k, parallelism).unwrap()).unwrap();
            let mut batch = Vec::new();
            while reader.poll_next(&mut batch, 3).unwrap() == SourcePoll::More {}
            lines.extend(batch.into_iter().map(|r| r.value));
        }
        lines.sort();
        (lines, metrics.snapshot().records_in_errors)
    }

    #[test]
    fn every_split_size_reads_every_line_once() {
        let dir = temp_dir("splits");
        let text = "alpha\nbe\n\ngamma delta\r\nx\nlast line without newline";
        std::fs::write(dir.join("a.txt"), text).unwrap();
        let mut expected: Vec<String> = text.split('\n').map(|l| l.trim_end_matches('\r').to_string()).collect();
        expected.sort();
        for size in 1..=text.len() as u64 + 1 {
            for p in [1, 2, 3] {
                let source = TextFileSource::new(vec![dir.join("a.txt")]).with_split_size(size);
                assert_eq!(read_all(&source, p).0, expected, "split size {size}, parallelism {p}");
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn directories_are_read_recursively_skipping_hidden_files() {
        let dir = temp_dir("dirs");
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("1.txt"), "one\n").unwrap();
        std::fs::write(dir.join("sub/2.txt"), "two\n").unwrap();
        std::fs::write(dir.join(".hidden"), "no\n").unwrap();
        std::fs::write(dir.join("_SUCCESS"), "no\n").unwrap();
        let (lines, _) = read_all(&TextFileSource::new(vec![dir.clone()]), 2);
        assert_eq!(lines, vec!["one", "two"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn invalid_utf8_lines_are_skipped_and_counted() {
        let dir = temp_dir("utf8");
        std::fs::write(dir.join("bad.txt"), b"good\n\xff\xfe bad\nalso good\n").unwrap();
        let (lines, errors) = read_all(&TextFileSource::new(vec![dir.join("bad.txt")]), 1);
        assert_eq!(lines, vec!["also good", "good"]);
        assert_eq!(errors, 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_paths_are_named() {
        let err = TextFileSource::new(vec![PathBuf::from("/no/such/input")]).splits(1).unwrap_err();
        assert_eq!(err.to_string(), "input path /no/such/input does not exist");
    }
}
