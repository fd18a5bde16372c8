"""Publish de-identified objects from an archive to a teaching PACS (STOW-RS or C-STORE).

Only what the archive holds is sent: the objects under ``objects/`` (already
de-identified, verified and losslessly compressed), never ``private/``.  By
default the residual-PHI scan (:func:`caselib.ingest.verify_archive`) is run
first and the push is refused if it finds anything.  Results are per study:
a study whose objects were all accepted is ``sent``; one with refusals or a
transport failure is reported with the reason and the push goes on.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from caselib.pacs.config import LocalNode, PacsNode, redact
from caselib.pacs.errors import PacsError

if TYPE_CHECKING:
    from caselib.store import Store

__all__ = ["PushReport", "StudyPush", "push", "select_instances"]


@dataclass
class StudyPush:
    study_uid: str
    status: str = "pending"   # sent | partial | failed
    instances: int = 0
    stored: int = 0
    failed: list[str] = field(default_factory=list)
    error: str = ""


@dataclass
class PushReport:
    node: str
    via: str
    archive: str
    studies: list[StudyPush] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(s.status == "sent" for s in self.studies)

    @property
    def stored(self) -> int:
        return sum(s.stored for s in self.studies)

    def summary(self) -> str:
        n = sum(s.instances for s in self.studies)
        lines = [(f"pushed {self.stored} of {n} objects in {len(self.studies)} studies from {self.archive} "
                 f"to {self.node} over {self.via} in {self.seconds:.1f} s")]
        for s in self.studies:
            if s.status != "sent":
                lines.append(f"  {s.status.upper()} study {s.study_uid}: {s.error or '; '.join(s.failed[:5])}")
        return "\n".join(lines)


def select_instances(archive: str | os.PathLike[str], *, studies: Iterable[str] | None = None,
                     series: Iterable[str] | None = None, store: Store | None = None,
                     folder: str | os.PathLike[str] | None = None) -> dict[str, list[Path]]:
    """Files of the archive by study: all, or those of the given studies and/or series.

    The objects are listed through ``store`` (default: the archive's,
    :func:`caselib.archive.open_store`).  A local store's files are used in
    place; any other store's selected objects are copied into ``folder`` (needed
    then) as ``<SOP Instance UID>.dcm``.
    """
    from caselib.archive import iter_archive_keys, open_store
    from caselib.store import LocalStore

    if store is None:
        store = open_store(archive)
    if not isinstance(store, LocalStore) and folder is None:
        raise ValueError("the archive's objects are not local files: give a folder to copy the selection into")
    want_studies = set(studies) if studies is not None else None
    want_series = set(series) if series is not None else None
    out: dict[str, list[Path]] = {}
    for key in iter_archive_keys(archive, store):
        chosen = (want_studies is None and want_series is None) or (
            (want_studies is not None and key.study_uid in want_studies)
            or (want_series is not None and key.series_uid in want_series))
        if not chosen:
            continue
        if isinstance(store, LocalStore):
            path = store.path_for(key)
        else:
            path = Path(folder) / f"{key.sop_instance_uid}.dcm"  # type: ignore[arg-type]
            with store.open(key) as fh:
                path.write_bytes(fh.read())
        out.setdefault(key.study_uid, []).append(path)
    missing = sorted((want_studies or set()) - set(out))
    if missing:
        raise PacsError(f"the archive {archive} holds no study {', '.join(missing)}")
    return out


def push(
    archive: str | os.PathLike[str],
    node: PacsNode,
    *,
    studies: Iterable[str] | None = None,
    series: Iterable[str] | None = None,
    via: Literal["dicomweb", "dimse"] = "dicomweb",
    local: LocalNode | None = None,
    verify: bool = True,
    batch: int = 16,
    progress: bool | None = None,
    environ: dict[str, str] | None = None,
    on_sent: Callable[[int], None] | None = None,
) -> PushReport:
    """Send the archive's objects (all, or chosen studies/series) to ``node``.

    Raises
    ------
    PacsError
        The residual-PHI scan found something (nothing is sent), or a chosen
        study is not in the archive.
    """
    import tempfile

    from caselib.archive import open_store

    start = time.perf_counter()
    if via not in ("dicomweb", "dimse"):
        raise ValueError(f"via must be 'dicomweb' or 'dimse', found {via!r}")
    if verify:
        from caselib.ingest import verify_archive

        check = verify_archive(archive, progress=False)
        if check.leaks:
            raise PacsError(f"not pushed: the residual-PHI scan of {archive} found identifiers in "
                            f"{len(check.leaks)} objects (run caselib verify {archive})")
    store = open_store(archive, check=True)
    copies = tempfile.TemporaryDirectory(prefix="caselib-push-")  # used only when the archive is remote
    try:
        selected = select_instances(archive, studies=studies, series=series, store=store, folder=copies.name)
        return _send(selected, archive, node, via, local, batch, progress, environ, on_sent, start)
    finally:
        copies.cleanup()
        close = getattr(store, "close", None)
        if close is not None:
            close()


def _send(selected: dict[str, list[Path]], archive: str | os.PathLike[str], node: PacsNode, via: str,
          local: LocalNode | None, batch: int, progress: bool | None, environ: dict[str, str] | None,
          on_sent: Callable[[int], None] | None, start: float) -> PushReport:
    import sys

    import pydicom

    report = PushReport(node.name, via, str(archive))
    bar = None
    if progress if progress is not None else sys.stderr.isatty():
        from tqdm.auto import tqdm

        bar = tqdm(total=sum(len(v) for v in selected.values()), desc=f"push {node.name}", unit="obj")

    def tick(n: int = 1) -> None:
        if bar is not None:
            bar.update(n)
        if on_sent is not None:
            on_sent(n)

    conn = None
    secrets: tuple[str, ...] = ()
    try:
        if via == "dicomweb":
            from caselib.pacs.dicomweb import DicomwebConnection, chunked

            conn = DicomwebConnection(node, environ=environ)
            secrets = conn._secrets
        for study_uid, files in selected.items():
            outcome = StudyPush(study_uid, instances=len(files))
            try:
                if conn is not None:
                    for group in chunked(files, batch):
                        datasets = [pydicom.dcmread(f) for f in group]
                        result = conn.store(datasets)
                        outcome.stored += len(result.stored)
                        outcome.failed += [f"{uid}: {why}" for uid, why in result.failed]
                        tick(len(group))
                else:
                    from caselib.pacs.dimse import store_files

                    stored, failed = store_files(node, files, local, on_sent=lambda _p, _ok: tick())
                    outcome.stored = len(stored)
                    outcome.failed = [f"{p.stem}: {why}" for p, why in failed]
                outcome.status = "sent" if outcome.stored == len(files) and not outcome.failed else "partial"
                if outcome.status == "partial" and not outcome.failed:
                    outcome.error = f"the PACS confirmed {outcome.stored} of {len(files)} objects"
            except PacsError as exc:
                outcome.status = "failed"
                outcome.error = redact(str(exc), secrets)
            except Exception as exc:  # noqa: BLE001 - one study must not stop the push
                outcome.status = "failed"
                outcome.error = redact(f"{type(exc).__name__}: {exc}", secrets)
            report.studies.append(outcome)
    finally:
        if bar is not None:
            bar.close()
        if conn is not None:
            conn.close()
    report.seconds = time.perf_counter() - start
    return report
