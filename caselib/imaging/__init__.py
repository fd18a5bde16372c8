"""Pure pixel math: stored values -> modality values (HU) -> window -> display.

NumPy and the standard library only; no pydicom, pandas or widgets, so that
lessons, tests and the browser viewer can all be checked against it.

- :mod:`~caselib.imaging.rescale`: :func:`apply_rescale` (Modality LUT, PS3.3 C.11.1).
- :mod:`~caselib.imaging.window`: :class:`Window` and :func:`apply_window`
  (VOI LUT functions, PS3.3 C.11.2.1; the exact formulas are in its docstring).
- :mod:`~caselib.imaging.presets`: named windows with their sources.
- :mod:`~caselib.imaging.measure`: ROI statistics, distances and areas in mm.

Examples
--------
>>> import numpy as np
>>> from caselib import imaging
>>> hu = imaging.apply_rescale(np.array([24, 1064, 2024]), 1, -1024)
>>> hu
array([-1000.,    40.,  1000.], dtype=float32)
>>> imaging.window_to_uint8(hu, imaging.get_preset("mediastinum").window)
array([  0, 121, 255], dtype=uint8)
"""
from __future__ import annotations

from caselib.imaging.measure import (
    RoiStats,
    circle_mask_mm,
    distance_mm,
    distance_mm_3d,
    ellipse_area_mm2,
    ellipse_mask,
    polygon_area_mm2,
    rectangle_mask,
    roi_stats,
)
from caselib.imaging.presets import PRESETS, WindowPreset, get_preset, list_presets
from caselib.imaging.rescale import apply_rescale
from caselib.imaging.window import (
    VoiFunction,
    Window,
    WindowHistogram,
    apply_window,
    auto_window,
    histogram_in_window,
    invert_display,
    stored_windows,
    window_to_uint8,
)

__all__ = [
    # modality LUT
    "apply_rescale",
    # VOI window
    "VoiFunction",
    "Window",
    "apply_window",
    "window_to_uint8",
    "invert_display",
    "stored_windows",
    "auto_window",
    "histogram_in_window",
    "WindowHistogram",
    # presets
    "WindowPreset",
    "PRESETS",
    "get_preset",
    "list_presets",
    # measurements
    "RoiStats",
    "roi_stats",
    "ellipse_mask",
    "circle_mask_mm",
    "rectangle_mask",
    "distance_mm",
    "distance_mm_3d",
    "polygon_area_mm2",
    "ellipse_area_mm2",
]
