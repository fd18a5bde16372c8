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

from caselib.data import load_manifest
from caselib.demo import build_demo_archive, load_library
from caselib.doctor import format_checks, run_checks
from caselib.errors import DataError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo_archive(tmp_path_factory):
    archive = tmp_path_factory.mktemp("demo") / "archive"
    report = build_demo_archive(archive, progress=False)
    return archive, report


def test_demo_archive_holds_every_demo_file_and_series(demo_archive):
    archive, report = demo_archive
    demo = load_manifest().select(demo=True)
    assert report.n_files == len(demo)
    for entry in demo:
        assert (archive / "files" / entry.key).is_file(), entry.key
    library = load_library(archive)
    by_dataset: dict[str, list[dict]] = {}
    for s in library["series"]:
        by_dataset.setdefault(s["dataset"], []).append(s)
    lung = by_dataset["tcia-lung-ct"]
    assert len(lung) == 1 and lung[0]["n_instances"] == 30 and lung[0]["modality"] == "CT"
    assert "doi:10.7937/TCIA.2020.NNC2-0461" in lung[0]["citation"]
    head = by_dataset["ge-head-ct"]
    assert any("tilt" in w.lower() for w in head[0]["warnings"])
    assert len(by_dataset["tcia-covid-ct-followup"]) == 12  # 6 patients x 2 studies, one slice each
    assert by_dataset["pediatric-brain-mr"][0]["n_instances"] == 192
    assert {s["modality"] for s in library["series"]} >= {"CT", "MR", "PT", "CR", "US", "MG"}
    assert "series" in report.summary() and str(archive) in report.summary()


def test_rebuilding_replaces_the_archive_atomically(demo_archive, tmp_path):
    archive = tmp_path / "a"
    build_demo_archive(archive, progress=False)
    (archive / "stale-marker").write_text("x")
    build_demo_archive(archive, progress=False)
    assert not (archive / "stale-marker").exists()
    assert not list(tmp_path.glob(".a.*")), "no temporary folders left behind"


def test_load_library_without_archive_says_what_to_run(tmp_path):
    with pytest.raises(DataError, match=r"run `caselib demo build --archive .*` \(or `make demo`\) first"):
        load_library(tmp_path / "missing")


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
    """`caselib demo serve` (the last step of `make demo`) prints a URL that serves JupyterLab."""
    archive, _ = demo_archive
    port = _free_port()
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"), "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "caselib.cli", "demo", "serve", "--archive", str(archive), "--port", str(port),
         "--notebooks", str(ROOT / "notebooks")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True)
    try:
        url = None
        deadline = time.monotonic() + 120
        lines = []
        while time.monotonic() < deadline and url is None:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            m = re.search(rf"(http://127\.0\.0\.1:{port}/lab\?token=\w+)", line)
            if m:
                url = m.group(1)
        assert url, "no URL printed:\n" + "".join(lines)
        page = _get_when_up(url)
        assert "JupyterLab" in page
        token = url.split("token=")[1]
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/contents/00_setup.ipynb?content=0",
                                     headers={"Authorization": f"token {token}"})
        meta = json.loads(urllib.request.urlopen(req, timeout=30).read())
        assert meta["name"] == "00_setup.ipynb"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
