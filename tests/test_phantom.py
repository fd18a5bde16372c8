"""Synthetic CT phantoms (caselib.phantom) and the synthetic cases built on them."""
from __future__ import annotations

import hashlib
import io
import math
from pathlib import Path

import numpy as np
import pydicom
import pytest

from caselib import imaging
from caselib.cases import Numeric, grade, load_case
from caselib.dicom import read
from caselib.phantom import (
    SYNTHETIC_SERIES_DESCRIPTION,
    Lesion,
    PhantomInfo,
    build_case_phantom,
    case_answer_key,
    load_phantom_spec,
    make_ct_phantom,
)

REPO = Path(__file__).resolve().parents[1]
CASES = sorted(p for p in (REPO / "cases" / "synthetic").iterdir() if (p / "case.yaml").is_file())
SMALL = dict(shape=(9, 96, 96), spacing=(2.0, 0.8, 0.8), noise_sd=8.0)


def small_lesions() -> list[Lesion]:
    return [
        Lesion(name="lung", shape="cylinder", center_voxel=(4, 48, 30), radius_mm=14, hu=-850),
        Lesion(name="nodule", center_voxel=(4, 48, 30), radius_mm=5, hu=40),
        Lesion(name="fat", shape="cylinder", center_voxel=(4, 30, 66), radius_mm=6, hu=-100,
               half_length_mm=5),
        Lesion(name="cyst", center_voxel=(4, 62, 66), radius_mm=6, hu=8),
        Lesion(name="calcification", center_mm=(12.0, 0.0, 0.0), radius_mm=2.4, hu=700),
    ]


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[PhantomInfo, np.ndarray]:
    out = tmp_path_factory.mktemp("phantom")
    info = make_ct_phantom(out, name="PHANTOM-99", seed=7, lesions=small_lesions(), **SMALL)
    series = read(out).only_series()
    return info, series.volume()


@pytest.fixture(scope="module", params=[p.name for p in CASES])
def case_phantom(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    folder = REPO / "cases" / "synthetic" / request.param
    out = tmp_path_factory.mktemp(request.param)
    info = build_case_phantom(folder, out)
    return folder, info, out


# --------------------------------------------------------------------------- the series


def test_series_reads_as_labelled_synthetic_ct(small, tmp_path: Path) -> None:
    info, vol = small
    assert vol.shape == info.shape
    ds = pydicom.dcmread(info.files[0])
    assert ds.SOPClassUID == pydicom.uid.CTImageStorage
    assert str(ds.PatientName) == "SYN^PHANTOM-99"
    assert ds.PatientID == "SYN-0007"
    assert ds.SeriesDescription == SYNTHETIC_SERIES_DESCRIPTION
    assert "SYNTHETIC" in ds.ImageComments and "not a patient" in ds.ImageComments
    assert "SYNTHETIC" in ds.ImageType
    assert float(ds.RescaleIntercept) == -1024 and ds.PixelRepresentation == 0
    assert [float(v) for v in ds.PixelSpacing] == [0.8, 0.8]
    assert float(ds.SliceThickness) == 2.0
    assert ds.SeriesInstanceUID == info.series_uid
    series = read(info.files[0].parent).only_series()
    assert series.modality == "CT"
    assert series.pixel_spacing == (0.8, 0.8)
    # display order is slice order: z increases by the slice spacing
    z = [float(pydicom.dcmread(f).ImagePositionPatient[2]) for f in info.files]
    assert np.allclose(np.diff(z), 2.0)
    assert [f.name for f in info.files] == [f"slice-{k:03d}.dcm" for k in range(9)]


def test_air_and_body_values(small) -> None:
    info, vol = small
    air = vol[:, :3, :3]
    assert abs(float(air.mean()) + 1000) < 5
    assert info.body_hu == 40.0


def test_ground_truth_geometry(small) -> None:
    info, _ = small
    nod = info.lesion("nodule")
    assert nod.diameter_mm == 10.0 and nod.background_hu == -850.0
    assert nod.center_slice == 4 and nod.slices == (2, 3, 4, 5, 6)   # |dz| <= 5 mm at 2 mm spacing
    assert info.voxel_to_mm(nod.center_voxel) == pytest.approx(nod.center_mm)
    calc = info.lesion("calcification")   # given in mm: (x, y, z) = (12, 0, 0)
    assert calc.center_mm == pytest.approx((12.0, 0.0, 0.0))
    assert calc.center_voxel == pytest.approx((4.0, 47.5, 47.5 + 15.0))
    fat = info.lesion("fat")
    assert fat.slices == (2, 3, 4, 5, 6)
    assert info.lesion("lung").voxel_count < 9 * math.pi * (14 / 0.8) ** 2  # the nodule covers part
    with pytest.raises(KeyError, match="no lesion 'liver'.*lesions: lung, nodule"):
        info.lesion("liver")


@pytest.mark.parametrize("name", ["nodule", "fat", "cyst", "calcification"])
def test_mean_hu_inside_each_lesion(small, name: str) -> None:
    info, vol = small
    les = info.lesion(name)
    k = les.center_slice
    r_mm = max(les.radius_mm - 1.0, 0.5 * les.radius_mm)   # stay off the edge
    mask = imaging.circle_mask_mm(vol.shape[1:], les.center_rc, r_mm, info.pixel_spacing)
    stats = imaging.roi_stats(vol[k], mask, info.pixel_spacing)
    assert stats.count > 5
    assert abs(stats.mean - les.hu) <= 3 * info.noise_sd / math.sqrt(stats.count)
    assert stats.std == pytest.approx(info.noise_sd, rel=0.5)


def _measured_diameter_mm(image: np.ndarray, row: int, col: int, threshold: float,
                          above: bool, spacing_mm: float) -> float:
    """Pixels of the contiguous run through (row, col) on the side of the threshold x spacing."""
    line = image[row]
    inside = line > threshold if above else line < threshold
    assert inside[col], "the centre pixel is not inside the lesion"
    lo = col
    while lo > 0 and inside[lo - 1]:
        lo -= 1
    hi = col
    while hi < len(line) - 1 and inside[hi + 1]:
        hi += 1
    return (hi - lo + 1) * spacing_mm


def _check_diameter(info: PhantomInfo, vol: np.ndarray, name: str) -> None:
    les = info.lesion(name)
    k, r, c = (int(round(v)) for v in les.center_voxel)
    threshold = (les.hu + les.background_hu) / 2
    above = les.hu > les.background_hu
    for image, rr, cc, sp in ((vol[k], r, c, info.spacing[2]),          # along the row
                              (vol[k].T, c, r, info.spacing[1])):       # along the column
        d = _measured_diameter_mm(image, rr, cc, threshold, above, sp)
        assert abs(d - les.diameter_mm) <= sp + 1e-9, (name, d, les.diameter_mm)


@pytest.mark.parametrize("name", ["nodule", "cyst", "calcification", "fat"])
def test_measured_diameter_within_one_pixel(small, name: str) -> None:
    info, vol = small
    _check_diameter(info, vol, name)


def test_deterministic_byte_identical(tmp_path: Path) -> None:
    def digests(out: Path) -> list[str]:
        info = make_ct_phantom(out, name="PHANTOM-99", seed=7, lesions=small_lesions(), **SMALL)
        return [hashlib.sha256(f.read_bytes()).hexdigest() for f in info.files]

    a, b = digests(tmp_path / "a"), digests(tmp_path / "b")
    assert a == b
    other = make_ct_phantom(tmp_path / "c", name="PHANTOM-99", seed=8, lesions=small_lesions(), **SMALL)
    assert hashlib.sha256(other.files[0].read_bytes()).hexdigest() != a[0]
    first = make_ct_phantom(tmp_path / "d", name="PHANTOM-99", seed=7, lesions=small_lesions(), **SMALL)
    assert other.series_uid != first.series_uid and other.study_uid != first.study_uid
    sops = {pydicom.dcmread(f).SOPInstanceUID for f in first.files}
    assert len(sops) == len(first.files)


def test_uids_valid_and_stable(small) -> None:
    info, _ = small
    for uid in (info.study_uid, info.series_uid, info.frame_of_reference_uid):
        assert pydicom.uid.UID(uid).is_valid
    assert len({info.study_uid, info.series_uid, info.frame_of_reference_uid}) == 3


def test_noise_free_phantom_is_exact(tmp_path: Path) -> None:
    info = make_ct_phantom(tmp_path, name="PHANTOM-98", seed=0, shape=(3, 32, 32),
                           spacing=(1.0, 1.0, 1.0), noise_sd=0,
                           lesions=[Lesion(name="n", center_voxel=(1, 16, 16), radius_mm=3, hu=700)])
    vol = read(tmp_path).only_series().volume()
    les = info.lesion("n")
    assert int((vol == 700).sum()) == les.voxel_count
    assert set(np.unique(vol).tolist()) == {-1000.0, 40.0, 700.0}


@pytest.mark.parametrize("kwargs, message", [
    (dict(lesions=[Lesion(radius_mm=2, hu=0, center_voxel=(50, 0, 0))]), "outside the volume"),
    (dict(name="A^B"), "name must be"),
    (dict(shape=(2, 8)), "shape must be 3"),
    (dict(spacing=(1, 0, 1)), "spacing must be positive"),
    (dict(noise_sd=-1), "noise_sd must be"),
    (dict(lesions=[Lesion(name="x", radius_mm=1, hu=0, center_voxel=(0, 0, 0))] * 2), "unique"),
])
def test_bad_arguments(tmp_path: Path, kwargs: dict, message: str) -> None:
    args = dict(name="P", seed=0, shape=(2, 8, 8), spacing=(1.0, 1.0, 1.0))
    args.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=message):
        make_ct_phantom(tmp_path, **args)


def test_lesion_validation() -> None:
    with pytest.raises(ValueError, match="exactly one of center_voxel and center_mm, got both"):
        Lesion(radius_mm=1, hu=0, center_voxel=(0, 0, 0), center_mm=(0, 0, 0))
    with pytest.raises(ValueError, match="shape must be one of sphere, cylinder"):
        Lesion(radius_mm=1, hu=0, center_voxel=(0, 0, 0), shape="cube")
    with pytest.raises(ValueError, match="radius_mm must be positive"):
        Lesion(radius_mm=0, hu=0, center_voxel=(0, 0, 0))
    with pytest.raises(ValueError, match="cylinders only"):
        Lesion(radius_mm=1, hu=0, center_voxel=(0, 0, 0), half_length_mm=2)


def test_tolerances(small) -> None:
    info, _ = small
    assert info.diameter_tolerance_mm() == 1.2         # 1.5 x 0.8 mm
    tol = info.hu_tolerance("nodule")                  # ROI radius 2.5 mm = 3.125 px
    n = int(np.count_nonzero(imaging.ellipse_mask((21, 21), (10, 10), (3.125, 3.125))))
    assert tol == math.ceil(2 * 3 * 8 / math.sqrt(n)) / 2
    assert info.hu_tolerance("lung") == 2.0            # 3 x 8 / sqrt(~240) = 1.55, up to 0.5 HU
    assert info.hu_tolerance("lung", floor_hu=5) == 5.0


# --------------------------------------------------------------------------- the cases


@pytest.mark.parametrize("folder", CASES, ids=[p.name for p in CASES])
def test_case_yaml_validates_and_is_synthetic(folder: Path) -> None:
    case = load_case(folder)
    assert case.synthetic is True
    assert "synthetic" in case.title.en.lower() and "合成" in case.title.zh
    assert any(isinstance(q, Numeric) for q in case.questions)
    spec = load_phantom_spec(folder)
    assert spec["name"] in case.source and f"seed {spec['seed']}" in case.source


def test_there_are_synthetic_cases() -> None:
    assert {p.name for p in CASES} >= {"phantom-nodule-size", "phantom-hu-drill"}


def test_case_matches_its_phantom(case_phantom) -> None:
    folder, info, _ = case_phantom
    case = load_case(folder)
    assert [s.series_uid for s in case.series] == [info.series_uid]
    key = case_answer_key(folder, info)
    assert len(key["findings"]) == len(case.findings)
    for finding, want in zip(case.findings, key["findings"]):
        assert finding.slice_index == want["slice_index"]
        assert (finding.roi.row, finding.roi.col) == (want["row"], want["col"])
        assert finding.roi.radius_mm == want["radius_mm"]
    numeric = {q.id: q for q in case.questions if isinstance(q, Numeric)}
    assert set(numeric) == set(key["questions"])
    for qid, want in key["questions"].items():
        q = numeric[qid]
        assert (q.answer, q.abs_tol, q.unit) == (want["answer"], want["abs_tol"], want["unit"]), qid


def test_case_answers_grade_correct_from_ground_truth_and_measurement(case_phantom) -> None:
    folder, info, out = case_phantom
    case = load_case(folder)
    vol = read(out).only_series().volume()
    links = {q: v for q, v in case_answer_key(folder, info)["questions"].items()}
    import yaml

    spec = yaml.safe_load((folder / "phantom.yaml").read_text(encoding="utf-8"))
    for q in case.questions:
        if not isinstance(q, Numeric):
            continue
        link = spec["questions"][q.id]
        les = info.lesion(link["lesion"])
        truth = les.diameter_mm if link["measure"] == "diameter_mm" else les.hu
        assert grade(q, truth).is_correct, q.id
        assert grade(q, truth + 3 * q.abs_tol).is_correct is False, q.id
        # a student measuring the images as instructed is also graded correct
        if link["measure"] == "hu":
            mask = imaging.circle_mask_mm(vol.shape[1:], les.center_rc, 0.5 * les.radius_mm,
                                          info.pixel_spacing)
            measured = imaging.roi_stats(vol[les.center_slice], mask).mean
        else:
            k, r, c = (int(round(v)) for v in les.center_voxel)
            measured = _measured_diameter_mm(vol[k], r, c, (les.hu + les.background_hu) / 2,
                                             les.hu > les.background_hu, info.spacing[2])
        assert grade(q, measured).is_correct, (q.id, measured, links[q.id])


def test_case_phantoms_measure_true(case_phantom) -> None:
    _, info, out = case_phantom
    vol = read(out).only_series().volume()
    for i, les in enumerate(info.lesions):
        if les.shape == "sphere":
            _check_diameter(info, vol, les.name)
        mask = imaging.circle_mask_mm(vol.shape[1:], les.center_rc, max(les.radius_mm - 1, 1.0),
                                      info.pixel_spacing)
        for later in info.lesions[i + 1:]:          # painted over this one: leave them out
            if les.center_slice in later.slices:
                mask &= ~imaging.circle_mask_mm(vol.shape[1:], later.center_rc,
                                                later.radius_mm + 1, info.pixel_spacing)
        stats = imaging.roi_stats(vol[les.center_slice], mask)
        assert abs(stats.mean - les.hu) <= 3 * info.noise_sd / math.sqrt(stats.count), les.name


# --------------------------------------------------------------------------- ingest


def test_phantom_ingests_and_publishes(small, tmp_path: Path) -> None:
    from caselib.ingest import ingest

    info, _ = small
    published = []
    report = ingest(info.files[0].parent, tmp_path / "archive", workers=1, progress=False,
                    on_published=published.append)
    assert report.quarantined == 0, report.problems
    assert report.published == len(info.files)
    assert report.by_modality == {"CT": len(info.files)}
    ds = pydicom.dcmread(io.BytesIO(published[0].data))
    assert "SYNTHETIC" in ds.ImageType                       # still labelled after de-identification
    assert "computer-generated" in ds.ImageComments and "not a patient" in ds.ImageComments
    assert "not a patient" in ds.SeriesDescription
    assert "SYNTHETIC" in ds.SeriesDescription, "the synthetic label must survive de-identification"
