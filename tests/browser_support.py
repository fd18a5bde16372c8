"""Real servers and a real browser for the browser tests.

- :func:`launch_chromium` starts Debian's ``/usr/bin/chromium`` through
  playwright (no browser download), headless, with a fresh profile.
- :class:`RunningServer` / :func:`start_server` start JupyterLab or Voila as a
  child process on a free loopback port, wait until it answers, and stop it
  (the whole process group, kernels included).

The pytest fixtures built on these live in ``tests/conftest.py``.
"""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

CHROMIUM = os.environ.get("CASELIB_CHROMIUM", "/usr/bin/chromium")

CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    # headless Chromium 156 starts a renderer for the address-bar popup with every new context:
    # ~0.4 s of CPU per page on 2 cores (bench/voila_first_render.py)
    "--disable-features=WebUIOmniboxPopup,WebUIOmniboxAimPopup",
)

STARTUP_TIMEOUT_S = float(os.environ.get("CASELIB_SERVER_TIMEOUT", "90"))


def chromium_problem() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not Path(CHROMIUM).exists():
        return (f"Debian chromium not found at {CHROMIUM}: run `make system-deps` "
                "(apt-get install chromium) or set CASELIB_CHROMIUM")
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright for Python is not installed: pip install -e '.[test]'"
    return None


def launch_chromium(playwright, **kwargs):
    """A headless Debian chromium driven by ``playwright`` (sync API)."""
    args = list(CHROMIUM_ARGS) + list(kwargs.pop("args", ()))
    return playwright.chromium.launch(executable_path=CHROMIUM, args=args, headless=True, **kwargs)


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RunningServer:
    """A JupyterLab or Voila server started by :func:`start_server`."""

    kind: str
    root: Path
    port: int
    token: str
    process: subprocess.Popen
    log_path: Path
    workdir: Path
    _stopped: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def url_for(self, path: str = "") -> str:
        """Absolute URL of ``path`` (relative to the server root) with the token."""
        sep = "&" if "?" in path else "?"
        tail = f"{sep}token={quote(self.token)}" if self.token else ""
        return f"{self.url}{path.lstrip('/')}{tail}"

    def log_tail(self, n: int = 40) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(lines[-n:])

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.process.wait(timeout=10)
        shutil.rmtree(self.workdir, ignore_errors=True)


def _jupyter_env(workdir: Path, extra: dict | None) -> dict:
    env = dict(os.environ)
    # private Jupyter dirs: no user config, runtime files or workspaces leak in or out
    env["JUPYTER_CONFIG_DIR"] = str(workdir / "config")
    env["JUPYTER_RUNTIME_DIR"] = str(workdir / "runtime")
    env["JUPYTERLAB_WORKSPACES_DIR"] = str(workdir / "workspaces")
    env["IPYTHONDIR"] = str(workdir / "ipython")
    env.setdefault("CASELIB_USAGE_LOG", "off")
    env["PYTHONUNBUFFERED"] = "1"
    for d in ("config", "runtime", "workspaces", "ipython"):
        (workdir / d).mkdir(parents=True, exist_ok=True)
    if extra:
        env.update({k: str(v) for k, v in extra.items()})
    return env


def server_command(kind: str, root: Path, port: int, token: str, args=()) -> list[str]:
    """The command line that :func:`start_server` runs."""
    bindir = Path(sys.executable).parent
    if kind == "lab":
        cmd = [str(bindir / "jupyter"), "lab", "--no-browser", "--ip=127.0.0.1",
               f"--port={port}", f"--ServerApp.root_dir={root}",
               f"--IdentityProvider.token={token}", "--ServerApp.port_retries=0",
               "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
               "--ServerApp.open_browser=False"]
        if os.geteuid() == 0:
            cmd.append("--allow-root")
    elif kind == "voila":
        cmd = [str(bindir / "voila"), str(root), "--no-browser", f"--port={port}",
               "--Voila.ip=127.0.0.1", "--ServerApp.port_retries=0"]
        if token:
            cmd.append(f"--token={token}")
    else:
        raise ValueError(f"kind must be 'lab' or 'voila', got {kind!r}")
    return cmd + [str(a) for a in args]


def start_server(kind: str, root: str | Path, *, args=(), env: dict | None = None,
                 token: str | None = None, log_dir: str | Path | None = None) -> RunningServer:
    """Start JupyterLab (``kind="lab"``) or Voila (``"voila"``) serving ``root``.

    Returns once an HTTP request to the server answers; raises ``RuntimeError``
    with the log tail when the process exits or does not answer in time.
    """
    root = Path(root).resolve()
    if not root.exists():
        raise FileNotFoundError(f"server root {root} does not exist")
    workdir = Path(tempfile.mkdtemp(prefix=f"caselib-{kind}-"))
    log_dir = Path(log_dir) if log_dir else workdir
    log_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    if token is None:
        token = secrets.token_hex(16) if kind == "lab" else ""
    log_path = log_dir / f"{kind}-{port}.log"
    cmd = server_command(kind, root, port, token, args)
    log = open(log_path, "wb")
    proc = subprocess.Popen(cmd, cwd=root if root.is_dir() else root.parent, stdout=log,
                            stderr=subprocess.STDOUT, env=_jupyter_env(workdir, env),
                            start_new_session=True)
    log.close()
    server = RunningServer(kind, root, port, token, proc, log_path, workdir)
    probe = server.url_for("api/status") if kind == "lab" else server.url_for("")
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            tail = server.log_tail()
            server.stop()
            raise RuntimeError(f"{kind} server exited with code {proc.returncode} before answering; "
                               f"command: {' '.join(cmd)}\nlog tail:\n{tail}")
        try:
            with urllib.request.urlopen(probe, timeout=5) as resp:
                if resp.status < 500:
                    return server
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return server
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        if time.monotonic() > deadline:
            tail = server.log_tail()
            server.stop()
            raise RuntimeError(f"{kind} server did not answer on port {port} within "
                               f"{STARTUP_TIMEOUT_S:.0f} s; log tail:\n{tail}")
        time.sleep(0.2)
