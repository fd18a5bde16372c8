"""Linked viewers, keyboard-only marking, an ROI and a colour ultrasound cine loop, in Voila."""
from __future__ import annotations

import json
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest
from playwright.sync_api import expect

from caselib.data import fetch, fetch_dataset
from caselib.dicom import read
from caselib.imaging import distance_mm, ellipse_mask, roi_stats

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CODE = """\
import json, pathlib
from caselib.data import fetch, fetch_dataset
from caselib.dicom import read
from caselib.ui import Viewer, side_by_side
import ipywidgets as widgets
ct = read(fetch_dataset("tcia-lung-ct")).only_series()
prior, current = Viewer(ct, lang="zh-CN", slice_index=10), Viewer(ct, lang="zh-CN", slice_index=10)
rgb = Viewer(read(fetch("pydicom/examples_ybr_color.dcm")).only_series(), lang="en", height=300)
out = pathlib.Path({out!r})
def dump(marks):
    out.write_text(json.dumps({{"marks": [m.to_dict() for m in marks], "slice": current.slice_index}}))
prior.observe_marks(dump)
widgets.VBox([side_by_side([prior, current], scroll=True, window=True, titles=["prior", "current"]), rgb])
"""


def _wait(path: Path, predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            try:
                v = json.loads(path.read_text())
                if predicate(v):
                    return v
            except ValueError:
                pass
        time.sleep(0.1)
    raise AssertionError(f"{path}: expected state not reached; content: "
                         f"{path.read_text() if path.exists() else '(missing)'}")


def test_linked_keyboard_roi_colour(tmp_path, jupyter_servers, chromium_browser, artifact_dir):
    out = tmp_path / "out.json"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(CODE.format(out=str(out)))]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "linked.ipynb")
    ct = read(fetch_dataset("tcia-lung-ct")).only_series()
    rgb = read(fetch("pydicom/examples_ybr_color.dcm")).only_series()   # YBR_FULL_422 ultrasound loop
    server = jupyter_servers("voila", tmp_path)
    page = chromium_browser.new_page(viewport={"width": 1400, "height": 1400})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(server.url_for("voila/render/linked.ipynb"), timeout=90_000)
        page.wait_for_function("() => document.querySelectorAll('canvas[data-role=image][data-slice]').length === 3",
                               timeout=90_000)
        viewers = page.locator(".cl-viewer")
        prior_vp = viewers.nth(0).locator("[data-role=viewport]")
        current_canvas = viewers.nth(1).locator("canvas[data-role=image]")
        # zh-CN labels
        assert viewers.nth(0).locator("[data-role=invert]").inner_text() == "反相"

        # ---- linked scroll and window: keys in the prior move the current
        prior_vp.focus()
        page.keyboard.press("ArrowDown")
        page.keyboard.press("ArrowDown")
        page.wait_for_function("""() => document.querySelectorAll('canvas[data-role=image]')[1]
            .dataset.slice === '12'""", timeout=20_000)
        page.keyboard.press("3")          # third preset (soft tissue W400 L50)
        page.wait_for_function("""() => document.querySelectorAll('canvas[data-role=image]')[1]
            .dataset.width === '400'""", timeout=20_000)
        assert current_canvas.get_attribute("data-center") == "50"

        # ---- keyboard-only point: tool k, Alt+arrows move the cursor, Enter marks
        prior_vp.focus()
        page.keyboard.press("k")
        for _ in range(3):
            page.keyboard.press("Alt+ArrowDown")
        page.keyboard.press("Alt+Shift+ArrowRight")
        page.keyboard.press("Enter")
        state = _wait(out, lambda v: len(v["marks"]) == 1 and "measurements" in v["marks"][0])
        m = state["marks"][0]
        assert (m["kind"], m["slice_index"], m["row"], m["col"]) == ("point", 12, 258.5, 265.5)

        # ---- ellipse ROI with the pointer: mean/SD/area from caselib.imaging.roi_stats
        prior_vp.focus()
        page.keyboard.press("e")
        box = viewers.nth(0).locator("canvas[data-role=image]").bounding_box()
        sx, sy = box["width"] / 512, box["height"] / 512
        cx, cy = box["x"] + 200.5 * sx, box["y"] + 250.5 * sy
        page.mouse.move(cx, cy)
        page.mouse.down()
        page.mouse.move(cx + 12 * sx, cy + 8 * sy, steps=4)
        page.mouse.up()
        state = _wait(out, lambda v: len(v["marks"]) == 2 and "mean" in v["marks"][1].get("measurements", {}))
        e = state["marks"][1]
        frame = ct.frame(12)
        stats = roi_stats(frame, ellipse_mask(frame.shape, (e["row"], e["col"]),
                                              (e["radius_row"], e["radius_col"])), ct.pixel_spacing)
        assert e["measurements"]["mean"] == pytest.approx(stats.mean)
        assert abs(e["row"] - 250) < 0.6 and abs(e["radius_col"] - 12) < 0.6
        # the kernel measured the ROI; its label reaches the page with the next state sync
        expect(viewers.nth(0).locator("[data-role=marks]")).to_contain_text("平均值", timeout=20_000)
        # ---- distance in mm (pixel spacing), then zoom in with + and back with r
        page.keyboard.press("d")
        page.mouse.move(box["x"] + 100.5 * sx, box["y"] + 100.5 * sy)
        page.mouse.down()
        page.mouse.move(box["x"] + 130.5 * sx, box["y"] + 140.5 * sy, steps=4)
        page.mouse.up()
        state = _wait(out, lambda v: len(v["marks"]) == 3 and "length_mm" in v["marks"][2].get("measurements", {}))
        line = state["marks"][2]
        assert line["measurements"]["length_mm"] == pytest.approx(
            distance_mm((line["row"], line["col"]), (line["end_row"], line["end_col"]), ct.pixel_spacing))
        assert line["measurements"]["length_mm"] == pytest.approx(50 * ct.pixel_spacing[0], abs=0.8)
        page.screenshot(path=str(artifact_dir / "linked.png"))
        prior_vp.focus()
        page.keyboard.press("+")
        zoomed = viewers.nth(0).locator("canvas[data-role=image]").bounding_box()
        assert zoomed["width"] == pytest.approx(1.25 * box["width"], rel=1e-3)
        page.keyboard.press("r")
        assert viewers.nth(0).locator("canvas[data-role=image]").bounding_box()["width"] == pytest.approx(box["width"])

        # ---- colour: the canvas holds the RGB values
        pix = page.evaluate("""() => { const c = document.querySelectorAll('canvas[data-role=image]')[2];
            return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data); }""")
        got = np.array(pix, dtype=np.uint8).reshape(rgb.rows, rgb.columns, 4)[..., :3]
        assert np.array_equal(got, rgb.display_frame(0))
        # ---- cine: Space plays the loop
        viewers.nth(2).locator("[data-role=viewport]").focus()
        page.keyboard.press(" ")
        page.wait_for_function("""() => Number(document.querySelectorAll('canvas[data-role=image]')[2]
            .dataset.slice) >= 3""", timeout=20_000)
        assert viewers.nth(2).locator("[data-role=play]").get_attribute("aria-pressed") == "true"
        page.keyboard.press(" ")
        assert not errors, errors
    finally:
        page.close()
