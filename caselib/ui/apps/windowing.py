"""WindowingDemo: the teacher's live window/level demonstration on CT.

Centre and width sliders, the CT presets, the viewer, and a histogram of the
slice's Hounsfield units with the window drawn over it: everything left of
the window is shown black, everything right of it white, and the grey ramp
in between is all the contrast the eye gets.
"""
from __future__ import annotations

import os
from typing import Any

import ipywidgets as w
import numpy as np

from caselib.cases import SeriesRef
from caselib.i18n import t
from caselib.imaging import Window, list_presets

from ._viewer import WINDOW_TRAITS, UnavailableImage, make_viewer, set_viewer_window, viewer_window
from .library import SeriesNotInArchive, archive_from_env, load_series, series_citation
from .shell import AppShell, discard, esc, usage

__all__ = ["WindowingDemo", "hu_histogram", "histogram_svg", "DEMO_SERIES"]

#: the CT series the demo offers (manifest keys)
DEMO_SERIES = ("tcia-lung-ct", "ge-head-ct")

HU_RANGE = (-1100.0, 1900.0)


def hu_histogram(hu: np.ndarray, bins: int = 120, hu_range: tuple[float, float] = HU_RANGE
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Counts and bin edges of the HU values of a slice over ``hu_range``."""
    counts, edges = np.histogram(np.asarray(hu, dtype=np.float32), bins=bins, range=hu_range)
    return counts, edges


def window_fraction(hu: np.ndarray, window: Window) -> tuple[float, float, float]:
    """Fractions of pixels below, inside and above the window (black, grey, white)."""
    lo, hi = window.center - window.width / 2, window.center + window.width / 2
    a = np.asarray(hu)
    n = max(1, a.size)
    below, above = float((a < lo).sum()) / n, float((a > hi).sum()) / n
    return below, 1.0 - below - above, above


def histogram_svg(counts: np.ndarray, edges: np.ndarray, window: Window, *, label: str = "") -> str:
    """The histogram as an SVG (log counts), the window shaded, a grey ramp under it."""
    wd, ht, pad = 600, 160, 20
    lo, hi = float(edges[0]), float(edges[-1])

    def x(v: float) -> float:
        return pad + (min(max(v, lo), hi) - lo) / (hi - lo) * (wd - 2 * pad)

    logc = np.log1p(counts.astype(float))
    top = logc.max() or 1.0
    bw = (wd - 2 * pad) / len(counts)
    bars = "".join(
        f"<rect x='{pad + i * bw:.1f}' y='{ht - 30 - c / top * (ht - 45):.1f}' width='{bw:.2f}' "
        f"height='{c / top * (ht - 45):.1f}' fill='#4a6fa5'/>" for i, c in enumerate(logc) if c > 0)
    w0, w1 = x(window.center - window.width / 2), x(window.center + window.width / 2)
    ticks = "".join(
        f"<text x='{x(v):.0f}' y='{ht - 2}' font-size='11' text-anchor='middle'>{v:.0f}</text>"
        for v in (-1000, -500, 0, 500, 1000, 1500) if lo <= v <= hi)
    return (
        f"<svg viewBox='0 0 {wd} {ht}' width='100%' style='max-width:{wd}px' role='img' "
        f"aria-label='{esc(label)}'>"
        f"<rect x='{w0:.1f}' y='5' width='{max(w1 - w0, 1):.1f}' height='{ht - 35}' fill='#ffd54f' opacity='0.45'/>"
        f"{bars}"
        f"<defs><linearGradient id='ramp'><stop offset='0' stop-color='black'/>"
        f"<stop offset='1' stop-color='white'/></linearGradient></defs>"
        f"<rect x='{pad}' y='{ht - 28}' width='{max(w0 - pad, 0):.1f}' height='10' fill='black'/>"
        f"<rect x='{w0:.1f}' y='{ht - 28}' width='{max(w1 - w0, 1):.1f}' height='10' fill='url(#ramp)'/>"
        f"<rect x='{w1:.1f}' y='{ht - 28}' width='{max(wd - pad - w1, 0):.1f}' height='10' fill='white' "
        f"stroke='#999' stroke-width='0.5'/>"
        f"{ticks}</svg>")


class WindowingDemo(AppShell):
    """Live window/level on a CT series, with presets and the HU histogram under the window.

    Parameters
    ----------
    series_keys : sequence of str
        Manifest keys of CT series to offer (default :data:`DEMO_SERIES`).
    lang : str
        ``'zh-CN'`` or ``'en'``.

    Examples
    --------
    >>> demo = WindowingDemo(lang="en")           # doctest: +SKIP
    >>> demo.apply_preset("lung"); demo.window     # doctest: +SKIP
    Window(center=-600.0, width=1500.0)
    """

    def __init__(self, series_keys: tuple[str, ...] = DEMO_SERIES, *, lang: str = "zh-CN", title: bool = True,
                 archive: str | os.PathLike[str] | bool | None = None) -> None:
        super().__init__("apps.windowing.title", lang, title=title)
        self.series_keys = tuple(series_keys)
        # the series come from this archive (default $CASELIB_ARCHIVE; False: the data cache)
        if archive is True:
            raise ValueError("archive must be a folder, None (from $CASELIB_ARCHIVE) or False (no archive), got True")
        self.archive: str | os.PathLike[str] | None = (
            archive_from_env() if archive is None else None if archive is False else archive)
        self.unavailable: UnavailableImage | None = None
        self.presets = list_presets("CT")
        self.series_picker = w.Dropdown(options=list(self.series_keys), value=self.series_keys[0],
                                        layout=w.Layout(width="auto", max_width="100%"))
        self.series_picker.observe(lambda _: self._load(), names="value")
        self.preset_buttons = w.ToggleButtons(options=[(p.name, p.name) for p in self.presets], value=None,
                                              style={"button_width": "auto"})
        self.preset_buttons.observe(self._on_preset, names="value")
        slider = dict(continuous_update=True, layout=w.Layout(width="100%", max_width="520px"),
                      style={"description_width": "initial"})
        self.center = w.IntSlider(value=40, min=-1100, max=1500, step=1, **slider)
        self.width = w.IntSlider(value=400, min=1, max=3000, step=1, **slider)
        self.center.observe(self._on_slider, names="value")
        self.width.observe(self._on_slider, names="value")
        self.readout = w.HTML()
        self.histogram = w.HTML(layout=w.Layout(width="100%"))
        self.explain = w.HTML()
        self.viewer_box = w.VBox(layout=w.Layout(width="100%"))
        controls = w.VBox([self.series_picker, self.preset_buttons, self.center, self.width, self.readout,
                           self.histogram, self.explain])
        controls.add_class("cl-side")
        self.viewer_box.add_class("cl-main")
        row = w.Box([self.viewer_box, controls], layout=w.Layout(width="100%"))
        row.add_class("cl-row")
        self.body.children = [row]
        self.viewer: Any = None
        self._syncing = False
        self._load()
        self.relabel()

    @property
    def window(self) -> Window:
        """The window shown now."""
        return Window(float(self.center.value), float(self.width.value))

    def set_window(self, window: Window) -> None:
        """Show ``window`` (sliders, viewer and histogram follow)."""
        self._set_sliders(window)
        self._apply()

    def _set_sliders(self, window: Window) -> None:
        """Put ``window`` on the sliders without echoing it back, and mark its preset."""
        self._syncing = True
        try:
            self.center.value, self.width.value = int(round(window.center)), int(round(window.width))
        finally:
            self._syncing = False
        self._match_preset()

    def apply_preset(self, name: str) -> None:
        """Show a CT preset by name (``'lung'``, ``'bone'``...)."""
        self.preset_buttons.value = name

    def _load(self) -> None:
        key = self.series_picker.value
        discard(self.viewer, self.unavailable)
        self.viewer = self.unavailable = None
        try:
            self.series = load_series(SeriesRef(manifest_key=key), archive=self.archive)
        except SeriesNotInArchive as exc:
            self.unavailable = UnavailableImage(exc, self.lang)
            self.viewer_box.children = [self.unavailable]
            self.histogram.value = self.readout.value = ""
            return
        self.viewer = make_viewer(self.series, window=self.window, lang=self.lang,
                                  citation=series_citation(SeriesRef(manifest_key=key)))
        self.viewer.observe(self._on_viewer, names=["slice_index", *WINDOW_TRAITS])
        self.viewer_box.children = [self.viewer]      # the viewer shows the citation
        self._hu_cache: dict[int, np.ndarray] = {}
        self._apply()

    def _slice_hu(self) -> np.ndarray:
        i = int(self.viewer.slice_index)
        if i not in self._hu_cache:
            self._hu_cache = {i: self.series.frame(i)}
        return self._hu_cache[i]

    def _on_viewer(self, change: dict[str, Any]) -> None:
        if change["name"] in WINDOW_TRAITS and not self._syncing:
            self._set_sliders(viewer_window(self.viewer))
        self._draw_histogram()

    def _on_preset(self, change: dict[str, Any]) -> None:
        if change["new"] is None:
            return
        preset = next(p for p in self.presets if p.name == change["new"])
        self.set_window(preset.window)
        usage("apply_preset", preset=preset.name)

    def _on_slider(self, change: dict[str, Any]) -> None:
        if self._syncing:
            return
        self._match_preset()
        self._apply()

    def _match_preset(self) -> None:
        """Highlight the preset the sliders show, if any."""
        match = [p.name for p in self.presets
                 if (p.window.center, p.window.width) == (self.center.value, self.width.value)]
        self.preset_buttons.unobserve(self._on_preset, names="value")
        self.preset_buttons.value = match[0] if match else None
        self.preset_buttons.observe(self._on_preset, names="value")

    def _apply(self) -> None:
        if self.viewer is None:
            return
        self._syncing = True
        try:
            set_viewer_window(self.viewer, self.window)
        finally:
            self._syncing = False
        self._draw_histogram()

    def _draw_histogram(self) -> None:
        hu, win = self._slice_hu(), self.window
        counts, edges = hu_histogram(hu)
        below, inside, above = window_fraction(hu, win)
        self.histogram.value = histogram_svg(counts, edges, win, label=self.t("apps.windowing.histogram"))
        self.readout.value = esc(self.t("apps.windowing.readout", c=win.center, w=win.width,
                                        lo=win.center - win.width / 2, hi=win.center + win.width / 2,
                                        black=100 * below, grey=100 * inside, white=100 * above))

    def relabel(self) -> None:
        self.series_picker.description = self.t("apps.windowing.series")
        self.center.description = self.t("apps.windowing.center")
        self.width.description = self.t("apps.windowing.width")
        value = self.preset_buttons.value
        self.preset_buttons.unobserve(self._on_preset, names="value")
        self.preset_buttons.options = [(t("preset." + p.name, self.lang), p.name) for p in self.presets]
        self.preset_buttons.value = value
        self.preset_buttons.observe(self._on_preset, names="value")
        self.preset_buttons.tooltips = [f"{p.window} — {p.source}" for p in self.presets]
        self.explain.value = f"<p>{esc(self.t('apps.windowing.explain'))}</p>"
        if self.viewer is not None:
            self.viewer.lang = self.lang
            self._draw_histogram()
        if self.unavailable is not None:
            self.unavailable.relabel(self.lang)
