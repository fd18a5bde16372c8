"""The demo case library: the manifest's demo files ingested into a local archive.

``caselib demo build`` fetches every demo file through the data manifest (by
sha256), then runs the real ingest pipeline on them: de-identification,
residual-PHI verification, lossless transcoding, atomic writes and the SQLite
catalog, with each series tagged with its data set so lessons can show its
licence and citation.  Objects whose pixels may carry burned-in text are
quarantined unless a reviewed decision kept in the repository says how to
publish them.  ``caselib demo serve`` starts JupyterLab on the caselib folder with
``CASELIB_ARCHIVE`` pointing at the archive; its start page is the case
browser app (Voila), and the lessons are in JupyterLab at ``/lab``.

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

__all__ = ["DemoReport", "build_demo_archive", "default_archive", "serve_command", "ARCHIVE_ENV", "DEMO_APP"]

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


#: the page ``make demo`` opens: the case browser app, rendered by Voila inside JupyterLab's server
DEMO_APP = "voila_apps/case_browser_app.ipynb"


def serve_command(archive: Path, *, port: int = 8888, notebooks: Path = Path("notebooks")) -> list[str]:
    """The JupyterLab command that serves the lessons and the classroom apps on 127.0.0.1.

    The server's root is the folder holding ``notebooks/`` and ``voila_apps/``
    (the caselib checkout), and its start page is the case browser app
    (``/voila/render/voila_apps/case_browser_app.ipynb``, through Voila's
    server extension); JupyterLab with the lessons is at ``/lab``.  When
    ``notebooks`` has no ``voila_apps/`` beside it, the root is ``notebooks``
    and the start page is JupyterLab.

    Sets ``CASELIB_ARCHIVE`` in this process's environment so the server and its
    kernels find the archive.
    """
    os.environ[ARCHIVE_ENV] = str(Path(archive).resolve())
    jupyter = shutil.which("jupyter") or str(Path(sys.executable).with_name("jupyter"))
    notebooks = Path(notebooks).resolve()
    root = notebooks.parent if (notebooks.parent / DEMO_APP).is_file() else notebooks
    cmd = [jupyter, "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--ServerApp.root_dir={root}"]
    if root != notebooks:
        cmd.append(f"--LabApp.default_url=/voila/render/{DEMO_APP}")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    return cmd
