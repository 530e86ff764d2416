"""Money: integer minor units with an ISO 4217 currency; decimal strings only at the edges."""

from __future__ import annotations

import re
from typing import Final

from domain.errors import DomainError

# ISO 4217 minor units of the currencies a Chinese charity ledger meets in practice. A
# currency outside this table is refused rather than guessed at.
CURRENCY_EXPONENTS: Final[dict[str, int]] = {
    "CNY": 2,
    "HKD": 2,
    "MOP": 2,
    "TWD": 2,
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "CHF": 2,
    "CAD": 2,
    "AUD": 2,
    "NZD": 2,
    "SGD": 2,
    "MYR": 2,
    "THB": 2,
    "PHP": 2,
    "INR": 2,
    "SEK": 2,
    "NOK": 2,
    "DKK": 2,
    "RUB": 2,
    "BRL": 2,
    "MXN": 2,
    "ZAR": 2,
    "AED": 2,
    "JPY": 0,
    "KRW": 0,
    "VND": 0,
    "IDR": 2,
    "CLP": 0,
    "ISK": 0,
    "BHD": 3,
    "KWD": 3,
    "OMR": 3,
    "JOD": 3,
    "TND": 3,
}

# The largest amount one command may carry, in minor units (10 trillion yuan): far above any
# real gift, and below 2^53, so every amount is exact in RFC 8785 canonical JSON (which
# writes numbers as IEEE doubles) and every sum stays inside a signed 64-bit column.
amount_minor_max: Final = 10**15

# ASCII digits only: no exponent, sign, thousands separator or full-width digit.
_DECIMAL = re.compile(r"([0-9]+)(?:\.([0-9]+))?", re.ASCII)


def check_currency(currency: str) -> int:
    """Return the currency's number of decimal places, or refuse an unknown code."""
    exponent = CURRENCY_EXPONENTS.get(currency)
    if exponent is None:
        raise DomainError("invalid_command", f"currency {currency[:16]!r} is not a supported ISO 4217 code")
    return exponent


def parse_amount(text: str, currency: str) -> int:
    """Turn a decimal string such as "500.00" into minor units; never round, never accept <= 0."""
    exponent = check_currency(currency)
    match = _DECIMAL.fullmatch(text) if isinstance(text, str) and len(text) <= 40 else None
    if match is None:
        shown = text[:40] if isinstance(text, str) else repr(text)[:40]
        raise DomainError("invalid_amount", f'amount {shown!r} is not a plain decimal string such as "500.00"')
    whole, fraction = match.group(1), match.group(2) or ""
    if len(fraction) > exponent:
        raise DomainError("invalid_amount", f"amount {text!r} has more than {exponent} decimal places for {currency}")
    amount_minor = int(whole + fraction.ljust(exponent, "0"))
    if amount_minor <= 0:
        raise DomainError("invalid_amount", f"amount {text!r} must be greater than zero")
    if amount_minor > amount_minor_max:
        raise DomainError("invalid_amount", f"amount {text!r} is larger than one command may carry")
    return amount_minor


def format_amount(amount_minor: int, currency: str) -> str:
    """Write minor units as the contract's decimal string: 110000 CNY -> "1100.00"."""
    exponent = CURRENCY_EXPONENTS[currency]
    sign = "-" if amount_minor < 0 else ""
    digits = str(abs(amount_minor)).rjust(exponent + 1, "0")
    if exponent == 0:
        return sign + digits
    return f"{sign}{digits[:-exponent]}.{digits[-exponent:]}"
