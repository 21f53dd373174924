"""Correlators that join the traces of one event seen by two platforms: the phone's and the wire's.

Platform packages (``ios``, ``network``, ``cellular``) never import each other, so a detector that pairs
a Safari redirect in an iOS backup with a TCP race in a packet capture belongs to neither. It lives
here, one layer above them and below the engine: this package imports the record payloads and rule
names of the platforms it joins, and the registry loads it by name (``platform.PLATFORM``, a platform
with no acquisition kinds and no artifacts, only correlators of scope ``check``), so the engine still
imports no platform.

- ``injection``: an injected or cross-site redirect in Safari history (D1/D2) and a TCP race in the
  capture (D10/D11) for the same URL within the clock-skew window;
- ``indicator_hosts``: an indicator match in the capture (D15) and the phone's own record (a Safari
  visit, a DataUsage process) named by the same indicator or campaign within the window;
- ``clocks``: the window and how two clocks' times are compared and told.
"""
