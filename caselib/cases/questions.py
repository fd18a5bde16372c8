"""Question types of the question bank, as frozen, validated dataclasses.

Every question has ``id``, a bilingual ``prompt``, ``max_score`` (default 1),
an optional bilingual ``explanation`` shown after grading and an optional
``image`` (:class:`QuestionImage`: the series, slice and display window the
question is asked on; exports render it as a PNG at that window).  For a
hotspot the image is its own series and slice, and ``image`` only sets the
window.  The answer
fields of each type are listed with it; :meth:`Question.to_dict` with
``include_answer=False`` gives the public form a student sees.

========================  ===================================================
``type``                  answer fields (hidden from students)
========================  ===================================================
``single_choice``         ``options`` (public), ``answer``: 0-based index
``multiple_choice``       ``options`` (public), ``answers``: 0-based indices
``true_false``            ``answer``: bool
``numeric``               ``answer``, ``abs_tol``, ``rel_tol``; ``unit`` public
``hotspot``               ``roi``, ``tolerance_mm``; ``series``,
                          ``slice_index``, ``pixel_spacing`` public
``window``                ``center_range``, ``width_range`` (inclusive)
``ordering``              ``items`` (public, stored in display order),
                          ``answer``: item indices in the correct order;
                          ``scoring``: ``kendall`` or ``all_or_nothing``
``free_text``             ``rubric``, ``model_answer`` (graded by hand)
========================  ===================================================

The grading rules are in :mod:`caselib.cases.grading`.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from caselib.cases.schema import (
    ROI,
    Finding,
    SeriesRef,
    Text,
    _MISSING,
    _join,
    _read_roi,
    _read_series_ref,
    _Reader,
    check_image_location,
    check_pixel_spacing,
)

__all__ = [
    "QuestionImage",
    "Question",
    "SingleChoice",
    "MultipleChoice",
    "TrueFalse",
    "Numeric",
    "Hotspot",
    "WindowChoice",
    "Ordering",
    "FreeText",
    "QUESTION_TYPES",
    "question_from_dict",
]


def _num(owner: str, name: str, value: object, *, non_negative: bool = False,
         positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{owner}.{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{owner}.{name} must be finite, got {value!r}")
    if positive and value <= 0:
        raise ValueError(f"{owner}.{name} must be positive, got {value!r}")
    if non_negative and value < 0:
        raise ValueError(f"{owner}.{name} must be non-negative, got {value!r}")
    return float(value)


def _texts(owner: str, name: str, value: object, minimum: int) -> tuple[Text, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(f"{owner}.{name} must be a sequence of Text, got {type(value).__name__}")
    out = tuple(value)
    if not all(isinstance(t, Text) for t in out):
        raise TypeError(f"{owner}.{name} must hold Text objects")
    if len(out) < minimum:
        raise ValueError(f"{owner}.{name} needs at least {minimum} entries, got {len(out)}")
    return out


def _range(owner: str, name: str, value: object) -> tuple[float, float]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise TypeError(f"{owner}.{name} must be a (low, high) pair, got {value!r}")
    lo = _num(owner, name, value[0])
    hi = _num(owner, name, value[1])
    if lo > hi:
        raise ValueError(f"{owner}.{name} must have low <= high, got {value!r}")
    return lo, hi


def _index(owner: str, name: str, value: object, n: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{owner}.{name} must be an int index, got {type(value).__name__}")
    if not 0 <= value < n:
        raise ValueError(f"{owner}.{name} must be an index in 0..{n - 1}, got {value}")
    return value


@dataclass(frozen=True, slots=True)
class QuestionImage:
    """The image a question is asked on: a slice of a series shown at a window.

    Parameters
    ----------
    series : SeriesRef
        Data-manifest key or Series Instance UID.
    slice_index : int
        0-based slice (frame) in display order.
    window : (center, width) or None
        The display window in modality units (HU for CT); None: the image's own
        (stored window, else an automatic one).

    Examples
    --------
    >>> QuestionImage(SeriesRef(manifest_key="tcia-lung-ct"), 21, (-600, 1500)).to_dict()["window"]
    [-600.0, 1500.0]
    """

    series: SeriesRef
    slice_index: int
    window: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.series, SeriesRef):
            raise TypeError(f"QuestionImage.series must be a SeriesRef, got {type(self.series).__name__}")
        if isinstance(self.slice_index, bool) or not isinstance(self.slice_index, int) or self.slice_index < 0:
            raise ValueError(f"QuestionImage.slice_index must be a non-negative int, got {self.slice_index!r}")
        if self.window is not None:
            if isinstance(self.window, (str, bytes)) or not isinstance(self.window, Sequence) or len(self.window) != 2:
                raise TypeError(f"QuestionImage.window must be (center, width), got {self.window!r}")
            c = _num("QuestionImage", "window center", self.window[0])
            w = _num("QuestionImage", "window width", self.window[1])
            if w < 1:
                raise ValueError(f"QuestionImage.window width must be >= 1 (PS3.3 C.11.2.1.2), got {w!r}")
            object.__setattr__(self, "window", (c, w))

    def to_dict(self) -> dict[str, Any]:
        """The YAML form: ``{series: {...}, slice_index: N, window: [center, width]}``."""
        d: dict[str, Any] = {"series": self.series.to_dict(), "slice_index": self.slice_index}
        if self.window is not None:
            d["window"] = list(self.window)
        return d


@dataclass(frozen=True, kw_only=True)
class Question:
    """Base class of all question types (not instantiated directly).

    Parameters
    ----------
    id : str
        Unique within a case or bank.
    prompt : Text
        The question as the student reads it.
    max_score : float
        Points for a fully correct answer (positive, default 1).
    explanation : Text, optional
        Shown after grading.
    image : QuestionImage, optional
        The slice and window the question is asked on (public: part of what a
        student sees).
    """

    kind: ClassVar[str] = ""
    id: str
    prompt: Text
    max_score: float = 1.0
    explanation: Text | None = None
    image: QuestionImage | None = None

    def __post_init__(self) -> None:
        name = type(self).__name__
        if type(self) is Question:
            raise TypeError("Question is abstract: use SingleChoice, Numeric, ...")
        if not isinstance(self.id, str) or not self.id.strip():
            raise ValueError(f"{name}.id must be a non-empty str, got {self.id!r}")
        if not isinstance(self.prompt, Text):
            raise TypeError(f"{name}.prompt must be a Text, got {type(self.prompt).__name__}")
        if self.explanation is not None and not isinstance(self.explanation, Text):
            raise TypeError(f"{name}.explanation must be a Text or None")
        if self.image is not None and not isinstance(self.image, QuestionImage):
            raise TypeError(f"{name}.image must be a QuestionImage or None, got {type(self.image).__name__}")
        object.__setattr__(self, "max_score", _num(name, "max_score", self.max_score, positive=True))
        self._validate()

    def _validate(self) -> None:  # pragma: no cover - overridden
        pass

    def _public(self) -> dict[str, Any]:
        return {}

    def _answer(self) -> dict[str, Any]:
        return {}

    def to_dict(self, include_answer: bool = True) -> dict[str, Any]:
        """Return the YAML/JSON form.

        Parameters
        ----------
        include_answer : bool
            False gives the public form (no answer, tolerance, ROI, rubric or
            explanation), the one a :class:`~caselib.cases.schema.StudentView` holds.
        """
        d: dict[str, Any] = {"type": self.kind, "id": self.id, "prompt": self.prompt.to_dict(),
                             "max_score": self.max_score}
        if self.image is not None:
            d["image"] = self.image.to_dict()
        d.update(self._public())
        if include_answer:
            d.update(self._answer())
            if self.explanation is not None:
                d["explanation"] = self.explanation.to_dict()
        return d


@dataclass(frozen=True, kw_only=True)
class SingleChoice(Question):
    """One correct option among ``options``; ``answer`` is its 0-based index."""

    kind: ClassVar[str] = "single_choice"
    options: tuple[Text, ...]
    answer: int

    def _validate(self) -> None:
        object.__setattr__(self, "options", _texts("SingleChoice", "options", self.options, 2))
        _index("SingleChoice", "answer", self.answer, len(self.options))

    def _public(self) -> dict[str, Any]:
        return {"options": [o.to_dict() for o in self.options]}

    def _answer(self) -> dict[str, Any]:
        return {"answer": self.answer}


@dataclass(frozen=True, kw_only=True)
class MultipleChoice(Question):
    """Several correct options; ``answers`` are their 0-based indices (at least one)."""

    kind: ClassVar[str] = "multiple_choice"
    options: tuple[Text, ...]
    answers: tuple[int, ...]

    def _validate(self) -> None:
        object.__setattr__(self, "options", _texts("MultipleChoice", "options", self.options, 2))
        if isinstance(self.answers, (str, bytes, int)) or not isinstance(self.answers, (Sequence, set, frozenset)):
            raise TypeError(f"MultipleChoice.answers must be a collection of indices, "
                            f"got {type(self.answers).__name__}")
        ans = sorted({_index("MultipleChoice", "answers", a, len(self.options)) for a in self.answers})
        if not ans:
            raise ValueError("MultipleChoice.answers needs at least one correct option")
        object.__setattr__(self, "answers", tuple(ans))

    def _public(self) -> dict[str, Any]:
        return {"options": [o.to_dict() for o in self.options]}

    def _answer(self) -> dict[str, Any]:
        return {"answers": list(self.answers)}


@dataclass(frozen=True, kw_only=True)
class TrueFalse(Question):
    """A statement that is true or false."""

    kind: ClassVar[str] = "true_false"
    answer: bool

    def _validate(self) -> None:
        if not isinstance(self.answer, bool):
            raise TypeError(f"TrueFalse.answer must be a bool, got {type(self.answer).__name__}")

    def _answer(self) -> dict[str, Any]:
        return {"answer": self.answer}


@dataclass(frozen=True, kw_only=True)
class Numeric(Question):
    """A number (HU, mm, a ratio...) accepted within a tolerance.

    Correct when ``|x - answer| <= max(abs_tol, rel_tol * |answer|)``
    (boundaries inclusive).
    """

    kind: ClassVar[str] = "numeric"
    answer: float
    abs_tol: float = 0.0
    rel_tol: float = 0.0
    unit: str = ""

    def _validate(self) -> None:
        object.__setattr__(self, "answer", _num("Numeric", "answer", self.answer))
        object.__setattr__(self, "abs_tol", _num("Numeric", "abs_tol", self.abs_tol, non_negative=True))
        object.__setattr__(self, "rel_tol", _num("Numeric", "rel_tol", self.rel_tol, non_negative=True))
        if not isinstance(self.unit, str):
            raise TypeError(f"Numeric.unit must be a str, got {type(self.unit).__name__}")

    def _public(self) -> dict[str, Any]:
        return {"unit": self.unit}

    def _answer(self) -> dict[str, Any]:
        return {"answer": self.answer, "abs_tol": self.abs_tol, "rel_tol": self.rel_tol}


@dataclass(frozen=True, kw_only=True)
class Hotspot(Question):
    """Click the finding: ``(row, col)`` on ``slice_index`` of ``series`` inside ``roi``.

    ``pixel_spacing`` is the slice's (0028,0030) ``(row_mm, col_mm)``, used to
    turn pixel offsets into mm; ``tolerance_mm`` widens the ROI.
    """

    kind: ClassVar[str] = "hotspot"
    series: SeriesRef
    slice_index: int
    roi: ROI
    pixel_spacing: tuple[float, float]
    tolerance_mm: float = 0.0

    def _validate(self) -> None:
        check_image_location("Hotspot", self.series, self.slice_index, self.roi)
        object.__setattr__(self, "pixel_spacing", check_pixel_spacing(self.pixel_spacing))
        object.__setattr__(self, "tolerance_mm",
                           _num("Hotspot", "tolerance_mm", self.tolerance_mm, non_negative=True))

    @classmethod
    def from_finding(cls, finding: Finding, *, id: str, prompt: Text,
                     pixel_spacing: Sequence[float], tolerance_mm: float = 0.0,
                     max_score: float = 1.0, explanation: Text | None = None) -> Hotspot:
        """Build a hotspot question on a case finding (its series, slice and ROI).

        Examples
        --------
        >>> from caselib.cases.schema import Finding, CircleROI, SeriesRef, Text
        >>> f = Finding(SeriesRef(manifest_key="demo/ct"), 3, CircleROI(10, 10, 2), Text(zh="甲", en="a"))
        >>> Hotspot.from_finding(f, id="h1", prompt=Text(zh="点击", en="Click"),
        ...                      pixel_spacing=(0.5, 0.5)).slice_index
        3
        """
        if not isinstance(finding, Finding):
            raise TypeError(f"finding must be a Finding, got {type(finding).__name__}")
        return cls(id=id, prompt=prompt, series=finding.series, slice_index=finding.slice_index,
                   roi=finding.roi, pixel_spacing=tuple(pixel_spacing),  # type: ignore[arg-type]
                   tolerance_mm=tolerance_mm, max_score=max_score, explanation=explanation)

    def _public(self) -> dict[str, Any]:
        return {"series": self.series.to_dict(), "slice_index": self.slice_index,
                "pixel_spacing": list(self.pixel_spacing)}

    def _answer(self) -> dict[str, Any]:
        return {"roi": self.roi.to_dict(), "tolerance_mm": self.tolerance_mm}


@dataclass(frozen=True, kw_only=True)
class WindowChoice(Question):
    """Choose a display window ``(center, width)`` inside the target ranges (inclusive)."""

    kind: ClassVar[str] = "window"
    center_range: tuple[float, float]
    width_range: tuple[float, float]

    def _validate(self) -> None:
        object.__setattr__(self, "center_range", _range("WindowChoice", "center_range", self.center_range))
        wr = _range("WindowChoice", "width_range", self.width_range)
        if wr[0] < 1:
            raise ValueError(f"WindowChoice.width_range must be >= 1 (PS3.3 C.11.2.1.2), got {wr!r}")
        object.__setattr__(self, "width_range", wr)

    def _answer(self) -> dict[str, Any]:
        return {"center_range": list(self.center_range), "width_range": list(self.width_range)}


@dataclass(frozen=True, kw_only=True)
class Ordering(Question):
    """Put ``items`` in order; ``answer`` lists item indices in the correct order.

    Store ``items`` in the order they should be displayed (not the answer
    order), or shuffle them per student.  ``scoring`` is ``'kendall'``
    (partial credit, see :func:`caselib.cases.grading.grade_ordering`) or
    ``'all_or_nothing'``.
    """

    kind: ClassVar[str] = "ordering"
    items: tuple[Text, ...]
    answer: tuple[int, ...]
    scoring: str = "kendall"

    def _validate(self) -> None:
        object.__setattr__(self, "items", _texts("Ordering", "items", self.items, 2))
        if isinstance(self.answer, (str, bytes)) or not isinstance(self.answer, Sequence):
            raise TypeError(f"Ordering.answer must be a sequence of indices, got {type(self.answer).__name__}")
        ans = tuple(self.answer)
        if sorted(ans) != list(range(len(self.items))) or \
                any(isinstance(a, bool) or not isinstance(a, int) for a in ans):
            raise ValueError(f"Ordering.answer must be a permutation of 0..{len(self.items) - 1}, got {ans!r}")
        object.__setattr__(self, "answer", ans)
        if self.scoring not in ("kendall", "all_or_nothing"):
            raise ValueError(f"Ordering.scoring must be 'kendall' or 'all_or_nothing', got {self.scoring!r}")

    def _public(self) -> dict[str, Any]:
        return {"items": [t.to_dict() for t in self.items], "scoring": self.scoring}

    def _answer(self) -> dict[str, Any]:
        return {"answer": list(self.answer)}


@dataclass(frozen=True, kw_only=True)
class FreeText(Question):
    """A written answer graded by hand against ``rubric``."""

    kind: ClassVar[str] = "free_text"
    rubric: Text
    model_answer: Text | None = None

    def _validate(self) -> None:
        if not isinstance(self.rubric, Text):
            raise TypeError(f"FreeText.rubric must be a Text, got {type(self.rubric).__name__}")
        if self.model_answer is not None and not isinstance(self.model_answer, Text):
            raise TypeError("FreeText.model_answer must be a Text or None")

    def _answer(self) -> dict[str, Any]:
        d: dict[str, Any] = {"rubric": self.rubric.to_dict()}
        if self.model_answer is not None:
            d["model_answer"] = self.model_answer.to_dict()
        return d


QUESTION_TYPES: dict[str, type[Question]] = {
    c.kind: c for c in (SingleChoice, MultipleChoice, TrueFalse, Numeric, Hotspot,
                        WindowChoice, Ordering, FreeText)
}

_COMMON = ("type", "id", "prompt", "max_score", "explanation", "image")
_FIELDS: dict[str, tuple[str, ...]] = {
    "single_choice": ("options", "answer"),
    "multiple_choice": ("options", "answers"),
    "true_false": ("answer",),
    "numeric": ("answer", "abs_tol", "rel_tol", "unit"),
    "hotspot": ("series", "slice_index", "roi", "pixel_spacing", "tolerance_mm"),
    "window": ("center_range", "width_range"),
    "ordering": ("items", "answer", "scoring"),
    "free_text": ("rubric", "model_answer"),
}


def question_from_dict(data: Mapping[str, Any], *, origin: str | None = None,
                       path: str = "question") -> Question:
    """Build a question from its YAML mapping (see the module docstring).

    Raises
    ------
    CaseSchemaError
        Naming the field path, what was expected and what was found.
    """
    r = _Reader(origin)
    if not isinstance(data, Mapping):
        raise r.fail(path, "a mapping", data)
    m = data
    kind = r.get(m, "type", path)
    if kind not in QUESTION_TYPES:
        raise r.fail(_join(path, "type"), "one of " + ", ".join(QUESTION_TYPES), kind)
    r.mapping(m, path, (*_COMMON, *_FIELDS[kind]))

    def p(key: str) -> str:
        return _join(path, key)

    def req(key: str) -> Any:
        return r.get(m, key, path)

    def opt(key: str, default: Any) -> Any:
        v = m.get(key, _MISSING)
        return default if v is _MISSING else v

    kw: dict[str, Any] = {"id": r.string(req("id"), p("id")), "prompt": r.text(req("prompt"), p("prompt"))}
    if "max_score" in m:
        kw["max_score"] = r.number(m["max_score"], p("max_score"), positive=True)
    if "explanation" in m:
        kw["explanation"] = r.text(m["explanation"], p("explanation"))
    if "image" in m:
        im = r.mapping(m["image"], p("image"), ("series", "slice_index", "window"))
        window = None
        if "window" in im:
            wv = r.seq(im["window"], p("image") + ".window")
            if len(wv) != 2:
                raise r.fail(p("image") + ".window", "[center, width]", im["window"])
            window = (r.number(wv[0], p("image") + ".window[0]"),
                      r.number(wv[1], p("image") + ".window[1]", positive=True))
            if window[1] < 1:
                raise r.fail(p("image") + ".window[1]", "a width >= 1", wv[1])
        kw["image"] = QuestionImage(
            series=_read_series_ref(r, r.get(im, "series", p("image")), p("image") + ".series"),
            slice_index=r.index(r.get(im, "slice_index", p("image")), p("image") + ".slice_index"),
            window=window)

    def idx(value: object, key: str, n: int) -> int:
        i = r.index(value, key)
        if i >= n:
            raise r.fail(key, f"an index in 0..{n - 1}", value)
        return i

    def pair(key: str, minimum: float | None = None) -> tuple[float, float]:
        seq = r.seq(req(key), p(key))
        if len(seq) != 2:
            raise r.fail(p(key), "a [low, high] pair", req(key))
        lo = r.number(seq[0], p(key) + "[0]")
        hi = r.number(seq[1], p(key) + "[1]")
        if lo > hi:
            raise r.fail(p(key), "low <= high", req(key))
        if minimum is not None and lo < minimum:
            raise r.fail(p(key) + "[0]", f"a number >= {minimum:g}", seq[0])
        return lo, hi

    if kind in ("single_choice", "multiple_choice"):
        options = r.texts(req("options"), p("options"))
        if len(options) < 2:
            raise r.fail(p("options"), "at least 2 options", req("options"))
        kw["options"] = options
        if kind == "single_choice":
            kw["answer"] = idx(req("answer"), p("answer"), len(options))
        else:
            raw = r.seq(req("answers"), p("answers"), non_empty=True)
            kw["answers"] = tuple(idx(v, f"{p('answers')}[{i}]", len(options)) for i, v in enumerate(raw))
    elif kind == "true_false":
        kw["answer"] = r.boolean(req("answer"), p("answer"))
    elif kind == "numeric":
        kw["answer"] = r.number(req("answer"), p("answer"))
        kw["abs_tol"] = r.number(opt("abs_tol", 0.0), p("abs_tol"), non_negative=True)
        kw["rel_tol"] = r.number(opt("rel_tol", 0.0), p("rel_tol"), non_negative=True)
        unit = opt("unit", "")
        if not isinstance(unit, str):
            raise r.fail(p("unit"), "a string such as HU, mm or ratio", unit)
        kw["unit"] = unit
    elif kind == "hotspot":
        kw["series"] = _read_series_ref(r, req("series"), p("series"))
        kw["slice_index"] = r.index(req("slice_index"), p("slice_index"))
        kw["roi"] = _read_roi(r, req("roi"), p("roi"))
        sp = r.seq(req("pixel_spacing"), p("pixel_spacing"))
        if len(sp) != 2:
            raise r.fail(p("pixel_spacing"), "[row_mm, col_mm]", req("pixel_spacing"))
        kw["pixel_spacing"] = (r.number(sp[0], p("pixel_spacing") + "[0]", positive=True),
                               r.number(sp[1], p("pixel_spacing") + "[1]", positive=True))
        kw["tolerance_mm"] = r.number(opt("tolerance_mm", 0.0), p("tolerance_mm"), non_negative=True)
    elif kind == "window":
        kw["center_range"] = pair("center_range")
        kw["width_range"] = pair("width_range", minimum=1)
    elif kind == "ordering":
        items = r.texts(req("items"), p("items"))
        if len(items) < 2:
            raise r.fail(p("items"), "at least 2 items", req("items"))
        kw["items"] = items
        raw = r.seq(req("answer"), p("answer"))
        ans = tuple(idx(v, f"{p('answer')}[{i}]", len(items)) for i, v in enumerate(raw))
        if sorted(ans) != list(range(len(items))):
            raise r.fail(p("answer"), f"a permutation of 0..{len(items) - 1}", raw)
        kw["answer"] = ans
        scoring = opt("scoring", "kendall")
        if scoring not in ("kendall", "all_or_nothing"):
            raise r.fail(p("scoring"), "one of kendall, all_or_nothing", scoring)
        kw["scoring"] = scoring
    else:  # free_text
        kw["rubric"] = r.text(req("rubric"), p("rubric"))
        if "model_answer" in m:
            kw["model_answer"] = r.text(m["model_answer"], p("model_answer"))
    return QUESTION_TYPES[kind](**kw)

