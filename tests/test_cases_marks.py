"""caselib.cases.marks: the marks format the viewer writes and graders read."""
from __future__ import annotations

import json

import pytest

from caselib.cases import CircleROI, Hotspot, SeriesRef, Text
from caselib.cases.marks import (
    Mark,
    MarksFormatError,
    grade_mark,
    hotspot_answer,
    last_point,
    load_marks,
    load_marks_file,
    mark_to_patient,
    save_marks,
)


def _hotspot(series_uid: str = "1.2.3") -> Hotspot:
    return Hotspot(id="h", prompt=Text(zh="点击病灶", en="Click the lesion"),
                   series=SeriesRef(series_uid=series_uid), slice_index=4,
                   roi=CircleROI(100, 100, radius_mm=5), pixel_spacing=(0.5, 0.5))


def test_round_trip_all_kinds(tmp_path):
    marks = [
        Mark(kind="point", series_uid="1.2.3", slice_index=4, row=100.0, col=101.5,
             patient_mm=(1.0, 2.0, 3.0), label="结节"),
        Mark(kind="ellipse", series_uid="1.2.3", slice_index=5, row=50, col=60, radius_row=3,
             radius_col=4.5, pixel_spacing=(0.7, 0.7), measurements={"mean": -12.5, "sd": 3.0}),
        Mark(kind="line", series_uid="", slice_index=0, row=0, col=0, end_row=3, end_col=4,
             pixel_spacing=(2.0, 2.0)),
    ]
    path = save_marks(tmp_path / "m.json", marks, case_id="lung-01", student="s001")
    assert load_marks(path) == marks
    f = load_marks_file(path)
    assert (f.case_id, f.student) == ("lung-01", "s001")
    assert "结节" in path.read_text(encoding="utf-8")  # UTF-8, not escaped
    assert marks[2].length_mm() == pytest.approx(10.0)


def test_mark_validation_messages():
    with pytest.raises(ValueError, match="kind must be one of point, ellipse, line, got 'box'"):
        Mark(kind="box", series_uid="", slice_index=0, row=0, col=0)
    with pytest.raises(ValueError, match="needs radius_row and radius_col"):
        Mark(kind="ellipse", series_uid="", slice_index=0, row=0, col=0)
    with pytest.raises(ValueError, match="only an ellipse Mark has radii"):
        Mark(kind="point", series_uid="", slice_index=0, row=0, col=0, radius_row=2, radius_col=2)
    with pytest.raises(ValueError, match="slice_index must be a non-negative int"):
        Mark(kind="point", series_uid="", slice_index=-1, row=0, col=0)
    with pytest.raises(ValueError, match="row must be finite"):
        Mark(kind="point", series_uid="", slice_index=0, row=float("nan"), col=0)


@pytest.mark.parametrize("content, message", [
    ("not json", "expected JSON, found a syntax error at line 1"),
    ("[]", "expected a JSON object, found list"),
    ('{"format": "other"}', "expected \"format\": \"caselib-marks\", found 'other'"),
    ('{"format": "caselib-marks", "version": 9, "marks": []}', "expected \"version\": 1, found 9"),
    ('{"format": "caselib-marks", "version": 1, "marks": {}}', "\"marks\" to be a list, found dict"),
    ('{"format": "caselib-marks", "version": 1, "marks": [{"kind": "point"}]}',
     r"marks\[0\]: missing field 'slice_index'"),
    ('{"format": "caselib-marks", "version": 1, "marks": [{"kind": "point", "slice_index": 0, '
     '"row": 1, "col": 2, "colour": "red"}]}', r"marks\[0\]: unknown field\(s\) colour"),
    ('{"format": "caselib-marks", "version": 1, "marks": [{"kind": "point", "slice_index": 0, '
     '"row": "1", "col": 2}]}', r"marks\[0\]: Mark.row must be a number, got str"),
])
def test_load_marks_bad_files(tmp_path, content, message):
    p = tmp_path / "bad.json"
    p.write_text(content, encoding="utf-8")
    with pytest.raises(MarksFormatError, match=message):
        load_marks(p)


def test_load_marks_non_utf8(tmp_path):
    p = tmp_path / "bad.json"
    p.write_bytes(b'{"x": "\xff"}')
    with pytest.raises(MarksFormatError, match="expected UTF-8 JSON"):
        load_marks(p)


def test_mark_to_patient_uses_affine_column_row_order():
    affine = [[0.5, 0, 0, -100], [0, 0.5, 0, -120], [0, 0, 2.0, 30], [0, 0, 0, 1]]
    assert mark_to_patient(row=10, col=20, slice_index=3, affine=affine) == (-90.0, -115.0, 36.0)


def test_point_mark_grades_with_hotspot_grader():
    q = _hotspot()
    hit = Mark(kind="point", series_uid="1.2.3", slice_index=4, row=100, col=108)
    miss = Mark(kind="point", series_uid="1.2.3", slice_index=4, row=100, col=120)
    wrong_slice = Mark(kind="point", series_uid="1.2.3", slice_index=5, row=100, col=100)
    other_series = Mark(kind="point", series_uid="9.9", slice_index=4, row=100, col=100)
    assert hotspot_answer(hit) == (4, 100.0, 108.0)
    assert grade_mark(q, hit).score == 1.0
    assert grade_mark(q, miss).score == 0.0
    assert grade_mark(q, wrong_slice).score == 0.0
    assert grade_mark(q, other_series).score == 0.0
    assert grade_mark(q, None).score == 0.0
    ellipse = Mark(kind="ellipse", series_uid="1.2.3", slice_index=4, row=1, col=1,
                   radius_row=1, radius_col=1)
    with pytest.raises(ValueError, match="a hotspot answer is a point mark, got kind .ellipse."):
        hotspot_answer(ellipse)


def test_last_point_filters():
    a = Mark(kind="point", series_uid="s", slice_index=0, row=1, col=1, label="a")
    b = Mark(kind="point", series_uid="s", slice_index=0, row=2, col=2, label="b")
    line = Mark(kind="line", series_uid="s", slice_index=0, row=0, col=0, end_row=1, end_col=1)
    assert last_point([a, b, line]) is b
    assert last_point([a, b], label="a") is a
    assert last_point([line]) is None


def test_saved_file_is_plain_json(tmp_path):
    p = save_marks(tmp_path / "m.json", [Mark(kind="point", series_uid="", slice_index=0, row=1, col=2)])
    doc = json.loads(p.read_text(encoding="utf-8"))
    assert doc == {"format": "caselib-marks", "version": 1,
                   "marks": [{"kind": "point", "series_uid": "", "slice_index": 0, "row": 1.0, "col": 2.0}]}
