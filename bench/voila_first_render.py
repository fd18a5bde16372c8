"""Time to first interactive render of each classroom app in Voila: default vs preheated kernels.

For each configuration a Voila server serves ``voila_apps/`` on loopback:

* default: ``voila_args(preheat=False)`` (a kernel is started and the app
  notebook executed when the page is requested);
* preheated: ``voila_args(preheat=True)`` (voila_apps/voila.json: a pool of one
  kernel per app that has already executed the notebook).

Debian chromium (headless, fresh context per page, 1280 x 800) opens each app
``--repeats`` times.  The time is from ``page.goto`` to the moment the app is
interactive: the app's widgets are rendered (the language switch is visible)
and, for apps with an image, the viewer's canvas is drawn.  Before each
preheated page the bench waits until every pool is full (the server log says
so) and the kernels are idle, so every preheated page really gets a
preheated kernel.  The floor is the same measurement on a notebook holding
one ToggleButtons widget: what Voila itself costs on this machine (page,
scripts, kernel websocket, widget manager).  Medians are reported; goal:
<= 1.5 s preheated.  The last line is one JSON object.

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

from browser_support import launch_chromium, start_server  # noqa: E402

from caselib.ui.apps.serve import APPS, apps_dir, voila_args  # noqa: E402

GOAL_S = 1.5
WITH_VIEWER = {"case_browser_app": False, "windowing_demo_app": True, "pbl_session_app": False, "quiz_app": False,
               "floor": False}


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


def first_render(browser, server, app: str) -> float:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        start = time.perf_counter()
        page.goto(server.url_for(f"voila/render/{app}.ipynb"), timeout=180_000)
        page.wait_for_selector(".cl-app .cl-language button", state="visible", timeout=180_000)
        if WITH_VIEWER[app]:
            page.wait_for_selector(".cl-viewer canvas", state="visible", timeout=180_000)
        return time.perf_counter() - start
    finally:
        context.close()


def run(root: Path, apps, preheat: bool, repeats: int, browser) -> dict[str, list[float]]:
    server = start_server("voila", root, args=voila_args(preheat=preheat))
    try:
        times: dict[str, list[float]] = {}
        filled = {app: 0 for app in apps}
        if preheat:
            wait_pools_full(server, filled, None)
        for app in apps:
            times[app] = []
            for _ in range(repeats):
                times[app].append(first_render(browser, server, app))
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="pages per app and configuration (default 3)")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    import tempfile

    with sync_playwright() as pw, tempfile.TemporaryDirectory() as tmp:
        browser = launch_chromium(pw)
        try:
            floor = run(floor_folder(Path(tmp)), ["floor"], True, args.repeats, browser)["floor"]
            default = run(apps_dir(), APPS, False, args.repeats, browser)
            preheated = run(apps_dir(), APPS, True, args.repeats, browser)
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
    worst = max(statistics.median(preheated[a]) for a in APPS)
    figures["max_preheated_over_floor"] = round(worst / f, 2)
    figures["max_preheated_s"] = round(worst, 3)
    figures["goal_met"] = worst <= GOAL_S
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
