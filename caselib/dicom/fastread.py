"""Read a whole Part 10 file from bytes into the dataset :func:`pydicom.dcmread` builds, faster.

:func:`read_part10` walks the elements with :func:`struct.unpack_from` on the
bytes in memory instead of pydicom's file-like reads, and reproduces every step
of pydicom 3.0's ``read_partial`` (``pydicom/filereader.py``), so the
:class:`pydicom.dataset.FileDataset` it returns cannot be told apart from
``pydicom.dcmread(io.BytesIO(data), force=False)``'s:

* the same preamble, file meta and :class:`~pydicom.dataelem.RawDataElement`
  for every element (tag, VR, length, value bytes, value position, encoding
  flags), in file order;
* undefined-length sequences parsed into :class:`~pydicom.sequence.Sequence`
  of datasets with the same character sets, original encodings (an item that
  switches to Implicit VR included) and item positions; defined-length
  sequences kept as raw bytes; encapsulated pixel data kept as raw bytes;
* the elements pydicom decodes while reading decoded the same way: the lowest
  file meta tag, (0002,0000) File Meta Information Group Length, (0002,0010)
  Transfer Syntax UID and the top-level (0008,0005) Specific Character Set.

It reads what almost every file is: a 128-byte preamble and ``DICM``, then
Explicit or Implicit VR Little Endian, the encapsulated (compressed) transfer
syntaxes included (PS3.5 A.4).  Anything else raises :class:`NotFast` before a
dataset is returned -- big endian, deflate, no preamble, command elements,
unknown VRs, a length running past the end, delimiters where pydicom would
recover in its own way, non-default pydicom reading settings -- and the caller
reads the file with pydicom, which gives its own result, warnings and errors.

Two steps are done without going through pydicom's constructors, each checked
on import against the constructor's result (and left to pydicom when they
differ): datasets are created with their attributes set in one go, and the
four elements decoded while reading are copied from a cache of identical raw
elements decoded before (only values that decoded without a warning, whose
decoded type is immutable).

Examples
--------
>>> from pydicom.data import get_testdata_file
>>> data = open(get_testdata_file("CT_small.dcm"), "rb").read()
>>> ds = read_part10(data)
>>> ds.Modality, ds.file_meta.TransferSyntaxUID.name
('CT', 'Explicit VR Little Endian')
"""
from __future__ import annotations

import io
import struct
from collections.abc import MutableSequence
from typing import Any

import pydicom.hooks
import pydicom.uid
from pydicom import config
from pydicom.charset import convert_encodings, default_encoding
from pydicom.config import logger
from pydicom.datadict import _dictionary_vr_fast
from pydicom.dataelem import (
    DataElement,
    RawDataElement,
    convert_raw_data_element,
    empty_value_for_VR,
)
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag
from pydicom.uid import UID
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32, validate_value
from pydicom.valuerep import VR as VR_
from pydicom.values import convert_string

__all__ = ["NotFast", "raw_sequence_vr", "read_part10", "read_sequence_element", "shared_tag"]


class NotFast(Exception):
    """The fast reader does not reproduce pydicom exactly for this file; read it with pydicom."""


_UNDEFINED = 0xFFFFFFFF
_ITEM_GROUP = 0xFFFE
_ITEM, _ITEM_END, _SEQ_END = 0xE000, 0xE00D, 0xE0DD  # element numbers in group FFFE
_CHARSET = 0x00080005
_GROUP_LENGTH = 0x00020000
_TRANSFER_SYNTAX = 0x00020010
_MAX_DEPTH = 64
_NO_STOP = 1 << 62  # no item length: read to a delimiter or to the end

_unpack_hh2sh = struct.Struct("<HH2sH").unpack_from
_unpack_hhl = struct.Struct("<HHL").unpack_from
_unpack_l = struct.Struct("<L").unpack_from
_unpack_hh = struct.Struct("<HH").unpack_from

# VR bytes -> (VR as pydicom decodes it, True if two reserved bytes and a 4-byte length follow)
_VRS: dict[bytes, tuple[str, bool]] = {
    vr.value.encode("ascii"): (vr.value, vr in EXPLICIT_VR_LENGTH_32) for vr in VR_
}

# RawDataElement is a NamedTuple: the tuple is built directly, skipping a Python-level __new__.
# With another pydicom release whose fields differ, every file is left to pydicom.
_tuple_new = tuple.__new__
_USABLE = (RawDataElement._fields == ("tag", "VR", "length", "value", "value_tell", "is_implicit_VR",
                                      "is_little_endian", "is_raw", "is_buffered")
           and RawDataElement._field_defaults == {"is_raw": True, "is_buffered": False})

# One BaseTag per tag value, shared by every dataset read (tags are immutable ints).
_TAGS: dict[int, BaseTag] = {}
_TAGS_LIMIT = 65536


def shared_tag(tag: int) -> BaseTag:
    """The :class:`~pydicom.tag.BaseTag` for `tag` that the datasets read here are keyed by.

    Looking an element up by it finds the key by identity, without a call to
    ``BaseTag.__eq__`` (a Python method), as an ``int`` key needs.

    >>> shared_tag(0x00100010) is shared_tag(0x00100010)
    True
    """
    found = _TAGS.get(tag)
    if found is None:
        if len(_TAGS) >= _TAGS_LIMIT:
            _TAGS.clear()
        found = _TAGS[tag] = BaseTag(tag)
    return found


# Element headers seen before, by their 8 bytes (Implicit VR: tag and length; Explicit VR: tag,
# VR and a 2-byte length, or the reserved bytes before a 4-byte one): what they say, decoded once.
# The slices of a series repeat most of their headers.
_HEADERS: dict[bool, dict[bytes, tuple[BaseTag, int, str | None, int, bool]]] = {True: {}, False: {}}
_HEADERS_LIMIT = 65536


def _header(head: bytes, implicit: bool) -> tuple[BaseTag, int, str | None, int, bool] | None:
    """(tag, tag as int, VR, length, True if a 4-byte length follows) for an element header;
    None for group FFFE (items and delimiters: their length bytes are no VR).  Remembered."""
    if implicit:
        group, elem, length = _unpack_hhl(head)
        vr, long = None, False
    else:
        group, elem, vrb, length = _unpack_hh2sh(head)
        info = _VRS.get(vrb)
        if info is None:
            if group == _ITEM_GROUP:
                return None
            raise NotFast(f"unknown VR {vrb!r}")
        vr, long = info
    if group == _ITEM_GROUP:
        return None
    tag_int = group << 16 | elem
    header = (shared_tag(tag_int), tag_int, vr, length, long)
    cache = _HEADERS[implicit]
    if len(cache) >= _HEADERS_LIMIT:
        cache.clear()
    cache[head] = header
    return header


# --------------------------------------------------------------------------- entry point


def read_part10(data: bytes) -> FileDataset:
    """Return what ``pydicom.dcmread(io.BytesIO(data), force=False)`` returns.

    Parameters
    ----------
    data : bytes
        A whole Part 10 file.

    Returns
    -------
    pydicom.dataset.FileDataset

    Raises
    ------
    NotFast
        The file is not one the fast reader reproduces exactly (see the module
        docstring); read it with pydicom.
    """
    if not _USABLE or config.debugging or config._use_future or not config.settings.infer_sq_for_un_vr:
        raise NotFast("pydicom debugging, non-default reading settings or an unknown pydicom release")
    if type(data) is not bytes:
        data = bytes(data)
    end = len(data)
    if end < 140 or data[128:132] != b"DICM":
        raise NotFast("no 128-byte preamble and 'DICM' prefix")
    try:
        return _read(data, end)
    except NotFast:
        raise
    except Exception as exc:
        raise NotFast(f"{type(exc).__name__}: {exc}") from exc


def _read(data: bytes, end: int) -> FileDataset:
    """The steps of pydicom's ``read_partial``, in its order, on the bytes in memory."""
    preamble = data[:128]
    meta_elements, pos = _read_meta(data, end)
    file_meta = _file_meta(meta_elements, pos)
    if pos + 8 > end:
        raise NotFast("no data set after the file meta information")
    if data[pos:pos + 2] == b"\0\0":
        raise NotFast("command set elements (group 0000)")
    # file_meta.get("TransferSyntaxUID"), as pydicom asks it
    transfer_syntax = _decode(file_meta, _TRANSFER_SYNTAX).value if _TRANSFER_SYNTAX in meta_elements else None
    if transfer_syntax is None:
        raise NotFast("no (0002,0010) Transfer Syntax UID")
    if transfer_syntax == pydicom.uid.ImplicitVRLittleEndian:
        implicit = True
    elif (transfer_syntax == pydicom.uid.ExplicitVRBigEndian
          or transfer_syntax == pydicom.uid.DeflatedExplicitVRLittleEndian
          or transfer_syntax in pydicom.uid.PrivateTransferSyntaxes):
        raise NotFast(f"transfer syntax {transfer_syntax}")
    else:  # pydicom reads every other syntax (the encapsulated ones) as Explicit VR Little Endian
        implicit = False
    if _looks_implicit(data, pos, end, implicit) != implicit:
        raise NotFast("the data set is not encoded as its transfer syntax says")
    elements, _pos, _enc = _read_elements(data, pos, end, implicit, default_encoding, None, 0)
    fileobj = io.BytesIO(data)
    fileobj.seek(0, io.SEEK_END)  # where pydicom leaves it after reading to the end
    # read_dataset's Dataset, then FileDataset(...) sharing its elements
    ds = _file_dataset(fileobj, elements, preamble, file_meta, implicit)
    if _CHARSET in elements and _cached_decoding():
        # read_dataset decodes (0008,0005) into a throw-away element (default decoding: the same
        # value as the one decoded in place below), then ds.set_original_encoding(...,
        # dataset._character_set) decodes it in place
        char_set = _decode(ds, _CHARSET)
        convert_encodings(char_set.value)  # read_dataset's encoding (not kept); may warn, as there
        ds._read_charset = convert_encodings(char_set.value) if char_set else ds._parent_encoding
    else:
        _dataset_encoding(elements, default_encoding)
        ds._read_charset = ds._character_set
    return ds


def _looks_implicit(data: bytes, pos: int, end: int, assumed: bool) -> bool:
    """What pydicom's ``_is_implicit_vr`` finds: the VR bytes of the first element are not two capitals."""
    if pos + 6 > end:
        return assumed
    b0, b1 = data[pos + 4], data[pos + 5]
    return not (0x40 < b0 < 0x5B and 0x40 < b1 < 0x5B)


# --------------------------------------------------------------------------- file meta


def _read_meta(data: bytes, end: int) -> tuple[dict[BaseTag, Any], int]:
    """The group 0002 elements (always Explicit VR Little Endian) and the position after them."""
    pos = 132
    if _looks_implicit(data, pos, end, False):
        raise NotFast("file meta information is not explicit VR")
    meta: dict[BaseTag, Any] = {}
    while True:
        if pos + 8 > end:
            raise NotFast("the file ends in the file meta information")
        group, elem, vrb, length = _unpack_hh2sh(data, pos)
        if group != 0x0002:
            if group == _ITEM_GROUP:
                raise NotFast("a delimiter after the file meta information")
            return meta, pos
        info = _VRS.get(vrb)
        if info is None:
            raise NotFast("unknown VR in the file meta information")
        vr, long = info
        if long:
            if pos + 12 > end:
                raise NotFast("the file ends in the file meta information")
            length = _unpack_l(data, pos + 8)[0]
            vpos = pos + 12
        else:
            vpos = pos + 8
        if length == _UNDEFINED or vpos + length > end:
            raise NotFast("undefined or overlong length in the file meta information")
        tag = shared_tag(group << 16 | elem)
        value = data[vpos:vpos + length] if length else empty_value_for_VR(vr, raw=True)
        meta[tag] = _tuple_new(RawDataElement, (tag, vr, length, value, vpos, False, True, True, False))
        pos = vpos + length


def _file_meta(elements: dict[BaseTag, Any], end_of_meta: int) -> FileMetaDataset:
    """The file meta dataset, in the state pydicom's ``_read_file_meta_info`` leaves it."""
    if not elements:
        raise NotFast("no file meta information")
    # FileMetaDataset(read_dataset(...)) + set_original_encoding(False, True, default_encoding);
    # every element is in group 0002, as FileMetaDataset checks
    file_meta = _new_dataset(FileMetaDataset, elements, default_encoding, False, default_encoding, False)
    try:
        _decode(file_meta, min(elements))  # pydicom decodes the lowest tag to test the encoding
    except NotImplementedError:
        raise NotFast("file meta information that pydicom re-reads as implicit VR") from None
    if _GROUP_LENGTH in elements:
        actual_len = end_of_meta - (132 + 12)
        elem_len = _decode(file_meta, _GROUP_LENGTH).value
        if elem_len != actual_len:
            logger.info(
                "_read_file_meta_info: (0002,0000) 'File Meta Information "
                "Group Length' value doesn't match the actual File Meta "
                f"Information length ({elem_len} vs {actual_len} bytes)"
            )
    return file_meta


# --------------------------------------------------------------------------- data set


def _dataset_encoding(elements: dict[BaseTag, Any], parent: str | MutableSequence[str]) -> Any:
    """The character encoding ``read_dataset`` records for a dataset of `elements`."""
    elem = elements.get(_CHARSET)  # type: ignore[call-overload]
    if elem is None:
        return parent
    return convert_encodings(convert_raw_data_element(elem).value)


def _read_elements(
    data: bytes, pos: int, end: int, implicit: bool, encoding: Any, item_length: int | None, depth: int,
) -> tuple[dict[BaseTag, Any], int, Any]:
    """Elements from `pos`: to the end (top level, `depth` 0), to an item delimiter
    (undefined-length item, `item_length` None) or over `item_length` bytes.

    Returns the elements, the position after them and the encoding nested sequences
    get (what pydicom's element generator carries along).
    """
    elements: dict[BaseTag, Any] = {}
    top = depth == 0
    stop = pos + item_length if item_length is not None else _NO_STOP
    headers_get = _HEADERS[implicit].get
    new = _tuple_new
    raw_cls = RawDataElement
    while pos < stop:
        if pos + 8 > end:
            if top:
                return elements, end, encoding  # pydicom ignores fewer than 8 trailing bytes
            raise NotFast("the file ends inside a sequence item")
        head = data[pos:pos + 8]
        header = headers_get(head)
        if header is None:
            header = _header(head, implicit)
            if header is None:  # group FFFE: the end of an undefined-length item, or not for us
                if (head[2:] == b"\x0d\xe0\0\0\0\0" and not top and item_length is None):
                    return elements, pos + 8, encoding
                raise NotFast(f"a delimiter ({head[:4].hex()}) where an element was expected")
        tag, tag_int, vr, length, long = header
        if long:
            if pos + 12 > end:
                raise NotFast("the file ends inside an element header")
            length = _unpack_l(data, pos + 8)[0]
            vpos = pos + 12
        else:
            vpos = pos + 8
        if length != 0xFFFFFFFF:
            nxt = vpos + length
            if nxt > end:
                raise NotFast("an element runs past the end of the file")
            value: Any = data[vpos:nxt] if length else empty_value_for_VR(vr, raw=True)
            if tag_int == 0x00080005:
                encoding = convert_encodings(convert_string(value or b"", True))
            elements[tag] = new(raw_cls, (tag, vr, length, value, vpos, implicit, True, True, False))
            pos = nxt
            continue
        # undefined length: a sequence, or encapsulated pixel data
        if vr == VR_.UN:
            vr = VR_.SQ
        if vr is None:
            try:
                vr = _dictionary_vr_fast(tag_int)
            except KeyError:
                if vpos + 4 > end:
                    raise NotFast("the file ends inside an element") from None
                if _unpack_hh(data, vpos) == (_ITEM_GROUP, _ITEM):
                    vr = VR_.SQ
        if vr == VR_.SQ:
            seq, pos = _read_sequence(data, vpos, end, implicit, encoding, depth + 1)
            elements[tag] = DataElement(tag, vr, seq, vpos, is_undefined_length=True)
        else:
            value, pos = _read_encapsulated(data, vpos, end)
            elements[tag] = new(raw_cls, (tag, vr, length, value, vpos, implicit, True, True, False))
    return elements, pos, encoding


def _read_sequence(
    data: bytes, pos: int, end: int, implicit: bool, encoding: Any, depth: int,
) -> tuple[Sequence, int]:
    """An undefined-length sequence's items from `pos`; returns it and the position after its delimiter."""
    if depth > _MAX_DEPTH:
        raise NotFast("sequences nested too deeply")
    items = []
    while True:
        if pos + 8 > end:
            raise NotFast("the file ends inside a sequence")
        group, elem, length = _unpack_hhl(data, pos)
        item_tell = pos
        pos += 8
        if group == 0xFFFE and elem == 0xE0DD:
            break
        if group != 0xFFFE or elem != 0xE000:
            raise NotFast(f"({group:04X},{elem:04X}) where a sequence item was expected")
        item, pos = _read_item(data, pos, end, implicit, encoding, length, depth, item_tell)
        items.append(item)
    sequence = Sequence(items)
    sequence.is_undefined_length = True
    return sequence, pos


def _read_item(data: bytes, pos: int, end: int, implicit: bool, encoding: Any, length: int, depth: int,
               item_tell: int) -> tuple[Dataset, int]:
    """One sequence item's dataset from `pos` (after its header), as ``read_sequence_item`` and
    ``read_sequence`` leave it; returns it and the position after it."""
    # pydicom's _is_implicit_vr for an item: Implicit stays implicit, Explicit may switch
    item_implicit = implicit or (pos + 6 <= end and not (0x40 < data[pos + 4] < 0x5B
                                                         and 0x40 < data[pos + 5] < 0x5B))
    undefined = length == _UNDEFINED
    elements, pos, _enc = _read_elements(data, pos, end, item_implicit, encoding,
                                         None if undefined else length, depth)
    item_encoding = encoding if _CHARSET not in elements else _dataset_encoding(elements, encoding)
    item = _new_dataset(Dataset, elements, encoding, item_implicit, item_encoding, undefined)
    attrs = item.__dict__  # plain attributes, as read_sequence_item and read_sequence set them
    attrs["seq_item_tell"] = item_tell
    attrs["file_tell"] = item_tell
    return item, pos


def _read_encapsulated(data: bytes, pos: int, end: int) -> tuple[bytes, int]:
    """An undefined-length value made of items (PS3.5 A.4), as pydicom reads it.

    Returns the bytes up to the sequence delimiter and the position after it.
    """
    start = pos
    while True:
        if pos + 8 > end:
            raise NotFast("the file ends inside encapsulated data")
        group, elem, length = _unpack_hhl(data, pos)
        if group != _ITEM_GROUP:
            raise NotFast("encapsulated data that is not made of items")
        if elem == _SEQ_END:
            return data[start:pos], pos + 8
        if elem != _ITEM:
            raise NotFast("encapsulated data that is not made of items")
        pos += 8 + length


# --------------------------------------------------------------------------- sequences kept raw


def raw_sequence_vr(raw: RawDataElement) -> str | None:
    """The VR pydicom's ``raw_element_vr`` hook gives a raw element if that is SQ, else None
    (an implicit-VR element is a sequence when the dictionary says so; a private one is left
    to pydicom, which asks the private dictionary)."""
    vr = raw.VR
    if vr is None:
        if raw.tag >> 16 & 1:
            return None
        try:
            vr = _dictionary_vr_fast(raw.tag)
        except KeyError:
            return None
    return vr if vr == VR_.SQ else None


def read_sequence_element(ds: Dataset, tag: BaseTag) -> DataElement:
    """Do what ``ds[tag]`` does to a defined-length sequence pydicom kept as raw bytes.

    pydicom reads a sequence of defined length only when it is first accessed
    (``Dataset.__getitem__`` -> ``convert_raw_data_element`` -> ``read_sequence``
    on the value's bytes); this reads its items with the fast element reader
    instead and stores the same :class:`~pydicom.dataelem.DataElement` in `ds`:
    the same items (element positions counted from the start of the value, as
    pydicom counts them there; item positions from the start of the file), the
    same character sets and encodings, the pixel representation handed down.

    Raises
    ------
    NotFast
        The element is not a raw sequence of defined length in a little-endian
        data set, the reading settings are not pydicom's defaults, or the items
        need pydicom's own recovery (a delimiter, a length past the end...):
        then ``ds[tag]`` does it, and `ds` is as it was.
    """
    raw = ds._dict.get(tag)  # type: ignore[call-overload]
    if (type(raw) is not RawDataElement or not _USABLE or not raw.is_little_endian or not raw.value
            or raw.length == _UNDEFINED or tag == _CHARSET or config.debugging or not _cached_decoding()):
        raise NotFast("not a raw sequence of defined length, or non-default reading settings")
    vr = raw_sequence_vr(raw)
    if vr is None:
        raise NotFast("not a sequence")
    # what __getitem__ passes to convert_raw_data_element, and convert_value on to read_sequence
    encodings = ds.original_character_set or ds._character_set or [default_encoding]
    if isinstance(encodings, str):
        encodings = [encodings]
    try:
        sequence = _read_defined_sequence(raw.value, raw.is_implicit_VR, encodings, raw.value_tell)
    except NotFast:
        raise
    except Exception as exc:
        raise NotFast(f"{type(exc).__name__}: {exc}") from exc
    ds[tag] = DataElement(raw.tag, vr, sequence, raw.value_tell, False, already_converted=True)
    elem = ds._dict[tag]
    ds._set_pixel_representation(elem)
    return elem  # type: ignore[no-any-return]


def _read_defined_sequence(value: bytes, implicit: bool, encoding: Any, offset: int) -> Sequence:
    """pydicom's ``read_sequence(BytesIO(value), implicit, True, len(value), encoding, offset)``."""
    items = []
    end = len(value)
    pos = 0
    while pos < end:
        if pos + 8 > end:
            raise NotFast("the sequence ends inside an item header")
        group, elem, length = _unpack_hhl(value, pos)
        item_tell = pos + offset
        pos += 8
        if group != _ITEM_GROUP or elem != _ITEM:
            raise NotFast(f"({group:04X},{elem:04X}) where a sequence item was expected")
        item, pos = _read_item(value, pos, end, implicit, encoding, length, 1, item_tell)
        items.append(item)
    sequence = Sequence(items)
    sequence.is_undefined_length = False
    return sequence


# --------------------------------------------------------------------------- datasets made directly

_new_object = object.__new__


def _new_dataset_by_init(cls: type, elements: dict[BaseTag, Any], parent_encoding: Any, implicit: bool,
                         encoding: Any, undefined_item: bool) -> Dataset:
    """``cls(elements, parent_encoding=...)`` then ``set_original_encoding(implicit, True, encoding)``."""
    ds = cls(elements, parent_encoding=parent_encoding)
    ds.set_original_encoding(implicit, True, encoding)
    ds.is_undefined_length_sequence_item = undefined_item
    return ds


def _new_dataset_direct(cls: type, elements: dict[BaseTag, Any], parent_encoding: Any, implicit: bool,
                        encoding: Any, undefined_item: bool) -> Dataset:
    """The same dataset, its attributes set in one step."""
    ds: Dataset = _new_object(cls)
    ds.__dict__.update({
        "_parent_encoding": parent_encoding, "_dict": elements, "is_decompressed": False,
        "_read_little": True, "_read_implicit": implicit, "_read_charset": encoding,
        "_is_little_endian": None, "_is_implicit_VR": None,
        "is_undefined_length_sequence_item": undefined_item, "_private_blocks": {},
        "_pixel_array": None, "_pixel_array_opts": {"use_pdh": False}, "_pixel_id": {},
    })
    return ds


def _file_dataset_by_init(fileobj: io.BytesIO, elements: dict[BaseTag, Any], preamble: bytes,
                          file_meta: FileMetaDataset, implicit: bool) -> FileDataset:
    """``FileDataset(fileobj, read_dataset's Dataset, preamble, file_meta, implicit, True)``."""
    return FileDataset(fileobj, Dataset(elements, parent_encoding=default_encoding), preamble, file_meta,
                       implicit, True)


def _file_dataset_direct(fileobj: io.BytesIO, elements: dict[BaseTag, Any], preamble: bytes,
                         file_meta: FileMetaDataset, implicit: bool) -> FileDataset:
    """The same file dataset, its attributes set in one step."""
    ds: FileDataset = _new_object(FileDataset)
    ds.__dict__.update({
        "_parent_encoding": default_encoding, "_dict": elements, "is_decompressed": False,
        "_read_little": True, "_read_implicit": implicit, "_read_charset": "",
        "_is_little_endian": True, "_is_implicit_VR": implicit,
        "is_undefined_length_sequence_item": False, "_private_blocks": {},
        "_pixel_array": None, "_pixel_array_opts": {"use_pdh": False}, "_pixel_id": {},
        "preamble": preamble, "file_meta": file_meta, "fileobj_type": io.BytesIO,
        "filename": None, "buffer": fileobj, "timestamp": None,
    })
    return ds


def _same_state(a: Any, b: Any) -> bool:
    """Same class and the same attributes, in the same order, of the same types and values."""
    va, vb = vars(a), vars(b)
    return (type(a) is type(b) and list(va) == list(vb)
            and all(type(va[k]) is type(vb[k]) and (va[k] is vb[k] or va[k] == vb[k]) for k in va))


def _pick_constructors() -> tuple[Any, Any]:
    args = (True, ["iso8859"], True)
    fast_ok = (not config._use_future and Dataset.__new__ is object.__new__
               and all(_same_state(_new_dataset_direct(cls, {}, "iso8859", *args),
                                   _new_dataset_by_init(cls, {}, "iso8859", *args))
                       for cls in (Dataset, FileMetaDataset)))
    fileobj, meta = io.BytesIO(b"x"), FileMetaDataset()
    fast_ok = fast_ok and _same_state(_file_dataset_direct(fileobj, {}, b"\0" * 128, meta, False),
                                      _file_dataset_by_init(fileobj, {}, b"\0" * 128, meta, False))
    if fast_ok:
        return _new_dataset_direct, _file_dataset_direct
    return _new_dataset_by_init, _file_dataset_by_init  # pragma: no cover - another pydicom release


_new_dataset, _file_dataset = _pick_constructors()


# --------------------------------------------------------------------------- elements decoded while reading

# (tag, VR, length, value, implicit, validation mode) -> the attributes of the DataElement pydicom
# made from that raw element (its position aside), for values that decoded without a warning
_DECODED: dict[tuple[Any, ...], dict[str, Any]] = {}
_DECODED_LIMIT = 4096
# the VRs whose decoding warns only through UID validation (checked below) and gives an immutable value
_CACHEABLE_VRS = frozenset({"UL", "UI", "CS", "OB"})
_DEFAULT_HOOKS = (pydicom.hooks.hooks.raw_element_vr, pydicom.hooks.hooks.raw_element_value)


def _cached_decoding() -> bool:
    """True when decoding is what pydicom does by default (no callback, default hooks)."""
    hooks = pydicom.hooks.hooks
    return (config.data_element_callback is None and not hooks.raw_element_kwargs
            and (hooks.raw_element_vr, hooks.raw_element_value) == _DEFAULT_HOOKS)


def _decode(ds: Dataset, tag: int) -> DataElement:
    """What ``ds[tag]`` does for the elements pydicom decodes while reading (tag present in `ds`)."""
    raw = ds._dict[tag]  # type: ignore[index]
    if type(raw) is not RawDataElement or raw.VR not in _CACHEABLE_VRS or not _cached_decoding():
        return ds[tag]
    key = (raw.tag, raw.VR, raw.length, raw.value, raw.is_implicit_VR, config.settings.reading_validation_mode)
    state = _DECODED.get(key)
    if state is None:
        elem = ds[tag]
        state = _decoded_state(elem, raw)
        if state is not None:
            if len(_DECODED) >= _DECODED_LIMIT:
                _DECODED.clear()
            _DECODED[key] = state
        return elem
    elem = _new_object(DataElement)
    attrs = elem.__dict__
    attrs.update(state)
    value = state["_value"]
    if type(value) is UID:
        attrs["_value"] = str.__new__(UID, value)
    attrs["tag"] = raw.tag
    attrs["file_tell"] = raw.value_tell
    ds._dict[raw.tag] = elem  # as Dataset.__setitem__ stores a public, non-pixel, non-sequence element
    return elem


def _decoded_state(elem: DataElement, raw: RawDataElement) -> dict[str, Any] | None:
    """The attributes of a freshly decoded element, if copies of them are exact (else None)."""
    value = elem.value
    if elem.VR not in _CACHEABLE_VRS or elem.tag.is_private or elem.is_undefined_length:
        return None
    if type(value) is UID:
        # decoding validated the text before UID() stripped it: the same text, or no caching
        text = raw.value.decode(default_encoding).rstrip("\0 ") if raw.value else ""
        if vars(value) or text != value:
            return None
        try:
            validate_value("UI", text, config.RAISE)  # decoding it warned (or raised) otherwise
        except Exception:  # noqa: BLE001
            return None
    elif type(value) not in (int, str, bytes):
        return None
    return dict(vars(elem))


def _check_decode_copies() -> bool:
    """A copy from the cache equals what pydicom decodes, for each VR cached."""
    samples = [(0x00020000, "UL", b"\xce\x00\x00\x00"), (0x00020010, "UI", b"1.2.840.10008.1.2.1\0"),
               (0x00080005, "CS", b"ISO_IR 100"), (0x00020001, "OB", b"\0\1")]
    for tag_int, vr, value in samples:
        tag = BaseTag(tag_int)
        first = Dataset({tag: RawDataElement(tag, vr, len(value), value, 10, False, True)})
        second = Dataset({tag: RawDataElement(tag, vr, len(value), value, 20, False, True)})
        by_pydicom = Dataset({tag: RawDataElement(tag, vr, len(value), value, 20, False, True)})[tag]
        _decode(first, tag_int)
        copied = _decode(second, tag_int)
        if not (_same_state(copied, by_pydicom) and second._dict[tag] is copied):
            return False
    return True


if not _check_decode_copies():  # pragma: no cover - another pydicom release
    _CACHEABLE_VRS = frozenset()
_DECODED.clear()
