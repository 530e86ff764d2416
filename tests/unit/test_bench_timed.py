"""The benchmark's timed(): a command's peak memory is its own, not the benchmark's, and a failure is an error."""

from __future__ import annotations

import sys

import pytest

from infra.bench.harness import timed


def test_the_peak_memory_is_the_commands_own_not_the_benchmarks() -> None:
    held = b"x" * (300 << 20)  # the benchmark's own memory, far above the command's
    run = timed(sys.executable, "-c", "import sys; data = b'y' * (60 << 20); print(len(data))")
    assert len(held) == 300 << 20
    assert run.output == f"{60 << 20}\n"
    assert 60 <= run.max_rss_mib < 200
    assert run.seconds > 0


def test_exit_three_is_a_run_and_any_other_failure_an_error() -> None:
    assert timed(sys.executable, "-c", "print('rejected lines'); raise SystemExit(3)").output == "rejected lines\n"
    with pytest.raises(RuntimeError, match="failed with exit 1"):
        timed(sys.executable, "-c", "raise SystemExit(1)")
    with pytest.raises(RuntimeError, match="failed with exit 1"):
        timed("a-command-that-is-not-installed")
