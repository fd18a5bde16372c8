"""What every classroom app shares: a header with the title and the zh-CN/English switch,
a stylesheet that keeps the apps usable at phone size (375 x 812), and small text helpers.

An app subclasses :class:`AppShell`, builds its parts in ``__init__`` and
re-labels them in :meth:`AppShell.relabel`, which the language switch calls.
"""
from __future__ import annotations

import html
from typing import Any

import ipywidgets as w

from caselib.i18n import normalize_language, t
from caselib.usage import record_event

__all__ = ["AppShell", "STYLE", "discard", "esc", "usage"]

#: one stylesheet for all apps: flexible rows that wrap on a phone, no fixed widths
STYLE = """<style>
.cl-app { max-width: 1100px; width: 100%; box-sizing: border-box; }
.cl-app .widget-html-content, .cl-app .widget-label { white-space: normal; line-height: 1.4; }
.cl-row { display: flex; flex-wrap: wrap; gap: 8px; align-items: flex-start; }
.cl-side { flex: 1 1 260px; min-width: 0; max-width: 100%; }
.cl-main { flex: 3 1 320px; min-width: 0; max-width: 100%; overflow-x: auto; }
.cl-app button:focus-visible, .cl-app input:focus-visible, .cl-app select:focus-visible,
.cl-app textarea:focus-visible { outline: 3px solid #1a73e8; outline-offset: 1px; }
.cl-app .widget-button { height: auto; min-height: 32px; white-space: normal; }
.cl-app button.cl-case-button { width: 100%; text-align: left; white-space: normal; height: auto;
  line-height: 1.3; padding: 6px 8px; overflow: visible; text-overflow: clip; }
.cl-citation { font-size: 0.8em; color: #555; }
.cl-feedback-ok { color: #0a7a2f; font-weight: bold; }
.cl-feedback-bad { color: #b3261e; font-weight: bold; }
.cl-app .widget-slider { max-width: 100%; }
@media (max-width: 600px) {
  .cl-app { font-size: 15px; }
  .cl-app .widget-inline-hbox { flex-wrap: wrap; }
  .cl-app .widget-hslider { width: 100% !important; }
}
</style>"""


def esc(text: object) -> str:
    """HTML-escape any value for an ``HTML`` widget."""
    return html.escape(str(text), quote=True)


def discard(*widgets: Any, keep: tuple[Any, ...] = ()) -> None:
    """Close widgets that are no longer shown, with their children, layouts and styles.

    A closed widget is no longer sent to a browser that opens the page (Voila
    loads every open widget model), so replacing part of an app does not let
    the page grow.  Objects in ``keep`` (shared layouts and styles) stay open.
    """
    seen = {id(k) for k in keep}
    stack = [x for x in widgets if x is not None]
    while stack:
        wid = stack.pop()
        if id(wid) in seen or not isinstance(wid, w.Widget):
            continue
        seen.add(id(wid))
        stack.extend(getattr(wid, "children", ()) or ())
        stack.extend(x for x in (getattr(wid, "layout", None), getattr(wid, "style", None)) if x is not None)
        wid.close()


def usage(action: str, **fields: Any) -> None:
    """Record a usage event (:func:`caselib.usage.record_event`, which never raises)."""
    record_event(action, **fields)


class AppShell(w.VBox):
    """Header (title + language switch) over a body; subclasses fill ``self.body``.

    Parameters
    ----------
    title_key : str
        Message key of the app title (``caselib.i18n``).
    lang : str
        ``'zh-CN'`` (default) or ``'en'``.
    title : bool
        Show the title (False when the page already has one, e.g. a Voila app's
        Markdown title cell).
    """

    def __init__(self, title_key: str, lang: str = "zh-CN", *, title: bool = True, **kw: Any) -> None:
        self.lang = normalize_language(lang)
        self._title_key = title_key
        self._title = w.HTML(layout=w.Layout(display="" if title else "none"))
        self.language = w.ToggleButtons(options=[("中文", "zh-CN"), ("English", "en")], value=self.lang,
                                        style={"button_width": "auto"})
        self.language.add_class("cl-language")
        self.language.observe(self._on_language, names="value")
        header = w.HBox([self._title, self.language],
                        layout=w.Layout(justify_content="space-between", flex_flow="row wrap",
                                        align_items="center", width="100%"))
        self.body = w.VBox(layout=w.Layout(width="100%"))
        super().__init__([w.HTML(STYLE), header, self.body], layout=w.Layout(width="100%"), **kw)
        self.add_class("cl-app")
        self._relabel_title()

    def t(self, key: str, **params: Any) -> str:
        """A message in the app's current language."""
        return t(key, self.lang, **params)

    def _relabel_title(self) -> None:
        self._title.value = f"<h2 style='margin:4px 0'>{esc(self.t(self._title_key))}</h2>"

    def _on_language(self, change: dict[str, Any]) -> None:
        self.set_language(change["new"])

    def set_language(self, lang: str) -> None:
        """Switch every label of the app to ``lang``."""
        self.lang = normalize_language(lang)
        if self.language.value != self.lang:
            self.language.value = self.lang
        self._relabel_title()
        self.relabel()

    def relabel(self) -> None:  # pragma: no cover - overridden
        """Re-label the body in ``self.lang``."""
