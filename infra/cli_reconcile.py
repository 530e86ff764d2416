"""`fundtrail reconcile`: match a bank statement of a foundation's custody account against the ledger."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import structlog
import typer
from rich.console import Console
from rich.table import Table

from infra.bank_statements import StatementError, read_statement
from infra.cli_common import EXIT_USAGE, StoreOption, fail, open_or_exit, print_json
from services.reconcile import reconcile

log = structlog.get_logger()


def parse_columns(text: str | None) -> dict[str, str]:
    """`date=Buchungstag,amount=Betrag`: our field names mapped to another bank's CSV headers."""
    if not text:
        return {}
    pairs = [item.split("=", 1) for item in text.split(",") if item.strip()]
    if any(len(pair) != 2 for pair in pairs):
        raise fail("--csv-columns reads field=Header,field=Header", EXIT_USAGE)
    return {field.strip(): header.strip() for field, header in pairs}


def reconcile_command(
    statement: Annotated[Path, typer.Argument(help="MT940, camt.053 XML or CSV statement of the custody account.")],
    foundation: Annotated[str, typer.Option("--foundation", help="Whose custody account the statement is.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    statement_format: Annotated[
        str | None, typer.Option("--format", help="mt940, camt053 or csv (else guessed).")
    ] = None,
    window_days: Annotated[
        int, typer.Option("--window-days", min=0, max=31, help="Date window for amount matching.")
    ] = 3,
    csv_columns: Annotated[
        str | None,
        typer.Option(
            "--csv-columns",
            help="Map date, amount, currency, reference, counterparty, "
            "description to another bank's headers: date=Buchungstag,amount=Betrag",
        ),
    ] = None,
    csv_date_format: Annotated[str, typer.Option("--csv-date-format")] = "%Y-%m-%d",
    opening_balance: Annotated[str | None, typer.Option("--opening-balance", help="A CSV statement's opening.")] = None,
    store: StoreOption = None,
) -> None:
    """Reconcile a statement: matched pairs, lines without entries, entries without lines, the difference.

    The result is recorded as events (statement imported, lines matched, difference noted);
    the same statement reconciled again records nothing more.
    """
    try:
        parsed = read_statement(
            statement, statement_format, parse_columns(csv_columns), csv_date_format, opening_balance
        )
    except (OSError, StatementError, UnicodeDecodeError) as error:
        raise fail(f"cannot reconcile {statement.name}: {error}", EXIT_USAGE) from None
    stores = open_or_exit(store, "reconcile")
    try:
        stores.catch_up()
        if not stores.read_model.has("foundation", foundation):
            raise fail(f"unknown_foundation: no foundation {foundation!r} in the ledger")
        result, record = reconcile(stores.application, stores.read_model, foundation, parsed, window_days)
        if record is not None:
            stores.application.save(record)
            stores.catch_up_log()
    finally:
        stores.close()
    log.info(
        "statement_reconciled",
        matched=result["matched"],
        unmatched_bank=len(result["unmatched_bank"]),
        unmatched_ledger=len(result["unmatched_ledger"]),
        recorded=record is not None,
    )
    if as_json:
        print_json(result)
    else:
        show(result)


def show(result: dict[str, Any]) -> None:
    console = Console()
    console.print(
        f"Statement {result['period'][0]} .. {result['period'][1]} ({result['currency']}): {result['matched']} matched"
    )
    for title, rows, columns in (
        (
            "Bank lines with no ledger entry",
            result["unmatched_bank"],
            ("line", "date", "amount", "reference", "reason"),
        ),
        ("Ledger entries with no bank line", result["unmatched_ledger"], ("kind", "id", "date", "amount", "reference")),
    ):
        table = Table(title=title)
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*(str(row[column] or "") for column in columns))
        console.print(table)
    console.print(
        f"statement closing {result['statement_closing']}, ledger closing {result['ledger_closing']}, "
        f"difference {result['difference']}"
    )
    if result.get("already_reconciled"):
        console.print("This statement was reconciled before: nothing new was recorded.")


def register(app: typer.Typer) -> None:
    app.command("reconcile")(reconcile_command)
