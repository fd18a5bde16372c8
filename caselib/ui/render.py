"""Static rendering with matplotlib: the viewer's picture without a browser.

For exported notebooks, PDFs and tests.  The window semantics are those of
:func:`caselib.imaging.window_to_uint8` (the function the browser viewer
reproduces), MONOCHROME1 is inverted, colour is shown as RGB; annotations and
marks are drawn in the same image coordinates as in the viewer.

Only :class:`matplotlib.figure.Figure` is used (no pyplot, no GUI backend), so
this works in headless exports.  Display a figure in a notebook by making it
the last expression of a cell.

Examples
--------
>>> import numpy as np
>>> from caselib.ui.render import display_slice, render_slice
>>> img = np.array([[[-1000, 0], [40, 1000]]], dtype=np.int16)
>>> display_slice(img, 0, window=(40, 400)).tolist()
[[0, 102], [128, 255]]
>>> fig = render_slice(img, 0, window=(40, 400), pixel_spacing=(0.5, 0.5))
>>> type(fig).__name__
'Figure'
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from caselib.imaging import Window, window_to_uint8

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from caselib.cases.marks import Mark
    from caselib.ui.viewer import Annotation, Viewer

__all__ = ["display_slice", "render_slice", "render_viewer"]


def display_slice(data: Any, index: int | None = None, *, window: Window | Sequence[float] | None = None,
                  preset: str | None = None, invert: bool = False, **array_options: Any) -> np.ndarray:
    """The 8-bit picture of one slice: ``(rows, cols)`` grey or ``(rows, cols, 3)`` RGB.

    Parameters
    ----------
    data : caselib.dicom.Series or numpy.ndarray
        As for :class:`caselib.ui.viewer.Viewer` (array options such as
        ``rescale=(slope, intercept)`` are accepted).
    index : int, optional
        Slice index (display order); default the middle slice.
    window, preset :
        ``Window``/``(center, width)`` or a preset name; default the stored
        window, else one spanning the slice (:func:`caselib.imaging.auto_window`).
    invert : bool
        Flip the grey scale (on top of MONOCHROME1, which is always shown
        with low values white).
    """
    from caselib.ui._source import as_source, resolve_window

    source = as_source(data, **array_options)
    i = source.n_slices // 2 if index is None else int(index)
    if not 0 <= i < source.n_slices:
        raise IndexError(f"slice index {index} out of range for {source.n_slices} slices")
    if source.is_color:
        rgb = np.asarray(source.raw_slice(i).values)
        return 255 - rgb if invert else rgb
    values = source.modality_slice(i)
    win = resolve_window(source, i, window, preset)
    return window_to_uint8(values, win, invert=bool(invert) != bool(source.monochrome1))


def _draw_annotations(ax: Any, annotations: Iterable[Any], index: int, lang: str) -> None:
    from matplotlib.patches import Ellipse

    from caselib.ui.viewer import Annotation

    for a in annotations:
        ann = Annotation.from_value(a)
        if ann.slice_index is not None and ann.slice_index != index:
            continue
        d = ann.to_json(lang)
        color = ann.color
        if ann.kind == "arrow":
            ax.annotate("", xy=(ann.end_col, ann.end_row), xytext=(ann.col, ann.row),
                        arrowprops={"arrowstyle": "-|>", "color": color, "lw": 1.5})
        elif ann.kind in ("circle", "ellipse"):
            rr = float((ann.radius if ann.kind == "circle" else ann.radius_row) or 0)
            rc = float((ann.radius if ann.kind == "circle" else ann.radius_col) or 0)
            ax.add_patch(Ellipse((ann.col, ann.row), 2 * rc, 2 * rr, fill=False, edgecolor=color, lw=1.5))
        if d.get("text"):
            ax.text(ann.col, ann.row, d["text"], color=color, fontsize=8, ha="center", va="bottom")


def _draw_marks(ax: Any, marks: Iterable[Mark | Mapping[str, Any]], index: int) -> None:
    from matplotlib.patches import Ellipse

    from caselib.cases.marks import Mark

    for m in marks:
        mark = m if isinstance(m, Mark) else Mark.from_dict(m)
        if mark.slice_index != index:
            continue
        if mark.kind == "point":
            ax.plot([mark.col], [mark.row], marker="+", color="#33ccff", markersize=10, mew=1.5)
        elif mark.kind == "line":
            ax.plot([mark.col, mark.end_col], [mark.row, mark.end_row], color="#33ccff", lw=1.5)
        else:
            assert mark.radius_row is not None and mark.radius_col is not None
            ax.add_patch(Ellipse((mark.col, mark.row), 2 * mark.radius_col, 2 * mark.radius_row,
                                 fill=False, edgecolor="#33ccff", lw=1.5))


def render_slice(data: Any, index: int | None = None, *, window: Window | Sequence[float] | None = None,
                 preset: str | None = None, invert: bool = False,
                 annotations: Iterable[Annotation | Mapping[str, Any]] = (),
                 marks: Iterable[Mark | Mapping[str, Any]] = (), lang: str = "zh-CN",
                 title: str | None = None, citation: str = "", ax: Any = None,
                 orientation: bool = True, size_inches: float = 5.0, **array_options: Any) -> Figure:
    """A matplotlib figure of one slice, windowed like the viewer.

    Pixel ``(row, col)`` is centred on data coordinates ``(x=col, y=row)``,
    as in the viewer.  Non-square pixels are drawn with their true aspect.
    Returns the figure (pass ``ax`` to draw into an existing axes).
    """
    from matplotlib.figure import Figure

    from caselib.ui._source import as_source, orientation_labels

    source = as_source(data, **array_options)
    i = source.n_slices // 2 if index is None else int(index)
    picture = display_slice(source, i, window=window, preset=preset, invert=invert)
    if ax is None:
        fig = Figure(figsize=(size_inches, size_inches * source.rows / max(source.cols, 1)))
        ax = fig.add_axes((0, 0.06 if citation else 0, 1, 0.94 if citation else 1))
    else:
        fig = ax.figure
    aspect = source.pixel_spacing[0] / source.pixel_spacing[1] if source.pixel_spacing else 1.0
    ax.imshow(picture, cmap="gray" if picture.ndim == 2 else None, vmin=0, vmax=255,
              interpolation="nearest", aspect=aspect)
    ax.set_axis_off()
    _draw_annotations(ax, annotations, i, lang)
    _draw_marks(ax, marks, i)
    labels = orientation_labels(source.direction_cosines) if orientation else None
    if labels:
        style = {"color": "#ffe36e", "fontsize": 10, "fontweight": "bold", "transform": ax.transAxes}
        ax.text(0.5, 0.99, labels["top"], ha="center", va="top", **style)
        ax.text(0.5, 0.01, labels["bottom"], ha="center", va="bottom", **style)
        ax.text(0.01, 0.5, labels["left"], ha="left", va="center", **style)
        ax.text(0.99, 0.5, labels["right"], ha="right", va="center", **style)
    if title:
        ax.set_title(title)
    if citation:
        fig.text(0.01, 0.01, citation, fontsize=6, wrap=True, va="bottom")
    return fig


def render_viewer(viewer: Viewer, **kwargs: Any) -> Figure:
    """The current picture of a :class:`~caselib.ui.viewer.Viewer`: slice, window, invert,
    marks, and the annotations only if they are revealed."""
    opts: dict[str, Any] = {
        "window": viewer.window, "invert": viewer.invert, "marks": viewer.marks, "lang": viewer.lang,
        "annotations": viewer._annotations if viewer.annotations_visible else (),
        "citation": viewer.meta.get("citation", ""),
    }
    opts.update(kwargs)
    return render_slice(viewer.source, viewer.displayed_slice, **opts)
