"""A tiny run of the benchmark suite, so that it cannot rot; it asserts what was measured, never how fast."""

from __future__ import annotations

import os
from pathlib import Path

from tests.cli import fundtrail


def test_a_tiny_benchmark_run_writes_every_figure(tmp_path: Path) -> None:
    output = tmp_path / "BENCHMARKS.md"
    done = fundtrail(
        "sqlite:///unused.db",
        "bench",
        "--scale",
        "0.0005",
        "--no-peers",
        "--load-requests",
        "40",
        "--output",
        str(output),
        # A real Kafka when the tests are given one; otherwise the bench starts the Tansu broker itself.
        *(["--bootstrap", os.environ["FUNDTRAIL_TEST_KAFKA"]] if os.environ.get("FUNDTRAIL_TEST_KAFKA") else []),
        env={"FUNDTRAIL_LOG_LEVEL": "warning"},
        timeout=600,
    )
    assert 0 == done.returncode, done.stderr
    text = output.read_text()
    for figure in (
        "import commands/s",
        "replay events/s",
        "verify events/s",
        "donor trail p50 / p99 (services)",
        "project report p50 / p99 (HTTP API)",
        "plain eventsourcing way",
        "first command to the largest project, new process",
        "HTTP load: requests, concurrency, errors",
        "HTTP load: command p50 / p99",
        "Kafka relay: events/s",
        "Kafka worker: events/s",
        "Kafka end-to-end lag",
        "Python floor of a donation (its steps alone, µs)",
        "Python floor, donations/s on one core",
    ):
        assert f"| {figure}" in text
    assert "| - |" not in text
    assert "(first pass p99 " in text
    assert "- SQLite: import is " in text and "x the plain eventsourcing way" in text
    assert "of the Python floor's donations/s" in text
    assert "| HTTP load: requests, concurrency, errors | 40, 16, 0 |" in text
