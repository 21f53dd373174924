"""Realistic iOS backups built with the real schemas of named iOS versions.

Used by ``vestige demo``, by the tests (through ``tests/builders``) and by the benchmarks. Nothing
here is read by an analysis: a sample backup is checked exactly like a real one.
"""
