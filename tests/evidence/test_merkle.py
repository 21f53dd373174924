"""RFC 6962 Merkle trees: the Certificate Transparency test vectors and inclusion proofs."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vestige.evidence.merkle import (
    EMPTY_ROOT,
    MerkleRoot,
    inclusion_proof,
    leaf_hash,
    root_of,
    verify_inclusion,
)

# The eight leaves and roots of certificate-transparency's merkle_tree_test.cc.
LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    bytes(range(0x50, 0x58)),
    bytes(range(0x60, 0x70)),
]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


@pytest.mark.parametrize("size", range(1, 9))
def test_streaming_root_matches_the_ct_vectors(size: int) -> None:
    root = MerkleRoot()
    for leaf in LEAVES[:size]:
        root.add_leaf(leaf)
    assert root.size == size
    assert root.hexdigest() == ROOTS[size - 1]
    assert root_of([leaf_hash(leaf) for leaf in LEAVES[:size]]).hex() == ROOTS[size - 1]


def test_empty_tree_is_the_hash_of_nothing() -> None:
    assert MerkleRoot().hexdigest() == EMPTY_ROOT == hashlib.sha256(b"").hexdigest()


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()


@pytest.mark.parametrize("size", range(1, 9))
def test_every_inclusion_proof_verifies(size: int) -> None:
    hashes = [leaf_hash(leaf) for leaf in LEAVES[:size]]
    root = bytes.fromhex(ROOTS[size - 1])
    for index in range(size):
        assert verify_inclusion(hashes[index], index, size, inclusion_proof(hashes, index), root)


def test_inclusion_proof_of_leaf_five_of_eight_has_three_steps() -> None:
    hashes = [leaf_hash(leaf) for leaf in LEAVES]
    proof = inclusion_proof(hashes, 5)
    assert [p.hex()[:8] for p in proof] == [
        leaf_hash(LEAVES[4]).hex()[:8],
        root_of(hashes[6:8]).hex()[:8],
        root_of(hashes[0:4]).hex()[:8],
    ]


def test_a_proof_for_another_leaf_or_index_is_rejected() -> None:
    hashes = [leaf_hash(leaf) for leaf in LEAVES]
    root = bytes.fromhex(ROOTS[7])
    proof = inclusion_proof(hashes, 3)
    assert not verify_inclusion(hashes[4], 3, 8, proof, root)
    assert not verify_inclusion(hashes[3], 4, 8, proof, root)
    assert not verify_inclusion(hashes[3], 3, 4, proof, root)
    assert not verify_inclusion(hashes[3], 8, 8, proof, root)
    assert not verify_inclusion(hashes[3], 3, 8, proof[:-1], root)


def test_inclusion_proof_refuses_an_index_outside_the_tree() -> None:
    with pytest.raises(IndexError):
        inclusion_proof([leaf_hash(b"a")], 1)


@given(st.lists(st.binary(max_size=8), min_size=1, max_size=40), st.data())
def test_streaming_and_recursive_roots_agree(leaves: list[bytes], data: st.DataObject) -> None:
    hashes = [leaf_hash(leaf) for leaf in leaves]
    root = MerkleRoot()
    for leaf in leaves:
        root.add_leaf(leaf)
    assert root.hexdigest() == root_of(hashes).hex()
    index = data.draw(st.integers(0, len(leaves) - 1))
    assert verify_inclusion(hashes[index], index, len(leaves), inclusion_proof(hashes, index), root_of(hashes))
