"""The RFC 6962 tree, checked against the RFC's recursive definitions written again here, independently."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from projections import merkle

# The test leaves and tree heads used by Certificate Transparency and Trillian.
LEAVES = [
    bytes.fromhex(text)
    for text in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
]
ROOT_OF_1 = "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
ROOT_OF_8 = "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def split(size: int) -> int:
    power = 1
    while power * 2 < size:
        power *= 2
    return power


def reference_root(leaves: list[bytes]) -> bytes:
    """MTH(D[n]) exactly as RFC 6962 section 2.1 defines it, recursively."""
    if not leaves:
        return sha256(b"")
    if len(leaves) == 1:
        return sha256(b"\x00" + leaves[0])
    middle = split(len(leaves))
    return sha256(b"\x01" + reference_root(leaves[:middle]) + reference_root(leaves[middle:]))


def root_from_audit_path(index: int, size: int, hashed_leaf: bytes, path: list[bytes]) -> bytes:
    """Rebuild the root from an audit path by following PATH(m, D[n])'s recursion downwards."""
    if size == 1:
        assert [] == path
        return hashed_leaf
    middle = split(size)
    *deeper, sibling = path
    if index < middle:
        return sha256(b"\x01" + root_from_audit_path(index, middle, hashed_leaf, deeper) + sibling)
    return sha256(b"\x01" + sibling + root_from_audit_path(index - middle, size - middle, hashed_leaf, deeper))


def roots_from_consistency(
    old: int, size: int, proof: list[bytes], old_root: bytes, complete: bool = True
) -> tuple[bytes, bytes]:
    """Rebuild (old root, new root) from a consistency proof by following SUBPROOF's recursion."""
    if old == size:
        if complete:
            assert [] == proof
            return old_root, old_root
        assert 1 == len(proof)
        return proof[0], proof[0]
    middle = split(size)
    *deeper, last = proof
    if old <= middle:
        old_hash, left = roots_from_consistency(old, middle, deeper, old_root, complete)
        return old_hash, sha256(b"\x01" + left + last)
    old_right, right = roots_from_consistency(old - middle, size - middle, deeper, old_root, False)
    return sha256(b"\x01" + last + old_right), sha256(b"\x01" + last + right)


def test_the_tree_heads_match_the_published_test_vectors() -> None:
    hashed = [merkle.leaf_hash(leaf) for leaf in LEAVES]
    assert ROOT_OF_1 == merkle.root(hashed[:1]).hex()
    assert ROOT_OF_8 == merkle.root(hashed).hex()


@given(st.lists(st.binary(max_size=8), max_size=70))
def test_the_root_is_the_rfcs_recursive_definition(leaves: list[bytes]) -> None:
    assert reference_root(leaves) == merkle.root([merkle.leaf_hash(leaf) for leaf in leaves])


@given(st.integers(min_value=1, max_value=70).flatmap(lambda size: st.tuples(st.just(size), st.integers(0, size - 1))))
def test_every_audit_path_rebuilds_the_root_and_passes_the_rfc_9162_check(size_and_index: tuple[int, int]) -> None:
    size, index = size_and_index
    hashed = [merkle.leaf_hash(bytes([number % 256, number // 256])) for number in range(size)]
    path = merkle.inclusion_proof(index, hashed)
    expected_root = merkle.root(hashed)
    assert expected_root == root_from_audit_path(index, size, hashed[index], path)
    assert merkle.verify_inclusion(index, size, hashed[index], path, expected_root)
    assert not merkle.verify_inclusion(index, size, merkle.leaf_hash(b"forged"), path, expected_root)


@given(st.integers(min_value=2, max_value=70).flatmap(lambda size: st.tuples(st.integers(1, size - 1), st.just(size))))
def test_every_consistency_proof_rebuilds_both_roots(sizes: tuple[int, int]) -> None:
    old, size = sizes
    hashed = [merkle.leaf_hash(bytes([number])) for number in range(size)]
    proof = merkle.consistency_proof(old, hashed)
    old_root, new_root = merkle.root(hashed[:old]), merkle.root(hashed)
    # Where the old tree is a complete left subtree its root is implied, not sent (RFC 9162 2.1.4.1).
    assert (old_root, new_root) == roots_from_consistency(old, size, proof, old_root)
    assert merkle.verify_consistency(old, size, old_root, new_root, proof)
    rewritten = [*hashed[: old - 1], merkle.leaf_hash(b"rewritten"), *hashed[old:]]
    assert not merkle.verify_consistency(old, size, merkle.root(rewritten[:old]), new_root, proof)
