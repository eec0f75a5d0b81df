//! Synthetic traffic (issue 4): being built.
