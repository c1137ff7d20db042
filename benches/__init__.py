"""Benchmarks: each prints a fixed-width table and writes JSON (``--json PATH``)."""
