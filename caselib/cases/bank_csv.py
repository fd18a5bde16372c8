"""Question bank <-> spreadsheet (CSV or XLSX) for teachers who write questions in Excel/WPS.

One row per question, one column per field (:data:`COLUMNS`; order free on
import, unknown columns refused so that typos are caught).  Row numbers in
errors are spreadsheet rows: the header is row 1.

The same template works as CSV and as an Excel workbook: every function
chooses the format by the file's suffix (``.xlsx`` -> workbook, anything else
-> CSV), so ``caselib bank template bank.xlsx`` and ``caselib bank import
bank.xlsx`` need nothing more.  A workbook is read from its first sheet (or
the sheet named ``questions``); numbers typed as numbers are read back exactly
(``12.0`` -> ``12``).  XLSX needs ``openpyxl`` (MIT), imported only then.

Encoding: files are written as **UTF-8 with a byte-order mark** (BOM,
``utf-8-sig``).  Excel only recognises a CSV as UTF-8 when it starts with
the BOM; without it, Chinese Excel reads the file as GBK and the Chinese text
is garbled.  On import the BOM is optional.  When saving from Excel choose
"CSV UTF-8 (逗号分隔)"; a file saved as plain "CSV" is GBK and can be read with
``import_bank_csv(path, encoding="gb18030")``.

Cells
-----
``id``, ``type``
    Question id (unique in the file) and one of ``single_choice``,
    ``multiple_choice``, ``true_false``, ``numeric``, ``hotspot``, ``window``,
    ``ordering``, ``free_text``.
``prompt_zh``, ``prompt_en``
    The question (both required).
``max_score``
    Optional, default 1.
``options_zh``, ``options_en``
    Choice options or ordering items, separated by ``|``
    (``肺炎 | 肺癌 | 结核``); both languages list the same number.
``answer``
    ``single_choice``: a letter (``B``) or 1-based number; ``multiple_choice``:
    letters (``A,C`` or ``AC``); ``true_false``: ``true``/``false``
    (also ``T``/``F``, ``对``/``错``, ``是``/``否``, ``正确``/``错误``);
    ``numeric``: the number; ``ordering``: the item letters in the correct
    order (``C,A,B``).  Empty for the other types.
``abs_tol``, ``rel_tol``, ``unit``
    ``numeric`` only (``rel_tol`` is a fraction: ``0.1`` = 10 %).
``scoring``
    ``ordering`` only: ``kendall`` (default) or ``all_or_nothing``.
``series``, ``slice_index``, ``pixel_spacing``, ``roi``, ``tolerance_mm``
    ``hotspot`` only.  ``series`` is a data-manifest key, or a Series
    Instance UID (digits and dots); ``pixel_spacing`` is ``row_mm,col_mm``;
    ``roi`` is ``circle ROW COL RADIUS_MM``, ``ellipse ROW COL RROW_MM
    RCOL_MM`` or ``point ROW COL TOLERANCE_MM``.
``center_min``, ``center_max``, ``width_min``, ``width_max``
    ``window`` only: the accepted ranges (inclusive).
``rubric_zh``, ``rubric_en``, ``model_answer_zh``, ``model_answer_en``
    ``free_text`` only (rubric required).
``explanation_zh``, ``explanation_en``
    Optional, shown after grading.
``image_series``, ``image_slice_index``, ``image_window``
    Optional: the image the question is asked on (a manifest key or Series
    UID, the 0-based slice, and ``CENTER,WIDTH``); exports render it at that
    window.  For a hotspot only ``image_window`` is used (its image is
    ``series`` / ``slice_index``).
"""
from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from caselib.cases.questions import (
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
from caselib.cases.schema import CaseSchemaError, CircleROI, EllipseROI, Text

__all__ = ["COLUMNS", "OPTION_SEPARATOR", "import_bank_csv", "export_bank_csv", "write_template",
           "import_bank_xlsx", "is_xlsx"]

COLUMNS: tuple[str, ...] = (
    "id", "type", "max_score", "prompt_zh", "prompt_en", "options_zh", "options_en", "answer",
    "abs_tol", "rel_tol", "unit", "scoring",
    "series", "slice_index", "pixel_spacing", "roi", "tolerance_mm",
    "center_min", "center_max", "width_min", "width_max",
    "rubric_zh", "rubric_en", "model_answer_zh", "model_answer_en",
    "explanation_zh", "explanation_en",
    "image_series", "image_slice_index", "image_window",
)
_REQUIRED_COLUMNS = ("id", "type", "prompt_zh", "prompt_en")
OPTION_SEPARATOR = "|"
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_TRUE = {"true", "t", "yes", "y", "对", "是", "正确", "√"}
_FALSE = {"false", "f", "no", "n", "错", "否", "错误", "×"}
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


class _RowError(Exception):
    def __init__(self, column: str, expected: str, found: str) -> None:
        self.column, self.expected, self.found = column, expected, found


def _fmt(x: float) -> str:
    """Shortest text that reads back as the same float (``40`` not ``40.0``)."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(float(x))


def _number(row: dict[str, str], col: str, default: float | None = None) -> float | None:
    raw = row.get(col, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise _RowError(col, "a number", repr(raw)) from None


def _req_number(row: dict[str, str], col: str) -> float:
    v = _number(row, col)
    if v is None:
        raise _RowError(col, "a number", "an empty cell")
    return v


def _int(row: dict[str, str], col: str) -> int:
    raw = row.get(col, "").strip()
    if not re.fullmatch(r"\d+", raw):
        raise _RowError(col, "a non-negative whole number", repr(raw) if raw else "an empty cell")
    return int(raw)


def _split_options(row: dict[str, str], lang: str) -> list[str]:
    raw = row.get(f"options_{lang}", "")
    parts = [p.strip() for p in raw.split(OPTION_SEPARATOR)] if raw.strip() else []
    return parts


def _options(row: dict[str, str]) -> list[dict[str, str]]:
    zh, en = _split_options(row, "zh"), _split_options(row, "en")
    if len(zh) < 2:
        raise _RowError("options_zh", f"at least 2 options separated by {OPTION_SEPARATOR!r}",
                        f"{len(zh)}")
    if len(zh) != len(en):
        raise _RowError("options_en", f"{len(zh)} options (as many as options_zh)", f"{len(en)}")
    for col, parts in (("options_zh", zh), ("options_en", en)):
        if any(not p for p in parts):
            raise _RowError(col, "no empty option", repr(row.get(col, "")))
    return [{"zh": z, "en": e} for z, e in zip(zh, en)]


def _letters(row: dict[str, str], n: int) -> list[int]:
    raw = row.get("answer", "").strip().upper()
    tokens = [t for t in re.split(r"[\s,，;；、]+", raw) if t]
    if len(tokens) == 1 and len(tokens[0]) > 1 and tokens[0].isalpha():
        tokens = list(tokens[0])
    out = []
    for t in tokens:
        if len(t) == 1 and t in _LETTERS[:n]:
            out.append(_LETTERS.index(t))
        elif t.isdigit() and 1 <= int(t) <= n:
            out.append(int(t) - 1)
        else:
            raise _RowError("answer", f"option letters A-{_LETTERS[n - 1]} (or numbers 1-{n})",
                            repr(row.get("answer", "")))
    if not out:
        raise _RowError("answer", "option letters", "an empty cell")
    return out


def _text(row: dict[str, str], stem: str, required: bool) -> dict[str, str] | None:
    zh, en = row.get(f"{stem}_zh", "").strip(), row.get(f"{stem}_en", "").strip()
    if not zh and not en and not required:
        return None
    for lang, v in (("zh", zh), ("en", en)):
        if not v:
            raise _RowError(f"{stem}_{lang}", "text", "an empty cell")
    return {"zh": zh, "en": en}


def _row_to_dict(row: dict[str, str]) -> dict[str, Any]:
    kind = row.get("type", "").strip()
    d: dict[str, Any] = {"type": kind, "id": row.get("id", "").strip(),
                         "prompt": _text(row, "prompt", required=True)}
    ms = _number(row, "max_score")
    if ms is not None:
        d["max_score"] = ms
    expl = _text(row, "explanation", required=False)
    if expl is not None:
        d["explanation"] = expl
    image = _image(row, kind)
    if image is not None:
        d["image"] = image
    if kind in ("single_choice", "multiple_choice"):
        d["options"] = _options(row)
        letters = _letters(row, len(d["options"]))
        if kind == "single_choice":
            if len(letters) != 1:
                raise _RowError("answer", "exactly one option letter", repr(row.get("answer", "")))
            d["answer"] = letters[0]
        else:
            d["answers"] = letters
    elif kind == "true_false":
        raw = row.get("answer", "").strip()
        if raw.casefold() in _TRUE:
            d["answer"] = True
        elif raw.casefold() in _FALSE:
            d["answer"] = False
        else:
            raise _RowError("answer", "true or false (T/F, 对/错)", repr(raw) if raw else "an empty cell")
    elif kind == "numeric":
        d["answer"] = _req_number(row, "answer")
        d["abs_tol"] = _number(row, "abs_tol", 0.0)
        d["rel_tol"] = _number(row, "rel_tol", 0.0)
        d["unit"] = row.get("unit", "").strip()
    elif kind == "hotspot":
        series = row.get("series", "").strip()
        if not series:
            raise _RowError("series", "a manifest key or Series Instance UID", "an empty cell")
        d["series"] = {"series_uid": series} if _UID.match(series) else {"manifest_key": series}
        d["slice_index"] = _int(row, "slice_index")
        sp = [t for t in re.split(r"[\s,\\]+", row.get("pixel_spacing", "").strip()) if t]
        try:
            if len(sp) != 2:
                raise ValueError
            d["pixel_spacing"] = [float(sp[0]), float(sp[1])]
        except ValueError:
            raise _RowError("pixel_spacing", "two numbers row_mm,col_mm",
                            repr(row.get("pixel_spacing", ""))) from None
        d["roi"] = _parse_roi(row.get("roi", ""))
        d["tolerance_mm"] = _number(row, "tolerance_mm", 0.0)
    elif kind == "window":
        d["center_range"] = [_req_number(row, "center_min"), _req_number(row, "center_max")]
        d["width_range"] = [_req_number(row, "width_min"), _req_number(row, "width_max")]
    elif kind == "ordering":
        d["items"] = _options(row)
        d["answer"] = _letters(row, len(d["items"]))
        scoring = row.get("scoring", "").strip()
        d["scoring"] = scoring or "kendall"
    elif kind == "free_text":
        d["rubric"] = _text(row, "rubric", required=True)
        model = _text(row, "model_answer", required=False)
        if model is not None:
            d["model_answer"] = model
    return d


def _series_ref(raw: str) -> dict[str, str]:
    return {"series_uid": raw} if _UID.match(raw) else {"manifest_key": raw}


def _image(row: dict[str, str], kind: str) -> dict[str, Any] | None:
    series = row.get("image_series", "").strip()
    slice_raw = row.get("image_slice_index", "").strip()
    window_raw = row.get("image_window", "").strip()
    if not (series or slice_raw or window_raw):
        return None
    window = None
    if window_raw:
        parts = [t for t in re.split(r"[\s,\\]+", window_raw) if t]
        try:
            if len(parts) != 2:
                raise ValueError
            window = [float(parts[0]), float(parts[1])]
        except ValueError:
            raise _RowError("image_window", "two numbers CENTER,WIDTH", repr(window_raw)) from None
    if kind == "hotspot":
        series, slice_raw = row.get("series", "").strip(), row.get("slice_index", "").strip()
    if not series:
        raise _RowError("image_series", "a manifest key or Series Instance UID (with image_slice_index)",
                        "an empty cell")
    d: dict[str, Any] = {"series": _series_ref(series),
                         "slice_index": _int(row, "slice_index" if kind == "hotspot" else "image_slice_index")}
    if window is not None:
        d["window"] = window
    return d


_ROI_SHAPES = {"circle": ("radius_mm",), "ellipse": ("radius_row_mm", "radius_col_mm"),
               "point": ("tolerance_mm",)}


def _parse_roi(raw: str) -> dict[str, Any]:
    parts = raw.split()
    expected = "'circle ROW COL RADIUS_MM', 'ellipse ROW COL RROW_MM RCOL_MM' or 'point ROW COL TOL_MM'"
    if not parts or parts[0].lower() not in _ROI_SHAPES:
        raise _RowError("roi", expected, repr(raw) if raw.strip() else "an empty cell")
    shape = parts[0].lower()
    names = ("row", "col", *_ROI_SHAPES[shape])
    if len(parts) - 1 != len(names):
        raise _RowError("roi", expected, repr(raw))
    try:
        values = [float(p) for p in parts[1:]]
    except ValueError:
        raise _RowError("roi", expected, repr(raw)) from None
    return {"shape": shape, **dict(zip(names, values))}


def is_xlsx(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` names an Excel workbook (``.xlsx`` / ``.xlsm``): read and written as XLSX."""
    return Path(path).suffix.lower() in (".xlsx", ".xlsm")


def _openpyxl() -> Any:
    try:
        import openpyxl
    except ImportError:
        raise ImportError("reading or writing .xlsx needs openpyxl (MIT): pip install openpyxl; "
                          "or save the sheet as 'CSV UTF-8 (逗号分隔)'") from None
    return openpyxl


def _cell_text(value: object) -> str:
    """A workbook cell as the text the CSV would hold (numbers typed in Excel read back exactly)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _fmt(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()  # type: ignore[no-any-return]
    return str(value)


def _xlsx_rows(path: Path) -> list[list[str]]:
    openpyxl = _openpyxl()
    import zipfile

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ValueError(f"{path}: not a readable .xlsx workbook ({type(exc).__name__}: {exc}); "
                         "save it from Excel/WPS as 'Excel workbook (*.xlsx)'") from None
    try:
        ws = wb["questions"] if "questions" in wb.sheetnames else wb.worksheets[0]
        rows = [[_cell_text(v) for v in r] for r in ws.iter_rows(values_only=True)]
    finally:
        wb.close()
    for r in rows:
        while r and r[-1] == "":
            r.pop()
    return rows


def import_bank_xlsx(path: str | os.PathLike[str]) -> list[Question]:
    """Read a question bank from an Excel workbook (same columns as the CSV template).

    Equivalent to :func:`import_bank_csv` on a ``.xlsx`` path; errors name the
    sheet row (header = row 1) and column.
    """
    if not is_xlsx(path):
        raise ValueError(f"{path}: expected a .xlsx workbook, found suffix {Path(path).suffix!r}")
    return import_bank_csv(path)


def _read_rows(path: Path, encoding: str) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    if is_xlsx(path):
        rows = _xlsx_rows(path)
    else:
        try:
            with path.open("r", encoding=encoding, newline="") as fh:
                reader = csv.reader(fh)
                rows = list(reader)
        except UnicodeDecodeError:
            raise ValueError(f"{path}: not {encoding} text; in Excel save as 'CSV UTF-8 (逗号分隔)', "
                             "or pass encoding='gb18030' for a GBK file") from None
    if not rows:
        raise CaseSchemaError(f"{path}: row 1", "header", "a header row with columns "
                              + ", ".join(_REQUIRED_COLUMNS), "an empty file")
    header = [h.strip() for h in rows[0]]
    unknown = [h for h in header if h and h not in COLUMNS]
    if unknown:
        raise CaseSchemaError(f"{path}: row 1", "header", "columns from " + ", ".join(COLUMNS),
                              f"unknown column(s) {', '.join(map(repr, unknown))}")
    missing = [c for c in _REQUIRED_COLUMNS if c not in header]
    if missing:
        raise CaseSchemaError(f"{path}: row 1", "header", "the columns " + ", ".join(_REQUIRED_COLUMNS),
                              f"no column {', '.join(map(repr, missing))}")
    dup = sorted({h for h in header if h and header.count(h) > 1})
    if dup:
        raise CaseSchemaError(f"{path}: row 1", "header", "each column once",
                              f"repeated column(s) {', '.join(dup)}")
    out = []
    for n, cells in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > len(header) and any(c.strip() for c in cells[len(header):]):
            raise CaseSchemaError(f"{path}: row {n}", "", f"at most {len(header)} cells",
                                  f"{len(cells)} cells")
        out.append((n, {h: c for h, c in zip(header, cells) if h}))
    return header, out


def import_bank_csv(path: str | os.PathLike[str], *, encoding: str = "utf-8-sig") -> list[Question]:
    """Read a question bank from a CSV spreadsheet (or an ``.xlsx`` workbook, by its suffix).

    Parameters
    ----------
    path : path-like
        The CSV file or ``.xlsx`` workbook (columns: module docstring).
    encoding : str
        ``'utf-8-sig'`` (default; the BOM is optional) or ``'gb18030'`` for a
        file Excel saved as plain "CSV" on Chinese Windows.

    Returns
    -------
    list of Question
        In row order.

    Raises
    ------
    CaseSchemaError
        Naming the file, the spreadsheet row (header = row 1), the column or
        field, what was expected and what was found, e.g.
        ``bank.csv: row 3: answer: expected option letters A-D (or numbers 1-4), found 'E'``.
    ValueError
        If the file is not in ``encoding``.
    """
    p = Path(path)
    _, rows = _read_rows(p, encoding)
    questions: list[Question] = []
    seen: dict[str, int] = {}
    for n, row in rows:
        origin = f"{p}: row {n}"
        try:
            d = _row_to_dict(row)
        except _RowError as e:
            raise CaseSchemaError(origin, e.column, e.expected, e.found) from None
        q = question_from_dict(d, origin=origin, path="")
        if q.id in seen:
            raise CaseSchemaError(origin, "id", f"an id not used before (row {seen[q.id]} has it)",
                                  repr(q.id))
        seen[q.id] = n
        questions.append(q)
    return questions


def _check_cell_options(q: Question, texts: Iterable[Text]) -> None:
    for t in texts:
        for v in (t.zh, t.en):
            if OPTION_SEPARATOR in v:
                raise ValueError(f"question {q.id}: option {v!r} contains the separator "
                                 f"{OPTION_SEPARATOR!r} and cannot be written to the CSV")


def _question_to_row(q: Question) -> dict[str, str]:
    row = dict.fromkeys(COLUMNS, "")
    row.update(id=q.id, type=q.kind, max_score=_fmt(q.max_score),
               prompt_zh=q.prompt.zh, prompt_en=q.prompt.en)
    if q.explanation is not None:
        row.update(explanation_zh=q.explanation.zh, explanation_en=q.explanation.en)
    if q.image is not None:
        if not isinstance(q, Hotspot):
            row.update(image_series=q.image.series.ref, image_slice_index=str(q.image.slice_index))
        if q.image.window is not None:
            row["image_window"] = ",".join(_fmt(v) for v in q.image.window)

    def put_options(texts: tuple[Text, ...]) -> None:
        _check_cell_options(q, texts)
        sep = f" {OPTION_SEPARATOR} "
        row["options_zh"] = sep.join(t.zh for t in texts)
        row["options_en"] = sep.join(t.en for t in texts)

    if isinstance(q, SingleChoice):
        put_options(q.options)
        row["answer"] = _LETTERS[q.answer]
    elif isinstance(q, MultipleChoice):
        put_options(q.options)
        row["answer"] = ",".join(_LETTERS[i] for i in q.answers)
    elif isinstance(q, TrueFalse):
        row["answer"] = "true" if q.answer else "false"
    elif isinstance(q, Numeric):
        row.update(answer=_fmt(q.answer), abs_tol=_fmt(q.abs_tol), rel_tol=_fmt(q.rel_tol), unit=q.unit)
    elif isinstance(q, Hotspot):
        row["series"] = q.series.ref
        if q.series.manifest_key is not None and _UID.match(q.series.manifest_key):
            raise ValueError(f"question {q.id}: manifest key {q.series.manifest_key!r} looks like a "
                             "Series UID and would read back as one")
        row["slice_index"] = str(q.slice_index)
        row["pixel_spacing"] = ",".join(_fmt(v) for v in q.pixel_spacing)
        roi = q.roi
        if isinstance(roi, CircleROI):
            shape, vals = "circle", [roi.row, roi.col, roi.radius_mm]
        elif isinstance(roi, EllipseROI):
            shape, vals = "ellipse", [roi.row, roi.col, roi.radius_row_mm, roi.radius_col_mm]
        else:
            shape, vals = "point", [roi.row, roi.col, roi.tolerance_mm]
        row["roi"] = " ".join([shape, *(_fmt(v) for v in vals)])
        row["tolerance_mm"] = _fmt(q.tolerance_mm)
    elif isinstance(q, WindowChoice):
        row.update(center_min=_fmt(q.center_range[0]), center_max=_fmt(q.center_range[1]),
                   width_min=_fmt(q.width_range[0]), width_max=_fmt(q.width_range[1]))
    elif isinstance(q, Ordering):
        put_options(q.items)
        row["answer"] = ",".join(_LETTERS[i] for i in q.answer)
        row["scoring"] = q.scoring
    elif isinstance(q, FreeText):
        row.update(rubric_zh=q.rubric.zh, rubric_en=q.rubric.en)
        if q.model_answer is not None:
            row.update(model_answer_zh=q.model_answer.zh, model_answer_en=q.model_answer.en)
    else:
        raise TypeError(f"cannot export {type(q).__name__}: not a caselib question type")
    return row


def export_bank_csv(questions: Iterable[Question], path: str | os.PathLike[str]) -> None:
    """Write questions to a CSV spreadsheet (UTF-8 with BOM; ``.xlsx`` by suffix) that
    :func:`import_bank_csv` reads back.

    Raises
    ------
    TypeError
        If an item is not a question.
    ValueError
        If ids repeat, an option contains ``|``, or a question has more than 26 options.
    """
    rows = []
    seen: set[str] = set()
    for q in questions:
        if not isinstance(q, Question):
            raise TypeError(f"export_bank_csv expects Question objects, got {type(q).__name__}")
        if q.id in seen:
            raise ValueError(f"question id {q.id!r} appears twice")
        seen.add(q.id)
        n = len(getattr(q, "options", getattr(q, "items", ())))
        if n > len(_LETTERS):
            raise ValueError(f"question {q.id}: {n} options, the CSV letters allow at most 26")
        rows.append(_question_to_row(q))
    _write(Path(path), rows)


def write_template(path: str | os.PathLike[str]) -> None:
    """Write the empty question-bank template: the header row only (CSV UTF-8 with BOM, or ``.xlsx``).

    Teachers open it in Excel/WPS, add one row per question and save it (as
    "CSV UTF-8 (逗号分隔)" for a CSV); the columns are described in the module docstring.
    """
    _write(Path(path), [])


def _write(path: Path, rows: list[dict[str, str]]) -> None:
    if is_xlsx(path):
        _write_xlsx(path, rows)
        return
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(COLUMNS), lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def _write_xlsx(path: Path, rows: list[dict[str, str]]) -> None:
    openpyxl = _openpyxl()
    from openpyxl.styles import Font

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "questions"
    ws.append(list(COLUMNS))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append([row.get(c, "") for c in COLUMNS])
    from openpyxl.utils import get_column_letter

    # text format, so that Excel does not turn 'A,C', '1.2.840...' or '40,400' into a number or a date
    for i in range(1, len(COLUMNS) + 1):
        ws.column_dimensions[get_column_letter(i)].number_format = "@"
    for row_cells in ws.iter_rows(min_row=2):
        for cell in row_cells:
            cell.number_format = "@"
    ws.freeze_panes = "A2"
    tmp = path.with_name(path.name + ".tmp")
    wb.save(tmp)
    os.replace(tmp, path)
