"""The nbgrader course end to end, on a copy of assignments/ in a temporary folder.

validate (command line) -> generate + release (API) -> released stubs fail (command line,
--invert) -> nothing secret in release/ -> simulated submissions (right, partly right,
wrong, empty, tampered draw) -> autograde (API) -> manual grade -> export grades CSV
(command line and caselib.analytics) -> feedback (API) without hidden tests.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from caselib.assignments import (
    MARKS_FILE,
    RESPONSE_MIMETYPE,
    WindowTask,
    load_case_by_id,
    case_series,
    preview,
    spec_from_notebook,
    window_task_ok,
)
from caselib.cases.marks import Mark, save_marks

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
COURSE_SRC = REPO / "assignments"
NAMES = ("ps01_windowing", "ps02_hu_measurement", "ps03_find_the_lesion", "ps04_case_report")
NBGRADER = [sys.executable, "-m", "nbgrader"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("CASELIB_STUDENT_ID", None)
    env.setdefault("CASELIB_DATA_MIRRORS", str(REPO.parent / "shared" / "data"))
    env["PYTHONWARNINGS"] = "ignore"
    return env


def _nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NBGRADER, *args], cwd=course, env=_env(), capture_output=True, text=True,
                          timeout=600)


def _spec(name: str) -> dict:
    return spec_from_notebook(COURSE_SRC / "source" / name / f"{name}.ipynb")


def _draw(name: str, student: str):
    spec = _spec(name)
    return preview(name, student, seed=spec["seed"], draw=spec["draw"])


def _pick(name: str, pool: str, condition, exclude=()) -> str:
    """The first student id s000, s001... whose draw of ``pool`` satisfies ``condition``."""
    for i in range(500):
        sid = f"s{i:03d}"
        if sid not in exclude and condition(_draw(name, sid).items(pool)):
            return sid
    raise AssertionError(f"no student id with the wanted draw of {name}.{pool}")


def _set_cells(nb, sources: dict[str, str]) -> None:
    found = set()
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in sources:
            cell.source = sources[gid]
            found.add(gid)
    assert found == set(sources), f"cells not found: {set(sources) - found}"


def _submit(course: Path, name: str, student: str, sources: dict[str, str] | None,
            marks: list[Mark] | None = None) -> None:
    """Copy the released notebook into submitted/<student>/<name>/, with edited cells."""
    nb = nbformat.read(course / "release" / name / f"{name}.ipynb", as_version=4)
    if sources:
        _set_cells(nb, sources)
    dest = course / "submitted" / student / name
    dest.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest / f"{name}.ipynb")
    (dest / "timestamp.txt").write_text("2026-12-04 12:00:00.000000 UTC\n")
    if marks is not None:
        save_marks(dest / MARKS_FILE, marks, case_id=name, student=student)


def _solution(name: str, gid: str) -> str:
    """The source cell with its solution markers removed (what a right answer looks like)."""
    nb = nbformat.read(COURSE_SRC / "source" / name / f"{name}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == gid:
            return "\n".join(line for line in cell.source.splitlines()
                             if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line)
    raise AssertionError(gid)


def _center_mark(item: str, **shift: float) -> Mark:
    case_id, index = item.split("#")
    finding = load_case_by_id(case_id).findings[int(index)]
    return Mark(kind="point", series_uid=case_series(case_id).series_instance_uid,
                slice_index=finding.slice_index, row=finding.roi.row + shift.get("row", 0.0),
                col=finding.roi.col + shift.get("col", 0.0))


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    shutil.copy(COURSE_SRC / "nbgrader_config.py", root)
    shutil.copytree(COURSE_SRC / "source", root / "source")
    return root


def _api(course: Path):
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    config.CourseDirectory.root = str(course)
    config.Exchange.root = str(course / "exchange")
    config.Exchange.assignment_dir = str(course)
    return NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)


def _released_text(course: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8", errors="replace")
                     for p in sorted((course / "release").rglob("*")) if p.is_file())


@pytest.mark.filterwarnings("ignore:Object of type")   # nbgrader's own autograde (SQLAlchemy)
def test_course_end_to_end(course, monkeypatch):
    monkeypatch.chdir(course)
    monkeypatch.delenv("CASELIB_STUDENT_ID", raising=False)
    sources = [f"source/{n}/{n}.ipynb" for n in NAMES]

    # 1. every source notebook passes its own tests (command line)
    out = _nbgrader(course, "validate", *sources)
    assert out.stdout.count("Success! Your notebook passes all the tests.") == 4, out.stdout + out.stderr
    assert not list((course / "source").rglob(MARKS_FILE)), "validating ps03 must not leave marks in source/"

    # 2. generate (API) and release to an exchange (API)
    api = _api(course)
    for name in NAMES:
        result = api.generate_assignment(name)
        assert result["success"], result.get("error")
    (course / "exchange").mkdir()
    result = api.release_assignment(NAMES[0])
    assert result["success"], result.get("error")
    assert (course / "exchange" / "caselib-radiology" / "outbound" / NAMES[0] / f"{NAMES[0]}.ipynb").is_file()

    # 3. released stubs fail their tests (command line)
    released = [f"release/{n}/{n}.ipynb" for n in NAMES]
    out = _nbgrader(course, "validate", "--invert", *released)
    assert out.stdout.count("Success! The notebook does not pass any tests.") == 4, out.stdout + out.stderr

    # 4. nothing secret in release/: no solution or hidden test, no marks, no keys or ROIs
    files = sorted(p.relative_to(course / "release").as_posix()
                   for p in (course / "release").rglob("*") if p.is_file())
    assert files == [f"{n}/{n}.ipynb" for n in NAMES]
    text = _released_text(course)
    for secret in ("BEGIN SOLUTION", "HIDDEN TESTS", "grade_windows", "grade_ct_hu", "grade_marks",
                   "grade_choices", "grade_window_function", "load_case_by_id", "question.answer",
                   "radius_mm\\\": ", "\"roi\""):
        assert secret not in text, f"{secret!r} found in release/"
    for name in NAMES:
        for pool, spec in _spec(name)["draw"].items():
            for item in spec["pool"]:
                case_id = item.split(":")[0].split("/")[0].split("#")[0]
                if case_id.startswith("tcia-"):
                    continue
                case = load_case_by_id(case_id)
                for q in case.questions:
                    answer = json.dumps(q.to_dict()).replace(json.dumps(q.to_dict(include_answer=False))[:-1], "")
                    assert q.explanation is None or q.explanation.en not in text
                    assert answer not in text
                for f in case.findings:
                    assert f.description.en not in text and json.dumps(f.roi.to_dict()) not in text
                if case.diagnosis is not None:
                    assert case.diagnosis.en not in text and case.diagnosis.zh not in text
    for name in NAMES:
        nb = nbformat.read(course / "release" / name / f"{name}.ipynb", as_version=4)
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")

    # 5. submissions ------------------------------------------------------------------
    expected: dict[tuple[str, str], float] = {}

    # ps01: right, partly right, wrong, empty, tampered draw
    n = "ps01_windowing"
    right_fn, right_windows = _solution(n, "ps01-window-answer"), _solution(n, "ps01-windows-answer")
    easy = "synthetic-phantom-hu-drill:calcification|body"
    tamperer = _pick(n, "window_tasks", lambda items: easy not in items)
    partial = _pick(n, "window_tasks", lambda items: True, exclude=(tamperer,))
    partial_tasks = [WindowTask.parse(i) for i in _draw(n, partial).items("window_tasks")]
    assert not window_task_ok(partial_tasks[2].hu(partial_tasks[2].a), partial_tasks[2].hu(partial_tasks[2].b), 0, 1)
    wins = []
    for t in partial_tasks[:2]:
        lo, hi = sorted((t.hu(t.a), t.hu(t.b)))
        wins.append(((lo + hi) / 2, 1.5 * (hi - lo)))
    students = {
        "right": ("alice", {"ps01-window-answer": right_fn, "ps01-windows-answer": right_windows}, 5.0),
        # `<` instead of `<=` at the lower threshold: wrong only for the window of width 1
        "partly": (partial, {
            "ps01-window-answer": right_fn.replace("x <= lower", "x < lower"),
            "ps01-windows-answer": f"my_windows = {wins + [(0, 1)]!r}"}, 2 * 4 / 5 + 3 * 2 / 3),
        "wrong": ("carol", {"ps01-window-answer": "def window(hu, center, width):\n    return hu / width",
                            "ps01-windows-answer": "my_windows = [(0, 1), (0, 1), (0, 1)]"}, 0.0),
        "empty": ("dave", None, 0.0),
        # edits the locked set-up cell to draw only the easy task and answers it three times
        "tampered": (tamperer, {
            "ps01-setup": _solution(n, "ps01-setup").replace('"k": 3', '"k": 1').replace(
                'seed="caselib-course-2026-ps01"', 'seed="mine"'),
            "ps01-window-answer": right_fn,
            "ps01-windows-answer": "import os\nos.environ['CASELIB_STUDENT_ID'] = 'someone-else'\n"
                                   "my_windows = [(370, 1000)] * 3"}, 2.0),
    }
    assert window_task_ok(700, 40, 370, 1000)
    for _, (sid, cells, score) in students.items():
        _submit(course, n, sid, cells)
        expected[(n, sid)] = score

    # ps02: right, partly right (an empty notebook is covered by ps01, ps03 and ps04)
    n = "ps02_hu_measurement"
    ps02 = {gid: _solution(n, gid) for gid in ("ps02-ct-answer", "ps02-distance-answer", "ps02-phantom-answer")}
    _submit(course, n, "alice", ps02)
    expected[(n, "alice")] = 6.0
    partly = dict(ps02)
    partly["ps02-distance-answer"] = "ct_distance_mm = [1.0]"
    partly["ps02-phantom-answer"] = ps02["ps02-phantom-answer"] + "\nphantom_answers[1] += 50"
    _submit(course, n, "bob", partly)
    expected[(n, "bob")] = 2 + 1 + 0 + 1

    # ps03: marks files written with save_marks, as the viewer writes them
    n = "ps03_find_the_lesion"
    tam3 = _pick(n, "findings", lambda items: True)
    other = _pick(n, "findings", lambda items: not set(items) & set(_draw(n, tam3).items("findings")))
    for sid, marks, score in (
        ("alice", [_center_mark(i) for i in _draw(n, "alice").items("findings")], 4.0),
        ("bob", [_center_mark(_draw(n, "bob").items("findings")[0], col=1.0)], 2.0),
        ("carol", [Mark(kind="point", series_uid="", slice_index=0, row=2.0, col=2.0)], 0.0),
        ("dave", None, 0.0),
        (tam3, [_center_mark(i) for i in _draw(n, other).items("findings")], 0.0),
    ):
        _submit(course, n, sid, None, marks)
        expected[(n, sid)] = score

    # ps04: choices autograded, findings and impression graded by hand
    n = "ps04_case_report"
    alice_case = load_case_by_id(_draw(n, "alice").items("cases")[0])
    alice_choices = {q.id: q.answer for q in alice_case.questions if q.kind in ("single_choice", "true_false")}
    ids = {q.id for q in alice_case.questions}
    tam4 = _pick(n, "cases", lambda items: not ids & {q.id for q in load_case_by_id(items[0]).questions})
    _submit(course, n, "alice", {"ps04-choices-answer": f"choices = {alice_choices!r}",
                                 "ps04-findings": "Four views; a mass in one breast.",
                                 "ps04-impression": "A mass."})
    expected[(n, "alice")] = 2.0
    wrong = {qid: (False if isinstance(a, bool) else (a + 1) % 2) for qid, a in alice_choices.items()}
    _submit(course, n, "bob", {"ps04-choices-answer": f"choices = {wrong!r}"})
    _submit(course, n, "dave", None)
    _submit(course, n, tam4, {"ps04-choices-answer": f"choices = {alice_choices!r}"})
    for sid in ("bob", "dave", tam4):
        expected[(n, sid)] = 0.0

    # 6. autograde every submission (API; one call per assignment)
    for name in NAMES:
        result = api.autograde(name, "*")
        assert result["success"], result.get("error", "") + result.get("log", "")

    # the locked set-up cell was restored before grading
    graded = nbformat.read(course / "autograded" / tamperer / "ps01_windowing" / "ps01_windowing.ipynb", 4)
    setup = next(c for c in graded.cells if c.metadata.nbgrader.get("grade_id") == "ps01-setup")
    assert 'seed="caselib-course-2026-ps01"' in setup.source and '"k": 3' in setup.source

    # 7. the instructor grades ps04's written answers by hand (as in formgrader)
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for cell, points in (("ps04-findings", 3.5), ("ps04-impression", 2.0)):
            grade = gb.find_grade(cell, "ps04_case_report", "ps04_case_report", "alice")
            assert grade.needs_manual_grade
            grade.manual_score = points
        gb.db.commit()
        scores = {(a, s): gb.find_submission(a, s).score for (a, s) in expected}
    expected[("ps04_case_report", "alice")] += 5.5
    assert scores == pytest.approx(expected), {k: (scores[k], expected[k]) for k in expected
                                               if abs(scores[k] - expected[k]) > 1e-6}

    # the rubric of alice's own case was printed for the grader (formgrader shows this notebook)
    graded4 = (course / "autograded" / "alice" / "ps04_case_report" / "ps04_case_report.ipynb").read_text()
    assert "Rubric" in graded4 and alice_case.technique.en[:30] in graded4

    # per-item records for item analysis were kept in the autograded notebooks
    assert RESPONSE_MIMETYPE in graded4

    # 8. grades CSV: nbgrader's exporter (command line) and caselib.analytics
    out = _nbgrader(course, "export", "--to", "grades.csv")
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader((course / "grades.csv").open()))
    nb_scores = {(r["assignment"], r["student_id"]): float(r["score"]) for r in rows}
    for key, value in expected.items():
        assert nb_scores[key] == pytest.approx(value)

    from caselib.analytics import export_grades_csv, read_gradebook, read_responses

    table = export_grades_csv(course / "gradebook.db", course / "caselib-grades.csv")
    ours = {(r["student"], a): float(r[a]) for r in csv.DictReader((course / "caselib-grades.csv").open(encoding="utf-8-sig"))
            for a in NAMES if r.get(a) not in (None, "")}
    for (a, s), value in expected.items():
        assert ours[(s, a)] == pytest.approx(value)
    assert len(table) == len({s for _, s in expected})
    cells = read_gradebook(course / "gradebook.db")
    assert set(cells["assignment"]) == set(NAMES)
    responses = read_responses(course / "autograded")
    row = responses[(responses.student == "alice") & (responses.assignment == "ps01_windowing")
                    & (responses.kind == "window")]
    assert len(row) == 3 and (row.score == row.max_score).all()

    # 9. feedback (API) never shows hidden tests
    for name in NAMES:
        result = api.generate_feedback(name)
        assert result["success"], result.get("error")
    pages = sorted((course / "feedback").rglob("*.html"))
    assert len(pages) == len(expected)
    for page in pages:
        html = page.read_text(encoding="utf-8")
        for hidden in ("HIDDEN TESTS", "grade_windows(", "grade_window_function(", "grade_ct_hu(",
                       "grade_marks(", "grade_choices(", "grade_phantom_answers(", "grade_ct_distance("):
            assert hidden not in html, f"{hidden!r} in {page}"
