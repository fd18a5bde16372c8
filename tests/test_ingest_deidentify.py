"""`caselib deidentify SRC DEST`: plain folder-to-folder de-identification."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from caselib.data import fetch
from caselib.ingest import deidentify_folder

from test_ingest_verify import _ct  # a small CT with planted identifiers


@pytest.mark.parametrize("workers", [1, 2])
def test_deidentify_writes_clean_copies_and_keeps_refused_originals_outside_dest(tmp_path, workers):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        _ct(src / f"ct{i}.dcm")
    shutil.copy(fetch("deid-data/ultrasounds/ultrasound-multiframe.dcm"), src / "us.dcm")
    shutil.copy(fetch("deid-data/animals/cat.dcm"), src / "cat.dcm")
    (src / "notes.txt").write_text("not DICOM")
    dest, secret = tmp_path / "out", tmp_path / "keys" / "secret.key"
    report = deidentify_folder(src, dest, secret_file=secret, workers=workers, progress=False)

    written = sorted(dest.rglob("*.dcm"))
    assert report.published == len(written) == 5  # 3 CT, the cat DX, the US (published with its reviewed mask)
    assert report.quarantined == 1 and report.by_stage == {"validate": 1}
    for path in written:
        raw = path.read_bytes()
        for planted in (b"Zanzibar", b"Quentin", b"MRN-7733191", b"19510203"):
            assert planted not in raw, f"{planted!r} leaked into {path.name}"
    # refused originals and the secret never sit inside DEST
    assert (tmp_path / "out-quarantine").is_dir() and not (dest / "quarantine").exists()
    assert secret.is_file() and not list(dest.rglob("*secret*"))
    saved = json.loads((dest / "deid-report.json").read_text())
    assert saved["published"] == 5 and saved["problems"][0]["stage"] == "validate"


def test_deidentify_refuses_a_secret_or_quarantine_inside_dest(tmp_path):
    (tmp_path / "src").mkdir()
    with pytest.raises(ValueError, match="must not live inside the output folder"):
        deidentify_folder(tmp_path / "src", tmp_path / "out", secret_file=tmp_path / "out" / "s.key")
    with pytest.raises(ValueError, match="must not live inside the output folder"):
        deidentify_folder(tmp_path / "src", tmp_path / "out", secret_file=tmp_path / "s.key",
                          quarantine_dir=tmp_path / "out" / "q")


def test_deidentify_cli(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    _ct(src / "a.dcm")
    out = subprocess.run([sys.executable, "-m", "caselib.cli", "deidentify", str(src), str(tmp_path / "o"),
                          "--secret-file", str(tmp_path / "k" / "s.key"), "--workers", "1", "--no-progress"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "de-identified" in out.stdout and "published 1 new" in out.stdout
