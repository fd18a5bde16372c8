"""caselib.cases.grading: every grader with hand-made edge cases."""
from __future__ import annotations

import math

import pytest

from caselib.cases import (
    CircleROI,
    EllipseROI,
    FreeText,
    GradeResult,
    Hotspot,
    MultipleChoice,
    Numeric,
    Ordering,
    PointROI,
    SeriesRef,
    SingleChoice,
    Text,
    TrueFalse,
    WindowChoice,
    grade,
    grade_numeric,
    kendall_tau,
    question_from_dict,
)

P = Text(zh="题", en="Q")


def opts(n: int) -> tuple[Text, ...]:
    return tuple(Text(zh=f"选项{i}", en=f"option {i}") for i in range(n))


EMPTY = [None, "", "   ", [], (), set()]


# ----------------------------------------------------------------- single choice / true-false


def test_single_choice() -> None:
    q = SingleChoice(id="s", prompt=P, options=opts(4), answer=2, max_score=2,
                     explanation=Text(zh="因为", en="Because"))
    r = grade(q, 2)
    assert r == GradeResult(2.0, 2.0, "正确。 因为", "Correct. Because")
    assert r.is_correct and not r.pending
    assert grade(q, 0).score == 0.0 and grade(q, 0).feedback_en.startswith("Incorrect.")
    for e in EMPTY:
        assert grade(q, e).score == 0.0
    with pytest.raises(ValueError, match=r"single-choice answer must be an option index in 0..3, got 4"):
        grade(q, 4)
    with pytest.raises(TypeError, match="single-choice answer must be an int option index, got bool"):
        grade(q, True)
    with pytest.raises(TypeError, match="got str 'B'"):
        grade(q, "B")


def test_true_false() -> None:
    q = TrueFalse(id="t", prompt=P, answer=False)
    assert grade(q, False).score == 1.0
    assert grade(q, True).score == 0.0
    assert grade(q, None).score == 0.0
    with pytest.raises(TypeError, match="true/false answer must be a bool, got int 0"):
        grade(q, 0)


# ----------------------------------------------------------------- multiple choice


@pytest.mark.parametrize(("chosen", "score"), [
    ({0, 2}, 1.0),          # exact
    ([2, 0], 1.0),          # order irrelevant
    ({0}, 0.5),             # one of two right
    ({0, 1}, 0.0),          # one right, one wrong
    ({0, 2, 1}, 0.5),       # both right, one wrong
    ({0, 1, 2, 3}, 0.0),    # tick everything
    ({1, 3}, 0.0),          # never negative
    (set(), 0.0),           # empty
])
def test_multiple_choice_partial_credit(chosen: set[int], score: float) -> None:
    q = MultipleChoice(id="m", prompt=P, options=opts(4), answers=(2, 0))
    assert q.answers == (0, 2)
    assert grade(q, chosen).score == score


def test_multiple_choice_errors() -> None:
    q = MultipleChoice(id="m", prompt=P, options=opts(3), answers=[1])
    with pytest.raises(TypeError, match="collection of option indices, got int"):
        grade(q, 1)
    with pytest.raises(ValueError, match="in 0..2, got 5"):
        grade(q, [5])
    with pytest.raises(ValueError, match="at least one correct option"):
        MultipleChoice(id="m", prompt=P, options=opts(3), answers=[])


# ----------------------------------------------------------------- numeric


def test_numeric_absolute_tolerance_inclusive() -> None:
    q = Numeric(id="n", prompt=P, answer=40, abs_tol=5, unit="HU")
    assert grade(q, 45).score == 1.0
    assert grade(q, 35).score == 1.0
    assert grade(q, 45.000001).score == 0.0
    assert grade(q, 34.9).feedback_en == "Incorrect: 34.9 HU is too low."
    assert grade(q, 50).feedback_zh == "错误：50 HU偏高。"


def test_numeric_relative_tolerance_and_rounding() -> None:
    q = Numeric(id="n", prompt=P, answer=0.3, rel_tol=0.1, unit="ratio")
    assert grade(q, 0.33).score == 1.0                  # 0.3 * 0.1 = 0.03: boundary
    assert grade(q, 0.1 * 3).score == 1.0               # float rounding is not a mistake
    assert grade(q, 0.331).score == 0.0
    q2 = Numeric(id="n2", prompt=P, answer=-100, abs_tol=1, rel_tol=0.05)   # max of the two: 5
    assert grade(q2, -105).score == 1.0 and grade(q2, -106).score == 0.0
    exact = Numeric(id="n3", prompt=P, answer=12.5, unit="mm")
    assert grade(exact, 12.5).score == 1.0 and grade(exact, 12.6).score == 0.0


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_numeric_refuses_nan_and_inf(bad: float) -> None:
    q = Numeric(id="n", prompt=P, answer=1)
    with pytest.raises(ValueError, match="numeric answer must be a finite number"):
        grade_numeric(q, bad)
    with pytest.raises(ValueError, match="Numeric.answer must be finite"):
        Numeric(id="n", prompt=P, answer=bad)


def test_numeric_type_errors_and_empty() -> None:
    q = Numeric(id="n", prompt=P, answer=1)
    with pytest.raises(TypeError, match="numeric answer must be a number, got str '1'"):
        grade(q, "1")
    with pytest.raises(TypeError, match="got bool"):
        grade(q, True)
    assert grade(q, None).score == 0.0 and grade(q, "").score == 0.0
    with pytest.raises(ValueError, match="Numeric.abs_tol must be non-negative, got -1"):
        Numeric(id="n", prompt=P, answer=1, abs_tol=-1)
    with pytest.raises(TypeError, match="expected a Numeric question, got TrueFalse"):
        grade_numeric(TrueFalse(id="t", prompt=P, answer=True), 1)  # type: ignore[arg-type]


# ----------------------------------------------------------------- hotspot


def hotspot(roi: CircleROI | EllipseROI | PointROI, tol: float = 0.0) -> Hotspot:
    return Hotspot(id="h", prompt=P, series=SeriesRef(manifest_key="synthetic/ct"), slice_index=7,
                   roi=roi, pixel_spacing=(0.5, 0.8), tolerance_mm=tol)


def test_hotspot_circle_with_spacing_and_tolerance() -> None:
    q = hotspot(CircleROI(100, 100, radius_mm=4))
    assert grade(q, (100, 100)).score == 1.0
    assert grade(q, (108, 100)).score == 1.0          # 8 rows * 0.5 mm = 4 mm: edge inclusive
    assert grade(q, (109, 100)).score == 0.0
    assert grade(q, (100, 105)).score == 1.0          # 5 cols * 0.8 mm = 4 mm
    assert grade(q, (100, 106)).score == 0.0
    assert grade(q, (7, 108, 100)).score == 1.0       # with the slice index
    wrong_slice = grade(q, (6, 100, 100))
    assert wrong_slice.score == 0.0 and "slice 6" in wrong_slice.feedback_en
    tol = hotspot(CircleROI(100, 100, radius_mm=4), tol=1.0)
    assert grade(tol, (110, 100)).score == 1.0 and grade(tol, (111, 100)).score == 0.0


def test_hotspot_ellipse_and_point() -> None:
    e = hotspot(EllipseROI(50, 50, radius_row_mm=1, radius_col_mm=8))
    assert grade(e, (52, 50)).score == 1.0 and grade(e, (53, 50)).score == 0.0
    assert grade(e, (50, 60)).score == 1.0 and grade(e, (50, 61)).score == 0.0
    p = hotspot(PointROI(10, 10, tolerance_mm=1))
    assert grade(p, (12, 10)).score == 1.0 and grade(p, (13, 10)).score == 0.0


def test_hotspot_errors_and_empty() -> None:
    q = hotspot(CircleROI(1, 1, 1))
    assert grade(q, None).score == 0.0 and grade(q, ()).score == 0.0
    with pytest.raises(TypeError, match=r"hotspot answer must be \(row, col\) or \(slice_index, row, col\)"):
        grade(q, (1,))
    with pytest.raises(ValueError, match="hotspot row must be a finite number, got nan"):
        grade(q, (math.nan, 1))
    with pytest.raises(TypeError, match="hotspot slice index must be an int"):
        grade(q, (1.0, 1, 1))
    with pytest.raises(ValueError, match="pixel_spacing values must be positive finite mm"):
        Hotspot(id="h", prompt=P, series=SeriesRef(series_uid="1.2"), slice_index=0,
                roi=CircleROI(1, 1, 1), pixel_spacing=(0.5, 0))


# ----------------------------------------------------------------- window


def test_window_ranges_inclusive_and_feedback() -> None:
    q = WindowChoice(id="w", prompt=P, center_range=(-700, -500), width_range=(1200, 1600))
    assert grade(q, (-600, 1500)).score == 1.0
    assert grade(q, (-700, 1200)).score == 1.0 and grade(q, (-500, 1600)).score == 1.0
    r = grade(q, (40, 400))
    assert r.score == 0.0
    assert r.feedback_en == "Incorrect: center too high, width too narrow."
    assert r.feedback_zh == "错误：窗位过高，窗宽过窄。"
    assert grade(q, (-800, 1400)).feedback_en == "Incorrect: center too low."
    assert grade(q, None).score == 0.0


def test_window_errors() -> None:
    q = WindowChoice(id="w", prompt=P, center_range=(30, 50), width_range=(300, 450))
    with pytest.raises(ValueError, match="window width must be >= 1"):
        grade(q, (40, 0))
    with pytest.raises(ValueError, match="window center must be a finite number, got inf"):
        grade(q, (math.inf, 400))
    with pytest.raises(TypeError, match=r"window answer must be a \(center, width\) pair"):
        grade(q, (40,))
    with pytest.raises(ValueError, match="WindowChoice.center_range must have low <= high"):
        WindowChoice(id="w", prompt=P, center_range=(50, 30), width_range=(300, 450))
    with pytest.raises(ValueError, match="WindowChoice.width_range must be >= 1"):
        WindowChoice(id="w", prompt=P, center_range=(30, 50), width_range=(0, 450))


# ----------------------------------------------------------------- ordering


def test_kendall_tau_values() -> None:
    assert kendall_tau([0, 1, 2, 3], [0, 1, 2, 3]) == 1.0
    assert kendall_tau([3, 2, 1, 0], [0, 1, 2, 3]) == -1.0
    assert kendall_tau([1, 0, 2, 3], [0, 1, 2, 3]) == pytest.approx(4 / 6)
    assert kendall_tau([0], [0]) == 1.0
    with pytest.raises(ValueError, match="permutations of the same items"):
        kendall_tau([0, 0], [0, 1])


def test_ordering_kendall_and_all_or_nothing() -> None:
    items = opts(4)
    q = Ordering(id="o", prompt=P, items=items, answer=(2, 0, 3, 1))
    assert grade(q, [2, 0, 3, 1]).score == 1.0
    assert grade(q, [0, 2, 3, 1]).score == pytest.approx(4 / 6)   # one neighbour swap
    assert grade(q, [1, 3, 0, 2]).score == 0.0                     # reversed: tau = -1 -> 0
    assert grade(q, []).score == 0.0
    aon = Ordering(id="o", prompt=P, items=items, answer=(2, 0, 3, 1), scoring="all_or_nothing")
    assert grade(aon, [2, 0, 3, 1]).score == 1.0
    assert grade(aon, [0, 2, 3, 1]).score == 0.0
    with pytest.raises(ValueError, match=r"must list every item index 0..3 once, got \[0, 0, 1, 2\]"):
        grade(q, [0, 0, 1, 2])
    with pytest.raises(ValueError, match="Ordering.answer must be a permutation of 0..3"):
        Ordering(id="o", prompt=P, items=items, answer=(0, 1, 2))
    with pytest.raises(ValueError, match="Ordering.scoring must be 'kendall' or 'all_or_nothing'"):
        Ordering(id="o", prompt=P, items=items, answer=(0, 1, 2, 3), scoring="spearman")


# ----------------------------------------------------------------- free text


def test_free_text_is_manual() -> None:
    q = FreeText(id="f", prompt=P, rubric=Text(zh="提到要点", en="Mentions the key point"),
                 max_score=5)
    r = grade(q, "一些文字")
    assert r.score is None and r.max_score == 5.0 and r.pending and r.is_correct is None
    assert "Mentions the key point" in r.feedback_en and "提到要点" in r.feedback_zh
    assert grade(q, "  ").score == 0.0
    with pytest.raises(TypeError, match="free-text answer must be a str, got int"):
        grade(q, 3)


# ----------------------------------------------------------------- misc


def test_grade_refuses_non_questions_and_max_score() -> None:
    with pytest.raises(TypeError, match="expected a caselib question, got dict"):
        grade({"type": "numeric"}, 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="SingleChoice.max_score must be positive, got 0"):
        SingleChoice(id="s", prompt=P, options=opts(2), answer=0, max_score=0)
    with pytest.raises(ValueError, match=r"SingleChoice.answer must be an index in 0..1, got 2"):
        SingleChoice(id="s", prompt=P, options=opts(2), answer=2)
    with pytest.raises(ValueError, match="SingleChoice.options needs at least 2 entries, got 1"):
        SingleChoice(id="s", prompt=P, options=opts(1), answer=0)


def test_questions_round_trip_through_dict() -> None:
    qs = [
        SingleChoice(id="a", prompt=P, options=opts(3), answer=1, explanation=P),
        MultipleChoice(id="b", prompt=P, options=opts(3), answers=(0, 2), max_score=3),
        TrueFalse(id="c", prompt=P, answer=True),
        Numeric(id="d", prompt=P, answer=-600, abs_tol=50, rel_tol=0.1, unit="HU"),
        Hotspot(id="e", prompt=P, series=SeriesRef(series_uid="1.2.3"), slice_index=4,
                roi=EllipseROI(1, 2, 3, 4), pixel_spacing=(0.7, 0.7), tolerance_mm=2),
        WindowChoice(id="f", prompt=P, center_range=(30, 50), width_range=(300, 450)),
        Ordering(id="g", prompt=P, items=opts(3), answer=(2, 1, 0), scoring="all_or_nothing"),
        FreeText(id="h", prompt=P, rubric=P, model_answer=P),
    ]
    for q in qs:
        assert question_from_dict(q.to_dict()) == q
