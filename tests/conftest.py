"""Fixtures shared across test packages, and the check every findings.json the tests write must pass.

Each findings.json a test leaves under its ``tmp_path`` (and, at the end of the session, under any
session folder) must validate against the published JSON Schema (docs/findings.schema.json), load
through the typed result document, and give the same bytes when written again. A test that writes
a broken document on purpose says so with ``@pytest.mark.broken_findings``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import jsonschema
import orjson
import pytest

from tests.builders.custody import built as built  # the session fixture "built"
from vestige.report.findings import read_findings

SCHEMA = orjson.loads((Path(__file__).parent.parent / "docs" / "findings.schema.json").read_bytes())
_checked: set[Path] = set()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "broken_findings: the test writes findings.json documents that are invalid")


def check_findings_document(path: Path) -> None:
    """The published schema, the typed reader and the canonical writer all accept the file as it is."""
    data = path.read_bytes()
    jsonschema.validate(orjson.loads(data), SCHEMA, cls=jsonschema.Draft202012Validator)
    assert read_findings(data, str(path)).canonical() == data, f"{path}: written again, the bytes differ"


def _check_under(folder: Path, broken: bool = False) -> None:
    for path in sorted(folder.rglob("findings.json")):
        if path not in _checked:
            _checked.add(path)
            if not broken:
                check_findings_document(path)


@pytest.fixture(autouse=True)
def _written_findings_are_valid(request: pytest.FixtureRequest) -> Iterator[None]:
    folder = request.getfixturevalue("tmp_path") if "tmp_path" in request.fixturenames else None
    yield
    if folder is not None:
        _check_under(folder, request.node.get_closest_marker("broken_findings") is not None)


@pytest.fixture(autouse=True, scope="session")
def _session_findings_are_valid(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    yield
    _check_under(tmp_path_factory.getbasetemp())
