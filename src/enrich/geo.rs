//! GeoIP (issue 2): being built.
