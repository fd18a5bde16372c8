"""Measurements in physical units: distances, areas, ROI masks and statistics.

Image points are ``(row, column)`` in pixel index units (row 0 at the top,
pixel centres at integer positions).  `pixel_spacing` is (0028,0030) Pixel
Spacing as DICOM orders it (PS3.3 C.7.6.2.1.1): the spacing between adjacent
*rows* first, then between adjacent *columns*, in mm.  So a step of one row
is ``pixel_spacing[0]`` mm and a step of one column ``pixel_spacing[1]`` mm.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from caselib.imaging._checks import finite_number

__all__ = [
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


def _spacing(pixel_spacing: Sequence[float]) -> tuple[float, float]:
    """(row spacing, column spacing) in mm, both positive and finite."""
    expected = (
        "pixel_spacing must be (row spacing, column spacing) in mm, two positive "
        "numbers as in (0028,0030) Pixel Spacing (PS3.3 C.7.6.2.1.1)"
    )
    try:
        values = [float(v) for v in pixel_spacing]
    except (TypeError, ValueError):
        raise ValueError(f"{expected}; found {pixel_spacing!r}") from None
    if len(values) != 2 or not all(math.isfinite(v) and v > 0 for v in values):
        raise ValueError(f"{expected}; found {pixel_spacing!r}")
    return values[0], values[1]


def _point(point: Sequence[float], n: int, what: str) -> NDArray[np.float64]:
    try:
        p = np.asarray(point, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be {n} numbers; found {point!r}") from None
    if p.shape != (n,) or not np.isfinite(p).all():
        raise ValueError(f"{what} must be {n} finite numbers; found {point!r}")
    return p


def _shape(shape: Sequence[int]) -> tuple[int, int]:
    if (
        len(shape) != 2
        or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in shape)
        or min(shape) < 1
    ):
        raise ValueError(f"shape must be (rows, columns), two positive integers; found {shape!r}")
    return int(shape[0]), int(shape[1])


def distance_mm(
    p0_rc: Sequence[float], p1_rc: Sequence[float], pixel_spacing: Sequence[float]
) -> float:
    """Distance in mm between two in-plane points ``(row, col)``.

    Examples
    --------
    Four rows down at 0.5 mm per row is 2 mm; four columns across at 2 mm per
    column is 8 mm:

    >>> distance_mm((0, 0), (4, 0), (0.5, 2.0))
    2.0
    >>> distance_mm((0, 0), (0, 4), (0.5, 2.0))
    8.0
    >>> distance_mm((0, 0), (3, 4), (1.0, 1.0))
    5.0
    """
    sr, sc = _spacing(pixel_spacing)
    d = _point(p1_rc, 2, "p1_rc") - _point(p0_rc, 2, "p0_rc")
    return math.hypot(float(d[0]) * sr, float(d[1]) * sc)


def distance_mm_3d(p0: Sequence[float], p1: Sequence[float]) -> float:
    """Euclidean distance between two 3-D points already in mm.

    For points in the patient coordinate system (e.g. built from (0020,0032)
    Image Position (Patient) and (0020,0037) Image Orientation (Patient)).

    Examples
    --------
    >>> distance_mm_3d((0, 0, 0), (1, 2, 2))
    3.0
    """
    d = _point(p1, 3, "p1") - _point(p0, 3, "p0")
    return math.sqrt(float(d @ d))


def polygon_area_mm2(points_rc: ArrayLike, pixel_spacing: Sequence[float]) -> float:
    """Area in mm² of a simple polygon given by its vertices ``(row, col)``.

    Shoelace formula on the vertices scaled to mm; the polygon is closed
    automatically and may be listed clockwise or counter-clockwise.

    Examples
    --------
    A 10 x 10 pixel square at 0.5 mm x 2 mm per pixel is 5 mm x 20 mm:

    >>> polygon_area_mm2([(0, 0), (0, 10), (10, 10), (10, 0)], (0.5, 2.0))
    100.0
    >>> polygon_area_mm2([(0, 0), (1, 1)], (1, 1))
    Traceback (most recent call last):
    ...
    ValueError: a polygon needs at least 3 (row, col) points; found 2
    """
    sr, sc = _spacing(pixel_spacing)
    pts = np.asarray(points_rc, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(
            f"points_rc must be a sequence of (row, col) pairs; found shape {pts.shape}"
        )
    if len(pts) < 3:
        raise ValueError(f"a polygon needs at least 3 (row, col) points; found {len(pts)}")
    y = pts[:, 0] * sr
    x = pts[:, 1] * sc
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def ellipse_area_mm2(radii_rc: Sequence[float], pixel_spacing: Sequence[float]) -> float:
    """Area in mm² of an axis-aligned ellipse with semi-axes `radii_rc` in pixels.

    ``pi * (r_row * row_spacing) * (r_col * col_spacing)``.

    Examples
    --------
    >>> round(ellipse_area_mm2((10, 20), (0.5, 0.25)), 4)   # pi * 5 mm * 5 mm
    78.5398
    """
    sr, sc = _spacing(pixel_spacing)
    rr, rc = _point(radii_rc, 2, "radii_rc")
    if rr < 0 or rc < 0:
        raise ValueError(f"radii_rc must not be negative; found {radii_rc!r}")
    return math.pi * float(rr) * sr * float(rc) * sc


def ellipse_mask(
    shape: Sequence[int], center_rc: Sequence[float], radii_rc: Sequence[float]
) -> NDArray[np.bool_]:
    """Boolean mask of the pixels whose centres lie in an axis-aligned ellipse.

    A pixel ``(r, c)`` is inside when
    ``((r - r0) / r_row)**2 + ((c - c0) / r_col)**2 <= 1``.

    Examples
    --------
    >>> ellipse_mask((3, 5), (1, 2), (1, 2)).astype(int)
    array([[0, 0, 1, 0, 0],
           [1, 1, 1, 1, 1],
           [0, 0, 1, 0, 0]])
    >>> ellipse_mask((3, 3), (1, 1), (0, 1))
    Traceback (most recent call last):
    ...
    ValueError: radii_rc must be positive; found (0, 1)
    """
    rows, cols = _shape(shape)
    r0, c0 = _point(center_rc, 2, "center_rc")
    rr, rc = _point(radii_rc, 2, "radii_rc")
    if rr <= 0 or rc <= 0:
        raise ValueError(f"radii_rc must be positive; found {radii_rc!r}")
    r = (np.arange(rows, dtype=np.float64)[:, None] - r0) / rr
    c = (np.arange(cols, dtype=np.float64)[None, :] - c0) / rc
    mask: NDArray[np.bool_] = r * r + c * c <= 1.0
    return mask


def circle_mask_mm(
    shape: Sequence[int],
    center_rc: Sequence[float],
    radius_mm: float,
    pixel_spacing: Sequence[float],
) -> NDArray[np.bool_]:
    """Mask of a circle of `radius_mm` in the patient, an ellipse in pixels if spacing differs.

    Examples
    --------
    A 1 mm circle at 1 mm per row and 0.5 mm per column spans 1 row and 2
    columns either side of its centre:

    >>> circle_mask_mm((3, 5), (1, 2), 1.0, (1.0, 0.5)).astype(int)
    array([[0, 0, 1, 0, 0],
           [1, 1, 1, 1, 1],
           [0, 0, 1, 0, 0]])
    """
    sr, sc = _spacing(pixel_spacing)
    radius = finite_number(radius_mm, "radius_mm")
    if radius <= 0:
        raise ValueError(f"radius_mm must be positive; found {radius_mm!r}")
    return ellipse_mask(shape, center_rc, (radius / sr, radius / sc))


def rectangle_mask(
    shape: Sequence[int], start_rc: Sequence[int], stop_rc: Sequence[int]
) -> NDArray[np.bool_]:
    """Mask of the rectangle ``[start_row:stop_row, start_col:stop_col]``.

    Half-open, like slicing; the part outside the image is dropped.

    Examples
    --------
    >>> rectangle_mask((3, 4), (1, 1), (3, 3)).astype(int)
    array([[0, 0, 0, 0],
           [0, 1, 1, 0],
           [0, 1, 1, 0]])
    >>> rectangle_mask((3, 4), (2, 1), (2, 3))
    Traceback (most recent call last):
    ...
    ValueError: rectangle is empty: stop_rc (2, 3) must exceed start_rc (2, 1) in both rows and columns
    """
    rows, cols = _shape(shape)
    ok = all(
        len(p) == 2
        and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in p)
        for p in (start_rc, stop_rc)
    )
    if not ok:
        raise ValueError(
            "start_rc and stop_rc must be (row, col) integer pairs; "
            f"found {start_rc!r}, {stop_rc!r}"
        )
    r0, c0 = (int(v) for v in start_rc)
    r1, c1 = (int(v) for v in stop_rc)
    if r1 <= r0 or c1 <= c0:
        raise ValueError(
            f"rectangle is empty: stop_rc {tuple(stop_rc)!r} must exceed start_rc "
            f"{tuple(start_rc)!r} in both rows and columns"
        )
    mask = np.zeros((rows, cols), dtype=np.bool_)
    mask[max(r0, 0) : max(r1, 0), max(c0, 0) : max(c1, 0)] = True
    return mask


@dataclass(frozen=True)
class RoiStats:
    """Statistics of the pixels in a region of interest, in modality units (HU for CT).

    Attributes
    ----------
    count : int
        Number of pixels in the mask.
    mean, std, min, max, median : float
        ``std`` is the *population* standard deviation (divides by ``count``,
        NumPy's ``ddof=0``).
    area_mm2 : float or None
        ``count * row_spacing * col_spacing``; ``None`` without pixel spacing.
    """

    count: int
    mean: float
    std: float
    min: float
    max: float
    median: float
    area_mm2: float | None = None

    def __str__(self) -> str:
        text = (
            f"n={self.count} mean={self.mean:.1f} SD={self.std:.1f} "
            f"min={self.min:g} max={self.max:g} median={self.median:g}"
        )
        if self.area_mm2 is not None:
            text += f" area={self.area_mm2:.1f} mm²"
        return text


def roi_stats(
    image: ArrayLike, mask: ArrayLike, pixel_spacing: Sequence[float] | None = None
) -> RoiStats:
    """Statistics of `image` where `mask` is true, in the image's units.

    Pass modality values (after :func:`apply_rescale`), not display values,
    to get HU for CT.  Computed in float64; a NaN inside the mask makes the
    statistics NaN.

    Parameters
    ----------
    image : array_like
        Modality values, any shape (2-D when `pixel_spacing` is given).
    mask : array_like of bool
        Same shape as `image`; selects the ROI.
    pixel_spacing : (float, float), optional
        (row spacing, column spacing) in mm, for :attr:`RoiStats.area_mm2`.

    Raises
    ------
    TypeError
        If `mask` is not boolean.
    ValueError
        If shapes differ, the mask is empty, or the spacing is invalid.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.arange(16).reshape(4, 4)
    >>> s = roi_stats(image, rectangle_mask((4, 4), (1, 1), (3, 3)), (0.5, 2.0))
    >>> s.count, s.mean, s.min, s.max, s.median, s.area_mm2
    (4, 7.5, 5.0, 10.0, 7.5, 4.0)
    >>> round(s.std, 6)   # population SD of 5, 6, 9, 10: sqrt(17 / 4)
    2.061553
    >>> roi_stats(image, image > 100)
    Traceback (most recent call last):
    ...
    ValueError: roi_stats() mask selects no pixels
    """
    a = np.asarray(image)
    m = np.asarray(mask)
    if m.dtype != np.bool_:
        raise TypeError(
            f"roi_stats() mask must be a boolean array; found {m.dtype} (use mask != 0)"
        )
    if m.shape != a.shape:
        raise ValueError(f"roi_stats() mask shape {m.shape} does not match image shape {a.shape}")
    area: float | None = None
    if pixel_spacing is not None:
        if a.ndim != 2:
            raise ValueError(
                f"roi_stats() area needs a 2-D image; found {a.ndim}-D (omit pixel_spacing)"
            )
        sr, sc = _spacing(pixel_spacing)
    values = a[m].astype(np.float64)
    if values.size == 0:
        raise ValueError("roi_stats() mask selects no pixels")
    if pixel_spacing is not None:
        area = values.size * sr * sc
    return RoiStats(
        count=int(values.size),
        mean=float(values.mean()),
        std=float(values.std()),
        min=float(values.min()),
        max=float(values.max()),
        median=float(np.median(values)),
        area_mm2=area,
    )
