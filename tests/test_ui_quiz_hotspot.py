"""Hotspot questions in the quiz app: the question's image in the viewer, a point mark graded with
caselib.cases' hotspot grading, the answer region kept in the kernel until the student checks.

The browser test (tests/browser/test_voila_apps.py) marks the point with the mouse in Voila.
"""
from __future__ import annotations

import json

import ipywidgets.widgets.widget as widget_module
import pytest

from caselib.cases import Hotspot, grade_hotspot
from caselib.cases.marks import Mark
from caselib.i18n import t
from caselib.ui.apps import Quiz, open_library
from caselib.ui.apps.quiz import HotspotPrompt


@pytest.fixture(scope="module")
def library():
    return open_library(archive=False)


@pytest.fixture(autouse=True)
def no_usage_log(monkeypatch):
    monkeypatch.setenv("CASELIB_USAGE_LOG", "off")


def hotspot_items(library):
    items = [i for i in library.quiz_items() if i.question.kind == "hotspot"]
    assert items, "the case library has no hotspot question"
    return items


def state_text() -> str:
    """The state every live widget would send to a browser (the viewer's code, _esm/_css, left out)."""
    return "\n".join(json.dumps({k: v for k, v in wid.get_state().items()
                                 if not isinstance(v, (bytes, memoryview)) and k not in ("_esm", "_css")},
                                ensure_ascii=False, default=str)
                     for wid in list(widget_module._instances.values()))


def point(q: Hotspot, row: float, col: float, slice_index: int | None = None) -> Mark:
    return Mark(kind="point", series_uid="", slice_index=q.slice_index if slice_index is None else slice_index,
                row=row, col=col)


def test_the_quiz_asks_every_hotspot_question_of_the_cases(library):
    asked = {(i.case_id, i.question.id) for i in hotspot_items(library)}
    in_cases = {(c, q.id) for c in library.case_ids for q in library.case(c).questions if q.kind == "hotspot"}
    assert asked == in_cases and len(asked) >= 3


def test_a_hotspot_is_marked_on_its_image_and_graded_at_once(library):
    item = next(i for i in hotspot_items(library) if i.question.id == "click-trachea")
    q = item.question
    widget_module.Widget.close_all()
    quiz = Quiz([item], library=library, lang="en")
    # the question's own series, on its slice, point tool selected; no button to ask for the image
    assert quiz.viewer is not None and quiz.viewer.slice_index == q.slice_index and quiz.viewer.tool == "point"
    assert quiz.image_button.layout.display == "none" and not quiz.check_button.disabled
    assert t("apps.quiz.hotspot.keyboard", "en") in quiz.form._help.value
    # nothing of the answer region or the explanation is in any widget before checking
    state = state_text()
    assert "tolerance_mm" not in state and "radius_mm" not in state and "radius_row" not in state
    assert json.dumps(q.roi.to_dict())[1:-1] not in state
    assert q.explanation is None or q.explanation.en not in state
    assert quiz.viewer.visible_annotations == [] and not quiz.viewer.meta["has_annotations"]
    # no mark yet: asked to mark first, nothing graded
    assert quiz.check() is None and t("apps.quiz.hotspot.empty", "en") in quiz.feedback.value
    # a point off the region, then one inside it: only the last point counts
    quiz.viewer.add_mark(point(q, 5, 5))
    quiz.viewer.add_mark(point(q, q.roi.row + 1, q.roi.col - 1))
    result = quiz.check()
    expected = grade_hotspot(q, (q.slice_index, q.roi.row + 1, q.roi.col - 1))
    assert result == expected and result.score == q.max_score
    assert t("apps.quiz.correct", "en") in quiz.feedback.value and result.feedback_en in quiz.feedback.value
    assert quiz.check_button.disabled and quiz.check() is result          # answered once
    # only now is the region drawn on the image (so the check above could see it)
    assert "radius_row" in state_text()
    (region,) = quiz.viewer.visible_annotations
    assert (region["row"], region["col"], region["slice_index"]) == (q.roi.row, q.roi.col, q.slice_index)
    assert region["text"] == t("apps.quiz.hotspot.region", "en")
    assert quiz.score.value == t("apps.quiz.score", "en", score=1.0, max=1.0, answered=1, m=1)


def test_a_point_off_the_region_or_on_another_slice_is_wrong(library):
    items = hotspot_items(library)
    quiz = Quiz(items, library=library, lang="en")
    q = items[0].question
    result = quiz.check(point(q, 0, 0))
    assert result.score == 0 and result == grade_hotspot(q, (q.slice_index, 0.0, 0.0))
    assert t("apps.quiz.incorrect", "en") in quiz.feedback.value
    quiz.go(2)
    q2 = items[2].question
    assert quiz.viewer.slice_index == q2.slice_index
    wrong_slice = point(q2, q2.roi.row, q2.roi.col, slice_index=q2.slice_index + 1)
    assert quiz.check(wrong_slice).score == 0
    assert "is not the slice showing the finding" in quiz.feedback.value
    # back to the first: its graded mark and region are shown again, the answer stays final
    quiz.go(0)
    assert [(m.row, m.col) for m in quiz.viewer.marks] == [(0.0, 0.0)]
    assert quiz.viewer.annotations_visible and quiz.check_button.disabled
    # a plain (slice, row, col) answer is accepted too
    quiz.go(1)
    q1 = items[1].question
    assert quiz.check((q1.slice_index, q1.roi.row, q1.roi.col)).score == q1.max_score


def test_hotspot_text_follows_the_language_switch(library):
    item = hotspot_items(library)[0]
    quiz = Quiz([item], library=library, lang="zh-CN")
    assert item.question.prompt.zh in quiz.form._prompt.value
    assert t("apps.quiz.hotspot.help", "zh-CN") in quiz.form._help.value
    quiz.set_language("en")
    assert item.question.prompt.en in quiz.form._prompt.value
    assert t("apps.quiz.hotspot.help", "en") in quiz.form._help.value and quiz.viewer.lang == "en"


def test_hotspot_prompt_refuses_the_answer():
    q = hotspot_items(open_library(archive=False))[0].question
    with pytest.raises(ValueError, match="public form"):
        HotspotPrompt(q.to_dict(include_answer=True))
    assert HotspotPrompt(q.to_dict(include_answer=False)).answer() is None
