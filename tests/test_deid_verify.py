"""caselib.deid.verify: the residual-PHI scan catches leaks and stays quiet on clean output."""
from __future__ import annotations

import pytest
from deid_canary import FAMILY, GIVEN, PATIENT_ID, STUDY_DATE, make_canary_ct, make_canary_sr
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from caselib.deid import Deidentifier, ResidualPHIError, dataset_to_bytes, harvest_identifiers, pixel_phi_risk, verify
from caselib.deid.text import find_patterns, needles_from_value

SECRET = b"verify-test-secret-0123456789abcdef"


@pytest.fixture()
def pair():
    original = make_canary_sr()
    return original, Deidentifier("teaching", secret=SECRET).deidentify(original).dataset


def test_clean_output_passes(pair):
    original, output = pair
    report = verify(original, output)
    assert report.ok and report.hits == () and report.elements_scanned > 50 and report.bytes_scanned > 1000
    report.raise_for_hits()  # no exception


def test_leak_in_a_nested_sequence_is_reported_with_its_path(pair):
    original, output = pair
    level3 = output.ContentSequence[0].ContentSequence[0].ContentSequence
    level3[0].TextValue = f"Report for {GIVEN} {FAMILY}"
    report = verify(original, output)
    assert not report.ok
    element_hits = {(h.path, h.value, h.kind) for h in report.hits if h.where == "element"}
    path = "ContentSequence[0].ContentSequence[0].ContentSequence[0].TextValue"
    assert (path, GIVEN, "name") in element_hits and (path, FAMILY, "name") in element_hits
    with pytest.raises(ResidualPHIError, match=r"residual PHI in \d+ place\(s\): .*ContentSequence\[0\]"):
        report.raise_for_hits()


def test_leaks_of_every_kind(pair):
    original, output = pair
    output.StudyDate = STUDY_DATE                                  # an unshifted date
    output.AccessionNumber = original.AccessionNumber              # an identifier put back
    output.ReferencedPerformedProcedureStepSequence = Sequence([Dataset()])
    output.ReferencedPerformedProcedureStepSequence[0].ReferencedSOPInstanceUID = original.SOPInstanceUID
    output.add_new(0x00290010, "LO", "ACME 1.0")
    output.add_new(0x00291001, "DS", "1.5")                        # private, not allow-listed
    output.add_new(0x00420011, "OB", b"\x00\x01" + PATIENT_ID.encode() + b"\x00")  # only in raw bytes
    output.PatientAge = "095Y"
    report = verify(original, output)
    kinds = {(h.kind, h.path, h.where) for h in report.hits}
    assert ("date", "StudyDate", "element") in kinds
    assert ("identifier", "AccessionNumber", "element") in kinds
    assert ("uid", "ReferencedPerformedProcedureStepSequence[0].ReferencedSOPInstanceUID", "element") in kinds
    assert ("private", "(0029,1001)", "private element") in kinds
    assert ("age", "PatientAge", "element") in kinds
    raw = [h for h in report.hits if h.path == "EncapsulatedDocument" and h.value == PATIENT_ID]
    assert raw and raw[0].encoding == "utf-8"             # found in the bytes of a binary element


def test_patterns_are_searched_in_free_text(pair):
    original, output = pair
    output.ImageComments = "call 555-123-4567 or mail j.doe@example.org, seen 03/04/2021, MRN 1234567"
    kinds = {h.kind for h in verify(original, output).hits}
    assert {"pattern:phone", "pattern:email", "pattern:date", "pattern:record-number"} <= kinds


def _with_gb_blob(ds):
    ds.add_new(0x00190010, "LO", "GEMS_ACQU_01")
    ds.add_new(0x00191099, "OB", b"\x01\x02" + "王小东".encode("gb18030") + b"\x00\x00")
    return ds


def test_leak_in_a_gb18030_file_is_found_in_raw_bytes():
    original = make_canary_ct("GB18030")
    output = Deidentifier("teaching", secret=SECRET).deidentify(original).dataset
    output.SeriesDescription = "复查 王小东"
    report = verify(original, output)
    assert {("element", "SeriesDescription")} <= {(h.where, h.path) for h in report.hits}
    # and in the raw bytes, in the file's own encoding, also when the text cannot be decoded
    assert any(h.path == "(0019,1099)" and h.encoding == "gb18030" for h in verify(original, _with_gb_blob(output)).hits)


def test_needle_rules_avoid_false_positives():
    assert [n.text for n in needles_from_value("name", "Ann^Li^J")] == ["Ann"]
    matcherless = Dataset()
    matcherless.PatientName = "Ann^Li"
    matcherless.PatientSex = "M"
    matcherless.StudyDescription = "ANNOTATION review"
    matcherless.InstitutionName = "General Hospital"
    matcherless.InstitutionalDepartmentName = "RADIOLOGY"
    output = Deidentifier("teaching", secret=SECRET).deidentify(matcherless).dataset
    output.SeriesDescription = "General ANNOTATION of male patient M"
    assert verify(matcherless, output).ok
    texts = {n.text for n in harvest_identifiers(matcherless)}
    assert {"Ann", "General Hospital"} <= texts and "General" not in texts and "RADIOLOGY" not in texts
    assert find_patterns("CT 2.5 MM/ABD.PEL 2.5MM, 120 kV, 3D T1 256x256, ser 1.25") == []


def test_verify_rejects_bad_arguments(pair):
    original, output = pair
    with pytest.raises(TypeError, match="output must be a Dataset, bytes or a path, got int"):
        verify(original, 42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="original must be a pydicom Dataset"):
        verify(b"x", output)  # type: ignore[arg-type]


def test_pixel_phi_risk_reasons():
    ds = Dataset()
    ds.Modality, ds.BurnedInAnnotation, ds.SOPClassUID = "US", "YES", "1.2.840.10008.5.1.4.1.1.6.1"
    assert pixel_phi_risk(ds) == ["Burned In Annotation (0028,0301) is YES",
                                  "modality US usually carries burned-in text"]
    sc = Dataset()
    sc.Modality, sc.SOPClassUID, sc.ConversionType = "OT", "1.2.840.10008.5.1.4.1.1.7", "WSD"
    sc.ImageType = ["DERIVED", "SECONDARY", "SCREEN SAVE"]
    reasons = pixel_phi_risk(sc)
    assert "SOP class is Secondary Capture Image Storage (a capture)" in reasons
    assert any("workstation screen capture" in r for r in reasons) and len(reasons) == 4
    ct = Dataset()
    ct.Modality, ct.PhotometricInterpretation, ct.BitsStored = "CT", "RGB", 8
    ct.add_new(0x60000102, "US", 12)
    reasons = pixel_phi_risk(ct)
    assert reasons == ["overlay 6000 is stored in the high bits of Pixel Data",
                       "colour image (RGB) of a grey-scale modality (CT): likely a screen capture"]
    assert pixel_phi_risk(make_canary_ct()) == []


def test_verify_reads_files_and_bytes(pair, tmp_path):
    original, output = pair
    result_bytes = Deidentifier("teaching", secret=SECRET).deidentify(original).to_bytes()
    path = tmp_path / "out.dcm"
    path.write_bytes(result_bytes)
    assert verify(original, path).ok and verify(original, str(path)).ok and verify(original, result_bytes).ok
    assert not verify(original, original).ok       # the original itself is full of PHI


# --------------------------------------------------------------------------- a shifted date on another date


def _shift(yyyymmdd: str, days: int) -> str:
    import datetime

    day = datetime.date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:])) + datetime.timedelta(days=days)
    return day.strftime("%Y%m%d")


def _colliding_ct():
    """A canary CT whose Instance Creation Date, shifted by its patient's offset, lands exactly on
    its Acquisition Date and Acquisition DateTime (as the leg CR RG3_UNCI's did with one archive
    secret); its Study Date equals its Instance Creation Date, so that value's first source is
    another element."""
    deid = Deidentifier("teaching", secret=SECRET)
    ds = make_canary_ct()
    offset = deid.date_offset_for(ds)
    assert offset
    ds.InstanceCreationDate = ds.StudyDate
    ds.AcquisitionDate = _shift(ds.StudyDate, offset)
    ds.AcquisitionDateTime = ds.AcquisitionDate + "101530.123456"
    ds.ContentDate = "20010102"
    return ds, deid, offset


def test_a_shifted_date_that_lands_on_another_original_date_is_not_a_leak():
    ds, deid, offset = _colliding_ct()
    result = deid.deidentify(ds)
    assert result.date_offset_days == offset
    out = result.dataset
    assert out.InstanceCreationDate == out.StudyDate == ds.AcquisitionDate  # the coincidence
    without = verify(ds, out)  # the verifier alone cannot tell a coincidence from a copied date
    assert {h.path for h in without.hits} >= {"InstanceCreationDate", "StudyDate"}
    assert {h.kind for h in without.hits} == {"date"}
    report = verify(ds, out, date_offset=offset)
    assert report.ok, report.summary()
    # what `caselib verify ARCHIVE` does, from the recorded needles alone: every date element's
    # original value is kept with its own path, also where another element had it first
    recorded = report.harvested
    assert any(n.text == ds.StudyDate and n.kind == "date" and n.source == "InstanceCreationDate" for n in recorded)
    data = dataset_to_bytes(out)
    assert verify(Dataset(), data, extra_needles=recorded, date_offset=offset).ok
    assert not verify(Dataset(), data, extra_needles=recorded).ok


@pytest.mark.parametrize("case", ["original date kept", "another element's date copied", "wrong offset",
                                  "date time kept"])
def test_the_shifted_date_exemption_still_catches_copied_dates(case):
    ds, deid, offset = _colliding_ct()
    out = deid.deidentify(ds).dataset
    days = offset
    if case == "original date kept":
        out.InstanceCreationDate = ds.InstanceCreationDate  # not shifted at all
        where = "InstanceCreationDate"
    elif case == "another element's date copied":
        out.ContentDate = ds.AcquisitionDate  # its own original 20010102 shifted is not this
        where = "ContentDate"
    elif case == "wrong offset":
        days = offset + 1
        where = "InstanceCreationDate"
    else:
        out.AcquisitionDateTime = ds.AcquisitionDateTime  # the original date time, unshifted
        where = "AcquisitionDateTime"
    report = verify(ds, out, date_offset=days)
    assert not report.ok
    assert where in {h.path for h in report.hits if h.kind == "date"}, report.summary()
