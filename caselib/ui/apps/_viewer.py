"""The one place the apps create an image viewer (:class:`caselib.ui.viewer.Viewer`)."""
from __future__ import annotations

from typing import Any

from caselib.imaging import Window
from caselib.ui.viewer import Viewer, annotations_from_findings

__all__ = ["WINDOW_TRAITS", "make_viewer", "viewer_window", "set_viewer_window"]

#: viewer traits that change when the window changes
WINDOW_TRAITS = ("window_center", "window_width")


def make_viewer(series: Any, *, window: Window | None = None, findings: Any = (),
                lang: str = "zh-CN", citation: str = "", height: int = 440) -> Viewer:
    """A viewer on ``series``; ``findings`` become annotations kept in the kernel until revealed.

    The viewer's own reveal button is off: the app reveals findings with its own button.
    """
    annotations = annotations_from_findings(findings, series.pixel_spacing or (1.0, 1.0)) if findings else ()
    return Viewer(series, window=window, annotations=annotations, lang=lang, reveal_allowed=False,
                  citation=citation, height=height)


def viewer_window(viewer: Viewer) -> Window:
    win = viewer.window
    return win if isinstance(win, Window) else Window(*win)


def set_viewer_window(viewer: Viewer, window: Window) -> None:
    viewer.window = window
