"""A lesson in real JupyterLab (Debian chromium): it runs from top to bottom and its viewer works.

nbval executes every lesson headless; this test opens one in the browser a
student uses, runs all cells through JupyterLab's own command, and checks
that no cell fails and the viewer renders and scrolls.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
TIMEOUT_MS = 120_000


def test_windowing_lesson_runs_in_jupyterlab_and_its_viewer_scrolls(chromium_browser, jupyter_servers, artifact_dir,
                                                                    tmp_path):
    # a copy: JupyterLab autosaves, and the lessons are stored without outputs
    shutil.copy(NOTEBOOKS / "02_ct_numbers_and_windowing.ipynb", tmp_path)
    lab = jupyter_servers("lab", tmp_path, args=["--LabApp.expose_app_in_browser=True"])
    context = chromium_browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        page.goto(lab.url_for("lab/tree/02_ct_numbers_and_windowing.ipynb"), timeout=TIMEOUT_MS)
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=TIMEOUT_MS)
        page.wait_for_function("() => window.jupyterapp && document.querySelector('.jp-Notebook')",
                               timeout=TIMEOUT_MS)
        # wait for the kernel, then run every cell
        # the kernel itself must be up (the status widgets exist before it is): on a loaded machine
        # a run-all issued while the session is still starting can be lost
        page.wait_for_function(
            "() => { const w = window.jupyterapp.shell.currentWidget;"
            " const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;"
            " return !!(w.sessionContext.isReady && k && k.status === 'idle'); }", timeout=TIMEOUT_MS)
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        viewer = page.locator(".jp-OutputArea .cl-viewer").first
        viewer.locator("canvas").wait_for(timeout=TIMEOUT_MS)
        # every code cell has run (an execution count) and none shows an error
        page.wait_for_function(
            "() => [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]"
            ".every(p => /\\[\\d+\\]/.test(p.textContent))", timeout=TIMEOUT_MS)
        errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                              has_text="Error")
        assert errors.count() == 0, f"a lesson cell failed in JupyterLab: {errors.first.inner_text()[:300]}"
        slider = viewer.locator("[data-role=slider]")
        before = slider.input_value()
        viewer.locator(".cl-viewport").hover()
        for _ in range(4):
            page.mouse.wheel(0, 120)
        page.wait_for_function("(v) => document.querySelector('.jp-OutputArea .cl-viewer [data-role=slider]')"
                               ".value !== v", arg=before, timeout=TIMEOUT_MS)
        page.screenshot(path=str(artifact_dir / "lesson-02-in-lab.png"))
    finally:
        context.close()
