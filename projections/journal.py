"""Writes the ledger's money movements as a double-entry journal that beancount or hledger can check and report on.

Each foundation's custody is an asset account, `Assets:Custody:<foundation_id>`, and each project's fund is a
liability of that foundation, `Liabilities:Projects:<project_id>`: money held for a project is owed to its use.
So the custody account's balance is the foundation's custody and the project account's balance is minus the
project's balance, per currency. Only four events move money (a donation, a payout, a payee's refund and a
refund to a donor); each becomes one transaction of two postings that balance by construction.

Account names: an id that is already a valid beancount account component and holds no "--" (such as "P-XL")
is used unchanged. Any other id becomes a readable slug (ASCII letters and digits kept, every other character
turned into "-", the first character upper-cased) followed by "--" and the upper-case hexadecimal of the id's
UTF-8 bytes: "p.1" becomes "P-1--702E31". The hexadecimal part makes the mapping one-to-one, and since ids used
unchanged never hold "--", a mapped name cannot meet one of them. Every transaction and account keeps the
original ids in its metadata (beancount) or comment tags (hledger).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, NamedTuple

from domain.money import CURRENCY_EXPONENTS, format_amount

DIALECTS: Final = ("beancount", "hledger")

# Beancount's rule for one component of an account name, narrowed to ASCII so hledger and any
# other tool reading the file sees the same names.
_VALID_COMPONENT: Final = re.compile(r"[A-Z0-9][A-Za-z0-9-]*", re.ASCII)
_ESCAPED: Final = re.compile(r"[^A-Za-z0-9]", re.ASCII)

# Open and declare everything before any business date the ledger can hold.
_OPENING_DATE: Final = "1970-01-01"


class _Movement(NamedTuple):
    """How one kind of money event is booked."""

    time_attribute: str  # the event's own business time, whose date is the transaction's date
    id_attribute: str  # the id named in the narration
    into_custody: bool  # True: custody +amount, project liability -amount; False: the reverse
    id_attributes: tuple[str, ...]  # the ids kept as metadata, in this order


_MOVEMENTS: Final[dict[str, _Movement]] = {
    "DonationReceived": _Movement("received_at", "donation_id", True, ("donation_id", "donor_id")),
    "PayoutSent": _Movement("paid_at", "disbursement_id", False, ("disbursement_id", "payee_id")),
    "PayeeRefundReceived": _Movement("received_at", "refund_id", True, ("refund_id", "disbursement_id", "payee_id")),
    "DonationRefunded": _Movement("refunded_at", "refund_id", False, ("refund_id", "donation_id", "donor_id")),
}

# Events that move no money. An event kind in neither table is refused rather than skipped: a
# journal that silently missed a new kind of money movement would still balance, but wrongly.
_NO_MOVEMENT: Final = frozenset(
    {
        "FoundationRegistered",
        "PartnerRegistered",
        "PayeeRegistered",
        "DonorRegistered",
        "DonorForgotten",
        "IdentifierClaimed",
        "ProjectClosed",
        "DisbursementRequested",
        "DisbursementApproved",
        "DisbursementRejected",
        # Reconciliations record what a bank statement said; they move no money themselves.
        "StatementImported",
        "LineMatched",
        "DifferenceNoted",
        "ImportStarted",
        "ImportBatchRecorded",
        "ImportRestarted",
        "ImportFinished",
    }
)


@dataclass(frozen=True)
class _Posting:
    account: str
    amount_minor: int
    currency: str


@dataclass(frozen=True)
class _Transaction:
    date: str
    narration: str
    metadata: tuple[tuple[str, str], ...]
    postings: tuple[_Posting, ...]


@dataclass(frozen=True)
class _Account:
    name: str
    currency: str | None  # the one currency the account may hold, or None for any
    metadata: tuple[tuple[str, str], ...]


def account_component(identifier: str) -> str:
    """The account-name component for a ledger id: the id itself when valid, else a slug and its hex."""
    if _VALID_COMPONENT.fullmatch(identifier) and "--" not in identifier:
        return identifier
    slug = _ESCAPED.sub("-", identifier)
    slug = slug[:1].upper() + slug[1:]
    if not _VALID_COMPONENT.match(slug):
        # Ledger ids start with a letter or digit, so this only guards ids from elsewhere.
        slug = "X" + slug
    return f"{slug}--{identifier.encode().hex().upper()}"


def custody_account(foundation_id: str) -> str:
    return f"Assets:Custody:{account_component(foundation_id)}"


def project_account(project_id: str) -> str:
    return f"Liabilities:Projects:{account_component(project_id)}"


def journal(events: Iterable[tuple[int, Any]], dialect: str) -> Iterator[str]:
    """Lines of a journal ("beancount" or "hledger") for events given in ledger order as (sequence, domain_event).

    Lines carry no line ending. An unknown dialect is refused at the call, not at the first line.
    """
    if dialect not in DIALECTS:
        raise ValueError(f"unknown journal dialect {dialect!r}; expected one of {', '.join(DIALECTS)}")
    return _lines(events, dialect)


def _lines(events: Iterable[tuple[int, Any]], dialect: str) -> Iterator[str]:
    beancount = dialect == "beancount"
    yield from _beancount_header() if beancount else _hledger_header()
    foundation_of_project: dict[str, str] = {}
    opened_custody: set[str] = set()
    declared_currencies: set[str] = set()
    for sequence, event in events:
        kind = type(event).__name__
        if kind == "ProjectOpened":
            foundation_of_project[event.project_id] = event.foundation_id
            if event.currency not in declared_currencies:
                declared_currencies.add(event.currency)
                yield from _beancount_commodity(event.currency) if beancount else _hledger_commodity(event.currency)
            for account in _accounts_opened(event, opened_custody):
                yield from _beancount_open(account) if beancount else _hledger_account(account)
        elif kind in _MOVEMENTS:
            transaction = _transaction(kind, event, sequence, foundation_of_project)
            yield from _beancount_transaction(transaction) if beancount else _hledger_transaction(transaction)
        elif kind not in _NO_MOVEMENT:
            raise ValueError(f"event {sequence} is a {kind}, which the journal does not know how to book")


def _accounts_opened(event: Any, opened_custody: set[str]) -> list[_Account]:
    """The accounts a newly opened project needs: its own, and its foundation's custody the first time."""
    accounts = []
    if event.foundation_id not in opened_custody:
        opened_custody.add(event.foundation_id)
        # No currency constraint: one foundation may hold projects in several currencies.
        accounts.append(_Account(custody_account(event.foundation_id), None, (("foundation_id", event.foundation_id),)))
    project_metadata = (("project_id", event.project_id), ("foundation_id", event.foundation_id))
    accounts.append(_Account(project_account(event.project_id), event.currency, project_metadata))
    return accounts


def _transaction(kind: str, event: Any, sequence: int, foundation_of_project: dict[str, str]) -> _Transaction:
    movement = _MOVEMENTS[kind]
    project_id = event.project_id
    foundation_id = foundation_of_project.get(project_id)
    if foundation_id is None:
        raise ValueError(f"event {sequence} ({kind}) names project {project_id!r}, which no earlier event opened")
    business_time = getattr(event, movement.time_attribute)
    signed_minor = event.amount_minor if movement.into_custody else -event.amount_minor
    metadata = (
        ("sequence", str(sequence)),
        *((name, getattr(event, name)) for name in movement.id_attributes),
        ("project_id", project_id),
        ("foundation_id", foundation_id),
        (movement.time_attribute, business_time),
    )
    return _Transaction(
        # The date as the event's own clock read it, in its own offset, not converted to UTC.
        date=datetime.fromisoformat(business_time).date().isoformat(),
        narration=f"{kind} {getattr(event, movement.id_attribute)}",
        metadata=metadata,
        postings=(
            _Posting(custody_account(foundation_id), signed_minor, event.currency),
            _Posting(project_account(project_id), -signed_minor, event.currency),
        ),
    )


def _money(posting: _Posting) -> str:
    return f"{format_amount(posting.amount_minor, posting.currency)} {posting.currency}"


def _posting_width(transaction: _Transaction) -> int:
    return max(len(posting.account) for posting in transaction.postings) + 2


# Beancount.


def _quoted(text: str) -> str:
    """A beancount string literal; control characters become spaces so a value stays on its line."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(" " if character < " " else character for character in escaped) + '"'


def _beancount_header() -> Iterator[str]:
    yield ";; Journal of the Fundtrail ledger, written by projections.journal from its events."
    yield ";; Assets:Custody:<foundation> holds a foundation's custody;"
    yield ";; Liabilities:Projects:<project> is minus a project's balance."
    yield ""


def _beancount_commodity(currency: str) -> Iterator[str]:
    yield f"{_OPENING_DATE} commodity {currency}"
    yield ""


def _beancount_open(account: _Account) -> Iterator[str]:
    yield f"{_OPENING_DATE} open {account.name}" + (f" {account.currency}" if account.currency else "")
    for key, value in account.metadata:
        yield f"  {key}: {_quoted(value)}"
    yield ""


def _beancount_transaction(transaction: _Transaction) -> Iterator[str]:
    yield f"{transaction.date} * {_quoted(transaction.narration)}"
    for key, value in transaction.metadata:
        # The sequence is a number so that beancount queries can sort and compare it.
        yield f"  {key}: {value if key == 'sequence' else _quoted(value)}"
    width = _posting_width(transaction)
    for posting in transaction.postings:
        yield f"  {posting.account.ljust(width)}{_money(posting)}"
    yield ""


# Hledger (checked against 1.25).


def _hledger_text(text: str) -> str:
    """A value for an hledger comment tag: a comma or a line break would end the tag early."""
    return "".join(" " if character < " " or character == "," else character for character in text)


def _hledger_header() -> Iterator[str]:
    yield "; Journal of the Fundtrail ledger, written by projections.journal from its events."
    yield "; Assets:Custody:<foundation> holds a foundation's custody;"
    yield "; Liabilities:Projects:<project> is minus a project's balance."
    # Without this, hledger would read an amount such as "1.000 KWD" as one thousand.
    yield "decimal-mark ."
    yield ""


def _hledger_commodity(currency: str) -> Iterator[str]:
    # A sample amount with the currency's decimal places fixes how hledger shows it.
    yield f"commodity {format_amount(1000 * 10 ** CURRENCY_EXPONENTS[currency], currency)} {currency}"
    yield ""


def _hledger_account(account: _Account) -> Iterator[str]:
    tags = ", ".join(f"{key}: {_hledger_text(value)}" for key, value in account.metadata)
    yield f"account {account.name}  ; {tags}"
    yield ""


def _hledger_transaction(transaction: _Transaction) -> Iterator[str]:
    yield f"{transaction.date} * {_hledger_text(transaction.narration).replace(';', ' ').replace('|', ' ')}"
    for key, value in transaction.metadata:
        yield f"    ; {key}: {_hledger_text(value)}"
    width = _posting_width(transaction)
    for posting in transaction.postings:
        yield f"    {posting.account.ljust(width)}{_money(posting)}"
    yield ""
