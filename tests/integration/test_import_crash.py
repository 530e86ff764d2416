"""`fundtrail import` killed with SIGKILL at random points, then run again: the same ledger as one clean run."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.cli import FUNDTRAIL, fundtrail, output_json
from tests.integration.conftest import drop_schema
from tests.integration.test_kafka import prepared_store, story_file

COMMANDS = 12_000


def run_or_kill(store: str, commands: Path, seconds: float) -> tuple[int, str]:
    """Start an import and SIGKILL it after `seconds` unless it finished first: (exit code, its stdout)."""
    process = subprocess.Popen(
        [FUNDTRAIL, "import", str(commands), "--batch-size", "50"],
        env=dict(os.environ, FUNDTRAIL_STORE=store, FUNDTRAIL_LOG_LEVEL="warning"),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        stdout, _ = process.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        stdout, _ = process.communicate(timeout=30)
    return process.returncode, stdout


@pytest.mark.parametrize("store_kind", ["sqlite", "postgresql"])
def test_an_import_killed_anywhere_and_run_again_equals_an_uninterrupted_import(
    store_kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if store_kind == "sqlite":
        clean, crashed = f"sqlite:///{tmp_path / 'clean.db'}", f"sqlite:///{tmp_path / 'crashed.db'}"
    else:
        clean = request.getfixturevalue("postgres_url")
        crashed = clean.replace("schema=", "schema=crashed_")
    commands = story_file(tmp_path / "story.jsonl", COMMANDS, seed=9)
    for store in (clean, crashed):
        prepared_store(store)
    started = time.perf_counter()
    uninterrupted = output_json(fundtrail(clean, "import", str(commands)))
    # Kill points inside the import's own run time on this machine: a kill after the import has
    # recorded its end (while it brings the reports up to date, say) interrupts nothing, and
    # importing a finished file again is a new import, not a resumed one.
    duration = time.perf_counter() - started

    chooser = random.Random(store_kind)
    kills = 0
    for _ in range(3):
        code, stdout = run_or_kill(crashed, commands, chooser.uniform(0.25, 0.6) * duration)
        if code != -signal.SIGKILL:
            break
        kills += 1
    else:
        stdout = fundtrail(crashed, "import", str(commands)).stdout
    assert kills > 0, "no import was killed: the test would prove nothing"
    finished = json.loads(stdout)

    assert uninterrupted["rejected"] == finished["rejected"]
    # What the killed runs had recorded comes back as duplicates: nothing twice, nothing lost.
    assert uninterrupted["applied"] + uninterrupted["duplicates"] == finished["applied"] + finished["duplicates"]
    # The books are equal; event counts differ only by the import-progress events of each run.
    assert output_json(fundtrail(clean, "replay"))["checksum"] == output_json(fundtrail(crashed, "replay"))["checksum"]
    if store_kind == "postgresql":
        drop_schema(crashed.rsplit("schema=", 1)[1])
