"""Plist loading and the NSKeyedArchiver root reader used for Manifest.db ``MBFile`` blobs."""

from __future__ import annotations

import contextlib
import plistlib
import random

import pytest

from vestige.evidence.errors import UnexpectedFormatError
from vestige.evidence.plist import keyed_archive_fields, load_plist, load_plist_dict, plain


def archive(fields: dict[str, object], strings: list[str]) -> bytes:
    """An MBFile archive as NSKeyedArchiver lays it out: $null, the root, then referenced objects."""
    objects: list[object] = ["$null", {"$class": plistlib.UID(2 + len(strings)), **fields}, *strings]
    objects.append({"$classname": "MBFile", "$classes": ["MBFile", "NSObject"]})
    return plistlib.dumps(
        {
            "$version": 100000,
            "$archiver": "NSKeyedArchiver",
            "$top": {"root": plistlib.UID(1)},
            "$objects": objects,
        },
        fmt=plistlib.FMT_BINARY,
    )


def test_reads_scalars_and_referenced_strings_of_an_mbfile() -> None:
    blob = archive(
        {
            "RelativePath": plistlib.UID(2),
            "Target": plistlib.UID(3),
            "Mode": 0o120755,
            "Size": 5_000_000_000,
            "LastModified": 1_715_680_000,
            "ProtectionClass": 3,
        },
        ["Library/Caches/link", "../Média/cible"],
    )
    assert keyed_archive_fields(blob) == {
        "RelativePath": "Library/Caches/link",
        "Target": "../Média/cible",
        "Mode": 0o120755,
        "Size": 5_000_000_000,
        "LastModified": 1_715_680_000,
        "ProtectionClass": 3,
    }


def test_references_to_data_or_null_are_left_out() -> None:
    blob = archive({"RelativePath": plistlib.UID(2), "EncryptionKey": plistlib.UID(0), "Mode": 1}, ["a"])
    assert keyed_archive_fields(blob) == {"RelativePath": "a", "Mode": 1}


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"bplist00",
        b"not a plist at all, just some bytes here.......",
        plistlib.dumps({"a": 1}, fmt=plistlib.FMT_BINARY),
    ],
)
def test_malformed_archives_raise_value_error(blob: bytes) -> None:
    with pytest.raises(ValueError):
        keyed_archive_fields(blob)


def test_a_truncated_archive_raises_value_error() -> None:
    blob = archive({"RelativePath": plistlib.UID(2), "Mode": 1}, ["a"])
    with pytest.raises(ValueError):
        keyed_archive_fields(blob[:20] + blob[-32:])


def test_corrupted_archives_raise_only_the_documented_errors() -> None:
    """Random byte and trailer corruptions (seeded): either values or ValueError, never another error."""
    blob = archive({"RelativePath": plistlib.UID(2), "Mode": 0o100644, "Size": 12, "Flags": 0}, ["Library/x"])
    rng = random.Random(20261128)
    outcomes = {"values": 0, "refused": 0}
    for _ in range(20_000):
        corrupt = bytearray(blob)
        for _ in range(rng.randint(1, 3)):
            position = len(corrupt) - rng.randint(1, 32) if rng.random() < 0.5 else rng.randrange(len(corrupt))
            corrupt[position] = rng.randrange(256)
        try:
            keyed_archive_fields(bytes(corrupt))
            outcomes["values"] += 1
        except ValueError:
            outcomes["refused"] += 1
        with contextlib.suppress(UnexpectedFormatError):
            load_plist(bytes(corrupt), "Manifest.db:Files.file")
    assert outcomes["values"] > 0 and outcomes["refused"] > 0, outcomes


def test_load_plist_names_the_file_when_it_is_not_a_plist() -> None:
    with pytest.raises(UnexpectedFormatError, match=r"^HomeDomain/x\.plist: not a valid property list"):
        load_plist(b"<plist><dict><key>a</key>", "HomeDomain/x.plist")


def test_load_plist_dict_refuses_a_top_level_array() -> None:
    with pytest.raises(UnexpectedFormatError, match="expected a dictionary at the top, found list"):
        load_plist_dict(plistlib.dumps([1, 2]), "Info.plist")


def test_plain_makes_plist_values_json_able() -> None:
    import datetime

    value = {"d": datetime.datetime(2024, 5, 14, 9, 0), "b": b"\x00\xff", "u": plistlib.UID(7), "l": [1, "x"]}
    assert plain(value) == {"d": "2024-05-14T09:00:00", "b": "00ff", "u": 7, "l": [1, "x"]}


def test_archives_sharing_a_layout_still_give_their_own_values() -> None:
    first = archive({"RelativePath": plistlib.UID(2), "Mode": 1, "Size": 10}, ["a/b"])
    second = archive({"RelativePath": plistlib.UID(2), "Mode": 2, "Size": 70000}, ["a/longer/path"])
    other_keys = archive({"RelativePath": plistlib.UID(2), "Birth": 5}, ["c"])
    assert keyed_archive_fields(first) == {"RelativePath": "a/b", "Mode": 1, "Size": 10}
    assert keyed_archive_fields(second) == {"RelativePath": "a/longer/path", "Mode": 2, "Size": 70000}
    assert keyed_archive_fields(other_keys) == {"RelativePath": "c", "Birth": 5}
    assert keyed_archive_fields(first) == {"RelativePath": "a/b", "Mode": 1, "Size": 10}


def random_value(rng: random.Random, depth: int = 0) -> object:
    """A plist value of every type plistlib writes (seeded), nested at most four levels."""
    import datetime

    roll = rng.random()
    if depth < 4 and roll < 0.2:
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 20))]
    if depth < 4 and roll < 0.4:
        return {f"k{rng.randint(0, 99)}é": random_value(rng, depth + 1) for _ in range(rng.randint(0, 20))}
    return rng.choice(
        [
            rng.randint(-(2**63), 2**64 - 1),
            rng.random() * 1e300,
            "x" * rng.randint(0, 40),
            "€ ünïcode",
            bytes(rng.randint(0, 40)),
            rng.random() < 0.5,
            plistlib.UID(rng.randint(0, 2**32)),
            datetime.datetime(2001, 1, 1) + datetime.timedelta(microseconds=rng.randint(0, 10**16)),
        ]
    )


def test_the_binary_reader_gives_what_plistlib_gives() -> None:
    """vestige reads binary plists itself (bounded, without recursion): on every value plistlib writes, and
    on every corruption both read, the two agree (seeded)."""
    rng = random.Random(20261201)
    agreed = 0
    for _ in range(300):
        blob = plistlib.dumps({"root": random_value(rng)}, fmt=plistlib.FMT_BINARY)
        assert load_plist(blob, "x.plist") == plistlib.loads(blob)
        for _ in range(20):
            corrupt = bytearray(blob)
            corrupt[rng.randrange(8, len(corrupt))] = rng.randrange(256)
            try:
                theirs = plistlib.loads(bytes(corrupt))
            except (plistlib.InvalidFileException, ValueError, TypeError):
                continue
            with contextlib.suppress(UnexpectedFormatError):  # stricter than plistlib on bounds, as CF is
                mine = load_plist(bytes(corrupt), "x.plist")
                assert repr(mine) == repr(theirs)
                agreed += 1
    assert agreed > 500
