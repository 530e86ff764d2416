"""The commands of the ledger contract, validated at the edge with pydantic."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

import orjson
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictStr, TypeAdapter, ValidationError

from domain.errors import DomainError
from domain.instants import isoformat

# Length limits: long enough for any real identifier, name or bank reference, short enough
# that a 10,000-character string is refused at the edge instead of stored for ever.
identifier_length_max: Final = 100
name_length_max: Final = 300
text_length_max: Final = 1000
reference_length_max: Final = 140


def _instant(value: Any) -> datetime:
    """Accept only an ISO 8601 string with an offset: never a number, never a naive time."""
    if not isinstance(value, str) or len(value) > 40:
        raise ValueError("must be an ISO 8601 time with an offset, such as 2026-03-02T10:00:00+08:00")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{value!r} has no offset; write it as 2026-03-02T10:00:00+08:00")
    return moment


Identifier = Annotated[
    StrictStr, Field(min_length=1, max_length=identifier_length_max, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@/-]*$")
]
Name = Annotated[StrictStr, Field(min_length=1, max_length=name_length_max)]
Text = Annotated[StrictStr, Field(min_length=1, max_length=text_length_max)]
Reference = Annotated[StrictStr, Field(min_length=1, max_length=reference_length_max)]
AmountText = Annotated[StrictStr, Field(min_length=1, max_length=40)]
CurrencyCode = Annotated[StrictStr, Field(pattern=r"^[A-Z]{3}$")]
Instant = Annotated[datetime, BeforeValidator(_instant)]


class Command(BaseModel):
    """Fields shared by every command: unknown fields are refused so typos never pass silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class RegisterFoundation(Command):
    type: Literal["register_foundation"]
    foundation_id: Identifier
    name: Name
    public_fundraising: StrictBool


class RegisterPartner(Command):
    type: Literal["register_partner"]
    partner_id: Identifier
    name: Name


class RegisterPayee(Command):
    type: Literal["register_payee"]
    payee_id: Identifier
    name: Name
    kind: Literal["hospital", "school", "supplier", "other"]


class RegisterDonor(Command):
    type: Literal["register_donor"]
    donor_id: Identifier
    display_name: Name | None = None
    anonymous: StrictBool


class OpenProject(Command):
    type: Literal["open_project"]
    project_id: Identifier
    foundation_id: Identifier
    partner_id: Identifier
    name: Name
    currency: CurrencyCode
    opened_at: Instant


class RecordDonation(Command):
    type: Literal["record_donation"]
    donation_id: Identifier
    donor_id: Identifier
    project_id: Identifier
    amount: AmountText
    currency: CurrencyCode
    channel: Name
    received_at: Instant
    external_ref: Reference | None = None


class RequestDisbursement(Command):
    type: Literal["request_disbursement"]
    disbursement_id: Identifier
    project_id: Identifier
    payee_id: Identifier
    amount: AmountText
    purpose: Text
    requested_by: Identifier
    requested_at: Instant


class ApproveDisbursement(Command):
    type: Literal["approve_disbursement"]
    disbursement_id: Identifier
    approved_by: Identifier
    approved_at: Instant


class RejectDisbursement(Command):
    type: Literal["reject_disbursement"]
    disbursement_id: Identifier
    rejected_by: Identifier
    reason: Text
    rejected_at: Instant


class RecordPayout(Command):
    type: Literal["record_payout"]
    disbursement_id: Identifier
    paid_at: Instant
    bank_ref: Reference | None = None


class RecordPayeeRefund(Command):
    type: Literal["record_payee_refund"]
    refund_id: Identifier
    disbursement_id: Identifier
    amount: AmountText
    received_at: Instant
    bank_ref: Reference | None = None


class RefundDonation(Command):
    type: Literal["refund_donation"]
    refund_id: Identifier
    donation_id: Identifier
    amount: AmountText
    reason: Text
    refunded_at: Instant


class CloseProject(Command):
    type: Literal["close_project"]
    project_id: Identifier
    closed_at: Instant


AnyCommand = Annotated[
    RegisterFoundation
    | RegisterPartner
    | RegisterPayee
    | RegisterDonor
    | OpenProject
    | RecordDonation
    | RequestDisbursement
    | ApproveDisbursement
    | RejectDisbursement
    | RecordPayout
    | RecordPayeeRefund
    | RefundDonation
    | CloseProject,
    Field(discriminator="type"),
]
_adapter: Final[TypeAdapter[AnyCommand]] = TypeAdapter(AnyCommand)
# Each command's model by its "type" field.
COMMAND_MODELS: Final[dict[str, type[Command]]] = {
    model.model_fields["type"].annotation.__args__[0]: model  # type: ignore[union-attr]
    for model in Command.__subclasses__()
}
COMMAND_TYPES: Final = frozenset(COMMAND_MODELS)


def parse_command(data: object) -> AnyCommand:
    """Validate one command (a decoded JSON object) or raise a DomainError with its code."""
    if not isinstance(data, dict):
        raise DomainError("invalid_command", 'a command must be a JSON object with a "type" field')
    kind = data.get("type")
    if not isinstance(kind, str) or kind not in COMMAND_TYPES:
        shown = kind[:40] if isinstance(kind, str) else kind
        raise DomainError("invalid_command", f"unknown command type {shown!r}; expected one of {sorted(COMMAND_TYPES)}")
    try:
        return _adapter.validate_python(data)
    except ValidationError as error:
        raise _domain_error(error) from None


def parse_command_json(line: bytes) -> AnyCommand | None:
    """The command one line of JSON holds, read and validated in one step by pydantic's JSON reader; None if refused.

    Where it gives a command, it is the command parse_command() gives for the value the line
    reads as (tests/unit/test_prepared.py holds lines of every awkward kind to that). Where it
    refuses, the caller reads the line the long way, which says why. For a donation this costs
    about 60% of reading and validating apart (docs/PERFORMANCE.md, change 105).
    """
    try:
        return _adapter.validate_json(line)
    except ValidationError:
        return None


def _domain_error(error: ValidationError) -> DomainError:
    first = error.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"][1:]) or "command"
    code = "invalid_amount" if where == "amount" else "invalid_command"
    if first["type"] == "missing":
        return DomainError("invalid_command", f"field {where!r} is missing")
    if first["type"] == "extra_forbidden":
        return DomainError("invalid_command", f"field {where!r} is not part of this command")
    return DomainError(code, f"field {where!r}: {first['msg']}")


def command_digest(command: Command) -> str:
    """SHA-256 of the command's normalised content: the same instant and amount give one digest.

    Two sends of one command are recognised as duplicates even when a client wrote an
    offset differently ("+08:00" and "Z" for the same instant) or "500.0" for "500.00".

    The bytes are command_digest_by_fields()'s. This way copies the fields at once and lets
    orjson write the instants, each moved to UTC, which it writes exactly as isoformat() does
    (domain.instants): 33,400 instructions a donation against 43,900 (callgrind). A command
    whose instants are not plain datetimes, or with text orjson refuses, goes the other way.
    """
    instants = _INSTANT_FIELDS.get(type(command))
    if instants is None:
        return command_digest_by_fields(command)
    content = command.__dict__.copy()
    for key in instants:
        moment = content[key]
        if type(moment) is not datetime:
            return command_digest_by_fields(command)
        content[key] = moment.astimezone(UTC)
    amount = content.get("amount")
    if isinstance(amount, str):
        content["amount"] = _normalised_amount(amount)
    try:
        canonical = orjson.dumps(content, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return command_digest_by_fields(command)
    return hashlib.sha256(canonical).hexdigest()


def command_digest_by_fields(command: Command) -> str:
    """command_digest() field by field, for any command: what the faster way must always agree with."""
    content: dict[str, object] = {}
    # The fields' values as model_dump() gives them (commands are flat: no nested models), faster.
    for key, value in command.__dict__.items():
        if isinstance(value, datetime):
            value = isoformat(value.astimezone(UTC))
        elif key == "amount" and isinstance(value, str):
            value = _normalised_amount(value)
        content[key] = value
    try:
        # The bytes of json.dumps(sort_keys=True, ensure_ascii=False, separators=(",", ":")), faster.
        canonical = orjson.dumps(content, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # text orjson refuses (a lone surrogate): the standard library decides
        canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    return hashlib.sha256(canonical).hexdigest()


def _normalised_amount(amount: str) -> str:
    """The amount without its insignificant zeros: "500.0" and "500.00" digest alike.

    An amount that neither starts with a zero nor has a fraction ending in a zero or a point
    has none, and is returned as it is without the pattern, which most amounts skip.
    """
    if amount[:1] != "0" and not ("." in amount and amount[-1:] in ("0", ".")):
        return amount
    match = _TRAILING_ZEROS.match(amount)
    return (match.group(1) + (match.group(2) or "").rstrip(".")) if match else amount


_TRAILING_ZEROS = re.compile(r"^0*(\d+?)(?:(\.\d*?)0*)?$", re.ASCII)
# Each command model's instant fields (declared as Instant), which command_digest moves to UTC.
_INSTANT_FIELDS: Final[dict[type[Command], tuple[str, ...]]] = {
    model: tuple(name for name, field in model.model_fields.items() if field.annotation is datetime)
    for model in COMMAND_MODELS.values()
}
