"""Readable tables of the reports, for a person at a terminal (the JSON is for programs)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def report(console: Console, kind: str, result: dict[str, Any]) -> None:
    {"project": project, "donor": donor, "payee": payee, "foundation": foundation}[kind](console, result)


def project(console: Console, result: dict[str, Any]) -> None:
    table = Table(title=f"Project {result['project_id']} ({result['status']}, {result['currency']})")
    table.add_column("figure")
    table.add_column("amount", justify="right")
    for key in ("donated", "refunded_to_donors", "paid_out", "returned_by_payees", "balance", "reserved", "available"):
        table.add_row(key.replace("_", " "), result[key])
    table.add_row("donations", str(result["donation_count"]))
    table.add_row("donors", str(result["donor_count"]))
    console.print(table)


def donor(console: Console, result: dict[str, Any]) -> None:
    table = Table(title=f"Where the donations of {result['donor_id']} went")
    for column in ("donation", "project", "amount", "went to", "refunded", "still held"):
        table.add_column(column, justify="right" if column in ("amount", "refunded", "still held") else "left")
    for donation in result["donations"]:
        went = (
            "\n".join(
                f"{spent['payee_id']} {spent['amount']} ({spent['disbursement_id']})" for spent in donation["spent"]
            )
            or "-"
        )
        table.add_row(
            donation["donation_id"],
            donation["project_id"],
            f"{donation['amount']} {donation['currency']}",
            went,
            donation["refunded"],
            donation["unspent"],
        )
    console.print(table)


def payee(console: Console, result: dict[str, Any]) -> None:
    table = Table(title=f"Payee {result['payee_id']}")
    for column in ("currency", "paid", "returned", "net"):
        table.add_column(column, justify="right")
    for currency, totals in result["totals"].items():
        table.add_row(currency, totals["paid"], totals["returned"], totals["net"])
    console.print(table)


def foundation(console: Console, result: dict[str, Any]) -> None:
    table = Table(title=f"Custody of foundation {result['foundation_id']}")
    table.add_column("currency")
    table.add_column("held", justify="right")
    for currency, amount in result["custody"].items():
        table.add_row(currency, amount)
    console.print(table)
    console.print(f"projects: {', '.join(result['projects']) or '-'}")
