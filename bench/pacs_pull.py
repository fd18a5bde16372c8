"""How fast does caselib pull studies from a PACS into its archive?

One real Orthanc (Debian ``orthanc`` + ``orthanc-dicomweb``) on loopback, auth on,
started by this script in a temporary folder.  In one run, on the same files
(``tcia-lung-ct`` 30 CT slices, ``tcia-gbm-mr`` 24 MR slices, ``tcia-covid-ct-followup``
12 CT key slices: 66 instances in 14 studies, from the data manifest):

* **Orthanc's own ingest** (the reference): ``POST /instances`` of every file over
  one keep-alive HTTP connection, into an empty Orthanc (parse, index, store);
* **caselib over DICOMweb**: ``caselib.pacs.pull(via="dicomweb")``: QIDO-RS, WADO-RS
  per series, then the whole ingest pipeline (de-identify, residual-PHI verify,
  JPEG-LS transcode verified bit-exact, atomic write, SQLite catalog), temporary
  raw files wiped per study;
* **caselib over C-MOVE**: the same with ``via="move"`` (Orthanc sends to caselib's
  C-STORE receiver);
* **caselib over C-GET**: the same with ``via="get"``;
* **caselib from a folder** (the ceiling of any pull): ``caselib.ingest.ingest`` of the
  same files from a local folder in one run, no network.

Each pull goes into a fresh archive; rates are instances per second, wall clock,
end to end.  Rounds are repeated and the median is reported.  The last line is one
JSON object with the figures.

Usage::

    python bench/pacs_pull.py [--repeats 3] [--workers 1]
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from orthanc_support import OrthancServer, free_port, orthanc_available  # noqa: E402

DATASETS = ("tcia-lung-ct", "tcia-gbm-mr", "tcia-covid-ct-followup")


def _files() -> list[Path]:
    from caselib.data import fetch_dataset

    files: list[Path] = []
    for name in DATASETS:
        files += sorted(Path(fetch_dataset(name)).rglob("*.dcm"))
    return files


def orthanc_ingest_rate(server: OrthancServer, files: list[Path]) -> float:
    import requests

    payloads = [f.read_bytes() for f in files]  # read before timing: the disk is not what is measured
    server.clear()
    with requests.Session() as s:
        s.auth = (server.user, server.password)
        t0 = time.perf_counter()
        for data in payloads:
            r = s.post(f"{server.url}/instances", data=data, headers={"Content-Type": "application/dicom"})
            r.raise_for_status()
        seconds = time.perf_counter() - t0
    assert server.instance_count() == len(files)
    return len(files) / seconds


def caselib_pull_rate(server: OrthancServer, config, via: str, tmp: Path, workers: int) -> tuple[float, int]:
    from caselib.pacs import StudyQuery, pull

    archive = tmp / f"archive-{via}"
    shutil.rmtree(archive, ignore_errors=True)
    environ = {"BENCH_USER": server.user, "BENCH_PASSWORD": server.password}
    t0 = time.perf_counter()
    report = pull(config.node("orthanc"), archive, query=StudyQuery(), via=via, config=config, environ=environ,
                  workers=workers, progress=False)
    seconds = time.perf_counter() - t0
    if not report.ok:
        raise SystemExit(f"pull over {via} failed:\n{report.summary()}")
    stored = sum(1 for _ in (archive / "objects").rglob("*.dcm"))
    shutil.rmtree(archive, ignore_errors=True)
    return report.retrieved / seconds, stored


def local_ingest_rate(files: list[Path], tmp: Path, workers: int) -> float:
    from caselib.ingest import ingest

    src, archive = tmp / "local-src", tmp / "local-archive"
    shutil.rmtree(src, ignore_errors=True)
    shutil.rmtree(archive, ignore_errors=True)
    for i, f in enumerate(files):
        (src / f"{i:04d}").mkdir(parents=True)
        shutil.copy(f, src / f"{i:04d}" / f.name)
    t0 = time.perf_counter()
    report = ingest(src, archive, workers=workers, progress=False)
    seconds = time.perf_counter() - t0
    assert report.published == len(files), report.summary()
    shutil.rmtree(archive, ignore_errors=True)
    return len(files) / seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds (default 3)")
    parser.add_argument("--workers", type=int, default=1, help="ingest processes per study (default 1)")
    args = parser.parse_args(argv)
    if not orthanc_available():
        raise SystemExit("needs Debian orthanc and orthanc-dicomweb (make system-deps)")
    from caselib.pacs import PacsConfig

    files = _files()
    figures: dict[str, object] = {"instances": len(files), "repeats": args.repeats, "workers": args.workers}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        receiver = free_port()
        with OrthancServer(tmp / "orthanc", aet="BENCHPACS", modalities={"CASELIB": ("127.0.0.1", receiver)}) as srv:
            config = PacsConfig.from_dict({
                "local": {"ae_title": "CASELIB", "port": receiver},
                "nodes": {"orthanc": {"dicomweb_url": srv.dicomweb_url, "username_env": "BENCH_USER",
                                      "password_env": "BENCH_PASSWORD", "ae_title": "BENCHPACS",
                                      "port": srv.dicom_port}}})
            rates: dict[str, list[float]] = {"orthanc_ingest": [], "caselib_local_ingest": [], "dicomweb": [],
                                             "move": [], "get": []}
            orthanc_ingest_rate(srv, files)  # warm-up: page cache, Orthanc's database
            for _ in range(args.repeats):
                rates["orthanc_ingest"].append(orthanc_ingest_rate(srv, files))
                rates["caselib_local_ingest"].append(local_ingest_rate(files, tmp, args.workers))
                for via in ("dicomweb", "move", "get"):
                    rate, stored = caselib_pull_rate(srv, config, via, tmp, args.workers)
                    if stored != len(files):
                        raise SystemExit(f"{via}: {stored} objects stored, expected {len(files)}")
                    rates[via].append(rate)
    med = {k: statistics.median(v) for k, v in rates.items()}
    for k, v in med.items():
        print(f"{k:21s} {v:8.1f} instances/s   (rounds: {', '.join(f'{x:.1f}' for x in rates[k])})")
    for via in ("dicomweb", "move", "get"):
        print(f"caselib {via} pull+ingest / Orthanc POST /instances: {med[via] / med['orthanc_ingest']:.2f}x; "
              f"/ caselib ingest from a folder: {med[via] / med['caselib_local_ingest']:.2f}x")
    for k, v in med.items():
        figures[f"{k}_instances_per_s"] = round(v, 2)
    for via in ("dicomweb", "move", "get"):
        figures[f"{via}_vs_orthanc_ingest"] = round(med[via] / med["orthanc_ingest"], 3)
        figures[f"{via}_vs_local_ingest"] = round(med[via] / med["caselib_local_ingest"], 3)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
