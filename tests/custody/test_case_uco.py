"""The CASE/UCO export of a custody log, checked against CASE 1.5.0 with case-utils' ``case_validate``."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import subprocess
import sys
import uuid
from collections import Counter
from typing import Any

import pytest
import rfc8785

from vestige.custody.case_uco import CaseExportError, case_graph

CASE = "CASE-2026-0042"
ITEM = "CASE-2026-0042-001A"
KEY_A = "ed25519:" + "1f" * 32
KEY_B = "ed25519:" + "2e" * 32
CONSENT = "sha256:" + "3d" * 32
MERKLE_ROOT = "4c" * 32
MANIFEST = "5b" * 32
FINDINGS = "6a" * 32
ATTESTATION = "79" * 32
PACKAGE = "88" * 32
ITEM_JSON = "97" * 32
TIMELINE = "a6" * 32
IOCS = "b5" * 32
TOOL = {"name": "vestige", "version": "0.1.0", "package_sha256": PACKAGE}
# What the ``case_validate`` console script runs, under this interpreter whatever PATH holds.
CASE_VALIDATE = "import sys; from case_utils.case_validate import main; sys.exit(main())"
EXAMINER_A = {"handle": "examiner-a", "key": KEY_A}
EXAMINER_B = {"handle": "examiner-b", "key": KEY_B}


def _chain(bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Numbers the records and links each to the SHA-256 of the previous RFC 8785 payload."""
    records: list[dict[str, Any]] = []
    for seq, body in enumerate(bodies):
        prev = "sha256:" + hashlib.sha256(rfc8785.dumps(records[-1])).hexdigest() if records else None
        records.append({"schema": "vestige.custody/1", "seq": seq, "prev": prev, **body})
    return records


def _record(action: str, utc: str, actor: dict[str, str], **fields: Any) -> dict[str, Any]:
    return {
        "case": fields.pop("case", CASE),
        "action": action,
        "time": {"utc": utc, "source": "host-clock"},
        "actor": actor,
        "tool": TOOL,
        **fields,
    }


def custody_log() -> list[dict[str, Any]]:
    item = {"id": ITEM, "kind": "ios-backup", "by_reference": False}
    return _chain(
        [
            _record(
                "open",
                "2026-03-02T09:00:00.000000Z",
                EXAMINER_A,
                location={"label": "Lab 1"},
                purpose="analysis for spyware indicators",
            ),
            _record(
                "acquire",
                "2026-03-02T09:14:05.123456Z",
                EXAMINER_A,
                item=item,
                authority={"type": "consent", "ref": CONSENT},
                digests={"merkle_root": MERKLE_ROOT, "manifest_sha256": MANIFEST, "item_sha256": ITEM_JSON},
                size="1073741824",
                files=39,
                location={"label": "Lab 1"},
                note="",
            ),
            _record(
                "analyze",
                "2026-03-02T10:02:11.000000Z",
                EXAMINER_A,
                item=item,
                run="0001",
                digests={"merkle_root": MERKLE_ROOT, "findings_sha256": FINDINGS, "attestation_sha256": ATTESTATION},
                inputs=[{"name": f"data/iocs/{IOCS}.stix2", "sha256": IOCS}],
                outputs=[
                    {"name": "data/analysis/0001/findings.json", "sha256": FINDINGS},
                    {"name": "data/analysis/0001/timeline.jsonl", "sha256": TIMELINE},
                ],
                purpose="analysis for spyware indicators",
            ),
            _record(
                "transfer",
                "2026-03-03T15:00:00.000000Z",
                EXAMINER_A,
                counterparty=EXAMINER_B,
                note="hand-over for peer review",
            ),
            _record(
                "receive",
                "2026-03-03T15:05:00.000000Z",
                EXAMINER_B,
                counterparty=EXAMINER_A,
                digests={"manifest_sha256": MANIFEST},
            ),
            _record("seal", "2026-03-03T15:10:00.000000Z", EXAMINER_B, location={"label": "Evidence safe"}),
        ]
    )


def wider_log() -> list[dict[str, Any]]:
    """Two items, a disposal, notes, a key rotation, an unknown action and fields this version does not know."""
    case = "CASE-2026-0043"
    examiner = {"handle": "examiner-c"}
    rotated = {"handle": "examiner-c", "key": "ed25519:" + "97" * 32}
    bugreport = {
        "id": "CASE-2026-0043-002A",
        "kind": "android-bugreport",
        "root": "CASE-2026-0043-002",
        "colour": "blue",
    }
    backup = {"id": "CASE-2026-0043-003A", "kind": "ios-backup", "by_reference": True}
    return _chain(
        [
            _record(
                "open", "2026-04-01T08:00:00Z", examiner, case=case, location={"label": "Field office", "country": "XX"}
            ),
            _record(
                "acquire",
                "2026-04-01T08:30:00Z",
                examiner,
                case=case,
                item=bugreport,
                digests={"sha256": "a6" * 32, "blake3": "b5" * 32},
                size="52428800",
                weather="rain",
                signatures={"witness": "examiner-d"},
            ),
            _record(
                "acquire", "2026-04-01T09:00:00Z", examiner, case=case, item=backup, digests={"merkle_root": "c4" * 32}
            ),
            _record(
                "analyze",
                "2026-04-01T12:00:00+02:00",
                examiner,
                case=case,
                item=bugreport,
                inputs=[{"name": "bugreport.zip", "sha256": "sha256:" + "a6" * 32}],
                outputs=[{"name": "data/analysis/0001/findings.json", "sha256": "d3" * 32}],
            ),
            _record("dispose", "2026-04-02T08:00:00Z", examiner, case=case, item=backup, note="returned to owner"),
            _record("seal", "2026-04-02T09:00:00Z", examiner, case=case),
            _record("note", "2026-04-02T09:05:00Z", examiner, case=case, note="bag stored in locker 4"),
            _record("key-rotate", "2026-04-03T08:00:00Z", rotated, case=case),
            _record("frobnicate", "2026-04-03T09:00:00Z", rotated, case=case, item=bugreport),
        ]
    )


def _uuid5(*key: object) -> str:
    namespace = uuid.uuid5(uuid.NAMESPACE_URL, "urn:vestige:custody:case-uco")
    return str(uuid.uuid5(namespace, json.dumps(list(key), ensure_ascii=False)))


def _nodes(document: dict[str, Any], rdf_type: str) -> list[dict[str, Any]]:
    return [node for node in document["@graph"] if node["@type"] == rdf_type]


def _by_id(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {node["@id"]: node for node in document["@graph"]}


def _ids(value: Any) -> list[str]:
    return [reference["@id"] for reference in (value if isinstance(value, list) else [value])]


def _actions(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The actions in log order, found by the IRIs that case id and seq derive."""
    (investigation,) = _nodes(document, "case-investigation:Investigation")
    nodes = _by_id(document)
    count = len(_nodes(document, "case-investigation:InvestigativeAction"))
    case = investigation["uco-core:name"]
    return [nodes["kb:InvestigativeAction-" + _uuid5(case, seq, "action")] for seq in range(count)]


def _named(document: dict[str, Any], name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [node for node in document["@graph"] if node.get("uco-core:name") == name]
    (node,) = found
    return node


def _sha256_values(document: dict[str, Any], node: dict[str, Any]) -> list[str]:
    nodes = _by_id(document)
    values = []
    for facet in _ids(node.get("uco-core:hasFacet", [])):
        for hash_iri in _ids(nodes[facet].get("uco-observable:hash", [])):
            assert nodes[hash_iri]["uco-types:hashMethod"] == "SHA256"
            values.append(nodes[hash_iri]["uco-types:hashValue"]["@value"])
    return values


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return case_graph(custody_log())


@pytest.fixture(scope="module")
def wider() -> dict[str, Any]:
    return case_graph(wider_log())


@pytest.fixture(scope="module")
def validations(
    tmp_path_factory: pytest.TempPathFactory, document: dict[str, Any], wider: dict[str, Any]
) -> dict[str, subprocess.CompletedProcess[str]]:
    """``case_validate`` (CASE 1.5.0, Info and Warning results not allowed) on each document, one run apiece."""
    pytest.importorskip("case_utils", reason="case-utils is not installed: pip install 'case-utils>=0.18.0,<0.19'")
    folder = tmp_path_factory.mktemp("case")
    runs = {}
    for name, graph in (("custody", document), ("wider", wider)):
        path = folder / f"{name}.jsonld"
        path.write_text(json.dumps(graph, indent=1, sort_keys=True), encoding="utf-8")
        runs[name] = subprocess.run(
            [sys.executable, "-c", CASE_VALIDATE, "--built-version", "case-1.5.0", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
    return runs


@pytest.mark.parametrize("name", ["custody", "wider"])
def test_case_validate_conforms(validations: dict[str, subprocess.CompletedProcess[str]], name: str) -> None:
    run = validations[name]
    assert (run.returncode, "Conforms: True" in run.stdout) == (0, True), run.stdout + run.stderr


def test_node_counts(document: dict[str, Any]) -> None:
    assert Counter(node["@type"] for node in document["@graph"]) == {
        "case-investigation:Investigation": 1,
        "case-investigation:Authorization": 1,
        "case-investigation:InvestigativeAction": 6,
        "case-investigation:ProvenanceRecord": 5,
        "uco-identity:Person": 2,
        "uco-core:ExternalReference": 8,
        "uco-tool:Tool": 1,
        "uco-location:Location": 2,
        "uco-observable:ObservableObject": 1,
        "uco-observable:File": 6,
        "uco-observable:FileFacet": 3,
        "uco-observable:ContentDataFacet": 6,
        "uco-types:Hash": 6,
        "uco-core:Annotation": 2,
    }
    assert len(document["@graph"]) == 50


def test_investigation_names_the_case_and_its_consent(document: dict[str, Any]) -> None:
    (investigation,) = _nodes(document, "case-investigation:Investigation")
    nodes = _by_id(document)
    assert investigation["uco-core:name"] == CASE
    assert investigation["case-investigation:investigationForm"] == "case"
    (authorization,) = _ids(investigation["case-investigation:relevantAuthorization"])
    assert nodes[authorization]["case-investigation:authorizationType"] == "consent"
    assert nodes[authorization]["case-investigation:authorizationIdentifier"] == CONSENT
    assert Counter(nodes[iri]["@type"] for iri in _ids(investigation["uco-core:object"])) == {
        "case-investigation:InvestigativeAction": 6,
        "uco-observable:ObservableObject": 1,
        "uco-observable:File": 6,
    }


def test_actions_follow_the_log(document: dict[str, Any]) -> None:
    actions = _actions(document)
    nodes = _by_id(document)
    assert [action["uco-core:name"] for action in actions] == [
        "open",
        "acquire",
        "analyze",
        "transfer",
        "receive",
        "seal",
    ]
    assert actions[1]["uco-action:startTime"] == {
        "@type": "xsd:dateTime",
        "@value": "2026-03-02T09:14:05.123456Z",
    }
    assert "case-investigation:wasInformedBy" not in actions[0]
    assert [action["case-investigation:wasInformedBy"]["@id"] for action in actions[1:]] == [
        action["@id"] for action in actions[:-1]
    ]
    assert [nodes[action["uco-action:performer"]["@id"]]["uco-core:name"] for action in actions] == [
        "examiner-a",
        "examiner-a",
        "examiner-a",
        "examiner-a",
        "examiner-b",
        "examiner-b",
    ]
    transfer = actions[3]
    assert [nodes[iri]["uco-core:name"] for iri in _ids(transfer["uco-action:participant"])] == ["examiner-b"]
    assert transfer["uco-core:description"] == "Note: hand-over for peer review. Time source: host-clock."
    assert actions[1]["uco-core:description"] == f"Authority: consent ({CONSENT}). Time source: host-clock."
    assert [nodes[iri]["uco-core:name"] for iri in _ids(actions[5]["uco-action:location"])] == ["Evidence safe"]
    (tool,) = _nodes(document, "uco-tool:Tool")
    assert {iri for action in actions for iri in _ids(action["uco-action:instrument"])} == {tool["@id"]}
    assert (tool["uco-core:name"], tool["uco-tool:version"]) == ("vestige", "0.1.0")
    assert tool["uco-core:description"] == f"Package SHA-256: {PACKAGE}"


def test_provenance_records_chain_the_custody_of_the_item(document: dict[str, Any]) -> None:
    actions = _actions(document)
    nodes = _by_id(document)
    item = _named(document, ITEM)["@id"]

    def provenance(iris: list[str]) -> list[str]:
        return [iri for iri in iris if nodes[iri]["@type"] == "case-investigation:ProvenanceRecord"]

    assert "uco-action:object" not in actions[0] and "uco-action:result" not in actions[0]
    assert item in _ids(actions[1]["uco-action:result"]) and "uco-action:object" not in actions[1]
    created = [provenance(_ids(action["uco-action:result"])) for action in actions[1:]]
    assert [len(records) for records in created] == [1, 1, 1, 1, 1]
    for action, previous in zip(actions[2:], created, strict=False):
        assert provenance(_ids(action["uco-action:object"])) == previous
        assert item in _ids(action["uco-action:object"])
    records = [nodes[iri] for (iri,) in created]
    assert {record["case-investigation:exhibitNumber"] for record in records} == {ITEM}
    assert {record["case-investigation:rootExhibitNumber"] for record in records} == {CASE}
    assert {iri for record in records for iri in _ids(record["uco-core:object"])} == {item}
    assert [record["uco-core:description"] for record in records] == [
        f"{ITEM} acquired by examiner-a (custody record 1, 2026-03-02T09:14:05.123456Z)",
        f"{ITEM} analysed by examiner-a (custody record 2, 2026-03-02T10:02:11.000000Z)",
        f"{ITEM} handed over by examiner-a to examiner-b (custody record 3, 2026-03-03T15:00:00.000000Z)",
        f"{ITEM} received by examiner-b from examiner-a (custody record 4, 2026-03-03T15:05:00.000000Z)",
        f"{ITEM} sealed by examiner-b (custody record 5, 2026-03-03T15:10:00.000000Z)",
    ]
    assert records[0]["uco-core:objectCreatedTime"] == {
        "@type": "xsd:dateTime",
        "@value": "2026-03-02T09:14:05.123456Z",
    }


def test_people_carry_their_signing_keys(document: dict[str, Any]) -> None:
    nodes = _by_id(document)
    keys = {
        person["uco-core:name"]: [
            nodes[iri]["uco-core:externalIdentifier"] for iri in _ids(person["uco-core:externalReference"])
        ]
        for person in _nodes(document, "uco-identity:Person")
    }
    assert keys == {"examiner-a": [KEY_A], "examiner-b": [KEY_B]}


def test_sha256_digests_are_hashes_and_the_merkle_root_is_not(document: dict[str, Any]) -> None:
    actions = _actions(document)
    manifest = _named(document, f"manifest of {ITEM}")
    findings = _named(document, "data/analysis/0001/findings.json")
    attestation = _named(document, f"attestation of {ITEM}")
    assert _sha256_values(document, manifest) == [MANIFEST]
    assert _sha256_values(document, findings) == [FINDINGS]
    assert _sha256_values(document, attestation) == [ATTESTATION]
    assert _sha256_values(document, _named(document, ITEM)) == []
    (facet,) = [
        node
        for node in map(_by_id(document).__getitem__, _ids(findings["uco-core:hasFacet"]))
        if node["@type"] == "uco-observable:FileFacet"
    ]
    assert (facet["uco-observable:fileName"], facet["uco-observable:filePath"]) == (
        "findings.json",
        "data/analysis/0001/findings.json",
    )
    # The manifest is a product of the acquisition and is only restated on receipt.
    assert manifest["@id"] in _ids(actions[1]["uco-action:result"])
    assert manifest["@id"] in _ids(actions[4]["uco-action:object"])
    assert {findings["@id"], attestation["@id"]} < set(_ids(actions[2]["uco-action:result"]))
    assert _sha256_values(document, _named(document, f"item description of {ITEM}")) == [ITEM_JSON]
    assert _sha256_values(document, _named(document, f"data/iocs/{IOCS}.stix2")) == [IOCS]
    assert _named(document, f"data/iocs/{IOCS}.stix2")["@id"] in _ids(actions[2]["uco-action:object"])
    hash_values = [node["uco-types:hashValue"]["@value"] for node in _nodes(document, "uco-types:Hash")]
    assert sorted(hash_values) == sorted([MANIFEST, ITEM_JSON, FINDINGS, TIMELINE, ATTESTATION, IOCS])
    merkle_root = (
        f"merkle_root: {MERKLE_ROOT} (Merkle tree root over the item's files, not a SHA-256 of the item's bytes)"
    )
    statements = {
        (node["uco-core:description"], *_ids(node["uco-core:object"])): node["uco-core:statement"]
        for node in _nodes(document, "uco-core:Annotation")
    }
    item = _named(document, ITEM)["@id"]
    assert statements == {
        ("Stated by custody record 1", item): [merkle_root, "size: 1073741824 bytes", "files: 39"],
        ("Stated by custody record 2", item): [merkle_root],
    }


def test_each_action_names_the_payload_digest_that_the_next_record_chains_to(document: dict[str, Any]) -> None:
    log = custody_log()
    identifiers = [
        _by_id(document)[_ids(action["uco-core:externalReference"])[0]]["uco-core:externalIdentifier"]
        for action in _actions(document)
    ]
    assert identifiers[:-1] == [record["prev"] for record in log[1:]]
    assert identifiers[-1] == "sha256:" + hashlib.sha256(rfc8785.dumps(log[-1])).hexdigest()


def test_same_log_gives_the_same_bytes_in_any_order(document: dict[str, Any]) -> None:
    first = json.dumps(case_graph(custody_log()), sort_keys=True)
    assert json.dumps(case_graph(custody_log()), sort_keys=True) == first
    assert json.dumps(case_graph(list(reversed(custody_log()))), sort_keys=True) == first
    assert json.dumps(document, sort_keys=True) == first
    ids = [node["@id"] for node in document["@graph"]]
    assert ids == sorted(ids)
    assert all(
        re.fullmatch(r"kb:[A-Za-z]+-[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", i)
        for i in ids
    )
    assert _named(document, "examiner-a")["@id"] == "kb:Person-" + _uuid5(CASE, "person", "examiner-a")


def test_unknown_fields_and_actions_still_export(wider: dict[str, Any]) -> None:
    nodes = _by_id(wider)
    actions = _actions(wider)
    assert [action["uco-core:name"] for action in actions] == [
        "open",
        "acquire",
        "acquire",
        "analyze",
        "dispose",
        "seal",
        "note",
        "key-rotate",
        "frobnicate",
    ]
    bugreport = _named(wider, "CASE-2026-0043-002A")
    backup = _named(wider, "CASE-2026-0043-003A")
    assert bugreport["uco-core:description"] == "android-bugreport evidence item"
    assert backup["uco-core:description"] == "ios-backup evidence item, recorded by reference"
    assert _sha256_values(wider, bugreport) == ["a6" * 32]
    # The seal after the disposal concerns only the item still held; a note changes no custody.
    (sealed,) = _ids(actions[5]["uco-action:result"])
    assert nodes[sealed]["case-investigation:exhibitNumber"] == "CASE-2026-0043-002A"
    assert nodes[sealed]["case-investigation:rootExhibitNumber"] == "CASE-2026-0043-002"
    assert "uco-action:object" not in actions[6] and "uco-action:result" not in actions[6]
    (unknown,) = _ids(actions[8]["uco-action:result"])
    assert nodes[unknown]["uco-core:description"] == (
        "CASE-2026-0043-002A: frobnicate by examiner-c (custody record 8, 2026-04-03T09:00:00Z)"
    )
    assert Counter(nodes[iri]["@type"] for iri in _ids(actions[3]["uco-action:object"])) == {
        "uco-observable:File": 1,
        "uco-observable:ObservableObject": 1,
        "case-investigation:ProvenanceRecord": 1,
    }
    (person,) = _nodes(wider, "uco-identity:Person")
    assert [nodes[iri]["uco-core:externalIdentifier"] for iri in _ids(person["uco-core:externalReference"])] == [
        "ed25519:" + "97" * 32
    ]
    statements = {
        nodes[_ids(node["uco-core:object"])[0]]["uco-core:name"]: node["uco-core:statement"]
        for node in _nodes(wider, "uco-core:Annotation")
    }
    assert statements == {
        "CASE-2026-0043-002A": [f"blake3: {'b5' * 32}", "size: 52428800 bytes"],
        "CASE-2026-0043-003A": [
            f"merkle_root: {'c4' * 32} (Merkle tree root over the item's files, not a SHA-256 of the item's bytes)"
        ],
    }
    (location,) = _nodes(wider, "uco-location:Location")
    (address,) = _ids(location["uco-core:hasFacet"])
    assert nodes[address]["uco-location:country"] == "XX"


def test_unknown_fields_do_not_change_the_graph_beyond_the_payload_digests() -> None:
    plain = custody_log()
    extended = copy.deepcopy(plain)
    extended[1]["witness"] = {"handle": "examiner-d"}
    extended[1]["item"]["colour"] = "blue"
    extended[1]["time"]["leap"] = False

    def without_payloads(document: dict[str, Any]) -> list[dict[str, Any]]:
        return [node for node in document["@graph"] if "custody record" not in node.get("uco-core:definingContext", "")]

    assert without_payloads(case_graph(extended)) == without_payloads(case_graph(plain))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda log: log[1].update(case="CASE-2026-0099"),
            "the custody log mixes cases: CASE-2026-0042, CASE-2026-0099",
        ),
        (lambda log: log[2].update(seq=1), "more than one custody record has seq 1"),
        (
            lambda log: log[3]["time"].update(utc="2026-03-03T15:00:00"),
            "custody record 3: time '2026-03-03T15:00:00' has no time zone",
        ),
        (
            lambda log: log[3]["time"].update(utc="yesterday"),
            "custody record 3: time 'yesterday' is not an ISO 8601 date and time",
        ),
        (lambda log: log[4].pop("actor"), "custody record 4 has no actor"),
        (
            lambda log: log[0].update(schema="vestige.custody/2"),
            "custody record 0 has schema 'vestige.custody/2', not 'vestige.custody/1'",
        ),
        (
            lambda log: log[2]["outputs"][0].update(sha256="abc"),
            "custody record 2: outputs sha256 'abc' is not 64 hexadecimal digits",
        ),
    ],
)
def test_a_log_that_cannot_be_described_is_refused(change: Any, message: str) -> None:
    log = custody_log()
    change(log)
    with pytest.raises(CaseExportError) as raised:
        case_graph(log)
    assert str(raised.value) == message


def test_an_empty_log_is_refused() -> None:
    with pytest.raises(CaseExportError, match=r"^the custody log has no records$"):
        case_graph([])
