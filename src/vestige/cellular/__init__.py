"""Cellular signalling logs: Qualcomm DIAG logs (``.qmdl``, ``.mi2log``, gzip-compressed or not) and GSMTAP in
packet captures, decoded with pycrate, and the rogue-base-station ("IMSI catcher") detectors of
``reference/cellular.md`` section 6.

``diag`` de-frames DIAG logs into ``Frame`` objects, ``gsmtap`` reads them from captures (GSMTAP v2/v3, and
NAS-EPS in the user link type research stacks write), ``lte`` and ``gsm`` decode frames into typed messages and
hold each RAT's detectors, and ``artifacts.signalling`` ties them into one pass that yields the records of a
log and its findings.
"""
