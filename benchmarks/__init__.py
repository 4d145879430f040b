"""Reproducible measurements: `python -m benchmarks [--quick] [--images DIR]` writes benchmarks/RESULTS.md."""
