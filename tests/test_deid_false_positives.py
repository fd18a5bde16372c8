"""The verifier must not block an object for values the profile keeps on purpose,
yet still catch the identifying part (found on real files: NEMA RG1, OBXXXX1A, deid-data US)."""
from __future__ import annotations

from pydicom.dataset import Dataset

from caselib.deid import Deidentifier, verify


def _ds(**kw) -> Dataset:
    ds = Dataset()
    ds.PatientName, ds.PatientID = "Doe^Jane", "MRN-0042"
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = "1.2.3.4", "1.2.3.4.5", "1.2.3.4.5.6"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    for k, v in kw.items():
        setattr(ds, k, v)
    return ds


def _deid(ds: Dataset) -> Dataset:
    return Deidentifier("teaching", secret=b"k" * 32).deidentify(ds).dataset


def test_manufacturer_words_inside_the_institution_name_are_not_a_leak():
    ds = _ds(Manufacturer="Philips Medical Systems", InstitutionName="Philips Medical Systems Hamburg")
    out = _deid(ds)
    assert out.Manufacturer == "Philips Medical Systems" and "InstitutionName" not in out
    assert verify(ds, out).ok
    out.ImageComments = "referred from Hamburg"  # the identifying word of the institution
    report = verify(ds, out)
    assert not report.ok and any("ImageComments" in p for p in report.paths)


def test_an_identifier_written_as_a_uid_is_searched_whole():
    ds = _ds(ScheduledProcedureStepID="1.2.826.0.1.3680043.2.1125.77")
    out = _deid(ds)
    out.file_meta = Dataset()
    out.file_meta.ImplementationClassUID = "1.2.826.0.1.3680043.8.498.1"  # pydicom's: shares the root
    assert verify(ds, out).ok
    out.ImageComments = "step 1.2.826.0.1.3680043.2.1125.77"
    assert not verify(ds, out).ok


def test_build_dates_in_software_versions_are_not_patient_dates():
    ds = _ds(SoftwareVersions=["PMS5.1 Build 2010/06/30", "RIS 2011/05/13"])
    out = _deid(ds)
    assert verify(ds, out).ok
    out.ImageComments = "scanned 2010/06/30"
    report = verify(ds, out)
    assert not report.ok and any(h.kind == "pattern:date" for h in report.hits)


def test_name_words_in_coded_values_are_vocabulary_but_still_found_in_text():
    # a phantom named after its protocol: "Perfusion^MCA Stroke", and ImageType ...\PERFUSION
    ds = _ds(PatientName="Perfusion^MCA Stroke", ImageType=["ORIGINAL", "PRIMARY", "PERFUSION"])
    out = _deid(ds)
    assert list(out.ImageType) == ["ORIGINAL", "PRIMARY", "PERFUSION"]
    assert verify(ds, out).ok
    out.ImageComments = "Perfusion stroke phantom"
    report = verify(ds, out)
    assert not report.ok and any("ImageComments" in p for p in report.paths)
