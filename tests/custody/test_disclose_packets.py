"""Disclosed packet by packet: a capture acquired into a case has a salted tree over its packets, bound
in its leaf of the item; disclosing a finding that cites packets 5 and 6 writes a pcapng of exactly
those two packets with their proofs, never the rest of the traffic; verify reads that pcapng back and
checks each packet against the signed acquisition, and every way of changing it fails with its sentence.

The capture kind and its units are the network platform's; the artifact is defined here
(``capture_registry``): it cites the packets of a race as the traffic artifact's findings do
(``Locator.packet``), so that these tests do not depend on the detectors.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, ClassVar

import dpkt
import orjson
import pytest

from tests.builders.captures import CaptureBuilder
from tests.builders.custody import Built
from tests.custody.test_disclose import document_of, failures, files_of, resign, retag, rewrite, write_document
from vestige.custody.case import Case, CaseError
from vestige.custody.disclose import DOCUMENT, disclose, verify_disclosure
from vestige.custody.items import (
    ItemFile,
    UnitTree,
    _proof_ranges,
    item_root,
    leaf,
    salt_for,
    unit_leaf,
    unit_proofs,
    unit_salt,
    unit_tree,
)
from vestige.custody.keys import PublicKey, SigningKey, generate
from vestige.custody.verify import INTEGRITY, WARNING, verify_case
from vestige.evidence.acquisition import Acquisition
from vestige.evidence.capture import read_capture
from vestige.evidence.merkle import inclusion_proof, leaf_hash
from vestige.model import Evidence, Finding, IndicatorLookup, Locator, Record, Severity
from vestige.network.packets import PACKETS, PacketUnits
from vestige.network.platform import PCAP
from vestige.network.platform import PLATFORM as NETWORK
from vestige.pipeline import check_case_item
from vestige.platforms import MatchPolicy, Platform, Registry

ITEM = "CAP-1"
CAPTURE = "capture.pcap"
SMALL = f"data/evidence/{ITEM}/{CAPTURE}.packets.pcapng"
COUNT = 13
TSHARK = shutil.which("tshark")


UNITS = PACKETS


@dataclass(frozen=True, slots=True)
class Cited:
    packets: tuple[int, ...]
    """The packet numbers a finding cites; none: the capture itself."""


RACE = ((5, 6),)


class CitingArtifact:
    """One finding per citation: the packets it names (5 and 6, the race, unless told otherwise) cited
    as a race finding cites them, or with no packet number, the capture itself."""

    NAME = "test.race"
    VERSION = 1
    PATHS: ClassVar[dict[str, tuple[str, ...]]] = {PCAP: ("*",)}
    DESCRIPTION = "findings citing packets of a capture"
    MATCHES = MatchPolicy(Severity.HIGH, "A test packet")

    def __init__(self, citations: tuple[tuple[int, ...], ...]) -> None:
        self.citations = citations

    def parse(self, acquisition: Acquisition, path: str) -> Iterator[Record]:
        sha256 = acquisition.file(path).sha256
        for packets in self.citations:
            yield Record(self.NAME, Locator(path, sha256), None, f"packets {packets}", Cited(packets))

    def detect(self, records: Iterable[Record], indicators: IndicatorLookup) -> Iterator[Finding]:
        for record in records:
            assert isinstance(record.payload, Cited)
            path, sha256 = record.locator.path, record.locator.sha256
            cited = [Locator(path, sha256, packet=n) for n in record.payload.packets] or [record.locator]
            yield Finding(
                "test.race",
                Severity.HIGH,
                f"a test finding citing {record.summary}",
                "two segments raced",
                (),
                tuple(Evidence(locator, "a packet") for locator in cited),
            )


def capture_registry(citations: tuple[tuple[int, ...], ...] = RACE) -> Registry:
    """The network platform's capture kind (with its units), and an artifact citing ``citations``."""
    [kind] = NETWORK.kinds
    assert kind.units is PACKETS
    return Registry([Platform("test-network", (kind,), (CitingArtifact(citations),))])


def build_capture(path: Path) -> tuple[Path, list[bytes]]:
    """Thirteen packets: a handshake, a request, an injected reply (5) raced by the genuine one (6), the
    rest of the conversation. Gives the capture and the canonical bytes of each packet."""
    capture = CaptureBuilder()
    talk = capture.connect("10.0.0.2", 51000, "93.184.216.34", 80, at=1_600_000_000.0)
    talk.send(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
    assert talk.inject(b"HTTP/1.1 302 Found\r\nLocation: http://exploit.example/\r\n\r\n", after=0.002) == 5
    assert talk.reply(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", after=0.028) == 6
    talk.send(b"GET /style.css HTTP/1.1\r\nHost: example.com\r\n\r\n")
    talk.reply(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody")
    talk.send(b"private request of the phone's owner")
    talk.reply(b"private answer")
    talk.close()
    assert len(capture.frames) == COUNT
    capture.write_pcap(path)
    with path.open("rb") as stream:
        return path, list(UNITS.read(stream, path.name))


@dataclass(frozen=True)
class Bundle:
    root: Path
    capture: Path
    units: list[bytes]
    key: SigningKey
    trusted: dict[str, PublicKey]
    finding: str


def make_bundle(folder: Path, *, citations: tuple[tuple[int, ...], ...] = RACE, by_reference: bool = False) -> Bundle:
    key = generate("examiner")
    trusted = {key.public.fingerprint: key.public}
    capture, units = build_capture(folder / CAPTURE)
    registry = capture_registry(citations)
    root = folder / "bundle"
    with Case.create(root, "CASE-NET-1", key) as case:
        case.add(capture, ITEM, key, registry, by_reference=by_reference)
    outcome = check_case_item(root, ITEM, key, capture if by_reference else None, [], registry, {})
    findings = orjson.loads((outcome.folder / "findings.json").read_bytes())["findings"]
    return Bundle(root, capture, units, key, trusted, findings[0]["id"])


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    return make_bundle(tmp_path_factory.mktemp("packets"))


@pytest.fixture
def package(made: Bundle, tmp_path: Path) -> Path:
    bundle = tmp_path / "bundle"
    shutil.copytree(made.root, bundle)
    disclose(bundle, [made.finding], tmp_path / "package", made.key, made.trusted, registry=capture_registry())
    return tmp_path / "package"


def verify(package: Path, made: Bundle) -> list[str]:
    return failures(verify_disclosure(package, made.trusted, registry=capture_registry()))


def written_units(path: Path) -> list[bytes]:
    with path.open("rb") as stream:
        return list(UNITS.read_written(stream, path.name))


def write_units(path: Path, units: list[bytes]) -> None:
    out = io.BytesIO()
    UNITS.write(units, out)
    path.write_bytes(out.getvalue())


# Acquiring: the tree of packets is bound in the capture's leaf.


def test_acquiring_a_capture_binds_the_tree_of_its_packets_in_its_leaf(made: Bundle) -> None:
    description = orjson.loads((made.root / f"data/items/{ITEM}/item.json").read_bytes())
    [line] = (made.root / f"data/items/{ITEM}/manifest.jsonl").read_bytes().splitlines()
    entry = ItemFile.of_line(line)
    seed = bytes.fromhex(description["salt_seed"])
    assert entry.units == unit_tree(seed, CAPTURE, made.units)
    assert entry.units.count == COUNT
    assert orjson.loads(line)["units"] == {"root": entry.units.root, "count": COUNT}
    assert leaf(salt_for(seed, CAPTURE), entry).endswith(f"\x00{entry.units.root}\x00{COUNT}".encode())
    record = Case(made.root).log.entries()[1].record
    assert record["digests"]["merkle_root"] == item_root(seed, [entry]) == description["merkle_root"]
    assert verify_case(made.root, made.trusted, registry=capture_registry()).exit_code == 0


class DroppingPackets(PacketUnits):
    """Units as an acquirer who leaves out the last packet from the tree would read them."""

    def read(self, stream: IO[bytes], name: str) -> Iterator[bytes]:
        units = list(super().read(stream, name))
        return iter(units[:-1])


def test_verify_recomputes_the_tree_of_packets_from_the_bundled_capture(tmp_path: Path) -> None:
    capture, _ = build_capture(tmp_path / CAPTURE)
    key = generate("examiner")
    lying = Registry(
        [Platform("liar", (dataclasses.replace(capture_registry().kinds[0], units=DroppingPackets()),), ())]
    )
    with Case.create(tmp_path / "bundle", "CASE-NET-3", key) as case:
        case.add(capture, ITEM, key, lying)
    trusted = {key.public.fingerprint: key.public}
    assert verify_case(tmp_path / "bundle", trusted, registry=lying).exit_code == 0
    report = verify_case(tmp_path / "bundle", trusted, registry=capture_registry())
    assert [(c.message, c.code) for c in report.checks if not c.ok] == [
        (f"{ITEM}/{CAPTURE}: the tree of its packets is not the one its signed leaf binds", INTEGRITY)
    ]


def test_verify_without_the_capture_platform_warns_that_packets_were_not_recomputed(made: Bundle) -> None:
    report = verify_case(made.root, made.trusted, registry=Registry([]))
    assert [(c.message, c.code) for c in report.checks if not c.ok] == [
        (
            f"{ITEM}: the trees of its units were not recomputed: no installed platform divides files of the kind "
            "'pcap' into units",
            WARNING,
        )
    ]


def test_a_file_without_units_keeps_its_leaf_byte_for_byte(built: Built) -> None:
    lines = (built.bundle / "data/items/CASE-2026-0042-001A/manifest.jsonl").read_bytes().splitlines()
    assert {tuple(orjson.loads(line)) for line in lines} == {("path", "size", "sha256")}
    entry = ItemFile.of_line(lines[0])
    assert entry.units is None and entry.line() == lines[0] + b"\n"
    assert leaf(b"s", entry) == b"s" + f"{entry.path}\x00{entry.size}\x00{entry.sha256}".encode()


def test_unit_salts_are_per_file_and_number_and_never_a_file_salt() -> None:
    seed = bytes(range(32))
    salts = {unit_salt(seed, "a.pcap", 1), unit_salt(seed, "a.pcap", 2), unit_salt(seed, "b.pcap", 1)}
    assert len(salts) == 3
    assert salt_for(seed, "a.pcap") not in salts
    assert len(unit_salt(seed, "a.pcap", 1)) == 32


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 12, 13, 31, 64, 100])
def test_streamed_unit_proofs_are_rfc_6962_audit_paths(size: int) -> None:
    seed = bytes(32)
    units = [f"unit {n}".encode() for n in range(1, size + 1)]
    hashes = [leaf_hash(unit_leaf(unit_salt(seed, "p", n), u)) for n, u in enumerate(units, 1)]
    proven = unit_proofs(seed, "p", iter(units), size, [0, *range(1, size + 1), size + 1])
    assert proven.tree == unit_tree(seed, "p", units)
    assert sorted(proven.proofs) == list(range(1, size + 1))
    for number in range(1, size + 1):
        assert list(proven.proofs[number].path) == inclusion_proof(hashes, number - 1)
        assert proven.units[number] == units[number - 1]
        assert proven.proofs[number].verifies(units[number - 1], proven.tree)
        assert not proven.proofs[number].verifies(units[number - 1] + b"x", proven.tree)
    assert len(_proof_ranges(size - 1, size)) == len(inclusion_proof(hashes, size - 1))


def test_a_capture_cut_in_a_record_binds_the_packets_before_the_cut(tmp_path: Path) -> None:
    capture, _ = build_capture(tmp_path / CAPTURE)
    capture.write_bytes(capture.read_bytes()[:-7])
    key = generate("examiner")
    with Case.create(tmp_path / "bundle", "CASE-NET-2", key) as case:
        case.add(capture, ITEM, key, capture_registry())
    [line] = (tmp_path / f"bundle/data/items/{ITEM}/manifest.jsonl").read_bytes().splitlines()
    entry = ItemFile.of_line(line)
    assert entry.units is not None and entry.units.count == COUNT - 1
    assert entry.sha256 == hashlib.sha256(capture.read_bytes()).hexdigest()


# Disclosing: only the packets cited.


def test_a_packet_finding_discloses_exactly_its_packets_and_verifies(made: Bundle, package: Path) -> None:
    report = verify_disclosure(package, made.trusted, registry=capture_registry())
    assert report.exit_code == 0, failures(report)
    assert [n for n in files_of(package) if n.startswith("data/")] == ["data/disclosure.json", SMALL]
    assert not (package / f"data/evidence/{ITEM}/{CAPTURE}").exists()
    assert written_units(package / SMALL) == [made.units[4], made.units[5]]
    frames = [data for _, data in dpkt.pcap.Reader(made.capture.open("rb"))]
    assert [data for _, data in dpkt.pcapng.Reader((package / SMALL).open("rb"))] == frames[4:6]
    with (package / SMALL).open("rb") as small, made.capture.open("rb") as full:
        original = list(read_capture(full, CAPTURE))[4:6]
        disclosed = list(read_capture(small, SMALL))
    assert [p.number for p in disclosed] == [1, 2]
    assert [(p.data, p.time_ns, p.linktype, p.original_length) for p in disclosed] == [
        (p.data, p.time_ns, p.linktype, p.original_length) for p in original
    ]
    assert original[0].data.endswith(b"Location: http://exploit.example/\r\n\r\n")
    document = document_of(package)
    [evidence] = document["evidence"]
    assert evidence["file"] == SMALL
    assert [u["number"] for u in evidence["units"]] == [5, 6]
    assert evidence["leaf"]["units"]["count"] == COUNT
    assert "sha256" in evidence["leaf"] and evidence["leaf"]["path"] == CAPTURE
    withheld = {ITEM: {"files": 0, "of": 1, "units": {CAPTURE: {"withheld": COUNT - 2, "of": COUNT}}}}
    assert document["withheld"] == report.facts["withheld"] == withheld
    assert [c.message for c in report.checks if c.area == "evidence"] == [
        f"{ITEM}/{CAPTURE}: leaf 1 of 1 of the signed item; packets 5, 6 of its {COUNT} disclosed and proven, "
        f"{COUNT - 2} withheld"
    ]


@pytest.mark.skipif(TSHARK is None, reason="tshark is not installed")
def test_wireshark_opens_the_disclosed_packets(made: Bundle, package: Path) -> None:
    assert TSHARK is not None
    shown = subprocess.run(
        [TSHARK, "-r", str(package / SMALL), "-T", "fields", "-e", "frame.number", "-e", "tcp.payload"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.splitlines()
    assert len(shown) == 2
    injected = b"HTTP/1.1 302 Found\r\nLocation: http://exploit.example/\r\n\r\n".hex()
    genuine = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".hex()
    assert [line.split("\t") for line in shown] == [["1", injected], ["2", genuine]]


def test_a_withheld_packet_cannot_be_confirmed_from_the_package(made: Bundle, package: Path) -> None:
    text = (package / DOCUMENT).read_bytes()
    description = orjson.loads((made.root / f"data/items/{ITEM}/item.json").read_bytes())
    seed = bytes.fromhex(description["salt_seed"])
    assert description["salt_seed"].encode() not in text
    assert unit_salt(seed, CAPTURE, 7).hex().encode() not in text
    assert b"private" in made.capture.read_bytes()
    assert b"private" not in b"".join((package / n).read_bytes() for n in files_of(package) if n.startswith("data/"))
    [evidence] = document_of(package)["evidence"]
    steps = {step for unit in evidence["units"] for step in unit["proof"]}
    assert leaf_hash(unit_leaf(b"", made.units[6])).hex() not in steps
    assert len(steps) == 5  # each other's leaf, and the roots of packets 7-8, 1-4 and 9-13, never a leaf of them
    assert evidence["units"][0]["proof"][0] == leaf_hash(unit_leaf(unit_salt(seed, CAPTURE, 6), made.units[5])).hex()


def test_a_finding_citing_the_capture_without_packet_numbers_discloses_it_whole(tmp_path: Path) -> None:
    made = make_bundle(tmp_path, citations=((5, 6), ()))
    findings = orjson.loads((made.root / "data/analysis/0001/findings.json").read_bytes())["findings"]
    everything = [f["id"] for f in findings]
    disclose(
        made.root, everything, tmp_path / "package", made.key, made.trusted, registry=capture_registry(((5, 6), ()))
    )
    package = tmp_path / "package"
    assert [n for n in files_of(package) if n.startswith("data/evidence/")] == [f"data/evidence/{ITEM}/{CAPTURE}"]
    assert (package / f"data/evidence/{ITEM}/{CAPTURE}").read_bytes() == made.capture.read_bytes()
    assert "units" not in document_of(package)["evidence"][0]
    report = verify_disclosure(package, made.trusted, registry=capture_registry(((5, 6), ())))
    assert report.exit_code == 0, failures(report)
    assert report.facts["withheld"] == {ITEM: {"files": 0, "of": 1}}


def test_findings_citing_overlapping_packets_disclose_each_packet_once(tmp_path: Path) -> None:
    citations = ((5, 6), (6, 9))
    made = make_bundle(tmp_path, citations=citations)
    findings = orjson.loads((made.root / "data/analysis/0001/findings.json").read_bytes())["findings"]
    registry = capture_registry(citations)
    disclose(made.root, [f["id"] for f in findings], tmp_path / "package", made.key, made.trusted, registry=registry)
    package = tmp_path / "package"
    assert written_units(package / SMALL) == [made.units[4], made.units[5], made.units[8]]
    report = verify_disclosure(package, made.trusted, registry=registry)
    assert report.exit_code == 0, failures(report)
    assert report.facts["withheld"] == {
        ITEM: {"files": 0, "of": 1, "units": {CAPTURE: {"withheld": COUNT - 3, "of": COUNT}}}
    }


def test_a_finding_citing_a_packet_the_capture_does_not_hold_is_not_disclosed(tmp_path: Path) -> None:
    made = make_bundle(tmp_path, citations=((5, 99),))
    with pytest.raises(CaseError, match=f"^{CAPTURE}: a finding cites packet 99; the signed file has {COUNT}$"):
        disclose(
            made.root,
            [made.finding],
            tmp_path / "package",
            made.key,
            made.trusted,
            registry=capture_registry(((5, 99),)),
        )
    assert not (tmp_path / "package").exists()


def test_packets_alone_for_a_finding_that_cites_the_whole_capture_are_refused(tmp_path: Path) -> None:
    citations = ((5, 6), ())
    made = make_bundle(tmp_path, citations=citations)
    registry = capture_registry(citations)
    findings = orjson.loads((made.root / "data/analysis/0001/findings.json").read_bytes())["findings"]
    whole = next(
        f["id"] for f in findings if "locator" in f["evidence"][0] and "packet" not in f["evidence"][0]["locator"]
    )
    packets = next(f["id"] for f in findings if f["id"] != whole)
    disclose(made.root, [packets, whole], tmp_path / "both", made.key, made.trusted, registry=registry)
    disclose(made.root, [packets], tmp_path / "package", made.key, made.trusted, registry=registry)
    package = tmp_path / "package"
    document = document_of(package)
    document["findings"] = document_of(tmp_path / "both")["findings"]
    write_document(package, document)
    resign(package, made.key)
    assert failures(verify_disclosure(package, made.trusted, registry=registry)) == [
        f"{WHERE}: a disclosed finding cites the whole file, but only some of its packets are disclosed",
        "the withheld counts the document states are not what its proofs show",
    ]


def test_a_capture_kept_by_reference_is_proven_by_its_leaf_alone(tmp_path: Path) -> None:
    made = make_bundle(tmp_path, by_reference=True)
    disclose(made.root, [made.finding], tmp_path / "package", made.key, made.trusted, registry=capture_registry())
    package = tmp_path / "package"
    assert [n for n in files_of(package) if n.startswith("data/evidence/")] == []
    report = verify_disclosure(package, made.trusted, registry=capture_registry())
    assert report.exit_code == 0, failures(report)


def test_disclose_refuses_a_capture_whose_kind_no_platform_divides(made: Bundle, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(made.root, bundle)
    with pytest.raises(CaseError, match="no installed platform divides"):
        disclose(bundle, [made.finding], tmp_path / "package", made.key, made.trusted, registry=Registry([]))
    assert not (tmp_path / "package").exists()


def test_an_acquired_capture_changed_in_the_bundle_is_not_disclosed(made: Bundle, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(made.root, bundle)
    copy = bundle / f"data/acquisition/{ITEM}/{CAPTURE}"
    data = bytearray(copy.read_bytes())
    data[-3] ^= 1
    copy.write_bytes(bytes(data))
    with pytest.raises(CaseError, match="does not verify"):
        disclose(bundle, [made.finding], tmp_path / "package", made.key, made.trusted, registry=capture_registry())


# Verifying: every change to the disclosed packets fails with its sentence (the disclosing custodian
# signs each changed package anew, so that only the packet checks can catch it).

WHERE = f"{ITEM}/{CAPTURE}"


def test_a_changed_packet_is_caught(made: Bundle, package: Path) -> None:
    units = written_units(package / SMALL)
    units[0] = units[0][:-1] + bytes([units[0][-1] ^ 0x20])
    write_units(package / SMALL, units)
    resign(package, made.key)
    assert verify(package, made) == [
        f"{WHERE}: packet 1 of the disclosed file is not packet 5 of the signed file (its bytes or its number differ)",
        "the withheld counts the document states are not what its proofs show",
    ]


def test_an_added_packet_is_caught(made: Bundle, package: Path) -> None:
    write_units(package / SMALL, [*written_units(package / SMALL), made.units[6]])
    resign(package, made.key)
    assert verify(package, made) == [
        f"{WHERE}: the disclosed file holds more packets than the 2 the document proves",
        "the withheld counts the document states are not what its proofs show",
    ]


def test_a_dropped_packet_is_caught(made: Bundle, package: Path) -> None:
    write_units(package / SMALL, written_units(package / SMALL)[:1])
    resign(package, made.key)
    assert verify(package, made) == [
        f"{WHERE}: the document proves 2 packets; the disclosed file holds 1",
        "the withheld counts the document states are not what its proofs show",
    ]


def test_a_dropped_packet_and_its_proof_are_caught_as_a_cited_packet_missing(made: Bundle, package: Path) -> None:
    write_units(package / SMALL, written_units(package / SMALL)[:1])
    document = document_of(package)
    document["evidence"][0]["units"] = document["evidence"][0]["units"][:1]
    write_document(package, document)
    resign(package, made.key)
    assert verify(package, made) == [
        f"{WHERE}: packet 6, which a disclosed finding cites, is not in the package",
        "the withheld counts the document states are not what its proofs show",
    ]


def test_a_changed_packet_number_is_caught(made: Bundle, package: Path) -> None:
    document = document_of(package)
    document["evidence"][0]["units"][1]["number"] = 7
    write_document(package, document)
    resign(package, made.key)
    assert verify(package, made) == [
        f"{WHERE}: packet 2 of the disclosed file is not packet 7 of the signed file (its bytes or its number differ)",
        f"{WHERE}: packet 7 is disclosed, but no disclosed finding cites it",
        f"{WHERE}: packet 6, which a disclosed finding cites, is not in the package",
        "the withheld counts the document states are not what its proofs show",
    ]


def test_a_changed_units_root_in_the_leaf_is_caught(made: Bundle, package: Path) -> None:
    document = document_of(package)
    proven = unit_proofs(b"\x07" * 32, CAPTURE, written_units(package / SMALL), 2, [1, 2])
    document["evidence"][0]["leaf"]["units"] = proven.tree.as_json()
    document["evidence"][0]["units"] = [
        {**proven.proofs[n].as_json(), "number": n} for n in (1, 2)
    ]  # a tree of only the two packets, consistent in itself
    write_document(package, document)
    resign(package, made.key)
    assert verify(package, made) == [
        f"{WHERE}: its inclusion proof does not reach the signed item root",
        "the withheld counts the document states are not what its proofs show",
    ]


def test_a_units_count_other_than_the_signed_one_is_caught(made: Bundle, package: Path) -> None:
    document = document_of(package)
    document["evidence"][0]["leaf"]["units"]["count"] = 2
    write_document(package, document)
    resign(package, made.key)
    assert verify(package, made)[0] == f"{WHERE}: its inclusion proof does not reach the signed item root"


def test_the_full_capture_in_place_of_the_disclosed_packets_is_caught(made: Bundle, package: Path) -> None:
    write_units(package / SMALL, made.units)  # the whole capture, as a pcapng Wireshark opens
    resign(package, made.key)
    assert verify(package, made) == [
        f"{WHERE}: packet 1 of the disclosed file is not packet 5 of the signed file (its bytes or its number differ)",
        f"{WHERE}: packet 2 of the disclosed file is not packet 6 of the signed file (its bytes or its number differ)",
        f"{WHERE}: the disclosed file holds more packets than the 2 the document proves",
        "the withheld counts the document states are not what its proofs show",
    ]


def test_the_full_capture_as_it_was_acquired_is_not_a_disclosed_pcapng(made: Bundle, package: Path) -> None:
    (package / SMALL).write_bytes(made.capture.read_bytes())
    resign(package, made.key)
    [first, second] = verify(package, made)
    assert first.startswith(f"{WHERE}: its disclosed packets cannot be read ({SMALL}: not a pcapng file")
    assert second == "the withheld counts the document states are not what its proofs show"


def test_a_changed_packet_without_a_new_signature_is_caught_by_the_signed_manifest(made: Bundle, package: Path) -> None:
    units = written_units(package / SMALL)
    write_units(package / SMALL, [units[1], units[0]])
    rewrite(package)
    retag(package)
    assert "manifest-sha256.txt is not the one the export record signed" in verify(package, made)


def test_disclosed_units_given_out_of_order_or_malformed_are_refused(made: Bundle, package: Path) -> None:
    document = document_of(package)
    evidence = document["evidence"][0]
    cases: list[tuple[Any, str]] = [
        (list(reversed(evidence["units"])), "the disclosed units are not in increasing order of number (5 after 6)"),
        (
            [{**evidence["units"][0], "number": 14}],
            "a disclosed unit's number 14 is not one of the 13 units of its signed leaf",
        ),
        ([{**evidence["units"][0], "salt": "00"}], "unit 5: its salt is not 32 bytes (64 lowercase hex digits)"),
        ([{**evidence["units"][0], "proof": ["x"]}], "unit 5: its proof is not a list of SHA-256 digests"),
        ([], "its disclosed units are not a list of proofs"),
    ]
    for units, sentence in cases:
        write_document(package, {**document, "evidence": [{**evidence, "units": units}]})
        resign(package, made.key)
        assert verify(package, made)[0] == f"{WHERE}: {sentence}", sentence


def test_disclosed_units_of_a_file_whose_signed_leaf_has_none_are_refused(made: Bundle, package: Path) -> None:
    document = document_of(package)
    document["evidence"][0]["leaf"].pop("units")
    write_document(package, document)
    resign(package, made.key)
    assert verify(package, made)[0] == f"{WHERE}: its inclusion proof does not reach the signed item root"


def test_a_verifier_without_the_capture_platform_is_told_it_cannot_check(made: Bundle, package: Path) -> None:
    report = verify_disclosure(package, made.trusted, registry=Registry([]))
    assert [(c.message, c.code) for c in report.checks if not c.ok] == [
        (
            f"{WHERE}: cannot be checked: no installed platform divides files of the kind 'pcap' into units",
            INTEGRITY,
        ),
        ("the withheld counts the document states are not what its proofs show", INTEGRITY),
    ]


def test_unit_trees_are_read_strictly() -> None:
    for value, sentence in [
        ({"root": "A" * 64, "count": 1}, "its units root is not 64 lowercase hex digits"),
        ({"root": "a" * 64, "count": True}, "its units count is not a whole number"),
        ({"root": "a" * 64, "count": 1, "x": 1}, "its units are not an object of a root and a count"),
    ]:
        with pytest.raises(ValueError, match=sentence):
            UnitTree.of_json(value)


def test_disclosed_packets_under_the_captures_own_name_are_refused(made: Bundle, package: Path) -> None:
    (package / SMALL).rename(package / f"data/evidence/{ITEM}/{CAPTURE}")
    document = document_of(package)
    document["evidence"][0]["file"] = f"data/evidence/{ITEM}/{CAPTURE}"
    write_document(package, document)
    resign(package, made.key)
    assert verify(package, made) == [
        f"{WHERE}: its packets are not stored under its name and .packets.pcapng",
        "the withheld counts the document states are not what its proofs show",
    ]
