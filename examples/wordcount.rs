//! WordCount, as in Flink's examples: counts the words of text files.
//!
//! Run it on the embedded mini-cluster (every subtask a thread of this process):
//!
//! ```text
//! cargo run --release --example wordcount                  # counts a built-in text, prints the counts
//! cargo run --release --example wordcount -- --input FILE_OR_DIR [--input MORE] --output DIR [-p 2]
//! cargo run --release --example wordcount -- --plan        # prints the job's plan (JSON) instead
//! ```
//!
//! Words are what Flink's WordCount takes them to be: the text is split on every
//! character that is not an ASCII letter, digit or `_`, and lowercased. The job runs in
//! BATCH mode (bounded input, one final count per word) unless `-D
//! execution.runtime-mode=STREAMING` asks for a count after every word. With `--output`,
//! each subtask writes `word count` lines into part files `DIR/part-<subtask>-<n>`.
//!
//! In STREAMING mode with checkpoints the output is exactly-once, also across a crash:
//!
//! ```text
//! cargo run --release --example wordcount -- --input BIG.txt --output out \
//!     -D execution.runtime-mode=STREAMING -D execution.checkpointing.interval=100ms \
//!     -D execution.checkpointing.dir=/tmp/checkpoints
//! # kill it (even with SIGKILL), then resume from its last checkpoint (SPATE_LOG=info
//! # logs the path of every completed one):
//! cargo run --release --example wordcount -- ...the same arguments... \
//!     -D execution.savepoint.path=/tmp/checkpoints/<job id>/chk-<n>
//! ```

use spate::prelude::*;

/// Hamlet's soliloquy, the text Flink's WordCount counts when given no input.
const TEXT: &str = "To be, or not to be,--that is the question:--
Whether 'tis nobler in the mind to suffer
The slings and arrows of outrageous fortune
Or to take arms against a sea of troubles,
And by opposing end them?--To die,--to sleep,--
No more; and by a sleep to say we end
The heartache, and the thousand natural shocks
That flesh is heir to,--'tis a consummation
Devoutly to be wish'd. To die,--to sleep;--
To sleep! perchance to dream:--ay, there's the rub;
For in that sleep of death what dreams may come,
When we have shuffled off this mortal coil,
Must give us pause: there's the respect
That makes calamity of so long life;";

/// Splits a line into lowercase words, emitting `(word, 1)` for each.
#[derive(Clone)]
struct Tokenizer;

impl FlatMapFunction<String, (String, u64)> for Tokenizer {
    fn flat_map(&mut self, line: String, out: &mut Collector<'_, (String, u64)>) -> FnResult {
        for word in line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if !word.is_empty() {
                out.collect((word.to_ascii_lowercase(), 1));
            }
        }
        Ok(())
    }
}

fn main() -> spate::Result<()> {
    let params = Params::from_args_or_exit(
        &Usage::new("wordcount", "Counts the words of text files (of a built-in text without --input).")
            .flag(Flag::value("input", "FILE_OR_DIR", "a text file, or a directory of them, to count").repeatable())
            .flag(Flag::value("output", "DIR", "writes `word count` lines into part files in DIR instead of printing"))
            .flag(Flag::switch("plan", "prints the job's plan (JSON) instead of running it")),
    );
    let env = StreamEnv::from_params(&params)?;
    if !env.config().contains("execution.runtime-mode") {
        env.set_runtime_mode(RuntimeMode::Automatic);
    }

    let inputs = params.get_all("input");
    let lines = if inputs.is_empty() {
        env.from_iter(TEXT.lines().map(str::to_string)).name("built-in text")
    } else {
        env.read_text_files(inputs).name("text files")
    }
    .uid("lines");
    let counts = lines
        .flat_map_function(Tokenizer)
        .name("tokenizer")
        .key_by_ref(|(word, _): &(String, u64)| word)
        .sum(|(_, count): &mut (String, u64)| count)
        .name("counter")
        .uid("counter");
    match params.get("output") {
        Some(dir) => {
            counts
                .map(|(word, count)| format!("{word} {count}"))
                .name("format")
                .sink_to(FileSink::text(dir))
                .uid("files");
        }
        None => {
            counts.print();
        }
    }

    if params.has("plan") {
        println!("{}", env.execution_plan()?);
        return Ok(());
    }
    env.execute("WordCount")?;
    Ok(())
}
