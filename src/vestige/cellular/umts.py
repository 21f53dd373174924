"""UMTS (3G) RRC decoded with pycrate's ``RRC3G`` (3GPP TS 25.331 ASN.1, unaligned PER) by logical channel:
the security mode command (UEA/UIA), the NAS carried in Initial/Uplink/Downlink Direct Transfer (decoded as
2G/3G DTAP by ``vestige.cellular.gsm``, and returned as that message, marked with the RRC message that carried
it), and the cell identity broadcast in the MIB (PLMN), SIB1 (LAC) and SIB3 (cell identity) when a BCCH-BCH
frame carries them complete (a segmented SIB is not reassembled) or a ``SIB<n>`` frame carries one alone.

pycrate's ``from_uper`` raises on bytes it cannot read: every frame is wrapped, and an undecodable one is a
``Decoded`` with ``error`` set.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from pycrate_asn1dir import RRC3G  # type: ignore[import-untyped,unused-ignore]

from vestige.cellular.frames import Frame
from vestige.cellular.gsm import Layer3Message, decode_dtap
from vestige.cellular.records import CellIdentity, Decoded, Security

PROTOCOL = "UMTS RRC"
_PDU = RRC3G.Class_definitions
_IE = RRC3G.InformationElements

_CHANNELS = {
    "DL-DCCH": "DL_DCCH_Message",
    "UL-DCCH": "UL_DCCH_Message",
    "DL-CCCH": "DL_CCCH_Message",
    "UL-CCCH": "UL_CCCH_Message",
    "PCCH": "PCCH_Message",
    "BCCH-BCH": "BCCH_BCH_Message",
    "BCCH-FACH": "BCCH_FACH_Message",
}
_SIBS = {"MIB": "MasterInformationBlock", "SIB1": "SysInfoType1", "SIB3": "SysInfoType3"}
_SIB_TYPES = {
    "masterInformationBlock": "MasterInformationBlock",
    "systemInformationBlockType1": "SysInfoType1",
    "systemInformationBlockType3": "SysInfoType3",
}
_DIRECT_TRANSFERS = frozenset({"downlinkDirectTransfer", "uplinkDirectTransfer", "initialDirectTransfer"})
_WALK_LIMIT = 20_000
"""The most values of one decoded message looked at for a field: real messages have a few hundred."""


@dataclasses.dataclass(frozen=True, slots=True)
class UmtsSecurityModeCommand(Decoded):
    """RRC Security Mode Command: ``ciphering`` ``UEA0``..``UEA2`` (None when the command does not (re)start
    ciphering), ``integrity`` ``UIA1``/``UIA2`` (None when absent)."""

    ciphering: str | None = None
    integrity: str | None = None


def decode_rrc(frame: Frame) -> Decoded:
    """The decoded message of a UMTS RRC frame (the NAS message for a Direct Transfer)."""
    channel = frame.channel
    try:
        if channel in _SIBS:
            return _system_information(channel, (_decode_sib(_SIBS[channel], frame.payload),))
        if channel.startswith("SIB"):
            return Decoded(name=f"SystemInformationBlock{channel[3:]}", protocol=PROTOCOL)
        type_name = _CHANNELS.get(channel)
        if type_name is None:
            return Decoded(name="unknown", protocol=PROTOCOL, error=f"unknown UMTS RRC channel {channel!r}")
        pdu = getattr(_PDU, type_name)
        pdu.from_uper(frame.payload)
        value = pdu.get_val()
    except Exception as error:  # pycrate raises many types on bytes it cannot read: one frame, never the file
        return Decoded(name="unknown", protocol=PROTOCOL, error=f"{type(error).__name__}: {error}"[:200])
    if channel == "BCCH-BCH":
        return _broadcast(value)
    message = value.get("message") if isinstance(value, dict) else None
    if not (isinstance(message, tuple) and len(message) == 2 and isinstance(message[0], str)):
        return Decoded(name=type_name.removesuffix("_Message").replace("_", "-"), protocol=PROTOCOL)
    name, body = message
    if name in _DIRECT_TRANSFERS:
        return _direct_transfer(name, body, frame.uplink)
    if name == "securityModeCommand":
        return _security_mode_command(name, body)
    return Decoded(name=name, protocol=PROTOCOL)


def _direct_transfer(name: str, body: Any, uplink: bool | None) -> Decoded:
    nas = next(_find(body, "nas-Message"), None)
    if not isinstance(nas, bytes):
        return Decoded(name=name, protocol=PROTOCOL, error="no NAS message")
    direction = name != "downlinkDirectTransfer" if uplink is None else uplink
    inner = decode_dtap(nas, direction)
    if isinstance(inner, Layer3Message):
        return dataclasses.replace(inner, carried_in=name)
    return Layer3Message(
        name=inner.name, protocol=inner.protocol, security=inner.security, error=inner.error, carried_in=name
    )


def _security_mode_command(name: str, body: Any) -> Decoded:
    """UEA from ``cipheringModeInfo.cipheringModeCommand.startRestart``, UIA from
    ``integrityProtectionModeInfo.integrityProtectionAlgorithm`` (TS 25.331 10.2.43), in any release's layout."""
    ciphering_info = next(_find(body, "cipheringModeInfo"), None)
    start = next(_find(ciphering_info, "startRestart"), None) if ciphering_info is not None else None
    integrity_value = next(_find(body, "integrityProtectionAlgorithm"), None)
    ciphering = start.upper() if isinstance(start, str) and start.startswith("uea") else None
    integrity = integrity_value.upper() if isinstance(integrity_value, str) else None
    return UmtsSecurityModeCommand(
        name=name,
        protocol=PROTOCOL,
        security=Security(layer="AS", ciphering=ciphering or "unchanged", integrity=integrity),
        ciphering=ciphering,
        integrity=integrity,
    )


def _find(value: Any, key: str) -> Iterator[Any]:
    """The values under ``key`` anywhere in a decoded value (dictionaries; CHOICEs as ``(name, value)``
    pairs), breadth first, looking at no more than ``_WALK_LIMIT`` values."""
    queue: list[Any] = [value]
    seen = 0
    while queue and seen < _WALK_LIMIT:
        item = queue.pop(0)
        seen += 1
        if isinstance(item, dict):
            if key in item:
                yield item[key]
            queue.extend(item.values())
        elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
            if item[0] == key:
                yield item[1]
            queue.append(item[1])
        elif isinstance(item, list):
            queue.extend(item)


def _broadcast(value: Any) -> Decoded:
    """The complete SIBs of a BCCH-BCH message (``completeSIB-List``, ``completeAndFirst``,
    ``lastAndComplete``, ``completeSIB``...): their identity fields, merged."""
    blocks: list[tuple[str, Any]] = []
    for entry in _complete_sibs(value):
        sib_type, data = entry.get("sib-Type"), entry.get("sib-Data-variable", entry.get("sib-Data-fixed"))
        if sib_type in _SIB_TYPES and isinstance(data, tuple) and len(data) == 2:
            try:
                blocks.append((_SIB_TYPES[sib_type], _decode_sib(_SIB_TYPES[sib_type], _bit_string(data))))
            except Exception:  # a SIB pycrate cannot read leaves the others of the frame
                continue
    return _system_information("SystemInformation-BCH", tuple(blocks))


def _complete_sibs(value: Any) -> Iterator[dict[str, Any]]:
    payload = value.get("message", {}).get("payload") if isinstance(value, dict) else None
    if not (isinstance(payload, tuple) and len(payload) == 2):
        return
    kind, body = payload
    if kind == "completeSIB-List" and isinstance(body, list):
        yield from (entry for entry in body if isinstance(entry, dict))
    elif kind in ("completeSIB", "completeSIB-short") and isinstance(body, dict):
        yield body
    elif isinstance(body, dict):
        for entry in body.get("completeSIB-List", []):
            if isinstance(entry, dict):
                yield entry


def _bit_string(data: tuple[int, int]) -> bytes:
    """pycrate's ``(value, bit length)`` as octets, the last one padded with zero bits."""
    number, length = data
    if length <= 0 or number < 0:
        return b""
    pad = -length % 8
    return (number << pad).to_bytes((length + pad) // 8, "big")


def _decode_sib(type_name: str, payload: bytes) -> tuple[str, Any]:
    sib = getattr(_IE, type_name)
    sib.from_uper(payload)
    return type_name, sib.get_val()


def _system_information(name: str, blocks: tuple[tuple[str, Any], ...]) -> Decoded:
    plmns: tuple[str, ...] = ()
    area: int | None = None
    cell_id: int | None = None
    for type_name, value in blocks:
        if type_name == "MasterInformationBlock":
            plmns = tuple(p for p in (_plmn(v) for v in _find(value, "plmn-Identity")) if p)[:1]
        elif type_name == "SysInfoType1":
            nas = next(_find(value, "cn-CommonGSM-MAP-NAS-SysInfo"), None)
            area = int.from_bytes(nas[:2], "big") if isinstance(nas, bytes) and len(nas) >= 2 else None
        elif type_name == "SysInfoType3":
            identity = next(_find(value, "cellIdentity"), None)
            cell_id = identity[0] if isinstance(identity, tuple) and isinstance(identity[0], int) else None
    if len(blocks) == 1:
        name = blocks[0][0]
    if not plmns and area is None and cell_id is None:
        return Decoded(name=name, protocol=PROTOCOL)
    return Decoded(name=name, protocol=PROTOCOL, identity=CellIdentity(plmns=plmns, area=area, cell_id=cell_id))


def _plmn(value: Any) -> str | None:
    if not isinstance(value, dict):
        return None
    mcc, mnc = value.get("mcc"), value.get("mnc")
    if not (isinstance(mcc, list) and isinstance(mnc, list) and len(mcc) == 3 and len(mnc) in (2, 3)):
        return None
    if not all(isinstance(d, int) and 0 <= d <= 9 for d in mcc + mnc):
        return None
    return "".join(map(str, mcc)) + "-" + "".join(map(str, mnc))
