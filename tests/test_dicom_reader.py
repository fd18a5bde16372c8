"""caselib.dicom.read: folders, zips, DICOMDIRs, bad input and its messages."""
from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from dicom_fixtures import (
    fetch_dataset_or_skip,
    fetch_or_skip,
    make_slice,
    write_dataset,
    write_series,
)

from caselib.dicom import (
    DicomCollection,
    SkippedFile,
    is_unsafe_member_name,
    read,
    read_instance,
)
from caselib.errors import DicomError, GeometryError, InvalidDicomError


def _reasons(collection: DicomCollection) -> dict[str, str]:
    return {Path(e.source.split("::")[-1]).name: e.reason for e in collection.errors}


# --------------------------------------------------------------------------- sources


def test_folder_tree_is_read_recursively_into_the_hierarchy(tmp_path: Path) -> None:
    write_series(tmp_path / "a" / "b", [make_slice(z) for z in (0, 1, 2)])
    write_dataset(make_slice(0, series_uid="1.2.3.9", study_uid="1.2.3.8", patient_id="P2"),
                  tmp_path / "other.dcm")
    c = read(tmp_path)
    assert [p.patient_id for p in c.patients] == ["P2", "SYNTH-1"]
    assert len(c.studies) == 2 and len(c.series) == 2 and len(c.instances) == 4
    assert c.errors == []
    series = c.series_by_uid("1.2.826.0.1.3680043.8.498.1")
    assert series.study.patient.patient_id == "SYNTH-1"
    assert series.number_of_frames == 3
    assert series.instances[0].path.parent == tmp_path / "a" / "b"


def test_single_file_and_iterable_of_paths(tmp_path: Path) -> None:
    paths = write_series(tmp_path, [make_slice(z) for z in (0, 1)])
    assert read(paths[0]).only_series().number_of_frames == 1
    assert read(paths).only_series().number_of_frames == 2
    assert read(str(p) for p in paths).only_series().number_of_frames == 2


def test_missing_source_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.dcm: no such file or folder"):
        read(tmp_path / "nope.dcm")


def test_headers_only_until_pixels_are_asked_for(tmp_path: Path) -> None:
    paths = write_series(tmp_path, [make_slice(z) for z in (0, 1)])
    series = read(tmp_path).only_series()
    paths[0].unlink()  # pixels are read lazily: the header was enough so far
    assert series.number_of_frames == 2
    with pytest.raises(FileNotFoundError):
        series.volume()


def test_instance_carries_source_uids_and_loads_its_dataset(tmp_path: Path) -> None:
    ds = make_slice(3, instance_number=7)
    path = write_dataset(ds, tmp_path / "x.dcm")
    inst = read_instance(path)
    assert inst.path == path and inst.member is None and inst.source == str(path)
    assert inst.sop_instance_uid == ds.SOPInstanceUID
    assert inst.instance_number == 7
    full = inst.load_dataset()
    assert full.PatientName == "Synthetic^Phantom" and "PixelData" in full
    assert "PixelData" not in inst.load_dataset(stop_before_pixels=True)


# --------------------------------------------------------------------------- zip


def test_zip_members_are_read_in_memory_and_unsafe_names_are_reported(tmp_path: Path) -> None:
    good = write_dataset(make_slice(0), tmp_path / "src" / "good.dcm")
    other = write_dataset(make_slice(1), tmp_path / "src" / "two.dcm")
    archive = tmp_path / "case" / "case.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.write(good, "series/good.dcm")
        z.write(other, "series/two.dcm")
        z.writestr("../evil.dcm", good.read_bytes())
        z.writestr("/abs/evil2.dcm", good.read_bytes())
        z.writestr("notes.txt", "not dicom")
        z.writestr("empty_dir/", "")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    c = read(archive)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing extracted
    series = c.only_series()
    assert [i.member for i in series.instances] == ["series/good.dcm", "series/two.dcm"]
    assert series.instances[0].source == f"{archive}::series/good.dcm"
    reasons = {e.source: e.reason for e in c.errors}
    assert reasons[f"{archive}::../evil.dcm"].startswith("unsafe member name")
    assert reasons[f"{archive}::/abs/evil2.dcm"].startswith("unsafe member name")
    assert reasons[f"{archive}::notes.txt"].startswith("not a DICOM file")
    assert len(c.errors) == 3
    vol = series.volume()  # pixels come from the members, in memory
    assert vol.shape == (2, 6, 5)
    assert vol[1, 0, 0] == 1000 + 10 - 1024


@pytest.mark.parametrize(
    ("name", "unsafe"),
    [("a/b.dcm", False), ("../x", True), ("a/../../x", True), ("/x", True), ("\\x", True),
     ("C:/x", True), ("a\\..\\x", True), ("..foo/bar.dcm", False)],
)
def test_unsafe_member_names(name: str, unsafe: bool) -> None:
    assert is_unsafe_member_name(name) is unsafe


def test_zip_inside_a_folder_is_reported_not_opened(tmp_path: Path) -> None:
    write_dataset(make_slice(0), tmp_path / "a.dcm")
    with zipfile.ZipFile(tmp_path / "inner.zip", "w") as z:
        z.writestr("x.dcm", (tmp_path / "a.dcm").read_bytes())
    c = read(tmp_path)
    assert len(c.instances) == 1
    assert _reasons(c)["inner.zip"].startswith("a zip archive inside the source")


def test_real_ultrasound_cine_zips() -> None:
    grey = read(fetch_or_skip("deid-data/ultrasounds/GREYSCALE_CINE.zip")).only_series()
    assert grey.modality == "US" and grey.geometry.kind == "cine"
    assert grey.number_of_frames == 27 and not grey.is_color
    assert grey.frame(26).shape == (600, 800)
    rgb = read(fetch_or_skip("deid-data/ultrasounds/RGB_CINE.zip")).only_series()
    assert rgb.number_of_frames == 51 and rgb.is_color
    assert rgb.frame(0).shape == (672, 1016, 3)


# --------------------------------------------------------------------------- DICOMDIR


def test_dicomdir_references_are_followed() -> None:
    dicomdir = fetch_or_skip("pydicom/dicomdirtests/DICOMDIR")
    fetch_dataset_or_skip("pydicom")
    c = read(dicomdir)
    assert c.errors == []
    assert len(c.patients) == 2 and len(c.studies) == 6 and len(c.series) == 13
    assert len(c.instances) == 31
    ct = [s for s in c.series if s.description == "SmartScore - Gated 0.5 sec"][0]
    assert ct.geometry.kind == "volume" and ct.number_of_frames == 5


def test_dicomdir_with_a_missing_file(tmp_path: Path) -> None:
    dicomdir = fetch_or_skip("pydicom/dicomdirtests/TINY_ALPHA/DICOMDIR")
    fetch_dataset_or_skip("pydicom")
    copy = tmp_path / "TINY_ALPHA"
    shutil.copytree(dicomdir.parent, copy)
    victim = copy / "PT000000" / "ST000000" / "SE000000" / "IM000003"
    victim.unlink()
    c = read(copy / "DICOMDIR")
    assert len(c.instances) == 49
    (err,) = c.errors
    assert err.source.endswith("IM000003")
    assert err.reason.startswith("referenced by the DICOMDIR but missing")


def test_dicomdir_in_a_folder_walk_is_noted(tmp_path: Path) -> None:
    dicomdir = fetch_or_skip("pydicom/dicomdirtests/TINY_ALPHA/DICOMDIR")
    fetch_dataset_or_skip("pydicom")
    copy = tmp_path / "TINY_ALPHA"
    shutil.copytree(dicomdir.parent, copy)
    c = read(copy)
    assert len(c.instances) == 50
    assert _reasons(c) == {"DICOMDIR": "a DICOMDIR (media directory); the folder's files are "
                                       "read directly"}


# --------------------------------------------------------------------------- bad input


def test_non_dicom_file_is_skipped_with_a_reason(tmp_path: Path) -> None:
    write_dataset(make_slice(0), tmp_path / "ok.dcm")
    (tmp_path / "readme.txt").write_text("hello, I am not an image\n" * 20)
    (tmp_path / "tiny.bin").write_bytes(b"\x00\x01")
    c = read(tmp_path)
    assert len(c.instances) == 1
    reasons = _reasons(c)
    expected = "not a DICOM file: no 'DICM' prefix at byte 128 and no DICOM element at the start"
    assert reasons == {"readme.txt": expected, "tiny.bin": expected}
    assert all(isinstance(e, SkippedFile) for e in c.errors)
    source, reason = c.errors[0]
    assert source.endswith("readme.txt")
    with pytest.raises(InvalidDicomError, match=r"readme\.txt: not a DICOM file"):
        read_instance(tmp_path / "readme.txt")


def test_truncated_pixel_data(tmp_path: Path) -> None:
    path = write_dataset(make_slice(0, rows=32, columns=32), tmp_path / "cut.dcm")
    data = path.read_bytes()
    path.write_bytes(data[:-1000])
    c = read(tmp_path)
    assert c.series == []
    assert _reasons(c)["cut.dcm"] == (
        "truncated: (7FE0,0010) Pixel Data declares 2048 bytes but only 1048 remain in the file")
    with pytest.raises(InvalidDicomError,
                       match=r"cut\.dcm: truncated: \(7FE0,0010\) Pixel Data declares 2048 bytes"):
        read_instance(path)


def test_truncated_header(tmp_path: Path) -> None:
    path = write_dataset(make_slice(0), tmp_path / "head.dcm")
    data = path.read_bytes()
    cut = data.index(b"Synthetic^Phantom") + 4
    path.write_bytes(data[:cut])
    expected = (r"head\.dcm: truncated: \(0010,0010\) Patient's Name declares \d+ bytes at "
                r"byte \d+ but the file ends")
    with pytest.raises(InvalidDicomError, match=expected):
        read_instance(path)


def test_pixel_spacing_with_one_value(tmp_path: Path) -> None:
    ds = make_slice(0)
    ds.PixelSpacing = [0.5]
    path = write_dataset(ds, tmp_path / "bad.dcm")
    expected = r"bad\.dcm: expected \(0028,0030\) Pixel Spacing with 2 values, found 1$"
    with pytest.raises(InvalidDicomError, match=expected):
        read_instance(path)
    assert _reasons(read(tmp_path)) == {
        "bad.dcm": "expected (0028,0030) Pixel Spacing with 2 values, found 1"}


def test_position_that_is_not_numbers(tmp_path: Path) -> None:
    ds = make_slice(0)
    ds.ImagePositionPatient = [1.5, 2.5, 3.5]
    path = write_dataset(ds, tmp_path / "pos.dcm")
    data = path.read_bytes()
    assert data.count(b"1.5\\2.5\\3.5") == 1
    # pydicom refuses to write such a value, so the bytes are edited
    path.write_bytes(data.replace(b"1.5\\2.5\\3.5", b"1.5\\abc\\3.5"))
    expected = (r"pos\.dcm: expected \(0020,0032\) Image Position \(Patient\) with 3 numbers, "
                r"found '1\.5\\\\abc")
    with pytest.raises(InvalidDicomError, match=expected):
        read_instance(path)


def test_orientation_that_is_not_unit_vectors(tmp_path: Path) -> None:
    path = write_dataset(make_slice(0, orientation=(2, 0, 0, 0, 1, 0)), tmp_path / "ori.dcm")
    expected = (r"ori\.dcm: expected \(0020,0037\) Image Orientation \(Patient\) to hold two "
                r"orthogonal unit vectors")
    with pytest.raises(InvalidDicomError, match=expected):
        read_instance(path)


def test_missing_rows(tmp_path: Path) -> None:
    ds = make_slice(0)
    del ds.Rows
    path = write_dataset(ds, tmp_path / "norows.dcm")
    with pytest.raises(InvalidDicomError, match=r"norows\.dcm: expected \(0028,0010\) Rows "
                                                r"\(required with pixel data\), found none"):
        read_instance(path)


def test_missing_pixel_spacing_only_stops_the_affine(tmp_path: Path) -> None:
    write_series(tmp_path, [make_slice(z, pixel_spacing=None) for z in (0, 1)], ["x.dcm", "y.dcm"])
    series = read(tmp_path).only_series()
    assert series.pixel_spacing is None
    assert series.volume().shape == (2, 6, 5)
    expected = r"x\.dcm: expected \(0028,0030\) Pixel Spacing, found none"
    with pytest.raises(GeometryError, match=expected):
        _ = series.affine


def test_duplicate_sop_instance_uid_is_skipped(tmp_path: Path) -> None:
    ds = make_slice(0)
    write_dataset(ds, tmp_path / "a.dcm")
    write_dataset(ds, tmp_path / "b.dcm")
    c = read(tmp_path)
    assert len(c.instances) == 1
    assert _reasons(c)["b.dcm"].startswith(
        f"duplicate: same (0008,0018) SOP Instance UID {ds.SOPInstanceUID} as ")


def test_only_series_and_series_by_uid_errors(tmp_path: Path) -> None:
    write_dataset(make_slice(0, series_uid="1.2.3.1"), tmp_path / "a.dcm")
    write_dataset(make_slice(0, series_uid="1.2.3.2"), tmp_path / "b.dcm")
    c = read(tmp_path)
    with pytest.raises(DicomError, match=r"expected one series, found 2: 1\.2\.3\.1 \(CT, 1 frame"):
        c.only_series()
    with pytest.raises(KeyError, match="no series with Series Instance UID '9.9'"):
        c.series_by_uid("9.9")
    assert c.series_by_uid("1.2.3.2").uid == "1.2.3.2"
    assert [s.uid for s in c.find_series(modality="ct")] == ["1.2.3.1", "1.2.3.2"]
    (tmp_path / "a.dcm").unlink()
    (tmp_path / "b.dcm").write_text("garbage")
    with pytest.raises(DicomError, match=r"expected one series, found none; skipped .*b\.dcm: "
                                         r"not a DICOM file"):
        read(tmp_path).only_series()


def test_objects_without_pixels_form_a_series_but_have_no_volume() -> None:
    from caselib.errors import PixelDataError

    series = read(fetch_or_skip("pydicom/test-SR.dcm")).only_series()
    assert series.modality == "SR" and not series.has_pixel_data and series.frames == []
    with pytest.raises(PixelDataError, match=r"test-SR\.dcm: has no \(7FE0,0010\) Pixel Data "
                                             r"\(it is a Comprehensive SR Storage\)"):
        series.volume()


def test_files_without_preamble_are_read() -> None:
    series = read(fetch_or_skip("pydicom-data/OT-PAL-8-face.dcm")).only_series()
    assert series.photometric == "PALETTE COLOR"
    face = series.frame(0)
    assert face.shape == (480, 640, 3)
    assert not series.first.has_file_meta
    assert np.ptp(face) > 100
