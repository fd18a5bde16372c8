"""`caselib verify ARCHIVE`: the residual-PHI scan re-run over a stored archive."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from caselib.archive import ArchiveLayout
from caselib.ingest import ingest, verify_archive


def _ct(path, name="Zanzibar^Quentin", pid="MRN-7733191"):
    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = uid = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, uid
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = name, pid, "19510203"
    ds.StudyDate, ds.Modality, ds.InstitutionName = "20240105", "CT", "Quentin Memorial Hospital"
    ds.Rows = ds.Columns = 16
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
    ds.PixelData = (np.arange(256, dtype=np.uint16) * 7).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return ds


def test_verify_archive_is_clean_after_ingest_and_catches_a_planted_leak(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    _ct(src / "a.dcm")
    archive = tmp_path / "archive"
    report = ingest(src, archive, workers=1, progress=False)
    assert report.published == 1
    clean = verify_archive(archive, progress=False)
    assert clean.ok and clean.checked == 1

    # tamper with the stored object: a later tool wrote the patient's ID and name back
    stored = next(ArchiveLayout.at(archive).objects.rglob("*.dcm"))
    ds = pydicom.dcmread(stored)
    ds.ImageComments = "follow-up of MRN-7733191"
    seq_item = pydicom.Dataset()
    seq_item.PersonName = "Zanzibar^Quentin"
    ds.ContentCreatorIdentificationCodeSequence = [seq_item]
    ds.save_as(stored)
    dirty = verify_archive(archive, progress=False)
    assert not dirty.ok
    (leak,) = dirty.leaks
    assert any("ImageComments" in p for p in leak["paths"])
    assert any("ContentCreatorIdentificationCodeSequence[0].PersonName" in p for p in leak["paths"])
    text = dirty.summary()
    assert "residual PHI" in text and "MRN-7733191" not in text, "the report names tags, never values"

    cli = subprocess.run([sys.executable, "-m", "caselib.cli", "verify", str(archive), "--no-progress"],
                         capture_output=True, text=True)
    assert cli.returncode == 1 and "1 objects with residual PHI" in cli.stdout


def test_an_object_whose_shifted_date_lands_on_another_of_its_dates_is_published_and_stays_verified(tmp_path):
    """The patient's date offset moves Instance Creation Date exactly onto the original Acquisition
    Date (RG3_UNCI's case, about 1 archive secret in 3,300): ingest and `caselib verify ARCHIVE`
    know the offset (kept in the private journal) and accept that one coincidence; the same
    original date copied unshifted into another element is still refused."""
    import datetime

    from ingest_fixtures import fixed_archive_secret

    from caselib.deid import Deidentifier, load_secret
    from caselib.ingest import deidentify_folder

    archive = tmp_path / "archive"
    fixed_archive_secret(archive)
    secret = load_secret(ArchiveLayout.at(archive).secret, create=False)
    src = tmp_path / "src"
    src.mkdir()
    ds = _ct(src / "a.dcm")
    offset = Deidentifier("teaching", secret=secret).date_offset_for(ds)
    shifted = (datetime.date(2024, 1, 5) + datetime.timedelta(days=offset)).strftime("%Y%m%d")
    ds.InstanceCreationDate = ds.StudyDate  # 20240105 -> shifted, which is ...
    ds.AcquisitionDate = shifted            # ... this original date
    ds.save_as(src / "a.dcm", enforce_file_format=True)

    report = ingest(src, archive, workers=1, progress=False)
    assert report.published == 1, report.summary()
    stored = next(ArchiveLayout.at(archive).objects.rglob("*.dcm"))
    out = pydicom.dcmread(stored)
    assert out.InstanceCreationDate == out.StudyDate == shifted  # the coincidence is in the archive
    assert verify_archive(archive, progress=False).ok

    # the same file through `caselib deidentify` (the same secret): published too
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "s.key").write_bytes(ArchiveLayout.at(archive).secret.read_bytes())
    (keys / "s.key").chmod(0o600)
    folder = deidentify_folder(src, tmp_path / "out", secret_file=keys / "s.key", workers=1, progress=False)
    assert folder.published == 1, folder.summary()

    # a journal written before the offset was kept (a bare list of needles) still reads: without
    # the offset the coincidence is reported, as it was then
    import json
    import sqlite3

    db = sqlite3.connect(ArchiveLayout.at(archive).journal)
    ((text,),) = db.execute("SELECT needles FROM needles").fetchall()
    db.execute("UPDATE needles SET needles = ?", (json.dumps(json.loads(text)["needles"]),))
    db.commit()
    db.close()
    before = verify_archive(archive, progress=False)
    assert not before.ok and "InstanceCreationDate" in before.leaks[0]["paths"]

    # a date copied unshifted is still a leak for the archive scan
    out.ContentDate = shifted
    out.save_as(stored, enforce_file_format=True)
    leaks = verify_archive(archive, progress=False)
    assert not leaks.ok and "ContentDate" in leaks.leaks[0]["paths"]
