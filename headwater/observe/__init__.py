"""Observing runs: progress on a terminal, logs, metrics."""
