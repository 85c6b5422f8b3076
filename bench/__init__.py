"""Benchmarks: `python -m bench NAME` runs `bench/NAME.py` (see docs/performance.md).

Every benchmark measures shopfloor and its floor (the raw operation without shopfloor logic)
in the same run and prints, as its last line, `NAME: ratio=... tx_per_s=... p99_ms=...
p99_ratio=...`. Shared machinery lives in `bench.lib`.
"""
