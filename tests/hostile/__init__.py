"""Regression tests built from minimal hostile inputs (issue 9), and the fuzzing harness."""
