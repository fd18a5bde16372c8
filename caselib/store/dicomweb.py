"""An archive back end on a DICOMweb server (Orthanc, dcm4chee): the :class:`~caselib.store.Store` protocol over PS3.18.

The objects live on the server; the catalog (``ARCHIVE/catalog.sqlite``) and the
private area stay in the archive folder, and name objects by the same three
de-identified UIDs (:class:`~caselib.store.InstanceKey`), so the catalog, the
lessons and the viewer work unchanged on top of either back end.  This is the
path past one machine: Orthanc with PostgreSQL or dcm4chee serve millions of
instances.

=====================  ==============================================================
Store method           DICOMweb (PS3.18)
=====================  ==============================================================
``put``                lossless transcode + verification (:func:`~caselib.store.transcode`,
                       exactly as :class:`~caselib.store.LocalStore`), then STOW-RS;
                       an object already stored is compared by content fingerprint:
                       equal -> ``'unchanged'``, different -> :class:`ConflictError`
``get`` / ``open``     WADO-RS ``/studies/{s}/series/{se}/instances/{i}``
``exists``             QIDO-RS ``/instances?SOPInstanceUID=...``
``iter_instances``     QIDO-RS, sorted by study, series, SOP Instance UID
``delete``             DICOMweb has no standard instance delete that Orthanc's plugin
                       serves; with ``orthanc_api=True`` the Orthanc REST API is used
                       (``/tools/lookup`` + ``DELETE /instances/{id}``)
``size``               number of instances from QIDO-RS; bytes from Orthanc's
                       ``/statistics`` when ``orthanc_api=True``, else ``0`` (QIDO
                       reports no sizes)
=====================  ==============================================================

An archive lives on the server when ``ARCHIVE/store.toml`` says so
(:func:`caselib.archive.record_store`, ``caselib ingest SRC --archive DIR
--store NODE``): :func:`caselib.archive.open_store` then returns this store,
and ingest, ``verify_archive``, PACS pulls and pushes, case bundles and the
viewer read and write through it; nothing is kept under ``ARCHIVE/objects``.
The HTTP connection (auth from the environment, timeouts, retries) is
:class:`caselib.store._http.DicomwebConnection`; this package never imports
:mod:`caselib.pacs`.

A local archive can also be copied to a server: :func:`mirror_archive` copies
its objects (what ``caselib pacs push`` does too), and :func:`mirror_on_publish`
gives an ``on_published`` callback for :func:`caselib.ingest.ingest`, so every
object the ingest publishes is also stored on the server as it is written.

Examples
--------
>>> store = DicomwebStore.from_url("http://127.0.0.1:8042/dicom-web")   # doctest: +SKIP
>>> store.put(ds).status                                                 # doctest: +SKIP
'written'
"""
from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pydicom
from pydicom.dataset import Dataset

from caselib.store.base import (
    InstanceKey,
    KeyLike,
    PutInput,
    PutResult,
    StoreSize,
    validate_uid,
)
from caselib.store.codec import Compression, compute_fingerprint, transcode
from caselib.store.errors import (
    ConflictError,
    InstanceNotFoundError,
    PacsNotFoundError,
    StoreError,
)

__all__ = ["DicomwebStore", "mirror_archive", "mirror_on_publish"]


def _read(obj: PutInput) -> tuple[Dataset, int]:
    if isinstance(obj, Dataset):
        return obj, 0
    if isinstance(obj, (bytes, bytearray, memoryview)):
        data = bytes(obj)
        src: Any = io.BytesIO(data)
        size = len(data)
    elif isinstance(obj, (str, os.PathLike)):
        src, size = os.fspath(obj), os.path.getsize(obj)
    else:
        raise TypeError(f"put() takes a pydicom Dataset, a path or bytes, found {type(obj).__name__}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pydicom.dcmread(src), size
    except Exception as exc:
        raise StoreError(f"not a readable DICOM Part 10 object: {exc}") from exc


class DicomwebStore:
    """An archive on a DICOMweb server; implements :class:`~caselib.store.Store`.

    Parameters
    ----------
    connection : caselib.store._http.DicomwebConnection
        The server (auth, timeouts and retries come with it).
    compression : str or Compression, optional
        Lossless option of :meth:`put` (default ``'jpeg-ls'``).
    orthanc_api : bool, optional
        The server is Orthanc: use its REST API (same base URL without
        ``/dicom-web``) for :meth:`delete` and the byte count of :meth:`size`.
    """

    def __init__(self, connection: Any, *, compression: str | Compression = Compression.JPEG_LS,
                 orthanc_api: bool = False) -> None:
        self.conn = connection
        self.compression = Compression.parse(compression)
        self.orthanc_api = orthanc_api

    @classmethod
    def from_node(cls, node: Any, *, environ: dict[str, str] | None = None, **kwargs: Any) -> DicomwebStore:
        """From a :class:`~caselib.store._http.DicomwebEndpoint` or a configured :class:`caselib.pacs.PacsNode`.

        Credentials are read from the environment variables the node names, now.
        """
        from caselib.store._http import DicomwebConnection

        return cls(DicomwebConnection(node, environ=environ), **kwargs)

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> DicomwebStore:
        """From a URL alone (no login)."""
        from caselib.store._http import DicomwebEndpoint

        return cls.from_node(DicomwebEndpoint("store", url), **kwargs)

    @property
    def node_name(self) -> str:
        """The configured name of the server (as in ``ARCHIVE/store.toml`` or the PACS configuration)."""
        return str(getattr(self.conn.node, "name", self.root))

    def check(self) -> None:
        """One cheap authenticated request; raises a :class:`~caselib.store.errors.PacsError` naming the node.

        :func:`caselib.archive.open_store` calls it, so a server that is down or
        refuses the login is reported before any work starts.
        """
        self.conn.ping()

    def close(self) -> None:
        self.conn.close()

    def __repr__(self) -> str:
        return f"DicomwebStore({self.conn.url!r}, compression={self.compression.value!r})"

    @property
    def root(self) -> str:
        return str(self.conn.url)

    # ------------------------------------------------------------------ lookups

    def _find(self, sop_uid: str) -> InstanceKey | None:
        sop_uid = validate_uid(sop_uid, "SOP Instance UID")
        found = self.conn._call(lambda: self.conn.client.search_for_instances(
            search_filters={"SOPInstanceUID": sop_uid}), f"QIDO-RS lookup of {sop_uid}")
        for item in found:
            ds = Dataset.from_json(item)
            if str(ds.get("SOPInstanceUID", "")) == sop_uid:
                return InstanceKey(str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), sop_uid)
        return None

    def _resolve(self, key: KeyLike) -> InstanceKey | None:
        if isinstance(key, tuple) and len(key) == 3:
            full = InstanceKey(*key).validated()
            found = self._find(full.sop_instance_uid)
            return found if found == full else None
        return self._find(str(key))

    def _require(self, key: KeyLike) -> InstanceKey:
        full = self._resolve(key)
        if full is None:
            raise InstanceNotFoundError(f"no object {key!r} on the DICOMweb archive {self.root!r}")
        return full

    def find(self, sop_instance_uid: str) -> InstanceKey | None:
        """The full key of the object with this SOP Instance UID, or ``None``."""
        return self._find(sop_instance_uid)

    # ------------------------------------------------------------------ Store protocol

    def put(self, obj: PutInput, *, compression: str | Compression | None = None,
            replace: bool = False) -> PutResult:
        """Transcode losslessly (verified), then STOW-RS; see the module table for conflicts."""
        ds, bytes_in = _read(obj)
        key = InstanceKey.from_dataset(ds)
        option = Compression.parse(compression) if compression is not None else self.compression
        result = transcode(ds, option)
        if not bytes_in:
            bytes_in = len(result.data)
        existing = self._find(key.sop_instance_uid)
        replaced = False
        if existing is not None:
            stored = self.get(existing)
            old_fp = compute_fingerprint(stored)
            if old_fp == result.fingerprint and existing == key:
                return PutResult(self._url(key), key.sop_instance_uid, str(stored.file_meta.TransferSyntaxUID),
                                 bytes_in, 0, "unchanged", "same content already stored: nothing written",
                                 result.compression, key, result.fingerprint)
            if not replace:
                raise ConflictError(
                    f"(0008,0018) SOP Instance UID {key.sop_instance_uid} is already stored on {self.root} "
                    f"with different content (fingerprint {old_fp[:12]}..., new {result.fingerprint[:12]}...); "
                    "not written", sop_instance_uid=key.sop_instance_uid, existing=self._url(existing),
                    existing_fingerprint=old_fp, new_fingerprint=result.fingerprint)
            if not self.delete(existing):
                raise StoreError(f"cannot replace {key.sop_instance_uid} on {self.root}: delete is not available")
            replaced = True
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            encoded = pydicom.dcmread(io.BytesIO(result.data))
        stow = self.conn.store([encoded])
        if stow.failed or key.sop_instance_uid not in stow.stored:
            why = "; ".join(f"{u}: {r}" for u, r in stow.failed) or "not confirmed by the server"
            raise StoreError(f"STOW-RS of {key.sop_instance_uid} to {self.root} failed: {why}")
        note = result.note + ("; replaced the previously stored object" if replaced else "")
        return PutResult(self._url(key), key.sop_instance_uid, result.transfer_syntax, bytes_in,
                         len(result.data), "written", note, result.compression, key, result.fingerprint)

    def _url(self, key: InstanceKey) -> str:
        return (f"{self.root}/studies/{key.study_uid}/series/{key.series_uid}/instances/{key.sop_instance_uid}")

    def get(self, key: KeyLike) -> Dataset:
        """The stored object (WADO-RS), as a pydicom Dataset."""
        full = key if isinstance(key, InstanceKey) else self._require(key)
        try:
            data = self.conn.retrieve_instance_bytes(*full)
        except PacsNotFoundError:
            raise InstanceNotFoundError(f"no object {key!r} on the DICOMweb archive {self.root!r}") from None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pydicom.dcmread(io.BytesIO(data))

    def open(self, key: KeyLike) -> BinaryIO:
        """The stored Part 10 bytes, as a binary file object."""
        full = key if isinstance(key, InstanceKey) else self._require(key)
        try:
            return io.BytesIO(self.conn.retrieve_instance_bytes(*full))
        except PacsNotFoundError:
            raise InstanceNotFoundError(f"no object {key!r} on the DICOMweb archive {self.root!r}") from None

    def copy_series_to(self, study_uid: str, series_uid: str, folder: str | os.PathLike[str]) -> list[Path]:
        """Write every stored object of a series into ``folder`` as ``<SOP>.dcm`` (one WADO-RS series request)."""
        validate_uid(study_uid, "study_uid")
        validate_uid(series_uid, "series_uid")
        return self.conn.retrieve_series_to(study_uid, series_uid, Path(folder))

    def exists(self, key: KeyLike) -> bool:
        return self._resolve(key) is not None

    def iter_instances(self, study_uid: str | None = None, series_uid: str | None = None) -> Iterator[InstanceKey]:
        """Keys sorted by study, series and SOP Instance UID (as text), like :class:`LocalStore`."""
        if series_uid is not None and study_uid is None:
            raise ValueError("series_uid needs study_uid (objects are filed by study, then series)")
        if study_uid is not None:
            validate_uid(study_uid, "study_uid")
            studies = [study_uid]
        else:
            found = self.conn._call(lambda: self.conn.client.search_for_studies(get_remaining=True),
                                    "QIDO-RS study list")
            studies = sorted(str(Dataset.from_json(i).StudyInstanceUID) for i in found)
        for study in studies:
            keys = [InstanceKey(*t) for t in self.conn.search_instances(study, series_uid)]
            yield from sorted(keys)

    def delete(self, key: KeyLike) -> bool:
        """Remove the object (Orthanc REST API; see the module table); ``False`` if it was not there."""
        full = self._resolve(key)
        if full is None:
            return False
        if not self.orthanc_api:
            raise StoreError(f"{self.root}: DICOMweb offers no instance delete here; open the store with "
                             "orthanc_api=True for an Orthanc server")
        ids = self._orthanc("POST", "/tools/lookup", full.sop_instance_uid.encode())
        for item in ids or []:
            if item.get("Type") == "Instance":
                self._orthanc("DELETE", f"/instances/{item['ID']}")
        return True

    def size(self) -> StoreSize:
        n = sum(1 for _ in self.iter_instances())
        n_bytes = 0
        if self.orthanc_api:
            stats = self._orthanc("GET", "/statistics")
            n_bytes = int(stats.get("TotalDiskSize", 0)) if isinstance(stats, dict) else 0
        return StoreSize(n, n_bytes)

    def _orthanc(self, method: str, path: str, body: bytes | None = None) -> Any:
        base = self.root.rsplit("/dicom-web", 1)[0]
        session = self.conn.session

        def once() -> Any:
            resp = session.request(method, base + path, data=body,
                                   timeout=(self.conn.node.connect_timeout, self.conn.node.timeout))
            resp.raise_for_status()
            return resp.json() if resp.content else None

        return self.conn._call(once, f"Orthanc REST {method} {path}")


def mirror_archive(archive: str | os.PathLike[str], store: DicomwebStore,
                   on_put: Callable[[PutResult], None] | None = None) -> list[PutResult]:
    """Put every object of a local archive into ``store`` (idempotent: a re-run writes nothing)."""
    from caselib.store.local import LocalStore

    local = LocalStore(archive)
    out = []
    for key in local.iter_instances():
        result = store.put(local.path_for(key))
        out.append(result)
        if on_put is not None:
            on_put(result)
    return out


def mirror_on_publish(store: DicomwebStore) -> Callable[[Any], None]:
    """An ``on_published`` callback for :func:`caselib.ingest.ingest` that also stores each object on ``store``."""

    def callback(outcome: Any) -> None:
        store.put(outcome.data)

    return callback
