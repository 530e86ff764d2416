"""RFC 8785 canonical JSON, fast: orjson where it provably gives the same bytes, the rfc8785 package otherwise.

For values made of ASCII-keyed objects, arrays, strings, booleans, null and integers within
±2^53, RFC 8785's output is exactly orjson's with sorted keys (same escapes, UTF-8, no
spaces; ASCII keys sort the same by code point and by UTF-16 unit). Every key and number
in our leaves and reports is of that kind; anything else takes the reference package.
"""

from __future__ import annotations

from typing import Any, Final

import orjson
import rfc8785

_SAFE_INTEGER: Final = 2**53
# The scalars that orjson writes as RFC 8785 does, an integer when within ±2^53 (OPT_STRICT_INTEGER).
_SCALARS: Final = frozenset((str, int, bool, type(None)))


def _orjson_is_exact(value: Any) -> bool:
    """Whether every key is ASCII and every scalar a string, boolean, null or safe integer."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is int:
            if not -_SAFE_INTEGER < item < _SAFE_INTEGER:
                return False
        elif kind is dict:
            try:
                if not "".join(item).isascii():
                    return False
            except TypeError:  # a key that is not a string
                return False
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
        else:
            return False
    return True


def canonical_json(value: Any) -> bytes:
    if _orjson_is_exact(value):
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    return rfc8785.dumps(value)


def canonical_shallow_json(value: dict[str, Any]) -> bytes:
    """canonical_json of a dict, with a cheaper check where its values are scalars and dicts of scalars.

    A transparency log leaf is such a dict, nearly always: most events' payloads are flat. The
    types of each dict's values are taken at once, in C, instead of by canonical_json's walk,
    and orjson's bytes are taken when they are ASCII (so is every key) and it wrote every
    integer (OPT_STRICT_INTEGER refuses one beyond ±2^53). Bytes beyond ASCII are still taken
    once the walk finds every key ASCII; anything else (a list, a float) goes to canonical_json.
    """
    values = value.values()
    kinds = set(map(type, values))
    if dict in kinds:
        kinds.discard(dict)
        for inner in values:
            if type(inner) is dict:
                kinds.update(map(type, inner.values()))
    if not kinds <= _SCALARS:
        return canonical_json(value)
    try:
        written = orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER)
    except orjson.JSONEncodeError:  # an integer beyond ±2^53, a key that is not text
        return rfc8785.dumps(value)
    return written if written.isascii() or _orjson_is_exact(value) else rfc8785.dumps(value)


def canonical_text_json(value: Any) -> bytes:
    """canonical_json of a value of ASCII-keyed objects, arrays, strings and null, without the walk that checks so.

    A donor trail is such a value by construction: fixed ASCII keys, ids read from text
    columns, amounts written as decimal strings. For it orjson's bytes are RFC 8785's, and
    the walk cost a fifth of the checksum's time at full size. An integer beyond ±2^53 raises
    instead of being written unlike RFC 8785; a float would be written unlike it, so none may
    be given here.
    """
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER)
