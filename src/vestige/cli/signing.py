"""Opening the acting custodian's key: the passphrase comes from VESTIGE_KEY_PASSPHRASE or a prompt."""

from __future__ import annotations

import os
from pathlib import Path

import click

from vestige.custody.keys import SigningKey, load_key


def passphrase(confirm: bool = False) -> str:
    value = os.environ.get("VESTIGE_KEY_PASSPHRASE")
    if value is not None:
        return value
    return str(click.prompt("Key passphrase", hide_input=True, confirmation_prompt=confirm, err=True))


def signing_key(path: Path) -> SigningKey:
    """The key in ``path``; raises ``KeyFileError`` naming the file when it cannot be opened."""
    return load_key(path, passphrase())
