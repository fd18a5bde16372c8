"""The viewer in a real browser: JupyterLab 4 and Voila, a real chest CT.

Checks (both front ends): the canvas holds exactly what
caselib.imaging.window_to_uint8 gives for the raw slice, before and after a
window/level drag; the wheel changes the slice; the probe shows the HU of the
pixel under the pointer; a marked point reaches the kernel (an observer in the
notebook writes it to a file); hidden annotations are in neither the page nor
the websocket frames until revealed.  Screenshots go to the artifact folder.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest

from caselib.data import fetch_dataset
from caselib.dicom import read
from caselib.imaging import Window, window_to_uint8

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SECRET = "SECRET-ANNOTATION-7f3a"

NOTEBOOK_CODE = """\
import json, pathlib
from caselib.data import fetch_dataset
from caselib.dicom import read
from caselib.ui import Viewer
ct = read(fetch_dataset("tcia-lung-ct")).only_series()
# the teacher's annotations come from a file, so their text is not in this notebook's source
annotations = json.loads(pathlib.Path({annotations!r}).read_text())
viewer = Viewer(ct, lang="en", slice_index=15, annotations=annotations,
                citation="TCIA Lung-PET-CT-Dx (CC BY 4.0)")
marks_file = pathlib.Path({marks!r})
state_file = pathlib.Path({state!r})
viewer.observe_marks(lambda marks: marks_file.write_text(json.dumps([m.to_dict() for m in marks])))
def _state(change=None):
    state_file.write_text(json.dumps({{"slice": viewer.slice_index, "center": viewer.window_center,
                                       "width": viewer.window_width}}))
viewer.observe(_state, names=["slice_index", "window_center", "window_width"])
viewer
"""


@pytest.fixture(scope="module")
def ct():
    return read(fetch_dataset("tcia-lung-ct")).only_series()


def _write_notebook(folder: Path) -> tuple[Path, Path]:
    marks, state = folder / "marks.json", folder / "state.json"
    annotations = folder / "private-annotations.json"
    annotations.write_text(json.dumps([{"kind": "arrow", "row": 150, "col": 150, "end_row": 200,
                                        "end_col": 200, "text": SECRET}]))
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(NOTEBOOK_CODE.format(
        annotations=str(annotations), marks=str(marks), state=str(state)))]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, folder / "viewer.ipynb")
    return marks, state


def _canvas_pixels(page) -> tuple[np.ndarray, dict]:
    data = page.evaluate("""() => {
        const c = document.querySelector('canvas[data-role=image]');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        const grey = new Array(c.width * c.height);
        for (let i = 0; i < grey.length; i++) grey[i] = d[4 * i];
        return {grey, w: c.width, h: c.height, ds: {...c.dataset}};
    }""")
    return np.array(data["grey"], dtype=np.uint8).reshape(data["h"], data["w"]), data["ds"]


def _wait_file(path: Path, predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            try:
                value = json.loads(path.read_text())
            except ValueError:
                value = None
            if value is not None and predicate(value):
                return value
        time.sleep(0.1)
    raise AssertionError(f"{path} did not reach the expected state within {timeout} s; "
                         f"last content: {path.read_text() if path.exists() else '(missing)'}")


def _pixel_center(page, row: float, col: float) -> tuple[float, float]:
    box = page.evaluate("""() => { const r = document.querySelector('canvas[data-role=image]')
        .getBoundingClientRect(); return {x: r.left, y: r.top, w: r.width, h: r.height}; }""")
    return (box["x"] + (col + 0.5) * box["w"] / 512, box["y"] + (row + 0.5) * box["h"] / 512)


def _open(kind, tmp_path, jupyter_servers, chromium_browser):
    marks, state = _write_notebook(tmp_path)
    frames: list[str] = []
    if kind == "voila":
        server = jupyter_servers("voila", tmp_path)
        url = server.url_for("voila/render/viewer.ipynb")
    else:
        server = jupyter_servers("lab", tmp_path, args=("--LabApp.expose_app_in_browser=True",))
        url = server.url_for("lab/tree/viewer.ipynb")
    page = chromium_browser.new_page(viewport={"width": 1200, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    def on_ws(ws):
        ws.on("framereceived", lambda payload: frames.append(
            payload if isinstance(payload, str) else payload.decode("latin-1")))
        ws.on("framesent", lambda payload: frames.append(
            payload if isinstance(payload, str) else payload.decode("latin-1")))
    page.on("websocket", on_ws)
    page.goto(url, timeout=90_000)
    if kind == "lab":
        page.wait_for_function("() => window.jupyterapp && document.querySelector('.jp-Notebook')",
                               timeout=90_000)
        page.wait_for_function("""() => { const k = document.querySelector('.jp-Notebook-ExecutionIndicator');
            return !k || k.getAttribute('data-status') === 'idle'; }""", timeout=90_000)
        page.wait_for_timeout(1000)
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_selector("canvas[data-role=image][data-slice='15']", timeout=90_000)
    return page, frames, errors, marks, state


@pytest.mark.parametrize("kind", ["voila", "lab"])
def test_viewer_in_browser(kind, ct, tmp_path, jupyter_servers, chromium_browser, artifact_dir):
    page, frames, errors, marks_file, state_file = _open(kind, tmp_path, jupyter_servers, chromium_browser)
    try:
        page.screenshot(path=str(artifact_dir / "01-loaded.png"))
        # ---- first picture = window_to_uint8 of the stored window (W 350 / L 40)
        grey, ds = _canvas_pixels(page)
        assert (float(ds["center"]), float(ds["width"])) == (40.0, 350.0)
        expected = window_to_uint8(ct.frame(15), Window(40, 350))
        assert np.array_equal(grey, expected), int(np.abs(grey.astype(int) - expected).max())

        # ---- the page's window function is apply_window's, value for value
        values = np.concatenate([np.arange(-1100, 1300, 0.5), [-0.5, 39.5, 40.0, 40.5]])
        for win, invert in [(Window(40, 350), False), (Window(40, 1), False), (Window(-600, 1500), True),
                            (Window(39.5, 7, "LINEAR_EXACT"), False), (Window(40, 80, "SIGMOID"), True)]:
            got = page.evaluate("""([xs, c, w, fn, inv]) => { const f = document.querySelector('.cl-viewer')
                .__caselib.display8; return xs.map((x) => f(x, c, w, fn, inv)); }""",
                                [values.tolist(), win.center, win.width, str(win.function), invert])
            assert np.array_equal(np.array(got), window_to_uint8(values, win, invert=invert)), (win, invert)

        # ---- hidden annotations: not in the page, not in any websocket frame
        assert SECRET not in page.content()
        assert not any(SECRET in f for f in frames)

        # ---- drag window/level: canvas = window_to_uint8 with the new window
        viewport = page.locator("[data-role=viewport]")
        x0, y0 = _pixel_center(page, 256, 256)
        page.mouse.move(x0, y0)
        page.mouse.down()
        page.mouse.move(x0 + 40, y0 - 30, steps=5)
        page.mouse.up()
        grey, ds = _canvas_pixels(page)
        c, w = float(ds["center"]), float(ds["width"])
        assert (c, w) != (40.0, 350.0)
        assert np.array_equal(grey, window_to_uint8(ct.frame(15), Window(c, w)))
        st = _wait_file(state_file, lambda s: abs(s["center"] - c) < 1e-6 and abs(s["width"] - w) < 1e-6)
        assert st["slice"] == 15
        page.screenshot(path=str(artifact_dir / "02-window-dragged.png"))

        # ---- wheel scrolls to the next slice (and the kernel sees it)
        page.mouse.move(x0, y0)
        page.mouse.wheel(0, 100)
        page.wait_for_selector("canvas[data-role=image][data-slice='16']", timeout=20_000)
        grey, ds = _canvas_pixels(page)
        assert np.array_equal(grey, window_to_uint8(ct.frame(16), Window(float(ds["center"]), float(ds["width"]))))
        _wait_file(state_file, lambda s: s["slice"] == 16)

        # ---- probe under the pointer shows the HU computed from raw values
        r, col = 300, 200
        page.mouse.move(*_pixel_center(page, r, col))
        probe = page.locator("[data-role=probe]")
        assert probe.get_attribute("data-row") == str(r) and probe.get_attribute("data-col") == str(col)
        hu = float(ct.frame(16)[r, col])
        assert float(probe.get_attribute("data-value")) == hu
        assert f"{hu:g} HU" in probe.inner_text()

        # ---- keyboard: focus the image, press k (point tool), mark with the pointer
        viewport.focus()
        page.keyboard.press("k")
        page.mouse.click(*_pixel_center(page, 240, 260))
        marks = _wait_file(marks_file, lambda m: len(m) == 1 and "measurements" in m[0])
        assert marks[0]["kind"] == "point" and marks[0]["slice_index"] == 16
        assert abs(marks[0]["row"] - 240) < 0.6 and abs(marks[0]["col"] - 260) < 0.6
        assert marks[0]["measurements"]["value"] == float(ct.frame(16)[240, 260])
        assert marks[0]["series_uid"] == ct.uid and len(marks[0]["patient_mm"]) == 3
        page.wait_for_selector("[data-role=marks] li")
        page.screenshot(path=str(artifact_dir / "03-probe-and-mark.png"))

        # ---- keyboard slice step and preset
        viewport.focus()
        page.keyboard.press("ArrowDown")
        page.wait_for_selector("canvas[data-role=image][data-slice='17']", timeout=20_000)
        page.keyboard.press("1")   # first preset: lung W1500 L-600
        grey, ds = _canvas_pixels(page)
        assert (float(ds["center"]), float(ds["width"])) == (-600.0, 1500.0)
        assert np.array_equal(grey, window_to_uint8(ct.frame(17), Window(-600, 1500)))
        assert "Radiopaedia" in page.locator("[data-role=preset-source]").inner_text()

        # ---- reveal: now (and only now) the annotation reaches the page
        assert SECRET not in page.content() and not any(SECRET in f for f in frames)
        page.locator("[data-role=annotations]").click()
        page.wait_for_selector(f"text={SECRET}", timeout=20_000)
        assert any(SECRET in f for f in frames)
        page.screenshot(path=str(artifact_dir / "04-annotations-revealed.png"))
        assert not errors, errors
    finally:
        page.close()
