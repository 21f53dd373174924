"""LTE signalling decoded with pycrate: RRC (3GPP TS 36.331, ASN.1 unaligned PER, ``pycrate_asn1dir.RRCLTE``
up to Release 18) by logical channel, and EPS NAS (TS 24.301: EMM and ESM, ``pycrate_mobile.NASLTE``), plain or
security protected.

``decode`` turns one ``Frame`` into a ``Decoded``: a typed subclass for each message a detector of
``lte_detectors`` reads (a connection release and where it redirects the phone, SIB1 and the cell identity it
broadcasts, the reselection priorities of SIB3/5/6/7, the EMM identity, attach, reject, detach and
authentication messages), the base class for the rest. What a message puts in force (RRC and NAS security mode
commands, a handover's security configuration) is in ``Decoded.security``; what SIB1 says of the cell, in
``Decoded.identity``.

Every byte is adversarial: pycrate raises on malformed UPER and answers ``(None, error)`` from its NAS parsers;
either gives a ``Decoded`` with ``error`` set, never an exception, and a payload over ``MAX_PAYLOAD`` bytes
(``MAX_NAS_PAYLOAD`` for NAS) is not handed to pycrate at all. A NAS message ciphered with a key the log does not
hold (security header type 2 or 4) is named ``protected NAS (ciphered)``; one that is only integrity protected
(type 1 or 3) is read inside.

pycrate's LTE RRC module takes about 0.6 s to import: it is imported on the first RRC frame, once.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from vestige.cellular.frames import LTE, NAS, RRC, Frame
from vestige.cellular.records import CellIdentity, Decoded, Security

RRC_PROTOCOL = "LTE RRC"
EMM = "EMM"
ESM = "ESM"

MAX_PAYLOAD = 16_384
"""The largest RRC payload handed to pycrate. The largest LTE RRC messages (a UE capability information with
many band combinations) take a few kilobytes (1,531 bytes in the public MobileInsight logs); anything longer is
a corrupt or hostile frame (pycrate reads 16 KiB of any bytes on any channel in under 20 ms)."""
MAX_NAS_PAYLOAD = 4_096
"""The largest NAS payload handed to pycrate: an EMM or ESM message takes at most a few hundred bytes (245 in the
public logs) and an LPP container a few kilobytes, while pycrate's time on hostile NAS bytes grows faster than
their length (4 KiB of zeros: about 0.1 s; 16 KiB: 1 s)."""

CIPHERED = "protected NAS (ciphered)"

IDENTITY_TYPES = {1: "IMSI", 2: "IMEI", 3: "IMEISV", 4: "TMSI", 5: "TMGI"}
"""Type of identity (TS 24.008 10.5.5.9, used by TS 24.301 9.9.3.17)."""

EMERGENCY_ATTACH = 6
"""EPS attach type ``110``: EPS emergency attach (TS 24.301 9.9.3.11; 1 is EPS attach, 2 combined EPS/IMSI)."""

IMSI_DETACH_MT = 3
"""Network-originated detach type ``011``: IMSI detach (TS 24.301 9.9.3.7)."""

NAS_ERRORS = {
    96: "invalid mandatory information",
    97: "message type non-existent or not implemented",
    111: "protocol error, unspecified",
}
"""The codes pycrate's NAS parsers answer with (111 for a message cut short), as TS 24.301 annex A names the EMM
causes they borrow."""

_ALGORITHM_SUFFIXES = ("-v920", "-v1130")


# ----------------------------------------------------------------------------------------------
# The decoded messages the detectors read


@dataclass(frozen=True, slots=True)
class RrcConnectionRelease(Decoded):
    """``RRCConnectionRelease`` (TS 36.331 6.2.2): ``redirect`` is the ``redirectedCarrierInfo`` choice
    (``geran``, ``utra-FDD``, ``utra-TDD``, ``utra-TDD-r10``, ``eutra``, ``cdma2000-HRPD``, ``cdma2000-1xRTT``,
    ``nr-r15``...), None when the release does not redirect; ``carrier`` the (first) carrier it names: the EARFCN,
    UARFCN or the GERAN starting ARFCN."""

    redirect: str | None = None
    carrier: int | None = None
    cause: str | None = None


@dataclass(frozen=True, slots=True)
class RrcConnectionReconfiguration(Decoded):
    """``RRCConnectionReconfiguration`` (TS 36.331 6.2.2). A handover (``mobilityControlInfo``) names its target
    by ``target_pci`` and ``target_earfcn`` (None when the target is on the same carrier); ``security`` is then
    what the phone is to use on the target cell, not on the cell that sent the message."""

    handover: bool = False
    target_pci: int | None = None
    target_earfcn: int | None = None


@dataclass(frozen=True, slots=True)
class RrcConnectionRequest(Decoded):
    """``RRCConnectionRequest`` or ``RRCConnectionReestablishmentRequest`` (UL-CCCH): the phone asking for a
    connection, with its establishment or reestablishment cause."""

    cause: str | None = None


@dataclass(frozen=True, slots=True)
class SystemInformationBlockType1(Decoded):
    """SIB1 (TS 36.331 6.2.2): the cell's identity is in ``identity``; ``scheduling_entries`` counts the entries
    of ``schedulingInfoList`` (each schedules one SystemInformation message with one or more SIBs)."""

    scheduling_entries: int = 0


@dataclass(frozen=True, slots=True)
class SystemInformation(Decoded):
    """A ``SystemInformation`` message (TS 36.331 6.2.2) with the SIBs it carries and their cell reselection
    priorities (0 lowest to 7 highest, TS 36.304 5.2.4.1): SIB3's serving frequency, SIB5's other LTE
    frequencies, SIB6's UTRA FDD and TDD frequencies, SIB7's GERAN frequency groups. A frequency that gives no
    priority is left out."""

    sibs: tuple[str, ...] = ()
    serving_priority: int | None = None
    inter_frequency_priorities: tuple[int, ...] = ()
    utra_fdd_priorities: tuple[int, ...] = ()
    utra_tdd_priorities: tuple[int, ...] = ()
    geran_priorities: tuple[int, ...] = ()

    @property
    def lte_priorities(self) -> tuple[int, ...]:
        serving = () if self.serving_priority is None else (self.serving_priority,)
        return serving + self.inter_frequency_priorities

    @property
    def legacy_priorities(self) -> tuple[int, ...]:
        return self.utra_fdd_priorities + self.utra_tdd_priorities + self.geran_priorities


@dataclass(frozen=True, slots=True)
class EmmIdentityRequest(Decoded):
    """EMM Identity Request (TS 24.301 8.2.18): ``identity_type`` 1 IMSI, 2 IMEI, 3 IMEISV, 4 TMSI."""

    identity_type: int = 0

    @property
    def identity_name(self) -> str:
        return IDENTITY_TYPES.get(self.identity_type, f"type {self.identity_type}")


@dataclass(frozen=True, slots=True)
class EmmRegistrationRequest(Decoded):
    """EMM Attach Request (TS 24.301 8.2.4) or Tracking Area Update Request (8.2.29): ``ue_plmn`` is where the
    phone was registered before (the old TAI's PLMN, else its GUTI's), ``emergency`` an EPS emergency attach."""

    request_type: int = 0
    ue_plmn: str | None = None
    emergency: bool = False


@dataclass(frozen=True, slots=True)
class EmmCauseMessage(Decoded):
    """An EMM message that carries an EMM cause (TS 24.301 9.9.3.9): Attach Reject, Tracking Area Update Reject,
    Service Reject, Authentication Failure (#20 MAC failure, #21 synch failure, #26 non-EPS authentication
    unacceptable), Security Mode Reject."""

    cause: int | None = None


@dataclass(frozen=True, slots=True)
class EmmDetachRequest(Decoded):
    """EMM Detach Request (TS 24.301 8.2.11): ``network`` when the network sent it (UE terminated detach);
    ``detach_type`` as that direction numbers it (network: 1 re-attach required, 2 re-attach not required,
    3 IMSI detach; phone: 1 EPS, 2 IMSI, 3 combined EPS/IMSI)."""

    network: bool = False
    detach_type: int = 0
    cause: int | None = None


# ----------------------------------------------------------------------------------------------
# Entry point


def decode(frame: Frame) -> Decoded | None:
    """One LTE frame decoded; None for a frame of another RAT or layer. Never raises on bad bytes."""
    if frame.rat != LTE or frame.layer not in (RRC, NAS):
        return None
    protocol = RRC_PROTOCOL if frame.layer == RRC else EMM
    limit = MAX_PAYLOAD if frame.layer == RRC else MAX_NAS_PAYLOAD
    if len(frame.payload) > limit:
        return Decoded(
            name="oversized", protocol=protocol, error=f"payload of {len(frame.payload)} bytes, over {limit}"
        )
    if not frame.payload:
        return Decoded(name="empty", protocol=protocol, error="empty payload")
    if frame.layer == RRC:
        return decode_rrc(frame.channel, frame.payload)
    return decode_nas(frame.payload, frame.uplink)


# ----------------------------------------------------------------------------------------------
# RRC


@dataclass(frozen=True, slots=True)
class _RrcCodec:
    """pycrate's message objects, one per logical channel, and the specification's name of each message."""

    messages: dict[str, Any]
    names: dict[str, str]
    lock: threading.Lock


RRC_CHANNELS = {
    "BCCH-BCH": "BCCH_BCH_Message",
    "BCCH-DL-SCH": "BCCH_DL_SCH_Message",
    "PCCH": "PCCH_Message",
    "DL-CCCH": "DL_CCCH_Message",
    "DL-DCCH": "DL_DCCH_Message",
    "UL-CCCH": "UL_CCCH_Message",
    "UL-DCCH": "UL_DCCH_Message",
    "MCCH": "MCCH_Message",
}


@functools.cache
def _rrc_codec() -> _RrcCodec:
    from pycrate_asn1dir import RRCLTE  # type: ignore[import-untyped]

    definitions = RRCLTE.EUTRA_RRC_Definitions
    messages = {channel: getattr(definitions, name) for channel, name in RRC_CHANNELS.items()}
    names: dict[str, str] = {}
    for message in messages.values():
        names.update(_choice_names(message))
    return _RrcCodec(messages, names, threading.Lock())


def _choice_names(message: Any) -> Iterator[tuple[str, str]]:
    """Each alternative of a channel's message choice (through ``c1``, ``messageClassExtension``, ``c2``...)
    with the name of the type it refers to (``rrcConnectionRelease`` -> ``RRCConnectionRelease``)."""
    content = getattr(message, "_cont", None)
    if content is None or "message" not in content:
        return
    stack = [content["message"]]
    while stack:
        choice = stack.pop()
        if choice.TYPE != "CHOICE":
            continue
        for alternative in choice._cont:
            component = choice._cont[alternative]
            reference = getattr(component, "_typeref", None)
            if reference is not None and len(reference.called) == 2:
                yield alternative, reference.called[1]
            elif component.TYPE == "CHOICE":
                stack.append(component)


def decode_rrc(channel: str, payload: bytes) -> Decoded:
    """An LTE RRC message of ``channel`` (``BCCH-DL-SCH``...) from its UPER bytes."""
    codec = _rrc_codec()
    message = codec.messages.get(channel)
    if message is None:
        return Decoded(name=channel, protocol=RRC_PROTOCOL, error=f"no LTE RRC decoder for channel {channel!r}")
    with codec.lock:  # pycrate decodes into the one shared message object: read it before the next decode
        try:
            message.from_uper(payload)
            value = message.get_val()
        except Exception as error:  # pycrate raises many kinds on bad UPER (CharpyErr, ASN1Err...)
            return Decoded(name=channel, protocol=RRC_PROTOCOL, error=f"{type(error).__name__}: {error}"[:300])
        return _rrc_message(channel, value, codec.names)


def _rrc_message(channel: str, value: Any, names: dict[str, str]) -> Decoded:
    if channel == "BCCH-BCH":
        return Decoded(name="MasterInformationBlock", protocol=RRC_PROTOCOL)
    kind, body = _message_kind(value.get("message"), names)
    if kind is None:
        return Decoded(name=f"{channel} message class extension", protocol=RRC_PROTOCOL)
    name = names[kind]
    reader = _RRC_READERS.get(name)
    try:
        return reader(name, body) if reader is not None else Decoded(name=name, protocol=RRC_PROTOCOL)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as error:
        return Decoded(name=name, protocol=RRC_PROTOCOL, error=f"unexpected {name} structure: {error!r}"[:300])


def _message_kind(value: Any, names: dict[str, str]) -> tuple[str | None, Any]:
    """The message alternative under the nested choices (``('c1', ('securityModeCommand', {...}))``)."""
    for _ in range(8):
        if not isinstance(value, tuple) or len(value) != 2:
            return None, None
        alternative, inner = value
        if alternative in names:
            return alternative, inner
        value = inner
    return None, None


def _extension(body: Any, release: str) -> Any:
    """The ``criticalExtensions.c1.<release>`` content of a message, or an empty dictionary."""
    value = body.get("criticalExtensions") if isinstance(body, dict) else None
    for _ in range(2):
        if isinstance(value, tuple) and len(value) == 2:
            if value[0] == release:
                return value[1] if isinstance(value[1], dict) else {}
            value = value[1]
    return {}


def _algorithm(value: object) -> str:
    """``eea3-v1130`` -> ``eea3``, ``eia0-v920`` -> ``eia0``; spares as they are named."""
    text = str(value)
    for suffix in _ALGORITHM_SUFFIXES:
        text = text.removesuffix(suffix)
    return text


def _as_security(config: Any) -> Security | None:
    if not isinstance(config, dict) or "cipheringAlgorithm" not in config:
        return None
    integrity = config.get("integrityProtAlgorithm")
    return Security(
        "AS", _algorithm(config["cipheringAlgorithm"]), None if integrity is None else _algorithm(integrity)
    )


def _security_mode_command(name: str, body: Any) -> Decoded:
    smc = _extension(body, "securityModeCommand-r8")
    config = smc.get("securityConfigSMC", {}).get("securityAlgorithmConfig")
    return Decoded(name=name, protocol=RRC_PROTOCOL, security=_as_security(config))


_HANDOVER_SECURITY_KEYS = ("securityAlgorithmConfig", "securityAlgorithmConfig-r15")
_SEARCH_LIMIT = 20_000


def _reconfiguration(name: str, body: Any) -> Decoded:
    """A reconfiguration's handover target (``mobilityControlInfo``) and the security the phone is to use there
    (``securityConfigHO``, its v1530 form, or the SCG ciphering of dual connectivity), found by a bounded walk of
    the message, since each release nests it differently."""
    content = _extension(body, "rrcConnectionReconfiguration-r8")
    found: Security | None = None
    stack: list[Any] = [content]
    visited = 0
    while stack and found is None and visited < _SEARCH_LIMIT:
        node = stack.pop()
        visited += 1
        if isinstance(node, dict):
            for key, child in node.items():
                if key in _HANDOVER_SECURITY_KEYS:
                    found = _as_security(child)
                elif key == "cipheringAlgorithmSCG-r12":
                    found = Security("AS", _algorithm(child), None)
                else:
                    stack.append(child)
        elif isinstance(node, tuple | list):
            stack.extend(node)
    mobility = content.get("mobilityControlInfo")
    if not isinstance(mobility, dict):
        return RrcConnectionReconfiguration(name=name, protocol=RRC_PROTOCOL, security=found)
    carrier = mobility.get("carrierFreq")
    earfcn = carrier.get("dl-CarrierFreq") if isinstance(carrier, dict) else None
    extended = mobility.get("carrierFreq-v9e0")
    if isinstance(extended, dict) and isinstance(extended.get("dl-CarrierFreq-v9e0"), int):
        earfcn = extended["dl-CarrierFreq-v9e0"]  # an EARFCN over 65535 (TS 36.331: dl-CarrierFreq is then maxEARFCN)
    pci = mobility.get("targetPhysCellId")
    return RrcConnectionReconfiguration(
        name=name,
        protocol=RRC_PROTOCOL,
        security=found,
        handover=True,
        target_pci=pci if isinstance(pci, int) else None,
        target_earfcn=earfcn if isinstance(earfcn, int) else None,
    )


_REDIRECT_CARRIER_KEYS = ("startingARFCN", "carrierFreq", "arfcn")


def _release(name: str, body: Any) -> Decoded:
    release = _extension(body, "rrcConnectionRelease-r8")
    redirect = release.get("redirectedCarrierInfo")
    kind: str | None = None
    carrier: int | None = None
    if isinstance(redirect, tuple) and len(redirect) == 2:
        kind, target = redirect
        if isinstance(target, int):
            carrier = target
        elif isinstance(target, dict):
            carrier = next((target[key] for key in _REDIRECT_CARRIER_KEYS if isinstance(target.get(key), int)), None)
        elif isinstance(target, list) and target and isinstance(target[0], int):
            carrier = target[0]
    cause = release.get("releaseCause")
    return RrcConnectionRelease(
        name=name, protocol=RRC_PROTOCOL, redirect=kind, carrier=carrier, cause=None if cause is None else str(cause)
    )


def _connection_request(name: str, body: Any) -> Decoded:
    release = "rrcConnectionRequest-r8" if name == "RRCConnectionRequest" else "rrcConnectionReestablishmentRequest-r8"
    content = _extension(body, release)
    cause = content.get("establishmentCause", content.get("reestablishmentCause"))
    return RrcConnectionRequest(name=name, protocol=RRC_PROTOCOL, cause=None if cause is None else str(cause))


def _sib1(name: str, body: Any) -> Decoded:
    access = body["cellAccessRelatedInfo"]
    plmns: list[str] = []
    mcc: list[int] | None = None
    for entry in access.get("plmn-IdentityList", ()):
        identity = entry.get("plmn-Identity", {})
        # an absent MCC is the previous entry's (TS 36.331 6.3.4, PLMN-Identity)
        mcc = identity.get("mcc", mcc)
        mnc = identity.get("mnc")
        if mcc is not None and mnc is not None:
            plmns.append(_digits(mcc) + "-" + _digits(mnc))
    tac = _bits(access.get("trackingAreaCode"))
    cell_id = _bits(access.get("cellIdentity"))
    return SystemInformationBlockType1(
        name=name,
        protocol=RRC_PROTOCOL,
        identity=CellIdentity(tuple(plmns), tac, cell_id),
        scheduling_entries=len(body.get("schedulingInfoList", ())),
    )


def _digits(digits: list[int]) -> str:
    return "".join(str(digit) for digit in digits)


def _bits(value: Any) -> int | None:
    """A BIT STRING as pycrate gives it, ``(value, length)``, as its integer."""
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], int):
        return value[0]
    return None


def _system_information(name: str, body: Any) -> Decoded:
    content = _extension(body, "systemInformation-r8")
    sibs: list[str] = []
    serving: int | None = None
    inter: list[int] = []
    fdd: list[int] = []
    tdd: list[int] = []
    geran: list[int] = []
    for sib, value in content.get("sib-TypeAndInfo", ()):
        sibs.append(sib)
        if not isinstance(value, dict):
            continue
        if sib == "sib3":
            serving = value.get("cellReselectionServingFreqInfo", {}).get("cellReselectionPriority")
        elif sib == "sib5":
            inter.extend(_priorities(value.get("interFreqCarrierFreqList", ())))
        elif sib == "sib6":
            fdd.extend(_priorities(value.get("carrierFreqListUTRA-FDD", ())))
            tdd.extend(_priorities(value.get("carrierFreqListUTRA-TDD", ())))
        elif sib == "sib7":
            geran.extend(_priorities(entry.get("commonInfo", {}) for entry in value.get("carrierFreqsInfoList", ())))
    return SystemInformation(
        name=name,
        protocol=RRC_PROTOCOL,
        sibs=tuple(sibs),
        serving_priority=serving,
        inter_frequency_priorities=tuple(inter),
        utra_fdd_priorities=tuple(fdd),
        utra_tdd_priorities=tuple(tdd),
        geran_priorities=tuple(geran),
    )


def _priorities(entries: Any) -> Iterator[int]:
    for entry in entries:
        priority = entry.get("cellReselectionPriority") if isinstance(entry, dict) else None
        if isinstance(priority, int):
            yield priority


_RRC_READERS: dict[str, Callable[[str, Any], Decoded]] = {
    "SecurityModeCommand": _security_mode_command,
    "RRCConnectionReconfiguration": _reconfiguration,
    "RRCConnectionRelease": _release,
    "RRCConnectionRequest": _connection_request,
    "RRCConnectionReestablishmentRequest": _connection_request,
    "SystemInformationBlockType1": _sib1,
    "SystemInformation": _system_information,
}


# ----------------------------------------------------------------------------------------------
# NAS


@dataclass(frozen=True, slots=True)
class _NasParsers:
    mobile_terminated: Callable[[bytes], tuple[Any, int]]
    mobile_originated: Callable[[bytes], tuple[Any, int]]


@functools.cache
def _nas_parsers() -> _NasParsers:
    # pycrate logs a warning for each IE it cannot read (and, at import, that it cannot decipher NAS without
    # CryptoMobile: nothing here deciphers); a frame's error says what failed once. A level the application set
    # itself is kept.
    pycrate_logger = logging.getLogger("pycrate_mobile")
    if pycrate_logger.level == logging.NOTSET:
        pycrate_logger.setLevel(logging.ERROR)
    from pycrate_mobile.NASLTE import parse_NASLTE_MO, parse_NASLTE_MT  # type: ignore[import-untyped]

    return _NasParsers(parse_NASLTE_MT, parse_NASLTE_MO)


def decode_nas(payload: bytes, uplink: bool | None) -> Decoded:
    """An EPS NAS message; with no direction known, read as sent by the network, then as sent by the phone."""
    parsers = _nas_parsers()
    order: tuple[Callable[[bytes], tuple[Any, int]], ...]
    if uplink is None:
        order = (parsers.mobile_terminated, parsers.mobile_originated)
    elif uplink:
        order = (parsers.mobile_originated,)
    else:
        order = (parsers.mobile_terminated,)
    protocol = ESM if payload[0] & 0x0F == 2 else EMM
    reason = ""
    for parse in order:
        try:
            message, error = parse(payload)
        except Exception as failure:  # pycrate's parsers are meant to answer, never raise
            message = None
            reason = f"{type(failure).__name__}: {failure}"[:300]
        else:
            reason = f"pycrate NAS error {error} ({NAS_ERRORS.get(error, 'unknown')})"
        if message is not None:
            try:
                return _nas_message(message, payload)
            except (KeyError, TypeError, ValueError, IndexError, AttributeError) as failure:
                return Decoded(
                    name=type(message).__name__, protocol=protocol, error=f"unexpected structure: {failure!r}"
                )
    return Decoded(name=_nas_type_name(payload), protocol=protocol, error=reason)


def _nas_type_name(payload: bytes) -> str:
    """The name pycrate gives a plain message's type (``ESMActDefaultEPSBearerCtxtRequest``), for a message it
    could not read; ``NAS`` when the type is unknown or the message is protected."""
    from pycrate_mobile.NASLTE import EMMTypeMOClasses, EMMTypeMTClasses, ESMTypeClasses

    discriminator, header = payload[0] & 0x0F, payload[0] >> 4
    if discriminator == 2 and len(payload) > 2:
        kind = ESMTypeClasses.get(payload[2])
    elif discriminator == 7 and header == 0 and len(payload) > 1:
        kind = EMMTypeMTClasses.get(payload[1]) or EMMTypeMOClasses.get(payload[1])
    else:
        kind = None
    return kind.__name__ if kind is not None else "NAS"


def _nas_message(message: Any, payload: bytes) -> Decoded:
    name = type(message).__name__
    if name == "EMMSecProtNASMessage":
        header = payload[0] >> 4
        inner = message[3]
        if header in (2, 4):
            return Decoded(name=CIPHERED, protocol=EMM)
        if type(inner).__name__ in ("Buf", "Type6LVE", "Type6TLVE") or not hasattr(inner, "_GEN"):
            return Decoded(name=name, protocol=EMM, error="the integrity-protected message inside could not be read")
        message = inner
        name = type(message).__name__
    protocol = ESM if name.startswith("ESM") else EMM
    reader = _NAS_READERS.get(name)
    return reader(name, message) if reader is not None else Decoded(name=name, protocol=protocol)


def _value(message: Any, field: str) -> Any:
    """The value of a type 1 or 3 IE of a NAS message (``IDType``, ``EMMCause``): its last part, after any tag."""
    value = message[field][-1].get_val()
    while isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value


def _names(element: Any) -> tuple[str, ...]:
    return tuple(getattr(child, "_name", "") for child in getattr(element, "_content", ()))


def _present(message: Any, field: str) -> bool:
    try:
        element = message[field]
    except (KeyError, IndexError):
        return False
    return not element.get_trans()


def _identity_request(name: str, message: Any) -> Decoded:
    return EmmIdentityRequest(name=name, protocol=EMM, identity_type=int(_value(message, "IDType")) & 0x07)


def _security_mode(name: str, message: Any) -> Decoded:
    algorithms = message["NASSecAlgo"]["NASSecAlgo"]
    ciphering = int(algorithms["CiphAlgo"].get_val())
    integrity = int(algorithms["IntegAlgo"].get_val())
    return Decoded(name=name, protocol=EMM, security=Security("NAS", f"eea{ciphering}", f"eia{integrity}"))


def _with_cause(name: str, message: Any) -> Decoded:
    cause = _value(message, "EMMCause") if _present(message, "EMMCause") else None
    return EmmCauseMessage(name=name, protocol=EMM, cause=cause if isinstance(cause, int) else None)


def _registration(name: str, message: Any) -> Decoded:
    attach = name == "EMMAttachRequest"
    # an attach type is 4 bits (a spare bit and the type); an update type an envelope (active flag, type)
    raw = _value(message, "EPSAttachType" if attach else "EPSUpdateType")
    if isinstance(raw, list):
        raw = raw[-1] if raw else 0
    request_type = int(raw) & 0x07
    plmn = _old_tai_plmn(message) or _guti_plmn(message, "EPSID" if attach else "OldGUTI")
    return EmmRegistrationRequest(
        name=name,
        protocol=EMM,
        request_type=request_type,
        ue_plmn=plmn,
        emergency=attach and request_type == EMERGENCY_ATTACH,
    )


def _old_tai_plmn(message: Any) -> str | None:
    if not _present(message, "OldTAI"):
        return None
    return _plmn_text(message["OldTAI"][-1][0].decode())


def _guti_plmn(message: Any, field: str) -> str | None:
    identity = message[field][-1]
    if "PLMN" not in _names(identity):
        return None
    return _plmn_text(identity["PLMN"].decode())


def _plmn_text(digits: object) -> str | None:
    """pycrate's ``310410`` (or ``31041`` for a two-digit MNC) as ``310-410``."""
    text = str(digits)
    if len(text) not in (5, 6) or not text.isdigit():
        return None
    return f"{text[:3]}-{text[3:]}"


def _detach(name: str, message: Any) -> Decoded:
    network = name == "EMMDetachRequestMT"
    detach_type = int(message["EPSDetachType"][-1]["Type"].get_val())
    cause = _value(message, "EMMCause") if network and _present(message, "EMMCause") else None
    return EmmDetachRequest(
        name=name,
        protocol=EMM,
        network=network,
        detach_type=detach_type,
        cause=cause if isinstance(cause, int) else None,
    )


_NAS_READERS: dict[str, Callable[[str, Any], Decoded]] = {
    "EMMIdentityRequest": _identity_request,
    "EMMSecurityModeCommand": _security_mode,
    "EMMAttachRequest": _registration,
    "EMMTrackingAreaUpdateRequest": _registration,
    "EMMAttachReject": _with_cause,
    "EMMTrackingAreaUpdateReject": _with_cause,
    "EMMServiceReject": _with_cause,
    "EMMAuthenticationFailure": _with_cause,
    "EMMSecurityModeReject": _with_cause,
    "EMMDetachRequestMT": _detach,
    "EMMDetachRequestMO": _detach,
}
