"""De-identification of the real test data: prior/current pairs, deid-data, MR series, encoding."""
from __future__ import annotations

import io
import zipfile
from datetime import date

import pydicom
import pytest

from caselib.data import fetch, load_manifest
from caselib.deid import Deidentifier, SQLitePseudonymRegistry, load_secret, verify
from caselib.deid.encode import encode_dataset

MANIFEST = load_manifest()
COVID = sorted(f.key for f in MANIFEST.datasets["tcia-covid-ct-followup"].files)
DEID_DATA = sorted(f.key for f in MANIFEST.datasets["deid-data"].files)
CHARSET = sorted(f.key for f in MANIFEST.datasets["pydicom/charset"].files)
MR = sorted(f.key for f in MANIFEST.datasets["pediatric-brain-mr"].files)


def _day(value: str) -> date:
    return date(int(value[:4]), int(value[4:6]), int(value[6:8]))


def test_prior_and_current_studies_keep_patient_and_intervals(tmp_path):
    secret_path = tmp_path / "archive" / ".caselib-secret"
    registry_path = tmp_path / "archive" / "pseudonyms.sqlite"
    by_patient: dict[str, list[str]] = {}
    for key in COVID:
        by_patient.setdefault(key.split("/")[1], []).append(key)
    assert len(by_patient) == 6 and all(len(v) == 2 for v in by_patient.values())

    outputs = {}
    for run, which in enumerate((0, 1)):   # the prior studies in one run, the current ones in another
        with SQLitePseudonymRegistry(registry_path) as registry:
            deid = Deidentifier("teaching", secret=load_secret(secret_path), registry=registry)
            for patient, keys in sorted(by_patient.items()):
                original = pydicom.dcmread(fetch(keys[which]))
                result = deid.deidentify(original)
                assert verify(original, result.to_bytes()).ok
                outputs[keys[which]] = (original, result)
    pseudonyms = set()
    for patient, (prior_key, current_key) in sorted(by_patient.items()):
        (o1, r1), (o2, r2) = outputs[prior_key], outputs[current_key]
        assert r1.patient_pseudonym == r2.patient_pseudonym
        assert r1.date_offset_days == r2.date_offset_days
        assert -3650 <= r1.date_offset_days <= -365
        interval = (_day(o2.StudyDate) - _day(o1.StudyDate)).days
        assert interval > 0
        assert (_day(r2.dataset.StudyDate) - _day(r1.dataset.StudyDate)).days == interval
        assert r2.dataset.StudyDate != o2.StudyDate
        assert r1.dataset.StudyInstanceUID != r2.dataset.StudyInstanceUID
        pseudonyms.add(r1.patient_pseudonym)
    assert pseudonyms == {f"CL-{n:06d}" for n in range(1, 7)}


@pytest.mark.filterwarnings("ignore:The value length")  # over-long values in the inputs themselves
@pytest.mark.parametrize("key", DEID_DATA + CHARSET, ids=[k.rsplit("/", 1)[1] for k in DEID_DATA + CHARSET])
def test_every_deid_data_and_charset_file(key):
    deid = Deidentifier("teaching", secret=b"real-data-secret-0123456789abcdef")
    path = fetch(key)
    members = ([(key, path.read_bytes())] if path.suffix != ".zip"
               else [(f"{key}:{n}", zipfile.ZipFile(path).read(n)) for n in zipfile.ZipFile(path).namelist()
                     if n.lower().endswith(".dcm")])
    assert members
    for name, raw in members:
        original = pydicom.dcmread(io.BytesIO(raw))
        result = deid.deidentify(original)
        data = result.to_bytes()
        output = pydicom.dcmread(io.BytesIO(data))
        assert output.PatientIdentityRemoved == "YES", name
        if "PixelData" in original:
            assert output.PixelData == original.PixelData, name
        report = verify(original, data)
        assert report.ok, f"{name}\n{report.summary()}"
        if original.get("Modality") == "US":
            assert result.pixel_phi_risks, name


def test_mr_series_slices_share_patient_study_and_series():
    deid = Deidentifier("teaching", secret=b"mr-series-secret-0123456789abcdef")
    results = [deid.deidentify(pydicom.dcmread(fetch(k))) for k in MR]
    assert len(results) == 192
    assert len({r.patient_pseudonym for r in results}) == 1
    assert len({r.dataset.StudyInstanceUID for r in results}) == 1
    assert len({r.dataset.SeriesInstanceUID for r in results}) == 1
    assert len({r.dataset.SOPInstanceUID for r in results}) == 192
    assert all(r.dataset.StudyInstanceUID.startswith("2.25.") for r in results)


@pytest.mark.parametrize("key", CHARSET + COVID[:2] + MR[:3] + ["deid-data/humans/ctbrain1.dcm"])
def test_fast_encoder_writes_what_pydicom_writes(key):
    result = Deidentifier("teaching", secret=b"encoder-secret-0123456789abcdefgh").deidentify(
        pydicom.dcmread(fetch(key)))
    reference = io.BytesIO()
    result.dataset.save_as(reference, enforce_file_format=True)
    assert encode_dataset(result.dataset) == reference.getvalue()


@pytest.mark.parametrize("key", ["pydicom/MR_small_bigendian.dcm", "pydicom/image_dfl.dcm"])
def test_big_endian_and_deflated_files_take_the_slow_paths(key):
    original = pydicom.dcmread(fetch(key))
    result = Deidentifier("teaching", secret=b"slow-path-secret-0123456789abcdefg").deidentify(original)
    data = result.to_bytes()
    assert pydicom.dcmread(io.BytesIO(data)).PatientIdentityRemoved == "YES"
    report = verify(original, data)
    assert report.ok, report.summary()
    leaky = pydicom.dcmread(io.BytesIO(data))
    leaky.ImageComments = f"see study {original.StudyInstanceUID}"
    assert "ImageComments" in verify(original, leaky).paths
