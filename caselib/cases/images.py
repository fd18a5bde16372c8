"""The images questions are asked on: load a slice, render it at the question's window, as PNG.

Used by the exports (:mod:`caselib.cases.export`) to put the image of a
question into a Moodle XML file or a QTI package.  Pixel math is
:mod:`caselib.imaging` (``window_to_uint8``, ``auto_window``); the PNG is
written here with :mod:`zlib` (8-bit greyscale or RGB, no filtering, no
extra dependency).  numpy, :mod:`caselib.imaging` and, for the default
loader, :mod:`caselib.data` and :mod:`caselib.dicom` are imported when an
image is first needed, so ``import caselib.cases`` stays light.

An *image loader* is any callable ``(SeriesRef, slice_index) -> LoadedImage``.
:func:`manifest_image_loader` reads a series named by a data-manifest key;
pass your own for archive series (e.g. the resolved UIDs of
:func:`caselib.cases.library.resolve_series`) or generated phantoms.

Examples
--------
>>> import numpy as np
>>> png = encode_png(np.zeros((2, 3), dtype=np.uint8))
>>> png[:8] == b"\\x89PNG\\r\\n\\x1a\\n", png_size(png)
(True, (3, 2))
"""
from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from typing import Any, NamedTuple

from caselib.cases.schema import SeriesRef

__all__ = ["LoadedImage", "ImageLoader", "RenderedImage", "manifest_image_loader", "render_image",
           "encode_png", "png_size"]


class LoadedImage(NamedTuple):
    """One slice in modality values (HU for CT), or RGB ``(rows, cols, 3)``.

    ``pixel_spacing`` is (0028,0030) ``(row_mm, col_mm)`` or None;
    ``monochrome1`` inverts the grey scale for display; ``window`` is the
    image's own ``(center, width)`` (the stored one) or None.
    """

    pixels: Any
    pixel_spacing: tuple[float, float] | None = None
    monochrome1: bool = False
    window: tuple[float, float] | None = None


ImageLoader = Callable[[SeriesRef, int], LoadedImage]


class RenderedImage(NamedTuple):
    """A PNG and what an export needs to place things on it (pixel size = PNG pixel)."""

    png: bytes
    width: int
    height: int
    window: tuple[float, float] | None
    pixel_spacing: tuple[float, float] | None


def manifest_image_loader(ref: SeriesRef, slice_index: int) -> LoadedImage:
    """Load ``slice_index`` of the series a data-manifest key names (file or data set).

    Raises
    ------
    LookupError
        If ``ref`` is a Series UID (only an archive or a phantom build can
        supply it: pass another loader) or the slice does not exist.
    """
    if ref.manifest_key is None:
        raise LookupError(f"series {ref.ref} is named by UID, not by a data-manifest key: "
                          "give the export an image_loader that can read it")
    from caselib.data import fetch, fetch_dataset, load_manifest
    from caselib.dicom import read

    manifest = load_manifest()
    key = ref.manifest_key
    path = fetch_dataset(key) if key in manifest.datasets else fetch(key)
    series = read(path).only_series()
    if not 0 <= slice_index < len(series):
        raise LookupError(f"{key} has slices 0..{len(series) - 1}, not {slice_index}")
    windows = series.windows
    window = (windows[0].center, windows[0].width) if windows else None
    return LoadedImage(series.frame(slice_index), series.pixel_spacing, series.inverted_grayscale, window)


def render_image(image: LoadedImage, window: tuple[float, float] | None = None) -> RenderedImage:
    """Render at ``window`` (else the image's own, else 1st-99th percentile) to an 8-bit PNG."""
    import numpy as np

    from caselib.imaging import Window, auto_window, window_to_uint8

    pixels = np.asarray(image.pixels)
    if pixels.ndim == 3 and pixels.shape[-1] == 3:
        u8 = np.clip(pixels, 0, 255).astype(np.uint8)
        used = None
    elif pixels.ndim == 2:
        if window is None:
            window = image.window
        w = Window(*window) if window is not None else auto_window(pixels)
        used = (float(w.center), float(w.width))
        u8 = window_to_uint8(pixels, w, invert=image.monochrome1)
    else:
        raise ValueError(f"expected a 2-D slice or an RGB (rows, cols, 3) image, got shape {pixels.shape}")
    return RenderedImage(encode_png(u8), int(u8.shape[1]), int(u8.shape[0]), used, image.pixel_spacing)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png(pixels: Any) -> bytes:
    """8-bit greyscale ``(rows, cols)`` or RGB ``(rows, cols, 3)`` uint8 -> PNG bytes (PNG spec, filter 0)."""
    import numpy as np

    a = np.ascontiguousarray(pixels)
    if a.dtype != np.uint8:
        raise TypeError(f"encode_png needs uint8 pixels, got {a.dtype}")
    if a.ndim == 2:
        colour_type = 0
    elif a.ndim == 3 and a.shape[-1] == 3:
        colour_type = 2
    else:
        raise ValueError(f"encode_png needs (rows, cols) or (rows, cols, 3), got shape {a.shape}")
    rows, cols = a.shape[:2]
    if rows == 0 or cols == 0:
        raise ValueError("encode_png needs a non-empty image")
    raw = np.concatenate([np.zeros((rows, 1), np.uint8), a.reshape(rows, -1)], axis=1).tobytes()
    header = struct.pack(">IIBBBBB", cols, rows, 8, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, 6))
            + _chunk(b"IEND", b""))


def png_size(png: bytes) -> tuple[int, int]:
    """``(width, height)`` from a PNG's IHDR (ValueError if it is not a PNG)."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ValueError("not a PNG file (signature or IHDR missing)")
    width, height = struct.unpack(">II", png[16:24])
    return int(width), int(height)
