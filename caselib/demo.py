"""The demo case library: the manifest's demo files ingested into a local archive.

``caselib demo build`` fetches every demo file through the data manifest (by
sha256), then runs the real ingest pipeline on them: de-identification,
residual-PHI verification, lossless transcoding, atomic writes and the SQLite
catalog, with each series tagged with its data set (so lessons can show its
licence and citation) and with the manifest key it came from (the catalog's
``series_sources``).  The synthetic phantoms of the teaching cases
(``phantom.yaml``) are built and ingested too.  After the ingest every teaching
case is linked to its series in the archive
(:func:`caselib.cases.sync_catalog` with the archive's keyring, which maps the
phantoms' original UIDs), so the classroom apps opened with the archive show the
archive's de-identified objects.  Objects whose pixels may carry burned-in text are
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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from caselib.data import fetch_many, load_manifest

__all__ = [
    "ARCHIVE_ENV",
    "DEMO_APP",
    "DemoReport",
    "build_demo_archive",
    "default_archive",
    "link_cases",
    "serve_command",
    "serve_environment",
]

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
    n_phantoms: int = 0          # synthetic phantom series built from the cases' phantom.yaml
    n_phantom_files: int = 0
    #: one :class:`caselib.cases.Resolution` per teaching case linked to the archive
    cases: list[Any] = field(default_factory=list)

    @property
    def cases_missing(self) -> dict[str, tuple[str, ...]]:
        """``case id -> series references not in the archive`` (not in the demo set, or quarantined)."""
        return {r.case_id: r.missing for r in self.cases if r.missing}

    def summary(self) -> str:
        out = (f"demo case library: {self.n_files} demo files ({self.n_bytes / 1e6:.1f} MB) "
               f"and {self.n_phantoms} synthetic phantom(s) ({self.n_phantom_files} files) "
               f"in {self.seconds:.1f} s\n{self.ingest.summary()}")
        if self.cases:
            missing = self.cases_missing
            out += f"\nteaching cases linked to the archive: {len(self.cases) - len(missing)} of {len(self.cases)}"
            if missing:
                out += ("; the apps say these are not in the archive (their files are not in the demo set, "
                        "or were quarantined): " + ", ".join(sorted(missing)))
        return out


def _place(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        return
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)


def build_demo_archive(archive: Path | str, *, progress: bool = True, workers: int | None = None,
                       keys: Sequence[str] | None = None,
                       cases: Iterable[str | os.PathLike[str]] | None = None) -> DemoReport:
    """Fetch the demo files, ingest them into ``archive`` and link the teaching cases to them.

    Parameters
    ----------
    keys : sequence of str, optional
        Manifest file keys or data-set names to ingest instead of the demo set
        (tests build small archives this way).
    cases : iterable of path, optional
        Folders of teaching cases whose phantoms are ingested and whose cases
        are linked (default: ``$CASELIB_CASES`` or the checkout's ``cases/``;
        ``()`` for none).

    Returns a :class:`DemoReport`; ``report.summary()`` is what the command prints.
    """
    from caselib.archive import ArchiveLayout
    from caselib.ingest import ingest

    start = time.perf_counter()
    manifest = load_manifest()
    entries = manifest.select(demo=True) if keys is None else manifest.select(keys)
    case_roots = [Path(c) for c in (_default_cases() if cases is None else cases)]
    paths = fetch_many([e.key for e in entries], manifest=manifest,
                       progress=progress and sys.stderr.isatty())
    layout = ArchiveLayout.at(archive).create()
    # the ingest source: the verified cache files, hard-linked (or copied) under their keys
    staging = layout.private / "demo-source"
    shutil.rmtree(staging, ignore_errors=True)
    entry_of: dict[str, Any] = {}
    for entry, path in zip(entries, paths):
        dest = staging.joinpath(*entry.key.split("/"))
        _place(path, dest)
        entry_of[str(dest)] = entry
    n_phantoms, n_phantom_files = _build_phantoms(case_roots, staging / "synthetic")

    def series_fields(label: str) -> dict[str, Any]:
        # the data set (licence, citation) and the manifest key, so a case naming the file finds
        # its series after de-identification replaced every UID (caselib.cases.resolve_series)
        entry = entry_of.get(label)
        return {} if entry is None else {"dataset": entry.dataset, "source_refs": (entry.key,)}

    try:
        report = ingest(staging, layout.root, workers=workers, progress=progress, series_fields=series_fields)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    resolutions = link_cases(layout.root, case_roots) if case_roots else []
    return DemoReport(archive=layout.root, n_files=len(entries), n_bytes=sum(e.size for e in entries),
                      ingest=report, seconds=time.perf_counter() - start, n_phantoms=n_phantoms,
                      n_phantom_files=n_phantom_files, cases=resolutions)


def _default_cases() -> list[Path]:
    from caselib.assignments import cases_dir

    return [p for p in cases_dir() if p.is_dir()]


def _build_phantoms(case_roots: Sequence[Path], out: Path) -> tuple[int, int]:
    """Build the phantom of every synthetic case (``phantom.yaml``) under ``out``.

    Returns ``(phantoms, files)``.  The phantoms are deterministic, so a
    rebuild gives the same bytes and the ingest journal skips them.
    """
    from caselib.phantom import build_case_phantom

    folders = sorted({p.parent for root in case_roots for p in Path(root).rglob("phantom.yaml")})
    for folder in folders:
        build_case_phantom(folder, out / folder.name)
    return len(folders), sum(1 for p in out.rglob("*") if p.is_file()) if folders else 0


def link_cases(archive: Path | str, case_roots: Iterable[str | os.PathLike[str]]) -> list[Any]:
    """Write the teaching cases into the archive's catalog, linked to the archive's series.

    Manifest keys resolve through the catalog's ``series_sources``, the
    phantoms' original UIDs through the archive's keyring
    (:func:`caselib.cases.keyring_for_archive`).  Returns one
    :class:`caselib.cases.Resolution` per case; converges on re-runs.
    """
    from caselib.cases import keyring_for_archive, load_library, sync_catalog
    from caselib.catalog import Catalog

    cases = [c for root in case_roots for c in load_library(root).cases]
    with Catalog.open(archive) as catalog:
        return sync_catalog(catalog, cases, keyring=keyring_for_archive(archive))


#: the page ``make demo`` opens: the case browser app, rendered by Voila inside JupyterLab's server
DEMO_APP = "voila_apps/case_browser_app.ipynb"


def serve_environment(archive: Path | str, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of the server ``caselib demo serve`` starts: ``base`` (default this
    process's) with ``CASELIB_ARCHIVE`` set to the archive's absolute path and caselib's Voila
    template on ``JUPYTER_PATH`` (:func:`caselib.ui.apps.serve.voila_env`)."""
    from caselib.ui.apps.serve import voila_env

    env = voila_env(dict(os.environ if base is None else base))
    env[ARCHIVE_ENV] = str(Path(archive).resolve())
    return env


def serve_command(archive: Path, *, port: int = 8888, notebooks: Path = Path("notebooks")) -> list[str]:
    """The JupyterLab command that serves the lessons and the classroom apps on 127.0.0.1.

    The server's root is the folder holding ``notebooks/`` and ``voila_apps/``
    (the caselib checkout), and its start page is the case browser app
    (``/voila/render/voila_apps/case_browser_app.ipynb``, through Voila's
    server extension); JupyterLab with the lessons is at ``/lab``.  When
    ``notebooks`` has no ``voila_apps/`` beside it, the root is ``notebooks``
    and the start page is JupyterLab.

    Sets ``CASELIB_ARCHIVE`` in this process's environment
    (:func:`serve_environment`) so the server and its kernels find the archive:
    the classroom apps (:func:`caselib.ui.apps.open_library`) then show the
    archive's de-identified objects.
    """
    os.environ.update(serve_environment(archive))
    jupyter = shutil.which("jupyter") or str(Path(sys.executable).with_name("jupyter"))
    notebooks = Path(notebooks).resolve()
    root = notebooks.parent if (notebooks.parent / DEMO_APP).is_file() else notebooks
    from caselib.ui.apps.serve import TEMPLATE

    cmd = [jupyter, "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--ServerApp.root_dir={root}", f"--VoilaConfiguration.template={TEMPLATE}"]
    if root != notebooks:
        cmd.append(f"--LabApp.default_url=/voila/render/{DEMO_APP}")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    return cmd
