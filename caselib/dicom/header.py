"""Read the header of one DICOM object quickly, without its pixel data.

Two paths give the same result, a partial :class:`pydicom.dataset.Dataset`
holding the attributes caselib needs (:data:`HEADER_KEYWORDS`) plus where the
pixel data starts:

* a fast path for the encodings almost every file uses (a preamble with
  ``DICM``, then Explicit or Implicit VR Little Endian, compressed syntaxes
  included): top-level elements are walked with :func:`struct.unpack_from` on
  the bytes already read, sequences are skipped over and kept as raw bytes, and
  pydicom converts the few wanted values lazily;
* pydicom's own reader (:func:`pydicom.dcmread` with ``stop_before_pixels``)
  for everything else: big endian, deflated, files without a preamble or with
  oddities the fast path does not accept.

The tests compare both paths on every file of the project's data sets.
"""
from __future__ import annotations

import io
import os
import struct
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

import pydicom
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError as PydicomInvalidDicomError
from pydicom.tag import BaseTag

from caselib.errors import InvalidDicomError

__all__ = [
    "HEADER_KEYWORDS",
    "PixelLocation",
    "HeaderScan",
    "format_tag",
    "scan_header",
]

#: Top-level attributes kept in the header dataset of an :class:`~caselib.dicom.Instance`.
HEADER_KEYWORDS: tuple[str, ...] = (
    "SpecificCharacterSet", "ImageType", "SOPClassUID", "SOPInstanceUID",
    "StudyDate", "StudyTime", "AccessionNumber", "Modality", "StudyDescription",
    "SeriesDescription", "PatientName", "PatientID", "IssuerOfPatientID", "PatientBirthDate", "PatientSex",
    "BodyPartExamined", "SliceThickness", "SpacingBetweenSlices", "FrameTime",
    "GantryDetectorTilt", "ImagerPixelSpacing", "StudyInstanceUID", "SeriesInstanceUID",
    "StudyID", "SeriesNumber", "AcquisitionNumber", "InstanceNumber",
    "ImagePositionPatient", "ImageOrientationPatient", "FrameOfReferenceUID",
    "SliceLocation", "SamplesPerPixel", "PhotometricInterpretation",
    "PlanarConfiguration", "NumberOfFrames", "FrameIncrementPointer", "Rows", "Columns",
    "PixelSpacing", "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation",
    "WindowCenter", "WindowWidth", "RescaleIntercept", "RescaleSlope", "RescaleType",
    "WindowCenterWidthExplanation", "VOILUTFunction", "ModalityLUTSequence",
    "SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence",
)
_WANTED: frozenset[int] = frozenset(tag_for_keyword(k) for k in HEADER_KEYWORDS)  # type: ignore[misc]

_PIXEL_TAGS = frozenset({0x7FE00010, 0x7FE00008, 0x7FE00009})  # Pixel Data, Float, Double Float
_ITEM, _ITEM_END, _SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF
_LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)
_IMPLICIT_LE = "1.2.840.10008.1.2"
_EXPLICIT_LE = "1.2.840.10008.1.2.1"
_DEFLATED = "1.2.840.10008.1.2.1.99"
_FAST_EXCLUDED = frozenset({"1.2.840.10008.1.2.2", _DEFLATED})  # big endian, deflate

_unpack_tag_len = struct.Struct("<HHL").unpack_from
_unpack_tag_vr_len = struct.Struct("<HH2sH").unpack_from
_unpack_ul = struct.Struct("<L").unpack_from

#: How many bytes are read first; more are read when the header is longer.
HEAD_CHUNK = 64 * 1024
_chunk_hint = [HEAD_CHUNK]


def format_tag(tag: int) -> str:
    """``0x00280030`` -> ``"(0028,0030) Pixel Spacing"``, the form used in messages.

    Examples
    --------
    >>> format_tag(0x00280030)
    '(0028,0030) Pixel Spacing'
    """
    from pydicom.datadict import dictionary_description

    try:
        name = dictionary_description(tag)
    except KeyError:
        name = "private or unknown attribute"
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X}) {name}"


@dataclass(frozen=True, slots=True)
class PixelLocation:
    """Where the pixel data element of a file is and how it is encoded.

    Attributes
    ----------
    tag : int
        (7FE0,0010) Pixel Data, or (7FE0,0008)/(7FE0,0009) float pixel data.
    value_offset : int
        Byte offset of the value in the file (or zip member), after the element
        header (0 for deflated files, whose offsets are not in the file).
    length : int | None
        Value length in bytes; ``None`` when undefined (encapsulated data) or
        unknown (deflated files).
    available : int
        Bytes present in the file from `value_offset` on (less than `length`
        when the file is truncated).
    """

    tag: int
    value_offset: int
    length: int | None
    available: int


@dataclass(slots=True)
class HeaderScan:
    """The result of :func:`scan_header`.

    Attributes
    ----------
    dataset : pydicom.dataset.Dataset
        The header attributes (a subset on the fast path; everything before the
        pixel data on the pydicom path), with ``file_meta`` when the file has one.
    transfer_syntax_uid : str
        (0002,0010) Transfer Syntax UID, or the encoding pydicom inferred when
        the file has no meta information.
    pixels : PixelLocation | None
        ``None`` when the object has no pixel data.
    fast : bool
        ``True`` when the fast path read it.
    elements : dict or None
        The raw elements of `dataset` by tag (fast path), for quick access.
    """

    dataset: Dataset
    transfer_syntax_uid: str
    pixels: PixelLocation | None
    fast: bool
    elements: dict[int, Any] | None = None


class _NeedMore(Exception):
    """The fast path ran past the bytes read so far."""


class _NotFast(Exception):
    """The fast path does not handle this file; pydicom reads it."""


# --------------------------------------------------------------------------- fast path


def _skip_items(buf: bytes, pos: int, end: int, implicit: bool, depth: int) -> int:
    """Skip the items of an undefined-length sequence; return the position after its delimiter."""
    if depth > 32:
        raise _NotFast("sequences nested too deeply")
    while True:
        if pos + 8 > end:
            raise _NeedMore
        group, elem, length = _unpack_tag_len(buf, pos)
        tag = group << 16 | elem
        pos += 8
        if tag == _SEQ_END:
            return pos
        if tag != _ITEM:
            raise _NotFast(f"expected an item tag in a sequence, found {tag:08X}")
        if length == _UNDEFINED:
            pos = _skip_dataset(buf, pos, end, implicit, depth + 1)
        else:
            pos += length


def _skip_dataset(buf: bytes, pos: int, end: int, implicit: bool, depth: int) -> int:
    """Skip an undefined-length item's elements; return the position after its delimiter."""
    while True:
        if pos + 8 > end:
            raise _NeedMore
        if implicit:
            group, elem, length = _unpack_tag_len(buf, pos)
            vr = b""
            pos += 8
        else:
            group, elem, vr, length = _unpack_tag_vr_len(buf, pos)
            if group == 0xFFFE:  # item delimitation has no VR
                length = _unpack_ul(buf, pos + 4)[0]
                pos += 8
            elif vr in _LONG_VRS:
                length = _unpack_ul(buf, pos + 8)[0]
                pos += 12
            elif b"AA" <= vr <= b"ZZ":
                pos += 8
            else:
                raise _NotFast("VR switches encoding inside a sequence")
        tag = group << 16 | elem
        if tag == _ITEM_END:
            return pos
        if length == _UNDEFINED:
            pos = _skip_items(buf, pos, end, implicit or vr == b"UN", depth + 1)
        else:
            pos += length


def _scan_meta(buf: bytes) -> tuple[dict[BaseTag, DataElement | RawDataElement], int]:
    if len(buf) < 132:
        raise _NeedMore
    if buf[128:132] != b"DICM":
        raise _NotFast("no DICM prefix")
    meta: dict[BaseTag, DataElement | RawDataElement] = {}
    pos = 132
    end = len(buf)
    while True:
        if pos + 8 > end:
            raise _NeedMore
        group, elem, vr, length = _unpack_tag_vr_len(buf, pos)
        if group != 0x0002:
            return meta, pos
        hdr = 8
        if vr in _LONG_VRS:
            length = _unpack_ul(buf, pos + 8)[0]
            hdr = 12
        elif not b"AA" <= vr <= b"ZZ":
            raise _NotFast("file meta information is not explicit VR")
        if length == _UNDEFINED or pos + hdr + length > end:
            raise _NeedMore if length != _UNDEFINED else _NotFast("undefined length in meta")
        tag = BaseTag(group << 16 | elem)
        meta[tag] = RawDataElement(
            tag, vr.decode("ascii"), length, buf[pos + hdr:pos + hdr + length],
            pos + hdr, False, True,
        )
        pos += hdr + length


def _scan_fast(buf: bytes, total_size: int, stop_after: int = 0xFFFFFFFF) -> HeaderScan:
    meta, pos = _scan_meta(buf)
    ts_elem = meta.get(BaseTag(0x00020010))
    if ts_elem is None or not ts_elem.value:
        raise _NotFast("no transfer syntax")
    ts = ts_elem.value.decode("ascii", "replace").strip(" \x00")
    if ts in _FAST_EXCLUDED or not ts.startswith("1.2.840.10008.1.2"):
        raise _NotFast(f"transfer syntax {ts}")
    implicit = ts == _IMPLICIT_LE
    end = len(buf)
    found: dict[BaseTag, DataElement | RawDataElement] = {}
    pixels: PixelLocation | None = None
    while pos < end:
        if pos + 8 > end:
            raise _NeedMore
        if implicit:
            group, elem, length = _unpack_tag_len(buf, pos)
            vr = None
            hdr = 8
        else:
            group, elem, vrb, length = _unpack_tag_vr_len(buf, pos)
            if vrb in _LONG_VRS:
                if pos + 12 > end:
                    raise _NeedMore
                length = _unpack_ul(buf, pos + 8)[0]
                hdr = 12
            elif b"AA" <= vrb <= b"ZZ":
                hdr = 8
            else:
                raise _NotFast("invalid VR")
            vr = vrb.decode("ascii")
        tag = group << 16 | elem
        vpos = pos + hdr
        if tag > stop_after:
            break
        if tag in _PIXEL_TAGS:
            size = None if length == _UNDEFINED else length
            pixels = PixelLocation(tag, vpos, size, max(0, total_size - vpos))
            break
        if group == 0xFFFE:
            raise _NotFast("delimiter at top level")
        if length == _UNDEFINED:
            after = _skip_items(buf, vpos, end, implicit or vr == "UN", 0)
            if tag in _WANTED:
                value = buf[vpos:after - 8]  # the items, without the sequence delimiter
                found[BaseTag(tag)] = RawDataElement(
                    BaseTag(tag), vr if vr != "UN" else None, len(value), value, vpos,
                    implicit or vr == "UN", True,
                )
            pos = after
            continue
        if vpos + length > end:
            if end >= total_size:
                raise InvalidDicomError(
                    f"truncated: {format_tag(tag)} declares {length} bytes at byte {vpos} "
                    f"but the file ends at byte {total_size}"
                )
            raise _NeedMore
        if tag in _WANTED:
            found[BaseTag(tag)] = RawDataElement(
                BaseTag(tag), vr, length, buf[vpos:vpos + length], vpos, implicit, True
            )
        pos = vpos + length
    else:
        if end < total_size:
            raise _NeedMore
    return HeaderScan(_header_dataset(found, meta, implicit), ts, pixels, True, found)  # type: ignore[arg-type]


def _header_dataset_by_init(found: dict[BaseTag, Any], meta: dict[BaseTag, Any], implicit: bool) -> Dataset:
    ds = Dataset(found)
    ds.file_meta = FileMetaDataset(meta)
    ds.set_original_encoding(implicit, True, None)
    return ds


# The attributes the constructors above leave on the two datasets, but their element dicts
# (Dataset.__setattr__ looks each attribute name up in the DICOM dictionary: building the
# two datasets that way cost more than reading the header).  Used only if equal (checked below).
_DS_STATE = {implicit: {k: v for k, v in vars(_header_dataset_by_init({}, {}, implicit)).items() if k != "file_meta"}
             for implicit in (False, True)}
_META_STATE = dict(vars(FileMetaDataset()))
_MUTABLE = (dict, list, set)


def _direct(cls: type, state: dict[str, Any], elements: dict[BaseTag, Any]) -> Any:
    obj = object.__new__(cls)
    d = obj.__dict__
    for key, value in state.items():  # in the constructor's order, "_dict" included
        d[key] = elements if key == "_dict" else value.copy() if isinstance(value, _MUTABLE) else value
    return obj


def _header_dataset_direct(found: dict[BaseTag, Any], meta: dict[BaseTag, Any], implicit: bool) -> Dataset:
    ds = _direct(Dataset, _DS_STATE[implicit], found)
    ds.__dict__["file_meta"] = _direct(FileMetaDataset, _META_STATE, meta)  # what Dataset._set_file_meta stores
    return ds


def _same_datasets(a: Any, b: Any) -> bool:
    va, vb = vars(a), vars(b)
    return (type(a) is type(b) and list(va) == list(vb)
            and all(k in ("_dict", "file_meta") or (type(va[k]) is type(vb[k]) and va[k] == vb[k]) for k in va)
            and (("file_meta" not in va) or _same_datasets(va["file_meta"], vb["file_meta"])))


def _pick_header_dataset() -> Callable[[dict[BaseTag, Any], dict[BaseTag, Any], bool], Dataset]:
    tag = BaseTag(0x00100020)
    sample = {tag: RawDataElement(tag, "LO", 2, b"A1", 10, False, True)}
    meta_tag = BaseTag(0x00020010)
    meta = {meta_tag: RawDataElement(meta_tag, "UI", 20, b"1.2.840.10008.1.2.1\0", 140, False, True)}
    if Dataset.__new__ is object.__new__ and all(
            _same_datasets(_header_dataset_direct(dict(sample), dict(meta), implicit),
                           _header_dataset_by_init(dict(sample), dict(meta), implicit))
            for implicit in (False, True)):
        return _header_dataset_direct
    return _header_dataset_by_init  # pragma: no cover - another pydicom release


_header_dataset = _pick_header_dataset()


# --------------------------------------------------------------------------- pydicom path


def _pixel_location_at(fp: BinaryIO, ds: Dataset, total_size: int) -> PixelLocation | None:
    """Parse the element header at the position where ``stop_before_pixels`` stopped."""
    start = fp.tell()
    head = fp.read(12)
    if len(head) < 8:
        return None
    little = ds.original_encoding[1] is not False
    implicit = bool(ds.original_encoding[0])
    endian = "<" if little else ">"
    group, elem = struct.unpack(endian + "HH", head[:4])
    tag = group << 16 | elem
    if tag not in _PIXEL_TAGS:
        return None
    vr = head[4:6]
    if not implicit and not b"AA" <= vr <= b"ZZ":
        implicit = True  # a writer switched to implicit VR; pydicom accepts it, and so do we
    if implicit:
        length = struct.unpack(endian + "L", head[4:8])[0]
        hdr = 8
    else:
        if vr in _LONG_VRS:
            length = struct.unpack(endian + "L", head[8:12])[0]
            hdr = 12
        else:
            length = struct.unpack(endian + "H", head[6:8])[0]
            hdr = 8
    vpos = start + hdr
    size = None if length == _UNDEFINED else length
    return PixelLocation(tag, vpos, size, max(0, total_size - vpos))


def _looks_like_bare_dataset(head: bytes) -> bool:
    """True if a file without preamble starts like a DICOM data set (group 0002 or 0008)."""
    if len(head) < 8:
        return False
    for endian in ("<", ">"):
        group, _elem = struct.unpack(endian + "HH", head[:4])
        if group in (0x0002, 0x0008):
            return True
    return False


def _scan_pydicom(data: bytes | None, opener: Any, total_size: int, label: str) -> HeaderScan:
    """Read with pydicom; `data` is the whole file, or `opener()` gives a binary file."""
    fp: BinaryIO = io.BytesIO(data) if data is not None else opener()
    try:
        head = fp.read(132)
        fp.seek(0)
        has_preamble = len(head) == 132 and head[128:132] == b"DICM"
        if not has_preamble and not _looks_like_bare_dataset(head):
            raise InvalidDicomError(
                f"{label}: not a DICOM file: no 'DICM' prefix at byte 128 and no DICOM "
                "element at the start"
            )
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(fp, stop_before_pixels=True, force=not has_preamble)
        except (PydicomInvalidDicomError, EOFError, ValueError, KeyError, struct.error,
                OverflowError, UnicodeDecodeError, NotImplementedError, TypeError) as exc:
            raise InvalidDicomError(f"{label}: cannot parse the DICOM header: {exc}") from exc
        if not has_preamble and "SOPInstanceUID" not in ds and "Rows" not in ds:
            raise InvalidDicomError(
                f"{label}: not a DICOM file: no 'DICM' prefix and no (0008,0018) SOP "
                "Instance UID or (0028,0010) Rows in what could be parsed"
            )
        ts_uid = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
        if ts_uid:
            ts = str(ts_uid)
        else:
            implicit, little = ds.original_encoding
            ts = (_IMPLICIT_LE if implicit else
                  _EXPLICIT_LE if little is not False else "1.2.840.10008.1.2.2")
        if ts == _DEFLATED:
            # positions refer to the inflated stream: read it all to see if pixels follow
            fp.seek(0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                whole = pydicom.dcmread(fp, force=not has_preamble)
            tag = next((t for t in sorted(_PIXEL_TAGS, reverse=True) if t in whole), None)
            pixels = None if tag is None else PixelLocation(tag, 0, None, 0)
        else:
            pixels = _pixel_location_at(fp, ds, total_size)
        return HeaderScan(ds, ts, pixels, False)
    finally:
        if data is None:
            fp.close()


# --------------------------------------------------------------------------- entry point


def scan_header(
    *,
    path: Any = None,
    data: bytes | None = None,
    label: str = "",
    total_size: int | None = None,
    read_rest: Callable[[], bytes] | None = None,
    fast: bool = True,
    stop_after: int | None = None,
) -> HeaderScan:
    """Read a DICOM header from a file path or from bytes.

    Parameters
    ----------
    path : path-like, optional
        A file on disk; only its first :data:`HEAD_CHUNK` bytes are read unless
        the header is longer.
    data : bytes, optional
        The content of a file (e.g. a zip member), instead of `path`: all of
        it, or its beginning when `total_size` and `read_rest` are given.
    label : str
        How the source is named in error messages.
    total_size : int, optional
        The full size when `data` is only the beginning.
    read_rest : callable, optional
        Returns the whole content when the beginning was not enough.
    fast : bool
        ``False`` skips the fast path and reads with pydicom (the tests use it
        to check that both paths agree).
    stop_after : int, optional
        On the fast path, stop reading at the first top-level tag above this
        one (``0x0010FFFF``: only what precedes and includes the Patient
        group); the scan then reports no pixel location.  The pydicom path
        reads the whole header whatever this says.

    Returns
    -------
    HeaderScan

    Raises
    ------
    caselib.errors.InvalidDicomError
        The file is not DICOM or its header is truncated or unparsable; the
        message starts with `label`.

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> scan = scan_header(path=get_testdata_file("CT_small.dcm"), label="CT_small.dcm")
    >>> scan.dataset.Modality, scan.fast, scan.pixels.length
    ('CT', True, 32768)
    """
    if (path is None) == (data is None):
        raise TypeError("scan_header() needs exactly one of path= or data=")
    if data is not None:
        total = len(data) if total_size is None else total_size
        buf = data
    else:
        total = os.stat(path).st_size
        with open(path, "rb") as f:
            # the Patient group comes early: a short first read is enough for a stop_after scan
            buf = f.read(_chunk_hint[0] if stop_after is None else min(_chunk_hint[0], 16384))

    def whole() -> bytes:
        if path is not None:
            with open(path, "rb") as f:
                return f.read()
        if len(buf) >= total or read_rest is None:
            return buf
        return read_rest()

    try:
        while fast:
            try:
                scan = _scan_fast(buf, total) if stop_after is None else _scan_fast(buf, total, stop_after)
                if path is not None and scan.pixels is not None:
                    # files of one series have headers of about the same size
                    _chunk_hint[0] = max(HEAD_CHUNK, min(scan.pixels.value_offset + 4096, 1 << 22))
                return scan
            except (_NeedMore, struct.error):
                if len(buf) >= total:
                    raise _NotFast("header ends early") from None
                if path is not None:
                    with open(path, "rb") as f:
                        buf = f.read(max(len(buf) * 4, HEAD_CHUNK))
                elif read_rest is not None:
                    buf = read_rest()
                    total = len(buf)
                else:
                    raise _NotFast("header ends early") from None
    except InvalidDicomError as exc:
        raise InvalidDicomError(f"{label}: {exc}") from None
    except (_NotFast, UnicodeDecodeError):
        pass
    if data is not None:
        return _scan_pydicom(whole(), None, total, label)
    return _scan_pydicom(None, lambda: open(path, "rb"), total, label)
