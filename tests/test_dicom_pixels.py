"""Pixel values: modality values (HU), per-slice rescale, photometric handling, codecs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from dicom_fixtures import fetch_dataset_or_skip, fetch_or_skip, make_slice, write_series

from caselib.dicom import read
from caselib.errors import PixelDataError
from caselib.imaging import Window


def _series(key: str):  # noqa: ANN202 - a Series
    return read(fetch_or_skip(key)).only_series()


def _naive_volume(folder: Path) -> np.ndarray:
    """The loop every tutorial writes: read everything, sort, rescale in float64."""
    datasets = [pydicom.dcmread(p) for p in sorted(folder.glob("*.dcm"))]
    iop = np.array(datasets[0].ImageOrientationPatient, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    datasets.sort(key=lambda d: float(normal @ np.array(d.ImagePositionPatient, dtype=float)))
    return np.stack([d.pixel_array * float(d.get("RescaleSlope", 1))
                     + float(d.get("RescaleIntercept", 0)) for d in datasets])


# --------------------------------------------------------------------------- CT values


@pytest.fixture(scope="module")
def chest_ct():  # noqa: ANN201
    return read(fetch_dataset_or_skip("tcia-lung-ct")).only_series()


@pytest.fixture(scope="module")
def chest_volume(chest_ct) -> np.ndarray:  # noqa: ANN001
    return chest_ct.volume()


def test_chest_ct_hounsfield_units(chest_volume: np.ndarray) -> None:
    v = chest_volume
    assert v.shape == (30, 512, 512) and v.dtype == np.float32
    # slice 0 is the most inferior (upper abdomen), 29 the thoracic inlet
    air_outside = v[15, 10:40, 200:300]          # in front of the chest wall
    trachea = v[25, 259:265, 238:244]            # the airway lumen at the thoracic inlet
    aorta = v[5, 280:290, 253:263]               # descending aorta, no contrast: blood
    ascending_aorta = v[15, 200:212, 228:240]
    assert air_outside.mean() == pytest.approx(-1000, abs=50)
    assert trachea.mean() == pytest.approx(-1000, abs=50)
    assert 0 <= aorta.mean() <= 60
    assert 0 <= ascending_aorta.mean() <= 60


def test_volume_is_bit_identical_to_the_naive_loop(chest_volume: np.ndarray) -> None:
    naive = _naive_volume(fetch_dataset_or_skip("tcia-lung-ct"))
    assert np.array_equal(naive.astype(np.float32), chest_volume)
    assert np.array_equal(naive, chest_volume.astype(np.float64))  # CT values are integers


def test_mr_volume_is_bit_identical_to_the_naive_loop() -> None:
    folder = fetch_dataset_or_skip("pediatric-brain-mr")
    series = read(folder).only_series()
    vol = series.volume()
    assert vol.shape == (192, 256, 256)
    assert np.array_equal(vol.astype(np.float64), _naive_volume(folder))


def test_float64_and_single_frames(chest_ct, chest_volume: np.ndarray) -> None:  # noqa: ANN001
    v64 = chest_ct.volume(dtype=np.float64, workers=1)
    assert v64.dtype == np.float64 and np.array_equal(v64, chest_volume)
    assert np.array_equal(chest_ct.frame(7), chest_volume[7])
    assert np.array_equal(chest_ct.frame(-1), chest_volume[-1])
    with pytest.raises(IndexError, match="frame index 30 out of range for a series of 30 frames"):
        chest_ct.frame(30)
    with pytest.raises(TypeError, match="dtype must be float32 or float64; found int16"):
        chest_ct.volume(dtype=np.int16)


def test_slopes_may_differ_between_slices(tmp_path: Path) -> None:
    stored = np.arange(30, dtype=np.int16).reshape(6, 5)
    datasets = [make_slice(0, slope=1.0, intercept=-1024, pixels=stored),
                make_slice(1, slope=2.0, intercept=-10, pixels=stored),
                make_slice(2, slope=0.37, intercept=0.25, pixels=stored),
                make_slice(3, slope=None, intercept=None, pixels=stored)]
    write_series(tmp_path, datasets)
    series = read(tmp_path).only_series()
    vol = series.volume()
    s = stored.astype(np.float64)
    expected = np.stack([s - 1024, 2 * s - 10, s * 0.37 + 0.25, s]).astype(np.float32)
    assert np.array_equal(vol, expected)
    assert [f.rescale_slope for f in series.frames] == [1.0, 2.0, 0.37, 1.0]
    assert np.array_equal(series.volume(dtype=np.float64)[2], s * 0.37 + 0.25)


def test_pet_slices_use_their_own_slope() -> None:
    folder = fetch_dataset_or_skip("tcia-breast-pet")
    for path in sorted(folder.glob("*.dcm")):
        series = read(path).only_series()
        ds = pydicom.dcmread(path)
        expected = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        assert np.array_equal(series.frame(0), expected.astype(np.float32))
        assert series.frames[0].rescale_slope == float(ds.RescaleSlope)


def test_enhanced_ct_rescale_from_functional_groups() -> None:
    path = fetch_or_skip("pydicom-data/eCT_Supplemental.dcm")
    series = read(path).only_series()
    stored = pydicom.dcmread(path).pixel_array
    vol = series.volume()
    assert np.array_equal(vol[0], stored[1].astype(np.float32) - 1024)  # sorted: frame 2 first
    assert np.array_equal(vol[1], stored[0].astype(np.float32) - 1024)


def test_modality_lut_sequence() -> None:
    path = fetch_or_skip("pydicom-data/mlut_18.dcm")
    series = _series("pydicom-data/mlut_18.dcm")
    assert series.first.has_modality_lut
    ds = pydicom.dcmread(path)
    expected = pydicom.pixels.apply_modality_lut(ds.pixel_array, ds)
    assert np.array_equal(series.frame(0), expected.astype(np.float32))


# --------------------------------------------------------------------------- photometric


@pytest.mark.parametrize("key", ["pydicom-data/RG1_UNCI.dcm", "pydicom-data/RG1_J2KR.dcm",
                                 "pydicom-data/RG3_UNCI.dcm", "pydicom-data/RG3_J2KI.dcm"])
def test_monochrome1_values_kept_and_flagged(key: str) -> None:
    series = _series(key)
    assert series.photometric == "MONOCHROME1" and series.inverted_grayscale
    ds = pydicom.dcmread(fetch_or_skip(key))
    assert np.array_equal(series.frame(0), ds.pixel_array.astype(np.float32))  # not inverted


def test_monochrome1_chest_displays_bone_bright() -> None:
    series = _series("pydicom-data/RG1_UNCI.dcm")
    values = series.frame(0)
    shown = series.display_frame(0)
    assert shown.dtype == np.uint8 and shown.shape == values.shape
    spine = (slice(490, 820), slice(800, 1000))     # spine and mediastinum
    lung = (slice(490, 820), slice(460, 610))       # right lung field
    assert values[spine].mean() < values[lung].mean()        # MONOCHROME1: dense = low
    assert shown[spine].mean() > shown[lung].mean() + 30     # ... but shown bright


def test_monochrome1_leg_displays_bone_bright() -> None:
    series = _series("pydicom-data/RG3_UNCI.dcm")
    values = series.frame(0)
    shown = series.display_frame(0, Window(550, 1024))
    bone = (slice(0, 700), slice(733, 1026))        # tibia
    air = (slice(0, 700), slice(440, 586))          # beside the leg
    assert values[bone].mean() < values[air].mean()
    assert shown[bone].mean() > shown[air].mean() + 80


def test_monochrome2_hip_cr_in_jpeg_lossless() -> None:
    series = _series("codec-samples/JPEGLosslessSV1/RG2_JPLL.dcm")
    assert series.first.transfer_syntax_uid == "1.2.840.10008.1.2.4.70"
    assert series.photometric == "MONOCHROME2" and not series.inverted_grayscale
    assert series.modality == "CR" and series.geometry.kind == "projection"
    frame = series.frame(0)
    assert frame.shape == (2140, 1760) and frame.max() == 893


def test_palette_color_is_applied() -> None:
    path = fetch_or_skip("pydicom-data/OBXXXX1A.dcm")
    series = _series("pydicom-data/OBXXXX1A.dcm")
    assert series.photometric == "PALETTE COLOR" and series.is_color
    ds = pydicom.dcmread(path)
    expected = pydicom.pixels.apply_color_lut(ds.pixel_array, ds)
    rgb = series.frame(0)
    assert rgb.shape == (600, 800, 3) and np.array_equal(rgb, expected)
    shown = series.display_frame(0)
    assert shown.dtype == np.uint8 and shown.shape == (600, 800, 3)


def test_ybr_is_converted_to_rgb() -> None:
    rgb = _series("pydicom-data/SC_rgb.dcm").frame(0)
    ybr = _series("pydicom-data/SC_ybr_full_uncompressed.dcm").frame(0)
    assert ybr.shape == rgb.shape == (100, 100, 3)
    diff = np.abs(ybr.astype(int) - rgb.astype(int))
    assert diff.max() <= 8 and diff.mean() < 1  # YBR quantisation; unconverted would be ~100
    jpeg = _series("pydicom/SC_rgb_dcmtk_+eb+cy+np.dcm").frame(0)  # YBR_FULL_422 baseline
    assert np.abs(jpeg.astype(int) - rgb.astype(int)).mean() < 3


def test_color_volume() -> None:
    series = _series("pydicom-data/SC_rgb_2frame.dcm")
    vol = series.volume()
    assert vol.shape == (2, 100, 100, 3) and vol.dtype == np.uint8
    assert series.shape == vol.shape


# --------------------------------------------------------------------------- codecs


@pytest.mark.parametrize(
    ("compressed", "reference"),
    [
        ("pydicom-data/MR2_J2KR.dcm", "pydicom-data/MR2_UNCR.dcm"),          # JPEG 2000 lossless
        ("pydicom-data/RG1_J2KR.dcm", "pydicom-data/RG1_UNCR.dcm"),
        ("pydicom-data/US1_J2KR.dcm", "pydicom-data/US1_UNCR.dcm"),          # colour, RCT
        ("pydicom-data/emri_small_RLE.dcm", "pydicom-data/emri_small.dcm"),  # RLE multi-frame
        ("pydicom-data/emri_small_jpeg_ls_lossless.dcm", "pydicom-data/emri_small.dcm"),
        ("pydicom-data/emri_small_jpeg_2k_lossless.dcm", "pydicom-data/emri_small.dcm"),
        ("pydicom-data/emri_small_big_endian.dcm", "pydicom-data/emri_small.dcm"),
        ("pydicom-data/OBXXXX1A_rle.dcm", "pydicom-data/OBXXXX1A.dcm"),
        ("pydicom/MR_small_jpeg_ls_lossless.dcm", "pydicom/MR_small.dcm"),
        ("pydicom/MR_small_RLE.dcm", "pydicom/MR_small.dcm"),
        ("pydicom/MR_small_implicit.dcm", "pydicom/MR_small.dcm"),
        ("pydicom/MR_small_bigendian.dcm", "pydicom/MR_small.dcm"),
        ("pydicom/SC_rgb_jpeg_gdcm.dcm", "pydicom-data/SC_rgb.dcm"),         # JPEG lossless, RGB
        ("pydicom/SC_rgb_rle.dcm", "pydicom-data/SC_rgb.dcm"),
    ],
)
def test_lossless_codecs_match_the_uncompressed_file(compressed: str, reference: str) -> None:
    got = _series(compressed).volume()
    expected = _series(reference).volume()
    assert np.array_equal(got, expected)


@pytest.mark.parametrize(
    ("lossy", "reference", "tolerance"),
    [
        ("pydicom-data/MR2_J2KI.dcm", "pydicom-data/MR2_UNCI.dcm", 0.02),     # JPEG 2000 lossy
        ("pydicom/SC_rgb_jpeg_dcmtk.dcm", "pydicom-data/SC_rgb.dcm", 0.02),  # JPEG baseline
        ("pydicom/SC_rgb_jls_lossy_line.dcm", "pydicom-data/SC_rgb.dcm", 0.02),  # JPEG-LS near
    ],
)
def test_lossy_codecs_are_close(lossy: str, reference: str, tolerance: float) -> None:
    got = _series(lossy).frame(0).astype(np.float64)
    expected = _series(reference).frame(0).astype(np.float64)
    span = expected.max() - expected.min()
    assert np.abs(got - expected).mean() < tolerance * span


def test_jpeg_baseline_multiframe_single_frame_decode() -> None:
    series = _series("pydicom/examples_ybr_color.dcm")
    assert series.first.transfer_syntax_uid == "1.2.840.10008.1.2.4.50"
    assert series.number_of_frames == 30
    assert series.frame(29).shape == (240, 320, 3)


@pytest.mark.parametrize("key", ["pydicom/JPGExtended.dcm", "pydicom/JPEG-lossy.dcm"])
def test_undecodable_syntax_names_it(key: str) -> None:
    series = _series(key)
    with pytest.raises(PixelDataError, match=(
            r"\.dcm: cannot decode \(7FE0,0010\) Pixel Data in transfer syntax 'JPEG Extended "
            r"\(Process 2 and 4\)' \(1\.2\.840\.10008\.1\.2\.4\.51\): .*12-bit"
            r".*pylibjpeg-libjpeg")):
        series.frame(0)


def test_display_uses_the_stored_window(chest_ct) -> None:  # noqa: ANN001
    shown = chest_ct.display_frame(15)
    values = chest_ct.frame(15)
    window = chest_ct.windows[0]
    assert shown[values <= window.lower].max() == 0
    assert shown[values > window.upper].min() == 255
    lung = chest_ct.display_frame(15, chest_ct.windows[1])
    assert lung.mean() > shown.mean()
