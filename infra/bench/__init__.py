"""The benchmark suite: a seeded data generator and the harness that writes BENCHMARKS.md."""
