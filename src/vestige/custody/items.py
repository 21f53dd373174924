"""Items of a case (acquisitions) as salted Merkle trees, for selective disclosure.

Each file of an item is a leaf ``salt || path NUL size NUL sha256`` hashed as an RFC 6962 leaf, in
path order; the item's root is signed in its ``acquire`` custody record. Salts are
``HMAC-SHA256(seed, path)`` with a random 32-byte seed kept in the bundle: a disclosure package
carries the salts of the leaves it reveals, never the seed, so nobody can confirm a guessed
withheld file (a short message, a phone number) by hashing candidates (docs/custody-design.md section 7.5).

A file made of units (the packets of a capture: ``platforms.Units``) has a tree of its own: each unit
is a leaf ``salt || unit`` (its canonical bytes), salted with ``HMAC-SHA256(seed, path NUL number)``,
numbers counting from 1; the root and the number of units are bound in the file's leaf, which becomes
``salt || path NUL size NUL sha256 NUL root NUL count``, so the item root signed in the acquire record
covers every unit, and a disclosure proves some units while a withheld one cannot be confirmed by
guessing it. A file without units keeps the leaf above, byte for byte (docs/custody-design.md,
"Disclosing part of a file").
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import orjson

from vestige.evidence.merkle import MerkleRoot, inclusion_proof, leaf_hash, verify_inclusion

SEED_BYTES = 32
_HEX_DIGEST = frozenset("0123456789abcdef")


@dataclass(frozen=True, slots=True)
class UnitTree:
    """The Merkle tree over a file's units: its root (hex) and how many units it has."""

    root: str
    count: int

    def as_json(self) -> dict[str, object]:
        return {"root": self.root, "count": self.count}

    @classmethod
    def of_json(cls, value: object) -> UnitTree:
        """A tree as a file list or a disclosure writes it, read strictly (one reading of a leaf)."""
        if not isinstance(value, Mapping) or set(value) != {"root", "count"}:
            raise ValueError("its units are not an object of a root and a count")
        root, count = value["root"], value["count"]
        if not is_digest(root):
            raise ValueError("its units root is not 64 lowercase hex digits")
        if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count < 1 << 53:
            raise ValueError("its units count is not a whole number")
        return cls(root, count)


def is_digest(value: object) -> bool:
    """Whether ``value`` is a SHA-256 in 64 lowercase hex digits."""
    return isinstance(value, str) and len(value) == 64 and set(value) <= _HEX_DIGEST


@dataclass(frozen=True, slots=True)
class ItemFile:
    """One file of an item: its path inside the item, size and SHA-256, and the tree of its units
    when its kind divides it into units."""

    path: str
    size: int
    sha256: str
    units: UnitTree | None = None

    def line(self) -> bytes:
        fields: dict[str, object] = {"path": self.path, "size": self.size, "sha256": self.sha256}
        if self.units is not None:
            fields["units"] = self.units.as_json()
        return orjson.dumps(fields) + b"\n"

    @classmethod
    def of_line(cls, line: bytes) -> ItemFile:
        """A line of an item's ``manifest.jsonl``; raises ``ValueError`` for one vestige does not write."""
        fields = orjson.loads(line)
        if not isinstance(fields, dict) or not {"path", "size", "sha256"} <= set(fields) <= {
            "path",
            "size",
            "sha256",
            "units",
        }:
            raise ValueError("not a line of an item's file list")
        path, size, sha256 = fields["path"], fields["size"], fields["sha256"]
        if (
            not isinstance(path, str)
            or not isinstance(size, int)
            or isinstance(size, bool)
            or not isinstance(sha256, str)
        ):
            raise ValueError("not a line of an item's file list")
        units = UnitTree.of_json(fields["units"]) if "units" in fields else None
        return cls(path, size, sha256, units)


def new_seed() -> bytes:
    return os.urandom(SEED_BYTES)


def salt_for(seed: bytes, path: str) -> bytes:
    return hmac.new(seed, path.encode(), hashlib.sha256).digest()


def leaf(salt: bytes, entry: ItemFile) -> bytes:
    text = f"{entry.path}\x00{entry.size}\x00{entry.sha256}"
    if entry.units is not None:
        text += f"\x00{entry.units.root}\x00{entry.units.count}"
    return salt + text.encode()


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
            **({"units": self.entry.units.as_json()} if self.entry.units is not None else {}),
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


# The units of a file: a tree of their own, bound in the file's leaf.


def unit_salt(seed: bytes, path: str, number: int) -> bytes:
    """The salt of unit ``number`` (from 1) of the file at ``path``: a path holds no NUL, so no unit
    salt is the salt of a file."""
    return hmac.digest(seed, f"{path}\x00{number}".encode(), "sha256")


def unit_leaf(salt: bytes, unit: bytes) -> bytes:
    return salt + unit


def unit_tree(seed: bytes, path: str, units: Iterable[bytes]) -> UnitTree:
    """The tree over the salted units of the file at ``path``, in one streaming pass."""
    root = MerkleRoot()
    for number, unit in enumerate(units, 1):
        root.add_leaf_hash(leaf_hash(unit_leaf(unit_salt(seed, path, number), unit)))
    return UnitTree(root.hexdigest(), root.size)


@dataclass(frozen=True, slots=True)
class UnitProof:
    """What a disclosure reveals of one unit besides its bytes: its number, salt and audit path."""

    number: int
    salt: bytes
    path: tuple[bytes, ...]

    def as_json(self) -> dict[str, object]:
        return {"number": self.number, "salt": self.salt.hex(), "proof": [step.hex() for step in self.path]}

    def verifies(self, unit: bytes, tree: UnitTree) -> bool:
        return verify_inclusion(
            leaf_hash(unit_leaf(self.salt, unit)),
            self.number - 1,
            tree.count,
            list(self.path),
            bytes.fromhex(tree.root),
        )


@dataclass(frozen=True, slots=True)
class ProvenUnits:
    """The units a disclosure takes from a file, with their proofs, and the tree the pass recomputed
    (which the caller compares with the signed one before trusting any proof)."""

    tree: UnitTree
    units: dict[int, bytes]
    proofs: dict[int, UnitProof]


def unit_proofs(seed: bytes, path: str, units: Iterable[bytes], count: int, numbers: Iterable[int]) -> ProvenUnits:
    """The units ``numbers`` of a file whose signed tree has ``count`` units, with their audit paths,
    in one streaming pass: memory holds the chosen units and a few partial roots, never a hash per unit
    (a capture may hold millions of packets). Numbers outside 1..count get no proof."""
    wanted = sorted({n for n in numbers if 1 <= n <= count})
    ranges = {n: _proof_ranges(n - 1, count) for n in wanted}
    roots = {span: MerkleRoot() for spans in ranges.values() for span in spans}
    starting: dict[int, list[tuple[int, int]]] = {}
    for span in roots:
        starting.setdefault(span[0], []).append(span)
    active: list[tuple[int, int]] = []
    ends = count  # the first index at which a span of ``active`` ends: only then is the list filtered
    whole, chosen = MerkleRoot(), {}
    for index, unit in enumerate(units):
        digest = leaf_hash(unit_leaf(unit_salt(seed, path, index + 1), unit))
        whole.add_leaf_hash(digest)
        if index + 1 in ranges:
            chosen[index + 1] = unit
        if index in starting or index >= ends:
            active = [span for span in active + starting.get(index, []) if span[1] > index]
            ends = min((span[1] for span in active), default=count)
        for span in active:
            roots[span].add_leaf_hash(digest)
    proofs = {
        n: UnitProof(n, unit_salt(seed, path, n), tuple(bytes.fromhex(roots[span].hexdigest()) for span in spans))
        for n, spans in ranges.items()
    }
    return ProvenUnits(UnitTree(whole.hexdigest(), whole.size), chosen, proofs)


def _proof_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges ``[start, end)`` whose roots make the audit path of leaf ``index`` in a tree of
    ``size`` leaves, in the order of RFC 6962 PATH (the deepest first)."""
    spans: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        split = start + (1 << ((end - start - 1).bit_length() - 1))
        if index < split:
            spans.append((split, end))
            end = split
        else:
            spans.append((start, split))
            start = split
    return spans[::-1]
