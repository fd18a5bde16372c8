"""``caselib receive``: a C-STORE receiver that ingests what a PACS sends.

Each association gets its own temporary folder under ``ARCHIVE/private/incoming/``;
when the association ends (released or aborted) its objects are ingested by one
worker thread (the archive has one writer) and the folder is deleted, also when
the ingest fails.  Only calling AE titles on the allow-list may send; anything
else is rejected at association time.

Examples
--------
>>> r = Receiver("/tmp/archive", ae_title="CASELIB", allowed_ae=["REGIONAL"], port=0)  # doctest: +SKIP
>>> r.start(); ...; r.stop()                                                            # doctest: +SKIP
"""
from __future__ import annotations

import logging
import os
import queue
import shutil
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from caselib.pacs.dimse import StoreReceiver
from caselib.pacs.pull import new_temp_folder, wipe_stale_incoming

__all__ = ["Receiver", "receive"]

log = logging.getLogger("caselib.pacs")


class Receiver:
    """A running ``caselib receive``: C-STORE SCP + one ingest thread."""

    def __init__(self, archive: str | os.PathLike[str], *, ae_title: str = "CASELIB",
                 allowed_ae: Iterable[str], host: str = "127.0.0.1", port: int = 0,
                 compression: str = "jpeg-ls", workers: int | None = 1, timeout: float = 30.0,
                 on_ingested: Callable[[Any], None] | None = None) -> None:
        self.archive = Path(archive)
        self.compression = compression
        self.workers = workers
        self.on_ingested = on_ingested
        self.reports: list[Any] = []
        self.errors: list[str] = []
        self._folders: dict[int, Path] = {}
        self._lock = threading.Lock()
        self._queue: queue.Queue[Path | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.scp = StoreReceiver(ae_title, allowed_ae, self._folder_for, on_association_end=self._ended,
                                 host=host, port=port, timeout=timeout)

    @property
    def port(self) -> int:
        return self.scp.port

    def _folder_for(self, assoc: Any) -> Path:
        with self._lock:
            folder = self._folders.get(id(assoc))
            if folder is None:
                folder = self._folders[id(assoc)] = new_temp_folder(self.archive, "recv")
            return folder

    def _ended(self, assoc: Any, files: list[Path]) -> None:
        with self._lock:
            folder = self._folders.pop(id(assoc), None)
        if folder is not None:
            self._queue.put(folder)

    def _work(self) -> None:
        from caselib.ingest import ingest

        while True:
            folder = self._queue.get()
            if folder is None:
                self._queue.task_done()
                return
            try:
                report = ingest(folder, self.archive, compression=self.compression, workers=self.workers,
                                progress=False)
                self.reports.append(report)
                log.info("received and ingested: %s", report.summary().splitlines()[0])
                if self.on_ingested is not None:
                    self.on_ingested(report)
            except Exception as exc:  # noqa: BLE001 - the receiver keeps running
                self.errors.append(f"{type(exc).__name__}: {exc}")
                log.error("ingest of received objects failed: %s", exc)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
                self._queue.task_done()

    def start(self) -> Receiver:
        wipe_stale_incoming(self.archive)
        self._thread = threading.Thread(target=self._work, name="caselib-receive-ingest", daemon=True)
        self._thread.start()
        self.scp.start()
        return self

    def wait_idle(self) -> None:
        """Block until every finished association has been ingested."""
        self._queue.join()

    def stop(self) -> None:
        """Stop accepting, ingest what has arrived, stop the worker; wipe what is left."""
        self.scp.stop()
        with self._lock:
            pending = list(self._folders.values())
            self._folders.clear()
        for folder in pending:  # associations cut by the shutdown: their objects are ingested too
            self._queue.put(folder)
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def receive(archive: str | os.PathLike[str], **kwargs: Any) -> Receiver:
    """Start a :class:`Receiver` (see its parameters) and return it running."""
    return Receiver(archive, **kwargs).start()
