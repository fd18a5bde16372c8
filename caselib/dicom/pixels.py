"""Pixel data: stored values -> modality values (or RGB), one frame or a whole series.

Two ways to get stored values:

* uncompressed little-endian grayscale data in a plain file is read straight
  into numpy with :func:`numpy.fromfile` at the offset the header scan
  recorded (no pydicom work per file, and the GIL is released while reading);
* everything else (compressed syntaxes, big endian, colour, zip members) goes
  through :func:`pydicom.pixels.pixel_array`, which picks a decoder plugin:
  pylibjpeg-rle (RLE), pylibjpeg-openjpeg (JPEG 2000), pyjpegls (JPEG-LS) and
  python-gdcm (JPEG baseline, extended, lossless).  The GPL-licensed
  pylibjpeg-libjpeg is not needed; it is used if installed.

Both give exactly what pydicom's ``pixel_array`` gives: unused high bits are
masked (unsigned) or sign-extended (signed) as in PS3.5 section 8.1.1, YBR is
converted to RGB, palettes are applied.

Modality values (PS3.3 C.11.1): each frame's own Rescale Slope and Intercept,
or the Modality LUT Sequence (via :func:`pydicom.pixels.apply_modality_lut`).
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np
from pydicom.uid import UID

from caselib.errors import GeometryError, PixelDataError

if TYPE_CHECKING:
    from caselib.dicom.model import Frame, Instance, Series
    from caselib.imaging import Window

__all__ = [
    "read_stored_frames",
    "read_frame",
    "assemble_volume",
    "render_display",
    "rescale_into",
]

_NATIVE_LE = frozenset({"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"})
_JPEG_EXTENDED = "1.2.840.10008.1.2.4.51"


def _can_read_natively(inst: Instance) -> bool:
    loc = inst.pixel_location
    return (
        inst.member is None
        and loc is not None
        and loc.tag == 0x7FE00010
        and loc.length is not None
        and inst.transfer_syntax_uid in _NATIVE_LE
        and inst.samples_per_pixel == 1
        and inst.bits_allocated in (8, 16, 32)
        and inst.photometric in ("MONOCHROME1", "MONOCHROME2")
    )


def _stored_dtype(inst: Instance) -> np.dtype[Any]:
    kind = "i" if inst.pixel_representation == 1 else "u"
    return np.dtype(f"<{kind}{inst.bits_allocated // 8}")


def _fix_unused_bits(arr: np.ndarray, inst: Instance) -> np.ndarray:
    """Mask (unsigned) or sign-extend (signed) above Bits Stored, as pydicom does."""
    spare = inst.bits_allocated - inst.bits_stored
    if spare <= 0:
        return arr
    if inst.pixel_representation == 1:
        np.left_shift(arr, spare, out=arr)
        np.right_shift(arr, spare, out=arr)
    else:
        np.bitwise_and(arr, (1 << inst.bits_stored) - 1, out=arr)
    return arr


def _read_native(inst: Instance, indices: Sequence[int]) -> np.ndarray:
    loc = inst.pixel_location
    assert loc is not None and loc.length is not None
    dtype = _stored_dtype(inst)
    per_frame = inst.rows * inst.columns
    first = indices[0]
    contiguous = list(indices) == list(range(first, first + len(indices)))
    span = len(indices) if contiguous else (max(indices) - first + 1)
    count = span * per_frame
    offset = loc.value_offset + first * per_frame * dtype.itemsize
    arr = np.fromfile(inst.path, dtype=dtype, count=count, offset=offset)
    if arr.size != count:
        raise PixelDataError(
            f"{inst.source}: (7FE0,0010) Pixel Data ends early: expected {count * dtype.itemsize} "
            f"bytes for frames {first + 1}-{first + span} of {inst.rows}x{inst.columns} at "
            f"{inst.bits_allocated} bits, found {arr.size * dtype.itemsize}"
        )
    arr = arr.reshape(span, inst.rows, inst.columns)
    if not contiguous:
        arr = arr[[i - first for i in indices]]
    return _fix_unused_bits(arr, inst)


def _decode_error(inst: Instance, exc: BaseException) -> PixelDataError:
    ts = UID(inst.transfer_syntax_uid)
    lines = [line.strip().rstrip(":") for line in str(exc).splitlines() if line.strip()]
    detail = lines[0] if lines else type(exc).__name__
    if len(lines) > 1:
        detail += ": " + "; ".join(lines[1:5])
    hint = ""
    if ts == _JPEG_EXTENDED and "12-bit" in detail:
        hint = ("; GDCM cannot decode 12-bit JPEG Extended, the optional GPL-3.0 plugin "
                "pylibjpeg-libjpeg can (pip install 'caselib[gpl-codecs]')")
    return PixelDataError(
        f"{inst.source}: cannot decode (7FE0,0010) Pixel Data in transfer syntax "
        f"'{ts.name}' ({ts}): {detail}{hint}"
    )


def _read_with_pydicom(inst: Instance, indices: Sequence[int] | None) -> np.ndarray:
    import warnings

    from pydicom.pixels import apply_color_lut, pixel_array

    ds = inst.load_dataset()
    if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        raise PixelDataError(
            f"{inst.source}: truncated: (7FE0,0010) Pixel Data in transfer syntax "
            f"'{UID(inst.transfer_syntax_uid).name}' ends before its end marker "
            "(FFFE,E0DD) Sequence Delimitation Item; pydicom dropped it"
        )
    n = inst.number_of_frames
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom warns about padding it removes
            if indices is None or (n > 1 and list(indices) == list(range(n))):
                arr = pixel_array(ds)
                if n == 1 or arr.ndim == (2 if inst.samples_per_pixel == 1 else 3):
                    arr = arr[np.newaxis]
            else:
                arr = np.stack([pixel_array(ds, index=i) if n > 1 else pixel_array(ds)
                                for i in indices])
            if inst.photometric == "PALETTE COLOR":
                arr = apply_color_lut(arr, ds)
    except (PixelDataError, MemoryError):
        raise
    except Exception as exc:  # decoders raise RuntimeError, ValueError, NotImplementedError...
        raise _decode_error(inst, exc) from exc
    return arr


def read_stored_frames(inst: Instance, indices: Sequence[int] | None = None) -> np.ndarray:
    """Stored values of some frames of an instance: ``(k, rows, columns[, 3])``.

    Colour data is returned as RGB (YBR converted, palettes applied).

    Raises
    ------
    caselib.errors.PixelDataError
        No pixel data, or decoding failed; the message names the file and the
        transfer syntax.
    """
    if not inst.has_pixel_data:
        raise PixelDataError(
            f"{inst.source}: has no (7FE0,0010) Pixel Data (it is a {inst.sop_class_name})")
    wanted = list(range(inst.number_of_frames)) if indices is None else list(indices)
    for i in wanted:
        if not 0 <= i < inst.number_of_frames:
            raise IndexError(f"{inst.source}: frame {i} out of range "
                             f"(it has {inst.number_of_frames})")
    if _can_read_natively(inst):
        return _read_native(inst, wanted)
    return _read_with_pydicom(inst, wanted)


def _exact_in_float32(inst: Instance, slope: float, intercept: float) -> bool:
    """True if ``stored * slope + intercept`` is exact in float32 for every stored value."""
    if not (float(slope).is_integer() and float(intercept).is_integer()):
        return False
    bits = inst.bits_stored if inst.bits_stored else inst.bits_allocated
    return (2.0 ** bits) * abs(slope) + abs(intercept) < 2.0 ** 24


def rescale_into(out: np.ndarray, stored: np.ndarray, slope: float, intercept: float,
                 *, exact_in_float32: bool = False) -> None:
    """``out[...] = stored * slope + intercept``, computed as float64 and rounded once.

    With ``exact_in_float32`` (integer slope and intercept, small enough
    values) a float32 `out` is computed in place without the float64
    intermediate: every step is exact, so the result is the same.
    """
    if out.dtype == np.float32 and exact_in_float32:
        np.copyto(out, stored, casting="unsafe")
        if slope != 1:
            np.multiply(out, np.float32(slope), out=out)
        if intercept != 0:
            np.add(out, np.float32(intercept), out=out)
        return
    values = stored.astype(np.float64)
    if slope != 1:
        values *= slope
    if intercept != 0:
        values += intercept
    out[...] = values


def _modality_into(out: np.ndarray, stored: np.ndarray, frame: Frame) -> None:
    inst = frame.instance
    if inst.has_modality_lut:
        from pydicom.pixels import apply_modality_lut

        out[...] = apply_modality_lut(stored, inst.header)
        return
    rescale_into(out, stored, frame.rescale_slope, frame.rescale_intercept,
                 exact_in_float32=_exact_in_float32(inst, frame.rescale_slope,
                                                    frame.rescale_intercept))


def _check_float_dtype(dtype: Any) -> np.dtype[Any]:
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64; found {dt}")
    return dt


def _is_color(inst: Instance) -> bool:
    return inst.samples_per_pixel > 1 or inst.photometric == "PALETTE COLOR"


def read_frame(frame: Frame, *, dtype: Any = np.float32) -> np.ndarray:
    """One frame: modality values for grayscale (``dtype``), RGB for colour."""
    inst = frame.instance
    stored = read_stored_frames(inst, [frame.index])[0]
    if _is_color(inst):
        return stored
    out = np.empty(stored.shape, dtype=_check_float_dtype(dtype))
    _modality_into(out, stored, frame)
    return out


def assemble_volume(series: Series, *, dtype: Any = np.float32,
                    workers: int | None = None) -> np.ndarray:
    """The whole series as one array; see :meth:`caselib.dicom.Series.volume`."""
    frames = series.frames
    if not frames:
        first = series.instances[0]
        raise PixelDataError(
            f"{first.source}: has no (7FE0,0010) Pixel Data (it is a {first.sop_class_name}); "
            f"series {series.uid} has no image to show")
    sizes = {(f.instance.rows, f.instance.columns) for f in frames}
    if len(sizes) > 1:
        raise GeometryError(
            f"series {series.uid}: cannot stack frames of different sizes "
            f"({', '.join(f'{r}x{c}' for r, c in sorted(sizes))}); read them with frame(i)")
    groups: dict[int, tuple[Instance, list[int], list[Frame]]] = {}
    for k, f in enumerate(frames):
        entry = groups.setdefault(id(f.instance), (f.instance, [], []))
        entry[1].append(k)
        entry[2].append(f)
    rows, cols = next(iter(sizes))
    n = len(frames)
    if workers is None:
        workers = min(4, os.cpu_count() or 1)

    color = series.is_color
    if color:
        parts: dict[int, np.ndarray] = {}

        def load_color(entry: tuple[Instance, list[int], list[Frame]]) -> None:
            inst, slots, fs = entry
            arr = read_stored_frames(inst, [f.index for f in fs])
            for j, k in enumerate(slots):
                parts[k] = arr[j]

        _run(load_color, list(groups.values()), workers)
        return np.stack([parts[k] for k in range(n)])

    out = np.empty((n, rows, cols), dtype=_check_float_dtype(dtype))

    def load_gray(entry: tuple[Instance, list[int], list[Frame]]) -> None:
        inst, slots, fs = entry
        indices = [f.index for f in fs]
        order = sorted(range(len(indices)), key=indices.__getitem__)
        stored = read_stored_frames(inst, [indices[j] for j in order])
        for pos, j in enumerate(order):
            _modality_into(out[slots[j]], stored[pos], fs[j])

    _run(load_gray, list(groups.values()), workers)
    return out


def _run(task: Any, items: list[Any], workers: int) -> None:
    """Run `task` on every item, in `workers` threads each taking a contiguous share.

    File reads and numpy arithmetic release the GIL, so threads overlap them;
    one share per thread keeps the per-task overhead negligible.
    """
    if workers <= 1 or len(items) < 2 * workers:
        for item in items:
            task(item)
        return
    shares = [items[i::workers] for i in range(workers)]

    def run_share(share: list[Any]) -> None:
        for item in share:
            task(item)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in pool.map(run_share, shares):
            pass


def render_display(series: Series, index: int, window: Window | None = None) -> np.ndarray:
    """A frame as ``uint8`` for the screen; see :meth:`caselib.dicom.Series.display_frame`."""
    from caselib.imaging import auto_window, window_to_uint8

    values = series.frame(index)
    if series.is_color:
        if values.dtype == np.uint8:
            return values
        if values.dtype.kind in "ui":
            top = float(np.iinfo(values.dtype).max)
        else:
            top = float(values.max() or 1)
        return np.floor(values.astype(np.float64) * (255.0 / top) + 0.5).astype(np.uint8)
    if window is None:
        stored = series.windows
        window = stored[0] if stored else auto_window(values)
    return window_to_uint8(values, window, invert=series.inverted_grayscale)
