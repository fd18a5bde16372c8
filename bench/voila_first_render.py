"""Time to first interactive render of each classroom app in Voila: default vs preheated kernels.

For each configuration a Voila server serves ``voila_apps/`` on loopback the way
``python -m caselib.ui.apps.serve`` does (caselib's Voila template,
``voila_env()``):

* default: ``voila_args(preheat=False)`` (a kernel is started and the app
  notebook executed when the page is requested);
* preheated: ``voila_args(preheat=True)`` (voila_apps/voila.json: a pool of one
  kernel per app that has already executed the notebook).

Debian chromium (headless, fresh context per page = a student's first visit
with a cold HTTP cache, 1280 x 800) opens each app ``--repeats`` times.  The
time is from ``page.goto`` to the moment the app is interactive: the app's
widgets are rendered (the language switch is visible) and, for apps with an
image, the viewer's canvas is visible.  Before each preheated page the bench
waits until every pool is full (the server log says so) and the kernels are
idle, so every preheated page really gets a preheated kernel.  The floor is
the same measurement on a notebook holding one ToggleButtons widget: what
Voila itself costs on this machine (page, scripts, kernel websocket, widget
manager).  Medians are reported; goal: <= 1.5 s preheated.

How the moment is caught (both matter on 2 cores, see voila_apps/README.md):

* the page is checked on every animation frame (``wait_for_function(...,
  polling="raf")``).  Playwright's ``wait_for_selector`` starts checking only
  after the load event and then re-checks after 20, 50, 100, 100 and then every
  500 ms, so it saw a switch that appeared 0.3 s after the load event up to
  0.5 s late (that delay was up to a third of the old figures);
* Chromium 156 headless starts a WebUI renderer for the omnibox popup
  (chrome://omnibox-popup.top-chrome) with every new browser context: about
  0.4 s of CPU that competed with the page on 2 cores.  A student's browser
  has its window open before the page is requested, so the bench launches
  Chromium with ``--disable-features=WebUIOmniboxPopup,WebUIOmniboxAimPopup``.
  ``voila_floor_with_omnibox_webui_s`` is the floor measured without that
  switch, for comparison.

The breakdown (``*_preheated_ms``, medians, ms from the start of the
navigation, Navigation Timing): ``html`` (page received), ``dcl``
(DOMContentLoaded), ``load`` (voila.js and its first chunks run), ``ws`` (the
kernel websocket opened) and ``visible`` (the app is interactive).  The last
line is one JSON object.

Usage::

    python bench/voila_first_render.py [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))          # the browser/server helpers of the browser tests

from browser_support import launch_chromium, start_server

from caselib.ui.apps.serve import APPS, apps_dir, voila_args, voila_env

GOAL_S = 1.5
WITH_VIEWER = {"case_browser_app": False, "windowing_demo_app": True, "pbl_session_app": False, "quiz_app": False,
               "floor": False}


#: Chromium switch: no omnibox-popup WebUI renderer per new context (see the module docstring)
NO_OMNIBOX_WEBUI = "--disable-features=WebUIOmniboxPopup,WebUIOmniboxAimPopup"

#: true once the element is laid out with a size and not hidden (what Playwright calls visible)
VISIBLE_JS = """(selector) => {
  const el = document.querySelector(selector);
  if (!el) return false;
  const box = el.getBoundingClientRect();
  return box.width > 0 && box.height > 0 && getComputedStyle(el).visibility !== 'hidden';
}"""

#: Navigation Timing of the page, ms from the start of the navigation
TIMING_JS = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  return {html: nav.responseEnd, dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd,
          origin: performance.timeOrigin, now: performance.now()};
}"""

FLOOR_SOURCE = ("import ipywidgets as w\nswitch = w.ToggleButtons(options=['中文', 'English'])\n"
                "switch.add_class('cl-language')\napp = w.VBox([switch])\napp.add_class('cl-app')\napp")


def wait_pools_full(server, filled: dict[str, int], app: str | None, timeout: float = 180.0) -> None:
    """Wait until the log reports every pool filled (``app``'s once more than before), then settle."""
    log = server.log_path
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        counts = {a: text.count(f"Kernel pool of {a}.ipynb is filled") for a in filled}
        if all(n >= 1 for n in counts.values()) and (app is None or counts[app] > filled[app]):
            filled.update(counts)
            # "filled" means started: the new kernel still executes the app notebook; the page is
            # opened once the server and its kernels are idle (a preheated kernel, really ready)
            wait_idle(server, deadline)
            return
        time.sleep(0.1)
    raise RuntimeError(f"the kernel pools were not filled within {timeout:.0f} s:\n{server.log_tail()}")


def wait_idle(server, deadline: float, quiet_s: float = 1.0) -> None:
    """Wait until Voila and its kernels used under 5 % of a core for ``quiet_s`` seconds."""
    import psutil

    root = psutil.Process(server.process.pid)

    def cpu() -> float:
        total = 0.0
        for p in [root] + root.children(recursive=True):
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
        return total

    while time.monotonic() < deadline:
        before = cpu()
        time.sleep(quiet_s)
        if cpu() - before < 0.05 * quiet_s:
            return
    raise RuntimeError(f"the Voila server did not become idle:\n{server.log_tail()}")


def first_render(browser, server, app: str) -> tuple[float, dict[str, float]]:
    """Seconds from ``page.goto`` until ``app`` is interactive, and the page's breakdown (ms)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    opened: list[float] = []
    page.on("websocket", lambda ws: opened.append(time.time() * 1000))
    try:
        start = time.perf_counter()
        page.goto(server.url_for(f"voila/render/{app}.ipynb"), timeout=180_000)
        page.wait_for_function(VISIBLE_JS, arg=".cl-app .cl-language button", polling="raf", timeout=180_000)
        if WITH_VIEWER[app]:
            page.wait_for_function(VISIBLE_JS, arg=".cl-viewer canvas", polling="raf", timeout=180_000)
        seconds = time.perf_counter() - start
        timing = page.evaluate(TIMING_JS)
        origin = timing.pop("origin")
        timing["visible"] = timing.pop("now")
        timing["ws"] = opened[0] - origin if opened else -1.0
        return seconds, timing
    finally:
        context.close()


def run(root: Path, apps, preheat: bool, repeats: int, browser,
        breakdown: dict[str, list[dict]] | None = None) -> dict[str, list[float]]:
    """``repeats`` first renders of each app; the breakdowns are appended to ``breakdown[app]``."""
    env = {"JUPYTER_PATH": voila_env()["JUPYTER_PATH"]}       # caselib's Voila template
    server = start_server("voila", root, args=voila_args(preheat=preheat, template=True), env=env)
    try:
        times: dict[str, list[float]] = {}
        filled = {app: 0 for app in apps}
        if preheat:
            wait_pools_full(server, filled, None)
        for app in apps:
            times[app] = []
            for _ in range(repeats):
                seconds, timing = first_render(browser, server, app)
                times[app].append(seconds)
                if breakdown is not None:
                    breakdown.setdefault(app, []).append(timing)
                if preheat:
                    wait_pools_full(server, filled, app)
                else:
                    time.sleep(1.0)
        return times
    finally:
        server.stop()


def floor_folder(tmp: Path) -> Path:
    """A copy of voila.json and a notebook with one widget, for Voila's own cost."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(FLOOR_SOURCE)]
    nbformat.write(nb, tmp / "floor.ipynb")
    (tmp / "voila.json").write_text((apps_dir() / "voila.json").read_text())
    return tmp


BREAKDOWN = ("html", "dcl", "load", "ws", "visible")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="pages per app and configuration (default 3)")
    args = parser.parse_args(argv)
    import tempfile

    from playwright.sync_api import sync_playwright

    breakdown: dict[str, list[dict]] = {}
    with sync_playwright() as pw, tempfile.TemporaryDirectory() as tmp:
        folder = floor_folder(Path(tmp))
        browser = launch_chromium(pw)          # Chromium as it comes: one omnibox WebUI renderer per context
        try:
            floor_omnibox = run(folder, ["floor"], True, args.repeats, browser)["floor"]
        finally:
            browser.close()
        browser = launch_chromium(pw, args=[NO_OMNIBOX_WEBUI])
        try:
            floor = run(folder, ["floor"], True, args.repeats, browser, breakdown)["floor"]
            default = run(apps_dir(), APPS, False, args.repeats, browser)
            preheated = run(apps_dir(), APPS, True, args.repeats, browser, breakdown)
        finally:
            browser.close()
    figures: dict[str, object] = {"repeats": args.repeats, "goal_preheated_s": GOAL_S}
    print(f"{'app':22} {'default s':>10} {'preheated s':>12} {'speed-up':>9}")
    for app in APPS:
        d, p = statistics.median(default[app]), statistics.median(preheated[app])
        print(f"{app:22} {d:10.2f} {p:12.2f} {d / p:8.1f}x")
        figures[f"{app}_default_s"] = round(d, 3)
        figures[f"{app}_preheated_s"] = round(p, 3)
        figures[f"{app}_speedup"] = round(d / p, 2)
    f = statistics.median(floor)
    print(f"{'(Voila floor: 1 widget)':22} {'':10} {f:12.2f}")
    figures["voila_floor_s"] = round(f, 3)
    figures["voila_floor_with_omnibox_webui_s"] = round(statistics.median(floor_omnibox), 3)
    print(f"{'(floor, omnibox WebUI)':22} {'':10} {figures['voila_floor_with_omnibox_webui_s']:12.2f}")
    print(f"{'breakdown (ms)':22} " + " ".join(f"{k:>7}" for k in BREAKDOWN))
    for app in ["floor", *APPS]:
        marks = {k: round(statistics.median(t[k] for t in breakdown[app])) for k in BREAKDOWN}
        print(f"{app:22} " + " ".join(f"{marks[k]:7d}" for k in BREAKDOWN))
        figures[f"{app}_preheated_ms"] = marks
    worst = max(statistics.median(preheated[a]) for a in APPS)
    figures["max_preheated_over_floor"] = round(worst / f, 2)
    figures["max_preheated_s"] = round(worst, 3)
    figures["goal_met"] = worst <= GOAL_S
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
