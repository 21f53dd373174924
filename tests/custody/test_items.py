"""Salted Merkle trees of items: roots, inclusion proofs, and why salts matter."""

from __future__ import annotations

import hashlib

from vestige.custody.items import ItemFile, item_root, leaf, leaf_proofs, salt_for
from vestige.evidence.merkle import MerkleRoot, leaf_hash

FILES = [ItemFile(f"0{n}/file{n}", n * 10, hashlib.sha256(str(n).encode()).hexdigest()) for n in range(7)]
SEED = bytes(range(32))


def test_the_root_is_rfc6962_over_salted_leaves_in_order() -> None:
    root = MerkleRoot()
    for entry in FILES:
        root.add_leaf(salt_for(SEED, entry.path) + f"{entry.path}\x00{entry.size}\x00{entry.sha256}".encode())
    assert item_root(SEED, FILES) == root.hexdigest()
    assert item_root(bytes(32), FILES) != item_root(SEED, FILES)


def test_every_proof_verifies_and_only_for_its_own_root() -> None:
    proofs = leaf_proofs(SEED, FILES, {"03/file3", "06/file6"})
    assert [(p.entry.path, p.index, p.size) for p in proofs] == [("03/file3", 3, 7), ("06/file6", 6, 7)]
    root = item_root(SEED, FILES)
    assert all(p.verifies(root) for p in proofs)
    assert not proofs[0].verifies(item_root(SEED, FILES[:6]))


def test_a_guessed_file_cannot_be_confirmed_without_its_salt() -> None:
    proof = leaf_proofs(SEED, FILES, {"03/file3"})[0]
    unsalted = leaf_hash(b"" + f"{FILES[4].path}\x00{FILES[4].size}\x00{FILES[4].sha256}".encode())
    revealed_neighbours = set(proof.path)
    assert unsalted not in revealed_neighbours
    assert leaf_hash(leaf(salt_for(SEED, FILES[2].path), FILES[2])) in revealed_neighbours
    assert salt_for(SEED, "a") != salt_for(SEED, "b")
