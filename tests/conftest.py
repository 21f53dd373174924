"""Fixtures shared across test packages."""

from tests.builders.custody import built as built  # the session fixture "built"
