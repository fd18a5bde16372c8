"""Region masks that black out burned-in text, and a detector of suspected text regions.

Pure functions on pydicom datasets and numpy arrays (no SciPy, no imaging
library).  The ingest pipeline and the quarantine review (:mod:`caselib.ingest.review`)
build on them.

Region masks
------------
A :class:`RegionMask` names the rectangles of one device's screen layout that
hold identifying text (the header line with patient name, ID, birth date,
institution, date and time).  Masks are data, kept in YAML:

- ``caselib/ingest/data/pixel_masks.yaml``: masks reviewed by the caselib
  maintainers, each with its source and why;
- ``ARCHIVE/private/pixel_masks.yaml`` (optional): masks configured for one
  archive; a mask with the same name replaces the repository's.

:meth:`MaskSet.match` picks the mask of a dataset by (0008,0070) Manufacturer,
(0008,1090) Manufacturer's Model Name, (0028,0010) Rows and (0028,0011)
Columns.  Rows and Columns match exactly.  The two texts match exactly after
normalisation (:func:`normalise_label`): Unicode NFKC, runs of white space
(DICOM pads with spaces) collapsed to one space and trimmed, and case folded.
Punctuation is kept: ``"G.E. Medical Systems"`` and ``"GE Medical Systems"``
are different manufacturers, because different firmware may lay its screen out
differently.  An empty text matches a missing attribute.

Rectangles are ``(row0, col0, row1, col1)`` in pixels, half-open like numpy
slices: rows ``row0 <= r < row1`` and columns ``col0 <= c < col1``, so
``(0, 0, 24, 1024)`` is the top 24 rows of a 1024-column image.

:func:`apply_mask` blacks the rectangles out in every frame and every sample
and returns a new dataset with native (uncompressed) pixel data; the input is
never modified.  "Black" is the colour space's black (see :func:`apply_mask`).

Suspected text
--------------
:func:`find_text_regions` marks where a frame probably carries burned-in text
(a heuristic to guide a reviewer and to check a mask, not a guarantee); see its
docstring for the method.  :func:`display_frame` makes the 8-bit frame it and
the preview look at.

Examples
--------
>>> from pydicom.dataset import Dataset
>>> mask = RegionMask("ACME Medical", "Sono 1", 480, 640, [(0, 0, 20, 640)], why="header line")
>>> mask.name
'acme-medical-sono-1-480x640'
>>> ds = Dataset()
>>> ds.Manufacturer, ds.ManufacturerModelName, ds.Rows, ds.Columns = "ACME  MEDICAL ", "Sono 1", 480, 640
>>> mask.matches(ds)
True
>>> ds.Columns = 600
>>> mask.matches(ds), mask.mismatch(ds)
(False, '(0028,0011) Columns is 600, the mask is for 640')
"""
from __future__ import annotations

import copy
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRLittleEndian

from caselib.errors import CaselibError


def load_yaml(text: str) -> Any:
    """``yaml.safe_load`` through libyaml when PyYAML has it (about 10x faster; the mask
    and reviewed-decision files are read at the start of every ingest)."""
    import yaml

    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - a safe loader

__all__ = [
    "Rectangle",
    "RegionMask",
    "MaskSet",
    "MaskFileError",
    "REPOSITORY_MASKS",
    "ARCHIVE_MASKS_NAME",
    "MASK_METHOD",
    "normalise_label",
    "apply_mask",
    "mask_fill_value",
    "display_frame",
    "find_text_regions",
    "overlap_fraction",
]

#: ``(row0, col0, row1, col1)``: half-open pixel rectangle (numpy slice bounds)
Rectangle = tuple[int, int, int, int]

#: the masks reviewed by the caselib maintainers, kept in the repository
REPOSITORY_MASKS = Path(__file__).with_name("data") / "pixel_masks.yaml"

#: file name of an archive's own masks, inside ``ARCHIVE/private/``
ARCHIVE_MASKS_NAME = "pixel_masks.yaml"

#: what :func:`apply_mask` adds to (0012,0063) De-identification Method
MASK_METHOD = "caselib pixel mask: burned-in text blacked out"

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")

# Transfer syntaxes whose pixel data went through lossy compression (PS3.5 Annex A / 8.2).
_LOSSY_SYNTAXES = frozenset({
    "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51",              # JPEG baseline / extended
    "1.2.840.10008.1.2.4.81",                                        # JPEG-LS near-lossless
    "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.93",              # JPEG 2000 (may be lossy)
    "1.2.840.10008.1.2.4.203",                                       # HTJ2K (may be lossy)
    "1.2.840.10008.1.2.4.100", "1.2.840.10008.1.2.4.101", "1.2.840.10008.1.2.4.102",
    "1.2.840.10008.1.2.4.103", "1.2.840.10008.1.2.4.104", "1.2.840.10008.1.2.4.105",
    "1.2.840.10008.1.2.4.106", "1.2.840.10008.1.2.4.107", "1.2.840.10008.1.2.4.108",  # MPEG/HEVC
    "1.2.840.10008.1.2.4.112",                                       # JPEG XL (lossy)
})


class MaskFileError(CaselibError, ValueError):
    """A mask (or reviewed-decision) file cannot be read or is not valid."""


def normalise_label(text: Any) -> str:
    """The form in which manufacturer and model names are compared.

    Unicode NFKC, white-space runs collapsed to one space, trimmed, case folded.
    ``None`` becomes ``""``.

    Examples
    --------
    >>> normalise_label("  Philips   Medical Systems ")
    'philips medical systems'
    >>> normalise_label(None)
    ''
    """
    if text is None:
        return ""
    return " ".join(unicodedata.normalize("NFKC", str(text)).split()).casefold()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", normalise_label(text)).strip("-")


def _ds_text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    if not isinstance(value, str) and isinstance(value, Sequence):  # multi-valued LO
        value = "\\".join(str(v) for v in value)
    return str(value)


def _ds_int(ds: Dataset, keyword: str) -> int | None:
    try:
        value = ds.get(keyword)
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _check_rectangle(rect: Any, rows: int, columns: int, where: str) -> Rectangle:
    try:
        r0, c0, r1, c1 = (int(v) for v in rect)
        if any(float(v) != int(v) for v in rect):
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError(f"{where}: a rectangle is four integers (row0, col0, row1, col1); found {rect!r}") from None
    if not (0 <= r0 < r1 <= rows and 0 <= c0 < c1 <= columns):
        raise ValueError(f"{where}: rectangle {(r0, c0, r1, c1)} must satisfy 0 <= row0 < row1 <= {rows} "
                         f"and 0 <= col0 < col1 <= {columns} (half-open, like numpy slices)")
    return (r0, c0, r1, c1)


@dataclass(frozen=True)
class RegionMask:
    """Rectangles to black out on images of one device layout.

    Parameters
    ----------
    manufacturer, model : str
        (0008,0070) Manufacturer and (0008,1090) Manufacturer's Model Name, as
        the device writes them (compared after :func:`normalise_label`).
    rows, columns : int
        (0028,0010) Rows and (0028,0011) Columns; the layout depends on them.
    rectangles : sequence of (row0, col0, row1, col1)
        Half-open pixel rectangles; at least one, inside the image.
    name : str, optional
        Unique name (lower-case letters, digits, ``.``, ``_``, ``-``); default
        made from manufacturer, model and size.
    source : str
        How the rectangles were found (which file, which tool, who looked).
    why : str
        What the rectangles cover.
    auto : bool
        ``True``: the ingest pipeline applies this mask to every matching image
        that it would otherwise quarantine, without a review.  ``False``
        (default): the mask is only used by a reviewed decision, a reviewer's
        release, or proposed in the preview.

    Raises
    ------
    ValueError
        A rectangle outside the image, a bad size or name.
    """

    manufacturer: str
    model: str
    rows: int
    columns: int
    rectangles: tuple[Rectangle, ...]
    name: str = ""
    source: str = ""
    why: str = ""
    auto: bool = False

    def __post_init__(self) -> None:
        for attr in ("rows", "columns"):
            value = getattr(self, attr)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise ValueError(f"RegionMask {attr} must be a positive integer; found {value!r}")
            object.__setattr__(self, attr, int(value))
        object.__setattr__(self, "manufacturer", "" if self.manufacturer is None else str(self.manufacturer))
        object.__setattr__(self, "model", "" if self.model is None else str(self.model))
        name = self.name or _slug(f"{self.manufacturer} {self.model} {self.rows}x{self.columns}")
        if not _NAME.match(name):
            raise ValueError(f"RegionMask name must be lower-case letters, digits, '.', '_' or '-'; found {name!r}")
        object.__setattr__(self, "name", name)
        rects = tuple(_check_rectangle(r, self.rows, self.columns, f"mask {name!r}")
                      for r in (self.rectangles or ()))
        if not rects:
            raise ValueError(f"mask {name!r} needs at least one rectangle")
        object.__setattr__(self, "rectangles", rects)
        object.__setattr__(self, "auto", bool(self.auto))

    @property
    def key(self) -> tuple[str, str, int, int]:
        """``(manufacturer, model, rows, columns)`` normalised: what :meth:`matches` compares."""
        return (normalise_label(self.manufacturer), normalise_label(self.model), self.rows, self.columns)

    @property
    def area(self) -> int:
        """Number of pixels covered (overlaps counted once)."""
        covered = np.zeros((self.rows, self.columns), dtype=bool)
        for r0, c0, r1, c1 in self.rectangles:
            covered[r0:r1, c0:c1] = True
        return int(covered.sum())

    def mismatch(self, ds: Dataset) -> str | None:
        """Why the mask does not fit ``ds`` (``None`` when it does)."""
        rows, columns = _ds_int(ds, "Rows"), _ds_int(ds, "Columns")
        if rows != self.rows:
            return f"(0028,0010) Rows is {rows}, the mask is for {self.rows}"
        if columns != self.columns:
            return f"(0028,0011) Columns is {columns}, the mask is for {self.columns}"
        manufacturer = _ds_text(ds, "Manufacturer")
        if normalise_label(manufacturer) != self.key[0]:
            return f"(0008,0070) Manufacturer is {manufacturer!r}, the mask is for {self.manufacturer!r}"
        model = _ds_text(ds, "ManufacturerModelName")
        if normalise_label(model) != self.key[1]:
            return f"(0008,1090) Manufacturer's Model Name is {model!r}, the mask is for {self.model!r}"
        return None

    def matches(self, ds: Dataset) -> bool:
        """Whether manufacturer, model (normalised) and size of ``ds`` are the mask's."""
        return self.mismatch(ds) is None

    def covers(self, rect: Rectangle, fraction: float = 0.5) -> bool:
        """Whether at least ``fraction`` of ``rect``'s area lies inside the mask."""
        return overlap_fraction(rect, self.rectangles) >= fraction

    def to_dict(self) -> dict[str, Any]:
        """The YAML/JSON form (what :meth:`from_dict` reads)."""
        return {"name": self.name, "manufacturer": self.manufacturer, "model": self.model,
                "rows": self.rows, "columns": self.columns,
                "rectangles": [list(r) for r in self.rectangles],
                "auto": self.auto, "source": self.source, "why": self.why}

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "mask") -> RegionMask:
        """Build from the YAML/JSON form; errors name ``where``."""
        if not isinstance(data, dict):
            raise MaskFileError(f"{where}: expected a mapping, found {type(data).__name__}")
        known = {"name", "manufacturer", "model", "rows", "columns", "rectangles", "auto", "source", "why"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise MaskFileError(f"{where}: unknown field(s) {', '.join(unknown)}; expected {', '.join(sorted(known))}")
        missing = [k for k in ("manufacturer", "model", "rows", "columns", "rectangles") if k not in data]
        if missing:
            raise MaskFileError(f"{where}: missing field(s) {', '.join(missing)}")
        try:
            return cls(manufacturer=data["manufacturer"], model=data["model"], rows=data["rows"],
                       columns=data["columns"], rectangles=tuple(tuple(r) for r in data["rectangles"]),
                       name=data.get("name") or "", source=data.get("source") or "",
                       why=data.get("why") or "", auto=bool(data.get("auto", False)))
        except (TypeError, ValueError) as exc:
            raise MaskFileError(f"{where}: {exc}") from None


@dataclass(frozen=True)
class MaskSet:
    """An ordered collection of :class:`RegionMask`; the first match wins.

    Build it with :meth:`from_yaml`, :meth:`load` or :meth:`default`.
    """

    masks: tuple[RegionMask, ...] = ()
    sources: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        names = [m.name for m in self.masks]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"mask names must be unique; repeated: {', '.join(dupes)}")

    def __iter__(self) -> Iterator[RegionMask]:
        return iter(self.masks)

    def __len__(self) -> int:
        return len(self.masks)

    def __contains__(self, name: object) -> bool:
        return any(m.name == name for m in self.masks)

    def get(self, name: str) -> RegionMask:
        """The mask called ``name``.

        Raises
        ------
        KeyError
            No such mask; the message lists the known names.
        """
        for m in self.masks:
            if m.name == name:
                return m
        known = ", ".join(m.name for m in self.masks) or "none"
        raise KeyError(f"no pixel mask named {name!r} (known: {known})")

    def match(self, ds: Dataset, *, auto_only: bool = False) -> RegionMask | None:
        """The first mask whose manufacturer, model, rows and columns are those of ``ds``.

        Parameters
        ----------
        ds : pydicom.dataset.Dataset
            Only the header is read.
        auto_only : bool
            Consider only masks with ``auto=True`` (what the pipeline applies unreviewed).
        """
        for m in self.masks:
            if (m.auto or not auto_only) and m.matches(ds):
                return m
        return None

    def merged(self, other: MaskSet) -> MaskSet:
        """``other``'s masks first (they win), then ours whose names ``other`` does not use."""
        names = {m.name for m in other.masks}
        return MaskSet(other.masks + tuple(m for m in self.masks if m.name not in names),
                       other.sources + self.sources)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> MaskSet:
        """Read a mask file: a mapping with ``version: 1`` and a ``masks`` list.

        Each entry has ``name``, ``manufacturer``, ``model``, ``rows``,
        ``columns``, ``rectangles`` (list of ``[row0, col0, row1, col1]``) and
        optionally ``auto``, ``source``, ``why``.

        Raises
        ------
        MaskFileError
            The file cannot be read or an entry is invalid (the message names it).
        """
        import yaml

        path = Path(path)
        try:
            raw = load_yaml(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise MaskFileError(f"cannot read pixel mask file {path}: {exc}") from exc
        if raw is None:
            return cls((), (str(path),))
        if not isinstance(raw, dict) or not isinstance(raw.get("masks", []), list):
            raise MaskFileError(f"{path}: expected a mapping with a 'masks' list")
        if raw.get("version", 1) != 1:
            raise MaskFileError(f"{path}: unsupported version {raw.get('version')!r}; expected 1")
        masks = tuple(RegionMask.from_dict(entry, f"{path}: masks[{i}]")
                      for i, entry in enumerate(raw.get("masks") or []))
        try:
            return cls(masks, (str(path),))
        except ValueError as exc:
            raise MaskFileError(f"{path}: {exc}") from None

    @classmethod
    def load(cls, paths: Iterable[str | os.PathLike[str]]) -> MaskSet:
        """Masks of several files; a later file's mask replaces an earlier one of the same name
        and is tried first.  Missing files are skipped."""
        result = cls()
        for p in paths:
            if Path(p).is_file():
                result = result.merged(cls.from_yaml(p))
        return result

    @classmethod
    def default(cls, archive: str | os.PathLike[str] | None = None) -> MaskSet:
        """The repository's masks, then (winning) ``ARCHIVE/private/pixel_masks.yaml`` when given."""
        paths: list[Path] = [REPOSITORY_MASKS]
        if archive is not None:
            from caselib.archive import ArchiveLayout

            paths.append(ArchiveLayout.at(archive).private / ARCHIVE_MASKS_NAME)
        return cls.load(paths)


def overlap_fraction(rect: Rectangle, others: Iterable[Rectangle]) -> float:
    """Fraction of ``rect``'s area covered by the union of ``others``.

    Examples
    --------
    >>> overlap_fraction((0, 0, 10, 10), [(0, 0, 5, 10), (0, 0, 5, 5)])
    0.5
    """
    r0, c0, r1, c1 = rect
    h, w = r1 - r0, c1 - c0
    if h <= 0 or w <= 0:
        return 0.0
    covered = np.zeros((h, w), dtype=bool)
    for q0, d0, q1, d1 in others:
        a0, a1 = max(q0, r0) - r0, min(q1, r1) - r0
        b0, b1 = max(d0, c0) - c0, min(d1, c1) - c0
        if a0 < a1 and b0 < b1:
            covered[a0:a1, b0:b1] = True
    return float(covered.mean())


# --------------------------------------------------------------------------- applying a mask


def _decode_raw(ds: Dataset) -> tuple[NDArray[Any], dict[str, Any]]:
    """Stored values of every frame, no colour conversion; with the decoder's description."""
    from pydicom.pixels import get_decoder

    decoder = get_decoder(ds.file_meta.TransferSyntaxUID)
    arr, meta = decoder.as_array(ds, raw=True)
    return arr, dict(meta)


def mask_fill_value(ds: Dataset, pixels: NDArray[Any], photometric: str) -> NDArray[Any]:
    """The stored value(s) that show as black, per sample.

    ================  ==============================================================
    (0028,0004)       fill
    ================  ==============================================================
    MONOCHROME2       the smallest stored value of the object (all frames)
    MONOCHROME1       the largest stored value of the object (black when inverted)
    RGB               0 in every sample
    YBR_FULL(_422)    Y = 0, Cb = Cr = 2**(Bits Stored - 1): RGB (0, 0, 0) in full-range
                      YCbCr (PS3.3 C.7.6.3.1.2), so the data stay in their colour space
    PALETTE COLOR     the index whose palette colour is darkest (smallest R+G+B)
    ================  ==============================================================

    The smallest/largest stored value rather than the range minimum keeps the
    fill inside the data's modality LUT (a CT's -2000 padding, not -32768).

    Raises
    ------
    ValueError
        Another photometric interpretation (e.g. YBR_PARTIAL_420).
    """
    if photometric == "MONOCHROME2":
        return np.array([pixels.min()], dtype=pixels.dtype)
    if photometric == "MONOCHROME1":
        return np.array([pixels.max()], dtype=pixels.dtype)
    if photometric == "RGB":
        return np.zeros(3, dtype=pixels.dtype)
    if photometric in ("YBR_FULL", "YBR_FULL_422"):
        half = 1 << (int(ds.BitsStored) - 1)
        return np.array([0, half, half], dtype=pixels.dtype)
    if photometric == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut

        desc = ds.RedPaletteColorLookupTableDescriptor
        n_entries = int(desc[0]) or 65536
        first = int(desc[1])
        info = np.iinfo(pixels.dtype)
        lo, hi = max(first, int(info.min)), min(first + n_entries - 1, int(info.max))
        candidates = np.arange(lo, hi + 1, dtype=pixels.dtype)
        rgb = apply_color_lut(candidates, ds).reshape(len(candidates), -1)[:, :3].astype(np.int64)
        return np.array([candidates[int(np.argmin(rgb.sum(axis=1)))]], dtype=pixels.dtype)
    raise ValueError(f"apply_mask() supports (0028,0004) Photometric Interpretation MONOCHROME1, MONOCHROME2, "
                     f"RGB, YBR_FULL, YBR_FULL_422 and PALETTE COLOR after decoding; found {photometric!r}")


def apply_mask(ds: Dataset, mask: RegionMask) -> Dataset:
    """A copy of ``ds`` with the mask's rectangles blacked out in every frame and sample.

    The pixel data are decoded without colour conversion, the rectangles set
    to the colour space's black (:func:`mask_fill_value`), and written back as
    native (uncompressed) pixel data; every other pixel keeps its stored
    (decoded) value bit for bit.  The input dataset is not modified.

    Changes to the copy:

    - (7FE0,0010) Pixel Data native, (0002,0010) Transfer Syntax UID Explicit VR
      Little Endian when the input was compressed (Implicit VR, Explicit VR and
      Deflated Little Endian are kept); Extended Offset Table removed.
    - (0028,0004) Photometric Interpretation as decoded: ``YBR_FULL_422`` becomes
      ``YBR_FULL`` (chroma up-sampled exactly, no RGB rounding), JPEG 2000
      ``YBR_ICT``/``YBR_RCT`` become ``RGB`` (their decoders apply the inverse
      component transform); (0028,0006) Planar Configuration 0.
    - (0028,2110) Lossy Image Compression ``01`` when the input transfer syntax
      was lossy (an existing value is kept).
    - (0028,0301) Burned In Annotation ``NO``: the identifying text the mask
      covers is gone (other burned-in text, e.g. acquisition settings, may remain).
    - (0088,0200) Icon Image Sequence removed: the thumbnail shows the same text.
    - (0012,0063) De-identification Method gains :data:`MASK_METHOD` (the
      de-identifier appends its own method after it).  The mask's name is not
      written: it names a manufacturer, which the residual-PHI verifier may
      rightly flag when the institution shares the name (e.g. "Philips
      Healthcare"); the pipeline's report and the review log name the mask.

    The mask's manufacturer and model are not checked here (choosing the mask
    is :meth:`MaskSet.match`'s or a reviewer's job); its size is.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        An image with (7FE0,0010) Pixel Data and a File Meta transfer syntax.
    mask : RegionMask

    Returns
    -------
    pydicom.dataset.Dataset

    Raises
    ------
    ValueError
        Size differs from the mask's, no (7FE0,0010) Pixel Data, Bits Allocated 1,
        big-endian data, or an unsupported photometric interpretation.

    Examples
    --------
    >>> import numpy as np
    >>> from pydicom.dataset import Dataset, FileMetaDataset
    >>> from pydicom.uid import ExplicitVRLittleEndian
    >>> ds = Dataset(); ds.file_meta = FileMetaDataset()
    >>> ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    >>> ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = 4, 4, 1, "MONOCHROME2"
    >>> ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    >>> ds.PixelData = (np.arange(16, dtype=np.uint8) + 10).tobytes()
    >>> out = apply_mask(ds, RegionMask("", "", 4, 4, [(0, 0, 1, 4)]))
    >>> out.pixel_array[:2].tolist(), out.BurnedInAnnotation
    ([[10, 10, 10, 10], [14, 15, 16, 17]], 'NO')
    """
    rows, columns = _ds_int(ds, "Rows"), _ds_int(ds, "Columns")
    if (rows, columns) != (mask.rows, mask.columns):
        raise ValueError(f"mask {mask.name!r} is for {mask.rows} x {mask.columns} images; this one is "
                         f"(0028,0010) Rows {rows} x (0028,0011) Columns {columns}")
    if "PixelData" not in ds:
        raise ValueError("apply_mask() needs (7FE0,0010) Pixel Data; found none "
                         "(Float and Double Float Pixel Data are not supported)")
    bits_allocated = _ds_int(ds, "BitsAllocated")
    if bits_allocated not in (8, 16, 32):
        raise ValueError(f"apply_mask() supports (0028,0100) Bits Allocated 8, 16 or 32; found {bits_allocated}")
    meta_info = getattr(ds, "file_meta", None)
    tsyntax = UID(str(meta_info.get("TransferSyntaxUID", ""))) if meta_info is not None else UID("")
    if not tsyntax:
        raise ValueError("apply_mask() needs (0002,0010) Transfer Syntax UID in the file meta; found none")
    if not tsyntax.is_little_endian:
        raise ValueError(f"apply_mask() does not rewrite big-endian pixel data ((0002,0010) is {tsyntax.name}); "
                         "convert the object to little endian first")

    out = copy.deepcopy(ds)
    arr, meta = _decode_raw(out)
    photometric = str(meta.get("photometric_interpretation", ds.PhotometricInterpretation))
    frames = int(meta.get("number_of_frames", 1) or 1)
    samples = int(meta.get("samples_per_pixel", 1) or 1)
    if arr.dtype.itemsize * 8 != bits_allocated:
        raise ValueError(f"decoded {arr.dtype} pixels do not match (0028,0100) Bits Allocated {bits_allocated}")
    arr = np.array(arr, copy=True, order="C")
    view = arr.reshape(frames, mask.rows, mask.columns, samples)
    fill = mask_fill_value(out, view, photometric)
    for r0, c0, r1, c1 in mask.rectangles:
        view[:, r0:r1, c0:c1, :] = fill

    data = view.astype(view.dtype.newbyteorder("<"), copy=False).tobytes()
    if len(data) % 2:
        data += b"\x00"
    out.PixelData = data
    elem = out["PixelData"]
    elem.VR = "OB" if bits_allocated == 8 else "OW"
    elem.is_undefined_length = False
    for tag in (0x7FE00001, 0x7FE00002):  # Extended Offset Table (Lengths): encapsulated only
        if tag in out:
            del out[tag]
    if tsyntax.is_compressed:
        out.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    if tsyntax in _LOSSY_SYNTAXES and "LossyImageCompression" not in out:
        out.LossyImageCompression = "01"
    out.PhotometricInterpretation = "YBR_FULL" if photometric == "YBR_FULL_422" else photometric
    if samples > 1:
        out.PlanarConfiguration = 0
    elif "PlanarConfiguration" in out:
        del out.PlanarConfiguration
    out.BurnedInAnnotation = "NO"
    if "IconImageSequence" in out:
        del out.IconImageSequence
    note = MASK_METHOD
    methods = out.get("DeidentificationMethod")
    if methods in (None, ""):
        values: list[str] = []
    else:
        values = [str(methods)] if isinstance(methods, str) else [str(m) for m in methods]
    if note not in values:
        values.append(note)
    out.DeidentificationMethod = values if len(values) > 1 else values[0]
    out._pixel_array = None
    out._pixel_id = {}
    return out


# --------------------------------------------------------------------------- looking at a frame


def display_frame(ds: Dataset, index: int = 0) -> NDArray[np.uint8]:
    """Frame ``index`` as 8-bit display values: ``(rows, columns)`` grey or ``(rows, columns, 3)`` RGB.

    Colour (RGB, YBR, PALETTE COLOR through its palette) is converted to 8-bit
    RGB.  Grey: 8-bit unsigned MONOCHROME2 data are taken as they are (they are
    display values already, as on ultrasound and captures); other grey data are
    windowed with :func:`caselib.imaging.auto_window` (0.5 and 99.5
    percentiles) and :func:`caselib.imaging.window_to_uint8`; MONOCHROME1 is inverted.
    """
    from pydicom.pixels import apply_color_lut, pixel_array

    from caselib.imaging import auto_window, window_to_uint8

    n_frames = _ds_int(ds, "NumberOfFrames") or 1
    if not 0 <= index < n_frames:
        raise ValueError(f"frame index must be in 0..{n_frames - 1}; found {index}")
    frame = pixel_array(ds, index=index if n_frames > 1 else None)
    photometric = str(ds.get("PhotometricInterpretation", "")).strip()
    if photometric == "PALETTE COLOR":
        frame = apply_color_lut(frame, ds)
    if frame.ndim == 3:
        if frame.dtype != np.uint8:
            top = max(int(frame.max()), 1)
            shift = max(int(top).bit_length() - 8, 0)
            frame = (frame >> shift).astype(np.uint8) if frame.dtype.kind in "ui" else \
                np.clip(frame * (255.0 / top), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(frame[..., :3])
    if frame.dtype == np.uint8 and photometric != "MONOCHROME1":
        return frame
    window = auto_window(frame, (0.5, 99.5))
    return window_to_uint8(frame, window, invert=photometric == "MONOCHROME1")


def _luminance(frame: NDArray[Any]) -> NDArray[np.float32]:
    f = np.asarray(frame)
    if f.ndim == 3:
        f = f.max(axis=-1)  # coloured text (yellow, cyan) is as bright as white in its strongest channel
    if f.dtype == np.uint8:
        return f.astype(np.float32) / 255.0
    f = f.astype(np.float32)
    finite = f[np.isfinite(f)]
    if finite.size == 0:
        return np.zeros(f.shape, np.float32)
    lo, hi = float(np.percentile(finite, 0.5)), float(finite.max())
    scaled: NDArray[np.float32] = np.clip((np.nan_to_num(f, nan=lo) - lo) / max(hi - lo, 1e-6), 0, 1).astype(np.float32)
    return scaled


def _filter1d(a: NDArray[Any], k: int, axis: int, reduce: Any) -> NDArray[Any]:
    pad = [(0, 0)] * a.ndim
    pad[axis] = (k // 2, k - 1 - k // 2)
    padded = np.pad(a, pad, mode="edge")
    result: NDArray[Any] = reduce(sliding_window_view(padded, k, axis=axis), axis=-1)
    return result


def _erode(a: NDArray[Any], k: int) -> NDArray[Any]:
    return _filter1d(_filter1d(a, k, 0, np.min), k, 1, np.min)


def _dilate(a: NDArray[Any], k: int) -> NDArray[Any]:
    return _filter1d(_filter1d(a, k, 0, np.max), k, 1, np.max)


def _grow(mask: NDArray[np.bool_], dr: int, dc: int) -> NDArray[np.bool_]:
    """Binary dilation by a (2 dr + 1) x (2 dc + 1) box, via a summed-area table."""
    h, w = mask.shape
    sat = np.pad(mask.astype(np.int32), ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    r = np.arange(h)
    c = np.arange(w)
    r0, r1 = np.clip(r - dr, 0, h), np.clip(r + dr + 1, 0, h)
    c0, c1 = np.clip(c - dc, 0, w), np.clip(c + dc + 1, 0, w)
    total = sat[r1][:, c1] - sat[r0][:, c1] - sat[r1][:, c0] + sat[r0][:, c0]
    grown: NDArray[np.bool_] = total > 0
    return grown


def _components(mask: NDArray[np.bool_]) -> list[Rectangle]:
    """Bounding boxes of the 8-connected components (run-length union-find)."""
    h, _ = mask.shape
    edges = np.diff(np.pad(mask, ((0, 0), (1, 1))).astype(np.int8), axis=1)
    run_rows, run_starts = np.nonzero(edges == 1)
    _, run_ends = np.nonzero(edges == -1)  # exclusive; same row-major order as the starts
    n = len(run_rows)
    if n == 0:
        return []
    parent = np.arange(n)

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = int(parent[root])
        while parent[x] != root:
            parent[x], x = root, int(parent[x])
        return root

    first = np.searchsorted(run_rows, np.arange(h + 1))
    starts, ends = run_starts.tolist(), run_ends.tolist()
    for r in range(1, h):
        i, i_end = int(first[r - 1]), int(first[r])
        j, j_end = int(first[r]), int(first[r + 1])
        while i < i_end and j < j_end:
            if ends[i] >= starts[j] and ends[j] >= starts[i]:  # touching, diagonals included
                a, b = find(i), find(j)
                if a != b:
                    parent[a] = b
            if ends[i] < ends[j]:
                i += 1
            else:
                j += 1
    roots = np.array([find(i) for i in range(n)])
    _, label = np.unique(roots, return_inverse=True)
    k = int(label.max()) + 1
    r0 = np.full(k, np.iinfo(np.int64).max)
    c0 = np.full(k, np.iinfo(np.int64).max)
    r1 = np.zeros(k, np.int64)
    c1 = np.zeros(k, np.int64)
    np.minimum.at(r0, label, run_rows)
    np.maximum.at(r1, label, run_rows + 1)
    np.minimum.at(c0, label, run_starts)
    np.maximum.at(c1, label, run_ends)
    return [(int(a), int(b), int(c), int(d)) for a, b, c, d in zip(r0, c0, r1, c1)]


def _merge_lines(boxes: list[Rectangle]) -> list[Rectangle]:
    """Join words of one text line: rows overlapping by half the smaller height, gap <= 1.5 x height."""
    boxes = sorted(boxes, key=lambda b: (b[1], b[0]))
    merged = True
    while merged:
        merged = False
        out: list[Rectangle] = []
        for b in boxes:
            for i, a in enumerate(out):
                h = min(a[2] - a[0], b[2] - b[0])
                rows_overlap = min(a[2], b[2]) - max(a[0], b[0])
                gap = max(a[1], b[1]) - min(a[3], b[3])
                if rows_overlap >= 0.5 * h and gap <= 1.5 * max(a[2] - a[0], b[2] - b[0]):
                    out[i] = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                    merged = True
                    break
            else:
                out.append(b)
        boxes = out
    return sorted(boxes)


def find_text_regions(
    frame: NDArray[Any],
    *,
    min_height: int = 6,
    max_height: int = 48,
    contrast: float = 0.3,
    pad: int = 2,
) -> list[Rectangle]:
    """Rectangles of one frame that probably hold burned-in text (bright text on a flat background).

    A heuristic in numpy, tuned on ultrasound screens (deid-data, NEMA US1,
    Philips, Siemens, GE, Terason): good enough to point a reviewer at text
    and to check a mask, not a proof that a frame is free of text.

    Method:

    1. Brightness ``L`` in 0..1: 8-bit data / 255; other data scaled between
       their 0.5 percentile and maximum.  Colour frames use the brightest
       channel, so yellow or cyan text counts as bright.
    2. Stroke pixels: white top-hat ``L - opening(L)`` with a 9 x 9 box is at
       least ``contrast`` and ``L >= 0.4``: bright structures thinner than 9
       pixels (character strokes) standing out from their surroundings.
    3. Strokes are joined into words by a dilation of +-4 columns (not rows, so
       text lines stay apart) and 8-connected components are labelled
       (run-length union-find).
    4. A component is text-like when its tight box is ``min_height``..
       ``max_height`` rows high with at least 12 stroke pixels filling 8-70 %
       of it; the pixels around the strokes are flat (standard deviation
       <= 0.08) and darker than the strokes by ``contrast`` (text is drawn on
       a uniform background; ultrasound speckle is not); and rows cross many
       strokes (at least 1.2 stroke starts per row and 0.8 per character-height
       of width), which rejects lines, scale bars, ticks and arrows.
    5. Words whose rows overlap by half and whose gap is at most 1.5 heights
       are merged into line rectangles, padded by ``pad`` pixels.

    Dark text on a light background and text drawn over tissue are usually
    missed; icons and calipers are sometimes marked.

    Parameters
    ----------
    frame : array_like
        One frame, ``(rows, columns)`` or ``(rows, columns, samples)``,
        display-ready preferably (:func:`display_frame`).
    min_height, max_height : int
        Character heights (pixels) considered.
    contrast : float
        Minimum stroke contrast, as a fraction of the 0..1 brightness range.
    pad : int
        Pixels added on each side of a returned rectangle.

    Returns
    -------
    list of (row0, col0, row1, col1)
        Half-open rectangles, sorted top to bottom, left to right.

    Examples
    --------
    >>> import numpy as np
    >>> frame = np.zeros((40, 80), np.uint8)
    >>> for c in range(10, 60, 6):          # a row of 'characters' with two strokes each
    ...     frame[10:22, c] = frame[10:22, c + 3] = 255
    ...     frame[10, c:c + 4] = frame[21, c:c + 4] = 255
    >>> find_text_regions(frame)
    [(8, 8, 24, 64)]
    >>> find_text_regions(np.zeros((40, 80), np.uint8))
    []
    """
    arr = np.asarray(frame)
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        arr = arr[..., :3]
    elif arr.ndim != 2:
        raise ValueError(f"find_text_regions() takes one frame of shape (rows, columns) or "
                         f"(rows, columns, 3); found shape {arr.shape}")
    if arr.shape[0] < 3 or arr.shape[1] < 3:
        return []
    lum = _luminance(arr)
    k = 9
    tophat = lum - _dilate(_erode(lum, k), k)
    strokes = (tophat >= contrast) & (lum >= 0.4)
    if not strokes.any():
        return []
    words = _components(_grow(strokes, 0, 4))
    h_img, w_img = strokes.shape
    found: list[Rectangle] = []
    for r0, c0, r1, c1 in words:
        sub = strokes[r0:r1, c0:c1]
        rows_hit = np.flatnonzero(sub.any(axis=1))
        cols_hit = np.flatnonzero(sub.any(axis=0))
        if rows_hit.size == 0:
            continue
        R0, R1 = r0 + int(rows_hit[0]), r0 + int(rows_hit[-1]) + 1
        C0, C1 = c0 + int(cols_hit[0]), c0 + int(cols_hit[-1]) + 1
        s = strokes[R0:R1, C0:C1]
        h, w = R1 - R0, C1 - C0
        n = int(s.sum())
        if not (min_height <= h <= max_height) or n < 12 or not 0.08 <= n / (h * w) <= 0.7:
            continue
        starts = np.count_nonzero(np.diff(s.astype(np.int8), axis=1) == 1) / h
        if starts < 1.2 or starts * h / w < 0.8:
            continue
        p0, p1, q0, q1 = max(R0 - 2, 0), min(R1 + 2, h_img), max(C0 - 2, 0), min(C1 + 2, w_img)
        near = _grow(strokes[p0:p1, q0:q1], 1, 1)
        around = lum[p0:p1, q0:q1][~near]
        inside = lum[R0:R1, C0:C1][s]
        if around.size == 0:
            continue
        if float(around.std()) > 0.08 or float(np.median(inside)) - float(np.median(around)) < contrast:
            continue
        found.append((R0, C0, R1, C1))
    lines = _merge_lines(found)
    return [(max(a - pad, 0), max(b - pad, 0), min(c + pad, h_img), min(d + pad, w_img)) for a, b, c, d in lines]
