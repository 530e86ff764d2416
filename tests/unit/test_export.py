"""The journal export: beancount and hledger accept it and compute the same balances as the ledger's own reports."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from beancount import loader
from beancount.core import account, data, inventory
from hypothesis import given, settings
from hypothesis import strategies as st

from projections.journal import account_component, custody_account, journal, project_account
from tests.ledger_fixtures import LedgerUnderTest, at
from tests.scripts import PROJECTS, build_commands, steps

XIAOLIN = Path(__file__).parents[1] / "scenario" / "xiaolin" / "commands.jsonl"

# Balances as {account: {currency: amount}}, zero amounts left out so that "no postings" and
# "postings that cancel out" compare equal.
Balances = dict[str, dict[str, Decimal]]


def xiaolin_ledger() -> LedgerUnderTest:
    books = LedgerUnderTest()
    books.ledger.execute_batch([json.loads(line) for line in XIAOLIN.read_text(encoding="utf-8").splitlines()])
    return books


def events_in_ledger_order(books: LedgerUnderTest) -> list[tuple[int, Any]]:
    app = books.application
    return [(n.id, app.mapper.to_domain_event(n)) for n in app.recorder.select_notifications(start=1, limit=10**9)]


def journal_text(books: LedgerUnderTest, dialect: str) -> str:
    return "\n".join(journal(events_in_ledger_order(books), dialect)) + "\n"


def without_zeros(balances: Balances) -> Balances:
    return {
        name: {currency: amount for currency, amount in amounts.items() if amount != 0}
        for name, amounts in balances.items()
    }


def ledger_balances(books: LedgerUnderTest, foundation_ids: list[str], project_ids: list[str]) -> Balances:
    """What the journal's balances must be, from the ledger's own foundation and project reports."""
    balances: Balances = {}
    for foundation_id in foundation_ids:
        custody = books.report("foundation", foundation_id)["custody"]
        balances[custody_account(foundation_id)] = {currency: Decimal(amount) for currency, amount in custody.items()}
    for project_id in project_ids:
        project = books.report("project", project_id)
        # The project's fund is owed to its use: a liability, so minus the project's balance.
        balances[project_account(project_id)] = {project["currency"]: -Decimal(project["balance"])}
    return without_zeros(balances)


def beancount_balances(text: str, accounts: list[str]) -> Balances:
    """The balances beancount's loader computes for `accounts`, after checking the file has no errors."""
    entries, errors, _ = loader.load_string(text)
    assert [] == [error.message for error in errors]
    totals: dict[str, inventory.Inventory] = defaultdict(inventory.Inventory)
    for entry in entries:
        if isinstance(entry, data.Transaction):
            for posting in entry.postings:
                assert posting.units is not None
                totals[posting.account].add_amount(posting.units)
    return without_zeros(
        {name: {position.units.currency: position.units.number for position in totals[name]} for name in accounts}
    )


def hledger_balances(text: str, directory: Path) -> Balances:
    """The balances hledger reports for every account, with --strict so undeclared names are errors."""
    path = directory / "ledger.journal"
    path.write_text(text, encoding="utf-8")
    done = subprocess.run(
        [hledger(), "--strict", "-f", str(path), "balance", "--flat", "--no-total", "-O", "csv", "--layout=bare"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (0, "") == (done.returncode, done.stderr)
    balances: Balances = defaultdict(dict)
    for row in csv.DictReader(io.StringIO(done.stdout)):
        balances[row["account"]][row["commodity"]] = Decimal(row["balance"])
    return without_zeros(dict(balances))


def hledger() -> str:
    found = shutil.which("hledger")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("hledger is not installed, and CI must check the hledger export")
        pytest.skip("hledger is not installed")
    return found


def transaction_sums(text: str) -> list[dict[str, Decimal]]:
    """The sum per currency of each transaction's postings, read from the journal text of either dialect."""
    sums: list[dict[str, Decimal]] = []
    for line in text.splitlines():
        if line[:1].isdigit() and " * " in line:
            sums.append(defaultdict(Decimal))
        elif line.startswith(" ") and line.strip()[:1].isupper() and sums:
            # A posting: "Account  123.45 CNY". Metadata keys are lower case and comments start with ";".
            _, number, currency = line.split()
            sums[-1][currency] += Decimal(number)
    return [dict(amounts) for amounts in sums]


def test_beancount_loads_the_xiaolin_journal_without_errors_and_with_the_reports_balances() -> None:
    books = xiaolin_ledger()
    expected = ledger_balances(books, ["F-RC"], ["P-XL"])
    assert {"Assets:Custody:F-RC": {"CNY": Decimal("1100.00")}} == {
        "Assets:Custody:F-RC": expected["Assets:Custody:F-RC"]
    }
    assert expected == beancount_balances(journal_text(books, "beancount"), list(expected))


@settings(max_examples=25, deadline=None)
# At least twenty steps, so that most examples pay out and refund money, not only receive it.
@given(st.lists(steps, min_size=20, max_size=80))
def test_beancount_agrees_with_the_reports_on_every_project_and_the_foundation_of_any_ledger(
    script: list[tuple[str, int, int, int]],
) -> None:
    books = LedgerUnderTest()
    books.setup_project("P")
    books.open_project("Q")
    books.ledger.execute_batch(build_commands(script))
    expected = ledger_balances(books, ["F"], PROJECTS)
    assert expected == beancount_balances(journal_text(books, "beancount"), list(expected))


def test_hledger_accepts_the_xiaolin_journal_and_reports_the_same_balances(tmp_path: Path) -> None:
    books = xiaolin_ledger()
    assert ledger_balances(books, ["F-RC"], ["P-XL"]) == hledger_balances(journal_text(books, "hledger"), tmp_path)


@pytest.mark.parametrize("dialect", ["beancount", "hledger"])
def test_every_transaction_of_the_xiaolin_journal_sums_to_zero_in_each_currency(dialect: str) -> None:
    sums = transaction_sums(journal_text(xiaolin_ledger(), dialect))
    # Four donations, two payouts, one payee refund and one donor refund were applied (RD2 was refused).
    assert [{"CNY": Decimal(0)}] * 8 == sums


def test_an_unknown_dialect_is_refused_when_asked_for() -> None:
    with pytest.raises(ValueError, match="ledger-cli"):
        journal([], "ledger-cli")


def test_ids_that_are_valid_account_names_are_used_unchanged() -> None:
    assert ["P-XL", "F-RC", "DN1", "2026"] == [account_component(name) for name in ["P-XL", "F-RC", "DN1", "2026"]]


def test_other_ids_become_a_slug_and_the_hexadecimal_of_the_id() -> None:
    assert ["P-1--702E31", "P--1--502D2D31", "Rc-x--72632E78"] == [
        account_component(name) for name in ["p.1", "P--1", "rc.x"]
    ]


@given(st.lists(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:@/-]{0,30}", fullmatch=True), unique=True))
def test_distinct_ledger_ids_map_to_distinct_valid_account_names(identifiers: list[str]) -> None:
    names = [project_account(identifier) for identifier in identifiers]
    assert [True] * len(names) == [account.is_valid(name) for name in names]
    assert len(identifiers) == len(set(names))


def test_a_ledger_with_ids_that_need_mapping_loads_and_keeps_the_original_ids() -> None:
    books = LedgerUnderTest()
    outcomes = books.ledger.execute_batch(
        [
            {"type": "register_foundation", "foundation_id": "rc.found", "name": "基金会", "public_fundraising": True},
            {"type": "register_partner", "partner_id": "TX", "name": "社工中心"},
            {"type": "register_donor", "donor_id": "D1", "display_name": "张女士", "anonymous": False},
            {
                "type": "open_project",
                "project_id": "p/1",
                "foundation_id": "rc.found",
                "partner_id": "TX",
                "name": "项目",
                "currency": "CNY",
                "opened_at": at(1),
            },
            {
                "type": "record_donation",
                "donation_id": "dn:1",
                "donor_id": "D1",
                "project_id": "p/1",
                "amount": "500.00",
                "currency": "CNY",
                "channel": "online",
                "received_at": at(2),
            },
        ]
    )
    assert ["applied"] * 5 == [outcome.status for outcome in outcomes]
    text = journal_text(books, "beancount")
    expected = {"Assets:Custody:Rc-found--72632E666F756E64": {"CNY": Decimal("500.00")}}
    expected["Liabilities:Projects:P-1--702F31"] = {"CNY": Decimal("-500.00")}
    assert expected == ledger_balances(books, ["rc.found"], ["p/1"])
    assert expected == beancount_balances(text, list(expected))
    transactions = [entry for entry in loader.load_string(text)[0] if isinstance(entry, data.Transaction)]
    assert [("p/1", "rc.found", "dn:1")] == [
        (entry.meta["project_id"], entry.meta["foundation_id"], entry.meta["donation_id"]) for entry in transactions
    ]
