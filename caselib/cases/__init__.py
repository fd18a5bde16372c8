"""Teaching content as data: cases, questions, grading, variants and the CSV question bank.

Standard library and PyYAML only at import (no widgets, pandas or pydicom), so
graders and nbgrader can use it anywhere; numpy, caselib.imaging and
caselib.dicom are imported only when an image is rendered or a library is
validated with ``check_images=True``, and openpyxl only for ``.xlsx``.

- :mod:`~caselib.cases.schema`: ``case.yaml`` -> :class:`Case` (frozen,
  validated; errors name file, field path, expected and found);
  :meth:`Case.student_view` hides findings, diagnosis and answers.
- :mod:`~caselib.cases.questions`: the eight question types.
- :mod:`~caselib.cases.grading`: pure ``grade(question, answer) -> GradeResult``.
- :mod:`~caselib.cases.variants`: :func:`draw_variant`, HMAC-SHA256 based.
- :mod:`~caselib.cases.bank_csv`: spreadsheet import/export (CSV and XLSX) and the template.
- :mod:`~caselib.cases.images`: a question's slice rendered at its window as PNG
  (:mod:`zlib`), for the exports.
- :mod:`~caselib.cases.export`: Moodle XML and QTI 2.1 (with images), and
  structure checks of both.
- :mod:`~caselib.cases.library`: load and validate the case library (every
  problem named), find each case's series in an archive after ingest remapped
  the UIDs, organ-system tree, text/facet search and the "unknown" mode.

Examples
--------
>>> from caselib.cases import Numeric, Text, grade
>>> q = Numeric(id="q1", prompt=Text(zh="测量直径", en="Measure the diameter"),
...             answer=12.0, abs_tol=1.0, unit="mm")
>>> grade(q, 12.8).score, grade(q, 13.5).score
(1.0, 0.0)
"""
from __future__ import annotations

from caselib.cases.bank_csv import COLUMNS, export_bank_csv, import_bank_csv, import_bank_xlsx, write_template
from caselib.cases.export import ExportReport, check_moodle_xml, check_qti_package, export_moodle_xml, export_qti21
from caselib.cases.images import LoadedImage, encode_png, manifest_image_loader, render_image
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
    QuestionImage,
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
    collect_case_problems,
    load_case,
    roi_from_dict,
)
from caselib.cases.library import (
    CaseProblem,
    Library,
    Resolution,
    case_record,
    case_tree,
    keyring_for_archive,
    load_library,
    resolve_series,
    search_cases,
    sync_catalog,
    unknown_labels,
    unknown_student_view,
    validate_library,
)
from caselib.cases.variants import draw_variant, shuffle_for_student

__all__ = [
    "ExportReport", "export_moodle_xml", "export_qti21", "check_moodle_xml", "check_qti_package",
    "LoadedImage", "encode_png", "manifest_image_loader", "render_image",
    "PBLCase", "PBLStage", "PBLSession", "StageView", "PBLEvent", "load_pbl_case",
    "PBLError", "PromptNotAvailableError", "StageIncompleteError", "SessionFinishedError", "PBLStateError",
    # schema
    "Case", "CaseSchemaError", "CircleROI", "Confirmation", "EllipseROI", "Finding", "PointROI",
    "ROI", "SeriesRef", "StudentView", "Text", "load_case", "roi_from_dict", "collect_case_problems",
    # library, series resolution, navigation
    "CaseProblem", "Library", "Resolution", "load_library", "validate_library", "case_record",
    "resolve_series", "sync_catalog", "keyring_for_archive", "case_tree", "search_cases",
    "unknown_labels", "unknown_student_view",
    # questions
    "QUESTION_TYPES", "Question", "QuestionImage", "SingleChoice", "MultipleChoice", "TrueFalse", "Numeric",
    "Hotspot", "WindowChoice", "Ordering", "FreeText", "question_from_dict",
    # grading
    "GradeResult", "grade", "grade_single_choice", "grade_multiple_choice", "grade_true_false",
    "grade_numeric", "grade_hotspot", "grade_window", "grade_ordering", "grade_free_text",
    "kendall_tau",
    # variants
    "draw_variant", "shuffle_for_student",
    # spreadsheet
    "COLUMNS", "import_bank_csv", "import_bank_xlsx", "export_bank_csv", "write_template",
]
