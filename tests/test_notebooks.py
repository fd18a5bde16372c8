"""The lessons (notebooks/) and the Voila apps (voila_apps/): how they are written, and that they run.

``pytest --nbval-lax`` executes every lesson (``notebooks/`` is in the pytest
testpaths).  The app notebooks are executed here with nbclient, so they run
in CI even though ``voila_apps/`` is not a testpath.
"""
from __future__ import annotations

import ast
import os
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
APPS = sorted((ROOT / "voila_apps").glob("*.ipynb"))
EXPECTED_LESSONS = ["00_setup", "01_dicom_basics", "02_ct_numbers_and_windowing", "03_projection_radiography",
                    "04_mr_basics", "05_ultrasound", "06_case_library_tour", "07_pbl_case"]
EXPECTED_APPS = ["case_browser_app", "pbl_session_app", "quiz_app", "windowing_demo_app"]
MAX_HELPER_LINES = 5


def _code(nb) -> list[str]:
    return [c.source for c in nb.cells if c.cell_type == "code"]


def test_every_lesson_and_app_is_there():
    assert [p.stem for p in LESSONS] == EXPECTED_LESSONS
    assert [p.stem for p in APPS] == EXPECTED_APPS


@pytest.mark.parametrize("path", LESSONS + APPS, ids=lambda p: p.name)
def test_stored_without_outputs_and_without_sys_path_edits(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{path.name} cell {i} has outputs"
            assert "sys.path" not in cell.source, f"{path.name} cell {i} edits sys.path"
            assert "os.chdir" not in cell.source, f"{path.name} cell {i} changes directory"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_lessons_open_the_same_way(path):
    """Title + learning goals, then one cell that imports caselib and loads data by manifest key."""
    nb = nbformat.read(path, as_version=4)
    first, second = nb.cells[0], nb.cells[1]
    assert first.cell_type == "markdown" and first.source.startswith(f"# {path.stem[:2]} · ")
    assert "Learning goals" in first.source and "学习目标" in first.source
    assert second.cell_type == "code" and "from caselib" in second.source
    assert any(f in second.source for f in ("fetch(", "fetch_dataset(", "open_library(")), \
        f"{path.name}: the second cell should load data by manifest key"
    later_imports = [i for i, src in enumerate(_code(nb)[1:], 2) if "import caselib" in src]
    assert not later_imports, f"{path.name}: caselib imported again in code cells {later_imports}"


@pytest.mark.parametrize("path", LESSONS + APPS, ids=lambda p: p.name)
def test_no_helper_longer_than_a_few_lines(path):
    """Functions and classes belong in caselib; a notebook may hold only very short ones."""
    nb = nbformat.read(path, as_version=4)
    for i, src in enumerate(_code(nb)):
        tree = ast.parse("\n".join(line for line in src.splitlines()
                                   if not line.lstrip().startswith(("%", "!"))))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                n = node.end_lineno - node.lineno + 1
                assert n <= MAX_HELPER_LINES, f"{path.name}: {node.name} is {n} lines; move it into caselib"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_lessons_have_a_self_checking_exercise(path):
    sources = "\n".join(_code(nbformat.read(path, as_version=4)))
    assert "grade(" in sources or "assert " in sources or "session.answer(" in sources


@pytest.mark.parametrize("path", APPS, ids=lambda p: p.name)
def test_app_is_a_title_and_one_or_two_cells(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    code = _code(nb)
    assert 1 <= len(code) <= 2 and len(nb.cells) <= 3
    assert all(len(src.splitlines()) <= 4 for src in code), "the app's logic belongs in caselib.ui.apps"
    assert "from caselib.ui.apps import" in code[0]


@pytest.mark.slow
@pytest.mark.parametrize("path", APPS, ids=lambda p: p.name)
def test_app_notebook_executes(path):
    """Each app notebook runs in a fresh kernel and shows one widget (what Voila renders)."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=180, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute(env={**os.environ, "CASELIB_USAGE_LOG": "off"})
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    views = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(views) == 1, f"{path.name}: expected one widget view, got {[o.output_type for o in outputs]}"
