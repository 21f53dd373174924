"""Ed25519 keys of examiners: key files, public keys, fingerprints and trust lists.

A key file is JSON (``vestige.key/1``) holding the custodian's name, the public key and the private
key as PKCS#8 PEM encrypted with the passphrase (``cryptography``'s best available encryption); it
is created with mode 0600 and never overwritten. A public key's fingerprint is
``ed25519:`` + the SHA-256 of its 32 raw bytes, in hex: the ``keyid`` of every DSSE signature.

A trust list is a text file the verifier brings, one key a line: ``ed25519 <base64 public key>
<name>``; ``#`` starts a comment. Keys found inside a bundle are only hints and are never trusted on
their own (docs/custody-design.md section 7.4).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

KEY_FORMAT = "vestige.key/1"


class KeyFileError(Exception):
    """A key file or trust list that cannot be used; the message names the file and the reason."""


@dataclass(frozen=True, slots=True)
class PublicKey:
    raw: bytes
    name: str

    @property
    def fingerprint(self) -> str:
        return "ed25519:" + hashlib.sha256(self.raw).hexdigest()

    def trust_line(self) -> str:
        return f"ed25519 {base64.b64encode(self.raw).decode()} {self.name}"

    def verify(self, signature: bytes, message: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True


@dataclass(frozen=True, slots=True)
class SigningKey:
    private: Ed25519PrivateKey
    name: str

    @property
    def public(self) -> PublicKey:
        raw = self.private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return PublicKey(raw, self.name)

    def sign(self, message: bytes) -> bytes:
        return self.private.sign(message)


def generate(name: str) -> SigningKey:
    if not name.strip() or "\n" in name:
        raise KeyFileError("a key needs a one-line name")
    return SigningKey(Ed25519PrivateKey.generate(), name.strip())


def save_key(key: SigningKey, path: Path, passphrase: str) -> None:
    """Writes the key file with mode 0600; refuses to overwrite and refuses an empty passphrase."""
    if not passphrase:
        raise KeyFileError(f"{path}: a private key is never written without a passphrase")
    pem = key.private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode()),
    )
    document = {
        "format": KEY_FORMAT,
        "name": key.name,
        "public": base64.b64encode(key.public.raw).decode(),
        "fingerprint": key.public.fingerprint,
        "private": pem.decode(),
    }
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{path}: already exists; a key file is never overwritten") from None
    with os.fdopen(descriptor, "wb") as stream:
        stream.write(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")


def load_key(path: Path, passphrase: str) -> SigningKey:
    try:
        document = orjson.loads(path.read_bytes())
    except OSError as error:
        raise KeyFileError(f"{path}: cannot be read ({error.strerror})") from None
    except orjson.JSONDecodeError:
        raise KeyFileError(f"{path}: not a vestige key file") from None
    if not isinstance(document, dict) or document.get("format") != KEY_FORMAT:
        raise KeyFileError(f"{path}: not a vestige key file")
    try:
        private = serialization.load_pem_private_key(str(document["private"]).encode(), passphrase.encode())
    except (ValueError, TypeError):
        raise KeyFileError(f"{path}: the passphrase is wrong or the key is damaged") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: not an Ed25519 key")
    return SigningKey(private, str(document.get("name", "")))


def public_key_of(path: Path) -> PublicKey:
    """The public half of a key file (no passphrase needed), or of a one-line public key file."""
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise KeyFileError(f"{path}: cannot be read ({error})") from None
    if text.lstrip().startswith("{"):
        document = orjson.loads(text)
        return PublicKey(_decode_raw(str(document.get("public", "")), str(path)), str(document.get("name", "")))
    keys = parse_trust_list(text, str(path))
    if len(keys) != 1:
        raise KeyFileError(f"{path}: expected one public key, found {len(keys)}")
    return next(iter(keys.values()))


def parse_trust_list(text: str, name: str) -> dict[str, PublicKey]:
    """The keys of a trust list by fingerprint; a malformed line is an error naming its number."""
    keys: dict[str, PublicKey] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        content = line.split("#", 1)[0].strip()
        if not content:
            continue
        parts = content.split(None, 2)
        if len(parts) < 2 or parts[0] != "ed25519":
            raise KeyFileError(f"{name}: line {number} is not 'ed25519 <base64 key> <name>'")
        key = PublicKey(_decode_raw(parts[1], f"{name}: line {number}"), parts[2] if len(parts) == 3 else "")
        keys[key.fingerprint] = key
    return keys


def load_trust_list(path: Path) -> dict[str, PublicKey]:
    try:
        return parse_trust_list(path.read_text("utf-8"), str(path))
    except (OSError, UnicodeDecodeError) as error:
        raise KeyFileError(f"{path}: cannot be read ({error})") from None


def _decode_raw(text: str, where: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise KeyFileError(f"{where}: the key is not base64") from None
    if len(raw) != 32:
        raise KeyFileError(f"{where}: an Ed25519 public key has 32 bytes, not {len(raw)}")
    return raw
