"""`fundtrail import` killed with SIGKILL at random points, then run again: the same ledger as one clean run."""

from __future__ import annotations

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

COMMANDS = 4000


def kill_after(store: str, commands: Path, seconds: float) -> int:
    """Start an import and SIGKILL it after `seconds`; returns its exit code (negative: killed)."""
    process = subprocess.Popen(
        [FUNDTRAIL, "import", str(commands), "--batch-size", "50"],
        env=dict(os.environ, FUNDTRAIL_STORE=store, FUNDTRAIL_LOG_LEVEL="warning"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(seconds)
    process.send_signal(signal.SIGKILL)
    return process.wait(timeout=30)


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
    uninterrupted = output_json(fundtrail(clean, "import", str(commands)))

    chooser = random.Random(store_kind)
    killed = [kill_after(crashed, commands, chooser.uniform(0.8, 2.5)) for _ in range(3)]
    assert any(code == -signal.SIGKILL for code in killed), "no import was killed: the test would prove nothing"
    finished = output_json(fundtrail(crashed, "import", str(commands)))

    assert uninterrupted["rejected"] == finished["rejected"]
    # What the killed runs had recorded comes back as duplicates: nothing twice, nothing lost.
    assert uninterrupted["applied"] + uninterrupted["duplicates"] == finished["applied"] + finished["duplicates"]
    assert output_json(fundtrail(clean, "replay")) == output_json(fundtrail(crashed, "replay"))
    if store_kind == "postgresql":
        drop_schema(crashed.rsplit("schema=", 1)[1])
