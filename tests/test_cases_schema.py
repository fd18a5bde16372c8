"""caselib.cases.schema: case.yaml validation, errors naming the field, StudentView.

The case here is synthetic placeholder text, not teaching content.
"""
from __future__ import annotations

import copy
import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from caselib.catalog import Difficulty, OrganSystem
from caselib.cases import (
    Case,
    CaseSchemaError,
    CircleROI,
    Confirmation,
    EllipseROI,
    PointROI,
    SeriesRef,
    StudentView,
    Text,
    load_case,
    roi_from_dict,
)


def T(tag: str) -> dict[str, str]:
    return {"zh": f"占位{tag}", "en": f"placeholder {tag}"}


def synthetic_case() -> dict[str, Any]:
    """A minimal synthetic case: placeholder text only."""
    return {
        "id": "synthetic-001",
        "title": T("标题"),
        "organ_system": "respiratory",
        "modality": "CT",
        "anatomy": T("部位"),
        "difficulty": "primary",
        "learning_objectives": [T("目标")],
        "history": T("病史"),
        "technique": T("技术"),
        "series": [{"manifest_key": "synthetic/ct-001"}, {"series_uid": "1.2.826.0.1.3680043.2.1125.1"}],
        "findings": [
            {"series": 0, "slice_index": 12,
             "roi": {"shape": "circle", "row": 100, "col": 120, "radius_mm": 5},
             "description": T("所见")},
            {"series": {"series_uid": "1.2.826.0.1.3680043.2.1125.1"}, "slice_index": 3,
             "roi": {"shape": "point", "row": 10, "col": 20, "tolerance_mm": 2},
             "description": T("所见2")},
        ],
        "diagnosis": T("诊断"),
        "differential": [T("鉴别1"), T("鉴别2")],
        "discussion": T("讨论"),
        "teaching_points": [T("要点")],
        "confirmation": "source_stated",
        "source": "synthetic",
        "licence": "CC0-1.0",
        "citation": "none (synthetic)",
        "synthetic": True,
        "questions": [
            {"type": "single_choice", "id": "q1", "prompt": T("题干"),
             "options": [T("甲"), T("乙"), T("丙")], "answer": 1, "explanation": T("解析")},
            {"type": "numeric", "id": "q2", "prompt": T("测量"), "answer": 40, "abs_tol": 5,
             "unit": "HU"},
            {"type": "hotspot", "id": "q3", "prompt": T("点击"),
             "series": {"manifest_key": "synthetic/ct-001"}, "slice_index": 12,
             "roi": {"shape": "circle", "row": 100, "col": 120, "radius_mm": 5},
             "pixel_spacing": [0.7, 0.7]},
            {"type": "free_text", "id": "q4", "prompt": T("描述"), "rubric": T("评分标准"),
             "model_answer": T("参考答案")},
        ],
    }


def write_case(tmp_path: Path, data: Any, name: str = "synthetic-001") -> Path:
    folder = tmp_path / "cases" / name
    folder.mkdir(parents=True)
    (folder / "case.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return folder


def test_load_case_builds_frozen_validated_case(tmp_path: Path) -> None:
    case = load_case(write_case(tmp_path, synthetic_case()))
    assert case.id == "synthetic-001"
    assert case.organ_system is OrganSystem.RESPIRATORY
    assert case.difficulty is Difficulty.PRIMARY
    assert case.confirmation is Confirmation.SOURCE_STATED
    assert case.modality == ("CT",)
    assert case.title == Text(zh="占位标题", en="placeholder 标题")
    assert case.findings[0].series == SeriesRef(manifest_key="synthetic/ct-001")
    assert case.findings[0].roi == CircleROI(100, 120, 5)
    assert case.findings[1].series.series_uid == "1.2.826.0.1.3680043.2.1125.1"
    assert case.findings[1].roi == PointROI(10, 20, 2)
    assert [q.id for q in case.questions] == ["q1", "q2", "q3", "q4"]
    assert case.synthetic is True
    with pytest.raises(dataclasses.FrozenInstanceError):
        case.id = "other"  # type: ignore[misc]


def test_load_case_accepts_the_yaml_file_and_labels(tmp_path: Path) -> None:
    data = synthetic_case()
    data["organ_system"] = "呼吸系统"
    data["difficulty"] = "中级"
    data["modality"] = ["CT", "MR"]
    case = load_case(write_case(tmp_path, data) / "case.yaml")
    assert case.organ_system is OrganSystem.RESPIRATORY
    assert case.difficulty is Difficulty.INTERMEDIATE
    assert case.modality == ("CT", "MR")


def test_student_view_hides_findings_diagnosis_and_answers(tmp_path: Path) -> None:
    case = load_case(write_case(tmp_path, synthetic_case()))
    view = case.student_view()
    assert isinstance(view, StudentView)
    names = {f.name for f in dataclasses.fields(view)}
    for hidden in ("findings", "diagnosis", "differential", "discussion", "teaching_points",
                   "confirmation"):
        assert hidden not in names
    assert view.history == case.history and view.series == case.series
    q1, q2, q3, q4 = view.questions
    assert q1["options"] and "answer" not in q1 and "explanation" not in q1
    assert q2["unit"] == "HU" and not {"answer", "abs_tol", "rel_tol"} & set(q2)
    assert q3["slice_index"] == 12 and "roi" not in q3 and "tolerance_mm" not in q3
    assert "rubric" not in q4 and "model_answer" not in q4
    # nothing secret anywhere in the view, whatever its nesting
    text = repr(view)
    for secret in ("诊断", "所见", "鉴别", "讨论", "要点", "解析", "评分标准", "参考答案", "radius_mm"):
        assert secret not in text


def test_case_yaml_with_bom_and_chinese(tmp_path: Path) -> None:
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "case.yaml").write_text(yaml.safe_dump(synthetic_case(), allow_unicode=True),
                                      encoding="utf-8-sig")
    assert load_case(folder).anatomy.zh == "占位部位"


def _err(tmp_path: Path, data: Any) -> str:
    folder = write_case(tmp_path, data)
    with pytest.raises(CaseSchemaError) as info:
        load_case(folder)
    return str(info.value)


def _mutated(path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(synthetic_case())
    keys: list[Any] = []
    for part in path.replace("]", "").replace("[", ".").split("."):
        keys.append(int(part) if part.isdigit() else part)
    target = data
    for k in keys[:-1]:
        target = target[k]
    if value is _DELETE:
        del target[keys[-1]]
    else:
        target[keys[-1]] = value
    return data


_DELETE = object()

ERRORS = [
    ("findings[0].roi.radius_mm", -3,
     "findings[0].roi.radius_mm: expected a positive number, found -3"),
    ("findings[0].roi.radius_mm", 0,
     "findings[0].roi.radius_mm: expected a positive number, found 0"),
    ("findings[0].roi.radius_mm", ".nan",
     "findings[0].roi.radius_mm: expected a positive number, found '.nan'"),
    ("findings[0].roi.shape", "square",
     "findings[0].roi.shape: expected one of circle, ellipse, point, found 'square'"),
    ("findings[0].roi.row", _DELETE,
     "findings[0].roi.row: expected a value for 'row', found nothing (the field is missing)"),
    ("findings[0].roi.radius", 5,
     "findings[0].roi.radius: expected one of the fields shape, row, col, radius_mm, "
     "found unknown field 'radius'"),
    ("findings[0].slice_index", -1,
     "findings[0].slice_index: expected a non-negative integer, found -1"),
    ("findings[0].slice_index", 1.5,
     "findings[0].slice_index: expected a non-negative integer, found 1.5"),
    ("findings[0].series", 7,
     "findings[0].series: expected an index into series (0..1), found 7"),
    ("findings[0].series", {"manifest_key": "other/key"},
     "findings[0].series: expected a series listed under series, found 'other/key'"),
    ("series[0]", {"manifest_key": "a", "series_uid": "1.2"},
     "series[0]: expected exactly one of manifest_key, series_uid, found a mapping"),
    ("series", [], "series: expected a non-empty list, found a list of 0 item(s)"),
    ("organ_system", "lungs",
     "organ_system: expected one of cns, head_neck, respiratory, cardiovascular, breast, "
     "digestive, urinary, reproductive, musculoskeletal, found 'lungs'"),
    ("difficulty", "easy",
     "difficulty: expected one of primary, intermediate, advanced, found 'easy'"),
    ("confirmation", "biopsy",
     "confirmation: expected one of pathology, follow_up, source_stated, found 'biopsy'"),
    ("title", "only one language",
     "title: expected a mapping, found 'only one language'"),
    ("title.en", _DELETE, "title.en: expected a value for 'en', found nothing (the field is missing)"),
    ("history.zh", "  ", "history.zh: expected a non-empty string, found '  '"),
    ("title.fr", "x", "title.fr: expected one of the fields zh, en, found unknown field 'fr'"),
    ("learning_objectives", [], "learning_objectives: expected a non-empty list, found a list of 0 item(s)"),
    ("differential[1]", None, "differential[1]: expected a mapping, found null"),
    ("synthetic", "yes", "synthetic: expected true or false, found 'yes'"),
    ("licence", _DELETE, "licence: expected a value for 'licence', found nothing (the field is missing)"),
    ("diagnosos", T("x"), "diagnosos: expected one of the fields id, title"),
    ("modality", [], "modality: expected a non-empty list, found a list of 0 item(s)"),
    ("questions[0].answer", 3, "questions[0].answer: expected an index in 0..2, found 3"),
    ("questions[0].type", "essay", "questions[0].type: expected one of single_choice"),
    ("questions[1].abs_tol", -1, "questions[1].abs_tol: expected a non-negative number, found -1"),
    ("questions[2].pixel_spacing", [0.7], "questions[2].pixel_spacing: expected [row_mm, col_mm], "
     "found a list of 1 item(s)"),
    ("questions[3].id", "q1", "questions[3].id: expected a question id unique in the case, found 'q1'"),
    ("questions[1].tolerance", 1, "questions[1].tolerance: expected one of the fields type, id, "
     "prompt, max_score, explanation, image, answer, abs_tol, rel_tol, unit, found unknown field 'tolerance'"),
]


@pytest.mark.parametrize(("path", "value", "message"), ERRORS, ids=[e[0] for e in ERRORS])
def test_schema_errors_name_field_expected_and_found(tmp_path: Path, path: str, value: Any,
                                                      message: str) -> None:
    if value == ".nan":
        data = _mutated(path, float("nan"))
        message = message.replace("'.nan'", "nan")
    else:
        data = _mutated(path, value)
    text = _err(tmp_path, data)
    prefix = str(tmp_path / "cases" / "synthetic-001" / "case.yaml") + ": "
    assert text.startswith(prefix), text
    assert text[len(prefix):].startswith(message), text


def test_error_message_format_matches_the_brief() -> None:
    data = _mutated("findings[0].roi.radius_mm", -3)
    with pytest.raises(CaseSchemaError) as info:
        Case.from_dict(data, origin="cases/lung-001/case.yaml")
    assert str(info.value) == ("cases/lung-001/case.yaml: findings[0].roi.radius_mm: "
                               "expected a positive number, found -3")
    assert info.value.path == "findings[0].roi.radius_mm"
    assert isinstance(info.value, ValueError)


def test_top_level_not_a_mapping_and_bad_yaml(tmp_path: Path) -> None:
    assert _err(tmp_path, ["a"]).endswith("case.yaml: expected a mapping, found a list of 1 item(s)")
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "case.yaml").write_text("id: [unclosed", encoding="utf-8")
    with pytest.raises(CaseSchemaError, match="expected valid YAML, found a YAML error"):
        load_case(folder)
    with pytest.raises(FileNotFoundError, match="no case.yaml"):
        load_case(tmp_path / "missing")


def test_constructors_validate_too() -> None:
    with pytest.raises(ValueError, match=r"Text.en must be a non-empty str, got ''"):
        Text(zh="中", en="")
    with pytest.raises(ValueError, match="exactly one of manifest_key and series_uid"):
        SeriesRef()
    with pytest.raises(ValueError, match=r"CircleROI.radius_mm must be positive, got -1"):
        CircleROI(1, 2, -1)
    with pytest.raises(TypeError, match=r"PointROI.row must be a number, got str"):
        PointROI("1", 2)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"EllipseROI.col must be finite, got inf"):
        EllipseROI(1, float("inf"), 1, 1)
    case = Case.from_dict(synthetic_case())
    with pytest.raises(ValueError, match="refers to series 'x/y', which is not in Case.series"):
        dataclasses.replace(case, findings=(dataclasses.replace(
            case.findings[0], series=SeriesRef(manifest_key="x/y")),))
    with pytest.raises(ValueError, match="unknown organ system 'lung'"):
        dataclasses.replace(case, organ_system="lung")


def test_roi_geometry_uses_pixel_spacing() -> None:
    c = CircleROI(100, 100, radius_mm=5)
    assert c.contains(100, 110, (0.5, 0.5))        # 10 px * 0.5 = 5 mm: edge, inclusive
    assert not c.contains(100, 111, (0.5, 0.5))
    assert c.contains(100, 111, (0.5, 0.5), tolerance_mm=0.5)
    assert not c.contains(100, 110, (0.5, 0.6))     # column spacing is the 2nd value
    assert c.contains(110, 100, (0.5, 0.6))         # row spacing is the 1st value
    e = EllipseROI(50, 50, radius_row_mm=2, radius_col_mm=10)
    assert e.contains(52, 50, (1, 1)) and not e.contains(53, 50, (1, 1))
    assert e.contains(50, 60, (1, 1)) and not e.contains(50, 61, (1, 1))
    p = roi_from_dict({"shape": "point", "row": 5, "col": 5})
    assert p == PointROI(5, 5, 0) and p.contains(5, 5, (1, 1)) and not p.contains(5, 6, (1, 1))
    with pytest.raises(ValueError, match="pixel_spacing values must be positive"):
        c.contains(1, 1, (0, 1))


def test_cases_module_imports_no_heavy_library() -> None:
    code = ("import sys, caselib.cases; "
            "bad = [m for m in ('ipywidgets', 'anywidget', 'pandas', 'pydicom', 'numpy', 'matplotlib') "
            "if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_hotspot_from_a_case_finding(tmp_path: Path) -> None:
    from caselib.cases import Hotspot, grade

    case = load_case(write_case(tmp_path, synthetic_case()))
    q = Hotspot.from_finding(case.findings[0], id="h", prompt=case.title, pixel_spacing=(0.5, 0.5))
    assert (q.series, q.slice_index, q.roi) == (case.findings[0].series, 12, case.findings[0].roi)
    assert grade(q, (12, 110, 120)).score == 1.0      # 10 rows * 0.5 mm = 5 mm: on the edge
    assert grade(q, (12, 111, 120)).score == 0.0
    with pytest.raises(TypeError, match="finding must be a Finding, got dict"):
        Hotspot.from_finding({}, id="h", prompt=case.title, pixel_spacing=(1, 1))  # type: ignore[arg-type]
