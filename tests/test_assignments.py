"""caselib.assignments: identity, draws, graders and the course's notebooks (no nbgrader run)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import caselib.assignments as A
from caselib.cases.marks import Mark, save_marks
from caselib.imaging import apply_window

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "assignments" / "source"
NAMES = ("ps01_windowing", "ps02_hu_measurement", "ps03_find_the_lesion", "ps04_case_report")


@pytest.fixture(autouse=True)
def clean(monkeypatch):
    A.reset()
    for var in ("NBGRADER_EXECUTION", "CASELIB_STUDENT_ID", "JUPYTERHUB_USER", "CASELIB_SHOW_RUBRIC"):
        monkeypatch.delenv(var, raising=False)
    yield
    A.reset()


def spec(name):
    return A.spec_from_notebook(SOURCE / name / f"{name}.ipynb")


def start_as(monkeypatch, name, student):
    monkeypatch.setenv("CASELIB_STUDENT_ID", student)
    s = spec(name)
    return A.start(name, seed=s["seed"], draw=s["draw"])


# --------------------------------------------------------------------------- identity


def test_student_from_the_autograded_path_wins_over_the_environment(monkeypatch, tmp_path):
    folder = tmp_path / "autograded" / "alice" / "ps01_windowing"
    folder.mkdir(parents=True)
    monkeypatch.chdir(folder)
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    monkeypatch.setenv("CASELIB_STUDENT_ID", "mallory")
    assert A.current_student("ps01_windowing") == "alice"


def test_autograde_outside_the_submission_folder_is_refused(tmp_path):
    with pytest.raises(A.AssignmentError, match="autograded/<student id>/ps01_windowing.*not named"):
        A.current_student("ps01_windowing", environ={"NBGRADER_EXECUTION": "autograde"}, cwd=tmp_path)


def test_student_outside_autograding(monkeypatch):
    env = {"NBGRADER_EXECUTION": "validate", "JUPYTERHUB_USER": "hubuser"}
    assert A.current_student("x", environ=env) == "hubuser"
    env["CASELIB_STUDENT_ID"] = "s42"
    assert A.current_student("x", environ=env) == "s42"


def test_start_fixes_the_draw_for_the_kernel(monkeypatch):
    a = start_as(monkeypatch, "ps01_windowing", "alice")
    monkeypatch.setenv("CASELIB_STUDENT_ID", "bob")
    s = spec("ps01_windowing")
    assert A.start("ps01_windowing", seed=s["seed"], draw=s["draw"]) is a
    assert a.student == "alice"
    with pytest.raises(A.AssignmentError, match="already started .* another set-up"):
        A.start("ps01_windowing", seed="other", draw=s["draw"])


def test_draws_are_deterministic_and_differ_between_students():
    s = spec("ps03_find_the_lesion")
    draws = {sid: tuple(A.preview("ps03_find_the_lesion", sid, seed=s["seed"], draw=s["draw"]).items("findings"))
             for sid in (f"s{i:03d}" for i in range(30))}
    again = A.preview_notebook(SOURCE / "ps03_find_the_lesion" / "ps03_find_the_lesion.ipynb", "s007").items("findings")
    assert tuple(again) == draws["s007"]
    assert len(set(draws.values())) >= 5


@pytest.mark.parametrize("name", NAMES)
def test_every_pool_item_of_the_course_resolves(name):
    s = spec(name)
    assert s["name"] == name
    for pool, d in s["draw"].items():
        assert 1 <= d["k"] <= len(d["pool"])
        assert len(A.find_items(pool, d["pool"])) == len(d["pool"])


def test_ct_rois_and_calipers_lie_inside_the_image():
    series = A.dataset_series("tcia-lung-ct")
    s = spec("ps02_hu_measurement")["draw"]
    for item in s["ct_rois"]["pool"]:
        roi = A.CTRoi.parse(item)
        assert 0 <= roi.slice < len(series) and 0 < roi.row < series.rows and 0 < roi.col < series.columns
    for item in s["ct_calipers"]["pool"]:
        cal = A.CTCaliper.parse(item)
        assert 0 <= cal.slice < len(series)
        assert all(0 <= v < series.rows for v in (cal.r0, cal.r1, cal.c0, cal.c1))


def test_bad_pool_items_are_named():
    with pytest.raises(A.AssignmentError, match="missing col, radius_mm"):
        A.CTRoi.parse("tcia-lung-ct:slice=1,row=2")
    with pytest.raises(A.AssignmentError, match="unknown pool 'nope'"):
        A.preview("x", "s", seed="k", draw={"nope": {"pool": ["a"], "k": 1}})
    with pytest.raises(A.AssignmentError, match="no case 'missing-case'"):
        A.case_folder("missing-case")


# --------------------------------------------------------------------------- graders


def reference_window(hu, center, width):
    return apply_window(np.asarray(hu, float), center=center, width=width, dtype=np.float64)


def test_window_function_grading(monkeypatch):
    start_as(monkeypatch, "ps01_windowing", "alice")
    assert A.grade_window_function({"window": reference_window}).points == 2.0

    def exact(hu, c, w):   # LINEAR_EXACT instead of LINEAR: wrong near the thresholds
        return np.clip((np.asarray(hu, float) - c) / w + 0.5, 0, 1)

    partial = A.grade_window_function({"window": exact})
    assert 0 <= partial.points < 2.0
    assert A.grade_window_function({"window": lambda *a: 1 / 0}).points == 0.0
    empty = A.grade_window_function({})
    assert empty.points == 0.0 and "not defined" in empty.items[0].feedback_en


def test_window_tasks_and_a_tampered_answer(monkeypatch):
    a = start_as(monkeypatch, "ps01_windowing", "alice")
    tasks = [A.WindowTask.parse(i) for i in a.items("window_tasks")]
    right = []
    for t in tasks:
        lo, hi = sorted((t.hu(t.a), t.hu(t.b)))
        right.append(((lo + hi) / 2, 1.5 * (hi - lo)))
    assert A.grade_windows({"my_windows": right}).points == 3.0
    assert A.grade_windows({"my_windows": right[:2] + [(0, 1)]}).points == pytest.approx(2.0)
    assert A.grade_windows({"my_windows": [(0, 1)] * 3}).points == 0.0
    # answers to another student's draw are graded against alice's own tasks
    s = spec("ps01_windowing")
    other = next(A.preview("ps01_windowing", f"o{i}", seed=s["seed"], draw=s["draw"])
                 for i in range(200)
                 if not set(A.preview("ps01_windowing", f"o{i}", seed=s["seed"], draw=s["draw"])
                            .items("window_tasks")) & set(a.items("window_tasks")))
    theirs = []
    for item in other.items("window_tasks"):
        t = A.WindowTask.parse(item)
        lo, hi = sorted((t.hu(t.a), t.hu(t.b)))
        theirs.append(((lo + hi) / 2, 1.5 * (hi - lo)))
    expected = sum(A.window_task_ok(t.hu(t.a), t.hu(t.b), *w) for t, w in zip(tasks, theirs))
    assert A.grade_windows({"my_windows": theirs}).points == pytest.approx(expected)
    assert expected < 3


def test_window_criterion_by_hand():
    # LINEAR C 20 W 101: HU 0 -> (0 - 19.5) / 100 + 0.5 = 0.305, HU 40 -> 0.705
    assert A.window_task_ok(0, 40, 20, 101)
    assert not A.window_task_ok(0, 10, 20, 101)        # 0.305 vs 0.405: too alike
    assert not A.window_task_ok(-100, 40, 40, 80)      # -100 is black


def test_ct_measurements(monkeypatch):
    from caselib.imaging import circle_mask_mm, distance_mm, roi_stats

    a = start_as(monkeypatch, "ps02_hu_measurement", "alice")
    ct = A.dataset_series("tcia-lung-ct")
    vol = ct.volume()
    means = []
    for item in a.items("ct_rois"):
        r = A.CTRoi.parse(item)
        img = vol[r.slice]
        means.append(roi_stats(img, circle_mask_mm(img.shape, (r.row, r.col), r.radius_mm, ct.pixel_spacing)).mean)
    assert A.grade_ct_hu({"ct_mean_hu": means}).points == 2.0
    assert A.grade_ct_hu({"ct_mean_hu": [means[0] + 2.9, means[1] - 3.2]}).points == 1.0
    classes = [A.tissue_class(m) for m in means]
    assert A.grade_ct_tissue({"ct_tissue": classes}).points == 1.0
    tissue = A.grade_ct_tissue({"ct_tissue": [(c + 1) % 4 for c in classes]})
    assert tissue.points == 0.0 and tissue.items[0].options == 4
    cal = A.CTCaliper.parse(a.items("ct_calipers")[0])
    d = distance_mm((cal.r0, cal.c0), (cal.r1, cal.c1), ct.pixel_spacing)
    assert A.grade_ct_distance({"ct_distance_mm": [d + 0.4]}).points == 1.0
    assert A.grade_ct_distance({"ct_distance_mm": [d + 0.6]}).points == 0.0
    assert A.grade_ct_distance({"ct_distance_mm": ["12 mm"]}).points == 0.0


def test_phantom_answers_come_from_the_case(monkeypatch):
    a = start_as(monkeypatch, "ps02_hu_measurement", "alice")
    keys = []
    for item in a.items("phantom_questions"):
        case_id, qid = item.split("/")
        keys.append(next(q for q in A.load_case_by_id(case_id).questions if q.id == qid).answer)
    assert A.grade_phantom_answers({"phantom_answers": keys}).points == 2.0
    assert A.grade_phantom_answers({"phantom_answers": [keys[0], keys[1] + 100]}).points == 1.0


def _center(item, **shift):
    case_id, index = item.split("#")
    f = A.load_case_by_id(case_id).findings[int(index)]
    return Mark(kind="point", series_uid=A.case_series(case_id).series_instance_uid,
                slice_index=f.slice_index + shift.get("slice", 0), row=f.roi.row + shift.get("row", 0.0),
                col=f.roi.col + shift.get("col", 0.0))


def test_marks_are_graded_in_patient_coordinates(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    a = start_as(monkeypatch, "ps03_find_the_lesion", "alice")
    items = a.items("findings")
    save_marks(tmp_path / "marks.json", [_center(i) for i in items])
    assert A.grade_marks().points == 4.0
    # a point given only in patient mm (no usable pixel position) is placed through the affine
    series = A.case_series(items[0].split("#")[0])
    m = _center(items[0])
    mm = tuple(float(v) for v in (np.asarray(series.affine) @ [m.col, m.row, m.slice_index, 1])[:3])
    moved = Mark(kind="point", series_uid=m.series_uid, slice_index=0, row=0.0, col=0.0, patient_mm=mm)
    save_marks(tmp_path / "marks.json", [moved])
    assert A.grade_marks().items[0].score > 0
    # one slice off the centre still lies on the lesion; far away in plane does not
    save_marks(tmp_path / "marks.json", [_center(items[0], slice=1), _center(items[1], col=60.0)])
    score = A.grade_marks()
    assert [i.score > 0 for i in score.items] == [True, False]
    # right position, wrong series
    wrong = [Mark(kind="point", series_uid="1.2.3", slice_index=x.slice_index, row=x.row, col=x.col)
             for x in (_center(i) for i in items)]
    save_marks(tmp_path / "marks.json", wrong)
    assert A.grade_marks().points == 0.0
    # carpet-bombing: only the first findings + 2 point marks count
    save_marks(tmp_path / "marks.json", [Mark(kind="point", series_uid="", slice_index=0, row=1.0, col=1.0)] * 4
               + [_center(i) for i in items])
    bombed = A.grade_marks()
    assert bombed.points == 0.0 and "only the first 4" in bombed.note


def test_missing_or_broken_marks_file(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    start_as(monkeypatch, "ps03_find_the_lesion", "alice")
    assert A.grade_marks().points == 0.0 and "no marks.json" in A.grade_marks().note
    (tmp_path / "marks.json").write_text("{not json")
    assert "could not be read" in A.grade_marks().note


def test_choices_and_rubric(monkeypatch):
    a = start_as(monkeypatch, "ps04_case_report", "alice")
    case = A.load_case_by_id(a.items("cases")[0])
    right = {q.id: q.answer for q in case.questions if q.kind in ("single_choice", "true_false")}
    assert A.grade_choices({"choices": right}).points == 2.0
    assert A.grade_choices({"choices": {}}).points == 0.0
    assert A.grade_choices({"choices": "B"}).points == 0.0
    public = json.dumps(a.choice_questions())
    assert '"answer"' not in public
    hidden = A.show_rubric()
    assert "shown to graders after submission" in hidden._repr_html_()
    assert case.technique.en not in hidden._repr_html_()
    monkeypatch.setenv("CASELIB_SHOW_RUBRIC", "1")
    shown = A.show_rubric()._repr_html_()
    assert "Rubric" in shown and "Impression" in shown
    view = a.unknown_case()._repr_html_()
    assert case.title.en not in view and case.id not in view
    if case.diagnosis is not None:
        assert case.diagnosis.en not in view


def test_score_display_is_nbgrader_partial_credit(monkeypatch):
    start_as(monkeypatch, "ps01_windowing", "alice")
    score = A.grade_windows({"my_windows": [(0, 1)] * 3})
    bundle = score._repr_mimebundle_()
    assert float(bundle["text/plain"]) == score.points == 0.0
    record = bundle[A.RESPONSE_MIMETYPE]
    assert record["student"] == "alice" and len(record["items"]) == 3
    assert all(i["response"] == [0.0, 1.0] for i in record["items"])
    json.dumps(record)


def test_graders_never_write_to_stderr(monkeypatch, capfd):
    start_as(monkeypatch, "ps01_windowing", "alice")

    def noisy(hu, c, w):
        import warnings
        warnings.warn("student warning")
        return np.asarray(hu) / 0.0

    A.grade_window_function({"window": noisy})
    assert capfd.readouterr().err == ""


def test_marks_recorder_saves_all_viewers(tmp_path):
    class FakeViewer:
        def __init__(self, marks):
            self.marks, self.callbacks = marks, []

        def observe_marks(self, cb):
            self.callbacks.append(cb)

    rec = A.MarksRecorder(tmp_path / "m.json", student="s1", assignment="ps03")
    v1 = rec.attach(FakeViewer([Mark(kind="point", series_uid="", slice_index=1, row=1.0, col=1.0)]))
    v2 = rec.attach(FakeViewer([]))
    v2.marks.append(Mark(kind="point", series_uid="", slice_index=2, row=2.0, col=2.0))
    v2.callbacks[0](v2.marks)
    from caselib.cases.marks import load_marks_file

    saved = load_marks_file(tmp_path / "m.json")
    assert [m.slice_index for m in saved.marks] == [1, 2] and saved.student == "s1"
    assert v1.callbacks


# --------------------------------------------------------------------------- the course folder


def test_course_folder_layout():
    course = REPO / "assignments"
    assert (course / "nbgrader_config.py").is_file() and (course / "source" / "header.ipynb").is_file()
    ignored = (course / ".gitignore").read_text().split()
    for generated in ("release/", "submitted/", "autograded/", "feedback/", "gradebook.db"):
        assert generated in ignored
    compile((course / "nbgrader_config.py").read_text(), "nbgrader_config.py", "exec")
    for name in NAMES:
        files = sorted(p.name for p in (SOURCE / name).iterdir())
        assert files == [f"{name}.ipynb"], f"only the notebook belongs in source/{name}: {files}"


@pytest.mark.parametrize("name", NAMES)
def test_source_notebooks_are_nbgrader_notebooks(name):
    nb = json.loads((SOURCE / name / f"{name}.ipynb").read_text())
    cells = nb["cells"]
    meta = [c["metadata"].get("nbgrader", {}) for c in cells]
    ids = [m["grade_id"] for m in meta if "grade_id" in m]
    assert len(ids) == len(set(ids)) == len(cells)
    assert any(m.get("grade") and not m.get("solution") for m in meta), "autograder tests"
    setup = next(c for c, m in zip(cells, meta) if m.get("grade_id", "").endswith("-setup"))
    assert setup["metadata"]["nbgrader"]["locked"], "the set-up cell must be locked (restored at autograde)"
    for c, m in zip(cells, meta):
        text = "".join(c["source"])
        if m.get("grade") and not m.get("solution"):
            assert "### BEGIN HIDDEN TESTS" in text and ("globals()" in text or "grade_marks" in text)
            # the grader scales to the cell's points (nbgrader refuses partial credit above them)
            assert f"points={m['points']:g})" in text.replace(".0)", ")")
        if c["cell_type"] == "code":
            assert not c.get("outputs"), "notebooks are stored without outputs"


def test_assignments_and_usage_import_no_dataframe_or_widget_library():
    import subprocess
    import sys

    code = ("import sys, caselib.assignments, caselib.usage; "
            "print([m for m in ('ipywidgets', 'anywidget', 'pandas', 'matplotlib') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stderr


def test_marks_on_the_real_chest_ct(monkeypatch, tmp_path):
    """Findings of a real case (reference tissues measured from its pixels) as hotspots."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CASELIB_STUDENT_ID", "alice")
    a = A.start("ps03-real", seed="k", draw={"findings": {
        "pool": ["tcia-lung-ct-a0002#0", "tcia-lung-ct-a0002#2"], "k": 2}})
    assert a.case_series("tcia-lung-ct-a0002").series_instance_uid == A.dataset_series("tcia-lung-ct").series_instance_uid
    assert "CC-BY-4.0" in a.citation("tcia-lung-ct-a0002")
    save_marks(tmp_path / "marks.json", [_center("tcia-lung-ct-a0002#0"), _center("tcia-lung-ct-a0002#2")])
    assert A.grade_marks().points == 4.0
    # the anterior fat (finding 1) is not the trachea or the vertebral body
    save_marks(tmp_path / "marks.json", [_center("tcia-lung-ct-a0002#1")])
    assert A.grade_marks().points == 0.0
    # 3 mm circle + 2 mm tolerance: 7 pixels (4.5 mm) off still hits, 10 pixels (6.5 mm) misses
    save_marks(tmp_path / "marks.json", [_center("tcia-lung-ct-a0002#0", col=7.0),
                                         _center("tcia-lung-ct-a0002#2", col=10.0)])
    hits = {i.item: i.score > 0 for i in A.grade_marks().items}
    assert hits == {"tcia-lung-ct-a0002#0": True, "tcia-lung-ct-a0002#2": False}
