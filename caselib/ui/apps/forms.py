"""Answer forms for the public form of a question (what a student may see).

A :class:`QuestionForm` is built from ``question.to_dict(include_answer=False)``
only, so no answer, tolerance or explanation is ever put into a widget (and
so never reaches the browser) before the kernel grades the answer.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ipywidgets as w

from caselib.i18n import t, text_lang

from .shell import esc

__all__ = ["QuestionForm", "feedback_html"]


def _tx(d: Mapping[str, str], lang: str) -> str:
    return d[text_lang(lang)]


class QuestionForm(w.VBox):
    """Prompt + input for one question; :meth:`answer` returns what ``grade()`` expects.

    Hotspot questions need the viewer and are not built here.
    """

    def __init__(self, public: Mapping[str, Any], lang: str = "zh-CN") -> None:
        if "answer" in public or "answers" in public or "explanation" in public:
            raise ValueError(f"question {public.get('id')}: QuestionForm takes the public form "
                             "(to_dict(include_answer=False)), found an answer field")
        self.public = dict(public)
        self.kind = public["type"]
        self.lang = lang
        self._prompt = w.HTML()
        self._input = self._build_input()
        super().__init__([self._prompt, self._input], layout=w.Layout(width="100%"))
        self.relabel(lang)

    def _options(self) -> list[tuple[str, int]]:
        return [(_tx(o, self.lang), i) for i, o in enumerate(self.public.get("options", []))]

    def _build_input(self) -> w.Widget:
        k = self.kind
        full = w.Layout(width="auto", max_width="100%")
        if k == "single_choice":
            return w.RadioButtons(options=self._options(), value=None, layout=full)
        if k == "multiple_choice":
            return w.VBox([w.Checkbox(value=False, indent=False, layout=full)
                           for _ in self.public["options"]])
        if k == "true_false":
            return w.ToggleButtons(options=[("", True), ("", False)], value=None)
        if k == "numeric":
            return w.Text(value="", layout=w.Layout(width="16em", max_width="100%"))
        if k == "window":
            return w.HBox([w.Text(value="", layout=w.Layout(width="14em", max_width="100%")),
                           w.Text(value="", layout=w.Layout(width="14em", max_width="100%"))],
                          layout=w.Layout(flex_flow="row wrap"))
        if k == "ordering":
            n = len(self.public["items"])
            return w.VBox([w.Dropdown(options=[], value=None, layout=full) for _ in range(n)])
        if k == "free_text":
            return w.Textarea(value="", layout=w.Layout(width="100%", height="6em"))
        raise ValueError(f"question {self.public.get('id')}: type {k!r} has no form here "
                         "(hotspot questions are answered on the viewer)")

    def relabel(self, lang: str) -> None:
        """Show prompt, options and labels in ``lang``, keeping what the student entered."""
        self.lang = lang
        unit = self.public.get("unit") or ""
        suffix = f" ({esc(unit)})" if unit else ""
        self._prompt.value = f"<b>{esc(_tx(self.public['prompt'], lang))}</b>{suffix}"
        k, box = self.kind, self._input
        if k == "single_choice":
            value = box.value
            box.options = self._options()
            box.value = value
        elif k == "multiple_choice":
            for cb, o in zip(box.children, self.public["options"]):
                cb.description = _tx(o, lang)
        elif k == "true_false":
            value = box.value
            box.options = [(t("apps.quiz.true", lang), True), (t("apps.quiz.false", lang), False)]
            box.value = value
        elif k == "numeric":
            box.description = t("apps.quiz.number", lang)
            box.placeholder = t("apps.quiz.number_hint", lang)
        elif k == "window":
            for child, key in zip(box.children, ("apps.windowing.center", "apps.windowing.width")):
                child.description = t(key, lang)
                child.placeholder = "HU"
        elif k == "ordering":
            items = [(_tx(o, lang), i) for i, o in enumerate(self.public["items"])]
            for pos, dd in enumerate(box.children, 1):
                value = dd.value
                dd.options = items
                dd.value = value
                dd.description = t("apps.quiz.position", lang, n=pos)
        elif k == "free_text":
            box.placeholder = t("apps.quiz.free_text", lang)

    def answer(self) -> Any:
        """The entered answer in the form :func:`caselib.cases.grade` takes (None if empty)."""
        k, box = self.kind, self._input
        if k == "multiple_choice":
            return [i for i, cb in enumerate(box.children) if cb.value] or None
        if k == "numeric":
            return _number(box.value)
        if k == "window":
            c, wd = (_number(x.value) for x in box.children)
            return None if c is None or wd is None else (c, wd)
        if k == "ordering":
            order = [dd.value for dd in box.children]
            return None if any(v is None for v in order) else order
        if k == "free_text":
            return box.value.strip() or None
        return box.value

    def lock(self) -> None:
        """Disable the inputs (after an answer is final)."""
        for child in [self._input, *getattr(self._input, "children", ())]:
            if hasattr(child, "disabled"):
                child.disabled = True


def _number(text: str) -> float | None:
    """A typed number ("12", "-600", "12,5" with a decimal comma); None if empty or not a number."""
    try:
        return float(text.strip().replace(",", ".").replace("\u2212", "-"))
    except ValueError:
        return None


def feedback_html(result: Any, lang: str, explanation: Any = None) -> str:
    """Feedback of a :class:`caselib.cases.GradeResult` (and the explanation) as HTML."""
    ok = result.is_correct
    if ok is None:
        head, cls = t("apps.quiz.pending", lang), "cl-feedback-bad"
    elif ok:
        head, cls = t("apps.quiz.correct", lang), "cl-feedback-ok"
    else:
        head, cls = t("apps.quiz.incorrect", lang), "cl-feedback-bad"
    fb = result.feedback_zh if text_lang(lang) == "zh" else result.feedback_en
    out = f"<div role='status'><span class='{cls}'>{esc(head)}</span> {esc(fb)}"
    if explanation is not None:
        out += f"<br><i>{esc(explanation.get(text_lang(lang)))}</i>"
    return out + "</div>"
