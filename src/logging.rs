//! Logging to standard error through `tracing`.

use std::str::FromStr;
use std::sync::Once;

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Installs Spate's log output once per process: warnings and errors by default; the
/// level is set with `SPATE_LOG` (or `RUST_LOG`), e.g. `SPATE_LOG=info` or
/// `SPATE_LOG=spate_runtime=debug,info`. Does nothing if the program installed its own
/// `tracing` subscriber first.
pub fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let spec = std::env::var("SPATE_LOG").or_else(|_| std::env::var("RUST_LOG")).unwrap_or_default();
        let filter = Targets::from_str(if spec.trim().is_empty() { "warn" } else { &spec })
            .unwrap_or_else(|_| Targets::from_str("warn").expect("a valid filter"));
        // Colours only on a terminal: logs written to files and pipes stay plain text.
        let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_target(false).with_ansi(ansi);
        let _ = tracing_subscriber::registry().with(filter).with(fmt).try_init();
    });
}
