"""What every archive back end shares: keys, results, UID checks and the :class:`Store` protocol.

An object in the archive is addressed by its three de-identified UIDs,
:class:`InstanceKey` ``(study_uid, series_uid, sop_instance_uid)``: the same
triple that DICOMweb uses (``/studies/{s}/series/{se}/instances/{i}``, PS3.18
§10.4), so a DICOMweb back end can implement :class:`Store` unchanged.

Examples
--------
>>> from caselib.store.base import InstanceKey, validate_uid
>>> validate_uid("2.25.1234", "(0008,0018) SOP Instance UID")
'2.25.1234'
>>> InstanceKey("1.2.3", "1.2.3.4", "1.2.3.4.5").sop_instance_uid
'1.2.3.4.5'
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from os import PathLike
from typing import (
    TYPE_CHECKING,
    BinaryIO,
    Literal,
    NamedTuple,
    Protocol,
    Union,
    runtime_checkable,
)

from caselib.store.errors import InvalidUIDError

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = [
    "InstanceKey",
    "KeyLike",
    "PutInput",
    "PutResult",
    "PutStatus",
    "Store",
    "StoreSize",
    "copy_series_to",
    "validate_uid",
]

#: A DICOM UID per PS3.5 §9.1: components of digits without leading zeros
#: (``0`` alone is allowed), separated by single dots, at most 64 characters.
_UID_RE = re.compile(r"(?:0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*))*")
_UID_MAX = 64

PutStatus = Literal["written", "unchanged"]


def validate_uid(value: object, what: str = "UID") -> str:
    """Return `value` if it is a valid DICOM UID, else raise :class:`InvalidUIDError`.

    UIDs become folder and file names in a :class:`~caselib.store.LocalStore`,
    so this check is also what keeps paths safe: a valid UID has no ``/``,
    no ``..`` and no leading dot.

    Parameters
    ----------
    value : object
        The candidate UID (normally a ``str``; pydicom's ``UID`` is one).
    what : str, optional
        How to name the value in the error message, e.g.
        ``"(0020,000D) Study Instance UID"``.

    Returns
    -------
    str
        `value` as a plain ``str``.

    Raises
    ------
    InvalidUIDError
        If `value` is empty, longer than 64 characters, or has anything but
        digits and single dots, an empty component or a leading zero
        (DICOM PS3.5 §9.1).

    Examples
    --------
    >>> validate_uid("1.2.840.10008.5.1.4.1.1.2")
    '1.2.840.10008.5.1.4.1.1.2'
    >>> validate_uid("1.2..3", "(0020,000E) Series Instance UID")
    Traceback (most recent call last):
    ...
    caselib.store.errors.InvalidUIDError: (0020,000E) Series Instance UID must be a DICOM UID (digits and single dots, no leading zeros, at most 64 characters; PS3.5 §9.1), found '1.2..3'
    """
    if not isinstance(value, str) or not value:
        raise InvalidUIDError(f"{what} is missing or empty, found {value!r}")
    text = str(value)
    if len(text) > _UID_MAX or not _UID_RE.fullmatch(text):
        shown = text if len(text) <= 80 else text[:77] + "..."
        raise InvalidUIDError(
            f"{what} must be a DICOM UID (digits and single dots, no leading zeros, "
            f"at most 64 characters; PS3.5 §9.1), found {shown!r}"
            + (f" ({len(text)} characters)" if len(text) > _UID_MAX else "")
        )
    return text


class InstanceKey(NamedTuple):
    """The address of one object in an archive: its three UIDs.

    Build it with :meth:`from_dataset` (which validates the UIDs) or directly
    from strings (validated when a store uses it).

    Examples
    --------
    >>> from pydicom import Dataset
    >>> ds = Dataset()
    >>> ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = "1.2", "1.2.3", "1.2.3.4"
    >>> InstanceKey.from_dataset(ds)
    InstanceKey(study_uid='1.2', series_uid='1.2.3', sop_instance_uid='1.2.3.4')
    """

    study_uid: str
    series_uid: str
    sop_instance_uid: str

    @classmethod
    def from_dataset(cls, ds: Dataset) -> InstanceKey:
        """Return the key of `ds`, raising :class:`InvalidUIDError` for a missing or bad UID."""
        return cls(
            validate_uid(ds.get("StudyInstanceUID"), "(0020,000D) Study Instance UID"),
            validate_uid(ds.get("SeriesInstanceUID"), "(0020,000E) Series Instance UID"),
            validate_uid(ds.get("SOPInstanceUID"), "(0008,0018) SOP Instance UID"),
        )

    def validated(self) -> InstanceKey:
        """Return this key after checking all three UIDs (raises :class:`InvalidUIDError`)."""
        return InstanceKey(
            validate_uid(self.study_uid, "study_uid"),
            validate_uid(self.series_uid, "series_uid"),
            validate_uid(self.sop_instance_uid, "sop_instance_uid"),
        )


#: Where an object is looked up: its full key, or just its SOP Instance UID.
KeyLike = InstanceKey | str

#: What :meth:`Store.put` accepts: a pydicom Dataset, a path to a DICOM
#: Part 10 file, or the bytes of one.
PutInput = Union["Dataset", str, "PathLike[str]", bytes]


@dataclass(frozen=True)
class PutResult:
    """What :meth:`Store.put` did with one object; the ingest report sums these.

    Attributes
    ----------
    path : str
        Where the object lives: a file path for :class:`~caselib.store.LocalStore`
        (a URL for a DICOMweb back end).
    sop_instance_uid : str
        (0008,0018) SOP Instance UID of the object.
    transfer_syntax : str
        (0002,0010) Transfer Syntax UID of the stored object.
    bytes_in : int
        Size of the object as given to ``put`` (file size, or its encoding
        when a Dataset was given).
    bytes_out : int
        Size of the stored file.
    status : {'written', 'unchanged'}
        ``'written'``: a new file was stored (or replaced one, with
        ``replace=True``); ``'unchanged'``: the same object was already stored,
        nothing was written.
    note : str
        Why the object was stored the way it was: the compression used, and
        for every option that was skipped, the reason (e.g. ``"jpeg-ls: (0028,0100)
        Bits Allocated 32 not supported"``).  Empty when nothing is worth saying.
    compression : str
        The option actually applied: ``'jpeg-ls'``, ``'jpeg2000'``, ``'rle'``,
        ``'none'`` (uncompressed) or ``'as-is'`` (pixel data kept exactly as
        received, e.g. already compressed, or no pixel data).
    key : InstanceKey or None
        The object's three UIDs.
    fingerprint : str
        Content fingerprint (:func:`caselib.store.compute_fingerprint`) used
        to tell an identical object from a conflicting one.

    Examples
    --------
    >>> r = PutResult("/a/b.dcm", "1.2", "1.2.840.10008.1.2.4.80", 1000, 400, "written", "")
    >>> round(r.ratio, 2)
    2.5
    """

    path: str
    sop_instance_uid: str
    transfer_syntax: str
    bytes_in: int
    bytes_out: int
    status: PutStatus
    note: str = ""
    compression: str = ""
    key: InstanceKey | None = None
    fingerprint: str = ""

    @property
    def ratio(self) -> float:
        """``bytes_in / bytes_out`` (``0.0`` when nothing is stored)."""
        return self.bytes_in / self.bytes_out if self.bytes_out else 0.0


class StoreSize(NamedTuple):
    """How much an archive holds.

    Examples
    --------
    >>> StoreSize(n_instances=2, n_bytes=1024)
    StoreSize(n_instances=2, n_bytes=1024)
    """

    n_instances: int
    n_bytes: int


@runtime_checkable
class Store(Protocol):
    """The interface every archive back end implements.

    :class:`~caselib.store.LocalStore` (a folder) is the default; a DICOMweb
    back end (STOW-RS / WADO-RS / QIDO-RS, PS3.18) can implement the same
    methods.  ``key`` arguments accept an :class:`InstanceKey` or a SOP
    Instance UID alone.

    Examples
    --------
    >>> from caselib.store import LocalStore, Store
    >>> import tempfile
    >>> isinstance(LocalStore(tempfile.mkdtemp()), Store)
    True
    """

    def put(
        self, obj: PutInput, *, compression: str | None = None, replace: bool = False
    ) -> PutResult:
        """Store one de-identified object (transcoded losslessly); see :class:`PutResult`."""
        ...

    def get(self, key: KeyLike) -> Dataset:
        """Return the stored object as a pydicom Dataset."""
        ...

    def open(self, key: KeyLike) -> BinaryIO:
        """Return the stored Part 10 file, opened for binary reading."""
        ...

    def exists(self, key: KeyLike) -> bool:
        """Return whether the archive holds the object."""
        ...

    def iter_instances(
        self, study_uid: str | None = None, series_uid: str | None = None
    ) -> Iterator[InstanceKey]:
        """Yield the keys of stored objects, optionally of one study or series, in a stable order."""
        ...

    def delete(self, key: KeyLike) -> bool:
        """Remove the object; return ``False`` if it was not there."""
        ...

    def size(self) -> StoreSize:
        """Return the number of objects and bytes held."""
        ...


def copy_series_to(store: Store, study_uid: str, series_uid: str, folder: str | PathLike[str]) -> list[str]:
    """Write every stored object of one series into ``folder`` as ``<SOP Instance UID>.dcm``; return the paths.

    For readers that need files (:func:`caselib.dicom.read`) when the archive
    is not a local folder.  A back end with a faster way (one WADO-RS series
    request) provides its own ``copy_series_to(study_uid, series_uid, folder)``;
    otherwise each object is read through :meth:`Store.open`.
    """
    import os

    own = getattr(store, "copy_series_to", None)
    if own is not None:
        return [str(p) for p in own(study_uid, series_uid, folder)]
    os.makedirs(folder, exist_ok=True)
    out = []
    for key in store.iter_instances(study_uid, series_uid):
        path = os.path.join(os.fspath(folder), f"{validate_uid(key.sop_instance_uid, 'SOP Instance UID')}.dcm")
        with store.open(key) as fh, open(path, "wb") as dest:
            dest.write(fh.read())
        out.append(path)
    return out
