"""Benchmarks (run as ``python -m benches.<name>`` or ``python benches/<name>.py``)."""
