"""Widgets for notebooks and Voila (the only package that imports widget libraries).

- :class:`~caselib.ui.viewer.Viewer`: the interactive image viewer (anywidget;
  window/level in the browser on raw values).
- :func:`~caselib.ui.linked.link_viewers`, :func:`~caselib.ui.linked.side_by_side`:
  several viewers with linked scrolling/window.
- :func:`~caselib.ui.render.render_slice`: the same picture as a static
  matplotlib figure (exported notebooks, PDFs, tests without a browser).

Nothing in the core imports this package.
"""
from __future__ import annotations

from typing import Any

__all__ = ["Viewer", "Annotation", "annotations_from_findings", "link_viewers", "side_by_side",
           "render_slice", "render_viewer"]


def __getattr__(name: str) -> Any:   # lazy: importing caselib.ui.render needs no widget library
    if name in ("Viewer", "Annotation", "annotations_from_findings"):
        from caselib.ui import viewer
        return getattr(viewer, name)
    if name in ("link_viewers", "side_by_side"):
        from caselib.ui import linked
        return getattr(linked, name)
    if name in ("render_slice", "render_viewer"):
        from caselib.ui import render
        return getattr(render, name)
    raise AttributeError(f"module 'caselib.ui' has no attribute {name!r}")
