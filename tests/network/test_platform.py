"""The network platform: a pcap, pcapng or gzip-compressed capture given as one file is recognised as a
"pcap" acquisition, and ``vestige check`` lists and hashes it."""

from __future__ import annotations

import gzip
import hashlib
import re
import zipfile
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from tests.builders.captures import CaptureBuilder
from vestige.cli import main
from vestige.evidence.errors import NotAnAcquisitionError
from vestige.network.platform import PCAP, PCAP_DESCRIPTION, PLATFORM
from vestige.platforms import Registry


def capture() -> CaptureBuilder:
    built = CaptureBuilder()
    talk = built.connect("10.0.0.2", 51000, "93.184.216.34", 80, at=1_600_000_000.0)
    talk.send(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
    talk.reply(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    return built


def test_the_registry_loads_the_network_platform_after_ios() -> None:
    registry = Registry.discover()
    assert [p.name for p in registry.platforms] == ["ios", "network", "cellular", "correlations"]
    assert registry.kind(PCAP).description == "a packet capture (pcap or pcapng, optionally gzip-compressed)"
    # The cellular platform reads the GSMTAP a capture may carry, in a pass of its own.
    assert [a.NAME for a in registry.artifacts_for(PCAP)] == ["network.traffic", "cellular.signalling"]
    assert PLATFORM.artifacts[0].NAME == "network.traffic"
    assert PLATFORM.correlators == ()


@pytest.mark.parametrize("form", ["pcap", "pcap-ns", "pcapng", "pcap.gz"])
def test_every_form_of_capture_is_recognised(tmp_path: Path, form: str) -> None:
    built = capture()
    path = {
        "pcap": lambda: built.write_pcap(tmp_path / "a.pcap"),
        "pcap-ns": lambda: built.write_pcap(tmp_path / "a.pcap", nano=True),
        "pcapng": lambda: built.write_pcapng(tmp_path / "a.pcapng"),
        "pcap.gz": lambda: built.write_pcap(tmp_path / "a.pcap.gz", compress=True),
    }[form]()
    with Registry.discover().recognise(path) as recognised:
        assert recognised.kind.name == PCAP
        assert recognised.source.shape == "file"


def test_what_is_not_a_capture_is_refused_with_the_capture_kind_named(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "notes.gz").write_bytes(gzip.compress(b"hello, not a capture" * 10))
    (tmp_path / "folder").mkdir()
    capture().write_pcap(tmp_path / "folder" / "a.pcap")
    with zipfile.ZipFile(tmp_path / "captures.zip", "w") as archive:
        archive.writestr("a.pcap", (tmp_path / "folder" / "a.pcap").read_bytes())
    for name in ("notes.txt", "notes.gz", "folder", "captures.zip"):
        with pytest.raises(NotAnAcquisitionError, match=re.escape(PCAP_DESCRIPTION)):
            Registry.discover().open(tmp_path / name)


def test_check_on_a_capture_lists_and_hashes_it(tmp_path: Path) -> None:
    path = capture().write_pcap(tmp_path / "phone.pcap")
    before = path.read_bytes()
    result = CliRunner().invoke(main, ["check", str(path), "-o", str(tmp_path / "out"), "-j", "1"])
    assert result.exit_code == 0, result.output
    assert "pcap    : 1 entries" in result.output
    document = orjson.loads((tmp_path / "out" / "findings.json").read_bytes())
    [acquisition] = document["acquisitions"]
    assert (acquisition["kind"], acquisition["files"], acquisition["bytes"]) == ("pcap", 1, len(before))
    assert (document["findings"], document["problems"], document["summary"]["complete"]) == ([], [], True)
    [entry] = [orjson.loads(line) for line in (tmp_path / "out" / "manifest.jsonl").read_bytes().splitlines()]
    assert (entry["path"], entry["sha256"]) == ("phone.pcap", hashlib.sha256(before).hexdigest())
    assert path.read_bytes() == before
