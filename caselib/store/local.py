"""The default archive back end: a folder of de-identified DICOM files.

Layout (deterministic, from the de-identified UIDs only)::

    root/
      objects/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm

UIDs are checked with :func:`~caselib.store.base.validate_uid` before they
become path components, so nothing outside ``root/objects`` can be named.

Writes are atomic: the bytes go to a temporary file in the destination folder
(name starting with :data:`PARTIAL_PREFIX`), are flushed and ``fsync``-ed, then
``os.replace``-d onto the final name and the folder is ``fsync``-ed.  A crash
(even ``kill -9`` or power loss) at any point leaves either the previous state
or the complete new file; never a partial ``.dcm``.  Left-over temporary files
are ignored by every read and removed by :meth:`LocalStore.cleanup_partial`.

Conflicts: a SOP Instance UID names one object.  Putting an object whose UID
is stored already compares content fingerprints
(:func:`~caselib.store.compute_fingerprint`): equal means ``'unchanged'`` (nothing
is written), different raises :class:`~caselib.store.errors.ConflictError`
(unless ``replace=True``).  The same UID under another study or series is
found through an index of SOP Instance UIDs built by scanning the folder once
per :class:`LocalStore` and kept up to date by its own puts and deletes; two
processes writing *different* series to one archive at the same time may each
miss the other's conflict (the ingest runs one writer per archive).

Examples
--------
>>> import tempfile
>>> from pydicom import examples
>>> from caselib.store import LocalStore
>>> store = LocalStore(tempfile.mkdtemp())
>>> result = store.put(examples.ct)
>>> result.status, result.compression, result.bytes_out < result.bytes_in
('written', 'jpeg-ls', True)
>>> store.put(examples.ct).status
'unchanged'
>>> store.get(examples.ct.SOPInstanceUID).PatientName == examples.ct.PatientName
True
"""
from __future__ import annotations

import io
import os
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from caselib.store.base import (
    InstanceKey,
    KeyLike,
    PutInput,
    PutResult,
    StoreSize,
    validate_uid,
)
from caselib.store.codec import (
    Compression,
    compute_fingerprint,
    encode_part10,
    transcode,
)
from caselib.store.errors import (
    ConflictError,
    InstanceNotFoundError,
    InvalidUIDError,
    StoreError,
)

__all__ = ["OBJECTS_DIR", "PARTIAL_PREFIX", "SUFFIX", "LocalStore"]

#: Name prefix of temporary files; a file with it is never a stored object.
PARTIAL_PREFIX = ".caselib-partial-"
#: Folder under the root that holds the objects.
OBJECTS_DIR = "objects"
#: File name suffix of stored objects.
SUFFIX = ".dcm"


def _fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in `path` durable (no-op where folders cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse fsync on folders
        pass
    finally:
        os.close(fd)


def _read_input(obj: PutInput) -> tuple[Dataset, int]:
    """Return the Dataset to store and the size of the input in bytes."""
    if isinstance(obj, Dataset):
        return obj, len(_encode_for_size(obj))
    if isinstance(obj, (bytes, bytearray, memoryview)):
        data = bytes(obj)
        source: object = io.BytesIO(data)
        size = len(data)
        name = "<bytes>"
    elif isinstance(obj, (str, os.PathLike)):
        path = Path(obj)
        if not path.is_file():
            raise FileNotFoundError(f"no file to put at {str(path)!r}")
        source, size, name = path, path.stat().st_size, str(path)
    else:
        raise TypeError(f"put() takes a pydicom Dataset, a path or bytes, found {type(obj).__name__}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(source)  # type: ignore[arg-type]
    except (InvalidDicomError, EOFError, ValueError, OSError) as exc:
        raise StoreError(f"{name} is not a readable DICOM Part 10 file: {exc}") from exc
    return ds, size


def _encode_for_size(ds: Dataset) -> bytes:
    """The input's own encoding (for ``bytes_in`` when a Dataset is put)."""
    try:
        return encode_part10(ds)
    except Exception:  # noqa: BLE001 - size is informative; never fail a put over it
        return b""


class LocalStore:
    """An archive in a local folder; implements :class:`~caselib.store.Store`.

    Parameters
    ----------
    root : str or os.PathLike
        The archive folder; created (with ``objects/``) if missing.
    compression : str or Compression, optional
        Default lossless option of :meth:`put`: ``'jpeg-ls'`` (default),
        ``'jpeg2000'``, ``'rle'`` or ``'none'``.
    fsync : bool, optional
        ``fsync`` files and folders on write (default ``True``).  ``False`` is
        only for throw-away archives (tests, benchmarks): a crash may then
        leave an empty or short file.

    Examples
    --------
    >>> import tempfile
    >>> from pydicom import examples
    >>> store = LocalStore(tempfile.mkdtemp(), compression="rle")
    >>> r = store.put(examples.mr)
    >>> r.compression, Path(r.path).name == examples.mr.SOPInstanceUID + ".dcm"
    ('rle', True)
    >>> [k.sop_instance_uid for k in store.iter_instances()] == [examples.mr.SOPInstanceUID]
    True
    >>> store.size().n_instances
    1
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        compression: str | Compression = Compression.JPEG_LS,
        fsync: bool = True,
    ) -> None:
        self.root = Path(root)
        self.compression = Compression.parse(compression)
        self.fsync = fsync
        self.objects = self.root / OBJECTS_DIR
        self.objects.mkdir(parents=True, exist_ok=True)
        self._sop_index: dict[str, InstanceKey] | None = None

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r}, compression={self.compression.value!r})"

    # ------------------------------------------------------------------ paths

    def path_for(self, key: InstanceKey) -> Path:
        """Return where the object with `key` lives (whether or not it exists).

        Raises
        ------
        InvalidUIDError
            If a UID of `key` is not a valid DICOM UID.

        Examples
        --------
        >>> store = LocalStore(tempfile.mkdtemp())
        >>> store.path_for(InstanceKey("1.2", "1.2.3", "1.2.3.4")).relative_to(store.root).as_posix()
        'objects/1.2/1.2.3/1.2.3.4.dcm'
        """
        k = InstanceKey(*key).validated()
        return self.objects / k.study_uid / k.series_uid / f"{k.sop_instance_uid}{SUFFIX}"

    def _index(self) -> dict[str, InstanceKey]:
        if self._sop_index is None:
            self._sop_index = {k.sop_instance_uid: k for k in self._scan()}
        return self._sop_index

    def _scan(self, study_uid: str | None = None, series_uid: str | None = None) -> Iterator[InstanceKey]:
        studies = [study_uid] if study_uid else sorted(_names(self.objects, dirs=True))
        for study in studies:
            study_dir = self.objects / study
            if not study_dir.is_dir():
                continue
            series_list = [series_uid] if series_uid else sorted(_names(study_dir, dirs=True))
            for series in series_list:
                series_dir = study_dir / series
                if not series_dir.is_dir():
                    continue
                for name in sorted(_names(series_dir, dirs=False)):
                    yield InstanceKey(study, series, name[: -len(SUFFIX)])

    def _resolve(self, key: KeyLike) -> InstanceKey | None:
        """Return the full key of `key` (a key, or a SOP Instance UID), or ``None`` if unknown."""
        if isinstance(key, InstanceKey):
            return key.validated()
        if isinstance(key, tuple) and len(key) == 3:
            return InstanceKey(*key).validated()
        sop = validate_uid(key, "SOP Instance UID")
        found = self._index().get(sop)
        if found is not None and self.path_for(found).is_file():
            return found
        return None

    def _require(self, key: KeyLike) -> Path:
        full = self._resolve(key)
        path = self.path_for(full) if full is not None else None
        if path is None or not path.is_file():
            raise InstanceNotFoundError(f"no object {key!r} in the archive at {str(self.root)!r}")
        return path

    # ------------------------------------------------------------------ Store protocol

    def put(
        self,
        obj: PutInput,
        *,
        compression: str | Compression | None = None,
        replace: bool = False,
    ) -> PutResult:
        """Store one de-identified object, losslessly transcoded and verified, atomically.

        Parameters
        ----------
        obj : pydicom.dataset.Dataset, str, os.PathLike or bytes
            The object, or a path to / the bytes of a DICOM Part 10 file.
            A Dataset is not modified.
        compression : str or Compression, optional
            Lossless option for this object; default: the store's.
        replace : bool, optional
            If ``True``, a *different* object with the same SOP Instance UID
            replaces the stored one (atomically) instead of raising
            :class:`ConflictError`.

        Returns
        -------
        PutResult
            ``status='written'`` or ``'unchanged'`` (same content already stored;
            nothing written), with the sizes in and out and a note.

        Raises
        ------
        ConflictError
            A different object with this SOP Instance UID is stored (under any
            study or series) and `replace` is false.
        InvalidUIDError
            A Study, Series, SOP Instance or SOP Class UID is missing or invalid.
        VerificationError
            The transcoded object did not decode to the original pixels;
            nothing was written.
        TranscodeError, StoreError
            The object cannot be read or its pixel data cannot be decoded.

        Examples
        --------
        >>> from pydicom import examples
        >>> store = LocalStore(tempfile.mkdtemp())
        >>> store.put(examples.rt_plan).note
        'no pixel data: stored as is'
        """
        ds, bytes_in = _read_input(obj)
        key = InstanceKey.from_dataset(ds)
        option = Compression.parse(compression) if compression is not None else self.compression
        path = self.path_for(key)

        existing_key = self._index().get(key.sop_instance_uid)
        if existing_key is not None and not self.path_for(existing_key).is_file():
            existing_key = None
        if existing_key is None and path.is_file():
            existing_key = key
        if existing_key is not None:
            existing_path = self.path_for(existing_key)
            new_fp = compute_fingerprint(ds)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                stored = pydicom.dcmread(existing_path)
            old_fp = compute_fingerprint(stored)
            if old_fp == new_fp and existing_key == key:
                return PutResult(
                    str(existing_path),
                    key.sop_instance_uid,
                    str(stored.file_meta.TransferSyntaxUID),
                    bytes_in,
                    existing_path.stat().st_size,
                    "unchanged",
                    "same content already stored: nothing written",
                    _label_for(str(stored.file_meta.TransferSyntaxUID)),
                    key,
                    new_fp,
                )
            if not replace:
                where = "" if existing_key == key else (
                    f" under study {existing_key.study_uid}, series {existing_key.series_uid}"
                    f" (the new object names study {key.study_uid}, series {key.series_uid})"
                )
                raise ConflictError(
                    f"(0008,0018) SOP Instance UID {key.sop_instance_uid} is already stored{where} "
                    f"at {str(existing_path)!r} with different content (fingerprint {old_fp[:12]}..., "
                    f"new {new_fp[:12]}...); not written",
                    sop_instance_uid=key.sop_instance_uid,
                    existing=str(existing_path),
                    existing_fingerprint=old_fp,
                    new_fingerprint=new_fp,
                )

        result = transcode(ds, option)
        self._write_atomic(path, result.data)
        note = result.note
        if existing_key is not None:
            if existing_key != key:
                self._unlink(self.path_for(existing_key))
            note = f"{note}; replaced the previously stored object"
        self._index()[key.sop_instance_uid] = key
        return PutResult(
            str(path),
            key.sop_instance_uid,
            result.transfer_syntax,
            bytes_in,
            len(result.data),
            "written",
            note,
            result.compression,
            key,
            result.fingerprint,
        )

    def get(self, key: KeyLike) -> Dataset:
        """Return the stored object as a pydicom Dataset.

        Raises
        ------
        InstanceNotFoundError
            If the archive holds no such object.
        """
        path = self._require(key)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pydicom.dcmread(path)

    def open(self, key: KeyLike) -> BinaryIO:
        """Return the stored Part 10 file opened for binary reading (close it, or use ``with``)."""
        return self._require(key).open("rb")

    def exists(self, key: KeyLike) -> bool:
        """Return whether the archive holds the object (`key` or SOP Instance UID)."""
        full = self._resolve(key)
        return full is not None and self.path_for(full).is_file()

    def find(self, sop_instance_uid: str) -> InstanceKey | None:
        """Return the full key of the object with this SOP Instance UID, or ``None``."""
        return self._resolve(sop_instance_uid)

    def iter_instances(
        self, study_uid: str | None = None, series_uid: str | None = None
    ) -> Iterator[InstanceKey]:
        """Yield the keys of stored objects sorted by study, series and SOP Instance UID (as text).

        Temporary files of interrupted writes are never yielded.

        Parameters
        ----------
        study_uid, series_uid : str, optional
            Restrict to one study, or one series (`series_uid` needs `study_uid`).
        """
        if series_uid is not None and study_uid is None:
            raise ValueError("series_uid needs study_uid (objects are filed by study, then series)")
        if study_uid is not None:
            validate_uid(study_uid, "study_uid")
        if series_uid is not None:
            validate_uid(series_uid, "series_uid")
        yield from self._scan(study_uid, series_uid)

    def delete(self, key: KeyLike) -> bool:
        """Remove the object; return ``False`` if it was not there.

        Empty series and study folders are removed too.
        """
        full = self._resolve(key)
        if full is None:
            return False
        path = self.path_for(full)
        if not path.is_file():
            return False
        self._unlink(path)
        self._index().pop(full.sop_instance_uid, None)
        return True

    def size(self) -> StoreSize:
        """Return the number of stored objects and their total size in bytes."""
        n = total = 0
        for key in self._scan():
            try:
                total += self.path_for(key).stat().st_size
            except FileNotFoundError:  # deleted meanwhile
                continue
            n += 1
        return StoreSize(n, total)

    # ------------------------------------------------------------------ crash safety

    def cleanup_partial(self, *, min_age: float = 0.0) -> list[Path]:
        """Remove temporary files left by interrupted writes; return what was removed.

        Parameters
        ----------
        min_age : float, optional
            Only remove files not modified for this many seconds.  The default
            ``0`` removes all, which is right when no other process writes to
            the archive; pass e.g. ``3600`` when one might.

        Examples
        --------
        >>> store = LocalStore(tempfile.mkdtemp())
        >>> _ = (store.objects / (PARTIAL_PREFIX + "x.tmp")).write_bytes(b"half")
        >>> [p.name for p in store.cleanup_partial()]
        ['.caselib-partial-x.tmp']
        """
        removed: list[Path] = []
        now = time.time()
        for dirpath, _dirnames, filenames in os.walk(self.objects):
            for name in filenames:
                if not name.startswith(PARTIAL_PREFIX):
                    continue
                path = Path(dirpath) / name
                try:
                    if min_age and now - path.stat().st_mtime < min_age:
                        continue
                    path.unlink()
                except FileNotFoundError:
                    continue
                removed.append(path)
        return sorted(removed)

    def _write_atomic(self, path: Path, data: bytes) -> None:
        """Write `data` to `path` so that a crash leaves the old state or the whole new file."""
        folder = path.parent
        created = _makedirs(folder, stop=self.objects)
        fd, tmp_name = tempfile.mkstemp(prefix=PARTIAL_PREFIX, suffix=".tmp", dir=folder)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as fh:
                _write_all(fh, data)
                fh.flush()
                if self.fsync:
                    os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                tmp.unlink()
            except FileNotFoundError:
                pass
            raise
        if self.fsync:
            _fsync_dir(folder)
            for parent in created:
                _fsync_dir(parent)

    def _unlink(self, path: Path) -> None:
        try:
            path.unlink()
        except FileNotFoundError:
            return
        if self.fsync:
            _fsync_dir(path.parent)
        for folder in (path.parent, path.parent.parent):
            if folder == self.objects:
                break
            try:
                folder.rmdir()  # only if empty
            except OSError:
                break


def _label_for(tsyntax: str) -> str:
    """The compression label of a stored object, from its transfer syntax."""
    for option in Compression:
        if option.transfer_syntax == tsyntax:
            return option.value
    native = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.2"}
    return "none" if tsyntax in native else "as-is"


def _write_all(fh: BinaryIO, data: bytes) -> None:
    """Write `data` in chunks (a seam the crash tests patch)."""
    view = memoryview(data)
    chunk = 1 << 20
    fh.writelines(view[start : start + chunk] for start in range(0, len(view), chunk))


def _names(folder: Path, *, dirs: bool) -> Iterator[str]:
    """UID-named sub-folders (`dirs`) or ``<UID>.dcm`` files of `folder`.

    Anything else (temporary files, which start with a dot, or stray files a
    person dropped in) is not an object of the archive and is skipped.
    """
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return
    for entry in entries:
        name = entry.name
        if entry.is_dir(follow_symlinks=False) != dirs:
            continue
        uid = name if dirs else (name[: -len(SUFFIX)] if name.endswith(SUFFIX) else "")
        if _is_uid(uid):
            yield name


def _is_uid(text: str) -> bool:
    try:
        validate_uid(text)
    except InvalidUIDError:
        return False
    return True


def _makedirs(folder: Path, *, stop: Path) -> list[Path]:
    """Create `folder` and missing parents up to `stop`; return the parents whose entries changed."""
    missing: list[Path] = []
    current = folder
    while current != stop and not current.is_dir():
        missing.append(current)
        current = current.parent
    folder.mkdir(parents=True, exist_ok=True)
    return [m.parent for m in reversed(missing)]
