"""Items of a case (acquisitions) as salted Merkle trees, for selective disclosure.

Each file of an item is a leaf ``salt || path NUL size NUL sha256`` hashed as an RFC 6962 leaf, in
path order; the item's root is signed in its ``acquire`` custody record. Salts are
``HMAC-SHA256(seed, path)`` with a random 32-byte seed kept in the bundle: a disclosure package
carries the salts of the leaves it reveals, never the seed, so nobody can confirm a guessed
withheld file (a short message, a phone number) by hashing candidates (docs/custody-design.md section 7.5).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from vestige.evidence.merkle import MerkleRoot, inclusion_proof, leaf_hash, verify_inclusion

SEED_BYTES = 32


@dataclass(frozen=True, slots=True)
class ItemFile:
    """One file of an item: its path inside the item, size and SHA-256."""

    path: str
    size: int
    sha256: str

    def line(self) -> bytes:
        return orjson.dumps({"path": self.path, "size": self.size, "sha256": self.sha256}) + b"\n"


def new_seed() -> bytes:
    return os.urandom(SEED_BYTES)


def salt_for(seed: bytes, path: str) -> bytes:
    return hmac.new(seed, path.encode(), hashlib.sha256).digest()


def leaf(salt: bytes, entry: ItemFile) -> bytes:
    return salt + f"{entry.path}\x00{entry.size}\x00{entry.sha256}".encode()


def item_root(seed: bytes, files: Sequence[ItemFile]) -> str:
    """The Merkle root over the item's salted leaves, ``files`` in path order."""
    root = MerkleRoot()
    for entry in files:
        root.add_leaf(leaf(salt_for(seed, entry.path), entry))
    return root.hexdigest()


@dataclass(frozen=True, slots=True)
class LeafProof:
    """What a disclosure reveals of one file: its leaf data and its audit path to the item root."""

    entry: ItemFile
    salt: bytes
    index: int
    size: int
    path: tuple[bytes, ...]

    def as_json(self) -> dict[str, object]:
        return {
            "path": self.entry.path,
            "size": self.entry.size,
            "sha256": self.entry.sha256,
            "salt": self.salt.hex(),
            "index": self.index,
            "tree_size": self.size,
            "proof": [step.hex() for step in self.path],
        }

    def verifies(self, root: str) -> bool:
        return verify_inclusion(
            leaf_hash(leaf(self.salt, self.entry)), self.index, self.size, list(self.path), bytes.fromhex(root)
        )


def leaf_proofs(seed: bytes, files: Sequence[ItemFile], wanted: set[str]) -> list[LeafProof]:
    """Inclusion proofs of the files whose paths are in ``wanted``."""
    hashes = [leaf_hash(leaf(salt_for(seed, entry.path), entry)) for entry in files]
    return [
        LeafProof(entry, salt_for(seed, entry.path), index, len(files), tuple(inclusion_proof(hashes, index)))
        for index, entry in enumerate(files)
        if entry.path in wanted
    ]
