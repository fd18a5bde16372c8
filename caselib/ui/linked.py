"""Several viewers side by side (prior and current study), optionally linked.

Links are made in the browser (:func:`ipywidgets.jslink`), so scrolling or
dragging the window in one viewer moves the others without a round trip to
the kernel; a value set from Python reaches the linked viewers through the
open page.  A viewer with fewer slices shows its last slice while the linked
index is beyond its range (``viewer.displayed_slice``).

Examples
--------
>>> from caselib.ui import Viewer, side_by_side        # doctest: +SKIP
>>> box = side_by_side([Viewer(prior), Viewer(current)], scroll=True, window=True)  # doctest: +SKIP
>>> box                                                # doctest: +SKIP
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ipywidgets

from caselib.ui.viewer import Viewer

__all__ = ["ViewerLink", "link_viewers", "side_by_side"]


class ViewerLink:
    """The links between two viewers; :meth:`unlink` removes them."""

    def __init__(self, links: list[Any]) -> None:
        self._links = links

    def unlink(self) -> None:
        for link in self._links:
            link.unlink()
        self._links = []

    @property
    def active(self) -> bool:
        return bool(self._links)


def link_viewers(a: Viewer, b: Viewer, *, scroll: bool = True, window: bool = True) -> ViewerLink:
    """Link slice (``scroll``) and/or window/level and inversion (``window``) of two viewers."""
    if not isinstance(a, Viewer) or not isinstance(b, Viewer):
        raise TypeError(f"link_viewers() links two Viewers, got {type(a).__name__} and {type(b).__name__}")
    names = []
    if scroll:
        names.append("slice_index")
    if window:
        names += ["window_center", "window_width", "invert"]
    if not names:
        raise ValueError("link_viewers() needs scroll=True and/or window=True")
    links = [ipywidgets.jslink((a, name), (b, name)) for name in names]
    return ViewerLink(links)


def side_by_side(viewers: Sequence[Viewer], *, scroll: bool = False, window: bool = False,
                 titles: Sequence[str] | None = None) -> ipywidgets.Box:
    """Viewers in a row (wrapping on narrow screens), linked to the first one if asked.

    The returned box keeps its links in ``box.viewer_links``.
    """
    viewers = list(viewers)
    if not viewers:
        raise ValueError("side_by_side() needs at least one Viewer")
    if titles is not None and len(titles) != len(viewers):
        raise ValueError(f"side_by_side() got {len(titles)} titles for {len(viewers)} viewers")
    cells = []
    for i, v in enumerate(viewers):
        children: list[Any] = []
        if titles is not None:
            children.append(ipywidgets.HTML(f"<b>{_escape(titles[i])}</b>"))
        children.append(v)
        cells.append(ipywidgets.VBox(children, layout=ipywidgets.Layout(flex="1 1 380px", min_width="320px")))
    box = ipywidgets.HBox(cells, layout=ipywidgets.Layout(flex_flow="row wrap", width="100%"))
    links = []
    if scroll or window:
        for other in viewers[1:]:
            links.append(link_viewers(viewers[0], other, scroll=scroll, window=window))
    box.viewer_links = links   # type: ignore[attr-defined]
    return box


def _escape(text: str) -> str:
    import html

    return html.escape(str(text))
