//! Per-account baselines (issue 3): being built.
