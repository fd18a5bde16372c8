"""The DICOM information model as caselib sees it: Patient -> Study -> Series -> Instance.

Everything here is built from headers only (see :mod:`caselib.dicom.header`);
pixels are read when :meth:`Series.volume`, :meth:`Series.frame` or
:meth:`Instance.load_dataset` ask for them.

A :class:`Series` is a sorted list of :class:`Frame` objects: one per
single-frame instance, or one per frame of a multi-frame instance (enhanced CT
and MR objects carry each frame's position in their per-frame functional
groups, PS3.3 C.7.6.16).  The order and the geometry of the frames are in
:attr:`Series.geometry` (:mod:`caselib.dicom.geometry`).
"""
from __future__ import annotations

import io
import math
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np
import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from caselib.dicom.header import HeaderScan, PixelLocation, format_tag
from caselib.errors import DicomError, GeometryError, InvalidDicomError

if TYPE_CHECKING:
    from caselib.dicom.geometry import SeriesGeometry
    from caselib.imaging import Window

__all__ = [
    "SkippedFile",
    "Frame",
    "Instance",
    "Series",
    "Study",
    "Patient",
    "DicomCollection",
    "instance_from_scan",
]


#: (0008,0016) SOP Class UID of a DICOMDIR (PS3.10 section 8).
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"


class DicomdirFoundError(InvalidDicomError):
    """Raised for a DICOMDIR where an image was expected; the reader follows it instead."""


class SkippedFile(NamedTuple):
    """A file (or zip member) that :func:`caselib.dicom.read` did not use, and why.

    Attributes
    ----------
    source : str
        The path, or ``"archive.zip::member/name"`` for a zip member.
    reason : str
        What was expected and what was found.
    """

    source: str
    reason: str


# --------------------------------------------------------------------------- header values


class _Header:
    """Fast access to the header elements of a data set (raw where pydicom left them raw)."""

    __slots__ = ("ds", "elements")

    def __init__(self, ds: Dataset, elements: dict[int, Any] | None = None) -> None:
        self.ds = ds
        self.elements = elements

    def element(self, tag: int) -> Any:
        if self.elements is not None:
            return self.elements.get(tag)
        return self.ds.get_item(tag)

    def value(self, tag: int) -> Any:
        return self.ds[tag].value


def _ascii_value(elem: Any) -> str | None:
    """The text of a raw ASCII element, without converting through pydicom; else ``None``."""
    if isinstance(elem, RawDataElement) and elem.VR != "UN":
        value = elem.value
        if isinstance(value, bytes) and value.isascii():
            return value.decode("ascii").strip(" \x00")
    return None


def _text(h: _Header, tag: int) -> str:
    """A text attribute as ``str`` (``""`` when absent); multi-values joined by ``\\``."""
    elem = h.element(tag)
    if elem is None:
        return ""
    fast = _ascii_value(elem)
    if fast is not None:
        return fast
    value = h.value(tag)
    if value is None:
        return ""
    if isinstance(value, MultiValue | list | tuple):
        return "\\".join(str(v) for v in value)
    if isinstance(value, bytes):
        return value.decode("latin-1").strip(" \x00")
    return str(value).strip()


def _strings(h: _Header, tag: int) -> list[str]:
    text = _text(h, tag)
    return [] if text == "" else [t.strip() for t in text.split("\\")]


def _numbers(
    h: _Header, tag: int, label: str, count: int | None = None
) -> tuple[float, ...] | None:
    """Decimal values of `tag`; ``None`` if absent or empty.

    Raises InvalidDicomError if a value is not a number or, when `count` is
    given, there are not exactly `count` of them.
    """
    elem = h.element(tag)
    if elem is None:
        return None
    fast = _ascii_value(elem)
    if fast is not None and getattr(elem, "VR", None) in (None, "DS", "IS"):
        items: list[Any] = fast.split("\\") if fast else []
    else:
        try:
            value = h.value(tag)
        except (ValueError, TypeError) as exc:
            raise InvalidDicomError(f"{label}: cannot read {format_tag(tag)}: {exc}") from None
        if value is None or value == "":
            items = []
        elif isinstance(value, MultiValue | list | tuple):
            items = list(value)
        elif isinstance(value, bytes):
            items = value.decode("latin-1").split("\\")
        else:
            items = [value]
    try:
        numbers = tuple(map(float, items))
    except (TypeError, ValueError):
        if all(str(v).strip() == "" for v in items):
            return None
        shown = "\\".join(str(v) for v in items)
        what = f"{count} numbers" if count else "numbers"
        raise InvalidDicomError(
            f"{label}: expected {format_tag(tag)} with {what}, found {shown!r}"
        ) from None
    if not numbers:
        return None
    if not all(map(math.isfinite, numbers)):
        raise InvalidDicomError(
            f"{label}: expected finite numbers in {format_tag(tag)}, found {numbers}"
        )
    if count is not None and len(numbers) != count:
        raise InvalidDicomError(
            f"{label}: expected {format_tag(tag)} with {count} values, found {len(numbers)}"
        )
    return numbers


def _number(h: _Header, tag: int, label: str) -> float | None:
    values = _numbers(h, tag, label)
    if values is None:
        return None
    return values[0]


_BINARY_INTEGER_VRS = {"US": (2, False), "UL": (4, False), "SS": (2, True), "SL": (4, True)}
#: The US attributes of the header (implicit VR files carry no VR to tell).
_US_TAGS = frozenset({0x00280002, 0x00280006, 0x00280010, 0x00280011, 0x00280100,
                      0x00280101, 0x00280102, 0x00280103})


def _integer(h: _Header, tag: int, label: str) -> int | None:
    """An IS, US or UL value; ``None`` if absent or empty."""
    elem = h.element(tag)
    if elem is None:
        return None
    if isinstance(elem, RawDataElement) and isinstance(elem.value, bytes):
        vr = elem.VR if elem.VR is not None else ("US" if tag in _US_TAGS else None)
        if vr in _BINARY_INTEGER_VRS:
            size, signed = _BINARY_INTEGER_VRS[vr]
            if not elem.value:
                return None
            if len(elem.value) >= size:
                order: Literal["little", "big"] = "little" if elem.is_little_endian else "big"
                return int.from_bytes(elem.value[:size], order, signed=signed)
    numbers = _numbers(h, tag, label)
    if numbers is None:
        return None
    value = numbers[0]
    if not float(value).is_integer():
        raise InvalidDicomError(f"{label}: expected an integer in {format_tag(tag)}, found {value}")
    return int(value)


def _sequence_item(ds: Dataset, keyword: str) -> Dataset | None:
    """The first item of a sequence attribute of `ds`, or ``None``."""
    seq = ds.get(keyword)
    if not seq:
        return None
    return seq[0]


# --------------------------------------------------------------------------- frames


@dataclass(frozen=True, slots=True, eq=False)
class Frame:
    """One 2-D image: a single-frame instance, or one frame of a multi-frame one.

    Attributes
    ----------
    instance : Instance
        The object holding the frame.
    index : int
        0-based frame number inside `instance`.
    position : tuple of 3 float or None
        (0020,0032) Image Position (Patient): the centre of the first pixel, LPS mm.
    orientation : tuple of 6 float or None
        (0020,0037) Image Orientation (Patient): row then column direction cosines.
    pixel_spacing : (float, float) or None
        Row spacing then column spacing in mm ((0028,0030) Pixel Spacing).
    slice_thickness : float or None
        (0018,0050) Slice Thickness in mm.
    rescale_slope, rescale_intercept : float
        Modality LUT by rescale (PS3.3 C.11.1.1.2); 1 and 0 when absent.
    """

    instance: Instance
    index: int
    position: tuple[float, ...] | None
    orientation: tuple[float, ...] | None
    pixel_spacing: tuple[float, ...] | None
    slice_thickness: float | None
    rescale_slope: float
    rescale_intercept: float

    def __repr__(self) -> str:
        return f"Frame({self.instance.source!r}, index={self.index})"


# --------------------------------------------------------------------------- instances


@dataclass(eq=False, repr=False)
class Instance:
    """One DICOM object (a file or a zip member), described by its header.

    Build instances with :func:`caselib.dicom.read` or
    :func:`caselib.dicom.read_instance`; pixels are not read until asked for.

    Attributes
    ----------
    path : pathlib.Path
        The file, or the zip archive holding it.
    member : str or None
        The name of the zip member, ``None`` for a plain file.
    sop_instance_uid, sop_class_uid, transfer_syntax_uid : str
    instance_number : int or None
        (0020,0013) Instance Number.
    header : pydicom.dataset.Dataset
        The attributes caselib reads (all of them before the pixel data when the
        file was read by pydicom; a subset, :data:`caselib.dicom.header.HEADER_KEYWORDS`,
        on the fast path).  Use :meth:`load_dataset` for the whole object.

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> from caselib.dicom import read_instance
    >>> inst = read_instance(get_testdata_file("CT_small.dcm"))
    >>> inst.modality, inst.rows, inst.columns, inst.instance_number
    ('CT', 128, 128, 1)
    """

    path: Path
    member: str | None
    header: Dataset
    transfer_syntax_uid: str
    has_file_meta: bool
    pixel_location: PixelLocation | None
    sop_instance_uid: str = ""
    sop_class_uid: str = ""
    instance_number: int | None = None
    acquisition_number: int | None = None
    patient_id: str = ""
    patient_name: str = ""
    patient_birth_date: str = ""
    patient_sex: str = ""
    study_instance_uid: str = ""
    study_date: str = ""
    study_time: str = ""
    study_description: str = ""
    study_id: str = ""
    accession_number: str = ""
    series_instance_uid: str = ""
    series_number: int | None = None
    series_description: str = ""
    modality: str = ""
    body_part: str = ""
    image_type: tuple[str, ...] = ()
    frame_of_reference_uid: str = ""
    rows: int = 0
    columns: int = 0
    number_of_frames: int = 0
    samples_per_pixel: int = 1
    photometric: str = ""
    bits_allocated: int = 0
    bits_stored: int = 0
    pixel_representation: int = 0
    planar_configuration: int = 0
    has_modality_lut: bool = False
    window_centers: tuple[float, ...] = ()
    window_widths: tuple[float, ...] = ()
    window_explanations: tuple[str, ...] = ()
    voi_lut_function: str = ""
    gantry_tilt: float | None = None
    spacing_between_slices: float | None = None
    frame_time: float | None = None
    pixel_spacing_tag: int | None = None
    frames: tuple[Frame, ...] = field(default=())

    # ------------------------------------------------------------------ naming

    @property
    def source(self) -> str:
        """The file path, or ``"archive.zip::member"`` for a zip member."""
        if self.member is None:
            return str(self.path)
        return f"{self.path}::{self.member}"

    @property
    def name(self) -> str:
        """The file (or member) name without folders, for short messages."""
        return (self.member or self.path.name).rsplit("/", 1)[-1]

    @property
    def has_pixel_data(self) -> bool:
        """True if the object has (7FE0,0010) Pixel Data (or float pixel data)."""
        return self.pixel_location is not None

    @property
    def sop_class_name(self) -> str:
        """The SOP Class's name, e.g. ``"CT Image Storage"``."""
        uid = pydicom.uid.UID(self.sop_class_uid)
        return uid.name if uid.is_valid else self.sop_class_uid

    @property
    def transfer_syntax_name(self) -> str:
        """The transfer syntax's name, e.g. ``"JPEG Lossless, Non-Hierarchical, ..."``."""
        return pydicom.uid.UID(self.transfer_syntax_uid).name

    def __repr__(self) -> str:
        return (f"Instance({self.source!r}, modality={self.modality!r}, "
                f"number={self.instance_number}, frames={len(self.frames)})")

    # ------------------------------------------------------------------ reading

    def read_bytes(self) -> bytes:
        """The whole encoded object (the file's content, or the zip member's)."""
        if self.member is None:
            return self.path.read_bytes()
        with zipfile.ZipFile(self.path) as archive:
            return archive.read(self.member)

    def load_dataset(self, *, stop_before_pixels: bool = False) -> Dataset:
        """Read the whole object with pydicom.

        Parameters
        ----------
        stop_before_pixels : bool
            Leave out the pixel data (faster for large images).

        Returns
        -------
        pydicom.dataset.Dataset
            With ``file_meta.TransferSyntaxUID`` set even when the file has no
            meta information (the encoding pydicom found).

        Raises
        ------
        caselib.errors.InvalidDicomError
            The file changed or cannot be parsed any more.

        Examples
        --------
        >>> from pydicom.data import get_testdata_file
        >>> from caselib.dicom import read_instance
        >>> ds = read_instance(get_testdata_file("CT_small.dcm")).load_dataset()
        >>> ds.PatientName
        'CompressedSamples^CT1'
        """
        src: Any = str(self.path) if self.member is None else io.BytesIO(self.read_bytes())
        try:
            ds = pydicom.dcmread(src, stop_before_pixels=stop_before_pixels,
                                 force=not self.has_file_meta)
        except Exception as exc:  # pydicom raises many kinds for damaged files
            raise InvalidDicomError(f"{self.source}: cannot read the DICOM object: {exc}") from exc
        if "TransferSyntaxUID" not in ds.file_meta:
            ds.file_meta.TransferSyntaxUID = pydicom.uid.UID(self.transfer_syntax_uid)
        return ds


def _frame_groups(ds: Dataset, label: str, n_frames: int) -> list[dict[str, Any]]:
    """Per-frame values from the functional groups of an enhanced object (PS3.3 C.7.6.16)."""
    try:
        shared = _sequence_item(ds, "SharedFunctionalGroupsSequence") or Dataset()
        per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
    except Exception as exc:
        raise InvalidDicomError(
            f"{label}: cannot read the functional group sequences: {exc}") from exc
    if per_frame and len(per_frame) != n_frames:
        raise InvalidDicomError(
            f"{label}: expected (5200,9230) Per-Frame Functional Groups Sequence with "
            f"{n_frames} items ((0028,0008) Number of Frames), found {len(per_frame)}"
        )

    def lookup(item: Dataset, seq_keyword: str) -> Dataset | None:
        found = _sequence_item(item, seq_keyword)
        return found if found is not None else _sequence_item(shared, seq_keyword)

    result = []
    for i in range(n_frames):
        item = per_frame[i] if per_frame else Dataset()
        where = f"{label}: frame {i + 1}"
        values: dict[str, Any] = {}
        pos = lookup(item, "PlanePositionSequence")
        if pos is not None:
            values["position"] = _numbers(_Header(pos), 0x00200032, where, 3)
        ori = lookup(item, "PlaneOrientationSequence")
        if ori is not None:
            values["orientation"] = _numbers(_Header(ori), 0x00200037, where, 6)
        meas = lookup(item, "PixelMeasuresSequence")
        if meas is not None:
            values["pixel_spacing"] = _numbers(_Header(meas), 0x00280030, where, 2)
            values["slice_thickness"] = _number(_Header(meas), 0x00180050, where)
        voi = lookup(item, "FrameVOILUTSequence")
        if voi is not None:
            values["window_centers"] = _numbers(_Header(voi), 0x00281050, where)
            values["window_widths"] = _numbers(_Header(voi), 0x00281051, where)
            values["window_explanations"] = _strings(_Header(voi), 0x00281055)
        pvt = lookup(item, "PixelValueTransformationSequence")
        if pvt is not None:
            values["slope"] = _number(_Header(pvt), 0x00281053, where)
            values["intercept"] = _number(_Header(pvt), 0x00281052, where)
        result.append(values)
    return result


def instance_from_scan(scan: HeaderScan, path: Path, member: str | None = None) -> Instance:
    """Build an :class:`Instance` from a header read by :func:`~caselib.dicom.header.scan_header`.

    Raises
    ------
    caselib.errors.InvalidDicomError
        An attribute caselib relies on is present but malformed, e.g.
        ``"…/x.dcm: expected (0028,0030) Pixel Spacing with 2 values, found 1"``,
        or the pixel data is truncated.
    """
    ds = scan.dataset
    label = str(path) if member is None else f"{path}::{member}"
    inst = Instance(
        path=path,
        member=member,
        header=ds,
        transfer_syntax_uid=scan.transfer_syntax_uid,
        has_file_meta="TransferSyntaxUID" in getattr(ds, "file_meta", {}),
        pixel_location=scan.pixels,
    )
    h = _Header(ds, scan.elements)
    inst.sop_instance_uid = _text(h, 0x00080018)
    inst.sop_class_uid = _text(h, 0x00080016)
    if not inst.sop_class_uid and hasattr(ds, "file_meta"):
        inst.sop_class_uid = _text(_Header(ds.file_meta), 0x00020002)
    if not inst.sop_instance_uid and hasattr(ds, "file_meta"):
        inst.sop_instance_uid = _text(_Header(ds.file_meta), 0x00020003)
    if not inst.sop_instance_uid and scan.pixels is None:
        raise InvalidDicomError(
            f"{label}: not an image or other composite object: no (0008,0018) SOP Instance "
            "UID and no (7FE0,0010) Pixel Data"
        )
    if inst.sop_class_uid == MEDIA_STORAGE_DIRECTORY:
        raise DicomdirFoundError(f"{label}: a DICOMDIR (media directory); read it with "
                                 "caselib.dicom.read(path_to_DICOMDIR) to follow its references")
    inst.instance_number = _integer(h, 0x00200013, label)
    inst.acquisition_number = _integer(h, 0x00200012, label)
    inst.patient_id = _text(h, 0x00100020)
    inst.patient_name = _text(h, 0x00100010)
    inst.patient_birth_date = _text(h, 0x00100030)
    inst.patient_sex = _text(h, 0x00100040)
    inst.study_instance_uid = _text(h, 0x0020000D)
    inst.study_date = _text(h, 0x00080020)
    inst.study_time = _text(h, 0x00080030)
    inst.study_description = _text(h, 0x00081030)
    inst.study_id = _text(h, 0x00200010)
    inst.accession_number = _text(h, 0x00080050)
    inst.series_instance_uid = _text(h, 0x0020000E)
    inst.series_number = _integer(h, 0x00200011, label)
    inst.series_description = _text(h, 0x0008103E)
    inst.modality = _text(h, 0x00080060).upper()
    inst.body_part = _text(h, 0x00180015)
    inst.image_type = tuple(_strings(h, 0x00080008))
    inst.frame_of_reference_uid = _text(h, 0x00200052)
    inst.gantry_tilt = _number(h, 0x00181120, label)
    inst.spacing_between_slices = _number(h, 0x00180088, label)
    inst.frame_time = _number(h, 0x00181063, label)
    inst.voi_lut_function = _text(h, 0x00281056).upper()
    inst.window_centers = _numbers(h, 0x00281050, label) or ()
    inst.window_widths = _numbers(h, 0x00281051, label) or ()
    inst.window_explanations = tuple(_strings(h, 0x00281055))
    inst.has_modality_lut = h.element(0x00283000) is not None

    if scan.pixels is not None:
        _read_image_pixel_module(inst, h, label)
    _build_frames(inst, h, label)
    return inst


def _read_image_pixel_module(inst: Instance, h: _Header, label: str) -> None:
    """The Image Pixel module (PS3.3 C.7.6.3): required when there is pixel data."""

    def required(tag: int) -> int:
        value = _integer(h, tag, label)
        if value is None:
            raise InvalidDicomError(
                f"{label}: expected {format_tag(tag)} (required with pixel data), found none"
            )
        return value

    inst.rows = required(0x00280010)
    inst.columns = required(0x00280011)
    inst.bits_allocated = required(0x00280100)
    inst.bits_stored = _integer(h, 0x00280101, label) or inst.bits_allocated
    inst.pixel_representation = _integer(h, 0x00280103, label) or 0
    inst.samples_per_pixel = _integer(h, 0x00280002, label) or 1
    inst.planar_configuration = _integer(h, 0x00280006, label) or 0
    inst.photometric = _text(h, 0x00280004).upper() or (
        "MONOCHROME2" if inst.samples_per_pixel == 1 else "RGB")
    frames = _integer(h, 0x00280008, label)
    inst.number_of_frames = frames if frames and frames > 0 else 1
    if inst.rows <= 0 or inst.columns <= 0:
        raise InvalidDicomError(
            f"{label}: expected positive (0028,0010) Rows and (0028,0011) Columns, "
            f"found {inst.rows}x{inst.columns}"
        )
    if inst.bits_stored > inst.bits_allocated:
        raise InvalidDicomError(
            f"{label}: expected (0028,0101) Bits Stored <= (0028,0100) Bits Allocated, "
            f"found {inst.bits_stored} > {inst.bits_allocated}"
        )
    loc = inst.pixel_location
    assert loc is not None
    if loc.length is not None and loc.available < loc.length:
        raise InvalidDicomError(
            f"{label}: truncated: {format_tag(loc.tag)} declares {loc.length} bytes "
            f"but only {loc.available} remain in the file"
        )
    if loc.length is not None and loc.tag == 0x7FE00010 and inst.bits_allocated >= 8:
        expected = (inst.rows * inst.columns * inst.samples_per_pixel
                    * inst.number_of_frames * inst.bits_allocated // 8)
        if inst.photometric in ("YBR_FULL_422", "YBR_PARTIAL_422"):
            expected = expected * 2 // 3
        if loc.length < expected:
            raise InvalidDicomError(
                f"{label}: truncated: (7FE0,0010) Pixel Data holds {loc.length} bytes; "
                f"{inst.number_of_frames} frame(s) of {inst.rows}x{inst.columns}x"
                f"{inst.samples_per_pixel} at {inst.bits_allocated} bits need {expected}"
            )


def _build_frames(inst: Instance, h: _Header, label: str) -> None:
    if not inst.has_pixel_data:
        inst.frames = ()
        return
    n = inst.number_of_frames
    position = _numbers(h, 0x00200032, label, 3)
    orientation = _numbers(h, 0x00200037, label, 6)
    spacing = _numbers(h, 0x00280030, label, 2)
    inst.pixel_spacing_tag = 0x00280030 if spacing is not None else None
    if spacing is None:
        spacing = _numbers(h, 0x00181164, label, 2)  # Imager Pixel Spacing (projection)
        if spacing is not None:
            inst.pixel_spacing_tag = 0x00181164
    thickness = _number(h, 0x00180050, label)
    slope = _number(h, 0x00281053, label)
    intercept = _number(h, 0x00281052, label)
    if slope == 0:
        raise InvalidDicomError(f"{label}: expected a non-zero (0028,1053) Rescale Slope, found 0")
    if orientation is not None:
        _check_orientation(orientation, label, 0x00200037)
    enhanced = h.element(0x52009230) is not None or h.element(0x52009229) is not None
    if enhanced:
        groups = _frame_groups(h.ds, label, n)
        if not inst.window_centers and groups and groups[0].get("window_centers"):
            # enhanced objects keep windows per frame (PS3.3 C.7.6.16.2.16); take the first
            inst.window_centers = groups[0]["window_centers"]
            inst.window_widths = groups[0].get("window_widths") or ()
            inst.window_explanations = tuple(groups[0].get("window_explanations") or ())
        frames = []
        for i, g in enumerate(groups):
            ori = g.get("orientation") or orientation
            if g.get("orientation") is not None:
                _check_orientation(g["orientation"], f"{label}: frame {i + 1}", 0x00200037)
            ps = g.get("pixel_spacing") or spacing
            if g.get("pixel_spacing") is not None and inst.pixel_spacing_tag is None:
                inst.pixel_spacing_tag = 0x00280030
            s = g.get("slope")
            b = g.get("intercept")
            frames.append(Frame(
                inst, i,
                g.get("position") or (position if n == 1 else None),
                ori,
                ps,
                g.get("slice_thickness") or thickness,
                s if s is not None else (slope if slope is not None else 1.0),
                b if b is not None else (intercept if intercept is not None else 0.0),
            ))
        inst.frames = tuple(frames)
        return
    # Classic objects: one position for the whole object, so only a single
    # frame can have it (a cine loop's frames have no position of their own).
    frame_position = position if n == 1 else None
    inst.frames = tuple(
        Frame(inst, i, frame_position, orientation, spacing, thickness,
              slope if slope is not None else 1.0,
              intercept if intercept is not None else 0.0)
        for i in range(n)
    )


def _check_orientation(values: Sequence[float], label: str, tag: int) -> None:
    row = np.array(values[:3])
    col = np.array(values[3:])
    nr, nc = np.linalg.norm(row), np.linalg.norm(col)
    if abs(nr - 1) > 0.01 or abs(nc - 1) > 0.01 or abs(float(row @ col)) > 0.01:
        raise InvalidDicomError(
            f"{label}: expected {format_tag(tag)} to hold two orthogonal unit vectors, "
            f"found {tuple(values)} (lengths {nr:.3f} and {nc:.3f}, "
            f"dot product {float(row @ col):.3f})"
        )


# --------------------------------------------------------------------------- series


class Series:
    """The frames of one (0020,000E) Series Instance UID, sorted, with their geometry.

    Attributes
    ----------
    uid : str
        (0020,000E) Series Instance UID (``""`` if the files had none).
    study : Study
        The study the series belongs to.
    frames : list of Frame
        In display order: along the slice normal for volumes, else by
        (0020,0013) Instance Number and frame number.
    instances : list of Instance
        The objects holding `frames`, in the same order.
    geometry : SeriesGeometry
        Order, spacing, orientation, tilt and human-readable warnings.

    Examples
    --------
    >>> from caselib.data import fetch_dataset          # doctest: +SKIP
    >>> from caselib.dicom import read                   # doctest: +SKIP
    >>> ct = read(fetch_dataset("tcia-lung-ct")).only_series()   # doctest: +SKIP
    >>> ct.modality, ct.number_of_frames, ct.orientation           # doctest: +SKIP
    ('CT', 30, 'axial')
    >>> ct.volume().shape, ct.volume().dtype                       # doctest: +SKIP
    ((30, 512, 512), dtype('float32'))
    """

    def __init__(self, uid: str, study: Study, instances: Sequence[Instance]) -> None:
        from caselib.dicom.geometry import compute_geometry

        self.uid = uid
        self.study = study
        label = f"series {uid or '(no Series Instance UID)'}"
        frames = [f for inst in instances for f in inst.frames]
        self._all_instances = list(instances)
        self.frames: list[Frame]
        self.geometry: SeriesGeometry
        self.frames, self.geometry = compute_geometry(frames, label=label,
                                                      modality=instances[0].modality)
        seen: dict[int, Instance] = {}
        for f in self.frames:
            seen.setdefault(id(f.instance), f.instance)
        # objects without pixel data (SR, RT plan...) are listed after the images
        for inst in self._all_instances:
            seen.setdefault(id(inst), inst)
        self.instances: list[Instance] = list(seen.values())

    # ------------------------------------------------------------------ descriptions

    @property
    def first(self) -> Instance:
        """The first instance (in display order); series-level attributes come from it."""
        return self.instances[0]

    @property
    def series_instance_uid(self) -> str:
        """Same as :attr:`uid`."""
        return self.uid

    @property
    def modality(self) -> str:
        """(0008,0060) Modality, e.g. ``"CT"``."""
        return self.first.modality

    @property
    def description(self) -> str:
        """(0008,103E) Series Description."""
        return self.first.series_description

    @property
    def body_part(self) -> str:
        """(0018,0015) Body Part Examined."""
        return self.first.body_part

    @property
    def series_number(self) -> int | None:
        """(0020,0011) Series Number."""
        return self.first.series_number

    @property
    def number_of_frames(self) -> int:
        """How many 2-D frames the series has (slices, or cine frames)."""
        return len(self.frames)

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def rows(self) -> int:
        """(0028,0010) Rows of the first frame."""
        return self.first.rows

    @property
    def columns(self) -> int:
        """(0028,0011) Columns of the first frame."""
        return self.first.columns

    @property
    def photometric(self) -> str:
        """(0028,0004) Photometric Interpretation as stored, e.g. ``"MONOCHROME1"``.

        Pixel values are never inverted by caselib: :meth:`volume` gives
        modality values.  For MONOCHROME1 (low values white, PS3.3 C.7.6.3.1.2)
        :attr:`inverted_grayscale` is ``True`` and display code passes
        ``invert=True`` to the window functions, as :meth:`display_frame` does.
        """
        return self.first.photometric

    @property
    def inverted_grayscale(self) -> bool:
        """``True`` for MONOCHROME1: the display must map low values to white."""
        return self.photometric == "MONOCHROME1"

    @property
    def is_color(self) -> bool:
        """``True`` for RGB, YBR_* and PALETTE COLOR images (:meth:`volume` gives RGB)."""
        return self.photometric not in ("MONOCHROME1", "MONOCHROME2", "")

    @property
    def has_pixel_data(self) -> bool:
        """``False`` for series of SR documents, RT plans, waveforms and the like."""
        return bool(self.frames)

    @property
    def pixel_spacing(self) -> tuple[float, float] | None:
        """(row spacing, column spacing) in mm, from (0028,0030) Pixel Spacing.

        Projection images without it use (0018,1164) Imager Pixel Spacing
        (measured at the detector, so magnified); ``None`` when neither is present.
        """
        spacing = self.frames[0].pixel_spacing if self.frames else None
        return (spacing[0], spacing[1]) if spacing else None

    @property
    def slice_thickness(self) -> float | None:
        """(0018,0050) Slice Thickness in mm (not the spacing; see :attr:`geometry`)."""
        return self.frames[0].slice_thickness if self.frames else None

    @property
    def orientation(self) -> str | None:
        """The plane: ``"axial"``, ``"sagittal"``, ``"coronal"``, ``"oblique"`` (or ``None``)."""
        return self.geometry.orientation

    @property
    def direction_cosines(self) -> np.ndarray | None:
        """3x3 array: row direction, column direction, slice normal (LPS), or ``None``."""
        return self.geometry.direction_cosines

    @property
    def warnings(self) -> tuple[str, ...]:
        """Same as ``geometry.warnings``."""
        return self.geometry.warnings

    @cached_property
    def windows(self) -> list[Window]:
        """The stored VOI windows ((0028,1050) Window Center / (0028,1051) Window Width).

        Invalid stored pairs (e.g. width 0) are left out.
        """
        from caselib.imaging import Window, stored_windows

        inst = self.first
        centers, widths = inst.window_centers, inst.window_widths
        if not centers or not widths:
            return []
        function = inst.voi_lut_function or "LINEAR"
        explanations = list(inst.window_explanations)
        n = min(len(centers), len(widths))
        explanations = (explanations + [""] * n)[:n]
        try:
            return stored_windows(list(centers[:n]), list(widths[:n]), explanations,
                                  function=function)
        except ValueError:
            result = []
            for c, w, e in zip(centers, widths, explanations, strict=False):
                try:
                    result.append(Window(c, w, function, e))
                except (ValueError, TypeError):
                    continue
            return result

    @property
    def affine(self) -> np.ndarray:
        """4x4 matrix mapping ``(column, row, slice, 1)`` indices to LPS mm.

        ``series.affine @ [i, j, k, 1]`` is the patient position of
        ``series.volume()[k, j, i]``.  Built from the first frame's position,
        the direction cosines, the pixel spacing and the mean step between
        slices (which includes any gantry-tilt shear); exact only when the
        spacing is uniform (see ``geometry.warnings``).

        Raises
        ------
        caselib.errors.GeometryError
            A needed attribute is missing (named with its tag), or the frames
            do not form one volume.
        """
        if self.geometry.affine is None:
            raise GeometryError(self.geometry.affine_problem or "no affine")
        return self.geometry.affine.copy()

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape :meth:`volume` returns."""
        base: tuple[int, ...] = (len(self.frames), self.rows, self.columns)
        return base + (3,) if self.is_color else base

    # ------------------------------------------------------------------ pixels

    def volume(self, *, dtype: Any = np.float32, workers: int | None = None) -> np.ndarray:
        """All frames as one array, in the order of :attr:`frames`.

        Grayscale series give modality values (HU for CT): each frame's stored
        values times its own (0028,1053) Rescale Slope plus its (0028,1052)
        Rescale Intercept (or the (0028,3000) Modality LUT Sequence), as
        ``float32`` by default.  The result is bit-identical to computing in
        float64 and rounding once to float32 (exact for CT, whose values are
        integers).  MONOCHROME1 values are *not* inverted (see
        :attr:`inverted_grayscale`).  Colour series give RGB values (YBR
        converted, palettes applied) in their stored integer type, shape
        ``(frames, rows, columns, 3)``.

        Parameters
        ----------
        dtype : numpy dtype, optional
            ``float32`` (default) or ``float64`` for grayscale series.
        workers : int, optional
            Threads used to read and decode; default up to 4.

        Raises
        ------
        caselib.errors.PixelDataError
            No pixel data, or it cannot be decoded (the message names the file
            and the transfer syntax).
        caselib.errors.GeometryError
            The frames do not all have the same size.
        """
        from caselib.dicom.pixels import assemble_volume

        return assemble_volume(self, dtype=dtype, workers=workers)

    def frame(self, index: int, *, dtype: Any = np.float32) -> np.ndarray:
        """One frame (``index`` in the order of :attr:`frames`), as :meth:`volume` gives it."""
        from caselib.dicom.pixels import read_frame

        n = len(self.frames)
        if not -n <= index < n:
            raise IndexError(f"frame index {index} out of range for a series of {n} frames")
        return read_frame(self.frames[index], dtype=dtype)

    def display_frame(self, index: int, window: Window | None = None) -> np.ndarray:
        """One frame ready to show: ``uint8``, white = bright, MONOCHROME1 handled.

        Grayscale frames are windowed with `window`, else the first stored
        window, else a window spanning the 1st-99th percentile; MONOCHROME1
        frames are inverted so that bone is bright.  Colour frames are
        returned as 8-bit RGB.

        Examples
        --------
        >>> from caselib.data import fetch                   # doctest: +SKIP
        >>> cr = read(fetch("pydicom-data/RG1_UNCI.dcm")).only_series()  # doctest: +SKIP
        >>> cr.photometric, cr.display_frame(0).dtype        # doctest: +SKIP
        ('MONOCHROME1', dtype('uint8'))
        """
        from caselib.dicom.pixels import render_display

        return render_display(self, index, window)

    def __repr__(self) -> str:
        return (f"Series({self.uid!r}, modality={self.modality!r}, "
                f"frames={len(self.frames)}, description={self.description!r})")


# --------------------------------------------------------------------------- study, patient


class Study:
    """One (0020,000D) Study Instance UID and its series.

    Attributes
    ----------
    uid, date, time, description, study_id, accession_number : str
    patient : Patient
    series : list of Series
        By (0020,0011) Series Number.
    """

    def __init__(self, uid: str, patient: Patient, first: Instance) -> None:
        self.uid = uid
        self.patient = patient
        self.date = first.study_date
        self.time = first.study_time
        self.description = first.study_description
        self.study_id = first.study_id
        self.accession_number = first.accession_number
        self.series: list[Series] = []

    @property
    def study_instance_uid(self) -> str:
        """Same as :attr:`uid`."""
        return self.uid

    def __repr__(self) -> str:
        return f"Study({self.uid!r}, date={self.date!r}, series={len(self.series)})"


class Patient:
    """One (0010,0020) Patient ID and the patient's studies.

    Attributes
    ----------
    patient_id, name, birth_date, sex : str
    studies : list of Study
        By date.
    """

    def __init__(self, patient_id: str, first: Instance) -> None:
        self.patient_id = patient_id
        self.name = first.patient_name
        self.birth_date = first.patient_birth_date
        self.sex = first.patient_sex
        self.studies: list[Study] = []

    def __repr__(self) -> str:
        return f"Patient({self.patient_id!r}, studies={len(self.studies)})"


# --------------------------------------------------------------------------- collection


class DicomCollection:
    """What :func:`caselib.dicom.read` found: patients, studies, series, skipped files.

    Attributes
    ----------
    patients, studies, series : list
        The hierarchy, and flat lists of its levels.
    instances : list of Instance
    errors : list of SkippedFile
        ``(source, reason)`` for every file or zip member that was not used.
    source : str
        What was read.

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> from caselib.dicom import read
    >>> collection = read(get_testdata_file("CT_small.dcm"))
    >>> len(collection.series), collection.errors
    (1, [])
    >>> collection.only_series().modality
    'CT'
    """

    def __init__(
        self,
        instances: Sequence[Instance],
        errors: Sequence[SkippedFile] = (),
        source: str = "",
    ) -> None:
        self.source = source
        self.errors: list[SkippedFile] = list(errors)
        unique: list[Instance] = []
        by_uid: dict[str, Instance] = {}
        for inst in instances:
            uid = inst.sop_instance_uid
            if uid and uid in by_uid:
                self.errors.append(SkippedFile(
                    inst.source,
                    f"duplicate: same (0008,0018) SOP Instance UID {uid} as {by_uid[uid].source}",
                ))
                continue
            if uid:
                by_uid[uid] = inst
            unique.append(inst)
        self.instances = unique
        self._build()

    def _build(self) -> None:
        patients: dict[str, Patient] = {}
        studies: dict[str, Study] = {}
        grouped: dict[tuple[str, str], list[Instance]] = {}
        for inst in self.instances:
            study_key = inst.study_instance_uid or f"(no Study Instance UID) {inst.source}"
            series_key = inst.series_instance_uid or f"(no Series Instance UID) {inst.source}"
            if study_key not in studies:
                patient = patients.get(inst.patient_id)
                if patient is None:
                    patient = patients[inst.patient_id] = Patient(inst.patient_id, inst)
                study = studies[study_key] = Study(inst.study_instance_uid, patient, inst)
                patient.studies.append(study)
            grouped.setdefault((study_key, series_key), []).append(inst)
        for (study_key, _), members in grouped.items():
            study = studies[study_key]
            study.series.append(Series(members[0].series_instance_uid, study, members))
        for study in studies.values():
            study.series.sort(key=lambda s: (s.series_number is None, s.series_number or 0,
                                             s.modality, s.uid))
        for patient in patients.values():
            patient.studies.sort(key=lambda s: (s.date, s.time, s.uid))
        self.patients: list[Patient] = sorted(patients.values(), key=lambda p: p.patient_id)
        self.studies: list[Study] = [s for p in self.patients for s in p.studies]
        self.series: list[Series] = [s for st in self.studies for s in st.series]

    @property
    def skipped(self) -> list[SkippedFile]:
        """Same as :attr:`errors`."""
        return self.errors

    def __len__(self) -> int:
        return len(self.series)

    def __iter__(self) -> Iterator[Series]:
        return iter(self.series)

    def series_by_uid(self, uid: str) -> Series:
        """The series with (0020,000E) Series Instance UID `uid`.

        Raises
        ------
        KeyError
            With the UIDs that are there.
        """
        for s in self.series:
            if s.uid == uid:
                return s
        known = ", ".join(s.uid for s in self.series) or "none"
        raise KeyError(f"no series with Series Instance UID {uid!r} in {self.source}; "
                       f"found: {known}")

    def find_series(self, *, modality: str | None = None, description: str | None = None
                    ) -> list[Series]:
        """Series whose modality equals `modality` and description contains `description`
        (case-insensitive)."""
        result = self.series
        if modality is not None:
            result = [s for s in result if s.modality == modality.upper()]
        if description is not None:
            result = [s for s in result if description.lower() in s.description.lower()]
        return list(result)

    def only_series(self) -> Series:
        """The one series of the collection.

        Raises
        ------
        caselib.errors.DicomError
            There are none (the message lists skipped files) or several (the
            message lists them and suggests :meth:`series_by_uid`).
        """
        if len(self.series) == 1:
            return self.series[0]
        if not self.series:
            why = "; ".join(f"{e.source}: {e.reason}" for e in self.errors[:3])
            more = f" (and {len(self.errors) - 3} more)" if len(self.errors) > 3 else ""
            raise DicomError(f"{self.source}: expected one series, found none"
                             + (f"; skipped {why}{more}" if why else ""))
        listing = "; ".join(
            f"{s.uid} ({s.modality}, {len(s.frames)} frames, {s.description!r})"
            for s in self.series[:10])
        raise DicomError(
            f"{self.source}: expected one series, found {len(self.series)}: {listing}; "
            "pick one with series_by_uid(uid) or find_series(modality=...)"
        )

    def __repr__(self) -> str:
        return (f"DicomCollection({self.source!r}: {len(self.patients)} patients, "
                f"{len(self.studies)} studies, {len(self.series)} series, "
                f"{len(self.errors)} skipped)")
