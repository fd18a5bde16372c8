"""How fast does the viewer answer a window/level step and a slice step?

One Voila page shows, on the 512x512 chest CT (``tcia-lung-ct``, 30 slices):

* caselib's viewer (:class:`caselib.ui.Viewer`): raw int values sent once
  per slice, window/level applied in the browser on a canvas, neighbours
  prefetched;
* the baseline most notebooks use: an ``ipywidgets.Image`` whose PNG is
  re-encoded by the kernel (``window_to_uint8`` + Pillow PNG) whenever an
  ``IntText`` for the window level or the slice changes.

Headless Debian chromium (playwright) drives both in the same run.  Every
time is taken in the browser with ``performance.now()``:

* W/L step, ours: from dispatching the key that moves the window level until
  the canvas holds the new picture (the draw is synchronous; a 1-pixel
  ``getImageData`` read-back is included); ``wl_frame_*`` also waits for the
  next animation frame (the paint), which adds the wait for the display tick.
* W/L step, baseline: from the ``change`` event of the level input until the
  new ``<img>`` has loaded (kernel round trip, PNG encode and decode).
* slice step: ours from the key press until the canvas shows the new slice
  (immediately when prefetched, else after the kernel sent it), scrolling
  through the series at about 20 slices per second; the baseline likewise
  until the new image has loaded.
* first image: from the moment the viewer's view starts rendering until the
  first slice is on the canvas (one kernel round trip for the raw slice);
  ``page_first_image_ms`` counts from navigation start (Voila starts the
  kernel and runs the notebook first; taken when playwright sees the picture,
  so an upper bound).

Goals (issue 4): W/L <= 8 ms median and >= 5x faster than the baseline;
slice step <= 20 ms median with prefetch.  The last line is one JSON object.

Usage::

    python bench/viewer_latency.py [--steps 60]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from browser_support import launch_chromium, start_server  # noqa: E402

NOTEBOOK = """\
import io
import ipywidgets as widgets
from PIL import Image as PILImage
from caselib.data import fetch_dataset
from caselib.dicom import read
from caselib.imaging import Window, window_to_uint8
from caselib.ui import Viewer

ct = read(fetch_dataset("tcia-lung-ct")).only_series()
viewer = Viewer(ct, lang="en", slice_index=0, height=512)

# --- baseline: server-side PNG in an ipywidgets.Image
frames = {}
def png(index, center, width):
    if index not in frames:
        frames[index] = ct.frame(index)
    buf = io.BytesIO()
    PILImage.fromarray(window_to_uint8(frames[index], Window(center, width))).save(buf, format="png")
    return buf.getvalue()
level = widgets.IntText(value=40, description="level")
level.add_class("baseline-level")
slice_box = widgets.IntText(value=0, description="slice")
slice_box.add_class("baseline-slice")
image = widgets.Image(value=png(0, 40, 350), format="png", width=512, height=512)
image.add_class("baseline-image")
def update(change=None):
    image.value = png(slice_box.value, level.value, 350)
level.observe(update, names="value")
slice_box.observe(update, names="value")
widgets.VBox([viewer, widgets.HBox([level, slice_box]), image])
"""

MEASURE_OURS = """async ([steps, gapMs]) => {
  const root = document.querySelector('.cl-viewer');
  const vp = root.querySelector('[data-role=viewport]');
  const canvas = root.querySelector('canvas[data-role=image]');
  const ctx = canvas.getContext('2d');
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const frame = () => new Promise((r) => requestAnimationFrame(() => r()));
  const key = (k) => vp.dispatchEvent(new KeyboardEvent('keydown', {key: k, bubbles: true, cancelable: true}));
  const wl = [], wlFrame = [], slice = [];
  for (let i = 0; i < steps; i++) {
    const before = canvas.dataset.center;
    const t0 = performance.now();
    key(i % 2 ? 'ArrowLeft' : 'ArrowRight');
    ctx.getImageData(0, 0, 1, 1);
    const t1 = performance.now();
    if (canvas.dataset.center === before) throw new Error('window did not change');
    await frame();
    wlFrame.push(performance.now() - t0);
    wl.push(t1 - t0);
    await sleep(gapMs);
  }
  const n = root.__caselib.state ? Number(root.querySelector('[data-role=slider]').max) + 1 : 30;
  let dir = 1;
  for (let i = 0; i < steps; i++) {
    const cur = Number(canvas.dataset.slice);
    if (cur + dir < 0 || cur + dir >= n) dir = -dir;
    const target = String(cur + dir);
    const t0 = performance.now();
    key(dir > 0 ? 'ArrowDown' : 'ArrowUp');
    if (canvas.dataset.slice !== target) {
      await new Promise((resolve) => {
        const on = (e) => { if (String(e.detail.index) === target) { root.removeEventListener('cl-drawn', on); resolve(); } };
        root.addEventListener('cl-drawn', on);
      });
    }
    ctx.getImageData(0, 0, 1, 1);
    slice.push(performance.now() - t0);
    await sleep(gapMs);
  }
  return {wl, wlFrame, slice, first: root.__caselib.state().firstImageMs};
}"""

MEASURE_BASELINE = """async ([steps, gapMs]) => {
  const img = document.querySelector('img.baseline-image');
  const level = document.querySelector('.baseline-level input');
  const sl = document.querySelector('.baseline-slice input');
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  async function step(input, value) {
    const loaded = new Promise((resolve) => img.addEventListener('load', () => resolve(), {once: true}));
    const t0 = performance.now();
    input.value = String(value);
    input.dispatchEvent(new Event('change', {bubbles: true}));
    await loaded;
    return performance.now() - t0;
  }
  const wl = [], slice = [];
  for (let i = 0; i < steps; i++) { wl.push(await step(level, i % 2 ? 40 : 48)); await sleep(gapMs); }
  let cur = 0, dir = 1;
  for (let i = 0; i < steps; i++) {
    if (cur + dir < 0 || cur + dir >= 30) dir = -dir;
    cur += dir;
    slice.push(await step(sl, cur));
    await sleep(gapMs);
  }
  return {wl, slice};
}"""


def _stats(values: list[float]) -> tuple[float, float]:
    s = sorted(values)
    p95 = s[min(len(s) - 1, int(round(0.95 * (len(s) - 1))))]
    return statistics.median(s), p95


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--gap-ms", type=float, default=50.0,
                        help="pause between steps (about 20 steps per second)")
    args = parser.parse_args()

    from caselib.data import fetch_dataset
    fetch_dataset("tcia-lung-ct")   # materialise before the server starts

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="viewer-bench-") as tmp:
        folder = Path(tmp)
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(NOTEBOOK)]
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, folder / "bench.ipynb")
        server = start_server("voila", folder)
        try:
            with sync_playwright() as pw:
                browser = launch_chromium(pw)
                page = browser.new_page(viewport={"width": 1200, "height": 1400})
                page.goto(server.url_for("voila/render/bench.ipynb"), timeout=120_000)
                page.wait_for_selector("canvas[data-role=image][data-slice='0']", timeout=120_000)
                page_first = page.evaluate("() => performance.now()")
                page.wait_for_selector("img.baseline-image", timeout=60_000)
                page.wait_for_timeout(1000)   # initial prefetch settles
                ours = page.evaluate(MEASURE_OURS, [args.steps, args.gap_ms])
                base = page.evaluate(MEASURE_BASELINE, [args.steps, args.gap_ms])
                browser.close()
        finally:
            server.stop()

    wl_med, wl_p95 = _stats(ours["wl"])
    wlf_med, wlf_p95 = _stats(ours["wlFrame"])
    sl_med, sl_p95 = _stats(ours["slice"])
    bwl_med, bwl_p95 = _stats(base["wl"])
    bsl_med, bsl_p95 = _stats(base["slice"])
    print(f"chest CT 512x512, {args.steps} steps each, {args.gap_ms:.0f} ms between steps")
    print(f"  W/L step    caselib median {wl_med:6.2f} ms  p95 {wl_p95:6.2f} ms   "
          f"(to next frame {wlf_med:.2f} / {wlf_p95:.2f})")
    print(f"              baseline median {bwl_med:6.2f} ms  p95 {bwl_p95:6.2f} ms   "
          f"ratio {bwl_med / wl_med:.1f}x (goal <= 8 ms, >= 5x)")
    print(f"  slice step  caselib median {sl_med:6.2f} ms  p95 {sl_p95:6.2f} ms   (goal <= 20 ms)")
    print(f"              baseline median {bsl_med:6.2f} ms  p95 {bsl_p95:6.2f} ms   "
          f"ratio {bsl_med / sl_med:.1f}x")
    print(f"  first image {ours['first']:.0f} ms after the view started ({page_first:.0f} ms after navigation)")
    figures = {
        "wl_median_ms": round(wl_med, 3), "wl_p95_ms": round(wl_p95, 3),
        "wl_frame_median_ms": round(wlf_med, 3), "wl_frame_p95_ms": round(wlf_p95, 3),
        "baseline_wl_median_ms": round(bwl_med, 3), "baseline_wl_p95_ms": round(bwl_p95, 3),
        "wl_ratio": round(bwl_med / wl_med, 2),
        "slice_median_ms": round(sl_med, 3), "slice_p95_ms": round(sl_p95, 3),
        "baseline_slice_median_ms": round(bsl_med, 3), "baseline_slice_p95_ms": round(bsl_p95, 3),
        "slice_ratio": round(bsl_med / sl_med, 2),
        "first_image_ms": round(ours["first"], 1), "page_first_image_ms": round(page_first, 1),
        "steps": args.steps,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
