//! Socket window WordCount, Flink's classic streaming example: counts the words that
//! arrive on a TCP socket in windows of five seconds of processing time.
//!
//! ```text
//! nc -lk 9999                                    # in one terminal: type words here
//! cargo run --release --example socket_window_wordcount -- --port 9999 [--hostname localhost] [--window-secs 5]
//! ```
//!
//! Every five seconds each word typed in that time is printed with its count. The job
//! ends when the server closes the connection (counts of a window that has not ended
//! by then are not printed, as in Flink: processing-time windows fire on the clock).

use std::time::Duration;

use spate::prelude::*;

/// A word and how often it was seen.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct WordWithCount {
    word: String,
    count: u64,
}

/// `print()` shows records by `Debug`; this one prints as Flink's example does.
impl std::fmt::Debug for WordWithCount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} : {}", self.word, self.count)
    }
}

fn main() -> spate::Result<()> {
    let params = Params::from_args_or_exit(
        &Usage::new("socket_window_wordcount", "Counts the words arriving on a TCP socket, per window.")
            .flag(Flag::value("port", "PORT", "the port of the text server to connect to").required())
            .flag(Flag::value("hostname", "HOST", "the host of the text server (default: localhost)"))
            .flag(Flag::value("window-secs", "N", "the length of a window in seconds (default: 5)"))
            .flag(Flag::switch("plan", "prints the job's plan (JSON) instead of running it")),
    );
    let env = StreamEnv::from_params(&params)?;
    let hostname = params.get_or("hostname", "localhost").to_string();
    // Flink's example insists on the port too: there is no sensible default server.
    let port: u16 = params.parsed("port")?.ok_or_else(|| spate::Error::MissingParameter("port".into()))?;
    let window: u64 = params.parsed("window-secs")?.unwrap_or(5);

    env.socket_text_stream(&hostname, port)
        .flat_map(|line| {
            line.split_whitespace().map(|word| WordWithCount { word: word.to_string(), count: 1 }).collect::<Vec<_>>()
        })
        .key_by(|w| w.word.clone())
        .window(TumblingProcessingTimeWindows::of(Duration::from_secs(window)))
        .reduce(|a, b| WordWithCount { word: a.word, count: a.count + b.count })
        .print()
        .set_parallelism(1);

    if params.has("plan") {
        println!("{}", env.execution_plan()?);
        return Ok(());
    }
    env.execute("Socket Window WordCount")?;
    Ok(())
}
