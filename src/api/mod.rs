//! The HTTP API (issue 6): being built.
