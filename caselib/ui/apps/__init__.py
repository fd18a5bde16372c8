"""The classroom apps (Voila dashboards) and the library they open.

- :class:`CaseBrowser`: case tree + search + viewer + write-up, findings on demand.
- :class:`WindowingDemo`: live window/level on CT with presets and the HU histogram.
- :class:`PBLPlayer`: a PBL case stage by stage, later stages kept in the kernel.
- :class:`Quiz`: self-test from the question bank with instant feedback.
- :func:`open_library`: the cases, PBL cases and questions the apps show.
- :mod:`~caselib.ui.apps.serve`: the Voila command (preheated kernels, culling).

Each app is a widget; a notebook shows it by leaving it as the cell's last
expression (the apps never call ``display()`` themselves).
"""
from __future__ import annotations

from .browser import CaseBrowser
from .library import CaseLibrary, QuizItem, open_library
from .pbl import PBLPlayer
from .quiz import Quiz
from .windowing import WindowingDemo

__all__ = ["CaseBrowser", "WindowingDemo", "PBLPlayer", "Quiz", "CaseLibrary", "QuizItem", "open_library"]
