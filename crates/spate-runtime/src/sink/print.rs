//! `print()`: records to standard output, as Flink prints them.

use std::fmt::Debug;
use std::io::Write;

use spate_core::{BoxError, StreamRecord};

use super::{Sink, SinkWriter};
use crate::context::RuntimeContext;
use crate::functions::FnResult;

/// Prints each record's `Debug` form on a line of its own; with more than one subtask,
/// each line starts with `N> `, N the subtask's number from 1 (Flink's format).
///
/// At-least-once: after a failure and restart, lines may be printed again.
#[derive(Clone, Debug, Default)]
pub struct PrintSink {
    to_stderr: bool,
    identifier: Option<String>,
}

impl PrintSink {
    /// Prints to standard output.
    pub fn stdout() -> Self {
        PrintSink { to_stderr: false, identifier: None }
    }

    /// Prints to standard error.
    pub fn stderr() -> Self {
        PrintSink { to_stderr: true, identifier: None }
    }

    /// Prefixes every line with `identifier:` (Flink's `print(sinkIdentifier)`).
    pub fn with_identifier(mut self, identifier: impl Into<String>) -> Self {
        self.identifier = Some(identifier.into());
        self
    }
}

impl<T: Debug + 'static> Sink<T> for PrintSink {
    fn name(&self) -> String {
        if self.to_stderr { "Print to Std. Err".into() } else { "Print to Std. Out".into() }
    }

    fn create_writer(&self, ctx: &mut RuntimeContext) -> Result<Box<dyn SinkWriter<T>>, BoxError> {
        let prefix = match (&self.identifier, ctx.parallelism() > 1) {
            (Some(id), true) => format!("{id}:{}> ", ctx.subtask_index() + 1),
            (Some(id), false) => format!("{id}> "),
            (None, true) => format!("{}> ", ctx.subtask_index() + 1),
            (None, false) => String::new(),
        };
        Ok(Box::new(PrintWriter { prefix, to_stderr: self.to_stderr, line: Vec::new() }))
    }
}

struct PrintWriter {
    prefix: String,
    to_stderr: bool,
    line: Vec<u8>,
}

impl<T: Debug> SinkWriter<T> for PrintWriter {
    fn write_batch(&mut self, batch: &mut Vec<StreamRecord<T>>) -> FnResult {
        // Format the whole batch first, then write it under one lock, so that lines of
        // parallel subtasks never interleave mid-line.
        self.line.clear();
        for record in batch.drain(..) {
            self.line.extend_from_slice(self.prefix.as_bytes());
            writeln!(self.line, "{:?}", record.value)?;
        }
        if self.to_stderr {
            std::io::stderr().lock().write_all(&self.line)?;
        } else {
            let mut out = std::io::stdout().lock();
            out.write_all(&self.line)?;
            out.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self, _end_of_input: bool) -> FnResult {
        Ok(())
    }
}
