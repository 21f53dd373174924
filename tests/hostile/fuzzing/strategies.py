"""Hypothesis strategies that draw mutations of the demo backup (see ``mutations``).

Sizes are drawn from short lists of values that matter (just under and over Python's recursion
limit, 2**22 leaves of a shared graph) rather than from whole ranges, so that a few hundred examples
reach the edges, and every drawn value is small to shrink and readable in a report.
"""

from __future__ import annotations

from hypothesis import strategies as st

from tests.hostile.fuzzing import databases, files, listing, plists
from tests.hostile.fuzzing import mutations as m

POSITIONS = st.integers(min_value=0, max_value=1 << 20)
EDITS = st.lists(
    st.tuples(st.sampled_from(("flip", "truncate", "insert")), POSITIONS, st.integers(min_value=1, max_value=255)),
    min_size=1,
    max_size=4,
).map(tuple)
DEPTHS = st.sampled_from((3, 200, 300, 400, 450, 490, 900, 1200, 5000, 100_000))
SIZES = {
    "nested-array": DEPTHS,
    "nested-dict": DEPTHS,
    "cycle": st.integers(min_value=1, max_value=4),
    "shared": st.sampled_from((4, 22, 32, 60)),
    "shared-dict": st.sampled_from((4, 22, 32)),
    "odd-keys": st.integers(min_value=0, max_value=9),
    "scalar": st.integers(min_value=0, max_value=14),
    "oversized-text": st.sampled_from((1 << 10, 1 << 20, 16 << 20)),
    "oversized-data": st.sampled_from((1 << 10, 1 << 20, 16 << 20)),
}


@st.composite
def shapes(draw: st.DrawFn) -> plists.Shape:
    kind = draw(st.sampled_from(plists.SHAPE_KINDS))
    return plists.Shape(kind, draw(SIZES[kind]))


@st.composite
def plist_values(draw: st.DrawFn) -> plists.PlistValue:
    target = draw(st.sampled_from(m.PLISTS))
    return plists.PlistValue(target, draw(st.sampled_from(plists.PLIST_PLACES[target])), draw(shapes()))


@st.composite
def table_columns(draw: st.DrawFn, databases: tuple[str, ...] = m.DATABASES) -> tuple[str, str, str]:
    database = draw(st.sampled_from(databases))
    table = draw(st.sampled_from(sorted(m.TABLES[database])))
    column = draw(st.sampled_from(m.TABLES[database][table]))
    return database, table, column


@st.composite
def row_values(draw: st.DrawFn) -> databases.RowValue:
    database, table, column = draw(table_columns())
    row = draw(st.integers(min_value=-1, max_value=40))
    return databases.RowValue(database, table, column, row, draw(st.sampled_from(sorted(databases.SQL_VALUES))))


@st.composite
def table_to_views(draw: st.DrawFn) -> databases.TableToView:
    database, table, _ = draw(table_columns())
    recursive = draw(st.booleans())
    return databases.TableToView(database, table, recursive, recursive and draw(st.booleans()))


@st.composite
def generated_columns(draw: st.DrawFn) -> databases.GeneratedColumn:
    database, table, column = draw(table_columns())
    return databases.GeneratedColumn(database, table, column, draw(st.sampled_from(sorted(databases.GENERATED))))


@st.composite
def column_types(draw: st.DrawFn) -> databases.ColumnType:
    database, table, column = draw(table_columns())
    declared = draw(st.sampled_from(("BLOB", "TEXT", "ANY", "REAL", "TEXT COLLATE fuzz_nowhere", "INTEGER NOT NULL")))
    return databases.ColumnType(database, table, column, declared)


@st.composite
def table_shapes(draw: st.DrawFn) -> databases.TableShape:
    database, table, _ = draw(table_columns())
    return databases.TableShape(database, table, draw(st.sampled_from(("blob-key", "without-rowid"))))


@st.composite
def rowid_jumps(draw: st.DrawFn) -> databases.RowidJump:
    database, table, _ = draw(table_columns())
    rowid = draw(st.sampled_from((1 << 62, (1 << 63) - 1, -(1 << 63), -1, 0, 1 << 40)))
    return databases.RowidJump(database, table, rowid, draw(st.booleans()))


STORED = st.sampled_from(m.STORED_FILES)
FLAGS = st.sampled_from((0, 2, 3, 4, 5, 7, 8, -1, 255, (1 << 63) - 1, -(1 << 63)))
LINK_PLACES = st.sampled_from(
    (*m.TOP_PLISTS, m.MANIFEST_DB, "Manifest.db-wal", "Manifest.db-journal", *m.STORED_FILES, m.SMS + "-wal")
)
ODD_NAMES = st.sampled_from((b"\xff", b"\xc3\x28", b"a\nb", b"\x1b[31mred", b"\xe2\x80\xae", b"\\xff", b"-wal"))

SQLITE = st.one_of(
    table_to_views(),
    generated_columns(),
    column_types(),
    table_shapes(),
    row_values(),
    rowid_jumps(),
    st.builds(databases.PageBytes, st.sampled_from(m.DATABASES), st.integers(min_value=0, max_value=64), EDITS),
)
PLIST = st.one_of(
    st.builds(plists.PlistBytes, st.sampled_from(m.PLISTS), EDITS),
    plist_values(),
    st.builds(plists.PlistXml, st.sampled_from(m.PLISTS), st.sampled_from(sorted(plists.XML_ATTACKS))),
    st.builds(plists.Oversized, st.sampled_from(m.PLISTS), st.sampled_from((65 << 20, 300 << 20))),
)
MANIFEST_ROWS = st.one_of(
    st.builds(listing.DuplicateRow, STORED, st.sampled_from(m.DECOYS), st.booleans()),
    st.builds(listing.ForgedFileID, STORED, st.sampled_from(("other", "random", "traversal", "upper"))),
    st.builds(
        listing.ManifestField,
        STORED,
        st.sampled_from(("domain", "relativePath", "fileID", "flags", "file")),
        st.sampled_from(sorted(databases.SQL_VALUES)),
    ),
    st.builds(listing.Flags, STORED, FLAGS),
    st.builds(listing.MBFileBytes, STORED, EDITS),
    st.builds(listing.MBFileBytes, STORED, st.just(()), shapes()),
    st.builds(listing.PadRows, st.sampled_from((5_000, 5_100))),
)
NAMES_AND_LINKS = st.one_of(
    st.builds(files.UnlistedFile, STORED, st.sampled_from(m.DECOYS), st.booleans()),
    st.builds(files.OddName, ODD_NAMES, st.booleans()),
    st.builds(files.Symlink, LINK_PLACES, st.sampled_from(files.LINK_TARGETS)),
    st.builds(
        files.Sidecar,
        st.sampled_from(m.DATABASES),
        st.sampled_from(("-wal", "-journal")),
        st.sampled_from(("log", "garbage")),
    ),
    st.builds(files.SpecialFile, STORED),
    st.builds(files.DeepFolder, st.sampled_from((24, 40))),
    st.builds(files.Output, st.sampled_from(files.OUTPUTS)),
    st.builds(files.Interrupt, st.sampled_from((0.3, 0.6, 0.9)), st.sampled_from(("SIGTERM", "SIGINT"))),
)
MUTATIONS = st.one_of(PLIST, SQLITE, MANIFEST_ROWS, NAMES_AND_LINKS)
"""One mutation of any kind (a), (b), (c) or (d)."""
INPUTS = st.lists(MUTATIONS, min_size=1, max_size=3)
"""A test input: up to three mutations applied in turn."""
