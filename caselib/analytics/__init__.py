"""Exam and homework statistics: the nbgrader gradebook and graded responses -> pandas.

- :mod:`~caselib.analytics.gradebook`: :func:`read_gradebook` (one row per
  graded cell), :func:`read_responses` (one row per drawn item, from the
  records :mod:`caselib.assignments` graders leave in the autograded
  notebooks), :func:`student_totals`, :func:`export_grades_csv`.
- :mod:`~caselib.analytics.items`: classical item analysis:
  :func:`item_analysis` (difficulty *p*, upper/lower 27 % discrimination *D*,
  point-biserial correlation), :func:`distractor_table`, :func:`mastery`.
- :mod:`~caselib.analytics.plots`: matplotlib figures (returned, never shown).
- :mod:`~caselib.analytics.demo`: SYNTHETIC responses and usage events for
  the instructor notebook and tests.

pandas and matplotlib are imported here (not by the core); nothing here
imports widgets.
"""
from __future__ import annotations

from caselib.analytics.gradebook import (
    export_grades_csv,
    gradebook_items,
    read_gradebook,
    read_responses,
    student_totals,
)
from caselib.analytics.items import (
    GROUP_FRACTION,
    distractor_table,
    item_analysis,
    mastery,
    mastery_summary,
    totals_by_student,
)

__all__ = [
    "read_gradebook", "read_responses", "student_totals", "export_grades_csv", "gradebook_items",
    "GROUP_FRACTION", "item_analysis", "distractor_table", "mastery", "mastery_summary",
    "totals_by_student",
]
