//! User-agent enrichment (issue 2): being built.
