"""Benchmarks and the shared harness of the reliability tests (tests/reliability/)."""
