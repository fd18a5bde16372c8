"""The demo case library, `caselib doctor`, and JupyterLab serving it (what `make demo` runs)."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from caselib.archive import ArchiveLayout
from caselib.catalog import Catalog
from caselib.data import load_manifest
from caselib.demo import build_demo_archive
from ingest_fixtures import fixed_archive_secret
from caselib.doctor import format_checks, run_checks
from caselib.ingest import Quarantine

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo_archive(tmp_path_factory):
    archive = tmp_path_factory.mktemp("demo") / "archive"
    fixed_archive_secret(archive)  # see ingest_fixtures: a random secret can refuse an object by chance
    report = build_demo_archive(archive, progress=False, workers=2)
    return archive, report


def _series_by_dataset(archive: Path) -> dict[str, list[dict]]:
    with Catalog.open(archive, readonly=True) as catalog:
        frame = catalog.series()
    out: dict[str, list[dict]] = {}
    for row in frame.to_dict("records"):
        out.setdefault(row["dataset"], []).append(row)
    return out


def test_demo_archive_is_ingested_deidentified_and_cataloged(demo_archive):
    archive, report = demo_archive
    demo = load_manifest().select(demo=True)
    assert report.n_files == len(demo)
    ingest = report.ingest
    # every demo file and every slice of the cases' synthetic phantoms is accounted for:
    # published, or quarantined with a reason
    assert report.n_phantoms == 2 and report.n_phantom_files == 40
    assert ingest.published + ingest.quarantined + ingest.ignored == len(demo) + report.n_phantom_files
    by_dataset = _series_by_dataset(archive)
    lung = by_dataset["tcia-lung-ct"]
    assert len(lung) == 1 and lung[0]["n_instances"] == 30 and lung[0]["modality"] == "CT"
    head = by_dataset["ge-head-ct"]
    assert any("tilt" in w.lower() for w in head[0]["geometry_warnings"])
    assert len(by_dataset["tcia-covid-ct-followup"]) == 12  # 6 patients x 2 studies, one slice each
    assert by_dataset["pediatric-brain-mr"][0]["n_instances"] == 192
    # stored losslessly compressed, under de-identified UIDs (2.25.<HMAC>)
    layout = ArchiveLayout.at(archive)
    stored = list(layout.objects.rglob("*.dcm"))
    assert len(stored) == ingest.published
    assert all(p.parent.name.startswith("2.25.") for p in stored)
    # objects that may show burned-in text are never published silently
    stages = {r.stage for r in Quarantine(layout.quarantine)}
    assert stages <= {"pixel-phi", "verify"}
    assert "demo case library" in report.summary()


def test_demo_cases_are_linked_to_the_archive_series(demo_archive):
    """Every case whose files are in the demo set finds its series in the archive (manifest keys
    through series_sources, phantoms through the keyring); the others are named, nothing invented."""
    from caselib.cases import load_library

    archive, report = demo_archive
    manifest = load_manifest()
    quarantined = {r.label for r in Quarantine(ArchiveLayout.at(archive).quarantine)}

    def in_demo(ref) -> bool:
        if ref.manifest_key is None:
            return True                       # a phantom, built by the demo build
        files = manifest.select([ref.manifest_key])
        return all(f.demo and not any(label.endswith(f.key) for label in quarantined) for f in files)

    cases = load_library(ROOT / "cases").cases
    expected_missing = {c.id for c in cases if not all(in_demo(r) for r in c.series)}
    assert set(report.cases_missing) == expected_missing
    assert {"us-echo-cine-frame-time", "us-pelvis-dual-image-regions"} <= expected_missing
    assert len(report.cases) == len(cases) and len(expected_missing) < len(cases) / 2
    with Catalog.open(archive, readonly=True) as catalog:
        for case in cases:
            row = catalog.get_case(case.id)
            if case.id not in expected_missing:
                assert row.series_uids and all(catalog.has_series(u) for u in row.series_uids), case.id
        assert len(catalog.series_for_source("tcia-covid-ct-followup/A002304/axial/19001231-076.dcm")) == 1


def test_rebuilding_the_demo_converges(demo_archive):
    archive, _ = demo_archive
    before = sorted(p.relative_to(archive) for p in ArchiveLayout.at(archive).objects.rglob("*.dcm"))
    again = build_demo_archive(archive, progress=False, workers=1)
    assert again.ingest.published == 0 and again.ingest.quarantined == 0
    assert again.cases_missing == demo_archive[1].cases_missing
    after = sorted(p.relative_to(archive) for p in ArchiveLayout.at(archive).objects.rglob("*.dcm"))
    assert before == after
    assert not (ArchiveLayout.at(archive).private / "demo-source").exists()


def test_doctor_reports_ok_and_failures_with_fixes(demo_archive, tmp_path):
    archive, _ = demo_archive
    checks = run_checks(archive=archive)
    assert all(c.ok for c in checks), format_checks(checks)
    assert "Everything is ready." in format_checks(checks)
    missing = run_checks(fetch_data=False, archive=tmp_path / "nowhere")
    text = format_checks(missing)
    assert "FAIL demo archive" in text and "run `make demo`" in text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get_when_up(url: str, seconds: float = 60) -> str:
    """GET ``url``, retrying while the server is still binding its port."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return urllib.request.urlopen(url, timeout=30).read().decode()
        except urllib.error.URLError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.25)


@pytest.mark.slow
def test_demo_serve_starts_jupyterlab_on_the_lessons(demo_archive, tmp_path):
    """`caselib demo serve` (the last step of `make demo`) prints a URL that opens the case
    browser app; JupyterLab with the lessons is on the same server."""
    import queue
    import threading

    archive, _ = demo_archive
    port = _free_port()
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"), "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "caselib.cli", "demo", "serve", "--archive", str(archive), "--port", str(port),
         "--notebooks", str(ROOT / "notebooks")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True)
    lines_q: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines_q.put(line) for line in proc.stdout], daemon=True).start()
    try:
        url = None
        deadline = time.monotonic() + 120
        lines = []
        while time.monotonic() < deadline and url is None and proc.poll() is None:
            try:
                line = lines_q.get(timeout=1)
            except queue.Empty:
                continue
            lines.append(line)
            m = re.search(rf"(http://127\.0\.0\.1:{port}/\S*\?token=\w+)", line)
            if m:
                url = m.group(1)
        assert url, "no URL printed:\n" + "".join(lines)
        assert "case_browser_app" in url, url
        token = url.split("token=")[1]
        lab = _get_when_up(f"http://127.0.0.1:{port}/lab?token={token}")
        assert "JupyterLab" in lab
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/contents/notebooks/00_setup.ipynb?content=0",
                                     headers={"Authorization": f"token {token}"})
        meta = json.loads(urllib.request.urlopen(req, timeout=30).read())
        assert meta["name"] == "00_setup.ipynb"
        app = _get_when_up(url, seconds=120)
        assert "voila" in app.lower(), app[:500]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
