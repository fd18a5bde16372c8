"""The case library in cases/: every case validates, points at real data, and its answer keys
agree with what caselib measures from the images (no hard-coded facts)."""
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
