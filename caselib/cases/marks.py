"""Marks a student places on an image: points, ellipses and lines, as data.

A :class:`Mark` is what the viewer (:mod:`caselib.ui.viewer`) records when a
student clicks a point, draws an elliptical ROI or measures a distance, and
what graders read back.  Standard library only (no numpy, no widgets), so
nbgrader and autograder cells can load marks anywhere.

Coordinates
-----------
- ``slice_index``: 0-based index of the slice (frame) in the series *as
  displayed* (:class:`caselib.dicom.Series` order, sorted along the normal),
  the same index as :attr:`caselib.cases.Finding.slice_index` and
  :attr:`caselib.cases.Hotspot.slice_index`.
- ``row``, ``col``: pixel coordinates (floats) of the mark's centre; pixel
  ``(r, c)`` covers ``[r - 0.5, r + 0.5) x [c - 0.5, c + 0.5)``, so the centre
  of the first pixel is ``(0.0, 0.0)``.
- ``patient_mm``: the point in the patient's LPS frame (mm), computed from the
  series' voxel-to-patient affine when it is known (:func:`mark_to_patient`),
  else ``None``.
- An ellipse has semi-axes ``radius_row`` (vertical) and ``radius_col``
  (horizontal) in pixels; a line goes from ``(row, col)`` to
  ``(end_row, end_col)``.

File format (``save_marks`` / ``load_marks``), UTF-8 JSON::

    {"format": "caselib-marks", "version": 1, "case_id": "...", "student": "...",
     "marks": [{"kind": "point", "series_uid": "1.2...", "slice_index": 14,
                "row": 201.5, "col": 310.0, "patient_mm": [-12.1, 30.4, -160.0],
                "label": "nodule"}, ...]}

Examples
--------
>>> m = Mark(kind="point", series_uid="1.2.3", slice_index=4, row=10.0, col=12.5)
>>> hotspot_answer(m)
(4, 10.0, 12.5)
>>> Mark.from_dict(m.to_dict()) == m
True
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "MARK_KINDS",
    "MARKS_FORMAT",
    "MARKS_VERSION",
    "Mark",
    "MarksFile",
    "MarksFormatError",
    "save_marks",
    "load_marks",
    "load_marks_file",
    "mark_to_patient",
    "hotspot_answer",
    "grade_mark",
    "last_point",
]

MARK_KINDS = ("point", "ellipse", "line")
MARKS_FORMAT = "caselib-marks"
MARKS_VERSION = 1


class MarksFormatError(ValueError):
    """A marks file (or mark dict) is not what :func:`load_marks` expects."""


def _float(owner: str, name: str, value: object, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{owner}.{name} must be a number, got {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{owner}.{name} must be finite, got {value!r}")
    if positive and value <= 0:
        raise ValueError(f"{owner}.{name} must be positive, got {value!r}")
    return float(value)


def _triple(owner: str, name: str, value: object) -> tuple[float, float, float] | None:
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 3:
        raise TypeError(f"{owner}.{name} must be (x, y, z) in mm or None, got {value!r}")
    x, y, z = (_float(owner, name, v) for v in value)
    return (x, y, z)


@dataclass(frozen=True, kw_only=True)
class Mark:
    """One mark on one slice of one series.

    Parameters
    ----------
    kind : str
        ``"point"``, ``"ellipse"`` or ``"line"``.
    series_uid : str
        (0020,000E) Series Instance UID of the series shown (may be empty
        for synthetic arrays).
    slice_index : int
        0-based slice index in display order.
    row, col : float
        Pixel coordinates of the point / ellipse centre / line start.
    patient_mm : (x, y, z) or None
        The same point in patient LPS mm, when the geometry is known.
    label : str
        Free text (e.g. what the student thinks it is).
    radius_row, radius_col : float or None
        Ellipse semi-axes in pixels (required for ``"ellipse"``, else None).
    end_row, end_col : float or None
        Line end (required for ``"line"``, else None).
    end_patient_mm : (x, y, z) or None
        Line end in patient LPS mm.
    pixel_spacing : (row_mm, col_mm) or None
        (0028,0030) of the slice, so the mark can be measured without the image.
    measurements : mapping of str to float
        Values the viewer measured (``mean``, ``sd``, ``area_mm2``,
        ``length_mm``, ``value``...), for display and feedback; graders should
        recompute what they grade.
    """

    kind: str
    series_uid: str
    slice_index: int
    row: float
    col: float
    patient_mm: tuple[float, float, float] | None = None
    label: str = ""
    radius_row: float | None = None
    radius_col: float | None = None
    end_row: float | None = None
    end_col: float | None = None
    end_patient_mm: tuple[float, float, float] | None = None
    pixel_spacing: tuple[float, float] | None = None
    measurements: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        o = "Mark"
        if self.kind not in MARK_KINDS:
            raise ValueError(f"{o}.kind must be one of {', '.join(MARK_KINDS)}, got {self.kind!r}")
        if not isinstance(self.series_uid, str):
            raise TypeError(f"{o}.series_uid must be a str, got {type(self.series_uid).__name__}")
        if isinstance(self.slice_index, bool) or not isinstance(self.slice_index, int) \
                or self.slice_index < 0:
            raise ValueError(f"{o}.slice_index must be a non-negative int, got {self.slice_index!r}")
        object.__setattr__(self, "row", _float(o, "row", self.row))
        object.__setattr__(self, "col", _float(o, "col", self.col))
        object.__setattr__(self, "patient_mm", _triple(o, "patient_mm", self.patient_mm))
        object.__setattr__(self, "end_patient_mm", _triple(o, "end_patient_mm", self.end_patient_mm))
        if not isinstance(self.label, str):
            raise TypeError(f"{o}.label must be a str, got {type(self.label).__name__}")
        radii = (self.radius_row, self.radius_col)
        end = (self.end_row, self.end_col)
        if self.kind == "ellipse":
            if None in radii:
                raise ValueError(f"an ellipse Mark needs radius_row and radius_col (pixels), got {radii}")
            object.__setattr__(self, "radius_row", _float(o, "radius_row", self.radius_row, positive=True))
            object.__setattr__(self, "radius_col", _float(o, "radius_col", self.radius_col, positive=True))
        elif radii != (None, None):
            raise ValueError(f"only an ellipse Mark has radii; a {self.kind} got {radii}")
        if self.kind == "line":
            if None in end:
                raise ValueError(f"a line Mark needs end_row and end_col, got {end}")
            object.__setattr__(self, "end_row", _float(o, "end_row", self.end_row))
            object.__setattr__(self, "end_col", _float(o, "end_col", self.end_col))
        elif end != (None, None) or self.end_patient_mm is not None:
            raise ValueError(f"only a line Mark has an end; a {self.kind} got {end}")
        if self.pixel_spacing is not None:
            ps = self.pixel_spacing
            if isinstance(ps, (str, bytes)) or not isinstance(ps, Sequence) or len(ps) != 2:
                raise TypeError(f"{o}.pixel_spacing must be (row_mm, col_mm), got {ps!r}")
            object.__setattr__(self, "pixel_spacing", (_float(o, "pixel_spacing", ps[0], positive=True),
                                                        _float(o, "pixel_spacing", ps[1], positive=True)))
        if not isinstance(self.measurements, Mapping):
            raise TypeError(f"{o}.measurements must be a mapping, got {type(self.measurements).__name__}")
        object.__setattr__(self, "measurements",
                           {str(k): _float(o, f"measurements[{k!r}]", v) for k, v in self.measurements.items()})

    @property
    def pixel(self) -> tuple[float, float]:
        """``(row, col)``."""
        return (self.row, self.col)

    def length_mm(self) -> float | None:
        """In-plane length of a line mark in mm (None without pixel spacing or for other kinds)."""
        if self.kind != "line" or self.pixel_spacing is None:
            return None
        assert self.end_row is not None and self.end_col is not None
        dr = (self.end_row - self.row) * self.pixel_spacing[0]
        dc = (self.end_col - self.col) * self.pixel_spacing[1]
        return math.hypot(dr, dc)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form (fields that are None or empty are left out)."""
        d: dict[str, Any] = {"kind": self.kind, "series_uid": self.series_uid,
                             "slice_index": self.slice_index, "row": self.row, "col": self.col}
        for name in ("patient_mm", "end_patient_mm", "pixel_spacing"):
            v = getattr(self, name)
            if v is not None:
                d[name] = list(v)
        for name in ("radius_row", "radius_col", "end_row", "end_col"):
            v = getattr(self, name)
            if v is not None:
                d[name] = v
        if self.label:
            d["label"] = self.label
        if self.measurements:
            d["measurements"] = dict(self.measurements)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "mark") -> Mark:
        """Build a mark from its JSON form.

        Raises
        ------
        MarksFormatError
            Naming ``where`` (e.g. ``marks.json: marks[2]``), the field, what
            was expected and what was found.
        """
        if not isinstance(data, Mapping):
            raise MarksFormatError(f"{where}: expected a mapping, found {type(data).__name__}")
        known = {"kind", "series_uid", "slice_index", "row", "col", "patient_mm", "label",
                 "radius_row", "radius_col", "end_row", "end_col", "end_patient_mm",
                 "pixel_spacing", "measurements"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise MarksFormatError(f"{where}: unknown field(s) {', '.join(unknown)}; "
                                   f"expected some of {', '.join(sorted(known))}")
        for required in ("kind", "slice_index", "row", "col"):
            if required not in data:
                raise MarksFormatError(f"{where}: missing field {required!r}")
        kwargs = dict(data)
        kwargs.setdefault("series_uid", "")
        for name in ("patient_mm", "end_patient_mm", "pixel_spacing"):
            if isinstance(kwargs.get(name), list):
                kwargs[name] = tuple(kwargs[name])
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as exc:
            raise MarksFormatError(f"{where}: {exc}") from None


def mark_to_patient(row: float, col: float, slice_index: float,
                    affine: Any) -> tuple[float, float, float]:
    """Map pixel ``(row, col)`` on slice ``slice_index`` to patient LPS mm.

    ``affine`` is the 4x4 voxel-to-patient matrix of
    :attr:`caselib.dicom.Series.affine` (``(column, row, slice, 1)`` -> LPS,
    PS3.3 C.7.6.2.1.1), given as any nested sequence (a numpy array works).

    Examples
    --------
    >>> A = [[0.5, 0, 0, -100], [0, 0.5, 0, -120], [0, 0, 2.0, 30], [0, 0, 0, 1]]
    >>> mark_to_patient(10, 20, 3, A)
    (-90.0, -115.0, 36.0)
    """
    rows = [list(map(float, affine[i])) for i in range(3)]
    if any(len(r) != 4 for r in rows):
        raise ValueError(f"affine must be 4x4 (or 3x4), got rows of length {[len(r) for r in rows]}")
    v = (float(col), float(row), float(slice_index), 1.0)
    x, y, z = (sum(r[j] * v[j] for j in range(4)) for r in rows)
    return (x, y, z)


def hotspot_answer(mark: Mark) -> tuple[int, float, float]:
    """The answer a :class:`~caselib.cases.Hotspot` grader takes: ``(slice_index, row, col)``.

    Only point marks are answers to a hotspot question.

    Raises
    ------
    ValueError
        For an ellipse or a line mark.
    """
    if not isinstance(mark, Mark):
        raise TypeError(f"expected a Mark, got {type(mark).__name__}")
    if mark.kind != "point":
        raise ValueError(f"a hotspot answer is a point mark, got kind {mark.kind!r} "
                         f"(slice {mark.slice_index})")
    return (mark.slice_index, mark.row, mark.col)


def last_point(marks: Iterable[Mark], *, label: str | None = None,
               series_uid: str | None = None) -> Mark | None:
    """The last point mark (optionally with this label / on this series), or None."""
    found = None
    for m in marks:
        if m.kind != "point":
            continue
        if label is not None and m.label != label:
            continue
        if series_uid is not None and m.series_uid != series_uid:
            continue
        found = m
    return found


def grade_mark(question: Any, mark: Mark | None) -> Any:
    """Grade a point mark against a :class:`~caselib.cases.Hotspot` question.

    ``None`` (no mark) scores 0 like any empty answer.  When the question
    names its series by UID and the mark carries a different non-empty UID,
    the mark is on another series and scores 0.

    Returns
    -------
    caselib.cases.GradeResult
    """
    from caselib.cases.grading import _result, grade_hotspot  # no import cycle at module load
    from caselib.cases.questions import Hotspot

    if not isinstance(question, Hotspot):
        raise TypeError(f"grade_mark() grades a Hotspot question, got {type(question).__name__}")
    if mark is None:
        return grade_hotspot(question, None)
    want = question.series.series_uid
    if want and mark.series_uid and mark.series_uid != want:
        return _result(question, 0.0, "错误：标记不在本题的序列上。",
                       "Incorrect: the mark is on another series.")
    return grade_hotspot(question, hotspot_answer(mark))


@dataclass(frozen=True)
class MarksFile:
    """The contents of a marks file."""

    marks: tuple[Mark, ...]
    case_id: str | None = None
    student: str | None = None


def save_marks(path: str | os.PathLike[str], marks: Iterable[Mark], *,
               case_id: str | None = None, student: str | None = None) -> Path:
    """Write `marks` to `path` as JSON (atomically: a temporary file renamed into place).

    Returns the path written.
    """
    items = list(marks)
    for i, m in enumerate(items):
        if not isinstance(m, Mark):
            raise TypeError(f"marks[{i}] must be a Mark, got {type(m).__name__}")
    doc: dict[str, Any] = {"format": MARKS_FORMAT, "version": MARKS_VERSION}
    if case_id is not None:
        doc["case_id"] = str(case_id)
    if student is not None:
        doc["student"] = str(student)
    doc["marks"] = [m.to_dict() for m in items]
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, target)
    return target


def load_marks_file(path: str | os.PathLike[str]) -> MarksFile:
    """Read a marks file with its case id and student.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    MarksFormatError
        If it is not a caselib marks file; the message names the file, the
        place, what was expected and what was found.
    """
    p = Path(path)
    raw = p.read_bytes()
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise MarksFormatError(f"{p}: expected UTF-8 JSON, found undecodable bytes ({exc.reason} "
                               f"at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise MarksFormatError(f"{p}: expected JSON, found a syntax error at line {exc.lineno} "
                               f"column {exc.colno}: {exc.msg}") from None
    if not isinstance(doc, Mapping):
        raise MarksFormatError(f"{p}: expected a JSON object, found {type(doc).__name__}")
    if doc.get("format") != MARKS_FORMAT:
        raise MarksFormatError(f"{p}: expected \"format\": \"{MARKS_FORMAT}\", "
                               f"found {doc.get('format')!r}")
    if doc.get("version") != MARKS_VERSION:
        raise MarksFormatError(f"{p}: expected \"version\": {MARKS_VERSION}, found {doc.get('version')!r}")
    items = doc.get("marks")
    if not isinstance(items, list):
        raise MarksFormatError(f"{p}: expected \"marks\" to be a list, found {type(items).__name__}")
    marks = tuple(Mark.from_dict(m, where=f"{p}: marks[{i}]") for i, m in enumerate(items))
    for key in ("case_id", "student"):
        if key in doc and doc[key] is not None and not isinstance(doc[key], str):
            raise MarksFormatError(f"{p}: expected \"{key}\" to be a string, found {doc[key]!r}")
    return MarksFile(marks=marks, case_id=doc.get("case_id"), student=doc.get("student"))


def load_marks(path: str | os.PathLike[str]) -> list[Mark]:
    """Read the marks of a file written by :func:`save_marks` (see :func:`load_marks_file`)."""
    return list(load_marks_file(path).marks)
