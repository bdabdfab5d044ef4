"""The throughput benchmark: `uv run python -m bench.run` (see bench/README.md).

Not part of the test suite: it times things. `tests/unit/test_bench_smoke.py` only checks
that the page generator and the URL list builder work.
"""
