"""Read nbgrader's gradebook and caselib's graded responses into pandas DataFrames."""
from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from caselib.assignments import RESPONSE_MIMETYPE

__all__ = ["read_gradebook", "read_responses", "student_totals", "export_grades_csv", "gradebook_items"]

GRADEBOOK_COLUMNS = ["student", "assignment", "notebook", "cell", "score", "max_score", "auto_score",
                     "manual_score", "needs_manual_grade"]
RESPONSE_COLUMNS = ["student", "assignment", "part", "item", "kind", "response", "score", "max_score",
                    "organ_system", "options"]


def _db_url(gradebook: str | os.PathLike[str]) -> str:
    text = os.fspath(gradebook)
    if "://" in text:
        return text
    path = Path(text)
    if not path.is_file():
        raise FileNotFoundError(f"no nbgrader gradebook at {path} (expected the course's gradebook.db)")
    return f"sqlite:///{path.resolve()}"


def read_gradebook(gradebook: str | os.PathLike[str]) -> pd.DataFrame:
    """One row per graded cell of every submission in an nbgrader gradebook.

    Parameters
    ----------
    gradebook : path or URL
        ``gradebook.db`` of the course, or an SQLAlchemy URL.

    Returns
    -------
    pandas.DataFrame
        Columns ``student, assignment, notebook, cell, score, max_score,
        auto_score, manual_score, needs_manual_grade``; ``score`` is the
        manual score when there is one, else the automatic one (nbgrader's rule).
    """
    from nbgrader.api import Gradebook, MissingEntry

    rows: list[dict[str, Any]] = []
    with Gradebook(_db_url(gradebook)) as gb:
        students = [s.id for s in gb.students]
        for assignment in gb.assignments:
            for notebook in assignment.notebooks:
                for student in students:
                    try:
                        sub = gb.find_submission_notebook(notebook.name, assignment.name, student)
                    except MissingEntry:
                        continue
                    for g in sub.grades:
                        rows.append({"student": student, "assignment": assignment.name,
                                     "notebook": notebook.name, "cell": g.name,
                                     "score": float(g.score), "max_score": float(g.max_score),
                                     "auto_score": g.auto_score, "manual_score": g.manual_score,
                                     "needs_manual_grade": bool(g.needs_manual_grade)})
    return pd.DataFrame(rows, columns=GRADEBOOK_COLUMNS)


def _records(nb_path: Path) -> Iterable[dict[str, Any]]:
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []) or []:
            data = out.get("data") or {}
            if RESPONSE_MIMETYPE in data:
                record = data[RESPONSE_MIMETYPE]
                yield json.loads(record) if isinstance(record, str) else record


def read_responses(autograded: str | os.PathLike[str]) -> pd.DataFrame:
    """One row per graded item, from the autograded notebooks of a course.

    Parameters
    ----------
    autograded : path
        The course's ``autograded/`` folder (``<student>/<assignment>/*.ipynb``).

    Returns
    -------
    pandas.DataFrame
        Columns ``student, assignment, part, item, kind, response, score,
        max_score, organ_system, options`` (``options``: number of options
        of a choice item).  Cells whose visible test failed before the
        grader ran leave no rows; their points are 0 in the gradebook.
    """
    root = Path(autograded)
    if not root.is_dir():
        raise FileNotFoundError(f"no autograded folder at {root}")
    rows = []
    for nb_path in sorted(root.glob("*/*/*.ipynb")):
        for rec in _records(nb_path):
            for item in rec.get("items", []):
                rows.append({"student": rec["student"], "assignment": rec["assignment"],
                             "part": rec["part"], **{k: item.get(k) for k in RESPONSE_COLUMNS[3:]}})
    return pd.DataFrame(rows, columns=RESPONSE_COLUMNS)


def gradebook_items(cells: pd.DataFrame) -> pd.DataFrame:
    """Graded cells as items (``item = assignment/notebook/cell``) for :func:`item_analysis`.

    Without per-item records (:func:`read_responses`) each nbgrader grade
    cell is an item: the same cell for every student, whatever they drew.
    """
    out = cells[["student", "score", "max_score"]].copy()
    out["item"] = cells["assignment"] + "/" + cells["notebook"] + "/" + cells["cell"]
    return out[["student", "item", "score", "max_score"]]


def student_totals(cells: pd.DataFrame) -> pd.DataFrame:
    """Students x assignments table of points (from :func:`read_gradebook`), with ``total``."""
    if cells.empty:
        return pd.DataFrame(columns=["student", "total", "max_total"])
    points = cells.pivot_table(index="student", columns="assignment", values="score", aggfunc="sum")
    maxima = cells.groupby("assignment")["max_score"].sum() / cells.groupby("assignment")["student"].nunique()
    points.columns.name = None
    out = points.copy()
    out["total"] = points.sum(axis=1, min_count=1)
    out["max_total"] = float(maxima.sum())
    return out.reset_index()


def export_grades_csv(gradebook: str | os.PathLike[str], path: str | os.PathLike[str]) -> pd.DataFrame:
    """Write one row per student, one column per assignment (points), ``total`` and ``max_total``.

    UTF-8 with a BOM, so Excel and WPS open it correctly; a student who did
    not submit an assignment has an empty cell.  This is the file an LMS
    grade import takes today (``deploy/README.md``).

    Returns
    -------
    pandas.DataFrame
        What was written.
    """
    table = student_totals(read_gradebook(gradebook))
    table.to_csv(path, index=False, encoding="utf-8-sig", float_format="%.6g")
    return table
