"""CaseBrowser: the case tree, search, a viewer and the case write-up, findings on demand.

The student first sees what a clinician would have before reading: history,
technique and the images.  Findings (marked on the viewer when the case has
image coordinates), then the diagnosis or topic with the discussion, are
revealed by two buttons.  In unknown mode the tree and the case header show
neutral labels ("Case 3") until the diagnosis is revealed.
"""
from __future__ import annotations

from typing import Any

import ipywidgets as w
from ipywidgets.widgets.widget_string import HTMLStyle

from caselib.i18n import t

from ._viewer import UnavailableImage, make_viewer
from .library import CaseLibrary, SeriesNotInArchive, open_library, text_of
from .shell import AppShell, discard, esc, usage

__all__ = ["CaseBrowser"]


class CaseBrowser(AppShell):
    """Tree + search + viewer + write-up.

    Parameters
    ----------
    library : CaseLibrary, optional
        Default :func:`~caselib.ui.apps.library.open_library`.
    lang : str
        ``'zh-CN'`` or ``'en'``.
    unknown_mode : bool
        Start with titles and diagnoses hidden.

    Examples
    --------
    >>> app = CaseBrowser(lang="en")               # doctest: +SKIP
    >>> app.open_case("nema-rg3-leg-cr")           # doctest: +SKIP
    >>> app.reveal_findings(); app.reveal_diagnosis()   # doctest: +SKIP
    """

    def __init__(self, library: CaseLibrary | None = None, *, lang: str = "zh-CN",
                 unknown_mode: bool = False, title: bool = True) -> None:
        self.library = library or open_library()
        self.case_id: str | None = None
        self.viewer: Any = None
        self.unavailable: UnavailableImage | None = None   # shown instead of the viewer
        self._series_index = 0
        self._revealed = {"findings": False, "diagnosis": False}
        super().__init__("apps.browser.title", lang, title=title)
        self.search_box = w.Text(continuous_update=False, layout=w.Layout(width="100%"))
        self.search_box.observe(lambda _: self._fill_list(), names="value")
        self.search_button = w.Button(icon="search", layout=w.Layout(width="auto"))
        self.search_button.on_click(lambda _: self._fill_list())
        self.system = w.Dropdown(layout=w.Layout(width="100%"))
        self.system.observe(lambda _: self._fill_list(), names="value")
        self.unknown = w.Checkbox(value=unknown_mode, indent=False)
        self.unknown.observe(lambda _: self._on_unknown(), names="value")
        self.case_list = w.VBox(layout=w.Layout(width="100%", max_height="60vh", overflow="auto"))
        # one layout and style shared by every entry of the list: a class of 30 opening the
        # browser at once pays per widget model (kernel, websocket and browser alike)
        self._entry_layout = w.Layout(width="100%")
        self._button_style = w.ButtonStyle()
        self._label_style = HTMLStyle()
        self.case_list.add_class("cl-case-list")
        side = w.VBox([w.HBox([self.search_box, self.search_button]), self.system, self.unknown,
                       self.case_list])
        side.add_class("cl-side")
        self.header = w.HTML()
        self.series_picker = w.ToggleButtons(options=[], style={"button_width": "auto"})
        self.series_picker.observe(self._on_series, names="value")
        self.viewer_box = w.VBox(layout=w.Layout(width="100%"))
        self.findings_button = w.Button(button_style="info", layout=w.Layout(width="auto"))
        self.findings_button.on_click(lambda _: self.reveal_findings())
        self.findings = w.HTML()
        self.diagnosis_button = w.Button(button_style="warning", layout=w.Layout(width="auto"))
        self.diagnosis_button.on_click(lambda _: self.reveal_diagnosis())
        self.diagnosis = w.HTML()
        self.main = w.VBox([self.header, self.series_picker, self.viewer_box,
                            self.findings_button, self.findings, self.diagnosis_button, self.diagnosis])
        self.main.add_class("cl-main")
        row = w.Box([side, self.main], layout=w.Layout(width="100%"))
        row.add_class("cl-row")
        self.body.children = [row]
        self.relabel()

    # ----------------------------------------------------------------- list and tree
    def relabel(self) -> None:
        self.search_box.placeholder = self.t("apps.browser.search")
        self.search_box.description_allow_html = False
        self.search_button.tooltip = self.search_button.description = self.t("apps.browser.search_button")
        current = self.system.value
        counts = self.library.search(None).facets.get("organ_system", {})
        self.system.options = [(self.t("apps.browser.all_systems"), "")] + [
            (f"{t('organ_system.' + code, self.lang)} ({n})", code) for code, n in counts.items() if n]
        self.system.value = current if current in dict((v, k) for k, v in self.system.options) else ""
        self.system.description = ""
        self.unknown.description = self.t("apps.browser.unknown_mode")
        self.findings_button.description = self.t("apps.browser.show_findings")
        self.diagnosis_button.description = self.t("apps.browser.show_diagnosis")
        if self.viewer is not None:
            self.viewer.lang = self.lang
        if self.unavailable is not None:
            self.unavailable.relabel(self.lang)
        self._fill_list()
        self._render_case()

    def _on_unknown(self) -> None:
        self._fill_list()
        self._render_case()

    def _fill_list(self) -> None:
        """The case tree (organ system > diagnosis/topic > case), filtered by search and system."""
        text = self.search_box.value.strip()
        system = self.system.value or None
        unknown = self.unknown.value
        hits = None
        if text:
            hits = {r.case_id for r in self.library.search(text, organ_system=system, limit=500).rows}
            usage("search", n_hits=len(hits))        # the words typed are not logged
        tree = self.library.case_tree(unknown)
        children: list[w.Widget] = []
        for node in tree.systems:
            if system and node.system.value != system:
                continue
            topics: list[w.Widget] = []
            for topic in node.topics:
                leaves = [c for c in topic.cases if hits is None or c.case_id in hits]
                if not leaves:
                    continue
                label = topic.label_zh if self.lang == "zh-CN" else topic.label_en
                buttons = []
                for leaf in leaves:
                    name = (leaf.label_zh if self.lang == "zh-CN" else leaf.label_en) if unknown else \
                        (leaf.title_zh if self.lang == "zh-CN" else leaf.title_en) or leaf.case_id
                    if leaf.synthetic:
                        name += " · " + self.t("apps.browser.synthetic")
                    b = w.Button(description=name, tooltip=name, layout=self._entry_layout,
                                 style=self._button_style)
                    b.add_class("cl-case-button")
                    b.on_click(lambda _, cid=leaf.case_id: self.open_case(cid))
                    buttons.append(b)
                heading = f"<div style='margin:4px 0 0 8px;color:#444'>{esc(label)}</div>"
                if not topics:
                    sys_label = t("organ_system." + node.system.value, self.lang)
                    heading = f"<h4 style='margin:8px 0 2px'>{esc(sys_label)}</h4>" + heading
                topics.append(w.HTML(heading, layout=self._entry_layout, style=self._label_style))
                topics.extend(buttons)
            children.extend(topics)
        if not children:
            children = [w.HTML(esc(self.t("apps.browser.no_results")), layout=self._entry_layout,
                               style=self._label_style)]
        old = self.case_list.children
        self.case_list.children = children
        discard(*old, keep=(self._entry_layout, self._button_style, self._label_style))

    # ----------------------------------------------------------------- one case
    def open_case(self, case_id: str) -> None:
        """Show a case: header, its first series in the viewer, nothing revealed."""
        self.library.case(case_id)  # KeyError with the ids the library has
        self.case_id = case_id
        self._revealed = {"findings": False, "diagnosis": False}
        self._series_index = 0
        case = self.library.case(case_id)
        self.series_picker.unobserve(self._on_series, names="value")
        self.series_picker.options = [(str(i + 1), i) for i in range(len(case.series))]
        self.series_picker.value = 0 if case.series else None
        self.series_picker.layout.display = "flex" if len(case.series) > 1 else "none"
        self.series_picker.observe(self._on_series, names="value")
        self._show_series()
        self._render_case()
        usage("open_case", case_id=case_id)

    def _on_series(self, change: dict[str, Any]) -> None:
        if change["new"] is not None:
            self._series_index = change["new"]
            self._show_series()

    def _show_series(self) -> None:
        case = self.library.case(self.case_id or "")
        discard(self.viewer, self.unavailable)
        self.viewer = self.unavailable = None
        if not case.series:
            self.viewer_box.children = []
            return
        try:
            series = self.library.series(case.id, self._series_index)
        except SeriesNotInArchive as exc:     # the archive does not hold it: say so, the write-up stays
            self.unavailable = UnavailableImage(exc, self.lang)
            self.viewer_box.children = [self.unavailable]
            return
        findings = [f for f in case.findings if f.series == case.series[self._series_index]]
        citation = self.library.citation(case.id, self._series_index)
        self.viewer = make_viewer(series, findings=findings, lang=self.lang, citation=citation)
        if self._revealed["findings"]:
            self.viewer.reveal_annotations()
        self.viewer_box.children = [self.viewer]      # the viewer shows the citation

    def reveal_findings(self) -> None:
        """Show the findings (and mark them on the viewer)."""
        if self.case_id is None:
            return
        self._revealed["findings"] = True
        if self.viewer is not None:
            self.viewer.reveal_annotations()
        self._render_case()
        usage("reveal_findings", case_id=self.case_id)

    def reveal_diagnosis(self) -> None:
        """Show the diagnosis or topic, differential, discussion and teaching points."""
        if self.case_id is None:
            return
        self._revealed["diagnosis"] = True
        self._render_case()
        usage("reveal_diagnosis", case_id=self.case_id)

    def _render_case(self) -> None:
        busy = self.case_id is None
        for b in (self.findings_button, self.diagnosis_button):
            b.layout.display = "none" if busy else "flex"
        if busy:
            self.header.value = f"<p>{esc(self.t('apps.browser.pick_case'))}</p>"
            self.findings.value = self.diagnosis.value = ""
            return
        case, lang = self.library.case(self.case_id or ""), self.lang
        unknown = self.unknown.value and not self._revealed["diagnosis"]
        if unknown:
            leaf = next(c for s in self.library.case_tree(True).systems for tp in s.topics
                        for c in tp.cases if c.case_id == case.id)
            title = leaf.label_zh if lang == "zh-CN" else leaf.label_en
        else:
            title = text_of(case.title, lang)
        synthetic = f" <b>[{esc(self.t('apps.browser.synthetic'))}]</b>" if case.synthetic else ""
        parts = [f"<h3 style='margin:4px 0'>{esc(title)}{synthetic}</h3>",
                 f"<p><b>{esc(self.t('apps.browser.history'))}</b>: {esc(text_of(case.history, lang))}</p>",
                 f"<p><b>{esc(self.t('apps.browser.technique'))}</b>: {esc(text_of(case.technique, lang))}</p>"]
        if case.learning_objectives:
            goals = "".join(f"<li>{esc(text_of(g, lang))}</li>" for g in case.learning_objectives)
            parts.append(f"<details><summary>{esc(self.t('apps.browser.objectives'))}</summary>"
                         f"<ul>{goals}</ul></details>")
        self.header.value = "".join(parts)
        self.findings_button.disabled = self._revealed["findings"]
        self.diagnosis_button.disabled = self._revealed["diagnosis"]
        if self._revealed["findings"]:
            items = "".join(
                f"<li>{esc(text_of(f.description, lang))} <span style='color:#666'>("
                + esc(self.t("apps.browser.series_slice", s=case.series.index(f.series) + 1, n=f.slice_index + 1))
                + ")</span></li>" for f in case.findings)
            self.findings.value = (f"<h4>{esc(self.t('apps.browser.findings'))}</h4>"
                                   + (f"<ul>{items}</ul>" if items else
                                      f"<p>{esc(self.t('apps.browser.no_findings'))}</p>"))
        else:
            self.findings.value = ""
        if self._revealed["diagnosis"]:
            label_key = "apps.browser.diagnosis" if case.diagnosis is not None else "apps.browser.topic"
            label = case.diagnosis if case.diagnosis is not None else case.topic
            out = [f"<h4>{esc(self.t(label_key))}</h4><p>{esc(text_of(label, lang))}</p>"]
            if case.differential:
                out.append(f"<p><b>{esc(self.t('apps.browser.differential'))}</b>: "
                           + "; ".join(esc(text_of(d, lang)) for d in case.differential) + "</p>")
            out.append(f"<p><b>{esc(self.t('apps.browser.discussion'))}</b>: {esc(text_of(case.discussion, lang))}</p>")
            if case.teaching_points:
                out.append(f"<b>{esc(self.t('apps.browser.teaching_points'))}</b><ul>"
                           + "".join(f"<li>{esc(text_of(p, lang))}</li>" for p in case.teaching_points)
                           + "</ul>")
            self.diagnosis.value = "".join(out)
        else:
            self.diagnosis.value = ""
