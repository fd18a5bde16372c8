"""The teaching-case schema: ``case.yaml`` -> frozen, validated dataclasses.

A case is one folder holding ``case.yaml``.  Every text a student or teacher
reads is bilingual (``{zh: ..., en: ...}``).  What a student sees first
(:class:`StudentView`: history, technique, the series to open, the questions
without their answers) is kept apart from what is revealed later (findings
with image coordinates, diagnosis, differential, discussion).

Validation errors are :class:`CaseSchemaError`; the message names the file,
the field path, what was expected and what was found::

    cases/lung-001/case.yaml: findings[0].roi.radius_mm: expected a positive number, found -3

Minimal ``case.yaml`` (the values here are placeholders, not teaching text)::

    id: demo-001
    title: {zh: 示例, en: Example}
    organ_system: respiratory          # caselib.catalog.OrganSystem code or label
    modality: CT                       # or a list: [CT, MR]
    anatomy: {zh: 胸部, en: Chest}
    difficulty: primary                # primary | intermediate | advanced
    learning_objectives: [{zh: ..., en: ...}]
    history: {zh: ..., en: ...}
    technique: {zh: ..., en: ...}
    series:                            # what the student opens
      - {manifest_key: some-dataset/ct-001}      # or {series_uid: 1.2.3...}
    findings:
      - series: 0                      # index into `series` (or the key / UID itself)
        slice_index: 12
        roi: {shape: circle, row: 100, col: 120, radius_mm: 5}
        # or {shape: ellipse, row, col, radius_row_mm, radius_col_mm}
        # or {shape: point, row, col, tolerance_mm}
        description: {zh: ..., en: ...}
    diagnosis: {zh: ..., en: ...}      # only as stated by the source; otherwise
    # topic: {zh: ..., en: ...}        # anatomy / technique / physics taught instead (no confirmation)
    differential: [{zh: ..., en: ...}]
    discussion: {zh: ..., en: ...}
    teaching_points: [{zh: ..., en: ...}]
    confirmation: pathology            # pathology | follow_up | source_stated (with a diagnosis)
    source: ...                        # collection / dataset the images come from
    licence: CC-BY-4.0
    citation: ...
    synthetic: false
    tags: [measurement, HU]            # optional free tags for search and facets
    questions: []                      # see caselib.cases.questions

Pixel coordinates are ``(row, col)`` with ``(0, 0)`` the centre of the top-left
pixel; millimetres use the DICOM Pixel Spacing (0028,0030), which is
``(row spacing, column spacing)`` = (distance between rows, distance between
columns) in mm (PS3.3 10.7.1.3).
"""
from __future__ import annotations

import enum
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import yaml

from caselib.catalog.records import Difficulty, OrganSystem
from caselib.errors import CaselibError

__all__ = [
    "CaseSchemaError",
    "Text",
    "SeriesRef",
    "CircleROI",
    "EllipseROI",
    "PointROI",
    "ROI",
    "Finding",
    "Confirmation",
    "Case",
    "StudentView",
    "load_case",
    "collect_case_problems",
    "roi_from_dict",
    "check_pixel_spacing",
]

_MISSING = object()


class CaseSchemaError(CaselibError, ValueError):
    """A case or question file does not follow the schema.

    Attributes
    ----------
    origin : str or None
        The file (or other label) the data came from.
    path : str
        The field path, e.g. ``'findings[0].roi.radius_mm'``.
    expected : str
        What the schema wanted.
    found : str
        What was there, already formatted for the message.
    problems : list of CaseSchemaError
        Every problem found in the file (this error first); :func:`load_case`
        collects them all, so the message lists each one on its own line.
    """

    def __init__(self, origin: str | None, path: str, expected: str, found: str) -> None:
        self.origin = origin
        self.path = path
        self.expected = expected
        self.found = found
        self.problems: list[CaseSchemaError] = [self]
        prefix = f"{origin}: " if origin else ""
        where = f"{path}: " if path else ""
        super().__init__(f"{prefix}{where}expected {expected}, found {found}")

    @classmethod
    def combine(cls, problems: Sequence[CaseSchemaError]) -> CaseSchemaError:
        """One error that names every problem (attributes are the first problem's)."""
        first = problems[0]
        if len(problems) == 1:
            return first
        err = cls(first.origin, first.path, first.expected, first.found)
        err.problems = list(problems)
        err.args = ("\n".join(str(p) for p in problems),)  # one problem per line, the first first
        return err


def _show(value: object) -> str:
    """Format a found value for an error message."""
    if value is _MISSING:
        return "nothing (the field is missing)"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        text = value if len(value) <= 60 else value[:57] + "..."
        return repr(text)
    if isinstance(value, Mapping):
        return f"a mapping with keys {sorted(map(str, value))}"
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)} item(s)"
    return f"a {type(value).__name__}"


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


class _Reader:
    """Small typed accessors that raise :class:`CaseSchemaError` with the field path."""

    def __init__(self, origin: str | None) -> None:
        self.origin = origin

    def fail(self, path: str, expected: str, found: object) -> CaseSchemaError:
        return CaseSchemaError(self.origin, path, expected, _show(found))

    def mapping(self, value: object, path: str, allowed: Sequence[str]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(path, "a mapping", value)
        for key in value:
            if key not in allowed:
                raise CaseSchemaError(self.origin, _join(path, str(key)),
                                      "one of the fields " + ", ".join(allowed),
                                      f"unknown field {str(key)!r}")
        return value

    def get(self, m: Mapping[str, Any], key: str, path: str, required: bool = True) -> Any:
        if key in m:
            return m[key]
        if required:
            raise self.fail(_join(path, key), self._describe(key), _MISSING)
        return _MISSING

    @staticmethod
    def _describe(key: str) -> str:
        return f"a value for {key!r}"

    def string(self, value: object, path: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(path, "a non-empty string", value)
        return value.strip()

    def boolean(self, value: object, path: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(path, "true or false", value)
        return value

    def number(self, value: object, path: str, *, positive: bool = False,
               non_negative: bool = False) -> float:
        kind = ("a positive number" if positive else
                "a non-negative number" if non_negative else "a finite number")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.fail(path, kind, value)
        if positive and not value > 0:
            raise self.fail(path, kind, value)
        if non_negative and value < 0:
            raise self.fail(path, kind, value)
        return float(value)

    def index(self, value: object, path: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.fail(path, "a non-negative integer", value)
        return value

    def text(self, value: object, path: str) -> Text:
        if isinstance(value, Text):
            return value
        m = self.mapping(value, path, ("zh", "en"))
        zh = self.string(self.get(m, "zh", path), _join(path, "zh"))
        en = self.string(self.get(m, "en", path), _join(path, "en"))
        return Text(zh=zh, en=en)

    def seq(self, value: object, path: str, *, non_empty: bool = False) -> list[Any]:
        if not isinstance(value, (list, tuple)) or (non_empty and not value):
            raise self.fail(path, "a non-empty list" if non_empty else "a list", value)
        return list(value)

    def texts(self, value: object, path: str, *, non_empty: bool = False) -> tuple[Text, ...]:
        return tuple(self.text(v, _join(path, i))
                     for i, v in enumerate(self.seq(value, path, non_empty=non_empty)))

    def enum(self, value: object, path: str, parse: Any, codes: str) -> Any:
        try:
            if not isinstance(value, str):
                raise ValueError
            return parse(value)
        except (ValueError, TypeError):
            raise self.fail(path, f"one of {codes}", value) from None


# --------------------------------------------------------------------------- small types


@dataclass(frozen=True, slots=True)
class Text:
    """A bilingual text: Simplified Chinese and English, both required.

    Examples
    --------
    >>> Text(zh="肺结节", en="Pulmonary nodule").get("en")
    'Pulmonary nodule'
    """

    zh: str
    en: str

    def __post_init__(self) -> None:
        for name in ("zh", "en"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"Text.{name} must be a non-empty str, got {value!r}")

    def get(self, lang: str) -> str:
        """Return the text in ``lang`` (``'zh'`` or ``'en'``)."""
        if lang not in ("zh", "en"):
            raise ValueError(f"lang must be 'zh' or 'en', got {lang!r}")
        return self.zh if lang == "zh" else self.en

    def to_dict(self) -> dict[str, str]:
        """Return ``{'zh': ..., 'en': ...}``."""
        return {"zh": self.zh, "en": self.en}


@dataclass(frozen=True, slots=True)
class SeriesRef:
    """A series of images, named by a data-manifest key or a Series Instance UID.

    Exactly one of ``manifest_key`` and ``series_uid`` is set.

    Examples
    --------
    >>> SeriesRef(manifest_key="demo/ct-chest").ref
    'demo/ct-chest'
    """

    manifest_key: str | None = None
    series_uid: str | None = None

    def __post_init__(self) -> None:
        given = [v for v in (self.manifest_key, self.series_uid) if v is not None]
        if len(given) != 1:
            raise ValueError("SeriesRef needs exactly one of manifest_key and series_uid, "
                             f"got manifest_key={self.manifest_key!r}, series_uid={self.series_uid!r}")
        if not isinstance(given[0], str) or not given[0].strip():
            raise ValueError(f"SeriesRef reference must be a non-empty str, got {given[0]!r}")

    @property
    def ref(self) -> str:
        """The key or UID, whichever is set."""
        return self.manifest_key if self.manifest_key is not None else str(self.series_uid)

    def to_dict(self) -> dict[str, str]:
        """Return ``{'manifest_key': ...}`` or ``{'series_uid': ...}``."""
        if self.manifest_key is not None:
            return {"manifest_key": self.manifest_key}
        return {"series_uid": str(self.series_uid)}


def check_image_location(owner: str, series: Any, slice_index: Any, roi: Any) -> None:
    """Validate where on an image something points: a :class:`SeriesRef`, a
    non-negative slice index and a circle/ellipse/point ROI (``owner`` names
    the class in the message, e.g. ``"Finding"``)."""
    if not isinstance(series, SeriesRef):
        raise TypeError(f"{owner}.series must be a SeriesRef, got {type(series).__name__}")
    if isinstance(slice_index, bool) or not isinstance(slice_index, int) or slice_index < 0:
        raise ValueError(f"{owner}.slice_index must be a non-negative int, got {slice_index!r}")
    if not isinstance(roi, (CircleROI, EllipseROI, PointROI)):
        raise TypeError(f"{owner}.roi must be a CircleROI, EllipseROI or PointROI, "
                        f"got {type(roi).__name__}")


def check_pixel_spacing(pixel_spacing: Sequence[float]) -> tuple[float, float]:
    """Validate a DICOM Pixel Spacing ``(row_mm, col_mm)`` and return it as floats.

    Raises
    ------
    TypeError, ValueError
        If it is not two positive finite numbers.
    """
    if isinstance(pixel_spacing, (str, bytes)) or not isinstance(pixel_spacing, Sequence):
        raise TypeError("pixel_spacing must be a (row_mm, col_mm) pair, "
                        f"got {type(pixel_spacing).__name__}")
    if len(pixel_spacing) != 2:
        raise ValueError(f"pixel_spacing must have 2 values (row_mm, col_mm), got {len(pixel_spacing)}")
    out = []
    for v in pixel_spacing:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise TypeError(f"pixel_spacing values must be numbers, got {type(v).__name__}")
        if not math.isfinite(v) or v <= 0:
            raise ValueError(f"pixel_spacing values must be positive finite mm, got {v!r}")
        out.append(float(v))
    return out[0], out[1]


def _check_coord(owner: str, name: str, value: object, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{owner}.{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{owner}.{name} must be finite, got {value!r}")
    if positive and value <= 0:
        raise ValueError(f"{owner}.{name} must be positive, got {value!r}")
    if not positive and name.endswith("_mm") and value < 0:
        raise ValueError(f"{owner}.{name} must be non-negative, got {value!r}")
    return float(value)


def _offset_mm(row: float, col: float, c_row: float, c_col: float,
               pixel_spacing: Sequence[float]) -> tuple[float, float]:
    sr, sc = check_pixel_spacing(pixel_spacing)
    return (row - c_row) * sr, (col - c_col) * sc


@dataclass(frozen=True, slots=True)
class CircleROI:
    """A circle centred on pixel ``(row, col)`` with a radius in mm.

    Examples
    --------
    >>> CircleROI(100, 100, radius_mm=5).contains(100, 107, (0.7, 0.7))
    True
    """

    row: float
    col: float
    radius_mm: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "row", _check_coord("CircleROI", "row", self.row))
        object.__setattr__(self, "col", _check_coord("CircleROI", "col", self.col))
        object.__setattr__(self, "radius_mm",
                           _check_coord("CircleROI", "radius_mm", self.radius_mm, positive=True))

    def distance_outside_mm(self, row: float, col: float, pixel_spacing: Sequence[float]) -> float:
        """How far (mm) the point lies outside the circle; 0 inside or on the edge."""
        dr, dc = _offset_mm(row, col, self.row, self.col, pixel_spacing)
        return max(0.0, math.hypot(dr, dc) - self.radius_mm)

    def contains(self, row: float, col: float, pixel_spacing: Sequence[float],
                 tolerance_mm: float = 0.0) -> bool:
        """True if the point is inside, on the edge, or within ``tolerance_mm`` of it."""
        return self.distance_outside_mm(row, col, pixel_spacing) <= tolerance_mm + 1e-9

    def to_dict(self) -> dict[str, Any]:
        """Return the ``case.yaml`` form."""
        return {"shape": "circle", "row": self.row, "col": self.col, "radius_mm": self.radius_mm}


@dataclass(frozen=True, slots=True)
class EllipseROI:
    """An axis-aligned ellipse centred on pixel ``(row, col)``, semi-axes in mm.

    ``radius_row_mm`` is the semi-axis along the rows (vertical),
    ``radius_col_mm`` along the columns (horizontal).  With a tolerance the
    ellipse is grown by ``tolerance_mm`` on both semi-axes (an approximation of
    the offset curve, exact on the axes).
    """

    row: float
    col: float
    radius_row_mm: float
    radius_col_mm: float

    def __post_init__(self) -> None:
        for name in ("row", "col"):
            object.__setattr__(self, name, _check_coord("EllipseROI", name, getattr(self, name)))
        for name in ("radius_row_mm", "radius_col_mm"):
            object.__setattr__(self, name, _check_coord("EllipseROI", name, getattr(self, name),
                                                        positive=True))

    def contains(self, row: float, col: float, pixel_spacing: Sequence[float],
                 tolerance_mm: float = 0.0) -> bool:
        """True if the point is inside or on the (tolerance-grown) ellipse."""
        dr, dc = _offset_mm(row, col, self.row, self.col, pixel_spacing)
        a = self.radius_row_mm + tolerance_mm
        b = self.radius_col_mm + tolerance_mm
        return (dr / a) ** 2 + (dc / b) ** 2 <= 1.0 + 1e-9

    def to_dict(self) -> dict[str, Any]:
        """Return the ``case.yaml`` form."""
        return {"shape": "ellipse", "row": self.row, "col": self.col,
                "radius_row_mm": self.radius_row_mm, "radius_col_mm": self.radius_col_mm}


@dataclass(frozen=True, slots=True)
class PointROI:
    """A point ``(row, col)`` accepted within ``tolerance_mm``."""

    row: float
    col: float
    tolerance_mm: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "row", _check_coord("PointROI", "row", self.row))
        object.__setattr__(self, "col", _check_coord("PointROI", "col", self.col))
        object.__setattr__(self, "tolerance_mm",
                           _check_coord("PointROI", "tolerance_mm", self.tolerance_mm))

    def contains(self, row: float, col: float, pixel_spacing: Sequence[float],
                 tolerance_mm: float = 0.0) -> bool:
        """True if the point is within ``self.tolerance_mm + tolerance_mm`` mm."""
        dr, dc = _offset_mm(row, col, self.row, self.col, pixel_spacing)
        return math.hypot(dr, dc) <= self.tolerance_mm + tolerance_mm + 1e-9

    def to_dict(self) -> dict[str, Any]:
        """Return the ``case.yaml`` form."""
        return {"shape": "point", "row": self.row, "col": self.col,
                "tolerance_mm": self.tolerance_mm}


ROI = Union[CircleROI, EllipseROI, PointROI]

_ROI_FIELDS = {
    "circle": ("row", "col", "radius_mm"),
    "ellipse": ("row", "col", "radius_row_mm", "radius_col_mm"),
    "point": ("row", "col", "tolerance_mm"),
}


def _read_roi(r: _Reader, value: object, path: str) -> ROI:
    if not isinstance(value, Mapping):
        raise r.fail(path, "a mapping", value)
    m = value
    shape = r.get(m, "shape", path)
    if shape not in _ROI_FIELDS:
        raise r.fail(_join(path, "shape"), "one of circle, ellipse, point", shape)
    allowed = ("shape", *_ROI_FIELDS[shape])
    r.mapping(m, path, allowed)
    row = r.number(r.get(m, "row", path), _join(path, "row"), non_negative=True)
    col = r.number(r.get(m, "col", path), _join(path, "col"), non_negative=True)
    if shape == "circle":
        rad = r.number(r.get(m, "radius_mm", path), _join(path, "radius_mm"), positive=True)
        return CircleROI(row, col, rad)
    if shape == "ellipse":
        a = r.number(r.get(m, "radius_row_mm", path), _join(path, "radius_row_mm"), positive=True)
        b = r.number(r.get(m, "radius_col_mm", path), _join(path, "radius_col_mm"), positive=True)
        return EllipseROI(row, col, a, b)
    tol = r.get(m, "tolerance_mm", path, required=False)
    tol_v = 0.0 if tol is _MISSING else r.number(tol, _join(path, "tolerance_mm"), non_negative=True)
    return PointROI(row, col, tol_v)


def roi_from_dict(data: Mapping[str, Any], *, origin: str | None = None, path: str = "roi") -> ROI:
    """Build an ROI from its ``case.yaml`` mapping (``shape`` + fields).

    Raises
    ------
    CaseSchemaError
        With the field path, on any invalid field.
    """
    return _read_roi(_Reader(origin), data, path)


def _read_series_ref(r: _Reader, value: object, path: str) -> SeriesRef:
    m = r.mapping(value, path, ("manifest_key", "series_uid"))
    if ("manifest_key" in m) == ("series_uid" in m):
        raise r.fail(path, "exactly one of manifest_key, series_uid", value)
    if "manifest_key" in m:
        return SeriesRef(manifest_key=r.string(m["manifest_key"], _join(path, "manifest_key")))
    return SeriesRef(series_uid=r.string(m["series_uid"], _join(path, "series_uid")))


# --------------------------------------------------------------------------- findings, case


@dataclass(frozen=True, slots=True)
class Finding:
    """An imaging finding tied to a series, a slice and an ROI.

    Parameters
    ----------
    series : SeriesRef
        The series the finding is seen in (one of the case's series).
    slice_index : int
        0-based index of the slice (frame) in the series as displayed.
    roi : CircleROI, EllipseROI or PointROI
        Where on the slice, in pixel coordinates ``(row, col)``.
    description : Text
        What is seen.
    """

    series: SeriesRef
    slice_index: int
    roi: ROI
    description: Text

    def __post_init__(self) -> None:
        check_image_location("Finding", self.series, self.slice_index, self.roi)
        if not isinstance(self.description, Text):
            raise TypeError(f"Finding.description must be a Text, got {type(self.description).__name__}")

    def to_dict(self) -> dict[str, Any]:
        """Return the ``case.yaml`` form (series written out in full)."""
        return {"series": self.series.to_dict(), "slice_index": self.slice_index,
                "roi": self.roi.to_dict(), "description": self.description.to_dict()}


class Confirmation(str, enum.Enum):
    """How the diagnosis is known to be true.

    ``PATHOLOGY``: histopathology; ``FOLLOW_UP``: clinical/imaging follow-up;
    ``SOURCE_STATED``: as stated by the source collection (not verified by us).
    """

    PATHOLOGY = "pathology"
    FOLLOW_UP = "follow_up"
    SOURCE_STATED = "source_stated"


_CASE_FIELDS = (
    "id", "title", "organ_system", "modality", "anatomy", "difficulty", "learning_objectives",
    "history", "technique", "series", "findings", "diagnosis", "topic", "differential", "discussion",
    "teaching_points", "confirmation", "source", "licence", "citation", "synthetic", "questions", "tags",
)


@dataclass(frozen=True, slots=True)
class StudentView:
    """What a student sees before answering: no findings, diagnosis or answers.

    ``questions`` holds each question's public form
    (:meth:`caselib.cases.questions.Question.to_dict` with ``include_answer=False``).
    """

    id: str
    title: Text
    organ_system: OrganSystem
    modality: tuple[str, ...]
    anatomy: Text
    difficulty: Difficulty
    learning_objectives: tuple[Text, ...]
    history: Text
    technique: Text
    series: tuple[SeriesRef, ...]
    questions: tuple[Mapping[str, Any], ...]
    source: str
    licence: str
    citation: str
    synthetic: bool


@dataclass(frozen=True, slots=True)
class Case:
    """A teaching case, validated on construction.

    Build it with :func:`load_case` or :meth:`Case.from_dict`; the field list
    and YAML form are in the module docstring.  :meth:`student_view` returns
    what a student sees first.

    Examples
    --------
    >>> case = load_case("cases/demo-001")          # doctest: +SKIP
    >>> case.student_view().history.en              # doctest: +SKIP
    """

    id: str
    title: Text
    organ_system: OrganSystem
    modality: tuple[str, ...]
    anatomy: Text
    difficulty: Difficulty
    learning_objectives: tuple[Text, ...]
    history: Text
    technique: Text
    series: tuple[SeriesRef, ...]
    findings: tuple[Finding, ...]
    diagnosis: Text | None
    differential: tuple[Text, ...]
    discussion: Text
    teaching_points: tuple[Text, ...]
    confirmation: Confirmation | None
    source: str
    licence: str
    citation: str
    synthetic: bool
    questions: tuple[Any, ...] = field(default=())
    topic: Text | None = None
    tags: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        from caselib.cases.questions import Question

        tags = (self.tags,) if isinstance(self.tags, str) else tuple(self.tags)
        if not all(isinstance(t, str) and t.strip() for t in tags):
            raise ValueError(f"Case.tags must be non-empty strings, got {tags!r}")
        object.__setattr__(self, "tags", tuple(dict.fromkeys(" ".join(t.split()) for t in tags)))
        if not isinstance(self.id, str) or not self.id.strip():
            raise ValueError(f"Case.id must be a non-empty str, got {self.id!r}")
        object.__setattr__(self, "organ_system", OrganSystem.parse(self.organ_system))
        object.__setattr__(self, "difficulty", Difficulty.parse(self.difficulty))
        # a case teaches a diagnosis (stated by its source, with how it was confirmed) or,
        # where the source states none, a topic (anatomy, technique, physics): never both
        if (self.diagnosis is None) == (self.topic is None):
            raise ValueError(f"Case {self.id}: give exactly one of diagnosis and topic")
        if self.diagnosis is not None and self.confirmation is None:
            raise ValueError(f"Case {self.id}: a diagnosis needs its confirmation")
        if self.confirmation is not None:
            object.__setattr__(self, "confirmation", Confirmation(self.confirmation))
        for name in ("diagnosis", "topic"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), Text):
                raise TypeError(f"Case.{name} must be a Text, got {type(getattr(self, name)).__name__}")
        for name in ("title", "anatomy", "history", "technique", "discussion"):
            if not isinstance(getattr(self, name), Text):
                raise TypeError(f"Case.{name} must be a Text, got {type(getattr(self, name)).__name__}")
        for name in ("modality", "learning_objectives", "series", "findings", "differential",
                     "teaching_points", "questions"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not self.modality or not all(isinstance(m, str) and m.strip() for m in self.modality):
            raise ValueError(f"Case.modality must be non-empty strings, got {self.modality!r}")
        if not self.series:
            raise ValueError("Case.series must name at least one series")
        for f in self.findings:
            if f.series not in self.series:
                raise ValueError(f"Case {self.id}: a finding refers to series {f.series.ref!r}, "
                                 "which is not in Case.series")
        for q in self.questions:
            if not isinstance(q, Question):
                raise TypeError(f"Case.questions must hold Question objects, got {type(q).__name__}")
        ids = [q.id for q in self.questions]
        if len(set(ids)) != len(ids):
            raise ValueError(f"Case {self.id}: question ids repeat: {ids}")
        if not isinstance(self.synthetic, bool):
            raise TypeError(f"Case.synthetic must be a bool, got {type(self.synthetic).__name__}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, origin: str | None = None) -> Case:
        """Validate a parsed ``case.yaml`` mapping and build the case.

        Parameters
        ----------
        data : mapping
            The parsed YAML.
        origin : str, optional
            Label used as the prefix of error messages (the file path).

        Raises
        ------
        CaseSchemaError
            Naming the field path, what was expected and what was found.
        """
        from caselib.cases.questions import question_from_dict

        r = _Reader(origin)
        m = r.mapping(data, "", _CASE_FIELDS)
        g = lambda key: r.get(m, key, "")  # noqa: E731
        has_diagnosis = "diagnosis" in m
        if has_diagnosis == ("topic" in m):
            raise r.fail("diagnosis", "exactly one of 'diagnosis' (stated by the source) or 'topic' "
                         "(anatomy, technique, physics)",
                         "both" if has_diagnosis else "neither")
        case_id = r.string(g("id"), "id")
        modality_raw = g("modality")
        modality: tuple[str, ...]
        if isinstance(modality_raw, str):
            modality = (r.string(modality_raw, "modality"),)
        else:
            modality = tuple(r.string(v, f"modality[{i}]")
                             for i, v in enumerate(r.seq(modality_raw, "modality", non_empty=True)))
        series = tuple(_read_series_ref(r, v, f"series[{i}]")
                       for i, v in enumerate(r.seq(g("series"), "series", non_empty=True)))
        findings = []
        for i, fv in enumerate(r.seq(g("findings"), "findings")):
            p = f"findings[{i}]"
            fm = r.mapping(fv, p, ("series", "slice_index", "roi", "description"))
            sv = r.get(fm, "series", p)
            if isinstance(sv, int) and not isinstance(sv, bool):
                if not 0 <= sv < len(series):
                    raise r.fail(p + ".series", f"an index into series (0..{len(series) - 1})", sv)
                sref = series[sv]
            else:
                sref = _read_series_ref(r, sv, p + ".series")
                if sref not in series:
                    raise r.fail(p + ".series", "a series listed under series", sref.ref)
            findings.append(Finding(
                series=sref,
                slice_index=r.index(r.get(fm, "slice_index", p), p + ".slice_index"),
                roi=_read_roi(r, r.get(fm, "roi", p), p + ".roi"),
                description=r.text(r.get(fm, "description", p), p + ".description"),
            ))
        qraw = m.get("questions", [])
        questions = tuple(question_from_dict(q, origin=origin, path=f"questions[{i}]")
                          for i, q in enumerate(r.seq(qraw, "questions")))
        seen: set[str] = set()
        for i, q in enumerate(questions):
            if q.id in seen:
                raise r.fail(f"questions[{i}].id", "a question id unique in the case", q.id)
            seen.add(q.id)
        return cls(
            id=case_id,
            title=r.text(g("title"), "title"),
            organ_system=r.enum(g("organ_system"), "organ_system", OrganSystem.parse,
                                ", ".join(s.value for s in OrganSystem)),
            modality=modality,
            anatomy=r.text(g("anatomy"), "anatomy"),
            difficulty=r.enum(g("difficulty"), "difficulty", Difficulty.parse,
                              "primary, intermediate, advanced"),
            learning_objectives=r.texts(g("learning_objectives"), "learning_objectives",
                                        non_empty=True),
            history=r.text(g("history"), "history"),
            technique=r.text(g("technique"), "technique"),
            series=series,
            findings=tuple(findings),
            diagnosis=r.text(m["diagnosis"], "diagnosis") if has_diagnosis else None,
            topic=r.text(m["topic"], "topic") if "topic" in m else None,
            differential=r.texts(g("differential"), "differential"),
            discussion=r.text(g("discussion"), "discussion"),
            teaching_points=r.texts(g("teaching_points"), "teaching_points"),
            confirmation=r.enum(g("confirmation"), "confirmation", Confirmation,
                                ", ".join(c.value for c in Confirmation))
            if has_diagnosis or "confirmation" in m else None,
            source=r.string(g("source"), "source"),
            licence=r.string(g("licence"), "licence"),
            citation=r.string(g("citation"), "citation"),
            synthetic=r.boolean(g("synthetic"), "synthetic"),
            questions=questions,
            tags=tuple(r.string(v, f"tags[{i}]") for i, v in enumerate(r.seq(m.get("tags", []), "tags"))),
        )

    def student_view(self) -> StudentView:
        """Return what a student sees first: no findings, diagnosis, discussion or answers."""
        return StudentView(
            id=self.id, title=self.title, organ_system=self.organ_system, modality=self.modality,
            anatomy=self.anatomy, difficulty=self.difficulty,
            learning_objectives=self.learning_objectives, history=self.history,
            technique=self.technique, series=self.series,
            questions=tuple(q.to_dict(include_answer=False) for q in self.questions),
            source=self.source, licence=self.licence, citation=self.citation,
            synthetic=self.synthetic,
        )


def load_case(path: str | os.PathLike[str]) -> Case:
    """Load and validate a case from its folder (or its ``case.yaml``).

    Parameters
    ----------
    path : path-like
        The case folder holding ``case.yaml``, or the file itself.

    Returns
    -------
    Case

    Raises
    ------
    FileNotFoundError
        If there is no ``case.yaml``.
    CaseSchemaError
        If the YAML is malformed or does not follow the schema; the message
        starts with the file path.
    """
    data, origin = read_case_yaml(path, "case.yaml")
    try:
        return Case.from_dict(data, origin=origin)
    except CaseSchemaError as first:
        problems = collect_case_problems(data, origin=origin) or [first]
        raise CaseSchemaError.combine(problems) from None


def collect_case_problems(data: Any, *, origin: str | None = None) -> list[CaseSchemaError]:
    """Every schema problem of a parsed ``case.yaml``, each with its field path (empty: valid).

    :meth:`Case.from_dict` stops at the first problem; this checks each field,
    each finding and each question on its own, so a teacher sees all of them
    at once (``caselib cases validate``).

    Examples
    --------
    >>> [p.path for p in collect_case_problems({"id": "x", "title": {"zh": "题"}, "colour": 1})][:3]
    ['colour', 'diagnosis', 'source']
    """
    from caselib.cases.questions import question_from_dict

    r = _Reader(origin)
    problems: list[CaseSchemaError] = []

    def attempt(fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except CaseSchemaError as exc:
            problems.extend(exc.problems)
        except (ValueError, TypeError) as exc:
            problems.append(CaseSchemaError(origin, "", "a consistent case", str(exc)))
        return _MISSING

    if not isinstance(data, Mapping):
        return [r.fail("", "a mapping", data)]
    m = data
    for key in m:
        if key not in _CASE_FIELDS:
            problems.append(CaseSchemaError(origin, str(key), "one of the fields " + ", ".join(_CASE_FIELDS),
                                            f"unknown field {str(key)!r}"))
    has_diagnosis = "diagnosis" in m
    if has_diagnosis == ("topic" in m):
        problems.append(r.fail("diagnosis", "exactly one of 'diagnosis' (stated by the source) or 'topic' "
                               "(anatomy, technique, physics)", "both" if has_diagnosis else "neither"))
    if has_diagnosis and "confirmation" not in m:
        problems.append(r.fail("confirmation", "how the diagnosis is confirmed (" +
                               ", ".join(c.value for c in Confirmation) + ")", _MISSING))

    def field_(key: str, check: Any, required: bool = True) -> Any:
        if key not in m:
            if required:
                problems.append(r.fail(key, f"a value for {key!r}", _MISSING))
            return _MISSING
        return attempt(check, m[key], key)

    for key in ("id", "source", "licence", "citation"):
        field_(key, r.string)
    for key in ("title", "anatomy", "history", "technique", "discussion"):
        field_(key, r.text)
    for key in ("diagnosis", "topic"):
        field_(key, r.text, required=False)
    field_("organ_system", lambda v, p: r.enum(v, p, OrganSystem.parse, ", ".join(s.value for s in OrganSystem)))
    field_("difficulty", lambda v, p: r.enum(v, p, Difficulty.parse, "primary, intermediate, advanced"))
    field_("confirmation", lambda v, p: r.enum(v, p, Confirmation, ", ".join(c.value for c in Confirmation)),
           required=False)
    field_("synthetic", r.boolean)
    field_("learning_objectives", lambda v, p: r.texts(v, p, non_empty=True))
    for key in ("differential", "teaching_points"):
        field_(key, r.texts)
    field_("tags", lambda v, p: [r.string(t, f"{p}[{i}]") for i, t in enumerate(r.seq(v, p))], required=False)
    modality = m.get("modality", _MISSING)
    if modality is _MISSING:
        problems.append(r.fail("modality", "a modality such as CT, or a list of them", _MISSING))
    elif not isinstance(modality, str):
        items = attempt(lambda v, p: r.seq(v, p, non_empty=True), modality, "modality")
        for i, v in enumerate(items if isinstance(items, list) else []):
            attempt(r.string, v, f"modality[{i}]")
    else:
        attempt(r.string, modality, "modality")
    series: list[Any] = []
    raw_series = field_("series", lambda v, p: r.seq(v, p, non_empty=True))
    if isinstance(raw_series, list):
        series = [attempt(_read_series_ref, r, v, f"series[{i}]") for i, v in enumerate(raw_series)]
    raw_findings = field_("findings", r.seq)
    for i, fv in enumerate(raw_findings if isinstance(raw_findings, list) else []):
        p = f"findings[{i}]"
        fm = attempt(r.mapping, fv, p, ("series", "slice_index", "roi", "description"))
        if fm is _MISSING:
            continue
        for key in ("series", "slice_index", "roi", "description"):
            if key not in fm:
                problems.append(r.fail(_join(p, key), f"a value for {key!r}", _MISSING))
        sv = fm.get("series", _MISSING)
        if not series or _MISSING in series:
            pass  # the series list itself is wrong: reported above, not again for every finding
        elif isinstance(sv, int) and not isinstance(sv, bool):
            if not 0 <= sv < len(series):
                problems.append(r.fail(p + ".series", f"an index into series (0..{len(series) - 1})", sv))
        elif sv is not _MISSING:
            ref = attempt(_read_series_ref, r, sv, p + ".series")
            if isinstance(ref, SeriesRef) and ref not in series:
                problems.append(r.fail(p + ".series", "a series listed under series", ref.ref))
        if "slice_index" in fm:
            attempt(r.index, fm["slice_index"], p + ".slice_index")
        if "roi" in fm:
            attempt(_read_roi, r, fm["roi"], p + ".roi")
        if "description" in fm:
            attempt(r.text, fm["description"], p + ".description")
    raw_questions = field_("questions", r.seq, required=False)
    seen: dict[str, int] = {}
    for i, qv in enumerate(raw_questions if isinstance(raw_questions, list) else []):
        q = attempt(lambda v, p: question_from_dict(v, origin=origin, path=p), qv, f"questions[{i}]")
        if q is not _MISSING:
            if q.id in seen:
                problems.append(r.fail(f"questions[{i}].id", "a question id unique in the case", q.id))
            seen.setdefault(q.id, i)
    if not problems:
        attempt(lambda: Case.from_dict(m, origin=origin))
    return problems


def read_case_yaml(path: str | os.PathLike[str], filename: str) -> tuple[Any, str]:
    """Parse ``path`` (or ``path/filename`` for a folder); return the data and its origin label.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    CaseSchemaError
        If the YAML is malformed (the message starts with the file path).
    """
    p = Path(path)
    if p.is_dir():
        p = p / filename
    if not p.is_file():
        raise FileNotFoundError(f"no {filename} at {p}")
    origin = str(p)
    try:
        return yaml.safe_load(p.read_text(encoding="utf-8-sig")), origin
    except yaml.YAMLError as exc:
        raise CaseSchemaError(origin, "", "valid YAML", f"a YAML error: {exc}") from None
