"""The ingest pipeline: source -> read -> validate -> de-identify -> verify ->
lossless transcode -> atomic write -> catalog.  Bad input -> quarantine + reason.

Each object is processed by :func:`process_object` (pure with respect to the
archive: it returns bytes and records, it writes nothing), in worker processes
when ``workers > 1``.  The parent process alone writes: the store, the
catalog, the quarantine and the journal, in that order, so a run killed at any
point and run again converges to the archive an uninterrupted run builds:

- the store writes atomically and a second put of the same object is a no-op;
- catalog writes are upserts;
- the journal (``private/journal.sqlite``) records a source object, by the
  sha256 of its bytes, only after its store and catalog writes committed, so an
  object is either skipped on the re-run because it is complete, or redone.

Originals are opened read-only and never modified.
"""
from __future__ import annotations

import collections
import hashlib
import itertools
import json
import os
import sqlite3
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from caselib.archive import ArchiveLayout
from caselib.ingest.quarantine import Quarantine
from caselib.ingest.sources import Limits, Rejected, iter_source
from caselib.ingest.validate import InvalidObjectError, NotAnObjectError, parse_object, validate_object

if TYPE_CHECKING:
    from caselib.store import Store

__all__ = ["verify_archive", "ArchiveVerification", "IngestReport", "Published", "Refused", "Ignored", "process_object", "ingest", "deidentify_folder",
           "default_secret_file", "Worker"]


# --------------------------------------------------------------------------- outcomes


@dataclass(frozen=True)
class Published:
    label: str
    data: bytes
    sop_uid: str
    modality: str
    patient: dict[str, Any]
    study: dict[str, Any]
    series: dict[str, Any]
    instance: dict[str, Any]
    pixel_decision: str | None = None   # PixelDecision.describe() when pixel PHI was reviewed
    needles: tuple[tuple[str, str, str, bool], ...] = ()  # (text, kind, source, word): PHI, private only
    date_offset: int | None = None  # the patient's date shift in days (kept with the needles: private only)


@dataclass(frozen=True)
class Refused:
    label: str
    stage: str   # read | validate | pixel-phi | deidentify | verify | transcode | store
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Ignored:
    label: str
    reason: str


Outcome = Published | Refused | Ignored


# --------------------------------------------------------------------------- one object


def _text(ds: Any, keyword: str) -> str | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    return str(value).strip() or None


def _int(ds: Any, keyword: str) -> int | None:
    try:
        value = ds.get(keyword)
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _spacing(value: Any) -> tuple[float, float] | None:
    """(row, column) mm from (0028,0030), or None when absent or not two positive numbers."""
    try:
        row, col = (float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return (row, col) if row > 0 and col > 0 else None


def _iso_date(da: str | None) -> str | None:
    if not da or len(da) < 8 or not da[:8].isdigit():
        return None
    return f"{da[:4]}-{da[4:6]}-{da[6:8]}"


def _ascii_value(ds: Any, tag: int) -> str:
    """First value of an ASCII element (UI, CS) as read, without pydicom's conversion."""
    elem = ds._dict.get(tag)
    value = None if elem is None else elem.value
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    elif value is not None and not isinstance(value, str):
        value = "\\".join(str(v) for v in value)
    return (value or "").split("\\")[0].strip(" \x00")


def _file_records(ds: Any, pseudonym: str | None, data: bytes, transfer_syntax: str) -> dict[str, dict[str, Any]]:
    """What :func:`deidentify_folder` needs of an output: its UIDs, path and modality (no catalog fields)."""
    study_uid, series_uid = _ascii_value(ds, 0x0020000D), _ascii_value(ds, 0x0020000E)
    sop_uid = _ascii_value(ds, 0x00080018)
    patient = pseudonym or "CL-UNKNOWN"
    return {
        "patient": {"pseudonym": patient},
        "study": {"study_uid": study_uid, "patient_pseudonym": patient},
        "series": {"series_uid": series_uid, "study_uid": study_uid,
                   "modality": _ascii_value(ds, 0x00080060) or "OT"},
        "instance": {"sop_uid": sop_uid, "series_uid": series_uid,
                     "path": f"objects/{study_uid}/{series_uid}/{sop_uid}.dcm",
                     "sha256": None, "size": len(data), "transfer_syntax": transfer_syntax},
    }


def _records(ds: Any, pseudonym: str | None, data: bytes, transfer_syntax: str, *, digest: bool = True
             ) -> dict[str, dict[str, Any]]:
    if not digest:
        return _file_records(ds, pseudonym, data, transfer_syntax)
    study_uid, series_uid = str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID)
    sop_uid = str(ds.SOPInstanceUID)
    spacing = ds.get("PixelSpacing")
    patient = pseudonym or "CL-UNKNOWN"
    return {
        "patient": {"pseudonym": patient, "sex": _text(ds, "PatientSex"), "age": _text(ds, "PatientAge")},
        "study": {"study_uid": study_uid, "patient_pseudonym": patient,
                  "study_date": _iso_date(_text(ds, "StudyDate")),
                  "description": _text(ds, "StudyDescription")},
        "series": {"series_uid": series_uid, "study_uid": study_uid,
                   "modality": _text(ds, "Modality") or "OT",
                   "body_part": _text(ds, "BodyPartExamined"),
                   "description": _text(ds, "SeriesDescription"),
                   "series_number": _int(ds, "SeriesNumber"),
                   "rows": _int(ds, "Rows"), "columns": _int(ds, "Columns"),
                   "pixel_spacing": _spacing(spacing)},
        "instance": {"sop_uid": sop_uid, "series_uid": series_uid,
                     "instance_number": _int(ds, "InstanceNumber"),
                     "path": f"objects/{study_uid}/{series_uid}/{sop_uid}.dcm",
                     "sha256": hashlib.sha256(data).hexdigest() if digest else None, "size": len(data),
                     "transfer_syntax": transfer_syntax, "sop_class_uid": _text(ds, "SOPClassUID"),
                     "n_frames": _int(ds, "NumberOfFrames") or 1},
    }


class Worker:
    """Everything one process needs to turn source bytes into an outcome."""

    def __init__(self, secret_path: str | os.PathLike[str], registry_path: str | os.PathLike[str],
                 profile: str, compression: str | None, policy: Any = None, catalog: bool = True,
                 number_patients: bool = False) -> None:
        from caselib.deid import Deidentifier, load_secret, open_registry

        self.compression = compression
        # True when this worker is the only one: it numbers each object's patient itself,
        # as it meets it (= source order), instead of the parent reading every header first
        self.number_patients = number_patients
        self.policy = policy  # caselib.ingest.review.PixelPolicy
        self.catalog = catalog  # False: no catalog records needed (deidentify_folder), no content digest
        self.folders: set[str] = set()  # output folders this process knows exist
        self.deidentifier = Deidentifier(profile, secret=load_secret(secret_path, create=False),
                                         registry=open_registry(registry_path))

    def process(self, label: str, data: bytes) -> Outcome:
        return process_object(label, data, self.deidentifier, self.compression, self.policy,
                              catalog=self.catalog, number_patients=self.number_patients)


def process_object(label: str, data: bytes, deidentifier: Any, compression: str | None,
                   policy: Any = None, *, catalog: bool = True, number_patients: bool = False) -> Outcome:
    """Turn one source object into bytes to publish, or say why not.  Writes nothing.

    With ``compression=None`` the de-identified object is encoded as it is
    (no transcoding): what ``caselib deidentify`` writes.  An object with
    pixel-PHI risk is published only with a decision of ``policy``
    (:class:`caselib.ingest.review.PixelPolicy`: a reviewer's release, a
    reviewed decision kept in the repository, or an ``auto: true`` mask);
    otherwise it is refused at stage ``pixel-phi``.  With ``catalog=False`` the
    records hold only UIDs, path, size and modality (``sha256`` is None) and no needles: for callers
    that write files and build no catalog.

    ``number_patients=True`` (one worker, objects met in source order) gives the
    object's patient its pseudonym number here, exactly where the parent's
    :func:`_number_patient` would have: from the parsed object when it parses and
    validates (the header reader's identity is the same then: tested), else through
    :func:`_number_patient` itself, which numbers whatever header it can read.
    """
    with warnings.catch_warnings():
        # pydicom warns about out-of-spec value lengths of the *input* whenever such an
        # element is decoded; de-identification rewrites them and the verifier checks the output
        warnings.simplefilter("ignore", UserWarning)
        return _process_object(label, data, deidentifier, compression, policy, catalog, number_patients)


def _process_object(label: str, data: bytes, deidentifier: Any, compression: str | None, policy: Any,
                    catalog: bool, number_patients: bool) -> Outcome:
    from caselib.deid import dataset_to_bytes, pixel_phi_risk, verify
    from caselib.errors import CaselibError
    from caselib.store import transcode

    try:
        ds = parse_object(data, label)
        validate_object(ds, label)
    except Exception as exc:  # noqa: BLE001 - one object must never stop the run
        if number_patients:
            _number_patient(deidentifier, label, data=data)
        if isinstance(exc, NotAnObjectError):
            return Ignored(label, str(exc))
        if isinstance(exc, InvalidObjectError):
            return Refused(label, "validate", str(exc))
        return Refused(label, "validate", f"{label}: {type(exc).__name__}: {exc}")
    if number_patients:
        try:
            deidentifier.pseudonym_for(ds)
        except Exception:  # noqa: BLE001, S110 - as _number_patient: deidentify below reports it
            pass
    risks = pixel_phi_risk(ds)
    pixel_decision: str | None = None
    if risks:
        decision = policy.decide(ds, hashlib.sha256(data).hexdigest()) if policy is not None else None
        if decision is None:
            return Refused(label, "pixel-phi",
                           "pixels may carry burned-in identifiers: " + "; ".join(risks)
                           + " (review it: caselib quarantine list)",
                           {"risks": list(risks)})
        try:
            ds = decision.apply(ds)  # a masked copy (or ds itself when reviewed clean)
        except Exception as exc:  # noqa: BLE001 - a mask that cannot be applied keeps the object in quarantine
            return Refused(label, "pixel-phi", f"cannot apply {decision.describe()}: {type(exc).__name__}: {exc}",
                           {"risks": list(risks)})
        pixel_decision = decision.describe()
    stage = "deidentify"
    try:
        # no risk found: say so (a masked object is assessed again, as it is now)
        result = deidentifier.deidentify(ds, pixel_phi_risks=None if risks else ())
        stage = "transcode"
        if compression is None:
            out = dataset_to_bytes(result.dataset)
            transfer_syntax = _ascii_value(result.dataset.file_meta, 0x00020010)
        else:
            encoded = transcode(result.dataset, compression)
            out, transfer_syntax = encoded.data, encoded.transfer_syntax
    except CaselibError as exc:
        return Refused(label, stage, str(exc))
    except Exception as exc:  # noqa: BLE001 - a crash on one object must not stop the run
        return Refused(label, stage, f"{type(exc).__name__}: {exc}")
    report = verify(ds, out, profile=deidentifier.profile, date_offset=result.date_offset_days)
    if not report.ok:
        # the hits name tag paths only; never the values, which are PHI
        return Refused(label, "verify", "residual PHI found after de-identification in "
                       + "; ".join(sorted(set(report.paths))[:10]),
                       {"paths": sorted(set(report.paths))})
    records = _records(result.dataset, result.patient_pseudonym, out, transfer_syntax, digest=catalog)
    # kept in the ingest journal for `caselib verify ARCHIVE`; a plain conversion keeps none
    needles = tuple((n.text, n.kind, n.source, n.word) for n in report.harvested) if catalog else ()
    return Published(label, out, records["instance"]["sop_uid"],
                     records["series"]["modality"], **records, needles=needles, pixel_decision=pixel_decision,
                     date_offset=result.date_offset_days if catalog else None)


# --------------------------------------------------------------------------- journal


class Journal:
    """Source objects already handled, by the sha256 of their bytes."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS handled (sha256 TEXT PRIMARY KEY, outcome TEXT NOT NULL,"
                        " sop_uid TEXT, label TEXT, time TEXT NOT NULL)")
        # the identifying values harvested from each published object's original, so that
        # `caselib verify ARCHIVE` can re-scan the archive without the originals (PHI: private only)
        self.db.execute("CREATE TABLE IF NOT EXISTS dirty_series (series_uid TEXT PRIMARY KEY, fields TEXT NOT NULL)")
        self.db.execute("CREATE TABLE IF NOT EXISTS needles (sop_uid TEXT PRIMARY KEY, needles TEXT NOT NULL)")

    def get(self, sha: str) -> tuple[str, str | None] | None:
        row = self.db.execute("SELECT outcome, sop_uid FROM handled WHERE sha256 = ?", (sha,)).fetchone()
        return (row[0], row[1]) if row else None

    def record(self, sha: str, outcome: str, sop_uid: str | None, label: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO handled VALUES (?, ?, ?, ?, ?)",
                        (sha, outcome, sop_uid, label, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())))

    def record_needles(self, sop_uid: str, needles: tuple[tuple[str, str, str, bool], ...],
                       date_offset: int | None = None) -> None:
        record = {"needles": needles, "date_offset": date_offset}
        self.db.execute("INSERT OR REPLACE INTO needles VALUES (?, ?)",
                        (sop_uid, json.dumps(record, ensure_ascii=False)))

    def needles(self, sop_uid: str) -> tuple[list[tuple[str, str, str, bool]], int | None] | None:
        """``(needles, date offset)`` recorded for an object, or None (a journal of before
        2026-12-05 kept a bare list of needles and no offset)."""
        row = self.db.execute("SELECT needles FROM needles WHERE sop_uid = ?", (sop_uid,)).fetchone()
        if row is None:
            return None
        record = json.loads(row[0])
        if isinstance(record, list):
            return [tuple(n) for n in record], None  # type: ignore[misc]
        return [tuple(n) for n in record["needles"]], record.get("date_offset")  # type: ignore[misc]

    def mark_dirty(self, series: dict[str, Any]) -> None:
        self.db.execute("INSERT OR REPLACE INTO dirty_series VALUES (?, ?)",
                        (series["series_uid"], json.dumps(series, default=list)))

    def dirty_series(self) -> dict[str, dict[str, Any]]:
        return {uid: json.loads(f) for uid, f in self.db.execute("SELECT series_uid, fields FROM dirty_series")}

    def clear_dirty(self) -> None:
        self.db.execute("DELETE FROM dirty_series")

    def close(self) -> None:
        self.db.close()


# --------------------------------------------------------------------------- report


@dataclass
class IngestReport:
    source: str
    archive: str
    profile: str
    compression: str
    workers: int
    seconds: float = 0.0
    published: int = 0
    unchanged: int = 0
    skipped_done: int = 0
    quarantined: int = 0
    ignored: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    by_modality: dict[str, int] = field(default_factory=dict)
    by_stage: dict[str, int] = field(default_factory=dict)
    problems: list[dict[str, str]] = field(default_factory=list)
    ignored_items: list[dict[str, str]] = field(default_factory=list)
    pixel_reviewed: list[dict[str, str]] = field(default_factory=list)

    def count_published(self, modality: str, bytes_in: int, bytes_out: int, *, written: bool = True) -> None:
        if written:
            self.published += 1
        else:
            self.unchanged += 1
        self.bytes_in += bytes_in
        self.bytes_out += bytes_out
        self.by_modality[modality] = self.by_modality.get(modality, 0) + 1

    def count_refused(self, label: str, stage: str, reason: str) -> None:
        self.quarantined += 1
        self.by_stage[stage] = self.by_stage.get(stage, 0) + 1
        self.problems.append({"label": label, "stage": stage, "reason": reason})

    def count_ignored(self, label: str, reason: str) -> None:
        self.ignored += 1
        self.ignored_items.append({"label": label, "reason": reason})

    @property
    def total(self) -> int:
        return self.published + self.unchanged + self.skipped_done + self.quarantined + self.ignored

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, ensure_ascii=False)

    def summary(self) -> str:
        mods = ", ".join(f"{m} {n}" for m, n in sorted(self.by_modality.items())) or "none"
        ratio = f"{self.bytes_in / self.bytes_out:.2f}x" if self.bytes_out else "-"
        lines = [
            f"ingested {self.source} into {self.archive} in {self.seconds:.1f} s "
            f"(profile {self.profile}, {self.compression}, {self.workers} worker(s))",
            f"  published {self.published} new, {self.unchanged} already stored, "
            f"{self.skipped_done} done by an earlier run; by modality: {mods}",
            f"  bytes in {self.bytes_in:,} -> stored {self.bytes_out:,} ({ratio})",
            f"  quarantined {self.quarantined}" + (
                ": " + ", ".join(f"{s} {n}" for s, n in sorted(self.by_stage.items())) if self.by_stage else ""),
        ]
        for p in self.problems[:20]:
            where = p["reason"] if p["reason"].startswith(p["label"]) else f"{p['label']}: {p['reason']}"
            lines.append(f"    [{p['stage']}] {where}")
        if len(self.problems) > 20:
            lines.append(f"    ... and {len(self.problems) - 20} more (see the JSON report)")
        if self.pixel_reviewed:
            lines.append(f"  published with a reviewed pixel-PHI decision: {len(self.pixel_reviewed)}")
        if self.ignored:
            lines.append(f"  ignored {self.ignored} (not objects to publish, e.g. DICOMDIR indexes)")
        return "\n".join(lines)


# --------------------------------------------------------------------------- the run


_worker: Worker | None = None


def _init_worker(*args: Any) -> None:
    global _worker
    _worker = Worker(*args)


def _task_process(worker: Worker, label: str, data: bytes) -> Outcome:
    return worker.process(label, data)


def _run_task(task: Callable[..., Any], *args: Any) -> Any:
    assert _worker is not None
    return task(_worker, *args)


def _run_batch(task: Callable[..., Any], batch: list[tuple[Any, ...]]) -> list[Any]:
    assert _worker is not None
    return [task(_worker, *args) for args in batch]


def _map_ordered(task: Callable[..., Any], jobs: Iterator[tuple[tuple[Any, ...], Any]], workers: int,
                 worker_args: tuple[Any, ...], *, batch: int = 1) -> Iterator[tuple[Any, Any]]:
    """Run ``task(worker, *args)`` for each ``(args, carry)`` job; yield ``(result, carry)`` in job order.

    In this process when ``workers == 1``, else in a process pool whose workers are
    built once from ``worker_args``, ``batch`` jobs per pool task (a pool task costs
    a few hundred microseconds of the parent's time: for jobs of a millisecond or two,
    one per task would leave the parent the bottleneck).  At most ``2 * workers``
    tasks are in flight, so memory stays bounded; results come back in submission
    (= source) order, so the outcome never depends on which worker finishes first.
    """
    if workers == 1:
        worker = Worker(*worker_args)
        for args, carry in jobs:
            yield task(worker, *args), carry
        return
    with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=worker_args) as pool:
        queue: collections.deque[tuple[Future[Any], list[Any]]] = collections.deque()

        def submit(group: list[tuple[tuple[Any, ...], Any]]) -> None:
            if batch == 1:
                (args, carry), = group
                queue.append((pool.submit(_run_task, task, *args), [carry]))
            else:
                queue.append((pool.submit(_run_batch, task, [a for a, _ in group]), [c for _, c in group]))

        def results() -> Iterator[tuple[Any, Any]]:
            fut, carries = queue.popleft()
            done = fut.result()
            if batch == 1:
                done = [done]
            yield from zip(done, carries)

        group: list[tuple[tuple[Any, ...], Any]] = []
        for job in jobs:
            group.append(job)
            if len(group) < batch:
                continue
            submit(group)
            group = []
            while len(queue) >= 2 * workers:
                yield from results()
        if group:
            submit(group)
        while queue:
            yield from results()


def _process_all(items: Iterator[tuple[str, bytes, str]], workers: int,
                 worker_args: tuple[Any, ...]) -> Iterator[tuple[Outcome, bytes, str]]:
    """Process ``(label, data, sha)`` items; yields ``(outcome, data, sha)`` in source order."""
    jobs = (((label, data), (data, sha)) for label, data, sha in items)
    for outcome, (data, sha) in _map_ordered(_task_process, jobs, workers, worker_args):
        yield outcome, data, sha


def _default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def ingest(
    source: str | os.PathLike[str],
    archive: str | os.PathLike[str],
    *,
    profile: str = "teaching",
    compression: str = "jpeg-ls",
    workers: int | None = None,
    limits: Limits | None = None,
    progress: bool | None = None,
    on_published: Callable[[Published], None] | None = None,
    series_fields: Callable[[str], dict[str, Any]] | None = None,
    store: Store | None = None,
) -> IngestReport:
    """Ingest every object of ``source`` into ``archive``; never raises for one bad object.

    Parameters
    ----------
    source : path-like
        A folder tree, a zip archive, a DICOMDIR or one file.  Never modified.
    archive : path-like
        The archive folder (created if missing), laid out by :class:`caselib.archive.ArchiveLayout`.
    profile : str
        De-identification profile name (:func:`caselib.deid.list_profiles`).
    compression : str
        ``"jpeg-ls"`` (default), ``"jpeg2000"``, ``"rle"`` or ``"none"``.
    workers : int, optional
        Processes; default all available cores.  ``1`` runs in this process.
    progress : bool, optional
        Show a progress bar (default: when standard error is a terminal).
    on_published : callable, optional
        Called with each :class:`Published` outcome after it is stored and cataloged.
    series_fields : callable, optional
        ``label -> dict`` of extra catalog series fields for the object of that
        source label (e.g. ``{"dataset": "tcia-lung-ct"}`` for the demo library).
    store : Store, optional
        Where the objects go.  Default: the archive's own store,
        :func:`caselib.archive.open_store` (``ARCHIVE/objects/``, or the DICOMweb
        server that ``ARCHIVE/store.toml`` names, checked before any work).
        A store that stops answering during the run stops it with a
        :class:`~caselib.store.errors.PacsError` naming the node (objects
        are never quarantined for that); a re-run resumes.

    Returns
    -------
    IngestReport
        Counts by outcome and modality, bytes before and after, and every
        quarantined object with its reason; also written as JSON under
        ``ARCHIVE/private/reports/``.
    """
    import sys

    from caselib.archive import open_store
    from caselib.catalog import Catalog, InstanceRecord, PatientRecord, SeriesRecord, StudyRecord
    from caselib.deid import load_secret
    from caselib.store import ConflictError, LocalStore
    from caselib.store.errors import PacsError

    start = time.perf_counter()
    layout = ArchiveLayout.at(archive).create(objects=None if store is None else isinstance(store, LocalStore))
    if store is None:
        store = open_store(layout.root, compression=compression, check=True)
    load_secret(layout.secret, create=True)  # created once, before workers race for it
    workers = workers or _default_workers()
    report = IngestReport(str(source), str(layout.root), profile, compression, workers)
    if isinstance(store, LocalStore):
        store.cleanup_partial()
    quarantine = Quarantine(layout.quarantine)
    journal = Journal(layout.journal)
    catalog = Catalog.open(layout.root)
    touched_series: dict[str, dict[str, Any]] = {}
    from caselib.ingest.review import PixelPolicy

    policy = PixelPolicy.for_archive(layout.root)
    # one worker numbers patients itself, in source order (see process_object)
    worker_args = (layout.secret, layout.pseudonyms, profile, compression, policy, True, workers == 1)

    if progress is None:
        progress = sys.stderr.isatty()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(desc="ingest", unit="obj")

    def quarantine_it(label: str, stage: str, reason: str, data: bytes | None, details: dict[str, Any],
                      sha: str | None) -> None:
        quarantine.add(label, reason, stage, data, details)
        report.count_refused(label, stage, reason)
        if sha is not None:
            journal.record(sha, "quarantined", None, label)

    def finish(outcome: Outcome, data: bytes, sha: str) -> None:
        if isinstance(outcome, Ignored):
            report.count_ignored(outcome.label, outcome.reason)
            journal.record(sha, "ignored", None, outcome.label)
            return
        if isinstance(outcome, Refused):
            quarantine_it(outcome.label, outcome.stage, outcome.reason, data, outcome.details, sha)
            return
        series = dict(outcome.series)
        if series_fields is not None:
            series.update(series_fields(outcome.label))
        try:  # records validate on construction: a bad one is refused before anything is written
            records = (PatientRecord(**outcome.patient), StudyRecord(**outcome.study),
                       SeriesRecord(**series), InstanceRecord(**outcome.instance))
        except (ValueError, TypeError) as exc:
            quarantine_it(outcome.label, "catalog", f"cannot catalog the object: {exc}", data, {}, sha)
            return
        try:
            put = store.put(outcome.data)
        except ConflictError as exc:
            quarantine_it(outcome.label, "duplicate", str(exc), data, {}, sha)
            return
        except PacsError:
            raise  # the store's server is down or refuses us: stop (a re-run resumes), quarantine nothing
        except Exception as exc:  # noqa: BLE001
            quarantine_it(outcome.label, "store", f"{type(exc).__name__}: {exc}", data, {}, sha)
            return
        with catalog.transaction():
            catalog.add_patient(records[0])
            catalog.add_study(records[1])
            catalog.add_series(records[2])
            catalog.add_instances([records[3]])
        touched_series[series["series_uid"]] = series
        journal.mark_dirty(series)
        journal.record_needles(outcome.sop_uid, outcome.needles, outcome.date_offset)
        journal.record(sha, "published", outcome.sop_uid, outcome.label)
        report.count_published(outcome.modality, len(data), put.bytes_out, written=put.status == "written")
        if on_published is not None:
            on_published(outcome)
        if outcome.pixel_decision is not None:
            report.pixel_reviewed.append({"label": outcome.label, "decision": outcome.pixel_decision})

    def items() -> Iterator[tuple[str, bytes, str]]:
        for item in iter_source(source, limits):
            if isinstance(item, Rejected):
                quarantine_it(item.label, "read", item.reason, item.data, {}, None)
                if bar is not None:
                    bar.update(1)
                continue
            try:
                data = item.read()
            except (OSError, ValueError) as exc:
                quarantine_it(item.label, "read", f"cannot read: {exc}", None, {}, None)
                continue
            sha = hashlib.sha256(data).hexdigest()
            done = journal.get(sha)
            retry = done is not None and done[0] == "quarantined" and policy.has_decision(sha)  # released since
            if done is not None and not retry and (done[0] != "published" or (done[1] and store.exists(done[1]))):
                report.skipped_done += 1
                if bar is not None:
                    bar.update(1)
                continue
            if workers > 1:
                _number_patient(parent_deid, item.label, data=data)  # in source order, before any worker
            yield item.label, data, sha

    from caselib.deid import Deidentifier, open_registry
    parent_deid = Deidentifier(profile, secret=load_secret(layout.secret, create=False),
                               registry=open_registry(layout.pseudonyms))
    try:
        touched_series.update(journal.dirty_series())  # series an interrupted run left unrefreshed
        for outcome, data, sha in _process_all(items(), workers, worker_args):
            finish(outcome, data, sha)
            if bar is not None:
                bar.update(1)
        _refresh_series(catalog, store, touched_series)
        journal.clear_dirty()
        catalog.optimize()
    finally:
        if bar is not None:
            bar.close()
        journal.close()
        catalog.close()
    report.seconds = time.perf_counter() - start
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    (layout.reports / f"ingest-{stamp}-{os.getpid()}.json").write_text(report.to_json(), encoding="utf-8")
    return report


def _read_stored_series(store: Store, study_uid: str, series_uid: str) -> Any:
    """The headers of one stored series (:func:`caselib.dicom.read`), read through the store.

    A local store's folder is read in place; any other store's objects are
    copied into a temporary folder first (:func:`caselib.store.copy_series_to`).
    """
    import tempfile

    from caselib.dicom import read
    from caselib.store import LocalStore, copy_series_to

    if isinstance(store, LocalStore):
        return read(store.objects / study_uid / series_uid)
    with tempfile.TemporaryDirectory(prefix="caselib-series-") as tmp:
        copy_series_to(store, study_uid, series_uid, tmp)
        return read(tmp)


def _refresh_series(catalog: Any, store: Store, touched: dict[str, dict[str, Any]]) -> None:
    """Recount instances and re-read geometry of every series this run touched."""
    from caselib.catalog import SeriesRecord

    for series_uid, fields in touched.items():
        n, frames = catalog.connection.execute(
            "SELECT COUNT(*), COALESCE(SUM(i.n_frames), 0) FROM instances i JOIN series s "
            "ON s.series_pk = i.series_pk WHERE s.series_uid = ?", (series_uid,)).fetchone()
        collection = _read_stored_series(store, fields["study_uid"], series_uid)
        s = collection.series[0] if collection.series else None  # e.g. SEG: counted, no geometry
        thickness = s.slice_thickness if s and s.slice_thickness and s.slice_thickness > 0 else None
        if fields.get("pixel_spacing") is not None:  # a list after the journal's JSON
            fields = {**fields, "pixel_spacing": tuple(fields["pixel_spacing"])}
        record = SeriesRecord(**{**fields,
                                 "n_instances": n,
                                 "n_frames": frames,
                                 "slice_thickness": thickness,
                                 "geometry_warnings": tuple(s.warnings) if s else ()})
        catalog.add_series(record)


def patient_header(label: str, *, path: str | None = None, data: bytes | None = None) -> Any:
    """The header attributes :func:`caselib.deid.patient_identity` needs, read as little as possible.

    The identity is in the Patient group (0010,xxxx): the fast header reader stops
    after it, and reads on to the Study Instance UID only when the object names no
    patient there.  Raises what :func:`caselib.dicom.header.scan_header` raises.
    """
    from caselib.deid import patient_identity
    from caselib.dicom.header import scan_header

    scan = scan_header(path=path, data=data, label=label, stop_after=0x0010FFFF)
    if scan.fast and patient_identity(scan.dataset) is None:
        scan = scan_header(path=path, data=data, label=label)
    return scan.dataset


def _number_patient(deidentifier: Any, label: str, *, path: str | None = None, data: bytes | None = None) -> None:
    """Give the object's patient its pseudonym number now, in source order.

    Called by the parent process for every object before any worker sees it, so a
    new patient's number follows the order of the source, never which worker
    finishes first: the same source gives the same numbers with any number of
    workers.  Only the start of the header is read (:func:`patient_header`).  An
    object whose header cannot be read is left to the worker, which reports what
    is wrong with it.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            deidentifier.pseudonym_for(patient_header(label, path=path, data=data))
    except Exception:  # noqa: BLE001 - the worker reports what is wrong with it
        pass


_partial_names = itertools.count()


def _write_output(worker: Worker, path: Path, data: bytes) -> None:
    """Write one output of :func:`deidentify_folder`: a temporary file renamed into place.

    Not fsync'd (a batch conversion: re-run it after a crash).  The temporary name is
    this process's id and a counter (no random-name retries), and each output folder
    is created once per process.
    """
    folder = str(path.parent)
    if folder not in worker.folders:
        os.makedirs(folder, exist_ok=True)
        worker.folders.add(folder)
    tmp = f"{folder}/.partial-{os.getpid()}-{next(_partial_names)}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_EXCL, 0o600)
    except FileExistsError:  # left by a killed run whose process had this id
        os.unlink(tmp)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_EXCL, 0o600)
    try:
        with memoryview(data) as view:
            written = 0
            while written < len(view):
                written += os.write(fd, view[written:])
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _task_deidentify(worker: Worker, label: str, ref: str | bytes, dest: str, qdir: str
                     ) -> tuple[str, str, str, str, str, int, int]:
    """One object of :func:`deidentify_folder`, read and written by the worker itself."""
    try:
        data = ref if isinstance(ref, bytes) else Path(ref).read_bytes()
    except OSError as exc:
        Quarantine(qdir).add(label, f"cannot read: {exc}", "read")
        return ("refused", label, "read", f"cannot read: {exc}", "", 0, 0)
    outcome = worker.process(label, data)
    if isinstance(outcome, Published):
        _write_output(worker, Path(dest) / outcome.instance["path"].removeprefix("objects/"), outcome.data)
        return ("published", label, "", "", outcome.modality, len(data), len(outcome.data))
    if isinstance(outcome, Refused):
        Quarantine(qdir).add(label, outcome.reason, outcome.stage, data, outcome.details)
        return ("refused", label, outcome.stage, outcome.reason, "", len(data), 0)
    return ("ignored", label, "", outcome.reason, "", len(data), 0)


def default_secret_file() -> Path:
    """``$CASELIB_SECRET_FILE``, else ``~/.local/share/caselib/secret.key``: outside any output folder."""
    env = os.environ.get("CASELIB_SECRET_FILE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "caselib" / "secret.key"


def deidentify_folder(
    source: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    profile: str = "teaching",
    secret_file: str | os.PathLike[str] | None = None,
    quarantine_dir: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    limits: Limits | None = None,
    progress: bool | None = None,
) -> IngestReport:
    """Plain folder-to-folder de-identification (``caselib deidentify``).

    Writes ``DEST/<Study>/<Series>/<SOP>.dcm`` (de-identified UIDs; no
    transcoding) and ``DEST/deid-report.json``.  Refused objects, which may hold
    PHI, go to ``quarantine_dir`` (default: ``DEST-quarantine`` beside ``DEST``,
    never inside it, so publishing ``DEST`` cannot publish them).  The secret and
    the pseudonym registry stay outside ``DEST`` too (``secret_file`` and a
    ``pseudonyms.sqlite`` beside it).  New patients are numbered in source order,
    whatever the number of workers (as :func:`ingest` does).  Output files are
    renamed into place atomically but not fsync'd one by one (this is a batch
    conversion; re-run it after a crash).
    """
    import sys

    from caselib.deid import load_secret

    start = time.perf_counter()
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    secret_path = Path(secret_file) if secret_file is not None else default_secret_file()
    if secret_path.resolve().is_relative_to(dest.resolve()):
        raise ValueError(f"the secret file {secret_path} must not live inside the output folder {dest}")
    secret_path.parent.mkdir(parents=True, exist_ok=True)
    load_secret(secret_path, create=True)
    workers = workers or _default_workers()
    report = IngestReport(str(source), str(dest), profile, "none", workers)
    qdir = Path(quarantine_dir) if quarantine_dir is not None else dest.with_name(dest.name + "-quarantine")
    if qdir.resolve().is_relative_to(dest.resolve()):
        raise ValueError(f"the quarantine {qdir} must not live inside the output folder {dest}: it holds originals")
    quarantine = Quarantine(qdir)
    from caselib.ingest.review import PixelPolicy

    # one worker numbers patients itself, in source order (see process_object)
    worker_args = (secret_path, secret_path.with_name("pseudonyms.sqlite"), profile, None,
                   PixelPolicy.for_archive(None), False, workers == 1)
    if progress is None:
        progress = sys.stderr.isatty()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(desc="deidentify", unit="obj")

    def jobs() -> Iterator[tuple[tuple[Any, ...], None]]:
        for item in iter_source(source, limits):
            if isinstance(item, Rejected):
                quarantine.add(item.label, item.reason, "read", item.data)
                report.count_refused(item.label, "read", item.reason)
                continue
            # a plain file is read by the worker (no bytes through the pipe); zip members are in memory
            ref: str | bytes = str(item.path) if item.path is not None else item.read()
            if workers == 1:
                pass  # the worker numbers it (see process_object)
            elif isinstance(ref, bytes):
                _number_patient(parent_deid, item.label, data=ref)
            else:
                _number_patient(parent_deid, item.label, path=ref)
            yield (item.label, ref, str(dest), str(qdir)), None

    from caselib.deid import Deidentifier, open_registry

    # pseudonym numbers are handed out here, in source order (see _number_patient)
    parent_deid = Deidentifier(profile, secret=load_secret(secret_path, create=False),
                               registry=open_registry(worker_args[1]))
    try:
        # jobs name files (no bytes through the pipe): 16 per pool task
        for done, _ in _map_ordered(_task_deidentify, jobs(), workers, worker_args, batch=16):
            kind, label, stage, reason, modality, n_in, n_out = done
            if kind == "published":
                report.count_published(modality, n_in, n_out)
            elif kind == "refused":
                report.count_refused(label, stage, reason)
            else:
                report.count_ignored(label, reason)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    report.seconds = time.perf_counter() - start
    (dest / "deid-report.json").write_text(report.to_json(), encoding="utf-8")
    return report


@dataclass
class ArchiveVerification:
    """The result of :func:`verify_archive`."""

    archive: str
    checked: int = 0
    without_record: list[str] = field(default_factory=list)
    leaks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.leaks and not self.without_record

    def summary(self) -> str:
        lines = [f"verified {self.checked} objects of {self.archive}: "
                 + ("no residual PHI found" if not self.leaks else f"{len(self.leaks)} objects with residual PHI")]
        for leak in self.leaks[:50]:
            lines.append(f"  {leak['path']}: {', '.join(leak['paths'])}")
        if self.without_record:
            lines.append(f"  {len(self.without_record)} objects have no recorded identifiers to check against "
                         f"(not ingested by caselib?): " + ", ".join(self.without_record[:5]))
        return "\n".join(lines)


def verify_archive(archive: str | os.PathLike[str], *, progress: bool | None = None,
                   store: Store | None = None) -> ArchiveVerification:
    """Re-run the residual-PHI scan over every stored object of ``archive``.

    The objects are read through ``store`` (default: the archive's own store,
    :func:`caselib.archive.open_store`: ``objects/`` or a DICOMweb server).
    Each object is searched for the identifying values harvested from its
    original at ingest (kept in ``private/journal.sqlite``), at every nesting
    level and in the raw bytes, plus the configured patterns (phone numbers,
    e-mail addresses, dates in free text, record numbers).  Reports the tag
    paths of hits, never the values.
    """
    import sys

    from pydicom import Dataset

    from caselib.archive import iter_archive_keys, open_store, read_store_settings
    from caselib.deid import Needle, verify
    from caselib.store import LocalStore

    layout = ArchiveLayout.at(archive)
    if store is None and read_store_settings(layout.root).is_local and not layout.objects.is_dir():
        from caselib.errors import DataError

        raise DataError(f"no archive at {layout.root}: expected {layout.objects}")
    if store is None:
        store = open_store(layout.root, check=True)
    result = ArchiveVerification(str(layout.root))
    journal = Journal(layout.journal)
    keys = iter_archive_keys(layout.root, store)  # a shared DICOMweb server: what the catalog lists
    bar = None
    if progress if progress is not None else sys.stderr.isatty():
        from tqdm.auto import tqdm

        bar = tqdm(total=len(keys), desc="verify", unit="obj")
    try:
        for key in keys:
            output: Any
            if isinstance(store, LocalStore):
                output = store.path_for(key)
                rel = str(output.relative_to(store.root))
            else:
                with store.open(key) as fh:
                    output = fh.read()
                rel = f"{getattr(store, 'root', 'store')}/studies/{key.study_uid}/series/{key.series_uid}/instances/{key.sop_instance_uid}"
            recorded = journal.needles(key.sop_instance_uid)
            if recorded is None:
                result.without_record.append(rel)
                recorded = ([], None)
            needles = [Needle(text=t, kind=k, source=src, word=w) for t, k, src, w in recorded[0]]
            report = verify(Dataset(), output, extra_needles=needles, date_offset=recorded[1])
            result.checked += 1
            if not report.ok:
                result.leaks.append({"path": rel, "paths": sorted(set(report.paths))})
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        journal.close()
    return result
