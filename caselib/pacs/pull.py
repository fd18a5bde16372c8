"""Pull studies from a PACS into an archive through the ingest pipeline.

For each study: retrieve it (WADO-RS, C-MOVE to caselib's own receiver, or
C-GET) into a fresh temporary folder under ``ARCHIVE/private/incoming/``
(owner-only, like the rest of ``private/``), run :func:`caselib.ingest.ingest`
on that folder (de-identify, verify, transcode, store, catalog; bad objects to
quarantine), then delete the folder, whatever happened.  The archive's objects
go where the archive keeps them (:func:`caselib.archive.open_store`): ``objects/``
or the DICOMweb server named in ``ARCHIVE/store.toml``.  The raw, identifying
objects therefore never reach ``objects/``, and do not outlive the study's
pull: a failure (PACS gone, timeout, kill) removes them in ``finally``, and a
run killed outright leaves a folder that the next pull removes first.

Failures are per study: a study that cannot be retrieved is reported with the
reason and the pull goes on with the next.  A completed study is recorded in
``private/pacs-pulls.sqlite`` (node, study, number of instances), so a re-run
skips it; an interrupted study is retrieved again and the ingest journal skips
the objects already stored, so nothing is stored twice.

Nothing here writes an identifier outside ``private/``: the report names the
PACS's own study UIDs (which identify the study at the hospital) and is
written to ``private/reports/``.
"""
from __future__ import annotations

import json
import os
import queue
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from caselib.archive import ArchiveLayout
from caselib.pacs.config import LocalNode, PacsConfig, PacsNode, redact
from caselib.pacs.errors import PacsError, PacsNotFoundError
from caselib.pacs.query import StudyMatch, StudyQuery

__all__ = ["PullReport", "StudyPull", "incoming_dir", "pull", "wipe_stale_incoming"]

Via = Literal["dicomweb", "move", "get"]
INCOMING = "incoming"


@dataclass
class StudyPull:
    """What happened to one study."""

    study_uid: str
    status: str = "pending"   # pulled | incomplete | already-pulled | failed
    expected: int | None = None
    retrieved: int = 0
    stored: int = 0          # published by this run (new, or the same content already stored)
    skipped_done: int = 0    # handled by an earlier run (ingest journal)
    quarantined: int = 0
    ignored: int = 0
    error: str = ""
    seconds: float = 0.0     # retrieval time


@dataclass
class PullReport:
    node: str
    via: str
    archive: str
    studies: list[StudyPull] = field(default_factory=list)
    seconds: float = 0.0
    published: int = 0       # new objects in the archive (ingest totals over all batches)
    unchanged: int = 0
    skipped_done: int = 0
    quarantined: int = 0

    @property
    def ok(self) -> bool:
        return all(s.status in ("pulled", "already-pulled") for s in self.studies)

    @property
    def retrieved(self) -> int:
        return sum(s.retrieved for s in self.studies)


    def summary(self) -> str:
        by: dict[str, int] = {}
        for s in self.studies:
            by[s.status] = by.get(s.status, 0) + 1
        lines = [f"pulled from {self.node} over {self.via} into {self.archive}: {len(self.studies)} studies ("
                 + ", ".join(f"{v} {k}" for k, v in sorted(by.items())) + f"), {self.retrieved} objects retrieved, "
                 f"{self.published} new, {self.unchanged + self.skipped_done} already stored, {self.quarantined} "
                 f"quarantined in {self.seconds:.1f} s"]
        for s in self.studies:
            if s.status not in ("pulled", "already-pulled"):
                lines.append(f"  {s.status.upper()} study {s.study_uid}: {s.error}")
        return "\n".join(lines)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False)


# --------------------------------------------------------------------------- temporary area


def incoming_dir(archive: str | os.PathLike[str]) -> Path:
    """``ARCHIVE/private/incoming``: where raw objects wait for ingest (owner-only)."""
    layout = ArchiveLayout.at(archive).create()
    path = layout.private / INCOMING
    path.mkdir(exist_ok=True)
    os.chmod(path, 0o700)
    return path


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wipe_stale_incoming(archive: str | os.PathLike[str]) -> list[Path]:
    """Remove temporary folders of pulls/receivers whose process is gone (a killed run); return them."""
    removed = []
    for child in sorted(incoming_dir(archive).iterdir()):
        parts = child.name.split("-")
        pid = int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else None
        if pid is not None and pid != os.getpid() and _pid_alive(pid):
            continue
        if pid == os.getpid():
            continue
        shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink(missing_ok=True)
        removed.append(child)
    return removed


def new_temp_folder(archive: str | os.PathLike[str], kind: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"{kind}-{os.getpid()}-", dir=incoming_dir(archive)))


# --------------------------------------------------------------------------- journal of completed studies


class PullJournal:
    def __init__(self, archive: str | os.PathLike[str]) -> None:
        layout = ArchiveLayout.at(archive).create()
        # used from the pull's thread and its ingest thread, one at a time (the lock)
        self.db = sqlite3.connect(layout.private / "pacs-pulls.sqlite", isolation_level=None,
                                  check_same_thread=False)
        self.lock = threading.Lock()
        self.db.execute("CREATE TABLE IF NOT EXISTS pulled (node TEXT NOT NULL, study_uid TEXT NOT NULL, "
                        "instances INTEGER NOT NULL, time TEXT NOT NULL, PRIMARY KEY (node, study_uid))")

    def done(self, node: str, study_uid: str, expected: int | None) -> bool:
        with self.lock:
            row = self.db.execute("SELECT instances FROM pulled WHERE node = ? AND study_uid = ?",
                                  (node, study_uid)).fetchone()
        return row is not None and (expected is None or row[0] >= expected)

    def record(self, node: str, study_uid: str, instances: int) -> None:
        with self.lock:
            self.db.execute("INSERT OR REPLACE INTO pulled VALUES (?, ?, ?, ?)",
                            (node, study_uid, instances, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())))

    def close(self) -> None:
        self.db.close()


def _retrieve(via: str, conn: Any, node: PacsNode, local: LocalNode, match: StudyMatch, outcome: StudyPull,
              folder: Path, tick: Callable[[Any], None]) -> None:
    """Retrieve one study into ``folder`` (WADO-RS, C-MOVE to the running receiver, or C-GET)."""
    if via == "dicomweb":
        series = conn.search_series(match.study_uid)
        if not series:
            raise PacsNotFoundError(f"PACS {node.name!r} has no study {match.study_uid}")
        counts = [n for _, n in series]
        if outcome.expected is None and all(n is not None for n in counts):
            outcome.expected = sum(n for n in counts if n is not None)
        for i, (series_uid, _n) in enumerate(series):
            conn.retrieve_series_to(match.study_uid, series_uid, folder / f"s{i:04d}", on_instance=tick)
    elif via == "move":
        from caselib.pacs.dimse import move_study

        result = move_study(node, match.study_uid, local)
        if outcome.expected is None:
            outcome.expected = result.completed + result.failed + result.warning
    else:
        from caselib.pacs.dimse import get_study

        result = get_study(node, match.study_uid, folder, local)
        if outcome.expected is None:
            outcome.expected = result.completed + result.failed + result.warning
        for _ in result.received:
            tick(None)


def _ingest_batch(folder: Path, studies: list[tuple[StudyPull, Path | None]], archive: Path, compression: str,
                  workers: int | None, report: PullReport, journal: PullJournal, node_name: str) -> None:
    """Ingest one batch folder (one sub-folder per study) and attribute the outcomes to the studies."""
    from caselib.ingest import ingest

    live = [(o, f) for o, f in studies if f is not None and o.status == "pending"]
    owner = {str(f): o for o, f in live}

    def study_of(label: str) -> StudyPull | None:
        rel = Path(label)
        for parent in (rel, *rel.parents):
            if str(parent) in owner:
                return owner[str(parent)]
        return None

    def on_published(outcome: Any) -> None:
        s = study_of(outcome.label)
        if s is not None:
            s.stored += 1

    rep = ingest(folder, archive, compression=compression, workers=workers, progress=False,
                 on_published=on_published)
    report.published += rep.published
    report.unchanged += rep.unchanged
    report.skipped_done += rep.skipped_done
    report.quarantined += rep.quarantined
    for item in rep.problems:
        s = study_of(item["label"])
        if s is not None:
            s.quarantined += 1
    for item in rep.ignored_items:
        s = study_of(item["label"])
        if s is not None:
            s.ignored += 1
    for outcome, _ in live:
        outcome.skipped_done = max(0, outcome.retrieved - outcome.stored - outcome.quarantined - outcome.ignored)
        if outcome.expected is not None and outcome.retrieved < outcome.expected:
            outcome.status = "incomplete"
            outcome.error = (f"retrieved {outcome.retrieved} of {outcome.expected} instances; "
                             "run the pull again to complete it")
            continue
        outcome.status = "pulled"
        if outcome.quarantined:
            outcome.error = f"{outcome.quarantined} object(s) quarantined (caselib quarantine list)"
        journal.record(node_name, outcome.study_uid, outcome.retrieved)


# --------------------------------------------------------------------------- the pull


def _check_archive_store(root: Path) -> None:
    """When the archive lives on a DICOMweb server, make sure it answers before anything is retrieved.

    Each batch is ingested through :func:`caselib.archive.open_store` (by
    :func:`caselib.ingest.ingest`); this only fails early, naming the node.
    """
    from caselib.archive import open_store, read_store_settings

    if read_store_settings(root).is_local:
        return
    store = open_store(root, check=True)
    close = getattr(store, "close", None)
    if close is not None:
        close()


def _count_files(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*.dcm") if p.is_file())


def pull(
    node: PacsNode,
    archive: str | os.PathLike[str],
    *,
    query: StudyQuery | None = None,
    study_uids: Iterable[str] | None = None,
    via: Via = "dicomweb",
    config: PacsConfig | None = None,
    local: LocalNode | None = None,
    compression: str = "jpeg-ls",
    workers: int | None = 1,
    force: bool = False,
    batch_instances: int = 64,
    progress: bool | None = None,
    environ: dict[str, str] | None = None,
    on_study: Callable[[StudyPull], None] | None = None,
) -> PullReport:
    """Query ``node`` and pull every matching study into ``archive`` (see the module docstring).

    Parameters
    ----------
    node : PacsNode
        The PACS.
    archive : path-like
        The archive folder (created if missing).
    query : StudyQuery, optional
        Which studies (QIDO-RS or C-FIND).  Or give ``study_uids``.
    via : {'dicomweb', 'move', 'get'}
        WADO-RS, C-MOVE to caselib's receiver (``local.port``, which the PACS
        must know under ``local.ae_title``), or C-GET.
    force : bool
        Retrieve studies again although the pull journal has them complete.
    batch_instances : int
        Studies are retrieved into one temporary folder until it holds this many
        objects; the batch is then ingested (one ingest run, one worker pool) by a
        thread while the next batch is retrieved.  At most one batch waits for
        ingest, so the temporary area stays bounded.  ``1`` ingests each study on
        its own.
    on_study : callable, optional
        Called with each finished :class:`StudyPull` (before the next study starts).

    Returns
    -------
    PullReport
        One :class:`StudyPull` per study; also written to ``private/reports/``.
    """
    import sys

    start = time.perf_counter()
    if batch_instances < 1:
        raise ValueError(f"batch_instances must be at least 1, found {batch_instances}")
    if via not in ("dicomweb", "move", "get"):
        raise ValueError(f"via must be 'dicomweb', 'move' or 'get', found {via!r}")
    if (query is None) == (study_uids is None):
        raise ValueError("give either a query or study_uids")
    local = local or (config.local if config is not None else LocalNode())
    layout = ArchiveLayout.at(archive).create()
    _check_archive_store(layout.root)
    wipe_stale_incoming(layout.root)
    report = PullReport(node.name, via, str(layout.root))
    secrets: tuple[str, ...] = ()
    conn = None
    receiver = None
    current: dict[str, Path] = {}
    bar = None
    journal = PullJournal(layout.root)
    try:
        if via == "dicomweb":
            from caselib.pacs.dicomweb import DicomwebConnection

            conn = DicomwebConnection(node, environ=environ)
            secrets = conn._secrets
        # 1. which studies
        matches: list[StudyMatch]
        if query is not None:
            if conn is not None:
                matches = conn.search_studies(query)
            else:
                from caselib.pacs.dimse import find_studies

                matches = find_studies(node, query, local)
        else:
            matches = [StudyMatch(uid) for uid in dict.fromkeys(study_uids or ())]
        if progress if progress is not None else sys.stderr.isatty():
            from tqdm.auto import tqdm

            total = sum(m.n_instances or 0 for m in matches) or None
            bar = tqdm(total=total, desc=f"pull {node.name}", unit="obj")

        def tick(_: Any = None) -> None:
            if bar is not None:
                bar.update(1)

        if via == "move":
            from caselib.pacs.dimse import StoreReceiver

            if not local.port:
                from caselib.pacs.errors import PacsConfigError

                raise PacsConfigError("C-MOVE needs the port the PACS sends to: set local.port in the PACS "
                                      f"configuration (the PACS must know {local.ae_title!r} at that port), "
                                      "or pull with C-GET (--via get)")

            allowed = tuple(dict.fromkeys((*((config.allowed_ae()) if config else local.allowed_ae),
                                            node.ae_title or "")))
            allowed = tuple(a for a in allowed if a)

            def folder_for(_assoc: Any) -> Path:
                folder = current.get("folder")
                if folder is None:
                    raise PacsError("an object arrived while no pull was waiting for one")
                tick()
                return folder

            receiver = StoreReceiver(local.ae_title, allowed, folder_for, host=local.host, port=local.port,
                                     timeout=node.timeout).start()

        # 2. each study: retrieve into the batch folder; a full batch is ingested by the ingest
        #    thread while the next batch is retrieved (at most one batch waits: bounded disk)
        batch: list[tuple[StudyPull, Path | None]] = []
        batch_root: Path | None = None
        pending: queue.Queue[tuple[Path | None, list[tuple[StudyPull, Path | None]]] | None] = queue.Queue(1)
        cancelled = threading.Event()

        def ingest_worker() -> None:
            while True:
                job = pending.get()
                if job is None:
                    return
                folder, studies = job
                try:
                    if folder is not None and cancelled.is_set():
                        for outcome, _ in studies:
                            if outcome.status != "failed":
                                outcome.status, outcome.error = "failed", "interrupted before ingest"
                    elif folder is not None:
                        _ingest_batch(folder, studies, layout.root, compression, workers, report, journal,
                                      node.name)
                except Exception as exc:  # noqa: BLE001 - the batch's studies fail, the pull goes on
                    for outcome, _ in studies:
                        outcome.status = "failed"
                        outcome.error = redact(f"ingest failed: {type(exc).__name__}: {exc}", secrets)
                finally:
                    if folder is not None:
                        shutil.rmtree(folder, ignore_errors=True)
                    for outcome, _ in studies:
                        report.studies.append(outcome)
                        if on_study is not None:
                            try:
                                on_study(outcome)
                            except Exception:  # noqa: BLE001 - a caller's callback must not stop the pull
                                pass

        ingester = threading.Thread(target=ingest_worker, name="caselib-pull-ingest", daemon=True)
        ingester.start()

        def flush() -> None:
            nonlocal batch_root
            if batch_root is None and not batch:
                return
            job = (batch_root, list(batch))
            batch.clear()
            batch_root = None
            pending.put(job)

        try:
            for match in matches:
                outcome = StudyPull(match.study_uid, expected=match.n_instances)
                if not force and journal.done(node.name, match.study_uid, match.n_instances):
                    outcome.status = "already-pulled"
                    if batch_root is None:
                        pending.put((None, [(outcome, None)]))
                    else:
                        batch.append((outcome, None))
                    continue
                if batch_root is None:
                    batch_root = new_temp_folder(layout.root, "pull")
                folder = batch_root / f"{len(batch):05d}"
                folder.mkdir()
                current["folder"] = folder
                t0 = time.perf_counter()
                try:
                    _retrieve(via, conn, node, local, match, outcome, folder, tick)
                    outcome.retrieved = _count_files(folder)
                    batch.append((outcome, folder))
                except Exception as exc:  # noqa: BLE001 - one study must not stop the pull
                    shutil.rmtree(folder, ignore_errors=True)  # nothing of a failed retrieve is ingested
                    outcome.status = "failed"
                    text = str(exc) if isinstance(exc, PacsError) else f"{type(exc).__name__}: {exc}"
                    outcome.error = redact(text, secrets)
                    batch.append((outcome, None))  # reported in order with its batch
                    continue
                finally:
                    current.pop("folder", None)
                    outcome.seconds = time.perf_counter() - t0
                if sum(o.retrieved for o, _ in batch) >= batch_instances:
                    flush()
            flush()
        except BaseException:
            cancelled.set()
            raise
        finally:
            if batch_root is not None:
                shutil.rmtree(batch_root, ignore_errors=True)
            pending.put(None)
            ingester.join()
    finally:
        if bar is not None:
            bar.close()
        if receiver is not None:
            receiver.stop()
        if conn is not None:
            conn.close()
        journal.close()
    report.seconds = time.perf_counter() - start
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    (layout.reports / f"pull-{stamp}-{os.getpid()}-{threading.get_ident() % 10000}.json").write_text(
        report.to_json(), encoding="utf-8")
    return report
