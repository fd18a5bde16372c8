"""Shared pytest fixtures: a real browser and real Jupyter servers (see browser_support.py)."""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests/ helpers importable from tests/browser/

from browser_support import chromium_problem, launch_chromium, start_server  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(autouse=True, scope="session")
def _usage_log_in_tmp(tmp_path_factory):
    """Tests never write the user's real usage log: it goes to a session temp file."""
    if "CASELIB_USAGE_LOG" in os.environ:
        yield
        return
    os.environ["CASELIB_USAGE_LOG"] = str(tmp_path_factory.mktemp("usage") / "usage.jsonl")
    try:
        yield
    finally:
        os.environ.pop("CASELIB_USAGE_LOG", None)


@pytest.fixture(scope="session")
def chromium_browser():
    """Debian chromium through playwright (sync API), shared by the session."""
    problem = chromium_problem()
    if problem:
        # a missing browser is a broken set-up, not a reason to skip: CI installs it
        pytest.fail(problem, pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def jupyter_servers(tmp_path_factory):
    """Factory: ``start(kind, root, *, args=(), env=None)`` -> RunningServer (stopped at the end)."""
    started = []
    logs = tmp_path_factory.mktemp("server-logs")

    def start(kind, root, *, args=(), env=None, token=None):
        server = start_server(kind, root, args=args, env=env, token=token, log_dir=logs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def artifact_dir(request) -> Path:
    """``test-artifacts/<test name>/`` for screenshots and captured frames (kept after the run)."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid.split("::", 1)[-1])[:120]
    module = Path(request.node.fspath).stem
    path = ARTIFACTS / module / name
    path.mkdir(parents=True, exist_ok=True)
    return path
