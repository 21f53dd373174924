"""Key files (0600, passphrase-encrypted, never overwritten), fingerprints and trust lists."""

from __future__ import annotations

import base64
import hashlib
import stat
from pathlib import Path

import pytest

from vestige.custody.keys import KeyFileError, generate, load_key, parse_trust_list, public_key_of, save_key


def test_a_key_file_is_private_encrypted_and_round_trips(tmp_path: Path) -> None:
    key = generate("examiner-a")
    path = tmp_path / "a.key"
    save_key(key, path, "pass phrase")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in path.read_bytes()
    loaded = load_key(path, "pass phrase")
    assert loaded.public == key.public
    assert loaded.name == "examiner-a"
    assert public_key_of(path) == key.public
    assert key.public.fingerprint == "ed25519:" + hashlib.sha256(key.public.raw).hexdigest()


def test_wrong_passphrase_overwrite_and_empty_passphrase_are_refused(tmp_path: Path) -> None:
    key = generate("examiner-a")
    path = tmp_path / "a.key"
    save_key(key, path, "right")
    with pytest.raises(KeyFileError, match="the passphrase is wrong"):
        load_key(path, "wrong")
    with pytest.raises(KeyFileError, match="never overwritten"):
        save_key(generate("other"), path, "x")
    with pytest.raises(KeyFileError, match="never written without a passphrase"):
        save_key(key, tmp_path / "b.key", "")


def test_signatures_verify_only_for_the_signed_message() -> None:
    key = generate("a")
    signature = key.sign(b"message")
    assert key.public.verify(signature, b"message")
    assert not key.public.verify(signature, b"messagf")
    assert not generate("b").public.verify(signature, b"message")


def test_trust_list_lines_comments_and_errors() -> None:
    a, b = generate("examiner-a"), generate("examiner b")
    text = f"# lab keys\n{a.public.trust_line()}\n\n{b.public.trust_line()}  # the second\n"
    keys = parse_trust_list(text, "trust.txt")
    assert sorted(keys) == sorted([a.public.fingerprint, b.public.fingerprint])
    assert keys[b.public.fingerprint].name == "examiner b"
    with pytest.raises(KeyFileError, match=r"^trust\.txt: line 2 is not 'ed25519 <base64 key> <name>'$"):
        parse_trust_list("# x\nrsa AAAA name\n", "trust.txt")
    short = base64.b64encode(b"\x00" * 31).decode()
    with pytest.raises(KeyFileError, match="has 32 bytes, not 31"):
        parse_trust_list(f"ed25519 {short} x\n", "trust.txt")
