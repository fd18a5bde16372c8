"""The demo case library: the manifest's demo files ingested into a local archive.

``caselib demo build`` fetches every demo file through the data manifest (by
sha256), then runs the real ingest pipeline on them: de-identification,
residual-PHI verification, lossless transcoding, atomic writes and the SQLite
catalog, with each series tagged with its data set so lessons can show its
licence and citation.  Objects whose pixels may carry burned-in text are
quarantined unless a reviewed decision kept in the repository says how to
publish them.  ``caselib demo serve`` opens JupyterLab on the lessons with
``CASELIB_ARCHIVE`` pointing at the archive.

Building again converges: the ingest journal skips what is already done, so
an interrupted build is finished by running it again.
"""
from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from caselib.data import fetch_many, load_manifest

__all__ = ["DemoReport", "build_demo_archive", "default_archive", "serve_command", "ARCHIVE_ENV"]

ARCHIVE_ENV = "CASELIB_ARCHIVE"


def default_archive() -> Path:
    """``$CASELIB_ARCHIVE`` or ``demo_archive`` in the current folder."""
    return Path(os.environ.get(ARCHIVE_ENV, "demo_archive"))


@dataclass
class DemoReport:
    archive: Path
    n_files: int
    n_bytes: int
    ingest: Any  # caselib.ingest.IngestReport
    seconds: float = 0.0

    def summary(self) -> str:
        return (f"demo case library: {self.n_files} demo files ({self.n_bytes / 1e6:.1f} MB) "
                f"in {self.seconds:.1f} s\n{self.ingest.summary()}")


def _place(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        return
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)


def build_demo_archive(archive: Path | str, *, progress: bool = True, workers: int | None = None) -> DemoReport:
    """Fetch the demo files and ingest them into ``archive``.

    Returns a :class:`DemoReport`; ``report.summary()`` is what the command prints.
    """
    from caselib.archive import ArchiveLayout
    from caselib.ingest import ingest

    start = time.perf_counter()
    manifest = load_manifest()
    entries = manifest.select(demo=True)
    paths = fetch_many([e.key for e in entries], manifest=manifest,
                       progress=progress and sys.stderr.isatty())
    layout = ArchiveLayout.at(archive).create()
    # the ingest source: the verified cache files, hard-linked (or copied) under their keys
    staging = layout.private / "demo-source"
    shutil.rmtree(staging, ignore_errors=True)
    dataset_of: dict[str, str] = {}
    for entry, path in zip(entries, paths):
        dest = staging.joinpath(*entry.key.split("/"))
        _place(path, dest)
        dataset_of[str(dest)] = entry.dataset
    try:
        report = ingest(staging, layout.root, workers=workers, progress=progress,
                        series_fields=lambda label: {"dataset": dataset_of.get(label)})
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return DemoReport(archive=layout.root, n_files=len(entries), n_bytes=sum(e.size for e in entries),
                      ingest=report, seconds=time.perf_counter() - start)


def serve_command(archive: Path, *, port: int = 8888, notebooks: Path = Path("notebooks")) -> list[str]:
    """The JupyterLab command that serves the lessons on 127.0.0.1 for this archive.

    Sets ``CASELIB_ARCHIVE`` in this process's environment so the server and its
    kernels find the archive.
    """
    os.environ[ARCHIVE_ENV] = str(Path(archive).resolve())
    jupyter = shutil.which("jupyter") or str(Path(sys.executable).with_name("jupyter"))
    cmd = [jupyter, "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--ServerApp.root_dir={Path(notebooks).resolve()}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    return cmd
