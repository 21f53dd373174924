"""Plain lists of indicators: one value a line, ``#`` comments and blank lines skipped.

This is the form of the lists that Amnesty Tech publishes next to its STIX bundles
(AmnestyTech/investigations: ``domains.txt``, ``processes.txt``, ``emails.txt``, ``files.txt``,
``file_paths.txt``, ``config_profiles.txt``, ``v4_domains.txt``, ...). The file name says what the
values are; ``indicator_type`` overrides it for a list named otherwise. Every value is credited to
the set's name.
"""

from __future__ import annotations

from pathlib import PurePath

from vestige.indicators import types
from vestige.indicators.sets import IndicatorFormatError, IndicatorSet, IndicatorSetBuilder, SetOrigin

FORMAT = "plain-list"

TYPES_BY_STEM: dict[str, str] = {
    "domains": types.DOMAIN,
    "urls": types.URL,
    "ips": types.IPV4,
    "ipv4": types.IPV4,
    "ipv6": types.IPV6,
    "processes": types.PROCESS,
    "emails": types.EMAIL,
    "files": types.FILE_NAME,
    "file_names": types.FILE_NAME,
    "file_paths": types.FILE_PATH,
    "config_profiles": types.PROFILE_ID,
    "android_properties": types.ANDROID_PROPERTY,
    "package_names": types.APP_ID,
    "packages": types.APP_ID,
    "app_ids": types.APP_ID,
    "package_cert_hashes": types.APP_CERT,
    "certificates": types.APP_CERT,
    "md5": types.MD5,
    "sha1": types.SHA1,
    "sha256": types.SHA256,
    "hashes": types.FILE_HASH,
}
"""The indicator type of a list, by its file name without extension (``v4_domains`` ends in ``domains``)."""


def plain_list_type(file_name: str) -> str | None:
    """The indicator type that a list's file name announces, or None if it announces none."""
    stem = PurePath(file_name).stem.lower()
    if stem in TYPES_BY_STEM:
        return TYPES_BY_STEM[stem]
    if stem.endswith("_domains"):
        return types.DOMAIN
    return None


def read_plain_list(data: bytes, origin: SetOrigin, indicator_type: str | None = None) -> IndicatorSet:
    """Read a plain list; the type comes from ``indicator_type`` or else from the file name.

    ``indicator_type`` is a canonical type (``domain-name:value``, ``file:hashes`` for digests of
    any algorithm, ``app:cert`` for certificate fingerprints of any algorithm, ...).
    """
    resolved = indicator_type or plain_list_type(origin.path)
    if resolved is None:
        raise IndicatorFormatError(
            origin.path,
            "the file name does not say what the values are (name it domains.txt, processes.txt, ... or give its type)",
        )
    if resolved not in types.KINDS and resolved not in (types.FILE_HASH, types.APP_CERT):
        raise IndicatorFormatError(origin.path, f"unsupported indicator type {resolved!r}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise IndicatorFormatError(origin.path, f"not UTF-8 text ({error.reason} at byte {error.start})") from None
    builder = IndicatorSetBuilder(origin, FORMAT)
    collections = (origin.name,)
    for number, line in enumerate(text.splitlines(), start=1):
        value = line.strip()
        if value and not value.startswith("#"):
            builder.add_value(resolved, value, collections, f"line {number}")
    return builder.build()
