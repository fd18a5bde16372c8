"""The demo case library: the manifest's demo files gathered into a local archive.

``caselib demo build`` fetches every demo file through the data manifest,
places it in ``ARCHIVE/files/<key>`` (a hard link to the verified cache copy
where the file system allows, else a copy), reads every series with
:mod:`caselib.dicom`, and writes ``ARCHIVE/library.json``: one record per
series with its data set, modality, size, geometry warnings, licence and
citation.  ``caselib demo serve`` opens JupyterLab on the lessons with
``CASELIB_ARCHIVE`` pointing at it.

The archive is rebuilt from scratch into a temporary folder and renamed into
place, so an interrupted build leaves the previous archive intact.

The files are public, already de-identified data; the ingest pipeline
(de-identification, lossless transcoding, SQLite catalog) will take over this
job for the college's own studies.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from caselib.data import cache_dir, fetch_many, load_manifest

__all__ = ["DemoReport", "build_demo_archive", "load_library", "serve_command", "ARCHIVE_ENV"]

ARCHIVE_ENV = "CASELIB_ARCHIVE"
LIBRARY_FILE = "library.json"


@dataclass
class DemoReport:
    archive: Path
    n_files: int
    n_bytes: int
    series: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        by_modality: dict[str, int] = {}
        for s in self.series:
            by_modality[s["modality"]] = by_modality.get(s["modality"], 0) + 1
        mods = ", ".join(f"{m} {n}" for m, n in sorted(by_modality.items()))
        lines = [
            f"demo case library: {len(self.series)} series ({mods}) from {self.n_files} files, "
            f"{self.n_bytes / 1e6:.1f} MB, built in {self.seconds:.1f} s",
            f"archive: {self.archive}",
        ]
        if self.skipped:
            lines.append(f"{len(self.skipped)} files were not readable as image series:")
            lines += [f"  {s['source']}: {s['reason']}" for s in self.skipped]
        return "\n".join(lines)


def _place(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)


def build_demo_archive(archive: Path, *, progress: bool = True) -> DemoReport:
    """Fetch the demo files and write the demo archive at ``archive``.

    Returns a :class:`DemoReport`; ``report.summary()`` is what the command prints.
    """
    from caselib.dicom import read

    start = time.perf_counter()
    manifest = load_manifest()
    entries = manifest.select(demo=True)
    paths = fetch_many([e.key for e in entries], manifest=manifest,
                       progress=progress and sys.stderr.isatty())
    archive = Path(archive)
    tmp = archive.with_name(f".{archive.name}.building")
    shutil.rmtree(tmp, ignore_errors=True)
    for entry, path in zip(entries, paths):
        _place(path, tmp / "files" / Path(*entry.key.split("/")))

    records: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    by_dataset: dict[str, list[str]] = {}
    for entry in entries:
        by_dataset.setdefault(entry.dataset, []).append(entry.key)
    for name, keys in by_dataset.items():
        ds = manifest.datasets[name]
        collection = read([tmp / "files" / Path(*k.split("/")) for k in keys])
        for err in collection.errors:
            skipped.append({"source": str(Path(str(err.source)).relative_to(tmp)), "reason": err.reason})
        for series in collection.series:
            records.append(_series_record(series, ds.name, ds.title, ds.licence, ds.citation, tmp))
    library = {
        "about": "caselib demo case library: public, already de-identified data from data_manifest.yaml",
        "built_with": "caselib demo build",
        "cache": str(cache_dir()),
        "series": records,
        "skipped": skipped,
    }
    (tmp / LIBRARY_FILE).write_text(json.dumps(library, indent=1, ensure_ascii=False), encoding="utf-8")
    old = archive.with_name(f".{archive.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if archive.exists():
        archive.rename(old)
    tmp.rename(archive)
    shutil.rmtree(old, ignore_errors=True)
    n_bytes = sum(e.size for e in entries)
    for r in records:
        r["files"] = [str(Path(f)) for f in r["files"]]
    return DemoReport(archive=archive, n_files=len(entries), n_bytes=n_bytes, series=records,
                      skipped=skipped, seconds=time.perf_counter() - start)


def _series_record(series: Any, dataset: str, title: str, licence: str, citation: str,
                   root: Path) -> dict[str, Any]:
    files = [Path(str(inst.path)).relative_to(root).as_posix() for inst in series.instances]
    geometry = series.geometry
    return {
        "dataset": dataset,
        "dataset_title": title,
        "series_instance_uid": series.uid,
        "modality": series.modality,
        "description": series.description,
        "body_part": series.body_part,
        "n_instances": len(series.instances),
        "n_frames": series.number_of_frames,
        "warnings": list(geometry.warnings) if geometry is not None else [],
        "licence": licence,
        "citation": citation,
        "files": files,
    }


def load_library(archive: Path | str | None = None) -> dict[str, Any]:
    """Read ``library.json`` of ``archive`` (default ``$CASELIB_ARCHIVE``)."""
    root = Path(archive or os.environ.get(ARCHIVE_ENV, "demo_archive"))
    path = root / LIBRARY_FILE
    if not path.is_file():
        from caselib.errors import DataError

        raise DataError(f"no demo library at {path}: run `caselib demo build --archive {root}` "
                        "(or `make demo`) first")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    data["root"] = str(root.resolve())
    return data


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
