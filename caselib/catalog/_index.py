"""Derived data: the FTS5 rows and the case -> modality table.

These are rebuilt from the base tables by the catalog after every write that
can change them, inside the writer's transaction.  ``pks=None`` rebuilds all.
The rebuild is done in Python (not triggers) because CJK text must be cut into
bigrams first (:func:`caselib.catalog.text.index_text`).
"""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable

from caselib.catalog.text import index_text

__all__ = ["refresh_cases", "refresh_series_fts", "cases_linked_to", "series_pks_of"]


def _where(column: str, pks: Iterable[int] | None) -> tuple[str, tuple[object, ...]] | None:
    if pks is None:
        return "", ()
    ids = sorted(set(pks))
    if not ids:
        return None
    return f"WHERE {column} IN (SELECT value FROM json_each(?))", (json.dumps(ids),)


def refresh_cases(conn: sqlite3.Connection, case_pks: Iterable[int] | None) -> None:
    """Rebuild ``case_fts`` and ``case_modalities`` rows of ``case_pks`` (None: all)."""
    w = _where("c.case_pk", case_pks)
    if w is None:
        return
    where, params = w
    rows = conn.execute(f"""
        SELECT c.case_pk, c.title_en, c.title_zh, c.diagnosis_en, c.diagnosis_zh,
               o.label_en, o.label_zh,
               (SELECT group_concat(t.tag, ' ') FROM case_tags t WHERE t.case_pk = c.case_pk),
               (SELECT group_concat(s.modality || ' ' || coalesce(s.body_part, '') || ' '
                                    || coalesce(s.description, '') || ' '
                                    || coalesce(st.description, ''), ' ')
                  FROM case_series cs
                  JOIN series s ON s.series_uid = cs.series_uid
                  JOIN studies st ON st.study_pk = s.study_pk
                 WHERE cs.case_pk = c.case_pk)
          FROM cases c JOIN organ_systems o ON o.code = c.organ_system
        {where}""", params).fetchall()
    if where:
        conn.execute("DELETE FROM case_fts WHERE rowid IN (SELECT value FROM json_each(?))", params)
        conn.execute(f"DELETE FROM case_modalities {where.replace('c.case_pk', 'case_pk')}", params)
    else:
        conn.execute("DELETE FROM case_fts")
        conn.execute("DELETE FROM case_modalities")
    conn.executemany(
        "INSERT INTO case_fts(rowid, title, diagnosis, tags, organ_system, series) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        ((pk, index_text(ten, tzh), index_text(den, dzh), index_text(tags),
          index_text(sen, szh), index_text(ser))
         for pk, ten, tzh, den, dzh, sen, szh, tags, ser in rows))
    conn.execute(f"""
        INSERT OR IGNORE INTO case_modalities(modality, case_pk)
        SELECT DISTINCT s.modality, cs.case_pk
          FROM case_series cs JOIN series s ON s.series_uid = cs.series_uid
        {where.replace('c.case_pk', 'cs.case_pk')}""", params)
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'case_declared_modalities'").fetchone():
        return  # migration 3 rebuilds before version 4 added the table
    conn.execute(f"""
        INSERT OR IGNORE INTO case_modalities(modality, case_pk)
        SELECT modality, case_pk FROM case_declared_modalities
        {where.replace('c.case_pk', 'case_pk')}""", params)


def refresh_series_fts(conn: sqlite3.Connection, series_pks: Iterable[int] | None) -> None:
    """Rebuild ``series_fts`` rows of ``series_pks`` (None: all)."""
    w = _where("s.series_pk", series_pks)
    if w is None:
        return
    where, params = w
    rows = conn.execute(f"""
        SELECT s.series_pk, s.description, s.body_part, st.description
          FROM series s JOIN studies st ON st.study_pk = s.study_pk
        {where}""", params).fetchall()
    if where:
        conn.execute("DELETE FROM series_fts WHERE rowid IN (SELECT value FROM json_each(?))", params)
    else:
        conn.execute("DELETE FROM series_fts")
    conn.executemany(
        "INSERT INTO series_fts(rowid, description, body_part, study) VALUES (?, ?, ?, ?)",
        ((pk, index_text(d), index_text(b), index_text(sd)) for pk, d, b, sd in rows))


def cases_linked_to(conn: sqlite3.Connection, series_uids: Iterable[str]) -> list[int]:
    """The case_pks whose links name any of ``series_uids``."""
    uids = sorted(set(series_uids))
    if not uids:
        return []
    return [r[0] for r in conn.execute(
        "SELECT DISTINCT case_pk FROM case_series WHERE series_uid IN (SELECT value FROM json_each(?))",
        (json.dumps(uids),))]


def series_pks_of(conn: sqlite3.Connection, series_uids: Iterable[str]) -> list[int]:
    """The series_pks of ``series_uids`` (unknown UIDs are skipped)."""
    uids = sorted(set(series_uids))
    if not uids:
        return []
    return [r[0] for r in conn.execute(
        "SELECT series_pk FROM series WHERE series_uid IN (SELECT value FROM json_each(?))",
        (json.dumps(uids),))]
