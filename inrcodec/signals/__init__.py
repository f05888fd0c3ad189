"""Signals: file readers and writers, the mapping of values to [0, 1], grid geometry and metrics (numpy only)."""
