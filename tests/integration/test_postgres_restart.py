"""PostgreSQL restarted in the middle of an import: the import retries or stops with a clear error, never loses."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from tests.cli import FUNDTRAIL, fundtrail, output_json
from tests.integration.conftest import DEFAULT_POSTGRES, postgres_base
from tests.integration.test_kafka import prepared_store, story_file


def restart_local_postgres() -> None:
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
        check=True,
        capture_output=True,
        timeout=120,
    )


def wait_for_postgres(seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            psycopg.connect(postgres_base(), connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            time.sleep(0.2)
    raise RuntimeError("PostgreSQL did not come back")


def test_a_restart_during_an_import_loses_nothing(postgres_url: str, tmp_path: Path) -> None:
    if postgres_base() != DEFAULT_POSTGRES or not shutil.which("pg_ctlcluster") or os.geteuid() != 0:
        pytest.skip("restarting PostgreSQL needs the local test server and root (CI on our machines has both)")
    commands = story_file(tmp_path / "story.jsonl", 4000, seed=11)
    clean = f"sqlite:///{tmp_path / 'clean.db'}"
    for store in (clean, postgres_url):
        prepared_store(store)
    expected = output_json(fundtrail(clean, "replay"))

    importer = subprocess.Popen(
        [FUNDTRAIL, "import", str(commands), "--batch-size", "50"],
        env=dict(os.environ, FUNDTRAIL_STORE=postgres_url, FUNDTRAIL_LOG_LEVEL="warning"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.5)
    restart_local_postgres()
    wait_for_postgres()
    _, stderr = importer.communicate(timeout=600)
    assert importer.returncode in (0, 1, 3), stderr
    assert "Traceback" not in stderr
    if importer.returncode == 1:
        assert "import stopped" in stderr

    fundtrail(clean, "import", str(commands))
    fundtrail(postgres_url, "import", str(commands))
    # The books are equal; the event counts may differ by the import-progress events of the retries.
    books = output_json(fundtrail(clean, "replay"))["checksum"]
    assert books == output_json(fundtrail(postgres_url, "replay"))["checksum"]
    assert expected["checksum"] != books, "the import changed nothing: it proves nothing"
