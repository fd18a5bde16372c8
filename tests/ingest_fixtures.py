"""Shared helpers for the ``tests/test_ingest_*.py`` modules.

Everything hostile is built here, in memory or in ``tmp_path``: small valid CT
objects made with pydicom, broken copies of them, zips (with escaping member
names, nested zips and zip bombs written as streams), DICOMDIRs whose records
point where they should not, and symbolic links.  Real data comes by manifest
key through :mod:`caselib.data` only.

The module also knows how to look at an archive from the outside (object
hashes, catalog rows keyed by UIDs instead of row ids, left-over temporary
files) and at a source tree (bytes and modification times), so that the tests
can compare two archives or prove that a source was not touched.
"""
from __future__ import annotations

import hashlib
import io
import os
import sqlite3
import struct
import sys
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

__all__ = [
    "UID_ROOT",
    "uid",
    "make_ct",
    "to_part10",
    "truncate",
    "with_raw_element_patched",
    "write_zip",
    "write_zero_bomb",
    "write_dicomdir",
    "tree_state",
    "object_hashes",
    "catalog_rows",
    "leftover_temp_files",
    "ArchiveSnapshot",
    "snapshot",
    "caselib_cli",
]

#: UID root for synthetic objects (the pydicom example root plus a caselib-test arc)
UID_ROOT = "1.2.826.0.1.3680043.8.498.77"


def uid(*parts: int) -> str:
    """A deterministic test UID: ``uid(1, 2)`` -> ``'<root>.1.2'``."""
    return ".".join([UID_ROOT, *(str(p) for p in parts)])


# --------------------------------------------------------------------------- objects


def make_ct(
    *,
    sop: str,
    study: str = uid(1),
    series: str = uid(1, 1),
    patient_id: str = "HOSTILE-0001",
    patient_name: str = "Quokkason^Wilhelmina",
    rows: int = 16,
    columns: int = 16,
    seed: int = 0,
    instance_number: int = 1,
    pixels: bool = True,
) -> Dataset:
    """A small valid CT slice (16-bit, MONOCHROME2, explicit VR little endian) with file meta.

    ``seed`` changes the pixel values (and nothing else), so two objects with the
    same UIDs and different seeds are "the same SOP Instance UID, different content".
    """
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = sop
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.FrameOfReferenceUID = study + ".9"
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientSex = "F"
    ds.PatientBirthDate = "19610412"
    ds.StudyDate = "20190305"
    ds.SeriesDate = "20190305"
    ds.StudyTime = "101500"
    ds.AccessionNumber = "ACC77001"
    ds.StudyID = "77001"
    ds.Modality = "CT"
    ds.BodyPartExamined = "CHEST"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SeriesNumber = 3
    ds.InstanceNumber = instance_number
    ds.ImagePositionPatient = [0.0, 0.0, float(instance_number)]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.PixelSpacing = [0.7, 0.7]
    ds.SliceThickness = "1.0"
    ds.RescaleIntercept = "-1024"
    ds.RescaleSlope = "1"
    ds.Rows = rows
    ds.Columns = columns
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    if pixels:
        rng = np.random.default_rng(seed)
        ds.PixelData = rng.integers(0, 4096, size=(rows, columns), dtype=np.uint16).tobytes()
    return ds


def to_part10(ds: Dataset) -> bytes:
    """``ds`` encoded as a DICOM Part 10 file (preamble, 'DICM', file meta)."""
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def truncate(data: bytes, where: str) -> bytes:
    """Cut a Part 10 file ``'mid-pixels'`` (half the Pixel Data value) or ``'mid-header'``.

    ``'mid-header'`` cuts inside the data set, a few bytes into the value of
    (0008,0018) SOP Instance UID, so the file meta is complete but the header is not.
    """
    if where == "mid-pixels":
        i = data.rfind(b"\xe0\x7f\x10\x00")  # (7FE0,0010) tag, little endian
        assert i > 0, "no Pixel Data element to cut"
        length = struct.unpack("<I", data[i + 8:i + 12])[0]  # OW: tag, VR, 2 reserved, 4-byte length
        return data[:i + 12 + length // 2]
    if where == "mid-header":
        i = data.find(b"\x08\x00\x18\x00UI")  # (0008,0018) in the data set
        assert i > 132, "no SOP Instance UID element to cut"
        return data[:i + 8 + 5]
    raise ValueError(f"where must be 'mid-pixels' or 'mid-header', got {where!r}")


def with_raw_element_patched(data: bytes, tag: tuple[int, int], vr: bytes, value: bytes) -> bytes:
    """Rewrite one explicit-VR short-form element of a Part 10 file with any raw value.

    Used to write what pydicom refuses to write: a US of 3 bytes, a DS of 'abc'.
    Only elements with a 2-byte length (not OB/OW/SQ/UN/UT...) are supported.
    """
    head = struct.pack("<HH", *tag) + vr
    i = data.find(head, 132)
    assert i > 0, f"element ({tag[0]:04X},{tag[1]:04X}) {vr!r} not found"
    old_len = struct.unpack("<H", data[i + 6:i + 8])[0]
    return data[:i] + head + struct.pack("<H", len(value)) + value + data[i + 8 + old_len:]


# --------------------------------------------------------------------------- containers


def write_zip(path: Path, members: Iterable[tuple[str, bytes]]) -> Path:
    """A zip whose member names are written exactly as given ('../x', '/abs' included)."""
    members = list(members)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    with zipfile.ZipFile(path) as zf:  # the hostile names survived as written
        assert [i.filename for i in zf.infolist()] == [n for n, _ in members]
    return path


def write_zero_bomb(path: Path, member: str, size: int, *, prefix: bytes = b"") -> Path:
    """A zip with one deflated member of ``prefix`` + zeros, ``size`` bytes expanded.

    Written as a stream (1 MiB at a time): the expanded member never exists in memory.
    """
    chunk = bytes(1 << 20)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        info = zipfile.ZipInfo(member, date_time=(2020, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=size > 0x7FFFFFFF) as fh:
            fh.write(prefix)
            left = size - len(prefix)
            while left > 0:
                n = min(left, len(chunk))
                fh.write(chunk[:n])
                left -= n
    return path


def write_dicomdir(path: Path, file_ids: Iterable[list[str]]) -> Path:
    """A minimal DICOMDIR with one IMAGE record per ``file_ids`` entry (no validation).

    pydicom's FileSet refuses to write a Referenced File ID that leaves the
    folder, which is exactly what this helper is for.
    """
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.1.3.10"
    ds.file_meta.MediaStorageSOPInstanceUID = uid(9, 9, 9)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.FileSetID = "HOSTILE"
    ds.OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity = 0
    ds.OffsetOfTheLastDirectoryRecordOfTheRootDirectoryEntity = 0
    ds.FileSetConsistencyFlag = 0
    records = []
    for parts in file_ids:
        rec = Dataset()
        rec.OffsetOfTheNextDirectoryRecord = 0
        rec.RecordInUseFlag = 0xFFFF
        rec.OffsetOfReferencedLowerLevelDirectoryEntity = 0
        rec.DirectoryRecordType = "IMAGE"
        rec.ReferencedFileID = parts if len(parts) > 1 else parts[0]
        rec.ReferencedSOPClassUIDInFile = CTImageStorage
        rec.ReferencedSOPInstanceUIDInFile = uid(9, 9, len(records) + 1)
        rec.ReferencedTransferSyntaxUIDInFile = ExplicitVRLittleEndian
        records.append(rec)
    ds.DirectoryRecordSequence = DicomSequence(records)
    path.write_bytes(to_part10(ds))
    return path


# --------------------------------------------------------------------------- looking at things


def tree_state(root: Path) -> dict[str, tuple[object, ...]]:
    """Every entry under ``root`` (links not followed): sha256 + size + mtime, or the link target."""
    state: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames) + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            st = path.lstat()
            if path.is_symlink():
                state[rel] = ("link", os.readlink(path), st.st_mtime_ns)
            else:
                state[rel] = ("file", hashlib.sha256(path.read_bytes()).hexdigest(), st.st_size, st.st_mtime_ns)
    return state


def object_hashes(archive: Path) -> dict[str, str]:
    """``objects/...`` relative path -> sha256 of every stored object (temp files included)."""
    root = archive / "objects"
    out: dict[str, str] = {}
    if not root.is_dir():
        return out
    for path in sorted(root.rglob("*")):
        if path.is_file():
            out[path.relative_to(archive).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


_CATALOG_QUERIES = {
    "patients": "SELECT pseudonym, sex, age, age_years, synthetic FROM patients",
    "studies": "SELECT st.study_uid, p.pseudonym, st.study_date, st.accession, st.description "
               "FROM studies st JOIN patients p ON p.patient_pk = st.patient_pk",
    "series": "SELECT s.series_uid, st.study_uid, s.modality, s.body_part, s.description, s.series_number, "
              "s.n_instances, s.n_frames, s.image_rows, s.image_columns, s.pixel_spacing_row_mm, "
              "s.pixel_spacing_col_mm, s.slice_thickness_mm, s.geometry_warnings, s.dataset "
              "FROM series s JOIN studies st ON st.study_pk = s.study_pk",
    "instances": "SELECT i.sop_uid, s.series_uid, i.instance_number, i.path, i.sha256, i.size_bytes, "
                 "i.transfer_syntax_uid, i.sop_class_uid, i.n_frames "
                 "FROM instances i JOIN series s ON s.series_pk = i.series_pk",
}


def catalog_rows(archive: Path) -> dict[str, list[tuple[object, ...]]]:
    """Sorted rows of the four archive tables, row ids replaced by the UIDs they stand for."""
    conn = sqlite3.connect(f"file:{archive / 'catalog.sqlite'}?mode=ro", uri=True)
    try:
        return {table: sorted(conn.execute(sql).fetchall(), key=repr) for table, sql in _CATALOG_QUERIES.items()}
    finally:
        conn.close()


def leftover_temp_files(archive: Path) -> list[str]:
    """Temporary files of interrupted atomic writes anywhere in the archive."""
    bad = []
    for path in archive.rglob("*"):
        name = path.name
        temporary = name.startswith((".caselib-partial-", ".partial-")) or name.endswith((".tmp", ".partial"))
        if path.is_file() and temporary:
            bad.append(path.relative_to(archive).as_posix())
    return sorted(bad)


@dataclass(frozen=True)
class ArchiveSnapshot:
    objects: dict[str, str]
    catalog: dict[str, list[tuple[object, ...]]]
    pseudonyms: list[tuple[object, ...]]


def snapshot(archive: Path) -> ArchiveSnapshot:
    """What two archives must share to be "the same archive and catalog"."""
    reg = archive / "private" / "pseudonyms.sqlite"
    pseudonyms: list[tuple[object, ...]] = []
    if reg.is_file():
        conn = sqlite3.connect(f"file:{reg}?mode=ro", uri=True)
        try:
            pseudonyms = sorted(conn.execute("SELECT number, key FROM pseudonyms").fetchall())
        finally:
            conn.close()
    return ArchiveSnapshot(object_hashes(archive), catalog_rows(archive), pseudonyms)


def caselib_cli() -> list[str]:
    """The ``caselib`` console script of this interpreter's environment, else ``python -m caselib.cli``."""
    script = Path(sys.executable).with_name("caselib")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "caselib.cli"]


def fixed_archive_secret(archive) -> None:
    """Give a new archive a fixed secret, so its date offsets and UIDs are the same in every run.

    With a random secret, a date shifted by the patient's offset can land on another original
    date of the same object (the leg CR RG3_UNCI: InstanceCreationDate - 937 days = its
    AcquisitionDate, about 1 secret in 3,300).  The verifier used to refuse such an object; it now
    accepts a date element that holds its own original shifted by the offset (tested in
    test_ingest_verify.py).  A fixed secret still keeps every run of a test the same.
    """
    import os

    from caselib.archive import ArchiveLayout

    private = ArchiveLayout.at(archive).secret.parent
    private.mkdir(parents=True, mode=0o700, exist_ok=True)
    fd = os.open(private / "secret.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, b"caselib-secret-v1 " + bytes(range(32)).hex().encode() + b"\n")
    finally:
        os.close(fd)
