"""Bank statements of a custody account: SWIFT MT940 (the mt-940 package), ISO 20022 camt.053, or CSV."""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as SafeXML
import mt940

from domain.money import CURRENCY_EXPONENTS
from domain.reconciliation import BankLine
from services.reconcile import StatementFacts

CSV_FIELDS = ("date", "amount", "currency", "reference", "counterparty", "description")


class StatementError(ValueError):
    """A statement that cannot be read; the message names the line or element."""


# What every reader returns: the statement's facts, independent of its file format.
Statement = StatementFacts


def minor_units(amount: Decimal | str, currency: str, where: str) -> int:
    """Exact minor units of a bank amount; more places than the currency has is an error, never rounded."""
    exponent = CURRENCY_EXPONENTS.get(currency)
    if exponent is None:
        raise StatementError(f"{where}: currency {currency!r} is not supported")
    try:
        scaled = Decimal(str(amount).replace(",", ".").strip()) * (10**exponent)
    except InvalidOperation:
        raise StatementError(f"{where}: amount {amount!r} is not a number") from None
    if scaled != scaled.to_integral_value():
        raise StatementError(f"{where}: amount {amount!r} has more than {exponent} decimal places")
    return int(scaled)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_statement(
    path: Path,
    kind: str | None = None,
    csv_columns: dict[str, str] | None = None,
    csv_date_format: str = "%Y-%m-%d",
    opening: str | None = None,
) -> Statement:
    data = path.read_bytes()
    kind = kind or _guess(path, data)
    if kind == "mt940":
        return _mt940(data)
    if kind == "camt053":
        return _camt053(data)
    if kind == "csv":
        return _csv(data, csv_columns or {}, csv_date_format, opening)
    raise StatementError(f"unknown statement format {kind!r}: mt940, camt053 or csv")


def _guess(path: Path, data: bytes) -> str:
    head = data.lstrip()[:200]
    if head.startswith(b"<"):
        return "camt053"
    if head.startswith(b":20:") or b"\n:20:" in data[:400] or path.suffix.lower() in (".sta", ".mt940"):
        return "mt940"
    return "csv"


def _mt940(data: bytes) -> Statement:
    text = data.decode("utf-8", errors="strict")
    transactions = mt940.models.Transactions()
    try:
        transactions.parse(text)
    except Exception as error:  # noqa: BLE001 - the parser raises many types for a broken file
        raise StatementError(f"MT940: {error}") from None
    opening, closing = transactions.data.get("final_opening_balance"), transactions.data.get("final_closing_balance")
    if opening is None or closing is None:
        raise StatementError("MT940: the :60F: opening or :62F: closing balance is missing")
    currency = str(closing.amount.currency)
    lines = []
    tags = [number for number, text_line in enumerate(text.splitlines(), start=1) if text_line.startswith(":61:")]
    for index, transaction in enumerate(transactions):
        where = f"line {tags[index]}" if index < len(tags) else f":61: #{index + 1}"
        item: dict[str, Any] = transaction.data
        lines.append(
            BankLine(
                where=where,
                booked_on=date(item["date"].year, item["date"].month, item["date"].day),
                amount_minor=_signed(item, currency, where),
                currency=currency,
                references=tuple(ref for ref in (item.get("customer_reference"), item.get("bank_reference")) if ref),
                description=str(item.get("transaction_details") or ""),
                reversal=str(item.get("status", "")).startswith("R"),
            )
        )
    return Statement(
        _digest(data),
        "mt940",
        str(transactions.data.get("account_identification", "")),
        currency,
        minor_units(opening.amount.amount, currency, ":60F:"),
        minor_units(closing.amount.amount, currency, ":62F:"),
        _as_date(opening.date),
        _as_date(closing.date),
        lines,
    )


def _signed(item: dict[str, Any], currency: str, where: str) -> int:
    """SWIFT's sign: D debit and RC (reversal of a credit) take money out; C and RD bring it in.

    The mt-940 package signs D but leaves both reversal marks positive, so the sign is set here.
    """
    magnitude = abs(minor_units(item["amount"].amount, currency, where))
    return -magnitude if str(item.get("status", "")) in ("D", "RC") else magnitude


def _as_date(value: Any) -> date:
    return date(value.year, value.month, value.day)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find(element: Any, path: str) -> Any:
    """The first descendant along `path` (slash-separated local names), whatever the camt namespace version."""
    current = [element]
    for name in path.split("/"):
        current = [child for parent in current for child in parent if _local(child.tag) == name]
        if not current:
            return None
    return current[0]


def _text(element: Any, path: str) -> str:
    found = _find(element, path)
    return (found.text or "").strip() if found is not None else ""


def _camt053(data: bytes) -> Statement:
    try:
        root = SafeXML.fromstring(data)
    except Exception as error:  # noqa: BLE001 - defusedxml and expat raise several types
        raise StatementError(f"camt.053: not well-formed XML: {error}") from None
    statement = _find(root, "BkToCstmrStmt/Stmt")
    if statement is None:
        raise StatementError("camt.053: element BkToCstmrStmt/Stmt is missing")
    balances: dict[str, tuple[int, date]] = {}
    currency = _text(statement, "Acct/Ccy")
    for number, balance in enumerate(child for child in statement if _local(child.tag) == "Bal"):
        where = f"Bal[{number + 1}]"
        amount = _find(balance, "Amt")
        if amount is None or not _text(balance, "Dt/Dt"):
            raise StatementError(f"camt.053: {where} has no Amt or Dt/Dt")
        currency = currency or amount.get("Ccy", "")
        sign = -1 if _text(balance, "CdtDbtInd") == "DBIT" else 1
        balances[_text(balance, "Tp/CdOrPrtry/Cd")] = (
            sign * minor_units(amount.text or "", amount.get("Ccy", currency), where),
            date.fromisoformat(_text(balance, "Dt/Dt")),
        )
    if "OPBD" not in balances or "CLBD" not in balances:
        raise StatementError("camt.053: the OPBD opening or CLBD closing Bal is missing")
    lines = []
    for number, entry in enumerate(child for child in statement if _local(child.tag) == "Ntry"):
        where = f"Ntry[{number + 1}]"
        amount = _find(entry, "Amt")
        booked = _text(entry, "BookgDt/Dt") or _text(entry, "BookgDt/DtTm")[:10]
        indicator = _text(entry, "CdtDbtInd")
        if amount is None or not booked or indicator not in ("CRDT", "DBIT"):
            raise StatementError(f"camt.053: {where} needs Amt, BookgDt and CdtDbtInd CRDT or DBIT")
        try:
            booked_on = date.fromisoformat(booked)
        except ValueError:
            raise StatementError(f"camt.053: {where}/BookgDt {booked!r} is not a date") from None
        sign = -1 if indicator == "DBIT" else 1
        references = [
            _text(entry, "AcctSvcrRef"),
            _text(entry, "NtryDtls/TxDtls/Refs/EndToEndId"),
            _text(entry, "NtryDtls/TxDtls/Refs/AcctSvcrRef"),
        ]
        lines.append(
            BankLine(
                where=where,
                booked_on=booked_on,
                currency=amount.get("Ccy", currency),
                amount_minor=sign * minor_units(amount.text or "", amount.get("Ccy", currency), where),
                references=tuple(ref for ref in references if ref),
                counterparty=_text(entry, "NtryDtls/TxDtls/RltdPties/Dbtr/Nm")
                or _text(entry, "NtryDtls/TxDtls/RltdPties/Cdtr/Nm"),
                description=_text(entry, "NtryDtls/TxDtls/RmtInf/Ustrd") or _text(entry, "AddtlNtryInf"),
                reversal=_text(entry, "RvslInd").lower() == "true",
            )
        )
    account = _text(statement, "Acct/Id/IBAN") or _text(statement, "Acct/Id/Othr/Id")
    return Statement(
        _digest(data),
        "camt053",
        account,
        currency,
        balances["OPBD"][0],
        balances["CLBD"][0],
        balances["OPBD"][1],
        balances["CLBD"][1],
        lines,
    )


def _csv(data: bytes, columns: dict[str, str], date_format: str, opening: str | None) -> Statement:
    names = {field: columns.get(field, field) for field in CSV_FIELDS}
    try:
        reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig")))
        header = reader.fieldnames or []
    except (UnicodeDecodeError, csv.Error) as error:
        raise StatementError(f"CSV: {error}") from None
    missing = [names[field] for field in ("date", "amount", "currency") if names[field] not in header]
    if missing:
        raise StatementError(f"CSV line 1: the header lacks {', '.join(missing)} (see --csv-columns)")
    lines = []
    for number, row in enumerate(reader, start=2):
        where = f"line {number}"
        currency = (row.get(names["currency"]) or "").strip()
        try:
            booked_on = datetime.strptime((row.get(names["date"]) or "").strip(), date_format).date()
        except ValueError:
            raise StatementError(f"CSV {where}: date {row.get(names['date'])!r} is not {date_format}") from None
        lines.append(
            BankLine(
                where=where,
                booked_on=booked_on,
                currency=currency,
                amount_minor=minor_units((row.get(names["amount"]) or "").replace("+", ""), currency, f"CSV {where}"),
                references=tuple(ref for ref in [(row.get(names["reference"]) or "").strip()] if ref),
                counterparty=(row.get(names["counterparty"]) or "").strip(),
                description=(row.get(names["description"]) or "").strip(),
            )
        )
    if not lines:
        raise StatementError("CSV: the statement has no lines")
    currency = lines[0].currency
    opening_minor = minor_units(opening, currency, "--opening-balance") if opening else 0
    return Statement(
        _digest(data),
        "csv",
        "",
        currency,
        opening_minor,
        opening_minor + sum(line.amount_minor for line in lines),
        min(line.booked_on for line in lines),
        max(line.booked_on for line in lines),
        lines,
    )
