//! The `eidas-bridge` binary: installs tracing, then hands over to the library's command line.

use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

/// Default filter when `BRIDGE_LOG` is unset (STYLE.md).
const DEFAULT_LOG_FILTER: &str = "warn,eidas_bridge=info,trust_lists=info";

fn main() -> ExitCode {
    let filter = std::env::var("BRIDGE_LOG").unwrap_or_else(|_| DEFAULT_LOG_FILTER.to_owned());
    let filter = EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
    // Logs go to stderr so that `--json` output on stdout stays machine-readable.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match std::env::var("BRIDGE_LOG_FORMAT").as_deref() {
        Ok("json") => builder.json().init(),
        _ => builder.init(),
    }
    eidas_bridge::cli::main()
}
