"""The PHI canary: planted identifiers must not survive de-identification anywhere."""
from __future__ import annotations

import io

import pydicom
import pytest
from deid_canary import (
    CANARY_STRINGS,
    COMPREHENSIVE_SR,
    CT_STORAGE,
    INSTANCE_UIDS,
    NQ_VERSION_UID,
    PRIOR_DATE,
    PRIOR_SOP_UID,
    STUDY_DATE,
    find_in_bytes,
    find_in_elements,
    from_bytes,
    iter_elements,
    make_canary_ct,
    make_canary_sr,
    to_bytes,
)

from caselib.deid import (
    CleanDescriptors,
    Deidentifier,
    MemoryPseudonymRegistry,
    Profile,
    dataset_to_bytes,
    get_profile,
    verify,
)
from caselib.deid.engine import IMPLEMENTATION_CLASS_UID
from caselib.deid.values import is_well_known_uid

SECRET = b"canary-test-secret-0123456789abcdef"
PLANTED = CANARY_STRINGS + INSTANCE_UIDS
CHARSETS = ["ISO_IR 192", "GB18030", "ISO_IR 100"]


@pytest.fixture(scope="module")
def deidentifier() -> Deidentifier:
    return Deidentifier("teaching", secret=SECRET)


@pytest.mark.parametrize("charset", CHARSETS)
@pytest.mark.parametrize("profile", ["teaching", "teaching-structured", "basic"])
@pytest.mark.parametrize("make", [make_canary_ct, make_canary_sr], ids=["ct", "sr"])
def test_no_planted_identifier_survives(make, profile, charset):
    original = make(charset)
    result = Deidentifier(profile, secret=SECRET).deidentify(original)
    data = result.to_bytes()
    assert find_in_bytes(data, PLANTED) == []          # every encoding, every byte of the file
    output = from_bytes(data)
    assert find_in_elements(output, PLANTED) == []     # every element, every level, File Meta
    report = verify(original, data, profile=profile)
    assert report.ok, report.summary()
    assert report.needles > 30


def test_secret_never_enters_the_output(deidentifier):
    data = deidentifier.deidentify(make_canary_ct()).to_bytes()
    assert SECRET not in data and SECRET.hex().encode() not in data


def test_actions_log_names_paths_but_carries_no_values(deidentifier):
    result = deidentifier.deidentify(make_canary_ct())
    paths = {r.path: r for r in result.actions_log}
    assert paths["OtherPatientIDsSequence"].action == "X"
    assert paths["RequestAttributesSequence[0].ScheduledProtocolCodeSequence[0]"
                 ".ProtocolContextSequence[0].PersonName"].action == "D"
    assert paths["SourceApplicationEntityTitle"].reason.startswith("File Meta Information replaced")
    text = " ".join(" ".join(r) for r in result.actions_log)
    assert [s for s in PLANTED if s.lower() in text.lower()] == []


def test_marks(deidentifier):
    out = deidentifier.deidentify(make_canary_ct()).dataset
    assert out.PatientIdentityRemoved == "YES"
    assert out.DeidentificationMethod == "caselib 0.1.0 teaching (PS3.15 2026c E.1-1)"
    codes = [(i.CodeValue, i.CodingSchemeDesignator) for i in out.DeidentificationMethodCodeSequence]
    assert codes == [(c, "DCM") for c in ("113100", "113107", "113108", "113105", "113103", "113111")]
    assert out.LongitudinalTemporalInformationModified == "MODIFIED"
    basic = Deidentifier("basic", secret=SECRET).deidentify(make_canary_ct()).dataset
    assert basic.LongitudinalTemporalInformationModified == "REMOVED"
    assert [i.CodeValue for i in basic.DeidentificationMethodCodeSequence] == ["113100"]


def test_existing_marks_are_kept_and_not_duplicated(deidentifier):
    first = deidentifier.deidentify(make_canary_ct()).dataset
    again = deidentifier.deidentify(from_bytes(dataset_to_bytes(first))).dataset
    assert [i.CodeValue for i in again.DeidentificationMethodCodeSequence].count("113100") == 1
    assert again.DeidentificationMethod == "caselib 0.1.0 teaching (PS3.15 2026c E.1-1)"


def test_file_meta_is_replaced(deidentifier):
    original = make_canary_ct()
    out = from_bytes(deidentifier.deidentify(original).to_bytes())
    meta = out.file_meta
    assert "SourceApplicationEntityTitle" not in meta
    assert meta.ImplementationClassUID == IMPLEMENTATION_CLASS_UID
    assert meta.ImplementationVersionName.startswith("CASELIB_")
    assert meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID != original.SOPInstanceUID
    assert meta.MediaStorageSOPClassUID == out.SOPClassUID == CT_STORAGE
    assert meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
    assert out.preamble == b"\x00" * 128


def test_patient_becomes_a_stable_pseudonym():
    registry = MemoryPseudonymRegistry()
    deid = Deidentifier("teaching", secret=SECRET, registry=registry)
    ct = deid.deidentify(make_canary_ct())
    sr = deid.deidentify(make_canary_sr())
    assert ct.patient_pseudonym == sr.patient_pseudonym == "CL-000001"
    assert ct.dataset.PatientName == ct.dataset.PatientID == "CL-000001"
    assert ct.date_offset_days == sr.date_offset_days
    assert -3650 <= ct.date_offset_days <= -365
    other = make_canary_ct()
    other.PatientID = "SOMEONE-ELSE-1"
    assert deid.deidentify(other).patient_pseudonym == "CL-000002"
    for gone in ("IssuerOfPatientID", "OtherPatientIDsSequence", "OtherPatientNames", "PatientAddress",
                 "PatientTelephoneNumbers", "InstitutionName", "InstitutionAddress", "StationName",
                 "OperatorsName", "PerformingPhysicianName", "ReferencedStudySequence"):
        assert gone not in ct.dataset, gone
    assert ct.dataset.PatientBirthDate == "" and ct.dataset.AccessionNumber == "" and ct.dataset.StudyID == ""


def test_patient_characteristics_are_kept_and_age_capped(deidentifier):
    out = deidentifier.deidentify(make_canary_ct()).dataset
    assert (out.PatientAge, out.PatientSex, out.PatientWeight) == ("090Y", "F", 61.5)


def test_dates_shift_by_one_offset_and_times_stay(deidentifier):
    original = make_canary_ct()
    result = deidentifier.deidentify(original)
    out, days = result.dataset, result.date_offset_days
    from datetime import date, timedelta

    expected = (date(2024, 3, 15) + timedelta(days=days)).strftime("%Y%m%d")
    assert out.StudyDate == out.SeriesDate == out.AcquisitionDate == out.ContentDate == expected
    assert out.AcquisitionDateTime == expected + "101530.123456"
    assert (out.StudyTime, out.ContentTime) == ("101530", "101533.25")
    nested = out.RequestAttributesSequence[0].ScheduledProtocolCodeSequence[0].ProtocolContextSequence
    assert nested[1].Date == expected
    prior = deidentifier.deidentify(make_canary_ct(sop_uid=PRIOR_SOP_UID, study_date=PRIOR_DATE)).dataset
    interval = (date(2024, 3, 15) - date(2023, 1, 2)).days
    shifted = [date(int(d[:4]), int(d[4:6]), int(d[6:])) for d in (out.StudyDate, prior.StudyDate)]
    assert (shifted[0] - shifted[1]).days == interval


def test_descriptors_are_scrubbed_with_the_files_own_identifiers(deidentifier):
    out = deidentifier.deidentify(make_canary_ct("GB18030")).dataset
    assert out.StudyDescription == "CT chest for *** *** *** ***"
    assert out.ImageComments == "Call Dr *** at *** re ***"
    assert out.SeriesDescription == "AX 5mm lung"            # nothing to clean: byte-identical
    request = out.RequestAttributesSequence[0]
    assert request.RequestedProcedureDescription == "CT chest ***"
    assert request.StudyInstanceUID == out.StudyInstanceUID
    assert "RequestedProcedureID" not in request and request.AccessionNumber == ""
    context = request.ScheduledProtocolCodeSequence[0].ProtocolContextSequence
    assert context[0].PersonName == "ANONYMIZED" and context[2].TextValue == "ANONYMIZED"
    structured = Deidentifier("teaching-structured", secret=SECRET).deidentify(make_canary_ct()).dataset
    text = structured.RequestAttributesSequence[0].ScheduledProtocolCodeSequence[0].ProtocolContextSequence[2]
    assert text.TextValue == "Protocol for *** ***, MRN ***"


def test_clean_descriptors_remove_mode():
    profile = get_profile("teaching").replace(CleanDescriptors(mode="remove"), name="teaching-remove")
    out = Deidentifier(profile, secret=SECRET).deidentify(make_canary_ct()).dataset
    assert "StudyDescription" not in out and "ImageComments" not in out and "SeriesDescription" not in out
    assert "113105" not in [i.CodeValue for i in out.DeidentificationMethodCodeSequence]


def test_private_blocks(deidentifier):
    out = deidentifier.deidentify(make_canary_ct()).dataset
    assert out[0x00190010].value == "GEMS_ACQU_01"
    assert out[0x00191023].value == "39.375" and out[0x00191027].value == "0.5"
    assert 0x00191030 not in out                              # same block, not on the list
    assert not [t for t in out.keys() if t.group in (0x0011, 0x0029)]  # unknown blocks and their creators
    assert out[0x00990010].value == "NQHeader"
    assert out[0x00991001].value == NQ_VERSION_UID            # a version UID: kept (keep_uid)
    assert out[0x00991002].value == out.SeriesInstanceUID     # an instance UID: remapped consistently
    assert 0x00991005 not in out
    assert not [t for t in out.RequestAttributesSequence[0].keys() if t.is_private]
    basic = Deidentifier("basic", secret=SECRET).deidentify(make_canary_ct()).dataset
    assert not [e for _, e in iter_elements(basic) if e.tag.is_private]


def test_graphics_are_cleaned(deidentifier):
    out = deidentifier.deidentify(make_canary_ct()).dataset
    assert not [t for t in out.keys() if 0x5000 <= t.group <= 0x60FF]   # overlays and curves
    assert "IconImageSequence" not in out
    text = out.GraphicAnnotationSequence[0].TextObjectSequence[0]
    assert text.UnformattedTextValue == "*** *** lesion"
    assert list(text.BoundingBoxBottomRightHandCorner) == [10.0, 5.0]


def test_pixels_are_bit_identical_and_input_untouched(deidentifier):
    original = make_canary_ct()
    before = to_bytes(original)
    out = from_bytes(deidentifier.deidentify(original).to_bytes())
    assert out.PixelData == original.PixelData
    assert to_bytes(original) == before


def test_uids_remapped_class_uids_kept(deidentifier):
    original = make_canary_ct()
    out = deidentifier.deidentify(original).dataset
    for path, elem in iter_elements(out):
        if elem.VR != "UI":
            continue
        values = elem.value if isinstance(elem.value, list) else [elem.value]
        for value in values:
            assert len(value) <= 64
            assert value.startswith("2.25.") or is_well_known_uid(value) or value == NQ_VERSION_UID, path
    assert out.SOPClassUID == CT_STORAGE
    assert out.ReferencedImageSequence[0].ReferencedSOPClassUID == CT_STORAGE
    for kw in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID"):
        assert out[kw].value.startswith("2.25.") and out[kw].value != original[kw].value


def test_uids_consistent_across_files_runs_and_secrets():
    run1 = Deidentifier("teaching", secret=SECRET)
    run2 = Deidentifier("teaching", secret=SECRET)                # a second run / session
    other = Deidentifier("teaching", secret=b"another-archive-secret-xxxxxxxxxx")
    ct1, sr1 = run1.deidentify(make_canary_ct()), run1.deidentify(make_canary_sr())
    ct2 = run2.deidentify(make_canary_ct())
    ct3 = other.deidentify(make_canary_ct())
    assert ct1.dataset.StudyInstanceUID == sr1.dataset.StudyInstanceUID == ct2.dataset.StudyInstanceUID
    assert ct1.dataset.SOPInstanceUID == ct2.dataset.SOPInstanceUID != ct3.dataset.SOPInstanceUID
    assert ct1.dataset.StudyInstanceUID != ct3.dataset.StudyInstanceUID
    assert ct1.uid_map[make_canary_ct().SOPInstanceUID] == ct1.dataset.SOPInstanceUID


def test_references_stay_consistent(deidentifier):
    prior = deidentifier.deidentify(make_canary_ct(sop_uid=PRIOR_SOP_UID, study_date=PRIOR_DATE)).dataset
    current = deidentifier.deidentify(make_canary_ct()).dataset
    report = deidentifier.deidentify(make_canary_sr()).dataset
    assert current.ReferencedImageSequence[0].ReferencedSOPInstanceUID == prior.SOPInstanceUID
    assert current.SourceImageSequence[0].ReferencedSOPInstanceUID == prior.SOPInstanceUID
    assert report.SOPClassUID == COMPREHENSIVE_SR
    evidence = report.CurrentRequestedProcedureEvidenceSequence[0]
    assert evidence.StudyInstanceUID == current.StudyInstanceUID
    assert evidence.ReferencedSeriesSequence[0].SeriesInstanceUID == current.SeriesInstanceUID
    assert evidence.ReferencedSeriesSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID \
        == current.SOPInstanceUID
    level3 = report.ContentSequence[0].ContentSequence[0].ContentSequence
    image = next(i for i in level3 if i.ValueType == "IMAGE")
    assert image.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == current.SOPInstanceUID
    assert next(i for i in level3 if i.ValueType == "UIDREF").UID == current.StudyInstanceUID
    cross = report.PertinentOtherEvidenceSequence[0].ReferencedSeriesSequence[0].ReferencedSOPSequence[0]
    assert cross.ReferencedSOPInstanceUID == prior.SOPInstanceUID     # a cross-study reference


def test_sr_content_is_cleaned_three_levels_deep():
    for profile, expected in (("teaching", "ANONYMIZED"),
                              ("teaching-structured", "Seen with *** *** on ***, tel ***")):
        report = Deidentifier(profile, secret=SECRET).deidentify(make_canary_sr()).dataset
        level3 = report.ContentSequence[0].ContentSequence[0].ContentSequence
        assert level3[0].TextValue == expected
        assert level3[1].PersonName == "ANONYMIZED"
        assert level3[2].Date != STUDY_DATE and len(level3[2].Date) == 8


def test_deidentify_rejects_non_datasets(deidentifier):
    with pytest.raises(TypeError, match="takes a pydicom Dataset, got bytes"):
        deidentifier.deidentify(b"DICM")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="needs the archive secret"):
        Deidentifier("teaching")
    with pytest.raises(ValueError, match="unknown de-identification profile"):
        Deidentifier("nope", secret=SECRET)


def test_output_reads_back_without_warnings(deidentifier, recwarn):
    data = deidentifier.deidentify(make_canary_ct("GB18030")).to_bytes()
    out = pydicom.dcmread(io.BytesIO(data))
    for _, elem in iter_elements(out):
        _ = elem.value
    assert [str(w.message) for w in recwarn] == []


def test_custom_profile_without_pseudonyms_empties_name_and_id():
    profile = Profile("no-pseudonyms", get_profile("teaching").steps[:1])
    out = Deidentifier(profile, secret=SECRET).deidentify(make_canary_ct()).dataset
    assert out.PatientName == "" and out.PatientID == ""


def test_free_text_that_cannot_be_decoded_is_removed(deidentifier):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = make_canary_ct()
        ds.StudyDescription = "x" * 70                       # too long for LO: pydicom warns on reading
        ds = from_bytes(to_bytes(ds))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)          # reading it now fails
        result = deidentifier.deidentify(ds)
    assert "StudyDescription" not in result.dataset
    assert ("StudyDescription", "X", "free text that cannot be decoded, removed") in result.actions_log


def test_sequences_written_as_un_are_still_cleaned(deidentifier):
    from pydicom.datadict import DicomDictionary
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    item = pydicom.Dataset()
    item.PatientName, item.AccessionNumber = "Canaryname^Zelda", "ACC99887766"
    buf = DicomBytesIO()
    buf.is_little_endian, buf.is_implicit_VR = True, True
    write_dataset(buf, item)
    body = buf.getvalue()
    items = b"\xfe\xff\x00\xe0" + len(body).to_bytes(4, "little") + body
    ds = make_canary_ct()
    from pydicom.dataelem import RawDataElement
    from pydicom.tag import BaseTag

    def raw_un(tag: int, value: bytes) -> RawDataElement:
        return RawDataElement(BaseTag(tag), "UN", len(value), value, 0, False, True, True, False)

    ds._dict[BaseTag(0x00400275)] = raw_un(0x00400275, items)   # Request Attributes Sequence, as UN
    unknown = 0x00189FF0
    assert unknown not in DicomDictionary
    ds._dict[BaseTag(unknown)] = raw_un(unknown, b"Canaryname Zelda")  # a public attribute nobody knows
    original = from_bytes(to_bytes(ds))
    data = deidentifier.deidentify(original).to_bytes()
    assert find_in_bytes(data, ["Canaryname", "ACC99887766"]) == []
    out = from_bytes(data)
    assert out.RequestAttributesSequence[0].AccessionNumber == "" and unknown not in out
