//! `.mmdb` fixture generation from [`crate::world`] (issue 2): being built.
