"""A CASE 1.5.0 / UCO 1.5.0 JSON-LD view of a custody log (records of schema ``vestige.custody/1``).

Each custody record becomes a ``case-investigation:InvestigativeAction``, and the custody of each item
is chained through ``case-investigation:ProvenanceRecord`` nodes in the pattern of CASE-Examples'
``forensic_lifecycle`` and ``partitions`` illustrations: an action takes the item's previous
ProvenanceRecord as an ``object`` and has the new one as a ``result``. Consecutive actions are linked
by ``wasInformedBy``. The vocabulary is the CASE 1.5.0 ontology (https://caseontology.org), which
``case_validate`` from the ``case-utils`` package checks offline.

The graph is derived and is not the signed artifact: the DSSE envelopes of the log are. Each action
therefore carries an ``ExternalReference`` to the SHA-256 of its record's RFC 8785 payload, the value
that the next record's ``prev`` names. Node IRIs are UUIDv5 values derived from the case id and the
record ``seq`` (or, for things that several records share such as a person, an item or a file, from
their natural key), and the graph is sorted, so the same log always gives the same document.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

import rfc8785

__all__ = ["CASE_VERSION", "CASE_WIDE_ACTIONS", "CONTEXT", "KB_NAMESPACE", "SCHEMA", "CaseExportError", "case_graph"]

SCHEMA = "vestige.custody/1"
CASE_VERSION = "1.5.0"
KB_NAMESPACE = "urn:vestige:kb:"

CONTEXT: dict[str, str] = {
    "kb": KB_NAMESPACE,
    "case-investigation": "https://ontology.caseontology.org/case/investigation/",
    "uco-action": "https://ontology.unifiedcyberontology.org/uco/action/",
    "uco-core": "https://ontology.unifiedcyberontology.org/uco/core/",
    "uco-identity": "https://ontology.unifiedcyberontology.org/uco/identity/",
    "uco-location": "https://ontology.unifiedcyberontology.org/uco/location/",
    "uco-observable": "https://ontology.unifiedcyberontology.org/uco/observable/",
    "uco-tool": "https://ontology.unifiedcyberontology.org/uco/tool/",
    "uco-types": "https://ontology.unifiedcyberontology.org/uco/types/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}

# Every node IRI is a UUIDv5 under this namespace (CASE advises IRIs that end in a UUID).
_UUIDS = uuid.uuid5(uuid.NAMESPACE_URL, "urn:vestige:custody:case-uco")

# A record that names no item still moves or changes the custody of everything held at that point.
CASE_WIDE_ACTIONS = frozenset({"transfer", "receive", "store", "seal", "unseal", "dispose"})

_PAST_TENSE = {
    "acquire": "acquired",
    "analyze": "analysed",
    "transfer": "handed over",
    "receive": "received",
    "store": "stored",
    "seal": "sealed",
    "unseal": "unsealed",
    "copy": "copied",
    "redact": "redacted",
    "export": "exported",
    "dispose": "disposed of",
    "verify": "verified",
    "hash": "hashed",
}
_COUNTERPARTY_PREPOSITION = {"transfer": "to", "receive": "from"}

_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")

# Digests that are not a SHA-256 of the bytes they name: HashNameVocab has no term for them.
_DIGEST_EXPLANATIONS = {
    "merkle_root": "Merkle tree root over the item's files, not a SHA-256 of the item's bytes",
}
# What a ``<stem>_sha256`` digest names, where the stem alone does not say it.
_DIGEST_LABELS = {"item": "item description"}


class CaseExportError(ValueError):
    """A custody log that cannot be described in CASE: a missing or mistyped required field, or mixed cases."""


@dataclass(frozen=True, slots=True)
class _Party:
    handle: str
    key: str | None


@dataclass(frozen=True, slots=True)
class _Item:
    id: str
    kind: str | None
    root: str | None
    by_reference: bool


@dataclass(frozen=True, slots=True)
class _NamedFile:
    name: str
    sha256: str | None


@dataclass(frozen=True, slots=True)
class _Tool:
    name: str
    version: str | None
    package_sha256: str | None


@dataclass(frozen=True, slots=True)
class _Location:
    label: str
    country: str | None


@dataclass(frozen=True, slots=True)
class _Record:
    seq: int
    case: str
    action: str
    utc: str
    time_source: str | None
    actor: _Party
    counterparty: _Party | None
    item: _Item | None
    digests: tuple[tuple[str, str], ...]
    size: str | None
    files: int | None
    authority: tuple[str, str] | None
    tool: _Tool | None
    inputs: tuple[_NamedFile, ...]
    outputs: tuple[_NamedFile, ...]
    location: _Location | None
    purpose: str | None
    note: str | None
    payload_sha256: str


def case_graph(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The CASE/UCO JSON-LD document (``@context`` and a sorted ``@graph``) of one case's custody log."""
    log = _parse_log(records)
    graph = _Graph(log[0].case)
    investigation = graph.node(
        "Investigation",
        ("investigation",),
        "case-investigation:Investigation",
        {"uco-core:name": graph.case, "case-investigation:investigationForm": "case"},
    )
    custody = _Custody()
    previous_action: str | None = None
    for record in log:
        action = _add_action(graph, record, previous_action)
        graph.link(investigation, "uco-core:object", action)
        if record.authority is not None:
            graph.link(investigation, "case-investigation:relevantAuthorization", _add_authorization(graph, record))
        _add_files(graph, record, action, investigation)
        _add_custody(graph, record, action, investigation, custody)
        _add_annotation(graph, record, action)
        previous_action = action
    return {"@context": dict(CONTEXT), "@graph": graph.sorted_nodes()}


class _Graph:
    """Nodes by IRI; multi-valued references are sets of IRIs until ``sorted_nodes``."""

    def __init__(self, case: str) -> None:
        self.case = case
        self._nodes: dict[str, dict[str, Any]] = {}

    def iri(self, kind: str, key: tuple[object, ...]) -> str:
        # A JSON array keeps "a/b" + "c" apart from "a" + "b/c".
        name = json.dumps([self.case, *key], ensure_ascii=False)
        return f"kb:{kind}-{uuid.uuid5(_UUIDS, name)}"

    def node(self, kind: str, key: tuple[object, ...], rdf_type: str, properties: Mapping[str, Any]) -> str:
        """Adds the node once; a later call with the same key keeps the first properties."""
        iri = self.iri(kind, key)
        if iri not in self._nodes:
            self._nodes[iri] = {"@id": iri, "@type": rdf_type, **properties}
        return iri

    def has(self, iri: str) -> bool:
        return iri in self._nodes

    def link(self, subject: str, predicate: str, target: str) -> None:
        self._nodes[subject].setdefault(predicate, set()).add(target)

    def sorted_nodes(self) -> list[dict[str, Any]]:
        return [_finished(self._nodes[iri]) for iri in sorted(self._nodes)]


def _finished(node: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: [{"@id": iri} for iri in sorted(value)] if isinstance(value, set) else value for key, value in node.items()
    }


def _date_time(value: str) -> dict[str, str]:
    return {"@type": "xsd:dateTime", "@value": value}


def _add_action(graph: _Graph, record: _Record, previous_action: str | None) -> str:
    properties: dict[str, Any] = {
        "uco-core:name": record.action,
        "uco-action:startTime": _date_time(record.utc),
        "uco-action:performer": {"@id": _add_person(graph, record.actor)},
    }
    description = _action_description(record)
    if description:
        properties["uco-core:description"] = description
    if previous_action is not None:
        properties["case-investigation:wasInformedBy"] = {"@id": previous_action}
    action = graph.node(
        "InvestigativeAction", (record.seq, "action"), "case-investigation:InvestigativeAction", properties
    )
    if record.counterparty is not None:
        graph.link(action, "uco-action:participant", _add_person(graph, record.counterparty))
    if record.tool is not None:
        graph.link(action, "uco-action:instrument", _add_tool(graph, record.tool))
    if record.location is not None:
        graph.link(action, "uco-action:location", _add_location(graph, record.location))
    payload = graph.node(
        "ExternalReference",
        (record.seq, "payload"),
        "uco-core:ExternalReference",
        {
            "uco-core:externalIdentifier": f"sha256:{record.payload_sha256}",
            "uco-core:definingContext": f"{SCHEMA} custody record {record.seq}: SHA-256 of its RFC 8785 payload",
        },
    )
    graph.link(action, "uco-core:externalReference", payload)
    return action


def _action_description(record: _Record) -> str:
    parts = []
    if record.purpose:
        parts.append(f"Purpose: {record.purpose}.")
    if record.note:
        parts.append(f"Note: {record.note}.")
    if record.authority is not None:
        parts.append(f"Authority: {record.authority[0]} ({record.authority[1]}).")
    if record.time_source:
        parts.append(f"Time source: {record.time_source}.")
    return " ".join(parts)


def _add_person(graph: _Graph, party: _Party) -> str:
    person = graph.node(
        "Person",
        ("person", party.handle),
        "uco-identity:Person",
        {"uco-core:name": party.handle, "uco-core:description": "Handle in the vestige custody log"},
    )
    if party.key is not None:
        key = graph.node(
            "ExternalReference",
            ("person", party.handle, "key", party.key),
            "uco-core:ExternalReference",
            {
                "uco-core:externalIdentifier": party.key,
                "uco-core:definingContext": "public key that signs this person's vestige custody records",
            },
        )
        graph.link(person, "uco-core:externalReference", key)
    return person


def _add_tool(graph: _Graph, tool: _Tool) -> str:
    properties: dict[str, Any] = {"uco-core:name": tool.name}
    if tool.version is not None:
        properties["uco-tool:version"] = tool.version
    if tool.package_sha256 is not None:
        properties["uco-core:description"] = f"Package SHA-256: {tool.package_sha256}"
    key = ("tool", tool.name, tool.version or "", tool.package_sha256 or "")
    return graph.node("Tool", key, "uco-tool:Tool", properties)


def _add_location(graph: _Graph, location: _Location) -> str:
    key = ("location", location.label, location.country or "")
    iri = graph.node("Location", key, "uco-location:Location", {"uco-core:name": location.label})
    if location.country is not None:
        address = graph.node(
            "SimpleAddressFacet",
            (*key, "address"),
            "uco-location:SimpleAddressFacet",
            {"uco-location:country": location.country},
        )
        graph.link(iri, "uco-core:hasFacet", address)
    return iri


def _add_authorization(graph: _Graph, record: _Record) -> str:
    assert record.authority is not None
    kind, reference = record.authority
    return graph.node(
        "Authorization",
        ("authority", kind, reference),
        "case-investigation:Authorization",
        {"case-investigation:authorizationType": kind, "case-investigation:authorizationIdentifier": reference},
    )


def _add_sha256(graph: _Graph, subject: str, key: tuple[object, ...], hex_digest: str) -> None:
    """Gives ``subject`` a ContentDataFacet holding a SHA256 ``uco-types:Hash``."""
    facet = graph.node("ContentDataFacet", (*key, "content"), "uco-observable:ContentDataFacet", {})
    hash_node = graph.node(
        "Hash",
        (*key, "sha256", hex_digest.lower()),
        "uco-types:Hash",
        {
            "uco-types:hashMethod": "SHA256",
            "uco-types:hashValue": {"@type": "xsd:hexBinary", "@value": hex_digest.lower()},
        },
    )
    graph.link(facet, "uco-observable:hash", hash_node)
    graph.link(subject, "uco-core:hasFacet", facet)


def _add_named_file(graph: _Graph, named: _NamedFile) -> str:
    key = ("file", named.name, named.sha256 or "")
    file_node = graph.node("File", key, "uco-observable:File", {"uco-core:name": named.name})
    facet = graph.node(
        "FileFacet",
        (*key, "file"),
        "uco-observable:FileFacet",
        {"uco-observable:fileName": PurePosixPath(named.name).name, "uco-observable:filePath": named.name},
    )
    graph.link(file_node, "uco-core:hasFacet", facet)
    if named.sha256 is not None:
        _add_sha256(graph, file_node, key, named.sha256)
    return file_node


def _add_files(graph: _Graph, record: _Record, action: str, investigation: str) -> None:
    """Inputs are objects of the action, outputs its results; other ``*_sha256`` digests become Files.

    A digest-only File that an earlier record already stated (a manifest restated on receipt) is an
    object; one stated first here (the manifest of an acquisition, the findings of an analysis) a result.
    """
    for named in record.inputs:
        file_node = _add_named_file(graph, named)
        graph.link(action, "uco-action:object", file_node)
        graph.link(investigation, "uco-core:object", file_node)
    for named in record.outputs:
        file_node = _add_named_file(graph, named)
        graph.link(action, "uco-action:result", file_node)
        graph.link(investigation, "uco-core:object", file_node)
    named_hashes = {named.sha256 for named in (*record.inputs, *record.outputs) if named.sha256 is not None}
    for digest_name, value in record.digests:
        if not (digest_name.endswith("_sha256") and _is_sha256(value)) or value.lower() in named_hashes:
            continue
        stem = digest_name.removesuffix("_sha256")
        key = ("digest", stem, value.lower())
        restated = graph.has(graph.iri("File", key))
        label = _DIGEST_LABELS.get(stem, stem)
        name = f"{label} of {record.item.id}" if record.item is not None else label
        file_node = graph.node("File", key, "uco-observable:File", {"uco-core:name": name})
        _add_sha256(graph, file_node, key, value)
        graph.link(action, "uco-action:object" if restated else "uco-action:result", file_node)
        graph.link(investigation, "uco-core:object", file_node)


def _add_item(graph: _Graph, record: _Record, item: _Item) -> str:
    description = f"{item.kind} evidence item" if item.kind else "evidence item"
    if item.by_reference:
        description += ", recorded by reference"
    iri = graph.node(
        "ObservableObject",
        ("item", item.id),
        "uco-observable:ObservableObject",
        {"uco-core:name": item.id, "uco-core:description": description},
    )
    item_sha256 = dict(record.digests).get("sha256")
    if item_sha256 is not None and _is_sha256(item_sha256):
        _add_sha256(graph, iri, ("item", item.id), item_sha256)
    return iri


@dataclass(slots=True)
class _Custody:
    """Per item: the IRI of its latest ProvenanceRecord and its root exhibit number; items still held."""

    latest: dict[str, str] = field(default_factory=dict)
    roots: dict[str, str] = field(default_factory=dict)
    held: list[str] = field(default_factory=list)


def _add_custody(graph: _Graph, record: _Record, action: str, investigation: str, custody: _Custody) -> None:
    """One new ProvenanceRecord per item whose custody this record concerns, chained to the item's last."""
    if record.item is not None:
        _add_item(graph, record, record.item)
        scope = [record.item.id]
    elif record.action in CASE_WIDE_ACTIONS:
        scope = list(custody.held)
    else:
        scope = []
    for item_id in scope:
        item = graph.iri("ObservableObject", ("item", item_id))
        graph.link(investigation, "uco-core:object", item)
        if item_id in custody.latest:
            graph.link(action, "uco-action:object", custody.latest[item_id])
            graph.link(action, "uco-action:object", item)
        else:
            graph.link(action, "uco-action:result", item)
            custody.held.append(item_id)
        if record.item is not None and record.item.root is not None:
            custody.roots[item_id] = record.item.root
        provenance = graph.node(
            "ProvenanceRecord",
            (record.seq, "provenance", item_id),
            "case-investigation:ProvenanceRecord",
            {
                "case-investigation:exhibitNumber": item_id,
                "case-investigation:rootExhibitNumber": custody.roots.get(item_id, graph.case),
                "uco-core:description": _custody_state(record, item_id),
                "uco-core:objectCreatedTime": _date_time(record.utc),
            },
        )
        graph.link(provenance, "uco-core:object", item)
        graph.link(action, "uco-action:result", provenance)
        custody.latest[item_id] = provenance
        if record.action == "dispose":
            custody.held.remove(item_id)


def _custody_state(record: _Record, item_id: str) -> str:
    verb = _PAST_TENSE.get(record.action)
    text = (
        f"{item_id} {verb} by {record.actor.handle}" if verb else f"{item_id}: {record.action} by {record.actor.handle}"
    )
    if record.counterparty is not None:
        text += f" {_COUNTERPARTY_PREPOSITION.get(record.action, 'with')} {record.counterparty.handle}"
    return f"{text} (custody record {record.seq}, {record.utc})"


def _add_annotation(graph: _Graph, record: _Record, action: str) -> None:
    """Stated facts with no CASE property: non-SHA-256 digests, byte and file counts."""
    statements = []
    for digest_name, value in record.digests:
        if digest_name.endswith("_sha256") and _is_sha256(value):
            continue
        if digest_name == "sha256" and record.item is not None and _is_sha256(value):
            continue
        explanation = _DIGEST_EXPLANATIONS.get(digest_name)
        statements.append(f"{digest_name}: {value}" + (f" ({explanation})" if explanation else ""))
    if record.size is not None:
        statements.append(f"size: {record.size} bytes")
    if record.files is not None:
        statements.append(f"files: {record.files}")
    if not statements:
        return
    annotation = graph.node(
        "Annotation",
        (record.seq, "annotation"),
        "uco-core:Annotation",
        {
            "uco-core:description": f"Stated by custody record {record.seq}",
            "uco-core:statement": statements,
        },
    )
    subject = graph.iri("ObservableObject", ("item", record.item.id)) if record.item is not None else action
    graph.link(annotation, "uco-core:object", subject)


def _is_sha256(value: str) -> bool:
    return _SHA256_HEX.fullmatch(value) is not None


# Reading the records ---------------------------------------------------------------------------------


def _parse_log(records: Sequence[Mapping[str, Any]]) -> list[_Record]:
    if not records:
        raise CaseExportError("the custody log has no records")
    log = sorted((_parse_record(record) for record in records), key=lambda record: record.seq)
    cases = {record.case for record in log}
    if len(cases) != 1:
        raise CaseExportError(f"the custody log mixes cases: {', '.join(sorted(cases))}")
    repeated = sorted({earlier.seq for earlier, later in itertools.pairwise(log) if earlier.seq == later.seq})
    if repeated:
        raise CaseExportError(f"more than one custody record has seq {', '.join(map(str, repeated))}")
    return log


def _parse_record(record: Mapping[str, Any]) -> _Record:
    seq = record.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise CaseExportError(f"custody record seq {seq!r} is not a non-negative integer")
    where = f"custody record {seq}"
    schema = record.get("schema", SCHEMA)
    if schema != SCHEMA:
        raise CaseExportError(f"{where} has schema {schema!r}, not {SCHEMA!r}")
    time = _mapping(record, "time", where)
    counterparty = _optional_mapping(record, "counterparty", where)
    authority = _optional_mapping(record, "authority", where)
    files = record.get("files")
    if files is not None and (not isinstance(files, int) or isinstance(files, bool)):
        raise CaseExportError(f"{where}: files is not an integer")
    return _Record(
        seq=seq,
        case=_text(record, "case", where),
        action=_text(record, "action", where),
        utc=_utc(_text(time, "utc", f"{where} time"), where),
        time_source=_optional_text(time, "source", f"{where} time"),
        actor=_party(_mapping(record, "actor", where), f"{where} actor"),
        counterparty=_party(counterparty, f"{where} counterparty") if counterparty is not None else None,
        item=_item(record, where),
        digests=tuple(sorted(_text_values(_optional_mapping(record, "digests", where) or {}, f"{where} digests"))),
        size=_optional_text(record, "size", where),
        files=files,
        authority=(_text(authority, "type", where), _text(authority, "ref", where)) if authority is not None else None,
        tool=_tool(record, where),
        inputs=_named_files(record, "inputs", where),
        outputs=_named_files(record, "outputs", where),
        location=_location(record, where),
        purpose=_optional_text(record, "purpose", where),
        note=_optional_text(record, "note", where),
        payload_sha256=hashlib.sha256(rfc8785.dumps(_plain(record))).hexdigest(),
    )


def _utc(value: str, where: str) -> str:
    """The record's time as given, once it is known to be an ``xsd:dateTime`` with a time zone."""
    try:
        parsed = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
    except ValueError as error:
        raise CaseExportError(f"{where}: time {value!r} is not an ISO 8601 date and time") from error
    if parsed.tzinfo is None:
        raise CaseExportError(f"{where}: time {value!r} has no time zone")
    return value


def _party(value: Mapping[str, Any], where: str) -> _Party:
    return _Party(handle=_text(value, "handle", where), key=_optional_text(value, "key", where))


def _item(record: Mapping[str, Any], where: str) -> _Item | None:
    value = _optional_mapping(record, "item", where)
    if value is None:
        return None
    by_reference = value.get("by_reference", False)
    if not isinstance(by_reference, bool):
        raise CaseExportError(f"{where}: item by_reference is not a boolean")
    return _Item(
        id=_text(value, "id", f"{where} item"),
        kind=_optional_text(value, "kind", f"{where} item"),
        root=_optional_text(value, "root", f"{where} item"),
        by_reference=by_reference,
    )


def _tool(record: Mapping[str, Any], where: str) -> _Tool | None:
    value = _optional_mapping(record, "tool", where)
    if value is None:
        return None
    return _Tool(
        name=_text(value, "name", f"{where} tool"),
        version=_optional_text(value, "version", f"{where} tool"),
        package_sha256=_optional_text(value, "package_sha256", f"{where} tool"),
    )


def _location(record: Mapping[str, Any], where: str) -> _Location | None:
    value = _optional_mapping(record, "location", where)
    if value is None:
        return None
    return _Location(
        label=_text(value, "label", f"{where} location"),
        country=_optional_text(value, "country", f"{where} location"),
    )


def _named_files(record: Mapping[str, Any], key: str, where: str) -> tuple[_NamedFile, ...]:
    entries = record.get(key, [])
    if not isinstance(entries, Sequence) or isinstance(entries, str):
        raise CaseExportError(f"{where}: {key} is not a list")
    named = []
    for entry in entries:
        if not isinstance(entry, Mapping):
            raise CaseExportError(f"{where}: an entry of {key} is not an object")
        sha256 = _optional_text(entry, "sha256", f"{where} {key}")
        if sha256 is not None:
            sha256 = sha256.removeprefix("sha256:")
            if not _is_sha256(sha256):
                raise CaseExportError(f"{where}: {key} sha256 {sha256!r} is not 64 hexadecimal digits")
            sha256 = sha256.lower()
        named.append(_NamedFile(name=_text(entry, "name", f"{where} {key}"), sha256=sha256))
    return tuple(named)


def _mapping(record: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = _optional_mapping(record, key, where)
    if value is None:
        raise CaseExportError(f"{where} has no {key}")
    return value


def _optional_mapping(record: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any] | None:
    value = record.get(key)
    if value is not None and not isinstance(value, Mapping):
        raise CaseExportError(f"{where}: {key} is not an object")
    return value


def _text(record: Mapping[str, Any], key: str, where: str) -> str:
    value = _optional_text(record, key, where)
    if not value:
        raise CaseExportError(f"{where} has no {key}")
    return value


def _optional_text(record: Mapping[str, Any], key: str, where: str) -> str | None:
    value = record.get(key)
    if value is not None and not isinstance(value, str):
        raise CaseExportError(f"{where}: {key} is not a string")
    return value


def _text_values(values: Mapping[str, Any], where: str) -> list[tuple[str, str]]:
    pairs = []
    for key, value in values.items():
        if not isinstance(value, str):
            raise CaseExportError(f"{where}: {key} is not a string")
        pairs.append((str(key), value))
    return pairs


def _plain(value: Any) -> Any:
    """JSON types only, so that RFC 8785 gives the bytes that the record was signed as."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value
