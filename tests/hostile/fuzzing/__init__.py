"""The fuzzing harness's parts: mutations of a backup, the strategies that draw them, the runs and
their properties (``tests/hostile/test_fuzz.py`` says how to run it)."""
