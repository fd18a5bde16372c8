"""Serve the classroom apps with Voila: preheated kernels and kernel culling.

The settings live in one file, ``voila_apps/voila.json`` (Voila also reads it
by itself when started inside ``voila_apps/``):

- ``VoilaConfiguration.preheat_kernel`` + ``default_pool_size``: each app
  notebook is executed ahead of time in a pooled kernel, so the first page
  of a student renders without waiting for imports and data;
- ``VoilaConfiguration.extension_allowlist``: a page loads only the
  JupyterLab extensions the apps use (Voila's widget manager, the widget
  controls, anywidget for the viewer), not every extension installed in
  the environment (nbgrader, notebook, ...): less JavaScript for each of
  30 pages to fetch and run, and no console errors from extensions that
  cannot load outside JupyterLab;
- ``VoilaKernelManager.fill_delay`` (2 s): the kernel that replaces the one a
  page took starts 2 s later, once that page has rendered (started after
  0.5 s, its start-up competed with the page for the 2 cores: about 0.12 s
  more to the first render, bench/voila_first_render.py);
- ``MappingKernelManager.cull_*``: kernels idle for 10 minutes with no
  browser connected are shut down, so a class leaves no kernels behind.
  Culling is what actually frees them: Voila 0.5's shutdown request on page
  close is refused by the server's XSRF check (voila-dashboards/voila#1458).

The pages use caselib's Voila template (``voila_template/``, :data:`TEMPLATE`):
Voila's "lab" page without the two Font Awesome stylesheets it fetches from
cdn.jsdelivr.net (they hold back the first render of every page until the CDN
answers; Voila's own voila-style.js already carries the icons), without the
Mermaid loader, and with the page's JupyterLab extensions preloaded.  Voila
finds templates only on the Jupyter data path, so a server using it needs
:func:`voila_env` as its environment (``voila_args(template=True)``).

``python -m caselib.ui.apps.serve [--port N] [--no-preheat] [--class-size N]``
prints and runs the command; ``--class-size 30`` keeps 30 preheated case
browser kernels for a class that opens it at once (see :func:`voila_args`).

>>> cmd = voila_command(port=8866)                        # doctest: +SKIP
>>> "--VoilaConfiguration.preheat_kernel=true" in cmd     # doctest: +SKIP
True
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

__all__ = [
    "APPS",
    "TEMPLATE",
    "apps_dir",
    "load_voila_config",
    "main",
    "template_root",
    "voila_args",
    "voila_command",
    "voila_env",
]

#: the app notebooks (without .ipynb)
APPS = ("case_browser_app", "windowing_demo_app", "pbl_session_app", "quiz_app")


def apps_dir() -> Path:
    """``voila_apps/`` of the caselib checkout."""
    return Path(__file__).resolve().parents[3] / "voila_apps"


#: caselib's Voila template (``voila_template/voila/templates/caselib``, based on Voila's "lab")
TEMPLATE = "caselib"


def template_root() -> Path:
    """The Jupyter data directory holding caselib's Voila template (``voila/templates/caselib``)."""
    return Path(__file__).resolve().parent / "voila_template"


def voila_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """``environ`` (default: this process's) with :func:`template_root` first on ``JUPYTER_PATH``.

    Voila looks for templates only on the Jupyter data path; a Voila server
    started with ``voila_args(template=True)`` needs this environment.
    """
    env = dict(os.environ if environ is None else environ)
    root = str(template_root())
    rest = [p for p in env.get("JUPYTER_PATH", "").split(os.pathsep) if p and p != root]
    env["JUPYTER_PATH"] = os.pathsep.join([root, *rest])
    return env


def load_voila_config(folder: Path | None = None) -> dict[str, dict[str, Any]]:
    """``voila.json`` of the apps folder as ``{section: {trait: value}}``."""
    path = (folder or apps_dir()) / "voila.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ValueError(f"{path}: expected {{section: {{trait: value}}}}, found {type(data).__name__}")
    return data


#: in class mode, a used kernel is replaced only after this many seconds (after the rush)
CLASS_FILL_DELAY_S = 300.0


def voila_args(*, preheat: bool = True, class_size: int | None = None, app: str = "case_browser_app",
               folder: Path | None = None, template: bool = False) -> list[str]:
    """``--Section.trait=value`` arguments from ``voila.json``.

    Parameters
    ----------
    template : bool
        Serve the pages with caselib's Voila template (:data:`TEMPLATE`); the
        server must then run with :func:`voila_env` as its environment
        (without it Voila starts but every page answers 500,
        ``TemplateNotFound``).  :func:`voila_command` and ``python -m
        caselib.ui.apps.serve`` use it.
    preheat : bool
        False: no pool (a kernel is started when a page is opened).
    class_size : int, optional
        Class mode: keep ``class_size`` preheated kernels of ``app`` (every
        student of a class arriving at once gets one) and refill them only
        :data:`CLASS_FILL_DELAY_S` after use, so refilling does not compete
        with the class for the CPU.  Start the server a few minutes before
        the lesson: filling the pool takes about a second of CPU per kernel.
        Voila logs "Kernel pool of ... is filled" as soon as the kernels have
        *started*; each then still executes the app notebook (a pool of 30
        keeps both cores busy for a while, see ``bench/voila_classroom.py``
        ``wait_pool_ready``).  The pool is ready when the server's CPU use
        falls back to idle; a class that arrives earlier waits for those
        kernels while competing with them for the cores.
    """
    config = load_voila_config(folder)
    if not preheat:
        config.setdefault("VoilaConfiguration", {}).update(preheat_kernel=False, default_pool_size=0)
    elif class_size:
        if class_size < 1:
            raise ValueError(f"class_size must be a positive number of students, got {class_size}")
        default = config.get("VoilaConfiguration", {}).get("default_pool_size", 1)
        config.setdefault("VoilaKernelManager", {}).update(
            kernel_pools_config={"default": {"pool_size": default}, f"{app}.ipynb": {"pool_size": class_size}},
            fill_delay=CLASS_FILL_DELAY_S)
    if template:
        config.setdefault("VoilaConfiguration", {})["template"] = TEMPLATE
    return [f"--{section}.{trait}={json.dumps(value) if not isinstance(value, str) else value}"
            for section, traits in config.items() for trait, value in traits.items()]


def voila_command(*, port: int = 8866, preheat: bool = True, class_size: int | None = None,
                  folder: Path | None = None) -> list[str]:
    """The Voila command serving the apps folder on 127.0.0.1 with caselib's template.

    Run it with :func:`voila_env` as the environment.
    """
    folder = folder or apps_dir()
    voila = shutil.which("voila") or str(Path(sys.executable).with_name("voila"))
    return [voila, str(folder), "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1",
            *voila_args(preheat=preheat, class_size=class_size, folder=folder, template=True)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m caselib.ui.apps.serve",
                                description="serve the classroom apps with Voila")
    p.add_argument("--port", type=int, default=8866)
    p.add_argument("--no-preheat", action="store_true", help="start a kernel per page (no pool)")
    p.add_argument("--class-size", type=int, default=None,
                   help="keep this many preheated case-browser kernels for a class arriving at once")
    args = p.parse_args(argv)
    cmd = voila_command(port=args.port, preheat=not args.no_preheat, class_size=args.class_size)
    print(" ".join(cmd), flush=True)
    os.execvpe(cmd[0], cmd, voila_env())
    return 0  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
