"""The interactive image viewer for JupyterLab and Voila (an anywidget).

Raw stored pixel values go to the browser as binary buffers (int16, uint16 ...
with their rescale slope and intercept), one slice at a time when it is
needed, plus a few neighbours ahead; window/level, inversion (MONOCHROME1)
and zoom/pan happen in the browser on a canvas, so dragging the window costs
no round trip to the kernel.  The browser's window function re-implements
:func:`caselib.imaging.apply_window` (the browser tests compare the two).

Public API
----------
``Viewer(data, *, window=None, preset=None, annotations=(), lang="zh-CN",
reveal_allowed=True, citation="", height=520, slice_index=None, **array_options)``

- ``data``: a :class:`caselib.dicom.Series` (from :func:`caselib.dicom.read`),
  or a numpy array ``(slices, rows, cols)`` / ``(rows, cols)`` /
  ``(..., 3)`` uint8 RGB.  For arrays: ``pixel_spacing=(row_mm, col_mm)``,
  ``rescale=(slope, intercept)``, ``modality="CT"``, ``affine=4x4``,
  ``series_uid=...``.
- ``window``: a :class:`caselib.imaging.Window` or ``(center, width)``;
  ``preset``: a preset name (``"lung"``); default: the stored window, else
  one spanning the data.
- ``annotations``: dicts or :class:`Annotation` (arrows, circles, ellipses,
  text in image coordinates); kept in Python and *not sent to the browser*
  until :meth:`Viewer.reveal_annotations` (or the reveal button, when
  ``reveal_allowed``).

``Viewer.from_archive(archive, series_uid, **kw)`` opens a series of an
archive built by ``caselib ingest``.

State Python can read and set (all synced with the browser):

- ``viewer.slice_index`` (0-based, display order), ``viewer.window``
  (a :class:`~caselib.imaging.Window`; or ``window_center``/``window_width``),
  ``viewer.invert``, ``viewer.tool``, ``viewer.lang``, ``viewer.playing``.
- ``viewer.marks``: ``list[caselib.cases.marks.Mark]`` the student placed
  (points, ellipses with mean/SD/area from :func:`caselib.imaging.roi_stats`,
  lines with their length in mm); ``viewer.save_marks(path)``;
  ``viewer.clear_marks()``; ``viewer.observe_marks(callback)``.
- ``viewer.reveal_annotations()``, ``viewer.hide_annotations()``.

Static rendering (no browser): :func:`caselib.ui.render.render_slice`.
Side by side / linked: :func:`caselib.ui.linked.link_viewers`,
:func:`caselib.ui.linked.side_by_side`.

Keyboard (the image has focus; every button is also reachable with Tab):
Up/Down slice, PageUp/PageDown 10 slices, Home/End first/last; Left/Right
window level, Shift+Left/Right window width; 1-9 presets; i invert; + / -
zoom; 0 or r reset; Space play/pause (cine); w/m/z/h/d/e/k tools (window,
move, zoom, probe, distance, ellipse, point mark); Alt+arrows move the
keyboard cursor (or pan with the move tool), Enter applies the tool there;
a show/hide annotations; Escape cancels a drawing.

Examples
--------
>>> from caselib.dicom import read                       # doctest: +SKIP
>>> from caselib.data import fetch_dataset               # doctest: +SKIP
>>> ct = read(fetch_dataset("tcia-lung-ct")).only_series()   # doctest: +SKIP
>>> v = Viewer(ct, preset="lung", lang="en")             # doctest: +SKIP
>>> v                                                    # doctest: +SKIP
>>> v.slice_index, v.window, v.marks                     # doctest: +SKIP
"""
from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from caselib.cases.marks import Mark, mark_to_patient, save_marks
from caselib.i18n import normalize_language, text_lang
from caselib.imaging import PRESETS, Window
from caselib.usage import record_event
from caselib.ui._source import ImageSource, as_source, orientation_labels, resolve_window

__all__ = ["Viewer", "Annotation", "annotations_from_findings", "PREFETCH"]

_STATIC = Path(__file__).parent / "static"

#: Slices requested on each side of the current one.
PREFETCH = 4

TOOLS = ("wl", "pan", "zoom", "probe", "distance", "ellipse", "point")

_LABEL_KEYS = (
    "window", "level", "window_level", "presets", "invert", "reset", "zoom", "pan", "probe",
    "probe_value_unit", "distance", "distance_value", "roi", "roi_stats_unit", "play", "pause",
    "slice", "show_annotations", "hide_annotations", "tool_wl", "tool_point", "marks",
    "clear_marks", "delete_mark", "preset_source", "keyboard_help", "loading", "frame", "value",
    "no_spacing", "slider", "image", "fps", "point_value", "line_length", "annotations_hidden",
)


@dataclass(frozen=True)
class Annotation:
    """A teacher's annotation in image coordinates.

    Parameters
    ----------
    kind : str
        ``"arrow"`` (from ``(row, col)`` pointing at ``(end_row, end_col)``),
        ``"circle"`` (``radius`` pixels), ``"ellipse"`` (``radius_row``,
        ``radius_col`` pixels) or ``"text"``.
    row, col : float
        Anchor in pixel coordinates.
    slice_index : int or None
        The slice it belongs to; None shows it on every slice.
    text : str or mapping
        A label; ``{"zh": ..., "en": ...}`` is shown in the viewer's language.
    color : str
        A CSS colour.
    """

    kind: str
    row: float
    col: float
    slice_index: int | None = None
    end_row: float | None = None
    end_col: float | None = None
    radius: float | None = None
    radius_row: float | None = None
    radius_col: float | None = None
    text: str | Mapping[str, str] = ""
    color: str = "#ffd200"

    def __post_init__(self) -> None:
        if self.kind not in ("arrow", "circle", "ellipse", "text"):
            raise ValueError(f"Annotation.kind must be arrow, circle, ellipse or text, got {self.kind!r}")
        for name in ("row", "col"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"Annotation.{name} must be a finite number, got {v!r}")
        if self.kind == "arrow" and (self.end_row is None or self.end_col is None):
            raise ValueError("an arrow Annotation needs end_row and end_col (where it points)")
        if self.kind == "circle" and not (self.radius and self.radius > 0):
            raise ValueError(f"a circle Annotation needs a positive radius (pixels), got {self.radius!r}")
        if self.kind == "ellipse" and not (self.radius_row and self.radius_col
                                           and self.radius_row > 0 and self.radius_col > 0):
            raise ValueError("an ellipse Annotation needs positive radius_row and radius_col (pixels)")

    @classmethod
    def from_value(cls, value: Annotation | Mapping[str, Any]) -> Annotation:
        if isinstance(value, Annotation):
            return value
        if not isinstance(value, Mapping):
            raise TypeError(f"an annotation is an Annotation or a dict, got {type(value).__name__}")
        return cls(**dict(value))

    def to_json(self, lang: str) -> dict[str, Any]:
        text = self.text
        if isinstance(text, Mapping):
            key = text_lang(lang)
            text = text.get(key) or next(iter(text.values()), "")
        d = {k: getattr(self, k) for k in ("kind", "row", "col", "slice_index", "end_row", "end_col",
                                            "radius", "radius_row", "radius_col", "color")}
        d["text"] = str(text)
        return {k: v for k, v in d.items() if v is not None}


def annotations_from_findings(findings: Iterable[Any], pixel_spacing: Sequence[float],
                              *, color: str = "#ffd200") -> list[Annotation]:
    """Circles/ellipses/points for the findings of a :class:`caselib.cases.Case`.

    The ROI radii in mm become pixels through ``pixel_spacing`` (row_mm, col_mm);
    the finding's bilingual description is the label.
    """
    from caselib.cases.schema import CircleROI, EllipseROI, PointROI

    sr, sc = float(pixel_spacing[0]), float(pixel_spacing[1])
    out = []
    for f in findings:
        roi = f.roi
        text = {"zh": f.description.zh, "en": f.description.en}
        if isinstance(roi, CircleROI):
            out.append(Annotation("ellipse", roi.row, roi.col, f.slice_index, radius_row=roi.radius_mm / sr,
                                  radius_col=roi.radius_mm / sc, text=text, color=color))
        elif isinstance(roi, EllipseROI):
            out.append(Annotation("ellipse", roi.row, roi.col, f.slice_index,
                                  radius_row=roi.radius_row_mm / sr, radius_col=roi.radius_col_mm / sc,
                                  text=text, color=color))
        elif isinstance(roi, PointROI):
            out.append(Annotation("arrow", roi.row - 25, roi.col - 25, f.slice_index, end_row=roi.row,
                                  end_col=roi.col, text=text, color=color))
    return out


def _labels(lang: str) -> dict[str, str]:
    from caselib.i18n import default_catalogue

    msgs = default_catalogue().messages(lang)
    fallback = default_catalogue().messages("en")
    out = {}
    for k in _LABEL_KEYS:
        key = f"viewer.{k}"
        out[k] = msgs.get(key) or fallback.get(key) or key
    return out


class Viewer(anywidget.AnyWidget):
    """Interactive viewer; see the module docstring for the API."""

    _esm = _STATIC / "viewer.js"
    _css = _STATIC / "viewer.css"

    meta = traitlets.Dict().tag(sync=True)
    labels = traitlets.Dict().tag(sync=True)
    lang = traitlets.Unicode("zh-CN").tag(sync=True)
    slice_index = traitlets.Int(0).tag(sync=True)
    window_center = traitlets.Float(0.0).tag(sync=True)
    window_width = traitlets.Float(1.0).tag(sync=True)
    invert = traitlets.Bool(False).tag(sync=True)
    tool = traitlets.Unicode("wl").tag(sync=True)
    playing = traitlets.Bool(False).tag(sync=True)
    fps = traitlets.Float(10.0).tag(sync=True)
    marks_data: traitlets.List[Any] = traitlets.List().tag(sync=True)
    annotations_visible = traitlets.Bool(False).tag(sync=True)
    visible_annotations: traitlets.List[Any] = traitlets.List().tag(sync=True)
    reveal_allowed = traitlets.Bool(True).tag(sync=True)
    height = traitlets.Int(520).tag(sync=True)

    def __init__(self, data: Any, *, window: Window | Sequence[float] | None = None,
                 preset: str | None = None, annotations: Iterable[Annotation | Mapping[str, Any]] = (),
                 lang: str = "zh-CN", reveal_allowed: bool = True, citation: str = "",
                 height: int = 520, slice_index: int | None = None, tool: str = "wl",
                 case_id: str | None = None, **array_options: Any) -> None:
        source = as_source(data, **array_options)
        self._case_id = case_id
        self._source: ImageSource = source
        self._annotations = [Annotation.from_value(a) for a in annotations]
        self._mark_callbacks: list[Callable[[list[Mark]], None]] = []
        code = normalize_language(lang)
        initial = self._initial_window(window, preset)
        if slice_index is None:
            slice_index = source.n_slices // 2 if not source.cine else 0
        super().__init__(
            lang=code, labels=_labels(code), meta=self._build_meta(citation, initial),
            window_center=initial.center, window_width=initial.width,
            slice_index=max(0, min(int(slice_index), source.n_slices - 1)),
            reveal_allowed=reveal_allowed, height=int(height), tool=tool,
            fps=(1000.0 / source.frame_time_ms) if source.frame_time_ms else 10.0,
        )
        self.on_msg(self._on_custom)
        self.observe(self._on_marks, names="marks_data")
        self.observe(self._on_lang, names="lang")
        # usage statistics (caselib.usage; CASELIB_USAGE_LOG=off disables): what was opened, not pixels
        record_event("open_series", case_id=case_id, n_slices=source.n_slices)

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_archive(cls, archive: str | os.PathLike[str], series_uid: str, **kwargs: Any) -> Viewer:
        """Open series ``series_uid`` of an archive made by ``caselib ingest``.

        ``series_uid`` is the archive's (de-identified) Series Instance UID, as
        listed by ``caselib catalog`` or :meth:`caselib.catalog.Catalog.series`.
        """
        from caselib.ui._archive import open_archive_series

        return cls(open_archive_series(archive, series_uid), **kwargs)

    def _initial_window(self, window: Window | Sequence[float] | None, preset: str | None) -> Window:
        src = self._source
        return resolve_window(src, src.n_slices // 2 if not src.cine else 0, window, preset)

    def _build_meta(self, citation: str, initial: Window) -> dict[str, Any]:
        src = self._source
        presets = []
        if src.modality in ("CT", "") and not src.is_color:
            for p in PRESETS:
                presets.append({"name": p.name, "label_zh": p.label_zh, "label_en": p.label_en,
                                "center": p.window.center, "width": p.window.width,
                                "source": p.source})
        return {
            "n_slices": src.n_slices, "rows": src.rows, "cols": src.cols,
            "is_color": src.is_color, "monochrome1": src.monochrome1, "modality": src.modality,
            "series_uid": src.series_uid, "unit": src.unit, "cine": src.cine,
            "pixel_spacing": list(src.pixel_spacing) if src.pixel_spacing else None,
            "orientation": orientation_labels(src.direction_cosines),
            "presets": presets, "voi_function": src.voi_function, "prefetch": PREFETCH,
            "citation": citation, "description": src.description,
            "has_annotations": bool(self._annotations),
            "initial_window": [initial.center, initial.width],
        }

    # ------------------------------------------------------------------ state

    @property
    def n_slices(self) -> int:
        """Number of slices (frames)."""
        return self._source.n_slices

    @property
    def source(self) -> ImageSource:
        """What is shown (raw slices, spacing, geometry)."""
        return self._source

    @property
    def window(self) -> Window:
        """The current window, DICOM order ``Window(center, width)``."""
        return Window(self.window_center, max(self.window_width, 1.0), self._source.voi_function)

    @window.setter
    def window(self, value: Window | Sequence[float]) -> None:
        w = value if isinstance(value, Window) else Window(float(value[0]), float(value[1]))
        with self.hold_sync():
            self.window_center = w.center
            self.window_width = w.width

    def apply_preset(self, name: str) -> None:
        """Set the window to a preset of :data:`caselib.imaging.PRESETS`."""
        from caselib.imaging import get_preset
        self.window = get_preset(name).window

    @traitlets.validate("slice_index")
    def _check_slice(self, proposal: dict[str, Any]) -> int:
        # not clamped above: a linked viewer with more slices may set a larger index
        return max(0, int(proposal["value"]))

    @property
    def displayed_slice(self) -> int:
        """The slice shown: :attr:`slice_index` clamped to this series' range."""
        return min(self.slice_index, self._source.n_slices - 1)

    @traitlets.validate("tool")
    def _check_tool(self, proposal: dict[str, Any]) -> str:
        if proposal["value"] not in TOOLS:
            raise traitlets.TraitError(f"tool must be one of {', '.join(TOOLS)}, got {proposal['value']!r}")
        return str(proposal["value"])

    @traitlets.validate("lang")
    def _check_lang(self, proposal: dict[str, Any]) -> str:
        return normalize_language(proposal["value"])

    def _on_lang(self, change: dict[str, Any]) -> None:
        self.labels = _labels(change["new"])
        if self.annotations_visible:
            self.visible_annotations = self._annotation_json()

    # ------------------------------------------------------------------ annotations

    def _annotation_json(self) -> list[dict[str, Any]]:
        return [a.to_json(self.lang) for a in self._annotations]

    def reveal_annotations(self) -> None:
        """Send the annotations to the browser and show them."""
        with self.hold_sync():
            self.visible_annotations = self._annotation_json()
            self.annotations_visible = True
        record_event("reveal_findings", case_id=self._case_id, source="viewer")

    def hide_annotations(self) -> None:
        """Hide the annotations and drop them from the browser's state."""
        with self.hold_sync():
            self.annotations_visible = False
            self.visible_annotations = []

    def set_annotations(self, annotations: Iterable[Annotation | Mapping[str, Any]]) -> None:
        """Replace the annotations (shown at once only if they are currently revealed)."""
        self._annotations = [Annotation.from_value(a) for a in annotations]
        self.meta = {**self.meta, "has_annotations": bool(self._annotations)}
        if self.annotations_visible:
            self.visible_annotations = self._annotation_json()

    # ------------------------------------------------------------------ marks

    @property
    def marks(self) -> list[Mark]:
        """The points, ellipses and lines the student placed, as :class:`~caselib.cases.marks.Mark`."""
        out = []
        for d in self.marks_data:
            try:
                out.append(Mark.from_dict(d))
            except ValueError:
                continue
        return out

    def save_marks(self, path: str | os.PathLike[str], *, case_id: str | None = None,
                   student: str | None = None) -> Path:
        """Write :attr:`marks` with :func:`caselib.cases.marks.save_marks`."""
        marks = self.marks
        record_event("mark", case_id=case_id or self._case_id, n_marks=len(marks))
        return save_marks(path, marks, case_id=case_id, student=student)

    def clear_marks(self) -> None:
        """Remove every mark."""
        self.marks_data = []

    def add_mark(self, mark: Mark) -> None:
        """Add a mark from Python (it is measured and shown like a drawn one)."""
        self.marks_data = [*self.marks_data, mark.to_dict()]

    def observe_marks(self, callback: Callable[[list[Mark]], None]) -> None:
        """Call ``callback(marks)`` whenever the marks change (after they are measured)."""
        self._mark_callbacks.append(callback)

    def _complete_mark(self, d: Mapping[str, Any]) -> dict[str, Any]:
        """Fill in series UID, spacing, patient mm and measurements (from caselib.imaging)."""
        from caselib.imaging import distance_mm, ellipse_mask, roi_stats

        src = self._source
        d = dict(d)
        d.setdefault("series_uid", src.series_uid)
        if src.pixel_spacing is not None:
            d.setdefault("pixel_spacing", list(src.pixel_spacing))
        mark = Mark.from_dict(d)
        extra: dict[str, Any] = {}
        if src.affine is not None and mark.patient_mm is None:
            extra["patient_mm"] = list(mark_to_patient(mark.row, mark.col, mark.slice_index, src.affine))
            if mark.kind == "line":
                assert mark.end_row is not None and mark.end_col is not None
                extra["end_patient_mm"] = list(mark_to_patient(mark.end_row, mark.end_col,
                                                               mark.slice_index, src.affine))
        measurements = dict(mark.measurements)
        if mark.slice_index < src.n_slices and not src.is_color:
            if mark.kind == "ellipse" and "mean" not in measurements:
                assert mark.radius_row is not None and mark.radius_col is not None
                mask = ellipse_mask((src.rows, src.cols), (mark.row, mark.col),
                                    (mark.radius_row, mark.radius_col))
                if mask.any():
                    s = roi_stats(src.modality_slice(mark.slice_index), mask, src.pixel_spacing)
                    measurements.update(mean=s.mean, sd=s.std, count=float(s.count))
                    if s.area_mm2 is not None:
                        measurements["area_mm2"] = s.area_mm2
            elif mark.kind == "point" and "value" not in measurements:
                r, c = int(round(mark.row)), int(round(mark.col))
                if 0 <= r < src.rows and 0 <= c < src.cols:
                    measurements["value"] = float(src.modality_slice(mark.slice_index)[r, c])
        if mark.kind == "line" and src.pixel_spacing is not None and "length_mm" not in measurements:
            assert mark.end_row is not None and mark.end_col is not None
            measurements["length_mm"] = distance_mm((mark.row, mark.col), (mark.end_row, mark.end_col),
                                                    src.pixel_spacing)
        out = {**mark.to_dict(), **extra}
        if measurements:
            out["measurements"] = {k: float(v) for k, v in measurements.items() if math.isfinite(v)}
        return out

    def _on_marks(self, change: dict[str, Any]) -> None:
        completed = []
        for d in change["new"]:
            try:
                completed.append(self._complete_mark(d))
            except (TypeError, ValueError):
                continue  # a malformed mark from the page is dropped, never half-kept
        if completed != change["new"]:
            self.marks_data = completed   # re-enters once with the completed list
            return
        marks = self.marks
        for cb in list(self._mark_callbacks):
            cb(marks)

    # ------------------------------------------------------------------ slices

    def _on_custom(self, _widget: Any, content: Any, buffers: Sequence[bytes]) -> None:
        if not isinstance(content, Mapping):
            return
        kind = content.get("type")
        if kind == "get":
            indices = content.get("indices") or []
            for i in indices[:16]:
                if isinstance(i, int) and 0 <= i < self._source.n_slices:
                    self.send_slice(i)
        elif kind == "reveal" and self.reveal_allowed:
            if content.get("show", True):
                self.reveal_annotations()
            else:
                self.hide_annotations()

    def send_slice(self, index: int) -> None:
        """Send one slice's raw values to the browser (called when the page asks)."""
        data = self._source.raw_slice(index)
        self.send(data.header(), [data.payload()])

    def __repr__(self) -> str:
        s = self._source
        return (f"Viewer({s.modality or 'array'} {s.n_slices}x{s.rows}x{s.cols}, "
                f"slice={self.slice_index}, window={self.window})")
