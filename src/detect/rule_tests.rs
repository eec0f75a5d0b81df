//! Rule fixtures: being built.
