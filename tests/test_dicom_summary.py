"""caselib.dicom.format_summary, and what caselib.dicom may import."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from dicom_fixtures import fetch_dataset_or_skip, make_slice, write_dataset, write_series

from caselib.dicom import describe_series, format_summary, read


def test_summary_of_the_tilted_head_ct() -> None:
    folder = fetch_dataset_or_skip("ge-head-ct")
    text = format_summary(read(folder))
    lines = text.splitlines()
    assert lines[0] == f"1 patient, 1 study, 1 series, 28 instances from {folder}"
    assert lines[3] == ("    series 2  CT  28 frames 512x512  axial volume  pixel 0.49x0.49 mm  "
                        "spacing 4.00 mm")
    assert lines[4].startswith("      ! uneven slice spacing: 1.08-7.00 mm between planes")
    assert lines[5].startswith("      ! gantry tilt 18.5 degrees")


def test_summary_lists_skipped_files_with_reasons(tmp_path: Path) -> None:
    write_series(tmp_path, [make_slice(z) for z in (0, 1, 5)])
    (tmp_path / "notes.txt").write_text("not an image")
    ds = make_slice(9, series_uid="1.2.3.4")
    ds.PixelSpacing = [0.5]
    write_dataset(ds, tmp_path / "bad.dcm")
    text = format_summary(read(tmp_path))
    assert text.splitlines()[0].endswith("; 2 files skipped")
    assert "patient SYNTH-1  Synthetic^Phantom" in text
    assert "  study 2024-01-31" in text
    assert ("    series 1  CT  3 frames 6x5  axial volume  pixel 0.50x0.75 mm  spacing 2.50 mm"
            in text)
    assert "      ! uneven slice spacing: 1.00-4.00 mm between planes" in text
    assert "skipped 2 files:" in text
    bad = tmp_path / "bad.dcm"
    assert f"  {bad}: expected (0028,0030) Pixel Spacing with 2 values, found 1" in text
    assert f"  {tmp_path / 'notes.txt'}: not a DICOM file" in text


def test_summary_limits_the_skipped_list(tmp_path: Path) -> None:
    for i in range(5):
        (tmp_path / f"junk{i}.txt").write_text("x")
    text = format_summary(read(tmp_path), max_skipped=2)
    assert text.splitlines()[-1] == "  ... and 3 more"
    assert text.splitlines()[0] == (
        f"0 patients, 0 studies, 0 series, 0 instances from {tmp_path}; 5 files skipped")


def test_describe_series_without_pixels() -> None:
    from dicom_fixtures import fetch_or_skip

    series = read(fetch_or_skip("pydicom/rtplan.dcm")).only_series()
    assert describe_series(series).endswith("1 object(s) without pixel data (RT Plan Storage)")


def test_dicom_package_imports_no_pandas_or_widgets() -> None:
    code = ("import sys, caselib.dicom; "
            "bad = [m for m in ('pandas', 'ipywidgets', 'anywidget', 'matplotlib') "
            "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
