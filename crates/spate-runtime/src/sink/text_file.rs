//! Text files: one part file per subtask in an output directory.

use std::fmt::Display;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use spate_core::{BoxError, StreamRecord};

use super::{Sink, SinkWriter};
use crate::context::RuntimeContext;
use crate::functions::FnResult;

/// Writes each record's `Display` form as a line into `DIR/part-<subtask>-0`.
///
/// The directory is created if missing; a part file of the same name is replaced.
#[derive(Clone, Debug)]
pub struct TextFileSink {
    dir: PathBuf,
}

impl TextFileSink {
    /// A sink writing into directory `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        TextFileSink { dir: dir.into() }
    }

    /// The part file of subtask `index`.
    pub fn part_file(&self, index: u32) -> PathBuf {
        self.dir.join(format!("part-{index}-0"))
    }
}

impl<T: Display + 'static> Sink<T> for TextFileSink {
    fn name(&self) -> String {
        format!("FileSink({})", self.dir.display())
    }

    fn create_writer(&self, ctx: &mut RuntimeContext) -> Result<Box<dyn SinkWriter<T>>, BoxError> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| format!("cannot create output directory {}: {e}", self.dir.display()))?;
        let path = self.part_file(ctx.subtask_index());
        let file = File::create(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        Ok(Box::new(TextFileWriter { out: BufWriter::with_capacity(256 * 1024, file), path }))
    }
}

struct TextFileWriter {
    out: BufWriter<File>,
    path: PathBuf,
}

impl<T: Display> SinkWriter<T> for TextFileWriter {
    fn write_batch(&mut self, batch: &mut Vec<StreamRecord<T>>) -> FnResult {
        for record in batch.drain(..) {
            writeln!(self.out, "{}", record.value).map_err(|e| format!("writing {}: {e}", self.path.display()))?;
        }
        Ok(())
    }

    fn flush(&mut self, _end_of_input: bool) -> FnResult {
        self.out.flush().map_err(|e| format!("writing {}: {e}", self.path.display()))?;
        Ok(())
    }

    fn close(&mut self) -> FnResult {
        self.out.flush().map_err(|e| format!("writing {}: {e}", self.path.display()).into())
    }
}
