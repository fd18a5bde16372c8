"""DataFrame views of the catalog for notebooks.

pandas is imported inside each function, never at module level, so that
``import caselib.catalog`` stays free of it.  Columns are snake_case; counts
that may be missing are nullable ``Int64``; ``study_date`` is ``datetime64``
(the *shifted* date); list-valued columns hold Python lists.
"""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

__all__ = ["patients", "studies", "series", "instances", "cases"]


def _frame(conn: sqlite3.Connection, sql: str, params: Sequence[object] = (), *,
           ints: Sequence[str] = (), bools: Sequence[str] = (), dates: Sequence[str] = (),
           json_lists: Sequence[str] = ()) -> pd.DataFrame:
    import pandas as pd

    cur = conn.execute(sql, list(params))
    columns = [d[0] for d in cur.description]
    rows: list[Any] = cur.fetchall()
    df = pd.DataFrame.from_records(rows, columns=columns)
    for c in ints:
        df[c] = df[c].astype("Int64")
    for c in bools:
        df[c] = df[c].astype(bool)
    for c in dates:
        df[c] = pd.to_datetime(df[c], format="%Y-%m-%d", errors="coerce")
    for c in json_lists:
        df[c] = [json.loads(v) if v else [] for v in df[c]]
    return df


def _in(column: str, values: Sequence[object]) -> str:
    return f"{column} IN ({', '.join('?' * len(values))})"


def patients(conn: sqlite3.Connection) -> pd.DataFrame:
    """See :meth:`caselib.catalog.Catalog.patients`."""
    return _frame(conn, """
        SELECT p.pseudonym, p.sex, p.age, p.age_years, p.synthetic,
               (SELECT COUNT(*) FROM studies st WHERE st.patient_pk = p.patient_pk) AS n_studies
          FROM patients p ORDER BY p.pseudonym""", ints=["n_studies"], bools=["synthetic"])


def studies(conn: sqlite3.Connection, *, patient: str | None = None) -> pd.DataFrame:
    """See :meth:`caselib.catalog.Catalog.studies`."""
    where, params = ("WHERE p.pseudonym = ?", [patient]) if patient is not None else ("", [])
    return _frame(conn, f"""
        SELECT st.study_uid, p.pseudonym AS patient_pseudonym, st.study_date, st.accession,
               st.description,
               (SELECT COUNT(*) FROM series s WHERE s.study_pk = st.study_pk) AS n_series,
               (SELECT group_concat(m, '\\') FROM (SELECT DISTINCT s.modality AS m FROM series s
                                                   WHERE s.study_pk = st.study_pk ORDER BY m)) AS modalities
          FROM studies st JOIN patients p ON p.patient_pk = st.patient_pk
        {where} ORDER BY p.pseudonym, st.study_date, st.study_uid""", params,
                  ints=["n_series"], dates=["study_date"])


def series(conn: sqlite3.Connection, *, modality: Sequence[str] = (), body_part: Sequence[str] = (),
           study_uid: str | None = None, case_id: str | None = None) -> pd.DataFrame:
    """See :meth:`caselib.catalog.Catalog.series`."""
    conds: list[str] = []
    params: list[object] = []
    join = ""
    order = "st.study_date, st.study_uid, s.series_number, s.series_uid"
    if modality:
        conds.append(_in("s.modality", modality))
        params += modality
    if body_part:
        conds.append(_in("s.body_part", body_part))
        params += body_part
    if study_uid is not None:
        conds.append("st.study_uid = ?")
        params.append(study_uid)
    if case_id is not None:
        join = ("JOIN case_series cs ON cs.series_uid = s.series_uid "
                "JOIN cases c ON c.case_pk = cs.case_pk")
        conds.append("c.case_id = ?")
        params.append(case_id)
        order = "cs.position"
    where = ("WHERE " + " AND ".join(conds)) if conds else ""
    return _frame(conn, f"""
        SELECT s.series_uid, st.study_uid, p.pseudonym AS patient_pseudonym, st.study_date,
               s.modality, s.body_part, s.description, s.series_number, s.n_instances, s.n_frames,
               s.image_rows, s.image_columns, s.pixel_spacing_row_mm, s.pixel_spacing_col_mm,
               s.slice_thickness_mm, s.geometry_warnings, s.dataset,
               (SELECT COUNT(*) FROM case_series x WHERE x.series_uid = s.series_uid) AS n_cases
          FROM series s
          JOIN studies st ON st.study_pk = s.study_pk
          JOIN patients p ON p.patient_pk = st.patient_pk
          {join}
        {where} ORDER BY {order}""", params,
                  ints=["series_number", "n_instances", "n_frames", "image_rows", "image_columns", "n_cases"],
                  dates=["study_date"], json_lists=["geometry_warnings"])


def instances(conn: sqlite3.Connection, series_uid: str | None = None) -> pd.DataFrame:
    """See :meth:`caselib.catalog.Catalog.instances`."""
    where, params = ("WHERE s.series_uid = ?", [series_uid]) if series_uid is not None else ("", [])
    return _frame(conn, f"""
        SELECT i.sop_uid, s.series_uid, i.instance_number, i.path, i.sha256, i.size_bytes,
               i.transfer_syntax_uid, i.sop_class_uid, i.n_frames
          FROM instances i JOIN series s ON s.series_pk = i.series_pk
        {where} ORDER BY s.series_uid, i.instance_number, i.sop_uid""", params,
                  ints=["instance_number", "size_bytes", "n_frames"])


def cases(conn: sqlite3.Connection, *, organ_system: str | None = None,
          difficulty: str | None = None) -> pd.DataFrame:
    """See :meth:`caselib.catalog.Catalog.cases`."""
    conds: list[str] = []
    params: list[object] = []
    if organ_system is not None:
        conds.append("c.organ_system = ?")
        params.append(organ_system)
    if difficulty is not None:
        conds.append("c.difficulty = ?")
        params.append(difficulty)
    where = ("WHERE " + " AND ".join(conds)) if conds else ""
    return _frame(conn, f"""
        SELECT c.case_id, c.title_en, c.title_zh, c.organ_system,
               o.label_en AS organ_system_en, o.label_zh AS organ_system_zh,
               c.diagnosis_en, c.diagnosis_zh, c.difficulty,
               (SELECT json_group_array(tag) FROM
                  (SELECT t.tag FROM case_tags t WHERE t.case_pk = c.case_pk ORDER BY t.tag)) AS tags,
               (SELECT json_group_array(modality) FROM
                  (SELECT m.modality FROM case_modalities m WHERE m.case_pk = c.case_pk
                    ORDER BY m.modality)) AS modalities,
               (SELECT COUNT(*) FROM case_series cs WHERE cs.case_pk = c.case_pk) AS n_series,
               (SELECT COUNT(*) FROM case_series cs WHERE cs.case_pk = c.case_pk AND NOT EXISTS
                  (SELECT 1 FROM series s WHERE s.series_uid = cs.series_uid)) AS n_series_missing,
               c.synthetic
          FROM cases c JOIN organ_systems o ON o.code = c.organ_system
        {where} ORDER BY o.sort_order, c.case_id""", params,
                  ints=["n_series", "n_series_missing"], bools=["synthetic"],
                  json_lists=["tags", "modalities"])
