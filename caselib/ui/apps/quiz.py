"""Quiz: self-test from the question bank with instant feedback.

Questions come from the cases' ``questions`` (and any extra
:class:`~caselib.ui.apps.library.QuizItem`), asked one at a time with the
case's first image when the question belongs to a case.  The widgets get
only each question's public form; the answer key and the explanation stay
in the kernel until the student checks an answer (the browser tests look for
them in the page and in every websocket frame).

Hotspot questions show their own series in the viewer, on the question's
slice, with the point tool selected: the student marks a point (a click, or
by keyboard: Alt+arrow keys move the cross, Enter marks) and checks it.  The
answer region stays in the kernel; the last point mark
(:attr:`caselib.ui.viewer.Viewer.marks`) is graded with
:func:`caselib.cases.grade` (:func:`caselib.cases.grade_hotspot`, as the ps03
assignment grades marks), then the region is drawn on the image.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ipywidgets as w

from caselib.cases import Hotspot, Text, grade, shuffle_for_student
from caselib.cases.marks import Mark, hotspot_answer, last_point
from caselib.i18n import t, text_lang

from ._viewer import UnavailableImage, make_viewer
from .forms import QuestionForm, feedback_html
from .library import CaseLibrary, QuizItem, SeriesNotInArchive, open_library, text_of
from .shell import AppShell, discard, esc, usage

__all__ = ["Quiz", "HotspotPrompt"]


class HotspotPrompt(w.VBox):
    """The prompt of a hotspot question and how to answer it; the answer is a mark on the viewer.

    Built from the public form only (``to_dict(include_answer=False)``: no
    region, no tolerance, no explanation).
    """

    kind = "hotspot"

    def __init__(self, public: dict[str, Any], lang: str = "zh-CN") -> None:
        if "roi" in public or "tolerance_mm" in public or "explanation" in public:
            raise ValueError(f"question {public.get('id')}: HotspotPrompt takes the public form "
                             "(to_dict(include_answer=False)), found an answer field")
        self.public = dict(public)
        self._prompt = w.HTML()
        self._help = w.HTML()
        self._help.add_class("cl-hotspot-help")
        super().__init__([self._prompt, self._help], layout=w.Layout(width="100%"))
        self.relabel(lang)

    def relabel(self, lang: str) -> None:
        self._prompt.value = f"<b>{esc(self.public['prompt'][text_lang(lang)])}</b>"
        self._help.value = (f"<p style='margin:2px 0'>{esc(t('apps.quiz.hotspot.help', lang))}</p>"
                            f"<p style='margin:2px 0;color:#555'>{esc(t('apps.quiz.hotspot.keyboard', lang))}</p>")

    def answer(self) -> None:
        """Always None: a hotspot is answered on the viewer."""
        return None

    def lock(self) -> None:
        """Nothing to disable here (the quiz refuses a second check)."""


class Quiz(AppShell):
    """One question at a time: check (graded at once), previous / next, a running score.

    Parameters
    ----------
    items : sequence of QuizItem, optional
        Default: every askable question of the library.
    student_id : str, optional
        When given, the order is shuffled per student (deterministic,
        :func:`caselib.cases.shuffle_for_student`).
    show_images : bool
        Offer the case's first series beside its questions ("Show the image";
        once shown, the images of later questions are shown at once).
    """

    def __init__(self, items: Sequence[QuizItem] | None = None, *, library: CaseLibrary | None = None,
                 student_id: str | None = None, lang: str = "zh-CN", show_images: bool = True,
                 title: bool = True) -> None:
        self.library = library or open_library()
        items = list(items if items is not None else self.library.quiz_items())
        if student_id:
            items = shuffle_for_student(student_id, "quiz", "caselib-quiz", items)
        if not items:
            raise ValueError("the quiz needs at least one question; found none in the library")
        self._items = items
        self.show_images = show_images
        self.index = 0
        self.results: dict[int, Any] = {}
        super().__init__("apps.quiz.title", lang, title=title)
        self.counter = w.HTML()
        self.context = w.HTML()
        self.viewer_box = w.VBox(layout=w.Layout(width="100%"))
        self.image_button = w.Button(icon="image", layout=w.Layout(width="auto"))
        self.image_button.on_click(lambda _: self.show_image())
        self.form_box = w.VBox(layout=w.Layout(width="100%"))
        self.check_button = w.Button(button_style="primary", layout=w.Layout(width="auto"))
        self.check_button.on_click(lambda _: self.check())
        self.feedback = w.HTML()
        self.prev_button = w.Button(icon="arrow-left", layout=w.Layout(width="auto"))
        self.prev_button.on_click(lambda _: self.go(self.index - 1))
        self.next_button = w.Button(icon="arrow-right", layout=w.Layout(width="auto"))
        self.next_button.on_click(lambda _: self.go(self.index + 1))
        self.score = w.HTML()
        nav = w.HBox([self.prev_button, self.next_button, self.score],
                     layout=w.Layout(flex_flow="row wrap", align_items="center"))
        self._nav = nav
        self.viewer: Any = None
        self.unavailable: UnavailableImage | None = None
        self._viewer_case: str | None = None
        self._viewer_key: tuple[Any, ...] | None = None
        self._images_on = False
        self._marks: dict[int, Mark] = {}      # hotspot question index -> the mark that was graded
        self.form: QuestionForm | HotspotPrompt | None = None
        self.go(0)

    def __len__(self) -> int:
        return len(self._items)

    def go(self, index: int) -> None:
        """Show question ``index`` (0-based; clipped to the bank)."""
        self.index = max(0, min(index, len(self._items) - 1))
        item = self._items[self.index]
        discard(self.form)
        public = item.question.to_dict(include_answer=False)
        self.form = HotspotPrompt(public, self.lang) if item.question.kind == "hotspot" else \
            QuestionForm(public, self.lang)
        self.form_box.children = [self.form]
        if self.index in self.results:
            self.form.lock()
        # a hotspot's prompt says what to mark, so it comes before its image
        parts = [self.form_box, self.image_button, self.viewer_box] if item.question.kind == "hotspot" else \
            [self.image_button, self.viewer_box, self.form_box]
        children = (self.counter, self.context, *parts, self.check_button, self.feedback, self._nav)
        if tuple(self.body.children) != children:
            self.body.children = children
        self._show_view()
        self.relabel()

    def show_image(self) -> None:
        """Show the first series of the current question's case (images load on demand:
        a mammogram is tens of megabytes, too much to send to every phone up front)."""
        item = self._items[self.index]
        if not (self.show_images and item.case_id and self.library.case(item.case_id).series):
            return
        self._images_on = True
        self._show_view()
        self.relabel()

    def _view_key(self, item: QuizItem) -> tuple[Any, ...] | None:
        """What the viewer shows for ``item``: a hotspot's own series, the case's first series, nothing."""
        if item.question.kind == "hotspot":
            return ("hotspot", self.index)   # a fresh viewer per hotspot question: its own marks
        if self._images_on and self.show_images and item.case_id and self.library.case(item.case_id).series:
            return ("case", item.case_id)
        return None

    def _show_view(self) -> None:
        item = self._items[self.index]
        key = self._view_key(item)
        if key == self._viewer_key:
            return
        discard(self.viewer, self.unavailable)
        self.viewer = self.unavailable = None
        self.viewer_box.children = []
        self._viewer_key, self._viewer_case = key, None
        if key is None:
            return
        q = item.question
        try:
            if isinstance(q, Hotspot):
                self.viewer = make_viewer(self.library.series_for(q.series), lang=self.lang,
                                          citation=self.library.citation_for(q.series), height=380,
                                          slice_index=q.slice_index, tool="point")
                if self.index in self._marks:        # answered before: the graded mark and the region
                    self.viewer.add_mark(self._marks[self.index])
                    self._reveal_region()
            else:
                self.viewer = make_viewer(self.library.series(item.case_id or ""), lang=self.lang,
                                          citation=self.library.citation(item.case_id or ""), height=380)
        except SeriesNotInArchive as exc:
            self.unavailable = UnavailableImage(exc, self.lang)
            self.viewer_box.children = [self.unavailable]
        else:
            self.viewer_box.children = [self.viewer]
        self._viewer_case = item.case_id

    def _hotspot_mark(self) -> Mark | None:
        """The student's last point mark on the hotspot viewer (None if none)."""
        return last_point(self.viewer.marks) if self.viewer is not None else None

    def _reveal_region(self) -> None:
        """Draw the accepting region of the current hotspot question (only once it is graded)."""
        from types import SimpleNamespace

        from caselib.ui.viewer import annotations_from_findings

        q = self._items[self.index].question
        assert isinstance(q, Hotspot)
        label = Text(zh=t("apps.quiz.hotspot.region", "zh-CN"), en=t("apps.quiz.hotspot.region", "en"))
        region = SimpleNamespace(roi=q.roi, slice_index=q.slice_index, description=label)
        self.viewer.set_annotations(annotations_from_findings([region], q.pixel_spacing, color="#00c853"))
        self.viewer.reveal_annotations()

    def check(self, value: Any = None) -> Any:
        """Grade the current answer (``value`` or the form's) and show the feedback at once.

        For a hotspot question the answer is the last point mark on the viewer
        (or ``value``: a :class:`~caselib.cases.marks.Mark` or ``(slice, row, col)``).
        """
        if self.index in self.results:
            return self.results[self.index]
        item = self._items[self.index]
        hotspot = item.question.kind == "hotspot"
        mark = None
        if hotspot:
            if value is None:
                mark = self._hotspot_mark()
            elif isinstance(value, Mark):
                mark = value
            if mark is not None:
                value = hotspot_answer(mark)
        elif value is None and self.form is not None:
            value = self.form.answer()
        if value is None:
            empty = "apps.quiz.hotspot.empty" if hotspot else "apps.quiz.empty"
            self.feedback.value = f"<span class='cl-feedback-bad' role='status'>{esc(self.t(empty))}</span>"
            return None
        result = grade(item.question, value)
        self.results[self.index] = result
        if self.form is not None:
            self.form.lock()
        if hotspot and self.viewer is not None:
            if mark is not None:
                self._marks[self.index] = mark
            self._reveal_region()
        usage("quiz_answer", case_id=item.case_id, question_id=item.question.id, score=result.score)
        self.relabel()
        return result

    def relabel(self) -> None:
        item = self._items[self.index]
        lang = self.lang
        self.counter.value = f"<b>{esc(self.t('apps.quiz.counter', n=self.index + 1, m=len(self._items)))}</b>"
        if item.case_id:
            case = self.library.case(item.case_id)
            synthetic = f" [{esc(self.t('apps.browser.synthetic'))}]" if case.synthetic else ""
            self.context.value = (f"<p><b>{esc(self.t('apps.browser.history'))}</b>: "
                                  f"{esc(text_of(case.history, lang))}{synthetic}</p>")
        else:
            self.context.value = ""
        if self.form is not None:
            self.form.relabel(lang)
        hotspot = item.question.kind == "hotspot"
        has_image = bool(self.show_images and item.case_id and self.library.case(item.case_id).series)
        shown = self.viewer is not None or self.unavailable is not None
        self.image_button.layout.display = "flex" if has_image and not hotspot and not shown else "none"
        self.image_button.description = self.t("apps.quiz.show_image")
        self.check_button.description = self.t("apps.quiz.check")
        # a hotspot whose image the archive lacks cannot be answered
        self.check_button.disabled = self.index in self.results or (hotspot and self.viewer is None)
        result = self.results.get(self.index)
        self.feedback.value = feedback_html(result, lang, item.question.explanation) if result else ""
        self.prev_button.description = self.t("apps.quiz.previous")
        self.next_button.description = self.t("apps.quiz.next")
        self.prev_button.disabled = self.index == 0
        self.next_button.disabled = self.index >= len(self._items) - 1
        got = sum(r.score or 0 for r in self.results.values())
        total = sum(self._items[i].question.max_score for i in self.results)
        self.score.value = esc(self.t("apps.quiz.score", score=got, max=total, answered=len(self.results),
                                      m=len(self._items)))
        if self.viewer is not None:
            self.viewer.lang = lang
        if self.unavailable is not None:
            self.unavailable.relabel(lang)
