"""Where de-identified objects live: the archive.

The default back end is :class:`LocalStore`, a folder laid out by de-identified
UIDs (``objects/<Study>/<Series>/<SOPInstance>.dcm``) with atomic writes,
idempotent puts and conflict detection.  Pixel data is transcoded losslessly on
write (JPEG-LS by default; JPEG 2000 lossless, RLE or none as options) and every
transcoded object is decoded and compared with the original pixels, bit for
bit, before it is kept (:func:`transcode`).  Any back end implements the
:class:`Store` protocol: :class:`caselib.store.dicomweb.DicomwebStore` keeps the
archive on a DICOMweb server (Orthanc, dcm4chee) with the same interface;
which one an archive uses is recorded in ``ARCHIVE/store.toml`` and opened by
:func:`caselib.archive.open_store`.

This package imports pydicom, numpy and the standard library only.

Examples
--------
>>> import tempfile
>>> from pydicom import examples
>>> from caselib.store import LocalStore
>>> store = LocalStore(tempfile.mkdtemp())
>>> r = store.put(examples.ct)
>>> (r.status, r.compression, r.transfer_syntax)
('written', 'jpeg-ls', '1.2.840.10008.1.2.4.80')
>>> store.exists(examples.ct.SOPInstanceUID)
True
"""
from __future__ import annotations

from caselib.store.base import (
    InstanceKey,
    KeyLike,
    PutInput,
    PutResult,
    PutStatus,
    Store,
    StoreSize,
    copy_series_to,
    validate_uid,
)
from caselib.store.codec import (
    FALLBACK_ORDER,
    Compression,
    Transcoded,
    compute_fingerprint,
    encode_part10,
    transcode,
)
from caselib.store.errors import (
    ConflictError,
    InstanceNotFoundError,
    InvalidUIDError,
    StoreError,
    TranscodeError,
    VerificationError,
)
from caselib.store.local import PARTIAL_PREFIX, LocalStore

__all__ = [
    "FALLBACK_ORDER",
    "PARTIAL_PREFIX",
    "Compression",
    "ConflictError",
    "InstanceKey",
    "InstanceNotFoundError",
    "InvalidUIDError",
    "KeyLike",
    "LocalStore",
    "PutInput",
    "PutResult",
    "PutStatus",
    "Store",
    "StoreError",
    "StoreSize",
    "TranscodeError",
    "Transcoded",
    "VerificationError",
    "compute_fingerprint",
    "copy_series_to",
    "encode_part10",
    "transcode",
    "validate_uid",
]
