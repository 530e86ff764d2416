"""Several processes writing to the same projects at once on PostgreSQL: nothing lost, nothing paid twice."""

from __future__ import annotations

import json
import os
import random
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from infra.store import open_stores
from projections.reports import all_reports
from tests.cli import FUNDTRAIL, fundtrail, output_json
from tests.ledger_fixtures import LedgerUnderTest, at
from tests.scripts import OPERATIONS, build_commands, check_books

COMMANDS_PER_WRITER = 200


def writer_scripts(writers: int) -> list[list[dict[str, Any]]]:
    """Each writer's own donations and requests, then payouts that race for the other writers' requests."""
    operations = [operation for operation in OPERATIONS if operation != "close"]
    scripts = []
    for writer in range(writers):
        chooser = random.Random(writer)
        steps = [
            (
                chooser.choice(operations),
                chooser.randrange(10_000),
                chooser.randrange(1, 200_000),
                chooser.randrange(2, 27),
            )
            for _ in range(COMMANDS_PER_WRITER - 20)
        ]
        scripts.append(build_commands(steps, prefix=f"W{writer}-"))
    requested = [
        command["disbursement_id"]
        for script in scripts
        for command in script
        if command["type"] == "request_disbursement"
    ]
    for writer, script in enumerate(scripts):
        chooser = random.Random(100 + writer)
        script += [
            {"type": "record_payout", "disbursement_id": disbursement_id, "paid_at": at(27)}
            for disbursement_id in chooser.sample(requested, 20)
        ]
    return scripts


@pytest.mark.parametrize("writers", [4, 8])
def test_several_writers_on_the_same_projects_lose_nothing_and_pay_nothing_twice(
    postgres_url: str, tmp_path: Path, writers: int
) -> None:
    stores = open_stores(postgres_url)
    books = LedgerUnderTest(stores.application, stores.read_model)
    books.setup_project("P")
    books.open_project("Q")
    scripts = writer_scripts(writers)
    files = []
    for writer, script in enumerate(scripts):
        files.append(tmp_path / f"writer-{writer}.jsonl")
        files[-1].write_text("".join(json.dumps(command) + "\n" for command in script))

    environment = dict(os.environ, FUNDTRAIL_STORE=postgres_url, FUNDTRAIL_LOG_LEVEL="info")
    processes = [
        subprocess.Popen(
            [FUNDTRAIL, "import", str(file), "--batch-size", "10"],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for file in files
    ]
    results = [process.communicate(timeout=600) for process in processes]
    assert [None] * writers == [
        None if process.returncode in (0, 3) else stderr
        for process, (_, stderr) in zip(processes, results, strict=True)
    ]
    summaries = [json.loads(stdout) for stdout, _ in results]
    conflicts = sum(stderr.count("batch_conflicted") for _, stderr in results)

    stores.catch_up()
    reports = all_reports(stores.read_model)
    check_books(books, reports)

    payouts = Counter(
        json.loads(notification.state)["disbursement_id"]
        for notification in stores.application.recorder.select_notifications(start=1, limit=1_000_000)
        if notification.topic.endswith("PayoutSent")
    )
    assert payouts, "the writers paid nothing: the test would prove nothing"
    assert 1 == max(payouts.values())
    print(f"{conflicts} conflicting batches were decided again; {sum(payouts.values())} payouts")

    accepted_donations = {
        command["donation_id"]
        for script, summary in zip(scripts, summaries, strict=True)
        for line, command in enumerate(script, start=1)
        if command["type"] == "record_donation" and line not in {rejected["line"] for rejected in summary["rejected"]}
    }
    recorded = sum(project["donation_count"] for project in reports["project"].values())
    assert len(accepted_donations) == recorded
    stores.close()

    assert output_json(fundtrail(postgres_url, "checksum")) == output_json(fundtrail(postgres_url, "replay"))
