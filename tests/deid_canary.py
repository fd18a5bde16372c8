"""PHI canaries for the de-identification tests: planted identifiers and how to find them.

The canary objects are built in memory with fake but distinctive identifiers (a name
no real text contains, IDs with a fixed prefix, phone numbers from the 555 range,
dates in 2024) planted everywhere a de-identifier can miss one: nested sequences
three levels deep, private blocks (an allow-listed one and others), free text,
File Meta, overlays, curves, an icon image, a Chinese name in GB18030 and in
ISO_IR 192, an age over 89, Other Patient IDs Sequence.  They are encoded to bytes
and read back, so the tests see what pydicom reads from a file.

This module is plain helpers (no tests); it searches bytes with its own list of
encodings rather than the one of the module under test.
"""
from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

# --------------------------------------------------------------------------- planted values

FAMILY, GIVEN, MIDDLE = "Canaryname", "Zelda", "Quillon"
NAME = f"{FAMILY}^{GIVEN}^{MIDDLE}"
CJK_FAMILY, CJK_GIVEN = "王", "小东"
CJK_NAME = f"{CJK_FAMILY}^{CJK_GIVEN}"
PATIENT_ID = "CNRY-884211"
ISSUER = "CANARYISSUER77"
OTHER_ID = "OTHRID-55731"
OTHER_ISSUER = "OTHERISSUERX"
BIRTH_DATE = "19310412"
STUDY_DATE = "20240315"
PRIOR_DATE = "20230102"
ACCESSION = "ACC99887766"
STUDY_ID = "CNRYSTUDY9"
REFERRING = "Drwhistle^Horatio"
OPERATOR = "Opsworth^Benedict"
PERFORMING = "Perfumo^Celestine"
INSTITUTION = "Quillfeather Valley Memorial Hospital"
ADDRESS = "12 Sparrowgate Lane, Wrenbury"
STATION = "CNRYSTN01"
DEPARTMENT = "Nightjar Imaging Suite"
PHONE = "(555) 867-5309"
SOURCE_AE = "CNRY_SOURCE_AE"
DEVICE_SERIAL = "SN-CANARY-4411"
REQUESTED_PROC_ID = "RPID-CANARY-1"
PRIVATE_CREATOR = "CANARY PRIVATE 1.0"

#: every planted identifying string; none may survive de-identification
CANARY_STRINGS = (
    FAMILY, GIVEN, MIDDLE, "王小东", CJK_GIVEN, PATIENT_ID, ISSUER, OTHER_ID, OTHER_ISSUER, BIRTH_DATE,
    STUDY_DATE, "2024-03-15", ACCESSION, STUDY_ID, "Drwhistle", "Horatio", "Opsworth", "Benedict",
    "Perfumo", "Celestine", "Quillfeather", "Sparrowgate", "Wrenbury", STATION, "Nightjar", "867-5309",
    SOURCE_AE, DEVICE_SERIAL, REQUESTED_PROC_ID, "095Y",
)

UID_ROOT = "1.2.826.0.1.3680043.8.498.7731"
STUDY_UID = f"{UID_ROOT}.1"
SERIES_UID = f"{UID_ROOT}.2"
SOP_UID = f"{UID_ROOT}.3"
PRIOR_SOP_UID = f"{UID_ROOT}.4"
FRAME_UID = f"{UID_ROOT}.5"
PRIOR_STUDY_UID = f"{UID_ROOT}.6"
SR_SERIES_UID = f"{UID_ROOT}.7"
SR_SOP_UID = f"{UID_ROOT}.8"
NQ_VERSION_UID = f"{UID_ROOT}.99"
CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"
INSTANCE_UIDS = (STUDY_UID, SERIES_UID, SOP_UID, PRIOR_SOP_UID, FRAME_UID, PRIOR_STUDY_UID, SR_SERIES_UID, SR_SOP_UID)

#: encodings used to look for planted strings in raw bytes (independent of caselib's list)
SEARCH_ENCODINGS = (
    "ascii", "utf-8", "utf-16-le", "utf-16-be", "latin-1", "cp1252", "iso8859-5", "iso8859-6", "iso8859-7",
    "iso8859-8", "iso8859-9", "gb18030", "gbk", "gb2312", "big5", "euc-kr", "euc-jp", "shift_jis",
    "iso2022_jp", "iso2022_kr",
)


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def _text_item(text: str) -> Dataset:
    item = Dataset()
    item.RelationshipType, item.ValueType = "CONTAINS", "TEXT"
    item.ConceptNameCodeSequence = Sequence([_code("121071", "DCM", "Finding")])
    item.TextValue = text
    return item


def to_bytes(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def from_bytes(data: bytes) -> Dataset:
    return pydicom.dcmread(io.BytesIO(data))


def _meta(sop_class: str, sop_uid: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = f"{UID_ROOT}.100"
    meta.SourceApplicationEntityTitle = SOURCE_AE
    return meta


def _patient(ds: Dataset, charset: str) -> None:
    ds.SpecificCharacterSet = charset
    ds.PatientName = NAME + (f"={CJK_NAME}" if charset in ("ISO_IR 192", "GB18030", "GBK") else "")
    ds.PatientID = PATIENT_ID
    ds.IssuerOfPatientID = ISSUER
    ds.PatientBirthDate = BIRTH_DATE
    ds.PatientSex = "F"
    ds.PatientAge = "095Y"
    ds.PatientWeight = "61.5"
    ds.PatientAddress = ADDRESS
    ds.PatientTelephoneNumbers = PHONE
    other = Dataset()
    other.PatientID, other.IssuerOfPatientID, other.TypeOfPatientID = OTHER_ID, OTHER_ISSUER, "TEXT"
    ds.OtherPatientIDsSequence = Sequence([other])
    ds.OtherPatientNames = f"{FAMILY}^{GIVEN}"


def make_canary_ct(charset: str = "ISO_IR 192", *, sop_uid: str = SOP_UID, study_date: str = STUDY_DATE,
                   referenced_sop_uid: str = PRIOR_SOP_UID) -> Dataset:
    """A CT image whose header carries every kind of planted identifier, read back from bytes."""
    ds = Dataset()
    ds.file_meta = _meta(CT_STORAGE, sop_uid)
    _patient(ds, charset)
    ds.SOPClassUID, ds.SOPInstanceUID = CT_STORAGE, sop_uid
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = STUDY_UID, SERIES_UID, FRAME_UID
    ds.Modality, ds.Manufacturer = "CT", "ACME"
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = study_date
    ds.StudyTime, ds.ContentTime = "101530", "101533.25"
    ds.AcquisitionDateTime = f"{study_date}101530.123456"
    ds.AccessionNumber, ds.StudyID = ACCESSION, STUDY_ID
    ds.ReferringPhysicianName, ds.OperatorsName, ds.PerformingPhysicianName = REFERRING, OPERATOR, PERFORMING
    ds.InstitutionName, ds.InstitutionAddress = INSTITUTION, ADDRESS
    ds.InstitutionalDepartmentName, ds.StationName, ds.DeviceSerialNumber = DEPARTMENT, STATION, DEVICE_SERIAL
    cjk = " 王小东" if charset in ("ISO_IR 192", "GB18030", "GBK") else ""
    ds.StudyDescription = f"CT chest for {FAMILY} {GIVEN}{cjk} 2024-03-15"
    ds.SeriesDescription = "AX 5mm lung"
    ds.ImageComments = f"Call Dr Drwhistle at {PHONE} re {PATIENT_ID}"
    ds.BodyPartExamined = "CHEST"

    # references: an image of the prior study
    ref = Dataset()
    ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = CT_STORAGE, referenced_sop_uid
    ds.ReferencedImageSequence = Sequence([ref])
    src = Dataset()
    src.ReferencedSOPClassUID, src.ReferencedSOPInstanceUID = CT_STORAGE, referenced_sop_uid
    ds.SourceImageSequence = Sequence([src])
    study_ref = Dataset()
    study_ref.ReferencedSOPClassUID, study_ref.ReferencedSOPInstanceUID = "1.2.840.10008.3.1.2.3.1", PRIOR_STUDY_UID
    ds.ReferencedStudySequence = Sequence([study_ref])

    # three levels of nesting: Request Attributes > Scheduled Protocol Code > Protocol Context
    context = Dataset()
    context.ValueType = "PNAME"
    context.ConceptNameCodeSequence = Sequence([_code("121008", "DCM", "Person Observer Name")])
    context.PersonName = f"{FAMILY}^{GIVEN}"
    context_date = Dataset()
    context_date.ValueType, context_date.Date = "DATE", study_date
    context_text = Dataset()
    context_text.ValueType, context_text.TextValue = "TEXT", f"Protocol for {GIVEN} {FAMILY}, MRN {PATIENT_ID}"
    protocol = _code("P1", "99CANARY", "Chest protocol")
    protocol.ProtocolContextSequence = Sequence([context, context_date, context_text])
    request = Dataset()
    request.AccessionNumber = ACCESSION
    request.RequestedProcedureID = REQUESTED_PROC_ID
    request.StudyInstanceUID = STUDY_UID
    request.RequestedProcedureDescription = f"CT chest {FAMILY}"
    request.ScheduledProtocolCodeSequence = Sequence([protocol])
    request.add_new(0x00330010, "LO", PRIVATE_CREATOR)
    request.add_new(0x00331010, "LO", f"{GIVEN} {FAMILY}")
    ds.RequestAttributesSequence = Sequence([request])

    # private blocks: one allow-listed (GEMS_ACQU_01, NQHeader), others not
    ds.add_new(0x00190010, "LO", "GEMS_ACQU_01")
    ds.add_new(0x00191023, "DS", "39.375")        # Table Speed: allow-listed
    ds.add_new(0x00191027, "DS", "0.5")           # Rotation Speed: allow-listed
    ds.add_new(0x00191030, "LO", f"{FAMILY} {GIVEN}")  # not on the list
    ds.add_new(0x00290010, "LO", PRIVATE_CREATOR)
    ds.add_new(0x00291010, "LO", PATIENT_ID)
    ds.add_new(0x00291020, "PN", NAME)
    nested = Dataset()
    nested.PatientName, nested.PatientID = NAME, PATIENT_ID
    ds.add_new(0x00291030, "SQ", Sequence([nested]))
    ds.add_new(0x00110001, "LO", PATIENT_ID)       # private element without a creator
    ds.add_new(0x00990010, "LO", "NQHeader")
    ds.add_new(0x00991001, "UI", NQ_VERSION_UID)  # allow-listed, keep_uid
    ds.add_new(0x00991002, "UI", SERIES_UID)      # allow-listed UID: remapped like the series
    ds.add_new(0x00991005, "LT", f"message for {FAMILY}")  # not on the list

    # graphics: overlay, curve, icon, graphic annotation
    canary_bits = (f"{FAMILY} {GIVEN} {PATIENT_ID}".encode("ascii") + b"\x00" * 32)[:32]
    ds.add_new(0x60000010, "US", 16)
    ds.add_new(0x60000011, "US", 16)
    ds.add_new(0x60000040, "CS", "G")
    ds.add_new(0x60000050, "SS", [1, 1])
    ds.add_new(0x60000022, "LO", f"{FAMILY} overlay")
    ds.add_new(0x60000100, "US", 1)
    ds.add_new(0x60000102, "US", 0)
    ds.add_new(0x60003000, "OW", canary_bits)
    ds.add_new(0x60004000, "LT", f"{GIVEN} {FAMILY}")
    ds.add_new(0x50000005, "US", 2)
    ds.add_new(0x50000010, "US", 4)
    ds.add_new(0x50002500, "LO", f"{FAMILY} curve")
    ds.add_new(0x50003000, "OB", canary_bits)
    icon = Dataset()
    icon.Rows = icon.Columns = 4
    icon.SamplesPerPixel, icon.PhotometricInterpretation = 1, "MONOCHROME2"
    icon.BitsAllocated, icon.BitsStored, icon.HighBit, icon.PixelRepresentation = 8, 8, 7, 0
    icon.PixelData = canary_bits[:16]
    ds.IconImageSequence = Sequence([icon])
    text_object = Dataset()
    text_object.UnformattedTextValue = f"{GIVEN} {FAMILY} lesion"
    text_object.BoundingBoxTopLeftHandCorner = [1.0, 1.0]
    text_object.BoundingBoxBottomRightHandCorner = [10.0, 5.0]
    text_object.BoundingBoxAnnotationUnits = "PIXEL"
    annotation = Dataset()
    annotation.GraphicLayer = "LESIONS"
    annotation.TextObjectSequence = Sequence([text_object])
    ds.GraphicAnnotationSequence = Sequence([annotation])

    # pixels: a deterministic 32x32 ramp
    ds.Rows = ds.Columns = 32
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleIntercept, ds.RescaleSlope = "-1024", "1"
    ds.PixelData = (np.arange(32 * 32, dtype=np.uint16) % 2000).tobytes()
    return from_bytes(to_bytes(ds))


def make_canary_sr(charset: str = "ISO_IR 192", *, evidence_sop_uid: str = SOP_UID) -> Dataset:
    """A Comprehensive SR about the canary CT: content three levels deep, evidence references."""
    ds = Dataset()
    ds.file_meta = _meta(COMPREHENSIVE_SR, SR_SOP_UID)
    _patient(ds, charset)
    ds.SOPClassUID, ds.SOPInstanceUID = COMPREHENSIVE_SR, SR_SOP_UID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = STUDY_UID, SR_SERIES_UID
    ds.Modality = "SR"
    ds.StudyDate = ds.ContentDate = STUDY_DATE
    ds.StudyTime, ds.ContentTime = "101530", "110000"
    ds.AccessionNumber, ds.ReferringPhysicianName = ACCESSION, REFERRING
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = Sequence([_code("126000", "DCM", "Imaging Measurement Report")])
    ds.CompletionFlag, ds.VerificationFlag = "COMPLETE", "UNVERIFIED"

    image = Dataset()
    image.RelationshipType, image.ValueType = "CONTAINS", "IMAGE"
    sop = Dataset()
    sop.ReferencedSOPClassUID, sop.ReferencedSOPInstanceUID = CT_STORAGE, evidence_sop_uid
    image.ReferencedSOPSequence = Sequence([sop])
    person = Dataset()
    person.RelationshipType, person.ValueType, person.PersonName = "HAS OBS CONTEXT", "PNAME", NAME
    date = Dataset()
    date.RelationshipType, date.ValueType, date.Date = "CONTAINS", "DATE", STUDY_DATE
    uidref = Dataset()
    uidref.RelationshipType, uidref.ValueType, uidref.UID = "CONTAINS", "UIDREF", STUDY_UID
    level3 = [_text_item(f"Seen with {GIVEN} {FAMILY} on 2024-03-15, tel {PHONE}"), person, date, uidref, image]
    level2 = Dataset()
    level2.RelationshipType, level2.ValueType = "CONTAINS", "CONTAINER"
    level2.ContentSequence = Sequence(level3)
    level1 = Dataset()
    level1.RelationshipType, level1.ValueType = "CONTAINS", "CONTAINER"
    level1.ContentSequence = Sequence([level2])
    ds.ContentSequence = Sequence([level1])

    evidence_sop = Dataset()
    evidence_sop.ReferencedSOPClassUID, evidence_sop.ReferencedSOPInstanceUID = CT_STORAGE, evidence_sop_uid
    series = Dataset()
    series.SeriesInstanceUID = SERIES_UID
    series.ReferencedSOPSequence = Sequence([evidence_sop])
    study = Dataset()
    study.StudyInstanceUID = STUDY_UID
    study.ReferencedSeriesSequence = Sequence([series])
    ds.CurrentRequestedProcedureEvidenceSequence = Sequence([study])
    prior_sop = Dataset()
    prior_sop.ReferencedSOPClassUID, prior_sop.ReferencedSOPInstanceUID = CT_STORAGE, PRIOR_SOP_UID
    prior_series = Dataset()
    prior_series.SeriesInstanceUID = f"{UID_ROOT}.9"
    prior_series.ReferencedSOPSequence = Sequence([prior_sop])
    prior_study = Dataset()
    prior_study.StudyInstanceUID = PRIOR_STUDY_UID
    prior_study.ReferencedSeriesSequence = Sequence([prior_series])
    ds.PertinentOtherEvidenceSequence = Sequence([prior_study])
    return from_bytes(to_bytes(ds))


# --------------------------------------------------------------------------- searching


def encodings_of(text: str, encodings: Iterable[str] = SEARCH_ENCODINGS) -> set[bytes]:
    """Every byte form of ``text`` (as is, upper, lower) in ``encodings``; ISO 2022 with
    and without escape sequences; forms shorter than 3 bytes are dropped."""
    out: set[bytes] = set()
    for variant in {text, text.upper(), text.lower()}:
        for encoding in encodings:
            try:
                data = variant.encode(encoding)
            except UnicodeEncodeError:
                continue
            if encoding.startswith("utf-16") and data[:2] in (b"\xff\xfe", b"\xfe\xff"):
                data = data[2:]
            out.add(data)
            if encoding.startswith("iso2022"):
                out.add(re.sub(rb"\x1b[$()][()]?[@-~]|[\x0e\x0f]", b"", data))
    return {b for b in out if len(b) >= 3}


def find_in_bytes(data: bytes, strings: Iterable[str]) -> list[tuple[str, bytes, int]]:
    """``(string, encoded form, offset)`` for every planted string found in ``data``."""
    low = data.lower()
    hits = []
    for text in strings:
        for form in encodings_of(text):
            at = low.find(form.lower())
            if at >= 0:
                hits.append((text, form, at))
    return hits


def iter_elements(ds: Dataset, path: str = "") -> Iterator[tuple[str, pydicom.DataElement]]:
    """``(path, element)`` for every element, File Meta and every nesting level included."""
    meta = getattr(ds, "file_meta", None)
    if meta is not None and not path:
        for elem in meta:
            yield f"{elem.keyword or elem.tag}", elem
    for elem in ds:
        here = f"{path}{elem.keyword or elem.tag}"
        yield here, elem
        if elem.VR == "SQ":
            for i, item in enumerate(elem.value):
                yield from iter_elements(item, f"{here}[{i}].")


def element_texts(ds: Dataset) -> Iterator[tuple[str, str]]:
    """``(path, text)`` for every value of every element, decoded (binary as latin-1)."""
    for path, elem in iter_elements(ds):
        if elem.VR == "SQ" or elem.value is None:
            continue
        values = elem.value if isinstance(elem.value, (list, pydicom.multival.MultiValue)) else [elem.value]
        for value in values:
            if isinstance(value, bytes):
                yield path, value.decode("latin-1")
            else:
                yield path, str(value)


def find_in_elements(ds: Dataset, strings: Iterable[str]) -> list[tuple[str, str, str]]:
    """``(string, path, value)`` for every planted string found (case-insensitive) in any element."""
    strings = list(strings)
    hits = []
    for path, text in element_texts(ds):
        low = text.lower()
        for s in strings:
            if s.lower() in low:
                hits.append((s, path, text))
    return hits
