//! Backtesting alerts against ground truth (issue 4): being built.
