"""Loading an indicator file of any supported format, recognised by its extension or its content.

- STIX 2.0/2.1 bundle: ``.stix2`` or ``.json``, or text starting ``{`` (``stix.read_stix_bundle``);
- stalkerware ``ioc.yaml``: ``.yaml`` or ``.yml``, or text starting ``- `` (``stalkerware``);
- stalkerware ``network.csv``: ``.csv``, or a ``type,indicator,app`` header (``stalkerware``);
- plain list: ``.txt`` and anything else, its type from the file name (``plain.read_plain_list``).

The file is read once: its bytes are hashed (the set's SHA-256) and parsed from memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from vestige.indicators.plain import read_plain_list
from vestige.indicators.sets import IndicatorFormatError, IndicatorSet, SetOrigin
from vestige.indicators.stalkerware import read_stalkerware_network_csv, read_stalkerware_yaml
from vestige.indicators.stix import read_stix_bundle

_Reader = Callable[[bytes, SetOrigin], IndicatorSet]

_BY_SUFFIX: dict[str, _Reader] = {
    ".stix2": read_stix_bundle,
    ".json": read_stix_bundle,
    ".yaml": read_stalkerware_yaml,
    ".yml": read_stalkerware_yaml,
    ".csv": read_stalkerware_network_csv,
}


def default_set_name(path: Path) -> str:
    """A set's name when none is given: its folder and file name (``2021-07-18_nso/pegasus.stix2``)."""
    return f"{path.parent.name}/{path.name}" if path.parent.name else path.name


def load_indicator_set(
    path: Path,
    *,
    name: str | None = None,
    source: str | None = None,
    licence: str = "unknown",
    indicator_type: str | None = None,
) -> IndicatorSet:
    """Load one indicator file. ``indicator_type`` forces a plain list of that type.

    Raises ``IndicatorFormatError`` (naming the file) when the file cannot be read or is not of the
    format it looks like; a bad indicator inside a good file is recorded in the set's ``problems``.
    """
    try:
        data = path.read_bytes()
    except OSError as error:
        raise IndicatorFormatError(str(path), f"cannot be read ({error.strerror})") from None
    origin = SetOrigin(
        name=name or default_set_name(path),
        source=source or str(path),
        licence=licence,
        path=str(path),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    if indicator_type is not None:
        return read_plain_list(data, origin, indicator_type)
    return read_indicator_data(data, origin)


def read_indicator_data(data: bytes, origin: SetOrigin) -> IndicatorSet:
    """Parse the bytes of an indicator file whose origin (name, path, digest) is already known."""
    suffix = Path(origin.path).suffix.lower()
    reader = _BY_SUFFIX.get(suffix) or (None if suffix == ".txt" else _sniff(data))
    return reader(data, origin) if reader is not None else read_plain_list(data, origin)


def _sniff(data: bytes) -> _Reader | None:
    head = data[:256].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith((b"{", b"[")):
        return read_stix_bundle
    if head.startswith((b"- ", b"---")):
        return read_stalkerware_yaml
    if head.lower().startswith(b"type,indicator"):
        return read_stalkerware_network_csv
    return None
