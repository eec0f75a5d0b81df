//! The `tocsin` binary: parse the command line, set up logging, hand over to the library.

#![forbid(unsafe_code)]

use std::io::IsTerminal;

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal: in a log file or journal they are noise
        // that breaks grep and log shippers.
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TOCSIN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    tocsin::cli::main()
}
