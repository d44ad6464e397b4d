"""Benchmarks of issue 12: each program prints a table with the ratio against a baseline measured in the same run."""
