"""Legal review and analysis of the log: history, verification, court export, replay,
statistics, legal holds and erasure. Used by the `sexto` command line and the intake API."""
