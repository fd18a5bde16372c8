"""Pure grading functions: ``(question, answer) -> GradeResult``.

Each function checks the answer's type (``TypeError``) and value
(``ValueError``: NaN, infinity, indices out of range...), never mutates
anything and returns a :class:`GradeResult` with bilingual feedback.

Rules common to all types:

- An *empty* answer (``None``, ``""`` or an empty collection) scores 0 and is
  not an error.
- Boundaries are inclusive (a value exactly at a tolerance or range limit is
  correct).  Comparisons allow a rounding slack of ``1e-9`` relative to the
  magnitudes involved, so ``0.1 * 3`` equals ``0.3``.
- NaN and infinity are refused with ``ValueError``.

Partial credit:

- **multiple choice**: ``max_score * max(0, (right - wrong) / n_correct)``
  where ``right``/``wrong`` count the selected correct/incorrect options, so
  ticking every box scores 0 unless every option is correct.
- **ordering** (``scoring='kendall'``): ``max_score * max(0, tau)`` with
  Kendall's tau between the student's and the correct order,
  ``tau = (concordant - discordant) / (n (n - 1) / 2)``; a reversed order
  scores 0, a single swap of neighbours among n items loses ``2 / (n (n-1)/2)``.
  ``scoring='all_or_nothing'``: full marks only for the exact order.
- **free text** is graded by hand: ``score`` is None and the feedback carries
  the rubric (an empty answer scores 0 at once).

Examples
--------
>>> from caselib.cases.schema import Text
>>> from caselib.cases.questions import Numeric
>>> q = Numeric(id="q1", prompt=Text(zh="CT值?", en="CT number?"), answer=40, abs_tol=5, unit="HU")
>>> grade(q, 45).score
1.0
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from caselib.cases.questions import (
    FreeText,
    Hotspot,
    MultipleChoice,
    Numeric,
    Ordering,
    Question,
    SingleChoice,
    TrueFalse,
    WindowChoice,
)

__all__ = [
    "GradeResult",
    "grade",
    "grade_single_choice",
    "grade_multiple_choice",
    "grade_true_false",
    "grade_numeric",
    "grade_hotspot",
    "grade_window",
    "grade_ordering",
    "grade_free_text",
    "kendall_tau",
]

_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class GradeResult:
    """The outcome of grading one answer.

    Parameters
    ----------
    score : float or None
        Points earned; None while a free-text answer awaits manual grading.
    max_score : float
        Points available.
    feedback_zh, feedback_en : str
        Feedback in Chinese and English.
    """

    score: float | None
    max_score: float
    feedback_zh: str
    feedback_en: str

    @property
    def is_correct(self) -> bool | None:
        """True for full marks, None while ungraded."""
        if self.score is None:
            return None
        return self.score >= self.max_score

    @property
    def pending(self) -> bool:
        """True while the answer awaits manual grading."""
        return self.score is None


def _is_empty(answer: object) -> bool:
    if answer is None:
        return True
    if isinstance(answer, str):
        return not answer.strip()
    if isinstance(answer, (list, tuple, set, frozenset, dict)):
        return len(answer) == 0
    return False


def _check_q(q: object, cls: type[Question]) -> None:
    if not isinstance(q, cls):
        raise TypeError(f"expected a {cls.__name__} question, got {type(q).__name__}")


def _finite(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a number, got {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return float(value)


def _result(q: Question, fraction: float, zh: str, en: str) -> GradeResult:
    score = round(q.max_score * min(1.0, max(0.0, fraction)), 10)
    if q.explanation is not None:
        zh = f"{zh} {q.explanation.zh}"
        en = f"{en} {q.explanation.en}"
    return GradeResult(score, q.max_score, zh, en)


def _empty(q: Question) -> GradeResult:
    return _result(q, 0.0, "未作答。", "No answer given.")


def _right_wrong(q: Question, ok: bool) -> GradeResult:
    if ok:
        return _result(q, 1.0, "正确。", "Correct.")
    return _result(q, 0.0, "错误。", "Incorrect.")


def _option_index(answer: object, n: int, what: str) -> int:
    if isinstance(answer, bool) or not isinstance(answer, int):
        raise TypeError(f"{what} must be an int option index, got {type(answer).__name__} {answer!r}")
    if not 0 <= answer < n:
        raise ValueError(f"{what} must be an option index in 0..{n - 1}, got {answer}")
    return answer


def grade_single_choice(question: SingleChoice, answer: int | None) -> GradeResult:
    """Grade a single-choice answer: the 0-based index of the chosen option."""
    _check_q(question, SingleChoice)
    if _is_empty(answer):
        return _empty(question)
    i = _option_index(answer, len(question.options), "single-choice answer")
    return _right_wrong(question, i == question.answer)


def grade_multiple_choice(question: MultipleChoice, answer: Sequence[int] | set[int] | None) -> GradeResult:
    """Grade the chosen option indices (partial credit: see the module docstring)."""
    _check_q(question, MultipleChoice)
    if _is_empty(answer):
        return _empty(question)
    if isinstance(answer, (str, bytes, int)) or not isinstance(answer, (Sequence, set, frozenset)):
        raise TypeError(f"multiple-choice answer must be a collection of option indices, "
                        f"got {type(answer).__name__}")
    chosen = {_option_index(a, len(question.options), "multiple-choice answer") for a in answer}
    correct = set(question.answers)
    right = len(chosen & correct)
    wrong = len(chosen - correct)
    frac = max(0.0, (right - wrong) / len(correct))
    if chosen == correct:
        return _result(question, 1.0, "完全正确。", "Correct.")
    return _result(question, frac,
                   f"部分正确：选对 {right} 项，选错 {wrong} 项，共 {len(correct)} 个正确选项。",
                   f"Partly correct: {right} right, {wrong} wrong, of {len(correct)} correct options.")


def grade_true_false(question: TrueFalse, answer: bool | None) -> GradeResult:
    """Grade a true/false answer (a bool; 0/1 are refused)."""
    _check_q(question, TrueFalse)
    if _is_empty(answer):
        return _empty(question)
    if not isinstance(answer, bool):
        raise TypeError(f"true/false answer must be a bool, got {type(answer).__name__} {answer!r}")
    return _right_wrong(question, answer is question.answer)


def grade_numeric(question: Numeric, answer: float | None) -> GradeResult:
    """Grade a number: correct when ``|x - answer| <= max(abs_tol, rel_tol * |answer|)``."""
    _check_q(question, Numeric)
    if _is_empty(answer):
        return _empty(question)
    x = _finite(answer, "numeric answer")
    tol = max(question.abs_tol, question.rel_tol * abs(question.answer))
    slack = _EPS * max(1.0, abs(x), abs(question.answer))
    diff = abs(x - question.answer)
    unit = f" {question.unit}" if question.unit else ""
    if diff <= tol + slack:
        return _result(question, 1.0, "正确。", "Correct.")
    side_zh, side_en = ("偏高", "too high") if x > question.answer else ("偏低", "too low")
    return _result(question, 0.0, f"错误：{x:g}{unit}{side_zh}。",
                   f"Incorrect: {x:g}{unit} is {side_en}.")


def grade_hotspot(question: Hotspot, answer: Sequence[float] | None) -> GradeResult:
    """Grade a click ``(row, col)`` or ``(slice_index, row, col)`` against the ROI.

    With a slice index the click must be on ``question.slice_index``.  The
    ROI is widened by ``question.tolerance_mm`` using ``question.pixel_spacing``.
    """
    _check_q(question, Hotspot)
    if _is_empty(answer):
        return _empty(question)
    if isinstance(answer, (str, bytes)) or not isinstance(answer, Sequence) or len(answer) not in (2, 3):
        raise TypeError("hotspot answer must be (row, col) or (slice_index, row, col), "
                        f"got {answer!r}")
    if len(answer) == 3:
        s = answer[0]
        if isinstance(s, bool) or not isinstance(s, int):
            raise TypeError(f"hotspot slice index must be an int, got {type(s).__name__}")
        if s != question.slice_index:
            return _result(question, 0.0, f"错误：所选层面为第 {s} 层，不是病灶所在层面。",
                           f"Incorrect: slice {s} is not the slice showing the finding.")
    row = _finite(answer[-2], "hotspot row")
    col = _finite(answer[-1], "hotspot col")
    inside = question.roi.contains(row, col, question.pixel_spacing, question.tolerance_mm)
    if inside:
        return _result(question, 1.0, "正确：点击位于病灶区域内。", "Correct: the click is on the finding.")
    return _result(question, 0.0, "错误：点击不在病灶区域内。", "Incorrect: the click is off the finding.")


def grade_window(question: WindowChoice, answer: Sequence[float] | None) -> GradeResult:
    """Grade a window ``(center, width)`` (DICOM order) against the target ranges."""
    _check_q(question, WindowChoice)
    if _is_empty(answer):
        return _empty(question)
    if isinstance(answer, (str, bytes)) or not isinstance(answer, Sequence) or len(answer) != 2:
        raise TypeError(f"window answer must be a (center, width) pair, got {answer!r}")
    c = _finite(answer[0], "window center")
    w = _finite(answer[1], "window width")
    if w < 1:
        raise ValueError(f"window width must be >= 1 (PS3.3 C.11.2.1.2), got {w:g}")
    (clo, chi), (wlo, whi) = question.center_range, question.width_range

    def within(v: float, lo: float, hi: float) -> bool:
        slack = _EPS * max(1.0, abs(v), abs(lo), abs(hi))
        return lo - slack <= v <= hi + slack

    c_ok, w_ok = within(c, clo, chi), within(w, wlo, whi)
    if c_ok and w_ok:
        return _result(question, 1.0, "正确。", "Correct.")
    zh, en = [], []
    if not c_ok:
        zh.append("窗位" + ("过高" if c > chi else "过低"))
        en.append("center too " + ("high" if c > chi else "low"))
    if not w_ok:
        zh.append("窗宽" + ("过宽" if w > whi else "过窄"))
        en.append("width too " + ("wide" if w > whi else "narrow"))
    return _result(question, 0.0, "错误：" + "，".join(zh) + "。", "Incorrect: " + ", ".join(en) + ".")


def kendall_tau(order: Sequence[int], reference: Sequence[int]) -> float:
    """Kendall's tau-a between two orderings of the same items.

    Both are permutations of the same item indices.  Returns 1 for identical
    orders, -1 for reversed ones; 1 for a single item.
    """
    if sorted(order) != sorted(reference) or len(set(order)) != len(order):
        raise ValueError(f"orders must be permutations of the same items, got {list(order)} "
                         f"and {list(reference)}")
    n = len(order)
    if n < 2:
        return 1.0
    rank = {item: i for i, item in enumerate(reference)}
    r = [rank[item] for item in order]
    conc = disc = 0
    for i in range(n):
        for j in range(i + 1, n):
            if r[i] < r[j]:
                conc += 1
            else:
                disc += 1
    return (conc - disc) / (n * (n - 1) / 2)


def grade_ordering(question: Ordering, answer: Sequence[int] | None) -> GradeResult:
    """Grade an order of item indices (Kendall-tau or all-or-nothing: module docstring)."""
    _check_q(question, Ordering)
    if _is_empty(answer):
        return _empty(question)
    if isinstance(answer, (str, bytes)) or not isinstance(answer, Sequence):
        raise TypeError(f"ordering answer must be a sequence of item indices, got {type(answer).__name__}")
    n = len(question.items)
    for a in answer:
        _option_index(a, n, "ordering answer")
    if sorted(answer) != list(range(n)):
        raise ValueError(f"ordering answer must list every item index 0..{n - 1} once, got {list(answer)}")
    if tuple(answer) == question.answer:
        return _result(question, 1.0, "顺序正确。", "Correct order.")
    if question.scoring == "all_or_nothing":
        return _result(question, 0.0, "顺序错误。", "Incorrect order.")
    tau = kendall_tau(answer, question.answer)
    return _result(question, max(0.0, tau), f"顺序部分正确（Kendall τ = {tau:.2f}）。",
                   f"Order partly correct (Kendall tau = {tau:.2f}).")


def grade_free_text(question: FreeText, answer: str | None) -> GradeResult:
    """Queue a written answer for manual grading (score None), or 0 if empty.

    The feedback holds the rubric for the grader.
    """
    _check_q(question, FreeText)
    if _is_empty(answer):
        return _empty(question)
    if not isinstance(answer, str):
        raise TypeError(f"free-text answer must be a str, got {type(answer).__name__}")
    return GradeResult(None, question.max_score, f"待人工评分。评分标准：{question.rubric.zh}",
                       f"Awaiting manual grading. Rubric: {question.rubric.en}")


_GRADERS: dict[type[Question], Any] = {
    SingleChoice: grade_single_choice,
    MultipleChoice: grade_multiple_choice,
    TrueFalse: grade_true_false,
    Numeric: grade_numeric,
    Hotspot: grade_hotspot,
    WindowChoice: grade_window,
    Ordering: grade_ordering,
    FreeText: grade_free_text,
}


def grade(question: Question, answer: Any) -> GradeResult:
    """Grade ``answer`` with the function for ``question``'s type.

    Raises
    ------
    TypeError
        If ``question`` is not a question or the answer has the wrong type.
    ValueError
        If the answer's value is invalid (NaN, out of range...).
    """
    fn = _GRADERS.get(type(question))
    if fn is None:
        raise TypeError(f"expected a caselib question, got {type(question).__name__}")
    result: GradeResult = fn(question, answer)
    return result
