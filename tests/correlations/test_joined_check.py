"""``vestige check BACKUP CAPTURE``: the demo backup's injected redirect and a generated capture of the same
injection (the phone's request for http://yahoo.fr/, a forged ``302`` to the exploit URL racing the genuine
``200``) give one finding citing both acquisitions; the same capture shifted beyond the clock-skew window
gives none."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.builders.captures import CaptureBuilder, dns_answer, dns_query
from vestige.cli import main
from vestige.correlations.clocks import CLOCK_SKEW_SECONDS
from vestige.ios.sample.demo import EXPLOIT_URL, INJECTION, build_demo_backup

BASEBAND = "correlation.baseband_during_injection"
PHONE, SERVER, RESOLVER = "10.0.0.2", "203.0.113.80", "192.0.2.53"
EXPLOIT_HOST = "bun54l2b67.get1tn0w.free247downloads.com"
PHONE_AHEAD = 1.5
"""Seconds by which the demo phone's clock runs ahead of the sensor's: the capture sees the request earlier."""
REQUEST = b"GET / HTTP/1.1\r\nHost: yahoo.fr\r\nUser-Agent: Mozilla/5.0 (iPhone)\r\nAccept: */*\r\n\r\n"
FORGED = f"HTTP/1.1 302 Found\r\nLocation: {EXPLOIT_URL}\r\nContent-Length: 0\r\n\r\n".encode()
GENUINE = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1024\r\n\r\n" + b"<p>Yahoo</p>" * 80


def injected_capture(path: Path, shift: float = 0.0, lookup: bool = False) -> Path:
    """The sensor's view of the demo's injection: the handshake (packets 1-3), the request (4), the forged
    redirect 4 ms later (5), the genuine reply one round trip later (6); ``lookup`` adds the phone's DNS query
    and answer for the exploit host after the redirect (7, 8)."""
    start = INJECTION.timestamp() - PHONE_AHEAD + shift
    capture = CaptureBuilder()
    talk = capture.connect(PHONE, 51000, SERVER, 80, at=start, rtt=0.030)
    talk.send(REQUEST)
    talk.inject(FORGED, after=0.004)
    talk.reply(GENUINE, after=0.026)
    if lookup:
        at = talk.now + 0.003
        capture.udp(at, PHONE, 53001, RESOLVER, 53, dns_query(EXPLOIT_HOST, 0x4A4A))
        capture.udp(at + 0.020, RESOLVER, 53, PHONE, 53001, dns_answer(EXPLOIT_HOST, 0x4A4A, ["198.51.100.30"]))
    return capture.write_pcap(path)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo_backup(tmp_path_factory.mktemp("demo") / "backup")


def checked(demo: Path, capture: Path, out: Path) -> list[dict[str, object]]:
    result = CliRunner().invoke(main, ["check", str(demo), str(capture), "-o", str(out)])
    assert result.exit_code == 0, result.output
    findings: list[dict[str, object]] = json.loads((out / "findings.json").read_bytes())["findings"]
    # the baseband correlator's findings (one per injection, here untestable) are tested in test_baseband
    return [f for f in findings if str(f["rule"]).startswith("correlation.") and f["rule"] != BASEBAND]


def places(finding: dict[str, object]) -> list[tuple[object, ...]]:
    evidence = finding["evidence"]
    assert isinstance(evidence, list)
    return [
        (e["locator"].get("acquisition"), e["locator"]["path"], e["locator"].get("row"), e["locator"].get("packet"))
        for e in evidence
    ]


def test_the_injection_on_the_phone_and_on_the_wire_is_one_finding_citing_both(demo: Path, tmp_path: Path) -> None:
    capture = injected_capture(tmp_path / "capture.pcap")
    [finding] = checked(demo, capture, tmp_path / "out")
    assert finding["rule"] == "correlation.injection_on_device_and_wire"
    assert finding["severity"] == "critical"
    assert finding["title"] == "Safari followed a redirect that a forged response injected on the wire"
    assert finding["time"] == "2024-05-14T09:12:41.250000Z"
    history = "HomeDomain/Library/Safari/History.db"
    assert places(finding) == [
        (0, history, 102, None),
        (0, history, 103, None),
        (0, history, 104, None),  # the reload with a long numeric fragment, a trait of the D2 finding
        (1, "capture.pcap", None, 5),
        (1, "capture.pcap", None, 6),
        (1, "capture.pcap", None, 4),
    ]
    assert "the phone's time is 1.465 s later than the capture's, within the ±120 s clock-skew window" in str(
        finding["explanation"]
    )


@pytest.mark.parametrize("beyond", [1.0, -1.0])
def test_the_same_capture_beyond_the_window_joins_nothing(demo: Path, tmp_path: Path, beyond: float) -> None:
    """The capture's clock moved so that its request is ``beyond`` seconds outside the window around the visit."""
    edge = CLOCK_SKEW_SECONDS + PHONE_AHEAD if beyond > 0 else -CLOCK_SKEW_SECONDS + PHONE_AHEAD
    inside = injected_capture(tmp_path / "inside.pcap", shift=edge - beyond)
    assert [f["rule"] for f in checked(demo, inside, tmp_path / "inside")] == [
        "correlation.injection_on_device_and_wire"
    ]
    outside = injected_capture(tmp_path / "outside.pcap", shift=edge + beyond)
    assert checked(demo, outside, tmp_path / "outside") == []


def test_a_lookup_of_the_exploit_host_joins_the_visits_and_the_process(demo: Path, tmp_path: Path) -> None:
    capture = injected_capture(tmp_path / "capture.pcap", lookup=True)
    found = checked(demo, capture, tmp_path / "out")
    assert sorted((f["rule"], f["severity"], f["title"]) for f in found) == sorted(
        [
            (
                "correlation.injection_on_device_and_wire",
                "critical",
                "Safari followed a redirect that a forged response injected on the wire",
            ),
            *[
                (
                    "correlation.indicator_on_device_and_wire",
                    "critical",
                    f"A Safari visit and the phone's captured traffic both involve {EXPLOIT_HOST}, named by a "
                    "Pegasus indicator",
                )
            ]
            * 2,
            (
                "correlation.indicator_on_device_and_wire",
                "critical",
                "The process 'bh', named by a Pegasus indicator, first used the network 9.4 s after the captured "
                "traffic involved free247downloads.com, named by the same campaign",
            ),
        ]
    )
