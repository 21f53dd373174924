"""Packet captures (pcap, pcapng, gzip-compressed): reading, flow and TCP sequence tracking, DNS/TLS/HTTP
extraction, and the injection detectors of ``reference/network-injection.md`` sections 3 and 6 (D10-D15).

The capture formats and the link, IP and TCP/UDP headers are read in ``evidence.capture`` (``Packet``)
and ``evidence.headers`` (``Segment``), which the cellular platform shares for the GSMTAP captures carry;
``tcp`` keeps the flow table (per-direction sequence tracking, a window of recent payload per direction,
eviction), ``dns``, ``tls`` and ``http`` read the application layer, and
``artifacts.traffic`` ties them into one streaming pass that yields the records of ``events``.
"""
