"""Reconciling statements in all three formats, made from the xiaolin ledger with every kind of discrepancy."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.cli import fundtrail, output_json

XIAOLIN = Path(__file__).parents[1] / "scenario" / "xiaolin" / "commands.jsonl"


@dataclass(frozen=True)
class Line:
    day: int
    amount: str  # signed, e.g. "-2000.00"
    reference: str = ""
    description: str = ""
    reversal: bool = False


# The custody account in March 2026, as the bank saw it.
LINES = {
    "dn1": Line(2, "500.00", "BK-0001", "张女士 donation"),
    "dn2_typo": Line(3, "3000.00", "BK-0020", "union donation, reference mistyped"),
    "dn4_cent_off": Line(4, "300.01", "OL-7790", "online donation, a cent off"),
    "ds1": Line(6, "-2000.00", "PAY-0001", "hospital deposit"),
    "twin_a": Line(20, "300.00", "", "credit without reference"),
    "twin_b": Line(20, "300.00", "", "credit without reference"),
    "rd1": Line(21, "-200.00", "", "refund to donor"),
    "reversed": Line(10, "80.00", "REV-1", "credited in error"),
    "reversal": Line(11, "-80.00", "REV-1", "reversal", reversal=True),
    "ds2": Line(26, "-1000.00", "PAY-0002", "discharge bill"),
    "fee": Line(31, "-50.00", "FEE-03", "account fee"),
}
EXPECTED_MATCHES = {
    ("dn1", "donation", "DN1", "reference"),
    ("dn2_typo", "donation", "DN2", "amount_and_date"),
    ("ds1", "payout", "DS1", "reference"),
    ("rd1", "donor_refund", "RD1", "amount_and_date"),
    ("ds2", "payout", "DS2", "reference"),
}
EXPECTED_UNMATCHED_BANK = {"dn4_cent_off", "twin_a", "twin_b", "reversed", "reversal", "fee"}
# DN3 has no bank line; DN4's line is a cent off; RF1 has two equal candidate lines on its day.
EXPECTED_UNMATCHED_LEDGER = {("donation", "DN3"), ("donation", "DN4"), ("payee_refund", "RF1")}


def mt940(lines: dict[str, Line]) -> tuple[str, dict[str, str]]:
    text = [":20:STMT-2026-03", ":25:CNRC0001/4400123456", ":28C:3/1", ":60F:C260301CNY0,00"]
    where = {}
    for name, line in lines.items():
        # SWIFT: RC reverses a credit (money out), RD reverses a debit (money in).
        mark = (
            ("RC" if line.amount.startswith("-") else "RD")
            if line.reversal
            else ("D" if line.amount.startswith("-") else "C")
        )
        where[name] = f"line {len(text) + 1}"
        reference = line.reference or "NONREF"
        text += [
            f":61:2603{line.day:02d}03{line.day:02d}{mark}{line.amount.lstrip('-').replace('.', ',')}NTRF"
            f"{reference}//B{len(text)}",
            f":86:{line.description}",
        ]
    closing = sum(int(line.amount.replace(".", "")) for line in lines.values())
    text.append(f":62F:{'C' if closing >= 0 else 'D'}260331CNY{abs(closing) // 100},{abs(closing) % 100:02d}")
    return "\n".join(text) + "\n", where


def camt053(lines: dict[str, Line]) -> tuple[str, dict[str, str]]:
    closing = sum(int(line.amount.replace(".", "")) for line in lines.values())
    entries, where = [], {}
    for number, (name, line) in enumerate(lines.items(), start=1):
        where[name] = f"Ntry[{number}]"
        reference = f"<Refs><EndToEndId>{line.reference}</EndToEndId></Refs>" if line.reference else ""
        entries.append(
            f'<Ntry><Amt Ccy="CNY">{line.amount.lstrip("-")}</Amt>'
            f"<CdtDbtInd>{'DBIT' if line.amount.startswith('-') else 'CRDT'}</CdtDbtInd>"
            f"<RvslInd>{'true' if line.reversal else 'false'}</RvslInd><Sts>BOOK</Sts>"
            f"<BookgDt><Dt>2026-03-{line.day:02d}</Dt></BookgDt><NtryDtls><TxDtls>{reference}"
            f"<RmtInf><Ustrd>{line.description}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>"
        )
    balance = (
        '<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy="CNY">{amount}</Amt>'
        "<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>{day}</Dt></Dt></Bal>"
    )
    document = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt><Stmt><Id>S-2026-03</Id>'
        "<Acct><Id><Othr><Id>4400123456</Id></Othr></Id><Ccy>CNY</Ccy></Acct>"
        + balance.format(code="OPBD", amount="0.00", day="2026-03-01")
        + balance.format(code="CLBD", amount=f"{closing // 100}.{closing % 100:02d}", day="2026-03-31")
        + "".join(entries)
        + "</Stmt></BkToCstmrStmt></Document>"
    )
    return document, where


def csv_statement(lines: dict[str, Line]) -> tuple[str, dict[str, str]]:
    rows = ["Booking date,Amount,Currency,Reference,Counterparty,Text"]
    where = {}
    for name, line in lines.items():
        where[name] = f"line {len(rows) + 1}"
        rows.append(f"2026-03-{line.day:02d},{line.amount},CNY,{line.reference},,{line.description}")
    return "\n".join(rows) + "\n", where


FORMATS = {"mt940": mt940, "camt053": camt053, "csv": csv_statement}
CSV_OPTIONS = [
    "--csv-columns",
    "date=Booking date,amount=Amount,currency=Currency,reference=Reference,counterparty=Counterparty,description=Text",
]


@pytest.fixture
def store(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    fundtrail(url, "import", str(XIAOLIN))
    return url


def reconcile(store: str, path: Path, kind: str) -> Any:
    return fundtrail(
        store, "reconcile", str(path), "--foundation", "F-RC", "--json", *(CSV_OPTIONS if kind == "csv" else [])
    )


@pytest.mark.parametrize("kind", FORMATS)
def test_each_discrepancy_lands_in_the_right_set(store: str, tmp_path: Path, kind: str) -> None:
    text, where = FORMATS[kind](LINES)
    path = tmp_path / f"statement.{kind}"
    path.write_text(text)
    done = reconcile(store, path, kind)
    assert 0 == done.returncode, done.stderr
    result = output_json(done)
    name_of = {location: name for name, location in where.items()}
    assert EXPECTED_MATCHES == {(name_of[m["line"]], m["kind"], m["id"], m["how"]) for m in result["matches"]}
    assert EXPECTED_UNMATCHED_BANK == {name_of[line["line"]] for line in result["unmatched_bank"]}
    assert EXPECTED_UNMATCHED_LEDGER == {(entry["kind"], entry["id"]) for entry in result["unmatched_ledger"]}
    assert ("1150.01", "1100.00", "50.01") == (
        result["statement_closing"],
        result["ledger_closing"],
        result["difference"],
    )


@pytest.mark.parametrize("kind", ["mt940", "camt053"])
def test_a_reversal_is_reported_with_its_reason(store: str, tmp_path: Path, kind: str) -> None:
    text, where = FORMATS[kind](LINES)
    path = tmp_path / f"statement.{kind}"
    path.write_text(text)
    reasons = {line["line"]: line["reason"] for line in output_json(reconcile(store, path, kind))["unmatched_bank"]}
    assert ("reversal", f"reversed by {where['reversal']}") == (reasons[where["reversal"]], reasons[where["reversed"]])


def test_reconciling_the_same_statement_twice_records_nothing_the_second_time(store: str, tmp_path: Path) -> None:
    text, _ = mt940(LINES)
    path = tmp_path / "statement.sta"
    path.write_text(text)
    first = output_json(reconcile(store, path, "mt940"))
    events = [json.loads(line)["type"] for line in fundtrail(store, "export", "--format", "events").stdout.splitlines()]
    assert (1, 5, 1) == tuple(events.count(kind) for kind in ("StatementImported", "LineMatched", "DifferenceNoted"))
    second = output_json(reconcile(store, path, "mt940"))
    assert len(events) == len(fundtrail(store, "export", "--format", "events").stdout.splitlines())
    assert (False, True) == (first["already_reconciled"], second["already_reconciled"])
    assert {**first, "already_reconciled": True} == second


@pytest.mark.parametrize(
    ("kind", "broken", "named"),
    [
        ("camt053", lambda text: text.replace("<CdtDbtInd>CRDT</CdtDbtInd><RvslInd>", "<RvslInd>", 1), "Ntry[1]"),
        ("csv", lambda text: text.replace("2026-03-06", "06/03/2026"), "line 5"),
        ("mt940", lambda text: text.replace(":62F:", ":62X:"), ":62F:"),
        ("camt053", lambda text: text[: len(text) // 2], "XML"),
    ],
)
def test_a_malformed_statement_names_the_line_or_element_and_records_nothing(
    store: str, tmp_path: Path, kind: str, broken: Any, named: str
) -> None:
    text, _ = FORMATS[kind](LINES)
    path = tmp_path / f"broken.{kind}"
    path.write_text(broken(text))
    before = fundtrail(store, "export", "--format", "events").stdout
    done = reconcile(store, path, kind)
    assert 2 == done.returncode
    assert named in done.stderr
    assert before == fundtrail(store, "export", "--format", "events").stdout
