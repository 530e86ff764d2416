"""The Merkle tree of RFC 6962 / RFC 9162 (section 2.1): tree heads, inclusion and consistency proofs.

No maintained Python package implements RFC 9162's exact hashing and proof algorithms
(the Merkle packages on PyPI use their own leaf encodings), so the few functions are
written here, straight from the RFC, and the tests check them against a second,
independent implementation of the verification algorithms.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two smaller than `size` (size > 1)."""
    return 1 << ((size - 1).bit_length() - 1)


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over already hashed leaves, computed bottom-up without recursion."""
    if not leaf_hashes:
        return hashlib.sha256(b"").digest()
    # Fold complete subtrees on a stack: the same tree as the RFC's recursive split.
    stack: list[tuple[int, bytes]] = []
    for index, hashed in enumerate(leaf_hashes):
        stack.append((1, hashed))
        size = index + 1
        while size % 2 == 0 and len(stack) > 1 and stack[-1][0] == stack[-2][0]:
            (width, right), (_, left) = stack.pop(), stack.pop()
            stack.append((width * 2, node_hash(left, right)))
            size //= 2
    _, hashed = stack.pop()
    while stack:
        _, left = stack.pop()
        hashed = node_hash(left, hashed)
    return hashed


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]): the audit path of leaf `index` in the tree of all `leaf_hashes`."""
    size = len(leaf_hashes)
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is outside a tree of {size}")
    if size == 1:
        return []
    split = _split(size)
    if index < split:
        return [*inclusion_proof(index, leaf_hashes[:split]), root(leaf_hashes[split:])]
    return [*inclusion_proof(index - split, leaf_hashes[split:]), root(leaf_hashes[:split])]


def consistency_proof(old_size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]): shows that the tree of the first `old_size` leaves is a prefix of this one."""
    if not 0 < old_size <= len(leaf_hashes):
        raise ValueError(f"no consistency proof from {old_size} to {len(leaf_hashes)}")
    return _subproof(old_size, leaf_hashes, True)


def _subproof(old_size: int, leaf_hashes: Sequence[bytes], complete: bool) -> list[bytes]:
    size = len(leaf_hashes)
    if old_size == size:
        return [] if complete else [root(leaf_hashes)]
    split = _split(size)
    if old_size <= split:
        return [*_subproof(old_size, leaf_hashes[:split], complete), root(leaf_hashes[split:])]
    return [*_subproof(old_size - split, leaf_hashes[split:], False), root(leaf_hashes[:split])]


def verify_inclusion(index: int, size: int, hashed_leaf: bytes, proof: Sequence[bytes], expected_root: bytes) -> bool:
    """RFC 9162, 2.1.3.2: does `proof` place `hashed_leaf` at `index` of the tree with `expected_root`?"""
    if index >= size:
        return False
    node, last = index, size - 1
    hashed = hashed_leaf
    for sibling in proof:
        if last == 0:
            return False
        if node % 2 == 1 or node == last:
            hashed = node_hash(sibling, hashed)
            if node % 2 == 0:
                while node % 2 == 0 and node != 0:
                    node, last = node >> 1, last >> 1
        else:
            hashed = node_hash(hashed, sibling)
        node, last = node >> 1, last >> 1
    return last == 0 and hashed == expected_root


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
    """RFC 9162, 2.1.4.2: does `proof` show that the old tree is a prefix of the new one?"""
    if old_size == new_size:
        return old_root == new_root and not proof
    if not 0 < old_size < new_size or not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is the first node
        path.insert(0, old_root)
    node, last = old_size - 1, new_size - 1
    while node % 2 == 1:
        node, last = node >> 1, last >> 1
    old_hash = new_hash = path[0]
    for sibling in path[1:]:
        if last == 0:
            return False
        if node % 2 == 1 or node == last:
            old_hash = node_hash(sibling, old_hash)
            new_hash = node_hash(sibling, new_hash)
            while node % 2 == 0 and node != 0:
                node, last = node >> 1, last >> 1
        else:
            new_hash = node_hash(new_hash, sibling)
        node, last = node >> 1, last >> 1
    return last == 0 and old_hash == old_root and new_hash == new_root
