"""Teaching content as data: cases, questions, grading, variants and the CSV question bank.

Standard library and PyYAML only (no widgets, pandas or pydicom), so graders
and nbgrader can use it anywhere.

- :mod:`~caselib.cases.schema`: ``case.yaml`` -> :class:`Case` (frozen,
  validated; errors name file, field path, expected and found);
  :meth:`Case.student_view` hides findings, diagnosis and answers.
- :mod:`~caselib.cases.questions`: the eight question types.
- :mod:`~caselib.cases.grading`: pure ``grade(question, answer) -> GradeResult``.
- :mod:`~caselib.cases.variants`: :func:`draw_variant`, HMAC-SHA256 based.
- :mod:`~caselib.cases.bank_csv`: spreadsheet import/export and the template.

Examples
--------
>>> from caselib.cases import Numeric, Text, grade
>>> q = Numeric(id="q1", prompt=Text(zh="测量直径", en="Measure the diameter"),
...             answer=12.0, abs_tol=1.0, unit="mm")
>>> grade(q, 12.8).score, grade(q, 13.5).score
(1.0, 0.0)
"""
from __future__ import annotations

from caselib.cases.bank_csv import COLUMNS, export_bank_csv, import_bank_csv, write_template
from caselib.cases.export import ExportReport, export_moodle_xml, export_qti21
from caselib.cases.grading import (
    GradeResult,
    grade,
    grade_free_text,
    grade_hotspot,
    grade_multiple_choice,
    grade_numeric,
    grade_ordering,
    grade_single_choice,
    grade_true_false,
    grade_window,
    kendall_tau,
)
from caselib.cases.pbl import (
    PBLCase,
    PBLError,
    PBLEvent,
    PBLSession,
    PBLStage,
    PBLStateError,
    PromptNotAvailableError,
    SessionFinishedError,
    StageIncompleteError,
    StageView,
    load_pbl_case,
)
from caselib.cases.questions import (
    QUESTION_TYPES,
    FreeText,
    Hotspot,
    MultipleChoice,
    Numeric,
    Ordering,
    Question,
    SingleChoice,
    TrueFalse,
    WindowChoice,
    question_from_dict,
)
from caselib.cases.schema import (
    ROI,
    Case,
    CaseSchemaError,
    CircleROI,
    Confirmation,
    EllipseROI,
    Finding,
    PointROI,
    SeriesRef,
    StudentView,
    Text,
    load_case,
    roi_from_dict,
)
from caselib.cases.variants import draw_variant, shuffle_for_student

__all__ = [
    "ExportReport", "export_moodle_xml", "export_qti21",
    "PBLCase", "PBLStage", "PBLSession", "StageView", "PBLEvent", "load_pbl_case",
    "PBLError", "PromptNotAvailableError", "StageIncompleteError", "SessionFinishedError", "PBLStateError",
    # schema
    "Case", "CaseSchemaError", "CircleROI", "Confirmation", "EllipseROI", "Finding", "PointROI",
    "ROI", "SeriesRef", "StudentView", "Text", "load_case", "roi_from_dict",
    # questions
    "QUESTION_TYPES", "Question", "SingleChoice", "MultipleChoice", "TrueFalse", "Numeric",
    "Hotspot", "WindowChoice", "Ordering", "FreeText", "question_from_dict",
    # grading
    "GradeResult", "grade", "grade_single_choice", "grade_multiple_choice", "grade_true_false",
    "grade_numeric", "grade_hotspot", "grade_window", "grade_ordering", "grade_free_text",
    "kendall_tau",
    # variants
    "draw_variant", "shuffle_for_student",
    # spreadsheet
    "COLUMNS", "import_bank_csv", "export_bank_csv", "write_template",
]
