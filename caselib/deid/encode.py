"""Fast DICOM Part 10 encoding of de-identified datasets (pydicom's format, fewer steps).

A de-identified dataset is mostly made of the original's raw elements, already
encoded in the target transfer syntax.  :func:`encode_dataset` writes them by
concatenating their bytes and only hands the elements caselib created (scrubbed
text, new sequences) to pydicom's element writer.  The result is byte-for-byte what
``pydicom.dcmwrite(..., enforce_file_format=True)`` writes (the tests compare the
two on every file of the test corpus); whenever the fast path does not apply (big
endian, deflated, a change of encoding or character set, deferred values, no File
Meta) it falls back to pydicom.

Examples
--------
>>> import io, pydicom
>>> from pydicom.dataset import Dataset, FileMetaDataset
>>> ds = Dataset(); ds.PatientName = "Doe^Jane"; ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
>>> ds.SOPInstanceUID = "1.2.3.4"; ds.file_meta = FileMetaDataset()
>>> ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.1"
>>> reference = io.BytesIO(); ds.save_as(reference, enforce_file_format=True)
>>> ds = pydicom.dcmread(io.BytesIO(reference.getvalue()))
>>> encode_dataset(ds) == reference.getvalue()
True
"""
from __future__ import annotations

import io
import struct
from typing import Any

from pydicom.charset import default_encoding
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element
from pydicom.multival import MultiValue

__all__ = ["encode_dataset"]

_IMPLICIT_LE = "1.2.840.10008.1.2"
_BIG_ENDIAN = "1.2.840.10008.1.2.2"
_DEFLATED = ("1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.8.1")
_LONG_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UC", "UN", "UR", "UT"})
_ITEM = b"\xfe\xff\x00\xe0"
_ITEM_END = b"\xfe\xff\x0d\xe0\x00\x00\x00\x00"
_SEQ_END = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
_pack_tag = struct.Struct("<HH").pack
_pack_ul = struct.Struct("<L").pack
_pack_us = struct.Struct("<H").pack


class _Fallback(Exception):
    """The fast path does not apply; pydicom writes the dataset."""


def _ascii(elem: Any) -> str:
    value = elem.value
    if isinstance(value, bytes):
        return value.decode("ascii", "replace").strip(" \x00")
    return str(value).strip(" \x00")


_HEADERS: dict[tuple[int, str, int, bool], bytes] = {}  # the headers of a series repeat


def _header(tag: int, vr: str, length: int, implicit: bool) -> bytes:
    key = (tag, vr, length, implicit)
    head = _HEADERS.get(key)
    if head is None:
        head = _new_header(tag, vr, length, implicit)
        if len(_HEADERS) >= 65536:
            _HEADERS.clear()
        _HEADERS[key] = head
    return head


def _new_header(tag: int, vr: str, length: int, implicit: bool) -> bytes:
    head = _pack_tag(tag >> 16, tag & 0xFFFF)
    if implicit:
        return head + _pack_ul(length)
    if vr in _LONG_VRS:
        return head + vr.encode("ascii") + b"\x00\x00" + _pack_ul(length)
    if length > 0xFFFF:
        raise _Fallback("value too long for a 2-byte length")
    return head + vr.encode("ascii") + _pack_us(length)


def _encode(ds: Dataset, implicit: bool, parent: Any, out: list[bytes]) -> None:
    # the same conditions under which pydicom's write_dataset re-encodes every element
    if ds.original_encoding != (implicit, True) or ds.original_character_set != ds._character_set:
        raise _Fallback("dataset encoding or character set changed")
    charset = ds._dict.get(0x00080005)  # type: ignore[call-overload]
    encodings = ds.SpecificCharacterSet if charset is not None else parent
    for tag in sorted(ds._dict, key=int):
        if tag & 0xFFFF == 0 and tag >> 16 > 6:
            continue
        elem: Any = ds._dict[tag]
        if type(elem) is RawDataElement:
            value = elem.value
            if value is None and elem.length:
                raise _Fallback("deferred value")
            if elem.is_little_endian is False or (elem.is_implicit_VR and not implicit):
                raise _Fallback("raw element in another encoding")
            vr = elem.VR or ""
            if not implicit and not vr:
                raise _Fallback("raw element without VR")
            data = value or b""
            if len(data) & 1 and tag == 0x7FE00010:
                data += b"\x00"  # pydicom pads odd Pixel Data when it writes it
            if elem.length == 0xFFFFFFFF:
                if not implicit and vr not in _LONG_VRS:
                    raise _Fallback("undefined length with a short VR")
                out.append(_header(tag, vr, 0xFFFFFFFF, implicit))
                out.append(data)
                out.append(_SEQ_END)
            else:
                out.append(_header(tag, vr, len(data), implicit))
                out.append(data)
        elif elem.VR == "SQ":
            body: list[bytes] = []
            for item in elem.value or ():
                content: list[bytes] = []
                _encode(item, implicit, encodings, content)
                if item.is_undefined_length_sequence_item:
                    body += [_ITEM, b"\xff\xff\xff\xff", *content, _ITEM_END]
                else:
                    body += [_ITEM, _pack_ul(sum(map(len, content))), *content]
            if elem.is_undefined_length:
                out.append(_header(tag, "SQ", 0xFFFFFFFF, implicit))
                out.extend(body)
                out.append(_SEQ_END)
            else:
                out.append(_header(tag, "SQ", sum(map(len, body)), implicit))
                out.extend(body)
        else:
            if not elem.VR or " or " in elem.VR:
                raise _Fallback("ambiguous VR")
            out.append(_fallback_element(elem, implicit, encodings))


# text VRs whose ASCII values every DICOM character set encodes as ASCII, padded with a space
_ASCII_TEXT_VRS = frozenset({"AE", "CS", "LO", "LT", "SH", "ST", "UC", "UT"})


def _plain_value(elem: Any) -> bytes | None:
    """The encoded value of a decoded element pydicom would write byte for byte the same way,
    or None: ASCII text (one value or several joined by backslashes), OB bytes and
    integers of VR US, SS, UL or SL."""
    value, vr = elem.value, elem.VR
    if vr in _ASCII_TEXT_VRS:
        if type(value) is str:
            text = value
        elif isinstance(value, MultiValue) and all(type(v) is str for v in value):
            text = "\\".join(value)
        else:
            return None
        if not text.isascii():
            return None
        data = text.encode("ascii")
        return data + b" " if len(data) & 1 else data
    if vr == "OB" and type(value) is bytes:
        return value + b"\x00" if len(value) & 1 else value
    fmt = _BINARY_INTS.get(vr)
    if fmt is not None:  # a decoded number, e.g. Pixel Representation (decoded when a sequence is read)
        numbers = [value] if type(value) is int else list(value) if isinstance(value, MultiValue) else None
        if numbers is None or not all(type(v) is int for v in numbers):
            return None
        try:
            return b"".join(struct.pack(fmt, v) for v in numbers)
        except struct.error:  # out of range: pydicom's writer says what is wrong
            return None
    return None


_BINARY_INTS = {"US": "<H", "SS": "<h", "UL": "<L", "SL": "<l"}


def _fallback_element(elem: Any, implicit: bool, encodings: Any) -> bytes:
    data = _plain_value(elem)
    if data is not None and (implicit or elem.VR in _LONG_VRS or len(data) <= 0xFFFF):
        return _header(int(elem.tag), elem.VR, len(data), implicit) + data
    buf = DicomBytesIO()
    buf.is_little_endian = True
    buf.is_implicit_VR = implicit
    write_data_element(buf, elem, encodings)
    return buf.getvalue()


def _encode_meta(meta: Dataset) -> bytes:
    parts: list[bytes] = []
    for tag in sorted(meta._dict):
        if tag == 0x00020000:
            continue
        elem = meta._dict[tag]
        if type(elem) is RawDataElement and elem.VR and elem.value is not None:
            parts.append(_header(tag, elem.VR, len(elem.value), False) + elem.value)
        else:
            parts.append(_fallback_element(elem, False, [default_encoding]))
    length = sum(map(len, parts))
    return b"".join([_pack_tag(2, 0), b"UL", _pack_us(4), _pack_ul(length), *parts])


def encode_dataset(ds: Dataset) -> bytes:
    """Encode ``ds`` as a DICOM Part 10 file, like ``dcmwrite(enforce_file_format=True)``.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        A dataset with File Meta (as returned by the de-identifier).

    Returns
    -------
    bytes
        Preamble, ``DICM``, File Meta and the encoded dataset.
    """
    try:
        return _fast(ds)
    except _Fallback:
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        return buf.getvalue()


def _uid_text(elem: Any) -> str:
    """A UI element's value as text, whether it is still raw bytes or already decoded."""
    value = elem.value
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return str(value or "").rstrip("\x00 ")


def _fast(ds: Dataset) -> bytes:
    meta = ds.__dict__.get("file_meta")
    if meta is None or 0x00020010 not in meta._dict:
        raise _Fallback("no transfer syntax")
    required = (0x00020001, 0x00020002, 0x00020003, 0x00020012)
    if any(tag not in meta._dict for tag in required):
        raise _Fallback("incomplete File Meta")
    syntax = _ascii(meta._dict[0x00020010])
    if syntax == _BIG_ENDIAN or syntax in _DEFLATED:
        raise _Fallback("big endian or deflated")
    implicit = syntax == _IMPLICIT_LE
    if ds.original_encoding != (implicit, True):
        raise _Fallback("encoding changes")
    data: Any = ds._dict
    for ds_tag, meta_tag in ((0x00080016, 0x00020002), (0x00080018, 0x00020003)):
        elem = data.get(ds_tag)
        if elem is not None and _uid_text(elem) != _uid_text(meta._dict[meta_tag]):
            raise _Fallback("File Meta UIDs are not the dataset's")
    preamble = ds.__dict__.get("preamble") or b"\x00" * 128
    if len(preamble) != 128:
        raise _Fallback("bad preamble")
    if 0x7FE00010 in data and type(data[0x7FE00010]) is not RawDataElement:
        raise _Fallback("pixel data element (pydicom adjusts its length flag)")
    parts = [preamble, b"DICM", _encode_meta(meta)]
    _encode(ds, implicit, [default_encoding], parts)
    return b"".join(parts)
