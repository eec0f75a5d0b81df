//! Rules (issue 3): being built.
