"""Lossless transcoding on write, with proof: every encoded object is decoded and compared.

:func:`transcode` turns a de-identified pydicom Dataset into the DICOM Part 10
bytes the archive keeps.  Uncompressed integer pixel data is encoded with the
requested :class:`Compression` (JPEG-LS by default), then the *encoded bytes* are
parsed and decoded again and compared with the original pixels, bit for bit;
a mismatch raises :class:`~caselib.store.errors.VerificationError` and nothing is
returned to write.  Everything else is kept exactly as received.

What happens to each kind of object
-----------------------------------
=====================================================  =========================================
input                                                  stored as
=====================================================  =========================================
no pixel data (SR, RT Plan, RT Struct, waveforms)      as is (``compression='as-is'``)
Float / Double Float Pixel Data (7FE0,0008/0009)       as is, uncompressed (``'none'``): no codec
                                                       of the chain encodes floating point
already compressed, lossy or possibly lossy (JPEG      as is (``'as-is'``): never decompressed and
baseline/extended, JPEG 2000 .91, JPEG-LS near-        re-encoded.  (0028,2110) is not edited; the
lossless, HTJ2K .203, MPEG/HEVC)                       note says when it contradicts the syntax
already compressed, lossless (RLE, JPEG lossless,      as is (``'as-is'``): already compact and
JPEG-LS .80, JPEG 2000 .90, HTJ2K lossless)            proven by its own codec
Explicit VR Big Endian (retired)                       as is: byte-swapping OW/OF/UN values is not
                                                       something the store guesses at
uncompressed integer pixels (Implicit/Explicit VR      encoded with the first option of the chain
Little Endian, Deflated)                               that the encoder accepts and that verifies
YBR_FULL_422 uncompressed                              chroma up-sampled to YBR_FULL (each Cb/Cr pair
                                                       duplicated: exact and reversible; pydicom's
                                                       ``raw`` decoding of both is identical), then
                                                       encoded; (0028,0004) becomes ``YBR_FULL``.
                                                       Not converted to RGB: YCbCr -> RGB rounds.
bits above (0028,0101) Bits Stored carrying data       uncompressed: codecs keep only Bits Stored
(e.g. a retired embedded overlay)                      bits, which would silently drop them
Bits Allocated 1 (bit-packed, e.g. SEG)                uncompressed: no codec of the chain takes it
=====================================================  =========================================

The chain starts at the requested option and continues in the order
``jpeg-ls -> jpeg2000 -> rle -> none``; each option skipped is recorded with its
reason in the note (e.g. ``"jpeg-ls: (0028,0100) Bits Allocated 32 not in (8, 16)
for JPEG-LS Lossless (PS3.5 §8.2)"``).  Encoders: JPEG-LS by pyjpegls (MIT,
CharLS BSD-3), JPEG 2000 by pylibjpeg-openjpeg (MIT), RLE by pylibjpeg-rle (MIT)
or pydicom's own.  GDCM's RLE encoder is never used: it aborts the whole
process (C++ ``terminate``) on small odd-sized colour images, which no ``try``
can catch.  pylibjpeg-libjpeg (GPL) is not needed.

Truthfulness: (0002,0010) Transfer Syntax UID always names the encoding of the
stored pixel data; (0028,0004) Photometric Interpretation names its colour
space (``RGB`` is never silently turned into ``YBR_RCT``: JPEG 2000 is encoded
without the multi-component transform); (0028,0006) Planar Configuration is 0
for JPEG-LS and JPEG 2000 and 1 for RLE (PS3.5 §8.2.3, §8.2.4, Annex G.2);
(0028,2110) Lossy Image Compression is never changed (a lossless transcode of an
image that was once lossy stays ``01``).

The File Meta Information (group 0002) is rebuilt from the dataset: Media
Storage SOP Class/Instance UID equal (0008,0016)/(0008,0018), the transfer
syntax, and pydicom's implementation UID; other group 0002 elements (e.g. a
Source Application Entity Title naming the hospital) and the 128-byte preamble
(which may hold a TIFF header or anything else) are not carried over.

Examples
--------
>>> from pydicom import examples
>>> from caselib.store.codec import transcode
>>> out = transcode(examples.ct, "jpeg-ls")
>>> out.compression, out.transfer_syntax
('jpeg-ls', '1.2.840.10008.1.2.4.80')
>>> len(out.data) < 39_000
True
"""
from __future__ import annotations

import copy
import hashlib
import io
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np
import pydicom
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import dcmwrite, write_dataset
from pydicom.pixels import compress, get_encoder, pixel_array
from pydicom.pixels.encoders.base import ENCODING_PROFILES
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
)

from caselib.store.base import validate_uid
from caselib.store.errors import TranscodeError, VerificationError

__all__ = [
    "FALLBACK_ORDER",
    "Compression",
    "Transcoded",
    "compute_fingerprint",
    "encode_part10",
    "transcode",
]

# Tags handled specially.
_PIXEL_DATA = 0x7FE00010
_FLOAT_PIXEL_DATA = 0x7FE00008
_DOUBLE_PIXEL_DATA = 0x7FE00009
_PIXEL_TAGS = frozenset({0x7FE00001, 0x7FE00002, _FLOAT_PIXEL_DATA, _DOUBLE_PIXEL_DATA, _PIXEL_DATA})
_PHOTOMETRIC = 0x00280004
_PLANAR = 0x00280006
_TRAILING_PADDING = 0xFFFCFFFC

#: Transfer syntaxes whose pixel data is native (not encapsulated) and which the
#: store may transcode.  Big endian is native too but kept as is (see module doc).
_TRANSCODABLE = frozenset({ImplicitVRLittleEndian, ExplicitVRLittleEndian, DeflatedExplicitVRLittleEndian})

#: Encapsulated syntaxes that are lossless by definition: decoding them is exact,
#: so their fingerprint uses decoded values like native data does.
_LOSSLESS_ENCAPSULATED = frozenset(
    {RLELossless, JPEGLossless, JPEGLosslessSV1, JPEGLSLossless, JPEG2000Lossless, HTJ2KLossless, HTJ2KLosslessRPCL}
)

_FINGERPRINT_VERSION = b"caselib-fingerprint-v1\x00"


class Compression(str, Enum):
    """The lossless options of the archive (``str`` values, so ``"jpeg-ls"`` works too).

    Examples
    --------
    >>> Compression.parse("JPEG-LS") is Compression.JPEG_LS
    True
    >>> Compression.JPEG_2000.transfer_syntax.name
    'JPEG 2000 Image Compression (Lossless Only)'
    >>> Compression.NONE.transfer_syntax is None
    True
    """

    JPEG_LS = "jpeg-ls"
    JPEG_2000 = "jpeg2000"
    RLE = "rle"
    NONE = "none"

    @property
    def transfer_syntax(self) -> UID | None:
        """The lossless transfer syntax UID of the option (``None`` for ``'none'``)."""
        return {
            Compression.JPEG_LS: JPEGLSLossless,
            Compression.JPEG_2000: JPEG2000Lossless,
            Compression.RLE: RLELossless,
        }.get(self)

    @classmethod
    def parse(cls, value: str | Compression) -> Compression:
        """Return the option named by `value` (case-insensitive; ``jpegls``, ``j2k`` accepted).

        Raises
        ------
        ValueError
            If `value` names no option; the message lists the choices.
        """
        if isinstance(value, Compression):
            return value
        if not isinstance(value, str):
            raise TypeError(f"compression must be a str or Compression, found {type(value).__name__}")
        text = value.strip().lower().replace("_", "-")
        aliases = {"jpegls": "jpeg-ls", "jls": "jpeg-ls", "jpeg-2000": "jpeg2000", "j2k": "jpeg2000", "uncompressed": "none"}
        text = aliases.get(text, text)
        for member in cls:
            if member.value == text:
                return member
        choices = ", ".join(repr(m.value) for m in cls)
        raise ValueError(f"compression must be one of {choices}, found {value!r}")


#: The order in which options are tried after the requested one fails.
FALLBACK_ORDER: tuple[Compression, ...] = (Compression.JPEG_LS, Compression.JPEG_2000, Compression.RLE, Compression.NONE)

_NAMES = {Compression.JPEG_LS: "JPEG-LS Lossless", Compression.JPEG_2000: "JPEG 2000 Lossless", Compression.RLE: "RLE Lossless"}


@dataclass(frozen=True)
class Transcoded:
    """The verified Part 10 bytes to store, and how they were made.

    Attributes
    ----------
    data : bytes
        The complete DICOM Part 10 file (preamble, File Meta Information, data set).
    transfer_syntax : str
        (0002,0010) of `data`.
    compression : str
        ``'jpeg-ls'``, ``'jpeg2000'``, ``'rle'`` (encoded and verified here),
        ``'none'`` (pixel data stored uncompressed) or ``'as-is'`` (pixel data
        kept in the compressed form it arrived in, or no pixel data at all).
    note : str
        What was done and why each skipped option was skipped.
    fingerprint : str
        :func:`compute_fingerprint` of the input (equal to that of `data`, checked).
    verified : bool
        ``True`` if pixels were encoded here and decoded back bit-exact.
    """

    data: bytes
    transfer_syntax: str
    compression: str
    note: str
    fingerprint: str
    verified: bool = False


# --------------------------------------------------------------------------- helpers


def _transfer_syntax_of(ds: Dataset) -> UID:
    """Return the transfer syntax of `ds`: from its file meta, else from how it was read."""
    meta = getattr(ds, "file_meta", None)
    tsyntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if tsyntax:
        return UID(str(tsyntax))
    implicit, little = ds.original_encoding
    if implicit is True and little is True:
        return ImplicitVRLittleEndian
    if implicit is False and little is False:
        return ExplicitVRBigEndian
    if implicit is False and little is True:
        return ExplicitVRLittleEndian
    if _PIXEL_DATA in ds and ds[_PIXEL_DATA].is_undefined_length:
        raise TranscodeError(
            "(0002,0010) Transfer Syntax UID is missing and (7FE0,0010) Pixel Data is encapsulated: "
            "cannot tell how the pixel data is compressed"
        )
    return ExplicitVRLittleEndian


def _shallow_copy(ds: Dataset, tsyntax: UID) -> Dataset:
    """Return a new Dataset sharing `ds`'s elements but not its element dictionary.

    Replacing an element of the copy (``copy[tag] = DataElement(...)`` or
    ``del copy[tag]``) leaves `ds` untouched.  (``Dataset(ds)`` would share the
    dictionary itself.)  Elements still raw in an encoding other than that of
    `tsyntax` are parsed first, so that they can be re-encoded (pydicom keeps
    raw elements of a file whose data set is implicit VR although its transfer
    syntax says explicit, and could not write them otherwise).
    """
    target = (tsyntax.is_implicit_VR, tsyntax.is_little_endian)
    elements: dict[Any, Any] = {}
    for tag in list(ds.keys()):  # iterating a Dataset itself would yield (parsed) elements
        elem = ds.get_item(tag)
        if isinstance(elem, RawDataElement) and (elem.is_implicit_VR, elem.is_little_endian) != target:
            elem = ds[tag]
        elements[tag] = elem
    out = Dataset(elements)
    implicit, little = ds.original_encoding
    if implicit is not None and little is not None:
        out.set_original_encoding(implicit, little, ds.original_character_set)
    return out


def _with_transfer_syntax(ds: Dataset) -> tuple[Dataset, UID]:
    """Return `ds` (or, if its file meta lacks (0002,0010), a view of it that has one) and its syntax.

    pydicom needs (0002,0010) in ``file_meta`` to decode pixel data; a data set
    read with ``force=True`` from a file without meta information lacks it.
    """
    tsyntax = _transfer_syntax_of(ds)
    meta = getattr(ds, "file_meta", None)
    if meta is not None and meta.get("TransferSyntaxUID"):
        return ds, tsyntax
    view = _shallow_copy(ds, tsyntax)
    view.file_meta = FileMetaDataset()
    view.file_meta.TransferSyntaxUID = UID(tsyntax)
    return view, tsyntax


def _file_meta(ds: Dataset, tsyntax: UID) -> FileMetaDataset:
    """Return fresh File Meta Information for `ds` (PS3.10 §7.1)."""
    meta = FileMetaDataset()
    meta.FileMetaInformationVersion = b"\x00\x01"
    meta.MediaStorageSOPClassUID = UID(validate_uid(ds.get("SOPClassUID"), "(0008,0016) SOP Class UID"))
    meta.MediaStorageSOPInstanceUID = UID(validate_uid(ds.get("SOPInstanceUID"), "(0008,0018) SOP Instance UID"))
    meta.TransferSyntaxUID = tsyntax
    meta.ImplementationClassUID = UID(PYDICOM_IMPLEMENTATION_UID)
    meta.ImplementationVersionName = f"PYDICOM {pydicom.__version__}"[:16]
    return meta


def encode_part10(ds: Dataset, transfer_syntax: str | None = None) -> bytes:
    """Return `ds` as DICOM Part 10 bytes with rebuilt File Meta Information.

    The pixel data and every other element are written as they are; only the
    file meta group and the preamble (128 zero bytes) are regenerated (see the
    module documentation).  `ds` is not modified.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        The object to encode.
    transfer_syntax : str, optional
        The transfer syntax `ds` is encoded in; default: its file meta, else
        how it was read.

    Examples
    --------
    >>> from pydicom import examples
    >>> data = encode_part10(examples.rt_plan)
    >>> data[128:132]
    b'DICM'
    """
    tsyntax = UID(transfer_syntax) if transfer_syntax else _transfer_syntax_of(ds)
    out = _shallow_copy(ds, tsyntax)
    out.file_meta = _file_meta(ds, tsyntax)
    buf = io.BytesIO()
    dcmwrite(buf, out, enforce_file_format=True)
    return buf.getvalue()


def _canonical_array(arr: np.ndarray) -> np.ndarray:
    """Return `arr` C-contiguous and little endian, for hashing."""
    arr = np.ascontiguousarray(arr)
    if arr.dtype.byteorder == ">" or (arr.dtype.byteorder == "=" and np.little_endian is False):
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    return arr


def _header_digest(ds: Dataset) -> bytes:
    """sha256 of every element that is not file meta, pixel data or pixel layout (see compute_fingerprint)."""
    subset = Dataset()
    for tag in list(ds.keys()):  # iterating a Dataset itself would yield elements
        if tag in _PIXEL_TAGS or tag == _PLANAR or tag == _TRAILING_PADDING or tag.element == 0:
            continue
        elem = ds[tag]
        if tag == _PHOTOMETRIC and str(elem.value).strip() == "YBR_FULL_422":
            elem = DataElement(_PHOTOMETRIC, "CS", "YBR_FULL")
        subset[tag] = elem
    subset = copy.deepcopy(subset)  # sequence lengths are an encoding detail: write them all undefined
    for elem in subset.iterall():
        if elem.VR == "SQ":
            elem.is_undefined_length = True
            for item in elem.value:
                item.is_undefined_length_sequence_item = True
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_dataset(fp, subset)
    return hashlib.sha256(fp.getvalue()).digest()


def _pixel_digest(ds: Dataset, tsyntax: UID, pixels: np.ndarray | None = None) -> bytes:
    """sha256 of the pixel content: decoded values when exact, else the stored bytes."""
    h = hashlib.sha256()
    if _PIXEL_DATA in ds:
        decodable = tsyntax in _TRANSCODABLE or tsyntax == ExplicitVRBigEndian or tsyntax in _LOSSLESS_ENCAPSULATED
        if pixels is None and decodable:
            try:
                pixels = _decode(ds)
            except Exception:  # noqa: BLE001 - undecodable: fall back to the bytes
                pixels = None
        if pixels is not None:
            arr = _canonical_array(pixels)
            h.update(b"values\x00" + arr.dtype.str.encode() + repr(arr.shape).encode() + b"\x00")
            h.update(arr.data)
        else:
            h.update(b"encoded\x00" + str(tsyntax).encode() + b"\x00")
            h.update(ds[_PIXEL_DATA].value or b"")
    for tag in (_FLOAT_PIXEL_DATA, _DOUBLE_PIXEL_DATA):
        if tag in ds:
            h.update(b"float\x00" + str(tag).encode())
            h.update(ds[tag].value or b"")
    return h.digest()


def _combine(header: bytes, pixels: bytes) -> str:
    return hashlib.sha256(_FINGERPRINT_VERSION + header + pixels).hexdigest()


def compute_fingerprint(ds: Dataset) -> str:
    """Return the content fingerprint used to tell an identical object from a conflicting one.

    Two encodings of the same object (uncompressed as received, JPEG-LS as
    stored) have the same fingerprint; any change to a data element or a pixel
    value changes it.  It is the sha256 of

    1. every data element of the data set **except** the File Meta Information
       (group 0002), group lengths (gggg,0000), Data Set Trailing Padding
       (FFFC,FFFC), the pixel data elements (7FE0,0001/0002/0008/0009/0010)
       and (0028,0006) Planar Configuration (a layout detail that the codecs
       fix), with (0028,0004) ``YBR_FULL_422`` counted as ``YBR_FULL``; all
       encoded as Explicit VR Little Endian so the input's encoding does not
       matter;
    2. the pixels: for native and lossless-compressed pixel data, the decoded
       values (pydicom ``raw`` decoding: dtype, shape and bytes); for lossy or
       undecodable pixel data, the encoded bytes of (7FE0,0010) with the
       transfer syntax (so a lossy object is compared exactly as stored, not
       through a decoder that may differ by one between versions); float pixel
       data by its bytes.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        The object (as read from a file, or built in memory).

    Returns
    -------
    str
        64 hexadecimal digits.

    Examples
    --------
    >>> from pydicom import examples
    >>> ds = examples.ct
    >>> a = compute_fingerprint(ds)
    >>> ds.PatientName = "Other^Name"
    >>> a == compute_fingerprint(ds)
    False
    """
    ds, tsyntax = _with_transfer_syntax(ds)
    return _combine(_header_digest(ds), _pixel_digest(ds, tsyntax))


def _decode(ds: Dataset) -> np.ndarray:
    """Decode the pixel data of `ds` with minimal processing (no colour conversion)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pixel_array(ds, raw=True)


def _profile_reason(option: Compression, pi: str, spp: int, pr: int, ba: int, bs: int) -> str | None:
    """Return why `option` cannot encode such pixels per PS3.5 §8.2, or ``None`` if it can."""
    tsyntax = option.transfer_syntax
    assert tsyntax is not None
    profiles = ENCODING_PROFILES.get(tsyntax, [])
    best: list[str] | None = None
    for p_pi, p_spp, p_pr, p_ba, p_bs in profiles:
        failures = []
        if pi != p_pi:
            failures.append(f"(0028,0004) Photometric Interpretation {pi!r}")
        if spp != p_spp:
            failures.append(f"(0028,0002) Samples per Pixel {spp}")
        if pr not in p_pr:
            failures.append(f"(0028,0103) Pixel Representation {pr} not in {tuple(p_pr)}")
        if ba not in p_ba:
            failures.append(f"(0028,0100) Bits Allocated {ba} not in {tuple(p_ba)}")
        if bs not in p_bs:
            failures.append(f"(0028,0101) Bits Stored {bs} not in {min(p_bs)}..{max(p_bs)}")
        if not failures:
            return None
        if best is None or len(failures) < len(best):
            best = failures
    detail = "; ".join(best or ["no encoding profile"])
    return f"{detail} for {_NAMES[option]} (PS3.5 §8.2)"


def _error_reason(exc: BaseException) -> str:
    """Shorten an encoder exception to one line naming the cause."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    if len(lines) > 1 and lines[0].endswith(":"):
        lines = lines[1:]
    text = "; ".join(lines) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _unused_bits_reason(ds: Dataset, arr: np.ndarray) -> str | None:
    """Return why the bits above Bits Stored must be kept, or ``None`` if they carry nothing.

    Codecs encode Bits Stored bits only.  Bits above them that are zero (or, for
    signed data, the sign extension) carry nothing; anything else (e.g. a
    retired embedded overlay, PS3.5 §8.1.1) would be dropped by transcoding.
    """
    ba, bs = int(ds.BitsAllocated), int(ds.BitsStored)
    if bs >= ba or ba not in (8, 16, 32, 64):
        return None
    raw = np.frombuffer(ds.PixelData, dtype=f"<u{ba // 8}", count=len(ds.PixelData) // (ba // 8))
    raw = raw[: arr.size]
    high = raw >> np.array(bs, dtype=raw.dtype)
    if int(ds.get("PixelRepresentation", 0)) == 1:
        sign = (raw >> np.array(bs - 1, dtype=raw.dtype)) & np.array(1, dtype=raw.dtype)
        full = np.array((1 << (ba - bs)) - 1, dtype=raw.dtype)
        bad = ~((high == 0) | ((high == full) & (sign == 1)))
    else:
        bad = high != 0
    n_bad = int(np.count_nonzero(bad))
    if not n_bad:
        return None
    return (
        f"bits above (0028,0101) Bits Stored {bs} carry data in {n_bad} of {raw.size} values "
        "(e.g. a retired embedded overlay, PS3.5 §8.1.1); codecs would drop them"
    )


def _rle_plugin() -> str:
    """Choose the RLE encoder: pylibjpeg-rle, else pydicom's own; never GDCM (see module doc)."""
    plugins = get_encoder(RLELossless).available_plugins
    return "pylibjpeg" if "pylibjpeg" in plugins else "pydicom"


def _chain(option: Compression) -> list[Compression]:
    start = FALLBACK_ORDER.index(option)
    return [c for c in FALLBACK_ORDER[start:] if c is not Compression.NONE]


def _encode_one(
    base: Dataset, arr: np.ndarray, option: Compression, photometric: str, spp: int
) -> bytes:
    """Encode `arr` into a copy of `base` with `option`; return the Part 10 bytes."""
    tsyntax = option.transfer_syntax
    assert tsyntax is not None
    out = _shallow_copy(base, ExplicitVRLittleEndian)
    out.file_meta = _file_meta(base, ExplicitVRLittleEndian)
    if _PIXEL_DATA in out:
        del out[_PIXEL_DATA]
    for tag in (0x7FE00001, 0x7FE00002):  # stale offset tables
        if tag in out:
            del out[tag]
    out[_PHOTOMETRIC] = DataElement(_PHOTOMETRIC, "CS", photometric)
    if spp > 1:
        out[_PLANAR] = DataElement(_PLANAR, "US", 1 if option is Compression.RLE else 0)
    kwargs: dict[str, Any] = {}
    if option is Compression.RLE:
        kwargs["encoding_plugin"] = _rle_plugin()
    if option is Compression.JPEG_2000:
        kwargs["use_mct"] = False  # keep (0028,0004) truthful: no RGB -> YBR_RCT
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compress(out, tsyntax, arr, generate_instance_uid=False, **kwargs)
    buf = io.BytesIO()
    dcmwrite(buf, out, enforce_file_format=True)
    return buf.getvalue()


def _verify(data: bytes, arr: np.ndarray, option: Compression, header: bytes) -> None:
    """Decode `data` and require the pixels of `arr`, bit for bit, and the same header digest."""
    try:
        back = pydicom.dcmread(io.BytesIO(data))
        decoded = _decode(back)
    except Exception as exc:  # any failure to read back fails verification
        raise VerificationError(
            f"{option.value}: the encoded object could not be decoded again ({_error_reason(exc)}); nothing was written"
        ) from exc
    if decoded.dtype != arr.dtype or decoded.shape != arr.shape:
        raise VerificationError(
            f"{option.value}: decoded pixels have dtype {decoded.dtype} and shape {decoded.shape}, "
            f"expected {arr.dtype} and {arr.shape}; nothing was written"
        )
    if not np.array_equal(decoded, arr):
        n = int(np.count_nonzero(decoded != arr))
        raise VerificationError(
            f"{option.value}: {n} of {arr.size} decoded pixel values differ from the original; nothing was written"
        )
    if _header_digest(back) != header:
        raise VerificationError(
            f"{option.value}: data elements changed when the object was re-encoded; nothing was written"
        )


def _join(parts: Iterable[str]) -> str:
    return "; ".join(p for p in parts if p)


def transcode(ds: Dataset, compression: str | Compression = Compression.JPEG_LS) -> Transcoded:
    """Return the verified Part 10 bytes of `ds`, losslessly compressed where possible.

    See the module documentation for what happens to each kind of object.
    `ds` itself is never modified.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        A de-identified object, as read by ``pydicom.dcmread`` or built in memory.
    compression : str or Compression, optional
        The preferred option: ``'jpeg-ls'`` (default), ``'jpeg2000'``, ``'rle'``
        or ``'none'``.  When it cannot encode the object the next options of
        ``jpeg-ls -> jpeg2000 -> rle -> none`` are tried, and the note says why.

    Returns
    -------
    Transcoded
        The bytes to store and how they were made.

    Raises
    ------
    VerificationError
        If an encoded object does not decode to the original pixels bit for
        bit, or its data elements changed; nothing should be written.
    TranscodeError
        If the original pixel data cannot be decoded (so it cannot be proven
        that a transcode is lossless) or its transfer syntax is unknown.
    InvalidUIDError
        If (0008,0016) SOP Class UID or (0008,0018) SOP Instance UID is
        missing or invalid.
    ValueError
        If `compression` names no option.

    Examples
    --------
    >>> from pydicom import examples
    >>> out = transcode(examples.rt_plan)
    >>> out.compression, out.note
    ('as-is', 'no pixel data: stored as is')
    >>> out = transcode(examples.rgb_color, "rle")
    >>> out.compression, out.verified
    ('rle', True)
    """
    option = Compression.parse(compression)
    ds, tsyntax = _with_transfer_syntax(ds)
    header = _header_digest(ds)

    def as_is(label: str, note: str, pixels: np.ndarray | None = None) -> Transcoded:
        data = encode_part10(ds, tsyntax)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            back = pydicom.dcmread(io.BytesIO(data))
        if _header_digest(back) != header:
            raise VerificationError("data elements changed when the object was written as is; nothing was written")
        return Transcoded(data, str(tsyntax), label, note, _combine(header, _pixel_digest(ds, tsyntax, pixels)))

    if _PIXEL_DATA not in ds:
        if _FLOAT_PIXEL_DATA in ds or _DOUBLE_PIXEL_DATA in ds:
            return as_is("none", "float pixel data (7FE0,0008/0009): stored uncompressed, no lossless codec of the chain encodes floating point")
        return as_is("as-is", "no pixel data: stored as is")

    if tsyntax not in _TRANSCODABLE:
        if tsyntax == ExplicitVRBigEndian:
            return as_is("none", "Explicit VR Big Endian (retired): stored as is, not transcoded")
        if tsyntax in _LOSSLESS_ENCAPSULATED:
            return as_is("as-is", f"already compressed losslessly ({tsyntax.name}): kept as is")
        if not tsyntax.is_transfer_syntax:
            raise TranscodeError(f"(0002,0010) Transfer Syntax UID {str(tsyntax)!r} is not a known transfer syntax")
        note = f"lossy or possibly lossy compressed input ({tsyntax.name}): kept as is, never re-encoded"
        lossy_flag = str(ds.get("LossyImageCompression", "")).strip()
        if lossy_flag != "01":
            shown = repr(lossy_flag) if lossy_flag else "missing"
            note += f"; (0028,2110) Lossy Image Compression is {shown} (not changed by the store)"
        return as_is("as-is", note)

    if option is Compression.NONE:
        return as_is("none", "compression 'none' requested: stored uncompressed")

    try:
        arr = _decode(ds)
    except Exception as exc:  # any decoder failure
        raise TranscodeError(
            f"(7FE0,0010) Pixel Data cannot be decoded ({_error_reason(exc)}), so a lossless transcode "
            "cannot be verified; use compression='none' to store it as is"
        ) from exc

    ba = int(ds.get("BitsAllocated", 0))
    bs = int(ds.get("BitsStored", ba))
    pr = int(ds.get("PixelRepresentation", 0))
    spp = int(ds.get("SamplesPerPixel", 1))
    pi = str(ds.get("PhotometricInterpretation", "")).strip()

    if ba == 1:
        return as_is("none", "bit-packed pixel data ((0028,0100) Bits Allocated 1): stored uncompressed, no codec of the chain takes it", arr)
    reason = _unused_bits_reason(ds, arr)
    if reason:
        return as_is("none", f"{reason}: stored uncompressed", arr)

    notes: list[str] = []
    photometric = pi
    if pi == "YBR_FULL_422":
        photometric = "YBR_FULL"
    skipped: list[str] = []
    for opt in _chain(option):
        why = _profile_reason(opt, photometric, spp, pr, ba, bs)
        if why is None:
            try:
                data = _encode_one(ds, arr, opt, photometric, spp)
            except Exception as exc:  # noqa: BLE001 - an encoder refusing is a reason to fall back
                why = _error_reason(exc)
            else:
                _verify(data, arr, opt, header)
                if photometric != pi:
                    notes.append("YBR_FULL_422 chroma up-sampled to YBR_FULL (exact), (0028,0004) now YBR_FULL")
                notes.append(f"{opt.value}: encoded and verified bit-exact")
                return Transcoded(
                    data, str(opt.transfer_syntax), opt.value, _join(skipped + notes), _combine(header, _pixel_digest(ds, tsyntax, arr)), True
                )
        skipped.append(f"{opt.value}: {why}")
    return as_is("none", _join(skipped + ["stored uncompressed"]), arr)
