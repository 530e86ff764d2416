"""A projection runner killed with SIGKILL in the middle of a large import resumes exactly where it stopped."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

from infra.store import open_stores
from projections.checksum import reports_checksum
from tests.cli import FUNDTRAIL, fundtrail, output_json
from tests.ledger_fixtures import LedgerUnderTest
from tests.scripts import OPERATIONS, build_commands

COMMANDS = 10_000


def large_import(path: Path) -> None:
    chooser = random.Random(7)
    operations = [operation for operation in OPERATIONS if operation != "close"]
    steps = [
        (chooser.choice(operations), chooser.randrange(10_000), chooser.randrange(1, 200_000), chooser.randrange(2, 27))
        for _ in range(COMMANDS)
    ]
    path.write_text("".join(json.dumps(command) + "\n" for command in build_commands(steps)))


def wait_until(condition: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_a_runner_killed_mid_import_resumes_and_applies_no_event_twice(postgres_url: str, tmp_path: Path) -> None:
    stores = open_stores(postgres_url)
    LedgerUnderTest(stores.application, stores.read_model).setup_project("P")
    LedgerUnderTest(stores.application, stores.read_model).open_project("Q")
    commands = tmp_path / "large.jsonl"
    large_import(commands)
    environment = dict(os.environ, FUNDTRAIL_STORE=postgres_url, FUNDTRAIL_LOG_LEVEL="warning")

    importer = subprocess.Popen(
        [FUNDTRAIL, "import", str(commands), "--batch-size", "25"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    runner = subprocess.Popen(
        [FUNDTRAIL, "projections", "run"], env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    assert wait_until(lambda: stores.read_model.tracked()[1] > 200, timeout=120), "the runner never advanced"
    runner.send_signal(signal.SIGKILL)
    runner.wait(timeout=30)
    killed_at = stores.read_model.tracked()[1]
    assert importer.wait(timeout=600) in (0, 3), importer.stderr.read() if importer.stderr else ""

    total = stores.application.recorder.select_notifications(start=1, limit=10**9)
    assert killed_at < len(total), "the kill came after the import: the test would prove nothing"
    restarted = subprocess.run(
        [FUNDTRAIL, "projections", "run", "--until-idle", "1"],
        env=environment,
        capture_output=True,
        timeout=600,
        check=False,
    )
    assert 0 == restarted.returncode, restarted.stderr

    live = {"events": stores.read_model.tracked()[1], "checksum": reports_checksum(stores.read_model)}
    stores.close()
    assert len(total) == live["events"]
    assert output_json(fundtrail(postgres_url, "replay")) == live
