"""Checks an object must pass before it is de-identified and published.

Each check raises :class:`InvalidObjectError` with what was expected, what was
found and the DICOM tag, so the quarantine record explains itself.
"""
from __future__ import annotations

import io

from pydicom import Dataset, dcmread
from pydicom.dataelem import DataElement, RawDataElement, convert_raw_data_element
from pydicom.errors import InvalidDicomError as PydicomInvalidDicomError
from pydicom.multival import MultiValue
from pydicom.uid import UID
from pydicom.valuerep import IS, DSdecimal, DSfloat

from caselib.deid.engine import _dict_vr
from caselib.dicom.fastread import NotFast, raw_sequence_vr, read_part10, read_sequence_element, shared_tag
from caselib.errors import InvalidDicomError

__all__ = ["MAX_PIXEL_BYTES", "InvalidObjectError", "NotAnObjectError", "parse_object", "validate_object"]

MAX_PIXEL_BYTES = 2 * 1024**3  # the largest pixel data caselib accepts in one object
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"


class InvalidObjectError(InvalidDicomError):
    """An input object is not valid DICOM for teaching use; it goes to quarantine."""


class NotAnObjectError(InvalidDicomError):
    """An input that is not an object to publish (e.g. a DICOMDIR index); reported, not quarantined."""


_REQUIRED = (
    (0x00080016, "SOP Class UID"),
    (0x00080018, "SOP Instance UID"),
    (0x0020000D, "Study Instance UID"),
    (0x0020000E, "Series Instance UID"),
)
_PIXEL_DESCRIPTION = (
    (0x00280010, "Rows"),
    (0x00280011, "Columns"),
    (0x00280100, "Bits Allocated"),
    (0x00280002, "Samples per Pixel"),
    (0x00280004, "Photometric Interpretation"),
)


def _tag(t: int) -> str:
    return f"({t >> 16:04X},{t & 0xFFFF:04X})"


def parse_object(data: bytes, label: str) -> Dataset:
    """Parse Part 10 bytes (or a bare dataset with a recognisable start) into a Dataset.

    The dataset is the one ``pydicom.dcmread(io.BytesIO(data))`` returns: most files are read by
    :func:`caselib.dicom.fastread.read_part10`, which builds that same dataset faster; the others
    (big endian, deflated, no preamble, damaged...) by pydicom itself.  Sequences pydicom keeps as
    raw bytes are then read in place, as ``ds[tag]`` reads them (validation looks inside them).

    Raises
    ------
    InvalidObjectError
        Not DICOM, truncated, or unparseable.
    """
    if len(data) < 132 and not data[:8].strip(b"\0"):
        raise InvalidObjectError(f"{label}: expected a DICOM file, found {len(data)} bytes of padding")
    ds: Dataset
    try:
        ds = read_part10(data)
    except NotFast:
        ds = _parse_with_pydicom(data, label)
    _check_elements(ds, label, "")
    return ds


def _parse_with_pydicom(data: bytes, label: str) -> Dataset:
    try:
        ds = dcmread(io.BytesIO(data), force=False)
    except PydicomInvalidDicomError:
        # no 'DICM' preamble: accept a bare dataset only if it parses to known elements
        try:
            ds = dcmread(io.BytesIO(data), force=True)
        except Exception as exc:
            raise InvalidObjectError(f"{label}: expected a DICOM file, found unparseable bytes ({exc})") from exc
        if 0x00080016 not in ds or 0x00080018 not in ds:
            raise InvalidObjectError(
                f"{label}: expected a DICOM file (a 128-byte preamble and 'DICM'), found "
                f"{len(data)} bytes that are not DICOM")
    except Exception as exc:  # truncated or malformed files raise many kinds
        raise InvalidObjectError(f"{label}: expected a complete DICOM file, found a broken one ({type(exc).__name__}: {exc})") from exc
    return ds


_BULK_VRS = frozenset({"OB", "OW", "OF", "OD", "OL", "OV", "UN"})
# Values already decoded without error, by everything their decoding depends on: tag, VR,
# bytes, character set and encoding.  The slices of a series repeat most of their header
# (sequences included), so each distinct value is decoded once per process.
_CHECKED: set[tuple[object, ...]] = set()
_CHECKED_LIMIT = 200_000
_CACHEABLE_BYTES = 8192  # longer values are checked every time (they rarely repeat)


def _check_key(tag: int, elem: RawDataElement, charset: object) -> tuple[object, ...] | None:
    value = elem.value
    if value is None or len(value) > _CACHEABLE_BYTES:
        return None
    vr = elem.VR
    if (vr is None or vr == "UN" or " or " in vr) and not _decided_by_tag(tag):
        return None
    return (tag, vr, elem.is_implicit_VR, elem.is_little_endian, elem.length, value,
            charset if not isinstance(charset, list) else tuple(charset))


_DECIDED_BY_TAG: dict[int, bool] = {}


def _decided_by_tag(tag: int) -> bool:
    """True if the dictionary gives `tag` one VR: an element without its own VR (implicit, or UN)
    then decodes the same way whatever else the dataset holds."""
    decided = _DECIDED_BY_TAG.get(tag)
    if decided is None:
        vr = _dict_vr(tag)  # "UN" when the dictionary does not know the tag
        decided = vr != "UN" and " or " not in vr
        if len(_DECIDED_BY_TAG) >= 65536:
            _DECIDED_BY_TAG.clear()
        _DECIDED_BY_TAG[int(tag)] = decided
    return decided


_PIXEL_DATA = frozenset({0x7FE00010})  # set membership: no BaseTag.__eq__ per element
_LENGTH_UNDEFINED = 0xFFFFFFFF


def _check_elements(ds: Dataset, label: str, path: str | tuple[object, int, int]) -> None:
    """Decode every element into a throw-away copy, so malformed values surface here.

    The dataset keeps its raw elements (decoding them in place would make every later
    step slower and defeat the fast writer), except sequences kept as raw bytes: those
    are read in place (:func:`_read_sequence_in_place`), as de-identification would read
    them next.  Bulk binary data is not decoded.  A value
    seen before with the same tag, VR, encoding and character set decoded fine then,
    and decodes the same way now: it is not decoded again (a sequence kept as raw bytes
    included, whose items are then known to be fine as well).  `path` locates `ds` in the
    messages: ``""`` at the top level, ``(parent path, sequence tag, item index)`` in a
    sequence item (made into text only for a message).
    """
    # ds._character_set, without its KeyError when the dataset has no (0008,0005) (most items)
    charset = ds._character_set if 0x00080005 in ds._dict else ds._parent_encoding
    charset_key = tuple(charset) if isinstance(charset, list) else charset
    checked = _CHECKED
    for tag, elem in ds._dict.items():
        key = None
        sequence = False
        if isinstance(elem, RawDataElement):
            vr, length, value = elem.VR, elem.length, elem.value
            if (value is not None and len(value) < length and length != _LENGTH_UNDEFINED
                    and tag not in _PIXEL_DATA):
                raise InvalidObjectError(f"{label}: expected a complete DICOM file, found one truncated inside "
                                         f"{_where(path, tag)} (declares {length} bytes, "
                                         f"{len(value)} present)")
            if tag in _PIXEL_DATA or (vr in _BULK_VRS and (length or 0) > 1024):
                continue
            sequence = vr == "SQ" or (vr is None and raw_sequence_vr(elem) is not None)
            if value is not None and len(value) <= _CACHEABLE_BYTES:
                # an element without its own VR (implicit, UN, ambiguous) only if the tag decides it
                if (vr is not None and vr != "UN" and " or " not in vr) or _decided_by_tag(tag):
                    key = (tag, vr, elem.is_implicit_VR, elem.is_little_endian, length, value, charset_key)
                if key is not None and key in checked:
                    if sequence:  # its items are known to be fine; read it in place all the same
                        _read_sequence_in_place(ds, tag)
                    continue
        try:
            if sequence:
                elem = _read_sequence_in_place(ds, tag)
            elif isinstance(elem, RawDataElement):
                elem = convert_raw_data_element(elem, encoding=charset, ds=ds)
            value = elem.value
        except Exception as exc:
            raise InvalidObjectError(f"{label}: malformed element {_where(path, tag)} "
                                     f"({type(exc).__name__}: {exc})") from exc
        vr = elem.VR
        if (vr == "DS" or vr == "IS") and value not in (None, ""):
            for v in (value if isinstance(value, MultiValue) else [value]):
                if v not in (None, "") and not isinstance(v, (DSfloat, DSdecimal, IS)):
                    raise InvalidObjectError(f"{label}: malformed element {_where(path, tag)} {elem.name}: "
                                             f"expected a {vr} number, found {v!r}")
        if vr == "SQ":
            for i, item in enumerate(value or ()):
                _check_elements(item, label, (path, tag, i))
        if key is not None:
            if len(checked) >= _CHECKED_LIMIT:
                checked.clear()
            checked.add(key)


def _read_sequence_in_place(ds: Dataset, tag: object) -> DataElement:
    """``ds[tag]`` for a sequence pydicom kept as raw bytes: the same element, read by
    :func:`caselib.dicom.fastread.read_sequence_element` when it can (several times faster),
    else by pydicom."""
    try:
        return read_sequence_element(ds, tag)  # type: ignore[arg-type]
    except NotFast:
        return ds[tag]  # type: ignore[index]


def _where(path: str | tuple[object, int, int], tag: int) -> str:
    """``(0008,1140)[0].(0008,1155)``: where an element is, from the top-level dataset."""
    if isinstance(path, tuple):
        parent, seq_tag, index = path
        path = f"{_where(parent, seq_tag)}[{index}]."  # type: ignore[arg-type]
    return f"{path}({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _peek(ds: Dataset, tag: int, charset: list[object] | None = None) -> object:
    """The value of ``tag`` (None when absent), decoded without replacing the raw element.

    ``ds[tag]`` would store the decoded element in ``ds``; de-identification copies raw
    elements byte for byte and the fast writer relies on that, so validation leaves the
    dataset as it was read.  `charset`, an empty list, keeps ``ds._character_set`` once
    looked up for the next calls on the same dataset.
    """
    elem = ds._dict.get(shared_tag(tag))  # type: ignore[call-overload]
    if elem is None:
        return None
    if not isinstance(elem, RawDataElement):
        return elem.value
    if charset is None:
        charset = []
    if not charset:
        charset.append(ds._character_set)
    encoding = charset[0]
    key = None
    if elem.value is not None and len(elem.value) <= 64 and _check_key(tag, elem, None) is not None:
        key = (tag, elem.VR, elem.is_implicit_VR, elem.is_little_endian, elem.value,
               tuple(encoding) if isinstance(encoding, list) else encoding)
        if key in _PEEKED:
            return _PEEKED[key]
    value = convert_raw_data_element(elem, encoding=encoding, ds=ds).value  # type: ignore[arg-type]
    if key is not None:
        if len(_PEEKED) >= 4096:
            _PEEKED.clear()
        _PEEKED[key] = value
    return value


_PEEKED: dict[tuple[object, ...], object] = {}  # the attributes validation reads repeat along a series


def _pixel_bytes(ds: Dataset) -> int:
    """Bytes of (7FE0,0010) Pixel Data as read, without decoding the element."""
    elem = ds._dict.get(shared_tag(0x7FE00010))  # type: ignore[call-overload]
    if isinstance(elem, RawDataElement):
        return len(elem.value) if elem.value is not None else elem.length
    return len(ds.PixelData)


def validate_object(ds: Dataset, label: str, *, max_pixel_bytes: int = MAX_PIXEL_BYTES) -> None:
    """Raise if ``ds`` lacks what publication needs or describes absurd pixel data."""
    charset: list[object] = []  # ds._character_set, once looked up
    sop_class = str(_peek(ds, 0x00080016, charset) or "")
    meta = ds.__dict__.get("file_meta")
    meta_charset: list[object] = []
    meta_class = str(_peek(meta, 0x00020002, meta_charset) or "") if meta is not None else ""
    if MEDIA_STORAGE_DIRECTORY in (sop_class, meta_class):
        raise NotAnObjectError(f"{label}: a DICOMDIR index, not an object; ingest its folder or the DICOMDIR itself")
    for tag, name in _REQUIRED:
        if shared_tag(tag) not in ds._dict or not str(_peek(ds, tag, charset) or "").strip():
            raise InvalidObjectError(f"{label}: expected {_tag(tag)} {name}, found none")
    name = UID(sop_class).name if sop_class else ""
    has_pixels = any(shared_tag(t) in ds._dict for t in (0x7FE00010, 0x7FE00008, 0x7FE00009))
    if "Image Storage" in name and not has_pixels:
        raise InvalidObjectError(f"{label}: expected (7FE0,0010) Pixel Data for {name}, found none")
    if not has_pixels:
        return
    values = {}
    for tag, desc in _PIXEL_DESCRIPTION:
        value = _peek(ds, tag, charset)
        if value in (None, ""):
            raise InvalidObjectError(f"{label}: expected {_tag(tag)} {desc} with the pixel data, found none")
        values[tag] = value
    rows, cols = int(values[0x00280010]), int(values[0x00280011])  # type: ignore[call-overload]
    bits, spp = int(values[0x00280100]), int(values[0x00280002])  # type: ignore[call-overload]
    n_frames = _peek(ds, 0x00280008, charset)
    try:
        frames = int(n_frames or 1)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise InvalidObjectError(f"{label}: expected (0028,0008) Number of Frames to be an integer, "
                                 f"found {n_frames!r}") from None
    if rows < 1 or cols < 1 or frames < 1:
        raise InvalidObjectError(f"{label}: expected positive dimensions, found (0028,0010) Rows={rows}, "
                                 f"(0028,0011) Columns={cols}, (0028,0008) Number of Frames={frames}")
    if bits not in (1, 8, 16, 32, 64) or spp not in (1, 3, 4):
        raise InvalidObjectError(f"{label}: expected (0028,0100) Bits Allocated in 1/8/16/32/64 and (0028,0002) "
                                 f"Samples per Pixel 1/3/4, found {bits} and {spp}")
    expected = rows * cols * frames * spp * bits // 8 if bits >= 8 else (rows * cols * frames * spp + 7) // 8
    if expected > max_pixel_bytes:
        raise InvalidObjectError(
            f"{label}: {rows}x{cols}x{frames} frames x {spp} samples x {bits} bits = {expected} bytes of pixels, "
            f"more than the limit of {max_pixel_bytes} bytes (absurd dimensions?)")
    if str(values[0x00280004]).strip() == "YBR_FULL_422" and spp == 3:
        expected = rows * cols * frames * 2 * bits // 8  # PS3.3 C.7.6.3.1.2: two samples per pixel
    ts = _peek(meta, 0x00020010, meta_charset) if meta is not None else None
    if shared_tag(0x7FE00010) in ds._dict and not (ts is not None and UID(str(ts)).is_compressed):
        found = _pixel_bytes(ds)
        if found < expected:
            raise InvalidObjectError(
                f"{label}: (7FE0,0010) Pixel Data holds {found} bytes, expected {expected} for "
                f"{rows}x{cols}x{frames} frames x {spp} samples x {bits} bits (truncated?)")
