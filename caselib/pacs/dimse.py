"""DIMSE networking (PS3.7, PS3.4) for PACS without DICOMweb, with ``pynetdicom``.

- :func:`echo` (C-ECHO), :func:`find_studies` (C-FIND, Study Root, STUDY level);
- :func:`move_study` (C-MOVE to caselib's own receiver) and :func:`get_study`
  (C-GET: the objects come back on the same association, no port to open);
- :func:`store_files` (C-STORE SCU: push);
- :class:`StoreReceiver`: a C-STORE SCP that accepts objects only from allowed
  calling AE titles (``require_calling_aet``), checks the called AE title, and
  hands each received object's bytes (as sent, with File Meta) to a callback.

Associations that are rejected (wrong AE title, unknown peer) raise
:class:`~caselib.pacs.errors.AssociationRejectedError` at once; peers that do
not answer raise :class:`~caselib.pacs.errors.PacsConnectionError`, which the
callers retry with backoff.
"""
from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset

from caselib.pacs.config import LocalNode, PacsNode
from caselib.pacs.errors import (
    AssociationRejectedError,
    PacsConnectionError,
    PacsError,
    PacsNotFoundError,
    PacsTransferError,
)
from caselib.pacs.query import StudyMatch, StudyQuery
from caselib.pacs.retry import call_with_retries

__all__ = ["RetrieveResult", "StoreReceiver", "echo", "find_studies", "get_study", "move_study", "store_files"]

log = logging.getLogger("caselib.pacs")

_STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
_STUDY_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.2.2"
_STUDY_ROOT_GET = "1.2.840.10008.5.1.4.1.2.2.3"
_VERIFICATION = "1.2.840.10008.1.1"


@dataclass
class RetrieveResult:
    """Sub-operation counts of a C-MOVE / C-GET (PS3.4 C.4.2.1.5)."""

    completed: int = 0
    failed: int = 0
    warning: int = 0
    received: list[Path] = field(default_factory=list)
    status: int = 0


def _ae(local: LocalNode, node: PacsNode) -> Any:
    from pynetdicom import AE

    ae = AE(ae_title=local.ae_title)
    ae.acse_timeout = node.timeout
    ae.dimse_timeout = node.timeout
    ae.network_timeout = node.timeout
    ae.connection_timeout = node.connect_timeout
    ae.maximum_pdu_size = 0  # no limit on what we receive (the default 16 kB splits a CT slice into ~30 PDUs)
    return ae


@contextmanager
def _associate(ae: Any, node: PacsNode, what: str, **kwargs: Any) -> Iterator[Any]:
    called, host, port = node.require_dimse()
    assoc = ae.associate(host, port, ae_title=called, **kwargs)
    if not assoc.is_established:
        where = (f"{what}: PACS {node.name!r} ({called}@{host}:{port}, calling AE {ae.ae_title})")
        if assoc.is_rejected:
            raise AssociationRejectedError(f"{where} rejected the association; check that the called AE title "
                                           f"{called!r} is right and that {ae.ae_title!r} is a known peer of the PACS")
        raise PacsConnectionError(f"{where}: no association (connection refused, aborted or timed out)")
    try:
        yield assoc
    finally:
        if assoc.is_established:
            assoc.release()


def _check_context(assoc: Any, abstract: str, node: PacsNode, what: str) -> None:
    if not any(cx.abstract_syntax == abstract for cx in assoc.accepted_contexts):
        raise AssociationRejectedError(f"{what}: PACS {node.name!r} accepted no presentation context for {abstract}")


def _lost(assoc: Any, node: PacsNode, what: str) -> PacsConnectionError:
    return PacsConnectionError(f"{what}: the association with PACS {node.name!r} was aborted or timed out")


def echo(node: PacsNode, local: LocalNode | None = None) -> None:
    """C-ECHO the node; raises on rejection, no answer or a failure status."""
    local = local or LocalNode()

    def once() -> None:
        ae = _ae(local, node)
        ae.add_requested_context(_VERIFICATION)
        with _associate(ae, node, "C-ECHO") as assoc:
            status = assoc.send_c_echo()
            if not status or "Status" not in status:
                raise _lost(assoc, node, "C-ECHO")
            if status.Status != 0:
                raise PacsError(f"C-ECHO: PACS {node.name!r} answered status {status.Status:#06x}")

    call_with_retries(once, node.retry_policy, f"C-ECHO {node.name}")


def find_studies(node: PacsNode, query: StudyQuery, local: LocalNode | None = None) -> list[StudyMatch]:
    """C-FIND (Study Root, STUDY level) with the keys of ``query``."""
    local = local or LocalNode()

    def once() -> list[StudyMatch]:
        ae = _ae(local, node)
        ae.add_requested_context(_STUDY_ROOT_FIND)
        out: list[StudyMatch] = []
        with _associate(ae, node, "C-FIND") as assoc:
            _check_context(assoc, _STUDY_ROOT_FIND, node, "C-FIND")
            for status, identifier in assoc.send_c_find(query.to_identifier(), _STUDY_ROOT_FIND):
                if not status:
                    raise _lost(assoc, node, "C-FIND")
                code = int(status.Status)
                if code in (0xFF00, 0xFF01) and identifier is not None:
                    out.append(StudyMatch.from_dataset(identifier))
                elif code not in (0x0000, 0xFF00, 0xFF01):
                    raise PacsError(f"C-FIND: PACS {node.name!r} answered status {code:#06x}")
        return out

    return call_with_retries(once, node.retry_policy, f"C-FIND {node.name}")


def _study_identifier(study_uid: str) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.StudyInstanceUID = study_uid
    return ds


def _final(result: RetrieveResult, status: Dataset, identifier: Dataset | None) -> None:
    result.status = int(status.Status)
    for attr, keyword in (("completed", "NumberOfCompletedSuboperations"),
                          ("failed", "NumberOfFailedSuboperations"),
                          ("warning", "NumberOfWarningSuboperations")):
        value = status.get(keyword)
        if value is not None:
            setattr(result, attr, int(value))


def move_study(node: PacsNode, study_uid: str, local: LocalNode, *, destination: str | None = None) -> RetrieveResult:
    """Ask the node to C-MOVE a study to ``destination`` (default: ``local.ae_title``).

    The node must know the destination AE title (its host and port): that is
    PACS configuration (Orthanc: ``DicomModalities``).  Start a
    :class:`StoreReceiver` first.
    """
    destination = destination or local.ae_title

    def once() -> RetrieveResult:
        ae = _ae(local, node)
        ae.add_requested_context(_STUDY_ROOT_MOVE)
        result = RetrieveResult()
        with _associate(ae, node, "C-MOVE") as assoc:
            _check_context(assoc, _STUDY_ROOT_MOVE, node, "C-MOVE")
            for status, identifier in assoc.send_c_move(_study_identifier(study_uid), destination, _STUDY_ROOT_MOVE):
                if not status:
                    raise _lost(assoc, node, "C-MOVE")
                _final(result, status, identifier)
        return _judge(result, node, study_uid, "C-MOVE", destination)

    return call_with_retries(once, node.retry_policy, f"C-MOVE {node.name}")


def _judge(result: RetrieveResult, node: PacsNode, study_uid: str, what: str, destination: str = "") -> RetrieveResult:
    code = result.status
    if code in (0x0000, 0xB000):
        if code == 0 and result.completed == 0 and result.failed == 0:
            raise PacsNotFoundError(f"{what}: PACS {node.name!r} has no study {study_uid} (0 sub-operations)")
        return result
    if code == 0xA801:
        raise AssociationRejectedError(f"{what}: PACS {node.name!r} does not know the move destination "
                                       f"{destination!r} (status 0xA801); add it to the PACS's list of peers")
    if code in (0xA701, 0xA702):
        raise PacsTransferError(f"{what}: PACS {node.name!r} is out of resources (status {code:#06x})")
    if code == 0xA900 or code == 0xC000 or (code & 0xF000) == 0xC000:
        if result.completed == 0 and result.failed == 0:
            raise PacsNotFoundError(f"{what}: PACS {node.name!r} has no study {study_uid} that it can "
                                    f"retrieve (status {code:#06x}, no sub-operation)")
    raise PacsTransferError(f"{what}: PACS {node.name!r} ended with status {code:#06x}: {result.completed} "
                            f"completed, {result.failed} failed, {result.warning} warning")


def _storage_contexts(limit: int = 120) -> list[Any]:
    from pynetdicom import StoragePresentationContexts

    return list(StoragePresentationContexts)[:limit]


def get_study(node: PacsNode, study_uid: str, folder: Path, local: LocalNode | None = None) -> RetrieveResult:
    """C-GET a study; the objects come back on the same association and are written into ``folder``."""
    from pynetdicom import build_role, evt

    local = local or LocalNode()
    folder.mkdir(parents=True, exist_ok=True)

    def once() -> RetrieveResult:
        ae = _ae(local, node)
        ae.add_requested_context(_STUDY_ROOT_GET)
        contexts = _storage_contexts(126)
        roles = []
        for cx in contexts:
            if cx.abstract_syntax is None:
                continue
            ae.add_requested_context(cx.abstract_syntax, _TRANSFER_SYNTAXES)
            roles.append(build_role(cx.abstract_syntax, scp_role=True))
        result = RetrieveResult()

        def on_store(event: Any) -> int:
            result.received.append(_write_received(event, folder))
            return 0x0000

        with _associate(ae, node, "C-GET", ext_neg=roles, evt_handlers=[(evt.EVT_C_STORE, on_store)]) as assoc:
            _check_context(assoc, _STUDY_ROOT_GET, node, "C-GET")
            for status, identifier in assoc.send_c_get(_study_identifier(study_uid), _STUDY_ROOT_GET):
                if not status:
                    raise _lost(assoc, node, "C-GET")
                _final(result, status, identifier)
        return _judge(result, node, study_uid, "C-GET")

    return call_with_retries(once, node.retry_policy, f"C-GET {node.name}")


def store_files(node: PacsNode, files: Iterable[Path], local: LocalNode | None = None,
                on_sent: Callable[[Path, bool], None] | None = None) -> tuple[list[Path], list[tuple[Path, str]]]:
    """C-STORE ``files`` to the node on one association; return (stored, [(failed, reason)])."""
    import pydicom

    local = local or LocalNode()
    files = list(files)
    headers = []
    for f in files:
        ds = pydicom.dcmread(f, stop_before_pixels=True)
        headers.append((f, str(ds.SOPClassUID), str(ds.file_meta.TransferSyntaxUID)))
    stored: list[Path] = []
    failed: list[tuple[Path, str]] = []
    if not files:
        return stored, failed

    def once() -> None:
        ae = _ae(local, node)
        pairs = sorted({(sop_class, ts) for _, sop_class, ts in headers})
        for sop_class in sorted({p[0] for p in pairs}):
            syntaxes = sorted({ts for c, ts in pairs if c == sop_class} | {"1.2.840.10008.1.2.1"})
            ae.add_requested_context(sop_class, syntaxes)
        done = {p for p in stored} | {p for p, _ in failed}
        with _associate(ae, node, "C-STORE") as assoc:
            for path, sop_class, ts in headers:
                if path in done:
                    continue
                ds = pydicom.dcmread(path)
                accepted = {cx.transfer_syntax[0] for cx in assoc.accepted_contexts if cx.abstract_syntax == sop_class}
                if ts not in accepted and "1.2.840.10008.1.2.1" in accepted:
                    ds.decompress()  # the PACS does not take the stored (compressed) syntax
                elif ts not in accepted:
                    failed.append((path, f"PACS {node.name!r} accepted no transfer syntax for {sop_class}"))
                    continue
                status = assoc.send_c_store(ds)
                if not status:
                    raise _lost(assoc, node, "C-STORE")
                code = int(status.Status)
                if code in (0x0000, 0xB000, 0xB007, 0xB006):
                    stored.append(path)
                    ok = True
                else:
                    failed.append((path, f"status {code:#06x}"))
                    ok = False
                if on_sent is not None:
                    on_sent(path, ok)

    call_with_retries(once, node.retry_policy, f"C-STORE {node.name}")
    return stored, failed


# --------------------------------------------------------------------------- receiver

_TRANSFER_SYNTAXES = [
    "1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81",
    "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91",
    "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.1.99",
    "1.2.840.10008.1.2.2",
]


def _write_received(event: Any, folder: Path) -> Path:
    """Write one received object (bytes as sent, File Meta added) as ``folder/<SOP>.dcm``, atomically."""
    from caselib.store import validate_uid

    data = event.encoded_dataset(include_meta=True)
    sop = validate_uid(str(event.request.AffectedSOPInstanceUID), "(0000,1000) Affected SOP Instance UID")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{sop}.dcm"
    tmp = folder / f".{sop}.{threading.get_ident()}.part"
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)
    return path


class StoreReceiver:
    """A C-STORE SCP on ``host:port`` that accepts objects only from ``allowed_ae`` calling AE titles.

    Parameters
    ----------
    ae_title : str
        Our AE title; associations calling another title are rejected.
    allowed_ae : iterable of str
        Calling AE titles that may send (an empty list refuses everyone).
    folder_for : callable
        ``association -> Path``: where the objects of that association go.
    on_association_end : callable, optional
        ``(association, [paths]) -> None``, called once an association is
        released or aborted, with the files it delivered (e.g. to ingest them).
    host, port : str, int
        Where to listen (port 0: a free port, see :attr:`port`).
    """

    def __init__(self, ae_title: str, allowed_ae: Iterable[str], folder_for: Callable[[Any], Path], *,
                 on_association_end: Callable[[Any, list[Path]], None] | None = None,
                 host: str = "127.0.0.1", port: int = 0, timeout: float = 30.0) -> None:
        self.ae_title = ae_title
        self.allowed_ae = tuple(allowed_ae)
        if not self.allowed_ae:
            raise ValueError("a receiver needs at least one allowed calling AE title (local.allowed_ae or --allow)")
        self.folder_for = folder_for
        self.on_association_end = on_association_end
        self.host = host
        self.port = port
        self.timeout = timeout
        self._server: Any = None
        self._files: dict[int, list[Path]] = {}
        self._lock = threading.Lock()
        self.received = 0
        self.refused_associations = 0

    def _handle_store(self, event: Any) -> int:
        try:
            path = _write_received(event, self.folder_for(event.assoc))
        except Exception as exc:  # noqa: BLE001 - answer "cannot understand" instead of dying
            log.error("receiver: cannot keep an object: %s", exc)
            return 0xC210
        with self._lock:
            self._files.setdefault(id(event.assoc), []).append(path)
            self.received += 1
        return 0x0000

    def _handle_end(self, event: Any) -> None:
        with self._lock:
            files = self._files.pop(id(event.assoc), [])
        if self.on_association_end is not None and files:
            self.on_association_end(event.assoc, files)

    def _handle_rejected(self, event: Any) -> None:
        self.refused_associations += 1
        log.warning("receiver: association refused from %s (calling AE %r)",
                    event.assoc.requestor.address, event.assoc.requestor.ae_title)

    def start(self) -> StoreReceiver:
        from pynetdicom import AE, AllStoragePresentationContexts, evt

        ae = AE(ae_title=self.ae_title)
        ae.require_called_aet = True
        ae.require_calling_aet = list(self.allowed_ae)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = self.timeout
        ae.maximum_associations = 8
        ae.maximum_pdu_size = 0  # no limit on what we receive
        for cx in AllStoragePresentationContexts:
            if cx.abstract_syntax is not None:
                ae.add_supported_context(cx.abstract_syntax, _TRANSFER_SYNTAXES)
        ae.add_supported_context(_VERIFICATION)
        handlers: list[Any] = [(evt.EVT_C_STORE, self._handle_store), (evt.EVT_RELEASED, self._handle_end),
                    (evt.EVT_ABORTED, self._handle_end), (evt.EVT_REJECTED, self._handle_rejected)]
        self._server = ae.start_server((self.host, self.port), block=False, evt_handlers=handlers)
        self.port = int(self._server.server_address[1])
        return self

    def stop(self) -> None:
        """Stop listening; associations still open are aborted (a PACS may keep an idle one open for
        seconds, e.g. Orthanc's ``DicomAssociationCloseDelay``), so stopping never waits on a peer."""
        if self._server is not None:
            for assoc in list(self._server.active_associations):
                assoc.abort()
            self._server.shutdown()
            self._server = None

    def __enter__(self) -> StoreReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
