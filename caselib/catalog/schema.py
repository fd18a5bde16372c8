"""The catalog schema as ordered migrations.

Each :class:`Migration` is a version number, a description and SQL (plus,
rarely, a Python step that fills derived data).  :func:`migrate` applies, in
one transaction per step, every migration newer than the file's
``schema_version`` and records it; running it again does nothing.  Never edit
a released migration: append a new one.

Tables (``*_pk`` are integer row ids used for joins; the UIDs and
``case_id`` are the stable keys the upserts converge on):

==================  =================================================================
``patients``        pseudonym, sex, age (DICOM AS), age_years, synthetic
``studies``         study_uid, patient, study_date (shifted ISO), accession, description
``series``          series_uid, study, modality, body_part, description, counts,
                    matrix, pixel spacing, slice thickness, geometry warnings, dataset
``instances``       sop_uid, series, instance_number, path, sha256, size_bytes,
                    transfer_syntax_uid, sop_class_uid, n_frames
``organ_systems``   code, sort_order, label_en, label_zh (the nine systems, as data)
``cases``           case_id, titles, organ_system, diagnosis en/zh, difficulty, synthetic
``case_tags``       (tag COLLATE NOCASE, case) - tag filter
``case_series``     (case, series_uid, position) - may name series not yet ingested
``case_modalities`` (modality, case) - derived from the links, for the modality facet
``case_fts``        FTS5 over titles, diagnoses, tags, system labels, linked series text
``series_fts``      FTS5 over series and study descriptions and body part
``series_sources``  (source_ref, series_uid) - the data-manifest keys (file or data
                    set) a series was ingested from, so that a teaching case written
                    against the manifest finds its series after ingest remapped the UIDs
``case_declared_modalities`` (modality, case) - modalities a case declares, counted in
                    the modality facet even before its series are ingested
==================  =================================================================
"""
from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from caselib.catalog.records import CatalogSchemaError, OrganSystem

__all__ = ["Migration", "MIGRATIONS", "SCHEMA_VERSION", "migrate", "current_version"]

FTS_TOKENIZER = "porter unicode61 remove_diacritics 2"


@dataclass(frozen=True)
class Migration:
    """One schema step: ``sql`` (a script) then the optional ``python`` step."""

    version: int
    description: str
    sql: str
    python: Callable[[sqlite3.Connection], None] | None = None


_V1_ARCHIVE = """
CREATE TABLE patients (
    patient_pk  INTEGER PRIMARY KEY,
    pseudonym   TEXT NOT NULL UNIQUE,
    sex         TEXT CHECK (sex IN ('M', 'F', 'O')),
    age         TEXT,
    age_years   REAL,
    synthetic   INTEGER NOT NULL DEFAULT 0 CHECK (synthetic IN (0, 1))
);
CREATE TABLE studies (
    study_pk    INTEGER PRIMARY KEY,
    study_uid   TEXT NOT NULL UNIQUE,
    patient_pk  INTEGER NOT NULL REFERENCES patients(patient_pk) ON DELETE CASCADE,
    study_date  TEXT,            -- ISO 8601, already shifted by de-identification
    accession   TEXT,
    description TEXT
);
CREATE INDEX ix_studies_patient ON studies(patient_pk);
CREATE TABLE series (
    series_pk            INTEGER PRIMARY KEY,
    series_uid           TEXT NOT NULL UNIQUE,
    study_pk             INTEGER NOT NULL REFERENCES studies(study_pk) ON DELETE CASCADE,
    modality             TEXT NOT NULL,
    body_part            TEXT,
    description          TEXT,
    series_number        INTEGER,
    n_instances          INTEGER NOT NULL DEFAULT 0,
    n_frames             INTEGER NOT NULL DEFAULT 0,
    image_rows           INTEGER,
    image_columns        INTEGER,
    pixel_spacing_row_mm REAL,
    pixel_spacing_col_mm REAL,
    slice_thickness_mm   REAL,
    geometry_warnings    TEXT NOT NULL DEFAULT '[]',   -- JSON array of strings
    dataset              TEXT
);
CREATE INDEX ix_series_study ON series(study_pk);
CREATE INDEX ix_series_modality ON series(modality, body_part);
CREATE TABLE instances (
    instance_pk         INTEGER PRIMARY KEY,
    sop_uid             TEXT NOT NULL UNIQUE,
    series_pk           INTEGER NOT NULL REFERENCES series(series_pk) ON DELETE CASCADE,
    instance_number     INTEGER,
    path                TEXT NOT NULL,               -- relative to the archive root
    sha256              TEXT NOT NULL,
    size_bytes          INTEGER NOT NULL,
    transfer_syntax_uid TEXT NOT NULL,
    sop_class_uid       TEXT,
    n_frames            INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX ix_instances_series ON instances(series_pk, instance_number);
"""


def _organ_system_rows() -> str:
    rows = ",\n".join(
        f"('{s.value}', {s.sort_order}, '{s.label_en}', '{s.label_zh}')" for s in OrganSystem
    )
    return f"INSERT INTO organ_systems(code, sort_order, label_en, label_zh) VALUES\n{rows};"


_V2_TEACHING = f"""
CREATE TABLE organ_systems (
    code       TEXT PRIMARY KEY,
    sort_order INTEGER NOT NULL UNIQUE,
    label_en   TEXT NOT NULL,
    label_zh   TEXT NOT NULL
) WITHOUT ROWID;
{_organ_system_rows()}
CREATE TABLE cases (
    case_pk      INTEGER PRIMARY KEY,
    case_id      TEXT NOT NULL UNIQUE,
    title_en     TEXT NOT NULL DEFAULT '',
    title_zh     TEXT NOT NULL DEFAULT '',
    organ_system TEXT NOT NULL REFERENCES organ_systems(code),
    diagnosis_en TEXT,
    diagnosis_zh TEXT,
    difficulty   TEXT NOT NULL CHECK (difficulty IN ('primary', 'intermediate', 'advanced')),
    synthetic    INTEGER NOT NULL DEFAULT 0 CHECK (synthetic IN (0, 1))
);
CREATE INDEX ix_cases_facets ON cases(organ_system, difficulty, synthetic);
CREATE TABLE case_tags (
    tag     TEXT NOT NULL COLLATE NOCASE,
    case_pk INTEGER NOT NULL REFERENCES cases(case_pk) ON DELETE CASCADE,
    PRIMARY KEY (tag, case_pk)
) WITHOUT ROWID;
CREATE INDEX ix_case_tags_case ON case_tags(case_pk);
CREATE TABLE case_series (
    case_pk    INTEGER NOT NULL REFERENCES cases(case_pk) ON DELETE CASCADE,
    series_uid TEXT NOT NULL,        -- no foreign key: a case may be loaded before its series
    position   INTEGER NOT NULL,
    PRIMARY KEY (case_pk, series_uid)
) WITHOUT ROWID;
CREATE INDEX ix_case_series_series ON case_series(series_uid);
CREATE TABLE case_modalities (       -- derived from case_series x series; rebuilt by the catalog
    modality TEXT NOT NULL,
    case_pk  INTEGER NOT NULL REFERENCES cases(case_pk) ON DELETE CASCADE,
    PRIMARY KEY (modality, case_pk)
) WITHOUT ROWID;
CREATE INDEX ix_case_modalities_case ON case_modalities(case_pk, modality);
"""

_V3_FTS = f"""
CREATE VIRTUAL TABLE case_fts USING fts5(
    title, diagnosis, tags, organ_system, series, tokenize = '{FTS_TOKENIZER}'
);
INSERT INTO case_fts(case_fts, rank) VALUES ('rank', 'bm25(10.0, 8.0, 4.0, 1.0, 2.0)');
CREATE VIRTUAL TABLE series_fts USING fts5(
    description, body_part, study, tokenize = '{FTS_TOKENIZER}'
);
"""


_V4_SOURCES = """
CREATE TABLE series_sources (
    source_ref TEXT NOT NULL,        -- a data-manifest key the series came from (never a PHI value)
    series_uid TEXT NOT NULL,        -- the archive's de-identified (0020,000E)
    PRIMARY KEY (source_ref, series_uid)
) WITHOUT ROWID;
CREATE INDEX ix_series_sources_series ON series_sources(series_uid);
CREATE TABLE case_declared_modalities (
    modality TEXT NOT NULL,
    case_pk  INTEGER NOT NULL REFERENCES cases(case_pk) ON DELETE CASCADE,
    PRIMARY KEY (modality, case_pk)
) WITHOUT ROWID;
"""


def _fill_fts(conn: sqlite3.Connection) -> None:
    # A file migrated from version 2 may already hold cases and series.
    from caselib.catalog import _index

    _index.refresh_series_fts(conn, None)
    _index.refresh_cases(conn, None)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "archive: patients, studies, series, instances", _V1_ARCHIVE),
    Migration(2, "teaching layer: organ systems, cases, tags, case-series links", _V2_TEACHING),
    Migration(3, "full-text search (FTS5, CJK bigrams) over cases and series", _V3_FTS, _fill_fts),
    Migration(4, "series sources (manifest keys) and the modalities cases declare", _V4_SOURCES),
)
SCHEMA_VERSION = MIGRATIONS[-1].version


def current_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in ``conn`` (0 for an empty file)."""
    has = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").fetchone()
    if not has:
        return 0
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def migrate(conn: sqlite3.Connection, target: int | None = None) -> list[int]:
    """Apply the migrations newer than the file's version, up to ``target``.

    ``conn`` must be in autocommit mode (``isolation_level=None``).  Returns
    the versions applied (empty when the file was current).

    Raises
    ------
    CatalogSchemaError
        If the file is newer than :data:`SCHEMA_VERSION`.
    """
    target = SCHEMA_VERSION if target is None else target
    version = current_version(conn)
    if version > SCHEMA_VERSION:
        raise CatalogSchemaError(
            f"catalog schema version {version} is newer than this caselib understands "
            f"({SCHEMA_VERSION}); upgrade caselib to open it")
    applied: list[int] = []
    for m in MIGRATIONS:
        if m.version <= version or m.version > target:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            # re-check under the write lock: another process may have migrated meanwhile
            if current_version(conn) >= m.version:
                conn.execute("COMMIT")
                continue
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version ("
                         "version INTEGER PRIMARY KEY, description TEXT NOT NULL, "
                         "applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')))")
            for statement in _statements(m.sql):
                conn.execute(statement)
            if m.python is not None:
                m.python(conn)
            conn.execute("INSERT INTO schema_version(version, description) VALUES (?, ?)",
                         (m.version, m.description))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(m.version)
    return applied


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (``executescript`` would COMMIT)."""
    out: list[str] = []
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                out.append(buf.strip())
            buf = ""
    if buf.strip():
        raise ValueError(f"incomplete SQL statement in migration: {buf.strip()[:60]!r}")
    return out
