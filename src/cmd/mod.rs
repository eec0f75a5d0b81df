//! One module per command: its clap arguments and the glue that runs it. Commands turn
//! arguments and configuration into the library's typed parts; no detection logic lives here.

use std::fmt;

pub(crate) mod decode;
pub(crate) mod demo;
pub(crate) mod eval;
pub(crate) mod gen;
pub(crate) mod name_key;
pub(crate) mod replay;
pub mod rules;
pub(crate) mod run;
pub mod topics;

/// Exit code for unusable arguments or configuration.
pub const EXIT_USAGE: u8 = 2;

/// A command's failure: whose fault it is decides the exit code.
#[derive(Debug)]
pub enum CmdError {
    /// Unusable arguments or configuration (exit 2).
    Usage(String),
    /// Something failed while running (exit 1).
    Failed(anyhow::Error),
}

impl CmdError {
    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            CmdError::Usage(_) => EXIT_USAGE,
            CmdError::Failed(_) => 1,
        }
    }
}

impl fmt::Display for CmdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CmdError::Usage(m) => f.write_str(m),
            CmdError::Failed(e) => write!(f, "{e:#}"),
        }
    }
}

impl<E: Into<anyhow::Error>> From<E> for CmdError {
    fn from(e: E) -> Self {
        CmdError::Failed(e.into())
    }
}

/// What a command returns.
pub type CmdResult = Result<std::process::ExitCode, CmdError>;
