"""Test-only: what a dishonest custodian, holding a trusted key, can write into a bundle by hand."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vestige.custody.bag import write_manifest
from vestige.custody.case import KEYS, Case
from vestige.custody.dsse import CUSTODY_TYPE, Envelope
from vestige.custody.keys import SigningKey
from vestige.custody.log import RECORD_SCHEMA, canonical, digest, now, tool


def append_record(bundle: Path, key: SigningKey, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Appends a record signed by ``key`` with any fields (even ones vestige refuses to write), with
    its checkpoint and key hint, and rewrites the bag's manifests: everything a custodian's key can do."""
    with Case(bundle, for_writing=True) as case:
        case.bag.save()
        entries = case.log.entries()
        record = {
            "schema": RECORD_SCHEMA,
            "seq": len(entries),
            "prev": digest(entries[-1].envelope.payload),
            "time": now(),
            "tool": tool(),
            "case": case.case_id,
            "actor": {"handle": key.public.name, "key": key.public.fingerprint},
            "bag": {
                "manifest_sha256": case.bag.manifest_sha256(),
                "info_sha256": hashlib.sha256((bundle / "bag-info.txt").read_bytes()).hexdigest(),
                "payload_files": len(case.bag.payload),
            },
            **fields,
        }
        envelope = Envelope(CUSTODY_TYPE, canonical(record)).signed(key)
        with (bundle / "custody/custody.jsonl").open("ab") as log:
            log.write(envelope.line() + b"\n")
        hint = bundle / KEYS / f"{key.public.fingerprint.split(':', 1)[1]}.pub"
        if not hint.exists():
            hint.write_text(key.public.trust_line() + "\n")
        case.log.checkpoint(key, case.case_id)
        case.bag.save_tags()
    return record


def hash_payload(bundle: Path, names: list[str]) -> None:
    """Rewrites the payload manifest with the current digests of ``names`` (and the rest as listed)."""
    case = Case(bundle)
    for name in names:
        data = (bundle / name).read_bytes()
        case.bag.payload[name] = hashlib.sha256(data).hexdigest()
    write_manifest(bundle / "manifest-sha256.txt", case.bag.payload)
