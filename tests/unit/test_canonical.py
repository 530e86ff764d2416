"""Our fast canonical JSON gives exactly the bytes of the RFC 8785 reference implementation."""

from __future__ import annotations

from typing import Any

import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from projections.canonical import canonical_json, canonical_text_json

keys = st.text(alphabet=st.characters(codec="ascii"), max_size=12)
values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5),
    max_leaves=25,
)
texts = st.recursive(
    st.none() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5),
    max_leaves=25,
)
anything = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=12,
)


@given(values)
def test_the_fast_path_gives_the_reference_bytes(value: Any) -> None:
    assert rfc8785.dumps(value) == canonical_json(value)


@given(anything)
def test_values_outside_the_fast_path_still_give_the_reference_bytes(value: Any) -> None:
    assert rfc8785.dumps(value) == canonical_json(value)


@given(texts)
def test_values_of_text_alone_give_the_reference_bytes_without_the_walk(value: Any) -> None:
    assert rfc8785.dumps(value) == canonical_text_json(value)
