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


def _numbering_source(src):
    """42 objects of 24 patients in an order where first appearances interleave.

    Two patients share a Patient ID under different issuers (two people); one
    patient's only object says Burned In Annotation = YES and is refused: it is still
    read, so it still takes its number in source order.  40 objects are more than
    two of the pool tasks several workers get (16 objects each).  Two more patients' only
    objects are refused by validation (no Pixel Data; truncated Pixel Data): their headers
    are readable, so they too take their numbers in source order.
    """
    from ingest_fixtures import make_ct, to_part10, uid

    order = [0, 1, 0, 2, 3, 1, 4, 5, 2, 6, 7, 8, 7, 0, 9, 22, 10, 3, 11, 9, 12, 13, 4, 14, 10, 15, 1, 16, 17,
             23, 12, 18, 0, 19, 20, 2, 21, 15, 21, 9, 20, 6]
    src.mkdir()
    for i, p in enumerate(order):
        ds = make_ct(sop=uid(90, i), study=uid(90, 100 + p), series=uid(90, 200 + p),
                     patient_id=f"NUMB-{p % 8 if p < 9 else p:03d}", patient_name=f"Numbering^P{p}", instance_number=i + 1)
        if p in (7, 8):
            ds.IssuerOfPatientID = f"HOSPITAL-{p}"  # patient 8 is NUMB-000 of another issuer than patient 0
        if p == 5:
            ds.BurnedInAnnotation = "YES"
        if p == 22:
            del ds.PixelData  # refused by validation, after its patient is numbered
        data = to_part10(ds)
        if p == 23:
            data = data[:len(data) - 100]  # truncated pixel data: refused, its readable header numbered
        (src / f"{i:02d}.dcm").write_bytes(data)
    return order


def _pseudonym_by_instance(dest):
    import pydicom

    out = {}
    for path in dest.rglob("*.dcm"):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        out[int(ds.InstanceNumber)] = str(ds.PatientID)
    return out


def test_deidentify_numbers_new_patients_in_source_order_with_any_number_of_workers(tmp_path):
    """Pseudonym numbers follow the source order (like ingest), never which worker finishes first."""
    order = _numbering_source(tmp_path / "src")
    secret = tmp_path / "k1" / "secret.key"
    results = {}
    for workers in (2, 1, 2):
        keys = tmp_path / f"keys-{workers}-{len(results)}"
        keys.mkdir()
        if secret.is_file():
            shutil.copy(secret, keys / "secret.key")  # the same secret, a fresh registry
        dest = tmp_path / f"out-{len(results)}"
        report = deidentify_folder(tmp_path / "src", dest, secret_file=keys / "secret.key", workers=workers,
                                   progress=False)
        if not secret.is_file():
            secret.parent.mkdir()
            shutil.copy(keys / "secret.key", secret)
        assert report.published == len(order) - 3, report.summary()
        assert report.by_stage == {"pixel-phi": 1, "validate": 2}, report.summary()
        results[len(results)] = _pseudonym_by_instance(dest)
    first_seen = list(dict.fromkeys(order))
    expected = {i + 1: f"CL-{first_seen.index(p) + 1:06d}" for i, p in enumerate(order) if p not in (5, 22, 23)}
    assert results[0] == expected
    assert results[1] == results[2] == results[0]


def test_the_parent_reads_the_patient_identity_the_workers_read():
    """The parent numbers patients from the start of the header alone (caselib.ingest.pipeline.
    patient_header, which stops after the Patient group); the identity it derives must be the one
    the worker derives from the whole file, or the worker would hand out a second number; and a
    file a worker accepts must be one the header reader reads (a lone worker numbers from the
    object it parsed, where the parent would have read the header).  Checked
    on pydicom's character-set and test files, including ones that name no patient."""
    import warnings
    from pathlib import Path

    import pydicom.data
    from pydicom.data import get_charset_files

    from caselib.deid import patient_identity
    from caselib.ingest import parse_object, validate_object
    from caselib.ingest.pipeline import patient_header

    checked = by_study = 0
    local = Path(pydicom.data.__file__).parent / "test_files"  # no download
    for path in sorted(set(get_charset_files("*.dcm")) | {str(p) for p in local.rglob("*.dcm")}):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                full = parse_object(Path(path).read_bytes(), path)  # what a worker reads
                validate_object(full, path)
                expected = patient_identity(full)
            except Exception:  # noqa: BLE001, S112 - files a worker refuses: not published
                continue
            # a lone worker numbers from the object it parsed (process_object(number_patients=True)):
            # the header reader must then read it too, and find the same patient
            header = patient_header(path, path=path)
            assert patient_identity(header) == expected, path
        checked += expected is not None
        by_study += (expected or "").startswith("study\0")
    assert checked > 50 and by_study >= 1, (checked, by_study)
