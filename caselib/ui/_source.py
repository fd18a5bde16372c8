"""What the viewer shows, as slices of raw values: a caselib Series or a numpy array.

The browser receives each slice as it is stored (int16/uint16/... bytes) with
its rescale slope and intercept, so window/level happens in the browser and a
probe reads true modality values.  Nothing here does imaging math: modality
values (for ROI statistics) come from :meth:`caselib.dicom.Series.frame`,
colour from :meth:`caselib.dicom.Series.display_frame`.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["SliceData", "ImageSource", "SeriesSource", "ArraySource", "as_source", "resolve_window",
           "orientation_labels"]

_SENDABLE = {np.dtype(t) for t in ("u1", "i1", "<u2", "<i2", "<u4", "<i4", "<f4")}


@dataclass(frozen=True)
class SliceData:
    """One slice ready to send: raw values plus how to turn them into modality values."""

    index: int
    values: np.ndarray          # (rows, cols) or (rows, cols, 3) uint8 for colour
    slope: float = 1.0
    intercept: float = 0.0

    def header(self) -> dict[str, Any]:
        v = self.values
        channels = 3 if v.ndim == 3 else 1
        h: dict[str, Any] = {"type": "slice", "index": self.index, "dtype": v.dtype.str.lstrip("<|"),
                             "rows": int(v.shape[0]), "cols": int(v.shape[1]), "channels": channels,
                             "slope": self.slope, "intercept": self.intercept}
        if channels == 1 and v.size:
            h["min"] = float(np.nanmin(v)) if v.dtype.kind == "f" else int(v.min())
            h["max"] = float(np.nanmax(v)) if v.dtype.kind == "f" else int(v.max())
        return h

    def payload(self) -> bytes:
        return np.ascontiguousarray(self.values).tobytes()


@dataclass
class ImageSource:
    """Common description of what is shown (filled by the subclasses)."""

    n_slices: int
    rows: int
    cols: int
    is_color: bool = False
    monochrome1: bool = False
    modality: str = ""
    series_uid: str = ""
    pixel_spacing: tuple[float, float] | None = None
    affine: np.ndarray | None = field(default=None, repr=False)
    direction_cosines: np.ndarray | None = field(default=None, repr=False)
    frame_time_ms: float | None = None
    cine: bool = False
    unit: str = ""
    default_window: tuple[float, float] | None = None
    voi_function: str = "LINEAR"
    description: str = ""

    def raw_slice(self, index: int) -> SliceData:  # pragma: no cover - abstract
        raise NotImplementedError

    def modality_slice(self, index: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


def orientation_labels(direction_cosines: np.ndarray | None) -> dict[str, str] | None:
    """Letters for the four image edges from the row/column direction cosines (LPS).

    A direction in LPS points towards L, P or H for positive x, y, z and R, A,
    F for negative; the label of an edge is the dominant axis (two letters
    when a second axis is more than 0.3, e.g. an oblique "LA").  The right
    edge is where the row direction points; the bottom where the column
    direction points (PS3.3 C.7.6.2.1.1).

    Examples
    --------
    >>> import numpy as np
    >>> orientation_labels(np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]]))   # axial
    {'left': 'R', 'right': 'L', 'top': 'A', 'bottom': 'P'}
    """
    if direction_cosines is None:
        return None

    def name(v: Any) -> str:
        letters = (("L", "R"), ("P", "A"), ("H", "F"))
        order = sorted(range(3), key=lambda i: -abs(v[i]))
        out = ""
        for i in order[:2]:
            if abs(v[i]) > 0.3 or not out:
                out += letters[i][0] if v[i] > 0 else letters[i][1]
        return out

    r = np.asarray(direction_cosines[0], dtype=float)
    c = np.asarray(direction_cosines[1], dtype=float)
    return {"left": name(-r), "right": name(r), "top": name(-c), "bottom": name(c)}


class SeriesSource(ImageSource):
    """A :class:`caselib.dicom.Series`: stored values read frame by frame, on demand."""

    def __init__(self, series: Any) -> None:
        if not series.has_pixel_data:
            raise ValueError(f"series {series.uid!r} ({series.modality}) has no image frames to show")
        geometry = series.geometry
        affine = geometry.affine
        windows = series.windows
        default = (windows[0].center, windows[0].width) if windows else None
        function = str(windows[0].function) if windows else "LINEAR"
        first = series.first
        super().__init__(
            n_slices=len(series), rows=series.rows, cols=series.columns,
            is_color=series.is_color, monochrome1=series.inverted_grayscale,
            modality=series.modality, series_uid=series.uid,
            pixel_spacing=series.pixel_spacing, affine=affine,
            direction_cosines=series.direction_cosines,
            frame_time_ms=first.frame_time, cine=geometry.kind == "cine",
            unit="HU" if series.modality == "CT" else "",
            default_window=default, voi_function=function,
            description=series.description,
        )
        self.series = series

    def raw_slice(self, index: int) -> SliceData:
        from caselib.dicom.pixels import read_stored_frames

        s = self.series
        if s.is_color:
            return SliceData(index, s.display_frame(index))
        frame = s.frames[index]
        if frame.instance.has_modality_lut:   # a LUT, not slope/intercept: send modality values
            return SliceData(index, s.frame(index).astype(np.float32, copy=False))
        stored = read_stored_frames(frame.instance, [frame.index])[0]
        if stored.dtype not in _SENDABLE:
            stored = stored.astype(stored.dtype.newbyteorder("<"))
        return SliceData(index, stored, float(frame.rescale_slope), float(frame.rescale_intercept))

    def modality_slice(self, index: int) -> np.ndarray:
        return np.asarray(self.series.frame(index))


class ArraySource(ImageSource):
    """A numpy array ``(slices, rows, cols)``, ``(rows, cols)`` or with a last axis of 3 (RGB)."""

    def __init__(self, array: np.ndarray, *, pixel_spacing: Sequence[float] | None = None,
                 rescale: tuple[float, float] = (1.0, 0.0), modality: str = "",
                 color: bool | None = None, affine: np.ndarray | None = None,
                 series_uid: str = "", description: str = "synthetic") -> None:
        a = np.asarray(array)
        if color is None:
            color = a.ndim in (3, 4) and a.shape[-1] == 3 and a.dtype == np.uint8 and (a.ndim == 4 or a.shape[0] > 3)
        if a.ndim == (3 if color else 2):
            a = a[np.newaxis]
        if a.ndim != (4 if color else 3):
            raise ValueError("Viewer needs an array of shape (slices, rows, cols), (rows, cols) "
                             f"or with a last axis of 3 for RGB; got shape {a.shape}")
        if color and a.dtype != np.uint8:
            raise ValueError(f"an RGB array must be uint8, got {a.dtype}")
        if a.dtype.kind == "b":
            a = a.astype(np.uint8)
        if a.dtype.kind == "f" and a.dtype != np.float32:
            a = a.astype(np.float32)
        if a.dtype.kind in "iu" and a.dtype.itemsize > 4:
            raise ValueError(f"integer arrays of more than 32 bits cannot be shown, got {a.dtype}")
        if a.dtype.byteorder == ">":
            a = a.astype(a.dtype.newbyteorder("<"))
        spacing = None
        if pixel_spacing is not None:
            from caselib.cases.schema import check_pixel_spacing
            spacing = check_pixel_spacing(pixel_spacing)
        dc = None
        if affine is not None:
            affine = np.asarray(affine, dtype=float)
            if affine.shape != (4, 4):
                raise ValueError(f"affine must be 4x4, got shape {affine.shape}")
            cols = affine[:3, :2].T
            dc = np.vstack([cols[0] / np.linalg.norm(cols[0]), cols[1] / np.linalg.norm(cols[1]),
                            np.cross(cols[0], cols[1]) / np.linalg.norm(np.cross(cols[0], cols[1]))])
        super().__init__(n_slices=a.shape[0], rows=a.shape[1], cols=a.shape[2], is_color=bool(color),
                         modality=modality, series_uid=series_uid, pixel_spacing=spacing,
                         affine=affine, direction_cosines=dc,
                         unit="HU" if modality == "CT" else "", description=description)
        self.array = a
        self.slope, self.intercept = float(rescale[0]), float(rescale[1])

    def raw_slice(self, index: int) -> SliceData:
        return SliceData(index, self.array[index], self.slope, self.intercept)

    def modality_slice(self, index: int) -> np.ndarray:
        from caselib.imaging import apply_rescale

        return np.asarray(apply_rescale(self.array[index], self.slope, self.intercept))


def as_source(data: Any, **kwargs: Any) -> ImageSource:
    """A :class:`SeriesSource` for a caselib Series, an :class:`ArraySource` for an array."""
    if isinstance(data, ImageSource):
        return data
    if hasattr(data, "frames") and hasattr(data, "geometry") and hasattr(data, "frame"):
        if kwargs:
            raise TypeError(f"{', '.join(sorted(kwargs))} only apply to numpy arrays; a Series "
                            "carries its own spacing and rescale")
        return SeriesSource(data)
    if isinstance(data, np.ndarray) or isinstance(data, (list, tuple)):
        return ArraySource(np.asarray(data), **kwargs)
    raise TypeError(f"Viewer shows a caselib.dicom.Series or a numpy array, got {type(data).__name__}")


def resolve_window(source: ImageSource, index: int, window: Any = None, preset: str | None = None) -> Any:
    """The window to show slice ``index`` with: ``window`` or ``preset`` (not both), else the
    object's own window (0028,1050/1051), else grey-level midpoint for colour, else
    :func:`caselib.imaging.auto_window` of the slice's modality values."""
    from caselib.imaging import Window, auto_window, get_preset

    if window is not None and preset is not None:
        raise TypeError("give either window= or preset=, not both")
    if preset is not None:
        return get_preset(preset).window
    if isinstance(window, Window):
        return window
    if window is not None:
        if isinstance(window, (str, bytes)) or len(window) != 2:
            raise TypeError(f"window must be a Window or (center, width), got {window!r}")
        return Window(float(window[0]), float(window[1]))
    if source.default_window is not None:
        return Window(*source.default_window)
    if source.is_color:
        return Window(127.5, 256)
    return auto_window(source.modality_slice(index))
