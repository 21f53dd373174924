"""Merkle trees as RFC 6962 (Certificate Transparency) defines them, over SHA-256.

Leaves are hashed as ``SHA-256(0x00 || leaf)`` and interior nodes as ``SHA-256(0x01 || left || right)``
so that a leaf can never be passed off as a node. The tree of ``n`` leaves splits at the largest power
of two below ``n`` (RFC 6962 section 2.1). ``MerkleRoot`` computes the root in one streaming pass
with a stack of perfect subtrees; ``inclusion_proof`` and ``verify_inclusion`` follow RFC 9162
sections 2.1.3.1 and 2.1.3.2, ``consistency_proof`` and ``verify_consistency`` (a later tree extends an
earlier one: what a Certificate Transparency client checks of a log) sections 2.1.4.1 and 2.1.4.2.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

EMPTY_ROOT = hashlib.sha256(b"").hexdigest()


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


class MerkleRoot:
    """Accumulates leaf hashes in order and gives the RFC 6962 root without keeping the leaves."""

    def __init__(self) -> None:
        self._stack: list[tuple[int, bytes]] = []
        self.size = 0

    def add_leaf(self, leaf: bytes) -> None:
        self.add_leaf_hash(leaf_hash(leaf))

    def add_leaf_hash(self, digest: bytes) -> None:
        height = 0
        while self._stack and self._stack[-1][0] == height:
            _, left = self._stack.pop()
            digest = node_hash(left, digest)
            height += 1
        self._stack.append((height, digest))
        self.size += 1

    def hexdigest(self) -> str:
        if not self._stack:
            return EMPTY_ROOT
        digest = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            digest = node_hash(left, digest)
        return digest.hex()


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """The root over already-hashed leaves (RFC 6962 MTH), by the recursive definition."""
    if not leaf_hashes:
        return bytes.fromhex(EMPTY_ROOT)
    if len(leaf_hashes) == 1:
        return leaf_hashes[0]
    split = _largest_power_of_two_below(len(leaf_hashes))
    return node_hash(root_of(leaf_hashes[:split]), root_of(leaf_hashes[split:]))


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree over ``leaf_hashes`` (RFC 6962 PATH)."""
    if not 0 <= index < len(leaf_hashes):
        raise IndexError(f"leaf {index} is not in a tree of {len(leaf_hashes)} leaves")
    if len(leaf_hashes) == 1:
        return []
    split = _largest_power_of_two_below(len(leaf_hashes))
    if index < split:
        return [*inclusion_proof(leaf_hashes[:split], index), root_of(leaf_hashes[split:])]
    return [*inclusion_proof(leaf_hashes[split:], index - split), root_of(leaf_hashes[:split])]


def verify_inclusion(leaf_digest: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """True when ``proof`` shows the leaf hash at ``index`` in a tree of ``size`` leaves has ``root``."""
    if not 0 <= index < size:
        return False
    fn, sn = index, size - 1
    digest = leaf_digest
    for sibling in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            digest = node_hash(sibling, digest)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            digest = node_hash(digest, sibling)
        fn >>= 1
        sn >>= 1
    return sn == 0 and digest == root


def _largest_power_of_two_below(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """The proof that the tree over the first ``old_size`` of ``leaf_hashes`` is a prefix of the tree
    over all of them (RFC 9162 section 2.1.4.1, RFC 6962 PROOF(m, D[n])).

    The recursive SUBPROOF of the RFC is walked down from the root: at each level the subtree that
    does not hold the old tree's right edge is given whole, and when the old tree ends exactly on a
    subtree that is not the whole old tree, that subtree's root is given too. Nodes are collected
    top-down and returned bottom-up, the order the RFC's recursion emits them in."""
    size = len(leaf_hashes)
    if not 0 < old_size <= size:
        raise IndexError(f"a tree of {old_size} leaves is not a prefix of a tree of {size} leaves")
    nodes: list[bytes] = []
    start, end, remaining, whole_old_tree = 0, size, old_size, True
    while remaining != end - start:
        split = _largest_power_of_two_below(end - start)
        if remaining <= split:
            nodes.append(root_of(leaf_hashes[start + split : end]))
            end = start + split
        else:
            nodes.append(root_of(leaf_hashes[start : start + split]))
            start, remaining, whole_old_tree = start + split, remaining - split, False
    if not whole_old_tree:
        nodes.append(root_of(leaf_hashes[start:end]))
    return nodes[::-1]


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
    """True when ``proof`` shows the tree of ``old_size`` leaves with ``old_root`` is a prefix of the
    tree of ``new_size`` leaves with ``new_root`` (RFC 9162 section 2.1.4.2, step by step; equal
    sizes need an empty proof and equal roots)."""
    if not 0 < old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if not proof:
        return False
    path = [old_root, *proof] if old_size & (old_size - 1) == 0 else list(proof)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0
