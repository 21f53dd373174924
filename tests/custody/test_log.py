"""The custody log on its own: records chained by ``prev``, canonical payloads, signed checkpoints, and
lines that are not records refused by number."""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson
import pytest

from vestige.custody.dsse import CHECKPOINT_TYPE, Envelope
from vestige.custody.keys import generate
from vestige.custody.log import LOG, CustodyLog, LogError, canonical, digest, log_root, parse_line
from vestige.evidence.merkle import MerkleRoot


def test_records_are_numbered_chained_and_signed_by_their_signers(tmp_path: Path) -> None:
    alice, bob = generate("alice"), generate("bob")
    log = CustodyLog(tmp_path)
    first = log.append({"action": "open", "case": "C"}, [alice])
    second = log.append({"action": "transfer", "case": "C"}, [alice])
    assert (first.seq, first.record["prev"]) == (0, None)
    assert (second.seq, second.record["prev"]) == (1, "sha256:" + hashlib.sha256(first.envelope.payload).hexdigest())
    assert first.envelope.payload == canonical(first.record)
    log.countersign(1, bob)
    entries = log.entries()
    assert [e.record["action"] for e in entries] == ["open", "transfer"]
    keys = {alice.public.fingerprint: alice.public, bob.public.fingerprint: bob.public}
    assert entries[1].envelope.valid_signers(keys)[0] == {alice.public.fingerprint, bob.public.fingerprint}
    assert entries[0].envelope.valid_signers(keys)[0] == {alice.public.fingerprint}


def test_a_checkpoint_is_a_signed_tree_head_over_the_canonical_payloads(tmp_path: Path) -> None:
    key = generate("alice")
    log = CustodyLog(tmp_path)
    payloads = [log.append({"action": "note", "case": "C", "note": str(n)}, [key]).envelope.payload for n in range(3)]
    path = log.checkpoint(key, "C")
    assert path.name == "000001.json"
    envelope = Envelope.parse(path.read_bytes().strip())
    body = orjson.loads(envelope.payload)
    expected = MerkleRoot()
    for payload in payloads:
        expected.add_leaf(payload)
    assert envelope.payload_type == CHECKPOINT_TYPE
    assert (body["tree_size"], body["root"], body["last"]) == (3, expected.hexdigest(), digest(payloads[-1]))
    assert body["root"] == log_root(payloads)
    assert log.checkpoint(key, "C").name == "000002.json"


def test_an_unknown_action_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(LogError, match=r"^unknown custody action 'erase'$"):
        CustodyLog(tmp_path).append({"action": "erase"}, [generate("alice")])
    assert not (tmp_path / LOG).exists()


def test_lines_that_are_not_canonical_records_are_refused_by_number(tmp_path: Path) -> None:
    key = generate("alice")
    entry = CustodyLog(tmp_path).append({"action": "open", "case": "C"}, [key])
    with pytest.raises(LogError, match=r"^custody/custody\.jsonl line 4: "):
        parse_line(b"not an envelope", 4)
    spaced = Envelope(entry.envelope.payload_type, orjson.dumps(entry.record, option=orjson.OPT_INDENT_2)).signed(key)
    with pytest.raises(LogError, match=r"line 2: the payload is not in RFC 8785 canonical form$"):
        parse_line(spaced.line(), 2)
    other = Envelope("application/vnd.other+json", entry.envelope.payload).signed(key)
    with pytest.raises(LogError, match=r"line 3: payload type 'application/vnd\.other\+json' is not a custody record$"):
        parse_line(other.line(), 3)
