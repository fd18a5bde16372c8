"""The one place the apps create an image viewer (:class:`caselib.ui.viewer.Viewer`), or say
why there is no image (:class:`UnavailableImage`)."""
from __future__ import annotations

from typing import Any

import ipywidgets as w

from caselib.i18n import t
from caselib.imaging import Window
from caselib.ui.viewer import Viewer, annotations_from_findings

from .library import SeriesNotInArchive
from .shell import esc

__all__ = ["WINDOW_TRAITS", "UnavailableImage", "make_viewer", "viewer_window", "set_viewer_window"]

#: viewer traits that change when the window changes
WINDOW_TRAITS = ("window_center", "window_width")


def make_viewer(series: Any, *, window: Window | None = None, findings: Any = (),
                lang: str = "zh-CN", citation: str = "", height: int = 440, **options: Any) -> Viewer:
    """A viewer on ``series``; ``findings`` become annotations kept in the kernel until revealed.

    The viewer's own reveal button is off: the app reveals findings with its own button.
    ``options`` go to :class:`~caselib.ui.viewer.Viewer` (``slice_index``, ``tool``...).
    """
    annotations = annotations_from_findings(findings, series.pixel_spacing or (1.0, 1.0)) if findings else ()
    return Viewer(series, window=window, annotations=annotations, lang=lang, reveal_allowed=False,
                  citation=citation, height=height, **options)


def viewer_window(viewer: Viewer) -> Window:
    win = viewer.window
    return win if isinstance(win, Window) else Window(*win)


def set_viewer_window(viewer: Viewer, window: Window) -> None:
    viewer.window = window


class UnavailableImage(w.HTML):
    """Shown where a viewer would be when the archive does not hold the series (zh-CN / English).

    ``error`` is the :class:`~caselib.ui.apps.library.SeriesNotInArchive` the
    library raised; :meth:`relabel` follows the app's language switch.
    """

    def __init__(self, error: SeriesNotInArchive, lang: str = "zh-CN") -> None:
        self.error = error
        super().__init__(layout=w.Layout(width="100%"))
        self.add_class("cl-unavailable")
        self.relabel(lang)

    def relabel(self, lang: str) -> None:
        e = self.error
        if e.reason == "missing":
            text = t("apps.archive.series_missing", lang, archive=e.archive.name)
        else:
            text = t("apps.archive.no_archive", lang, archive=e.archive.name)
        self.value = f"<div role='status' class='cl-feedback-bad'>{esc(text)}</div>"
