"""Quiz: self-test from the question bank with instant feedback.

Questions come from the cases' ``questions`` (and any extra
:class:`~caselib.ui.apps.library.QuizItem`), asked one at a time with the
case's first image when the question belongs to a case.  The widgets get
only each question's public form; the answer key and the explanation stay
in the kernel until the student checks an answer (the browser tests look for
them in the page and in every websocket frame).  Hotspot questions need a
click on the image and are left to the lessons.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ipywidgets as w

from caselib.cases import grade, shuffle_for_student

from ._viewer import make_viewer
from .forms import QuestionForm, feedback_html
from .library import CaseLibrary, QuizItem, open_library, text_of
from .shell import AppShell, discard, esc, usage

__all__ = ["Quiz"]


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
        self.body.children = [self.counter, self.context, self.image_button, self.viewer_box, self.form_box,
                              self.check_button, self.feedback, nav]
        self.viewer: Any = None
        self._viewer_case: str | None = None
        self._images_on = False
        self.form: QuestionForm | None = None
        self.go(0)

    def __len__(self) -> int:
        return len(self._items)

    def go(self, index: int) -> None:
        """Show question ``index`` (0-based; clipped to the bank)."""
        self.index = max(0, min(index, len(self._items) - 1))
        item = self._items[self.index]
        discard(self.form)
        self.form = QuestionForm(item.question.to_dict(include_answer=False), self.lang)
        self.form_box.children = [self.form]
        if self.index in self.results:
            self.form.lock()
        if item.case_id != self._viewer_case:
            discard(self.viewer)
            self.viewer, self.viewer_box.children, self._viewer_case = None, [], None
            if self._images_on:
                self.show_image()
        self.relabel()

    def show_image(self) -> None:
        """Show the first series of the current question's case (images load on demand:
        a mammogram is tens of megabytes, too much to send to every phone up front)."""
        item = self._items[self.index]
        if not (self.show_images and item.case_id and self.library.case(item.case_id).series):
            return
        self._images_on = True
        if self._viewer_case != item.case_id:
            self.viewer = make_viewer(self.library.series(item.case_id), lang=self.lang,
                                      citation=self.library.citation(item.case_id), height=380)
            self.viewer_box.children = [self.viewer]
            self._viewer_case = item.case_id
        self.relabel()

    def check(self, value: Any = None) -> Any:
        """Grade the current answer (``value`` or the form's) and show the feedback at once."""
        if self.index in self.results:
            return self.results[self.index]
        value = self.form.answer() if value is None and self.form is not None else value
        if value is None:
            self.feedback.value = f"<span class='cl-feedback-bad'>{esc(self.t('apps.quiz.empty'))}</span>"
            return None
        item = self._items[self.index]
        result = grade(item.question, value)
        self.results[self.index] = result
        if self.form is not None:
            self.form.lock()
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
        has_image = bool(self.show_images and item.case_id and self.library.case(item.case_id).series)
        self.image_button.layout.display = "flex" if has_image and self.viewer is None else "none"
        self.image_button.description = self.t("apps.quiz.show_image")
        self.check_button.description = self.t("apps.quiz.check")
        self.check_button.disabled = self.index in self.results
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
