"""The stalkerware indicators of AssoEchap/stalkerware-indicators (``ioc.yaml``, ``generated/network.csv``).

``ioc.yaml`` (described in that repository's README) is a YAML list with one entry per app::

    - name: TheTruthSpy          # the collection
      names: [Copy9, ...]        # other commercial names (not indicators)
      type: stalkerware
      packages: [com.apspy.app, ...]          -> app:id
      certificates: [31A6ECEC..., ...]        -> app:cert (40 hex digits: SHA-1)
      websites: [copy9.com, ...]              -> domain-name:value
      distribution: [app.xpspy.com, ...]      -> domain-name:value (sometimes a URL)
      c2:
        domains: [...]                        -> domain-name:value
        ips: [69.64.74.239, ...]              -> ipv4-addr:value / ipv6-addr:value
        ip: [...]                             (a spelling three entries use)

``certificate_organizations`` and ``certificate_cname_re`` describe certificate subjects, which no
observable carries; they are recorded as unsupported. ``generated/network.csv`` has the header
``type,indicator,app`` and rows of type ``domain`` or ``ipv4``; it repeats some rows and writes some
URLs as domains (see ``types`` for how those are read).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

import yaml

from vestige.indicators import types
from vestige.indicators.sets import (
    IndicatorFormatError,
    IndicatorSet,
    IndicatorSetBuilder,
    ProblemKind,
    SetOrigin,
)

YAML_FORMAT = "stalkerware-ioc-yaml"
CSV_FORMAT = "stalkerware-network-csv"

ENTRY_FIELDS: dict[str, str] = {
    "packages": types.APP_ID,
    "certificates": types.APP_CERT,
    "websites": types.DOMAIN,
    "distribution": types.DOMAIN,
}
C2_FIELDS: dict[str, str] = {"domains": types.DOMAIN, "ips": types.IPV4, "ip": types.IPV4}
DESCRIPTIVE_FIELDS = frozenset({"name", "names", "type"})
CSV_TYPES: dict[str, str] = {"domain": types.DOMAIN, "ipv4": types.IPV4, "ipv6": types.IPV6, "url": types.URL}

_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_stalkerware_yaml(data: bytes, origin: SetOrigin) -> IndicatorSet:
    """Read ``ioc.yaml`` (or ``watchware.yaml``, which has the same shape)."""
    try:
        document = yaml.load(data, Loader=_SafeLoader)
    except yaml.YAMLError as error:
        raise IndicatorFormatError(origin.path, f"not YAML ({error})") from None
    if not isinstance(document, list):
        raise IndicatorFormatError(origin.path, "not a stalkerware ioc.yaml (expected a list of apps)")
    builder = IndicatorSetBuilder(origin, YAML_FORMAT)
    for position, entry in enumerate(document):
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name.strip():
            builder.problem(ProblemKind.INVALID, f"entry {position}", "an app entry without a name")
            continue
        _read_entry(builder, name, entry)
    return builder.build()


def _read_entry(builder: IndicatorSetBuilder, name: str, entry: Mapping[str, Any]) -> None:
    for field_name, value in entry.items():
        if field_name in ENTRY_FIELDS:
            _add_values(builder, name, field_name, ENTRY_FIELDS[field_name], value)
        elif field_name == "c2" and isinstance(value, dict):
            for c2_field, c2_value in value.items():
                if c2_field in C2_FIELDS:
                    _add_values(builder, name, f"c2.{c2_field}", C2_FIELDS[c2_field], c2_value)
                else:
                    builder.problem(ProblemKind.UNSUPPORTED, f"{name}.c2.{c2_field}", "unknown c2 field")
        elif field_name not in DESCRIPTIVE_FIELDS:
            builder.problem(ProblemKind.UNSUPPORTED, f"{name}.{field_name}", "not an observable indicator")


def _add_values(builder: IndicatorSetBuilder, name: str, field_name: str, indicator_type: str, values: Any) -> None:
    if not isinstance(values, list):
        builder.problem(ProblemKind.INVALID, f"{name}.{field_name}", "expected a list")
        return
    for position, value in enumerate(values):
        where = f"{name}.{field_name}[{position}]"
        if not isinstance(value, str):
            builder.problem(ProblemKind.INVALID, where, f"{value!r} is not a string")
        else:
            builder.add_value(_ip_version(indicator_type, value), value, (name,), where)


def _ip_version(indicator_type: str, value: str) -> str:
    return types.IPV6 if indicator_type == types.IPV4 and ":" in value else indicator_type


def read_stalkerware_network_csv(data: bytes, origin: SetOrigin) -> IndicatorSet:
    """Read ``generated/network.csv`` (``type,indicator,app``); the app is the collection."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise IndicatorFormatError(origin.path, f"not UTF-8 text ({error.reason} at byte {error.start})") from None
    rows = csv.DictReader(io.StringIO(text))
    if rows.fieldnames is None or not {"type", "indicator", "app"} <= set(rows.fieldnames):
        raise IndicatorFormatError(origin.path, "not a stalkerware network.csv (no type,indicator,app header)")
    builder = IndicatorSetBuilder(origin, CSV_FORMAT)
    for row in rows:
        where = f"line {rows.line_num}"
        row_type, value, app = row["type"] or "", row["indicator"] or "", row["app"] or ""
        indicator_type = CSV_TYPES.get(row_type.strip().lower())
        if indicator_type is None:
            builder.problem(ProblemKind.UNSUPPORTED, where, f"indicator type {row_type!r}")
        elif not value.strip():
            builder.problem(ProblemKind.INVALID, where, "empty indicator")
        else:
            builder.add_value(_ip_version(indicator_type, value), value, (app.strip() or origin.name,), where)
    return builder.build()
