"""Use-cases and the worker: the only place that reads the clock and touches storage."""
