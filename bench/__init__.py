"""The load benchmark: `python -m bench` (see docs/benchmarks.md).

Kept outside tests/ so pytest never collects it.
"""
