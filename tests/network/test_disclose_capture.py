"""A capture through the whole chain of custody, by the CLI alone: acquired into a case, checked, its
injection finding disclosed, and the package verified. The package holds the three packets the finding
cites (the request, the forged segment and the genuine one) as a pcapng, and none of the rest of the
phone's traffic: not the capture, not the DNS lookup or the other flow it also holds."""

from __future__ import annotations

from pathlib import Path

import orjson
from click.testing import CliRunner

from tests.builders.captures import CaptureBuilder, dns_answer, dns_query
from tests.builders.custody import PASSPHRASE
from tests.network.test_traffic import AT, CLIENT, FORGED_REDIRECT, GET, OK, SERVER
from vestige.cli import main
from vestige.custody.keys import generate, save_key
from vestige.evidence.capture import read_capture

ITEM = "CAP-2026-7"


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env={"VESTIGE_KEY_PASSPHRASE": PASSPHRASE})
    return result.exit_code, result.output


def phone_traffic(path: Path) -> Path:
    """A DNS lookup, the injected exchange (packets 6 to 8: request, forged, genuine), and a private
    exchange on another flow that a disclosure must withhold."""
    capture = CaptureBuilder()
    capture.udp(AT - 1, CLIENT, 53000, "192.0.2.53", 53, dns_query("example.com", 7))
    capture.udp(AT - 0.99, "192.0.2.53", 53, CLIENT, 53000, dns_answer("example.com", 7, [SERVER]))
    talk = capture.connect(CLIENT, 51000, SERVER, 80, at=AT)
    talk.send(GET)
    talk.inject(FORGED_REDIRECT, after=0.002)
    talk.reply(OK, after=0.028)
    talk.close()
    private = capture.connect(CLIENT, 51001, "198.51.100.7", 80, at=AT + 5)
    private.send(b"GET /inbox HTTP/1.1\r\nHost: mail.example.org\r\n\r\n")
    private.reply(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nprivate mail")
    return capture.write_pcap(path)


def test_a_network_finding_is_disclosed_as_the_packets_it_cites_and_verifies(tmp_path: Path) -> None:
    capture = phone_traffic(tmp_path / "capture.pcap")
    key = tmp_path / "examiner.key"
    save_key(generate("examiner"), key, PASSPHRASE)
    trust = tmp_path / "trust.txt"
    trust.write_text(cli("key", "export", str(key))[1])
    bundle = tmp_path / "bundle"
    for step in (
        ("case", "new", str(bundle), "--case-id", "CASE-NET-1", "--examiner", str(key)),
        ("case", "add", str(bundle), str(capture), "--item-id", ITEM, "--key", str(key)),
        ("check", "--case", str(bundle), ITEM, "--key", str(key), "-q", "-j", "1", "--no-bundled-iocs"),
    ):
        code, output = cli(*step)
        assert code == 0, (step, output)
    findings = orjson.loads((bundle / "data/analysis/0001/findings.json").read_bytes())["findings"]
    [injection] = [f for f in findings if f["rule"] == "network.injected_response"]
    assert [e["locator"]["packet"] for e in injection["evidence"]] == [7, 8, 6]

    package = tmp_path / "package"
    code, output = cli(
        "disclose", str(bundle), "--finding", injection["id"], "-o", str(package), "--trust", str(trust),
        "--key", str(key),
    )  # fmt: skip
    assert code == 0, output
    evidence = sorted(p.relative_to(package).as_posix() for p in (package / "data/evidence").rglob("*") if p.is_file())
    assert evidence == [f"data/evidence/{ITEM}/capture.pcap.packets.pcapng"]
    with (package / evidence[0]).open("rb") as stream:
        disclosed = [(p.data, p.time_ns) for p in read_capture(stream, "disclosed")]
    with capture.open("rb") as stream:
        packets = list(read_capture(stream, "capture.pcap"))
    assert disclosed == [(packets[n - 1].data, packets[n - 1].time_ns) for n in (6, 7, 8)]
    everything = b"".join(p.read_bytes() for p in package.rglob("*") if p.is_file())
    withheld = [packets[0].data, packets[1].data, b"private mail", b"mail.example.org"]
    assert [part in everything for part in withheld] == [False] * 4

    code, output = cli("verify", str(package), "--trust", str(trust))
    assert code == 0, output
