//! Kafka source (issue 5): not built yet.
