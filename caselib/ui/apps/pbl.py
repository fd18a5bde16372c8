"""PBLPlayer: a problem-based-learning case, stage by stage.

The player holds a :class:`caselib.cases.PBLSession` in the kernel and puts
into widgets only what the session's :class:`~caselib.cases.StageView` of an
unlocked stage holds (public question forms, no answers).  Later stages,
answer keys and explanations never leave the kernel before they are
unlocked, so in Voila (where the student does not run code) the gate is
real; the browser tests check the page HTML and every websocket frame.
"""
from __future__ import annotations

from typing import Any

import ipywidgets as w

from caselib.cases import PBLCase, PBLError, PBLSession

from ._viewer import UnavailableImage, make_viewer
from .forms import QuestionForm, feedback_html
from .library import CaseLibrary, SeriesNotInArchive, open_library, text_of
from .shell import AppShell, discard, esc, usage

__all__ = ["PBLPlayer"]


class PBLPlayer(AppShell):
    """Stages one after another; "Next stage" unlocks when every prompt is answered.

    Parameters
    ----------
    case : PBLCase, optional
        Default: the first PBL case of the library.
    student_id : str
        Names the session in the log.
    lang : str
        ``'zh-CN'`` or ``'en'``.

    Examples
    --------
    >>> player = PBLPlayer(lang="en")                  # doctest: +SKIP
    >>> player.session.current_stage().index           # doctest: +SKIP
    0
    """

    def __init__(self, case: PBLCase | None = None, *, library: CaseLibrary | None = None,
                 student_id: str = "student", lang: str = "zh-CN", title: bool = True) -> None:
        self.library = library or open_library()
        case = case or self.library.pbl_case()
        self.session = PBLSession(case, student_id)
        self._case_title = case.title  # the title is public: it is shown from the start
        super().__init__("apps.pbl.title", lang, title=title)
        self.case_header = w.HTML()
        self.progress = w.IntProgress(min=0, max=self.session.n_stages, value=1,
                                      layout=w.Layout(width="100%", max_width="480px"))
        self.history = w.HTML()
        self.stage_text = w.HTML()
        self.viewer_box = w.VBox(layout=w.Layout(width="100%"))
        self.prompts_box = w.VBox(layout=w.Layout(width="100%"))
        self.next_button = w.Button(button_style="primary", layout=w.Layout(width="auto"))
        self.next_button.on_click(lambda _: self.advance())
        self.status = w.HTML()
        self.body.children = [self.case_header, self.progress, self.history, self.stage_text,
                              self.viewer_box, self.prompts_box, self.next_button, self.status]
        self.viewer: Any = None
        self.unavailable: UnavailableImage | None = None
        self._forms: dict[str, QuestionForm] = {}
        self._feedback: dict[str, w.HTML] = {}
        self._results: dict[str, Any] = {}
        self._show_stage()
        usage("pbl_start", case_id=self.session.case_id)

    # ----------------------------------------------------------------- actions
    def submit(self, prompt_id: str, value: Any = None) -> Any:
        """Grade an answer (``value`` or what the form holds) and show the feedback."""
        form = self._forms[prompt_id]
        value = form.answer() if value is None else value
        if value is None:
            self._feedback[prompt_id].value = f"<span class='cl-feedback-bad'>{esc(self.t('apps.quiz.empty'))}</span>"
            return None
        result = self.session.answer(prompt_id, value)
        self._results[prompt_id] = result
        self._feedback[prompt_id].value = feedback_html(result, self.lang)
        self._update_next()
        usage("pbl_answer", case_id=self.session.case_id, prompt_id=prompt_id, score=result.score)
        return result

    def advance(self) -> None:
        """Go to the next stage (refused, with a message, while prompts are unanswered)."""
        try:
            self.session.advance()
        except PBLError:
            self.status.value = f"<span class='cl-feedback-bad'>{esc(self.t('apps.pbl.answer_all'))}</span>"
            return
        self._results.clear()
        reached = self.session.n_stages if self.session.finished else self.session.stage_number
        usage("pbl_advance", case_id=self.session.case_id, stage=reached)
        self._show_stage()

    # ----------------------------------------------------------------- drawing
    def _show_stage(self) -> None:
        discard(self.viewer, self.unavailable, *self.prompts_box.children)
        self._forms, self._feedback = {}, {}
        self.viewer, self.unavailable, self.viewer_box.children = None, None, []
        self.prompts_box.children = []
        if self.session.finished:
            self.progress.value = self.session.n_stages
            self.relabel()
            return
        view = self.session.current_stage()
        if view.series:
            ref = view.series[0]
            try:
                self.viewer = make_viewer(self.library.series_for(ref), lang=self.lang,
                                          citation=self.library.citation_for(ref))
                self.viewer_box.children = [self.viewer]
            except SeriesNotInArchive as exc:
                self.unavailable = UnavailableImage(exc, self.lang)
                self.viewer_box.children = [self.unavailable]
        rows = []
        for public in view.prompts:
            form = QuestionForm(public, self.lang)
            button = w.Button(layout=w.Layout(width="auto"))
            button.on_click(lambda _, pid=public["id"]: self.submit(pid))
            feedback = w.HTML()
            self._forms[public["id"]], self._feedback[public["id"]] = form, feedback
            rows.append(w.VBox([form, button, feedback],
                               layout=w.Layout(border="1px solid #ddd", padding="6px", margin="4px 0")))
        self.prompts_box.children = rows
        self.progress.value = view.index + 1
        self.relabel()

    def _update_next(self) -> None:
        if self.session.finished:
            self.next_button.layout.display = "none"
            return
        view = self.session.current_stage()
        self.next_button.layout.display = "flex"
        self.next_button.disabled = bool(view.unanswered)
        self.next_button.description = self.t("apps.pbl.finish" if view.is_last else "apps.pbl.next")
        self.status.value = (esc(self.t("apps.pbl.answer_all")) if view.unanswered else "")

    def relabel(self) -> None:
        lang = self.lang
        self.case_header.value = f"<h3 style='margin:4px 0'>{esc(text_of(self._case_title, lang))}</h3>"
        done = []
        for v in self.session.unlocked_stages():
            if not self.session.finished and v.index == self.session.current_stage().index:
                continue
            done.append(f"<details><summary>{esc(self.t('apps.pbl.stage_n', n=v.index + 1, m=v.n_stages))}: "
                        f"{esc(text_of(v.title, lang))}</summary><p>{esc(text_of(v.text, lang))}</p></details>")
        self.history.value = "".join(done)
        if self.session.finished:
            summary = self.session.summary()
            score, max_score = summary.get("total_score"), summary.get("max_score")
            self.stage_text.value = (f"<h3>{esc(self.t('apps.pbl.finished'))}</h3>"
                                     + (f"<p>{esc(self.t('apps.pbl.score', score=score or 0, max=max_score))}</p>"
                                        if max_score else ""))
        else:
            view = self.session.current_stage()
            self.stage_text.value = (
                f"<h4 style='margin:6px 0'>{esc(self.t('apps.pbl.stage_n', n=view.index + 1, m=view.n_stages))}: "
                f"{esc(text_of(view.title, lang))}</h4><p>{esc(text_of(view.text, lang))}</p>")
        for pid, form in self._forms.items():
            form.relabel(lang)
            if pid in self._results:
                self._feedback[pid].value = feedback_html(self._results[pid], lang)
        for row in self.prompts_box.children:
            row.children[1].description = self.t("apps.quiz.check")
        if self.viewer is not None:
            self.viewer.lang = lang
        if self.unavailable is not None:
            self.unavailable.relabel(lang)
        self._update_next()
