"""Question bank -> Moodle XML and IMS QTI 2.1 (standard library only).

The spreadsheet format lives in :mod:`caselib.cases.bank_csv`
(:func:`~caselib.cases.bank_csv.export_bank_csv`); this module writes the two
formats learning-management systems import.  Both writers take the language
(``'zh'`` or ``'en'``) the bilingual :class:`~caselib.cases.schema.Text`
fields are written in, and return an :class:`ExportReport`: the ids written,
the ids *skipped* with the reason (never dropped silently) and *notes* on
questions written with a scoring rule that differs from
:mod:`caselib.cases.grading`.

Moodle XML (:func:`export_moodle_xml`)
--------------------------------------
``<quiz>`` with one ``<question type=...>`` per question; texts are HTML
(escaped, newlines -> ``<br>``) inside CDATA, ``<name>`` and ``<idnumber>``
are the question id, ``<defaultgrade>`` is ``max_score`` and
``<generalfeedback>`` the explanation.

==================  ===================================================
caselib type        Moodle
==================  ===================================================
single_choice       ``multichoice``, ``<single>true``: the answer 100, others 0
multiple_choice     ``multichoice``, ``<single>false``: each correct option
                    ``100/k`` (k correct options, so they sum to 100), each
                    wrong option ``-100/k``.  Moodle adds the fractions of
                    the ticked options and clamps the total to 0..100 %, which
                    is exactly :func:`~caselib.cases.grading.grade_multiple_choice`
                    (``max(0, (right - wrong) / k)``).  Moodle only accepts
                    fractions from its fixed grade list (1/1 ... 1/10, 1/20),
                    so a question with more than 10 correct options (other
                    than 20) is skipped with the reason.
true_false          ``truefalse``, answers ``true``/``false`` (100 / 0)
numeric             ``numerical``, one answer at 100 % with
                    ``<tolerance>`` = ``max(abs_tol, rel_tol * |answer|)``
                    (Moodle's nominal tolerance, inclusive like ours); the
                    unit is shown in the question text, not graded.
ordering            ``ordering`` (qtype_ordering, part of recent Moodle
                    releases, an add-on plugin before): items in the correct
                    order, ``fraction`` = position.  ``all_or_nothing`` ->
                    ``ALL_OR_NOTHING``; ``kendall`` has no Moodle equivalent
                    and becomes ``RELATIVE_ALL_PREVIOUS_AND_NEXT`` (share of
                    correctly ordered pairs, more lenient than ``max(0, tau)``),
                    recorded in ``notes``.  ``moodle_ordering=False`` skips
                    ordering questions instead.
free_text           ``essay``, rubric and model answer in ``<graderinfo>``
hotspot             ``ddmarker`` (drag-and-drop markers, Moodle core): the
                    slice rendered at the question's window as the
                    background ``<file>``, one marker, one drop zone = the
                    ROI grown by ``tolerance_mm`` (``circle`` "x,y;r" in
                    image pixels; an ellipse or non-square pixels become a
                    24-point ``polygon``).  Same rule as
                    :func:`~caselib.cases.grading.grade_hotspot` up to the
                    pixel rounding of the zone.
window              skipped: Moodle has no window/level question type.
==================  ===================================================

Images: a question with ``image`` (:class:`~caselib.cases.questions.QuestionImage`)
gets ``<img src="@@PLUGINFILE@@/<id>.png">`` in its question text and the PNG,
rendered at the question's window, as ``<file name=... path="/"
encoding="base64">`` inside ``<questiontext>``, which is how Moodle's XML
import expects embedded files.  A question whose image cannot be loaded is
skipped with the reason.

QTI 2.1 (:func:`export_qti21`)
------------------------------
A content package (zip): ``imsmanifest.xml`` (namespace
``http://www.imsglobal.org/xsd/imscp_v1p1``) listing one resource of type
``imsqti_item_xmlv2p1`` per ``items/<id>.xml`` ``assessmentItem`` (namespace
``http://www.imsglobal.org/xsd/imsqti_v2p1``).  Every item declares
``RESPONSE``, ``SCORE`` (float, default 0) and ``MAXSCORE`` (``max_score``)
and carries its own ``responseProcessing`` (no templates), scoring in points:

==================  ===================================================
single_choice       ``choiceInteraction maxChoices=1``; single identifier;
                    ``match`` with ``correct`` -> max_score
multiple_choice     ``choiceInteraction maxChoices=0``; multiple identifier;
                    ``mapping`` +max/k per correct, -max/k per wrong option,
                    bounds 0..max_score, ``mapResponse`` (same rule as above)
true_false          ``choiceInteraction`` with choices ``true``/``false``
numeric             ``textEntryInteraction``; single float; inclusive range
                    ``and(gte(RESPONSE, answer - tol), lte(RESPONSE, answer + tol))``
ordering            ``orderInteraction``; ordered identifier; ``match`` on
                    the whole order (``kendall`` partial credit cannot be
                    expressed with QTI 2.1 operators: recorded in ``notes``)
free_text           ``extendedTextInteraction``; single string; no response
                    processing (scored by hand), rubric and model answer in a
                    ``rubricBlock view="scorer"``
hotspot             ``selectPointInteraction`` on the slice rendered at the
                    question's window (``<object type="image/png">``); single
                    point; ``areaMapping`` with one ``areaMapEntry`` (``circle``
                    "x,y,r" in image pixels, or a 24-point ``poly`` for an
                    ellipse or non-square pixels: QTI 2.1 deprecates
                    ``ellipse``), the ROI grown by ``tolerance_mm``, worth
                    ``max_score``; ``mapResponsePoint``.
window              skipped: QTI 2.1 has no window/level interaction.
==================  ===================================================

Images live in the package as ``items/images/<id>.png``, are referenced
relative to the item (``images/<id>.png``) and listed as ``<file>`` of the
item's resource in the manifest.

Choice identifiers are ``A``, ``B``... (``OPT27``... beyond 26); item
identifiers and file names are the question ids with characters outside
``[A-Za-z0-9._-]`` replaced by ``_`` (made unique).  Explanations are not
exported to QTI.

Checking the files
------------------
No XSD of QTI 2.1 or of Moodle XML is published on PyPI (the package lists
were searched: ``citolab-qti-convert`` and ``qti-package-maker`` ship none), so
:func:`check_qti_package` and :func:`check_moodle_xml` check the structure the
formats require: namespaces, element order of ``assessmentItem`` (as in
``imsqti_v2p1.xsd``), declared response and outcome identifiers, unique
choice identifiers, area shapes and coordinate counts, every referenced file
present in the package and listed in the manifest, PNG signatures, Moodle
fractions from Moodle's grade list, ``@@PLUGINFILE@@`` references matched by
``<file>`` elements, drop zones inside their background image.  Each returns
the list of problems (empty: valid).
"""
from __future__ import annotations

import base64
import html
import math
import os
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape as _xml_escape
from xml.sax.saxutils import quoteattr

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
)
from caselib.cases.images import ImageLoader, RenderedImage, manifest_image_loader, png_size, render_image
from caselib.cases.schema import CircleROI, EllipseROI, PointROI, Text

__all__ = ["ExportReport", "export_moodle_xml", "export_qti21", "QTI_NS", "IMSCP_NS",
           "MOODLE_GRADE_FRACTIONS", "check_qti_package", "check_moodle_xml"]

QTI_NS = "http://www.imsglobal.org/xsd/imsqti_v2p1"
IMSCP_NS = "http://www.imsglobal.org/xsd/imscp_v1p1"
_XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
_QTI_XSD = "http://www.imsglobal.org/xsd/qti/qtiv2p1/imsqti_v2p1.xsd"
_IMSCP_XSD = "http://www.imsglobal.org/xsd/imscp_v1p1.xsd"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

#: Moodle's allowed answer fractions (question_bank::fraction_options_full,
#: positive half); negatives are the same values with a minus sign.
MOODLE_GRADE_FRACTIONS: tuple[float, ...] = (
    1.0, 0.9, 0.8333333, 0.8, 0.75, 0.7, 0.6666667, 0.6, 0.5, 0.4, 0.3333333, 0.3,
    0.25, 0.2, 0.1666667, 0.1428571, 0.125, 0.1111111, 0.1, 0.05, 0.0,
)

_SKIP_WINDOW = "window/level questions have no {fmt} equivalent"


@dataclass
class ExportReport:
    """What an export wrote.

    Attributes
    ----------
    path : Path
        The file written.
    written : list of str
        Ids of the questions written, in input order.
    skipped : list of (id, reason)
        Questions not written and why.
    notes : list of (id, note)
        Questions written whose scoring differs from :mod:`caselib.cases.grading`.
    """

    path: Path
    written: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)


# --------------------------------------------------------------------------- helpers

_BAD_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(s: str) -> str:
    """Drop characters XML 1.0 cannot hold."""
    return _BAD_XML_CHARS.sub("", s)


def _check_lang(lang: str) -> None:
    if lang not in ("zh", "en"):
        raise ValueError(f"lang must be 'zh' or 'en', got {lang!r}")


def _questions(questions: Iterable[Question]) -> list[Question]:
    qs = list(questions)
    seen: set[str] = set()
    for q in qs:
        if not isinstance(q, Question):
            raise TypeError(f"expected Question objects, got {type(q).__name__}")
        if q.id in seen:
            raise ValueError(f"duplicate question id {q.id!r}")
        seen.add(q.id)
    return qs


def _num(x: float) -> str:
    """Shortest exact decimal form of a number (``12`` not ``12.0``)."""
    s = repr(float(x))
    return s[:-2] if s.endswith(".0") else s


def _pct(x: float) -> str:
    """A Moodle percentage with Moodle's 7 significant fraction digits."""
    s = f"{x:.5f}".rstrip("0").rstrip(".")
    return "0" if s in ("", "-0") else s


def _html(s: str) -> str:
    """Plain text -> HTML paragraph (escaped, newlines as ``<br>``)."""
    lines = _clean(s).strip().splitlines() or [""]
    return "<p>" + "<br>".join(html.escape(line, quote=False) for line in lines) + "</p>"


def _cdata(s: str) -> str:
    return "<![CDATA[" + s.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _choice_id(i: int) -> str:
    return chr(ord("A") + i) if i < 26 else f"OPT{i + 1}"


def _safe_ids(qs: list[Question]) -> dict[str, str]:
    out: dict[str, str] = {}
    used: set[str] = set()
    for q in qs:
        base = re.sub(r"[^A-Za-z0-9._-]", "_", q.id)
        if not re.match(r"[A-Za-z_]", base):
            base = "Q_" + base
        cand, n = base, 2
        while cand.lower() in used:  # lower(): file names on case-insensitive systems
            cand, n = f"{base}-{n}", n + 1
        used.add(cand.lower())
        out[q.id] = cand
    return out


def _tolerance(q: Numeric) -> float:
    return max(q.abs_tol, q.rel_tol * abs(q.answer))


def _unit_line(q: Numeric, lang: str) -> str:
    return ("单位：" if lang == "zh" else "Unit: ") + q.unit


def _image_target(q: Question) -> tuple[object, int, tuple[float, float] | None] | None:
    """(series, slice, window) the question is shown on, or None."""
    window = q.image.window if q.image is not None else None
    if isinstance(q, Hotspot):
        return q.series, q.slice_index, window
    if q.image is not None:
        return q.image.series, q.image.slice_index, window
    return None


def _render(q: Question, loader: ImageLoader | None) -> RenderedImage | str | None:
    """The question's image, a reason it cannot be rendered, or None (no image)."""
    target = _image_target(q)
    if target is None:
        return None
    series, slice_index, window = target
    try:
        return render_image((loader or manifest_image_loader)(series, slice_index), window)  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001 - reported per question, never a crash of the export
        return f"its image ({getattr(series, 'ref', series)}, slice {slice_index}) cannot be rendered: " \
               f"{type(exc).__name__}: {exc}"


def _zone_px(q: Hotspot) -> tuple[str, tuple[float, ...]]:
    """The hotspot's accepting region in image pixels: ('circle', (x, y, r)) or ('ellipse', (x, y, rx, ry))."""
    sr, sc = q.pixel_spacing
    roi = q.roi
    if isinstance(roi, CircleROI):
        rr, rc = roi.radius_mm + q.tolerance_mm, roi.radius_mm + q.tolerance_mm
    elif isinstance(roi, EllipseROI):
        rr, rc = roi.radius_row_mm + q.tolerance_mm, roi.radius_col_mm + q.tolerance_mm
    else:
        rr = rc = max(roi.tolerance_mm + q.tolerance_mm, min(sr, sc) / 2)
    ry, rx = rr / sr, rc / sc
    if math.isclose(rx, ry, rel_tol=1e-6):
        return "circle", (roi.col, roi.row, rx)
    return "ellipse", (roi.col, roi.row, rx, ry)


def _polygon(x: float, y: float, rx: float, ry: float, n: int = 24) -> list[tuple[int, int]]:
    return [(round(x + rx * math.cos(2 * math.pi * k / n)), round(y + ry * math.sin(2 * math.pi * k / n)))
            for k in range(n)]


# --------------------------------------------------------------------------- Moodle XML

class _MoodleWriter:
    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.out: list[str] = []
        self.image: RenderedImage | None = None   # the current question's image
        self.image_name = ""

    def t(self, text: Text) -> str:
        return text.get(self.lang)

    def line(self, depth: int, s: str) -> None:
        self.out.append("  " * depth + s)

    def simple(self, depth: int, tag: str, value: str) -> None:
        self.line(depth, f"<{tag}>{_xml_escape(_clean(value))}</{tag}>")

    def html_text(self, depth: int, tag: str, html_body: str, attrs: str = "",
                  files: tuple[tuple[str, bytes], ...] = ()) -> None:
        self.line(depth, f'<{tag}{attrs} format="html">')
        self.line(depth + 1, f"<text>{_cdata(html_body)}</text>")
        for name, data in files:
            self.file(depth + 1, name, data)
        self.line(depth, f"</{tag}>")

    def file(self, depth: int, name: str, data: bytes) -> None:
        self.line(depth, f'<file name={quoteattr(name)} path="/" encoding="base64">'
                         f"{base64.b64encode(data).decode('ascii')}</file>")

    def answer(self, depth: int, fraction: str, html_body: str | None = None,
               plain: str | None = None, extra: tuple[str, ...] = ()) -> None:
        if html_body is not None:
            self.line(depth, f'<answer fraction="{fraction}" format="html">')
            self.line(depth + 1, f"<text>{_cdata(html_body)}</text>")
        else:
            self.line(depth, f'<answer fraction="{fraction}" format="moodle_auto_format">')
            self.line(depth + 1, f"<text>{_xml_escape(_clean(plain or ''))}</text>")
        for e in extra:
            self.line(depth + 1, e)
        self.line(depth + 1, '<feedback format="html"><text></text></feedback>')
        self.line(depth, "</answer>")

    def head(self, q: Question, qtype: str, body_html: str) -> None:
        self.line(1, f"<question type={quoteattr(qtype)}>")
        self.line(2, "<name>")
        self.simple(3, "text", q.id)
        self.line(2, "</name>")
        files: tuple[tuple[str, bytes], ...] = ()
        if self.image is not None and qtype != "ddmarker":
            name = self.image_name
            body_html += (f'<p><img src="@@PLUGINFILE@@/{html.escape(name)}" alt="" '
                          f'width="{self.image.width}" height="{self.image.height}"></p>')
            files = ((name, self.image.png),)
        self.html_text(2, "questiontext", body_html, files=files)
        expl = _html(self.t(q.explanation)) if q.explanation is not None else ""
        self.html_text(2, "generalfeedback", expl)
        self.simple(2, "defaultgrade", _num(q.max_score))
        self.simple(2, "penalty", "0")
        self.simple(2, "hidden", "0")
        self.simple(2, "idnumber", q.id)

    def tail(self) -> None:
        self.line(1, "</question>")

    def choices(self, q: SingleChoice | MultipleChoice, fractions: list[str]) -> None:
        self.head(q, "multichoice", _html(self.t(q.prompt)))
        self.simple(2, "single", "true" if isinstance(q, SingleChoice) else "false")
        self.simple(2, "shuffleanswers", "true")
        self.simple(2, "answernumbering", "abc")
        self.simple(2, "showstandardinstruction", "0")
        for opt, frac in zip(q.options, fractions):
            self.answer(2, frac, html_body=_html(self.t(opt)))
        self.tail()


def _moodle_question(w: _MoodleWriter, q: Question, report: ExportReport, ordering: bool) -> str | None:
    """Write ``q``; return a skip reason instead when Moodle cannot hold it."""
    lang = w.lang
    if isinstance(q, SingleChoice):
        w.choices(q, ["100" if i == q.answer else "0" for i in range(len(q.options))])
    elif isinstance(q, MultipleChoice):
        k = len(q.answers)
        if round(1.0 / k, 7) not in MOODLE_GRADE_FRACTIONS:
            return (f"{k} correct options: 100/{k} % is not one of Moodle's allowed grade "
                    f"fractions (1/1 .. 1/10, 1/20)")
        good, bad = _pct(100.0 / k), _pct(-100.0 / k)
        w.choices(q, [good if i in q.answers else bad for i in range(len(q.options))])
    elif isinstance(q, TrueFalse):
        w.head(q, "truefalse", _html(w.t(q.prompt)))
        w.answer(2, "100" if q.answer else "0", plain="true")
        w.answer(2, "0" if q.answer else "100", plain="false")
        w.tail()
    elif isinstance(q, Numeric):
        body = _html(w.t(q.prompt))
        if q.unit:
            body += _html(_unit_line(q, lang))
        w.head(q, "numerical", body)
        w.answer(2, "100", plain=_num(q.answer),
                 extra=(f"<tolerance>{_num(_tolerance(q))}</tolerance>",))
        w.simple(2, "unitgradingtype", "0")
        w.simple(2, "unitpenalty", "0")
        w.simple(2, "showunits", "3")
        w.simple(2, "unitsleft", "0")
        w.tail()
    elif isinstance(q, FreeText):
        w.head(q, "essay", _html(w.t(q.prompt)))
        info = _html(w.t(q.rubric))
        if q.model_answer is not None:
            info += _html(("参考答案：" if lang == "zh" else "Model answer: ") + w.t(q.model_answer))
        w.simple(2, "responseformat", "editor")
        w.simple(2, "responserequired", "1")
        w.simple(2, "responsefieldlines", "15")
        w.simple(2, "attachments", "0")
        w.simple(2, "attachmentsrequired", "0")
        w.html_text(2, "graderinfo", info)
        w.html_text(2, "responsetemplate", "")
        w.tail()
    elif isinstance(q, Ordering):
        if not ordering:
            return "ordering questions need Moodle's ordering question type (moodle_ordering=False)"
        w.head(q, "ordering", _html(w.t(q.prompt)))
        w.simple(2, "layouttype", "VERTICAL")
        w.simple(2, "selecttype", "ALL")
        w.simple(2, "selectcount", str(len(q.items)))
        if q.scoring == "all_or_nothing":
            w.simple(2, "gradingtype", "ALL_OR_NOTHING")
        else:
            w.simple(2, "gradingtype", "RELATIVE_ALL_PREVIOUS_AND_NEXT")
            report.notes.append((q.id, "Kendall scoring exported as Moodle RELATIVE_ALL_PREVIOUS_AND_NEXT "
                                       "(share of correctly ordered pairs, more lenient than max(0, tau))"))
        w.simple(2, "showgrading", "SHOW")
        w.simple(2, "numberingstyle", "none")
        for pos, idx in enumerate(q.answer, start=1):
            w.answer(2, f"{pos}.0000000", html_body=_html(w.t(q.items[idx])))
        w.tail()
    elif isinstance(q, Hotspot):
        image = w.image
        assert image is not None  # rendered (or skipped) by the caller
        w.head(q, "ddmarker", _html(w.t(q.prompt)))
        for tag in ("correctfeedback", "partiallycorrectfeedback", "incorrectfeedback"):
            w.html_text(2, tag, "")
        w.file(2, w.image_name, image.png)
        w.line(2, "<drag>")
        w.simple(3, "no", "1")
        w.simple(3, "text", "标记" if lang == "zh" else "Marker")
        w.simple(3, "noofdrags", "1")
        w.line(2, "</drag>")
        shape, zone = _zone_px(q)
        w.line(2, "<drop>")
        w.simple(3, "no", "1")
        if shape == "circle":
            w.simple(3, "shape", "circle")
            w.simple(3, "coords", f"{round(zone[0])},{round(zone[1])};{max(1, round(zone[2]))}")
        else:
            w.simple(3, "shape", "polygon")
            w.simple(3, "coords", ";".join(f"{x},{y}" for x, y in _polygon(zone[0], zone[1], zone[2], zone[3])))
        w.simple(3, "choice", "1")
        w.line(2, "</drop>")
        w.tail()
    elif isinstance(q, WindowChoice):
        return _SKIP_WINDOW.format(fmt="Moodle")
    else:  # pragma: no cover - future types
        return f"question type {q.kind!r} is not supported by the Moodle export"
    return None


def export_moodle_xml(questions: Iterable[Question], path: str | os.PathLike[str], *,
                      lang: str = "zh", category: str | None = None,
                      moodle_ordering: bool = True, image_loader: ImageLoader | None = None) -> ExportReport:
    """Write ``questions`` as a Moodle XML file (Question bank > Import > Moodle XML).

    Parameters
    ----------
    questions : iterable of Question
        Ids must be unique.
    path : path-like
        The ``.xml`` file to write (UTF-8).
    lang : {'zh', 'en'}
        Language of the texts.
    category : str, optional
        Question bank category to import into (``$course$/top/<category>``).
    moodle_ordering : bool
        Export ordering questions as ``type="ordering"`` (True) or skip them.
    image_loader : callable, optional
        ``(SeriesRef, slice_index) -> LoadedImage`` for questions with an image
        (and hotspots); default :func:`caselib.cases.images.manifest_image_loader`.

    Returns
    -------
    ExportReport
        Written and skipped ids (see the module docstring for the mapping).
    """
    _check_lang(lang)
    qs = _questions(questions)
    report = ExportReport(path=Path(path))
    w = _MoodleWriter(lang)
    w.line(0, '<?xml version="1.0" encoding="UTF-8"?>')
    w.line(0, "<quiz>")
    if category:
        w.line(1, '<question type="category">')
        w.line(2, "<category>")
        w.simple(3, "text", f"$course$/top/{category}")
        w.line(2, "</category>")
        w.line(1, "</question>")
    ids = _safe_ids(qs)
    for q in qs:
        mark = len(w.out)
        rendered = None if isinstance(q, WindowChoice) else _render(q, image_loader)
        if isinstance(rendered, str):
            report.skipped.append((q.id, rendered))
            continue
        w.image, w.image_name = rendered, f"{ids[q.id]}.png"
        reason = _moodle_question(w, q, report, moodle_ordering)
        if reason is None:
            report.written.append(q.id)
        else:
            del w.out[mark:]
            report.skipped.append((q.id, reason))
    w.line(0, "</quiz>")
    report.path.write_text("\n".join(w.out) + "\n", encoding="utf-8")
    return report


# --------------------------------------------------------------------------- QTI 2.1

def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    e = ET.SubElement(parent, tag, attrs)
    if text is not None:
        e.text = _clean(text)
    return e


def _paragraphs(parent: ET.Element, text: str) -> None:
    for line in _clean(text).strip().splitlines() or [""]:
        _sub(parent, "p", line)


def _set_score(parent: ET.Element, value: ET.Element | str) -> None:
    s = _sub(parent, "setOutcomeValue", identifier="SCORE")
    if isinstance(value, str):
        _sub(s, "baseValue", value, baseType="float")
    else:
        s.append(value)


def _match_correct(rp: ET.Element, max_score: float) -> None:
    cond = _sub(rp, "responseCondition")
    rif = _sub(cond, "responseIf")
    m = _sub(rif, "match")
    _sub(m, "variable", identifier="RESPONSE")
    _sub(m, "correct", identifier="RESPONSE")
    _set_score(rif, _num(max_score))
    _set_score(_sub(cond, "responseElse"), "0")


def _qti_item(q: Question, ident: str, lang: str, report: ExportReport,
              image: RenderedImage | None = None, image_href: str = "") -> ET.Element | str:
    """The assessmentItem of ``q``, or a skip reason."""
    if isinstance(q, WindowChoice):
        return _SKIP_WINDOW.format(fmt="QTI 2.1")
    item = ET.Element("assessmentItem", {
        "xmlns": QTI_NS, "xmlns:xsi": _XSI_NS,
        "xsi:schemaLocation": f"{QTI_NS} {_QTI_XSD}",
        "identifier": ident, "title": _clean(q.id), "adaptive": "false", "timeDependent": "false",
        _XML_LANG: lang,
    })
    rd = _sub(item, "responseDeclaration", identifier="RESPONSE")
    score = _sub(item, "outcomeDeclaration", identifier="SCORE", cardinality="single", baseType="float")
    _sub(_sub(score, "defaultValue"), "value", "0")
    maxs = _sub(item, "outcomeDeclaration", identifier="MAXSCORE", cardinality="single", baseType="float")
    _sub(_sub(maxs, "defaultValue"), "value", _num(q.max_score))
    body = _sub(item, "itemBody")
    _paragraphs(body, q.prompt.get(lang))
    if image is not None and not isinstance(q, Hotspot):
        _sub(_sub(body, "p"), "img", src=image_href, alt=_clean(q.id), width=str(image.width),
             height=str(image.height))

    def choice_interaction(options: list[str], max_choices: int, shuffle: bool) -> None:
        ci = _sub(body, "choiceInteraction", responseIdentifier="RESPONSE",
                  shuffle="true" if shuffle else "false", maxChoices=str(max_choices))
        for i, text in enumerate(options):
            _sub(ci, "simpleChoice", text, identifier=_choice_id(i))

    if isinstance(q, SingleChoice):
        rd.attrib.update(cardinality="single", baseType="identifier")
        _sub(_sub(rd, "correctResponse"), "value", _choice_id(q.answer))
        choice_interaction([o.get(lang) for o in q.options], 1, True)
        _match_correct(_sub(item, "responseProcessing"), q.max_score)
    elif isinstance(q, TrueFalse):
        rd.attrib.update(cardinality="single", baseType="identifier")
        _sub(_sub(rd, "correctResponse"), "value", "true" if q.answer else "false")
        ci = _sub(body, "choiceInteraction", responseIdentifier="RESPONSE", shuffle="false", maxChoices="1")
        _sub(ci, "simpleChoice", "正确" if lang == "zh" else "True", identifier="true")
        _sub(ci, "simpleChoice", "错误" if lang == "zh" else "False", identifier="false")
        _match_correct(_sub(item, "responseProcessing"), q.max_score)
    elif isinstance(q, MultipleChoice):
        rd.attrib.update(cardinality="multiple", baseType="identifier")
        cr = _sub(rd, "correctResponse")
        for i in q.answers:
            _sub(cr, "value", _choice_id(i))
        k = len(q.answers)
        mp = _sub(rd, "mapping", lowerBound="0", upperBound=_num(q.max_score), defaultValue="0")
        for i in range(len(q.options)):
            v = q.max_score / k if i in q.answers else -q.max_score / k
            _sub(mp, "mapEntry", mapKey=_choice_id(i), mappedValue=_num(v))
        choice_interaction([o.get(lang) for o in q.options], 0, True)
        rp = _sub(item, "responseProcessing")
        cond = _sub(rp, "responseCondition")
        rif = _sub(cond, "responseIf")
        _sub(_sub(rif, "isNull"), "variable", identifier="RESPONSE")
        _set_score(rif, "0")
        mr = ET.Element("mapResponse", identifier="RESPONSE")
        _set_score(_sub(cond, "responseElse"), mr)
    elif isinstance(q, Numeric):
        rd.attrib.update(cardinality="single", baseType="float")
        _sub(_sub(rd, "correctResponse"), "value", _num(q.answer))
        p = _sub(body, "p")
        te = _sub(p, "textEntryInteraction", responseIdentifier="RESPONSE", expectedLength="12")
        if q.unit:
            te.tail = " " + _clean(q.unit)
        tol = _tolerance(q)
        rp = _sub(item, "responseProcessing")
        cond = _sub(rp, "responseCondition")
        rif = _sub(cond, "responseIf")
        both = _sub(rif, "and")
        for op, bound in (("gte", q.answer - tol), ("lte", q.answer + tol)):
            e = _sub(both, op)
            _sub(e, "variable", identifier="RESPONSE")
            _sub(e, "baseValue", _num(bound), baseType="float")
        _set_score(rif, _num(q.max_score))
        _set_score(_sub(cond, "responseElse"), "0")
    elif isinstance(q, Ordering):
        rd.attrib.update(cardinality="ordered", baseType="identifier")
        cr = _sub(rd, "correctResponse")
        for i in q.answer:
            _sub(cr, "value", _choice_id(i))
        oi = _sub(body, "orderInteraction", responseIdentifier="RESPONSE", shuffle="true")
        for i, it in enumerate(q.items):
            _sub(oi, "simpleChoice", it.get(lang), identifier=_choice_id(i))
        _match_correct(_sub(item, "responseProcessing"), q.max_score)
        if q.scoring == "kendall":
            report.notes.append((q.id, "Kendall partial credit cannot be expressed in QTI 2.1 response "
                                       "processing: exported as all-or-nothing (match)"))
    elif isinstance(q, Hotspot):
        assert image is not None  # rendered (or skipped) by the caller
        rd.attrib.update(cardinality="single", baseType="point")
        shape, zone = _zone_px(q)
        _sub(_sub(rd, "correctResponse"), "value", f"{round(zone[0])} {round(zone[1])}")
        am = _sub(rd, "areaMapping", defaultValue="0", lowerBound="0", upperBound=_num(q.max_score))
        if shape == "circle":
            coords = f"{round(zone[0])},{round(zone[1])},{max(1, round(zone[2]))}"
        else:  # QTI 2.1 deprecates 'ellipse': a 24-point polygon, as for Moodle
            shape = "poly"
            coords = ",".join(f"{x},{y}" for x, y in _polygon(zone[0], zone[1], zone[2], zone[3]))
        _sub(am, "areaMapEntry", shape=shape, coords=coords, mappedValue=_num(q.max_score))
        spi = _sub(body, "selectPointInteraction", responseIdentifier="RESPONSE", maxChoices="1")
        _sub(spi, "object", _clean(q.id), type="image/png", data=image_href, width=str(image.width),
             height=str(image.height))
        rp = _sub(item, "responseProcessing")
        cond = _sub(rp, "responseCondition")
        rif = _sub(cond, "responseIf")
        _sub(_sub(rif, "isNull"), "variable", identifier="RESPONSE")
        _set_score(rif, "0")
        _set_score(_sub(cond, "responseElse"), ET.Element("mapResponsePoint", identifier="RESPONSE"))
    elif isinstance(q, FreeText):
        rd.attrib.update(cardinality="single", baseType="string")
        _sub(body, "extendedTextInteraction", responseIdentifier="RESPONSE", expectedLines="10")
        rb = _sub(body, "rubricBlock", view="scorer")
        _paragraphs(rb, q.rubric.get(lang))
        if q.model_answer is not None:
            _paragraphs(rb, ("参考答案：" if lang == "zh" else "Model answer: ") + q.model_answer.get(lang))
    else:  # pragma: no cover - future types
        return f"question type {q.kind!r} is not supported by the QTI export"
    return item


def _xml_bytes(root: ET.Element) -> bytes:
    ET.indent(root)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8",
                                                                    xml_declaration=False) + b"\n"


def export_qti21(questions: Iterable[Question], path_zip: str | os.PathLike[str], *,
                 lang: str = "zh", package_id: str = "caselib-bank",
                 image_loader: ImageLoader | None = None) -> ExportReport:
    """Write ``questions`` as an IMS QTI 2.1 content package (a zip).

    Parameters
    ----------
    questions : iterable of Question
        Ids must be unique.
    path_zip : path-like
        The ``.zip`` to write: ``imsmanifest.xml`` and ``items/<id>.xml``.
    lang : {'zh', 'en'}
        Language of the texts (also the items' ``xml:lang``).
    package_id : str
        Base of the manifest identifier.
    image_loader : callable, optional
        ``(SeriesRef, slice_index) -> LoadedImage`` for questions with an image
        (and hotspots); default :func:`caselib.cases.images.manifest_image_loader`.

    Returns
    -------
    ExportReport
        Written and skipped ids (see the module docstring for the mapping).
    """
    _check_lang(lang)
    qs = _questions(questions)
    report = ExportReport(path=Path(path_zip))
    ids = _safe_ids(qs)
    files: list[tuple[str, str, bytes, str | None, bytes | None]] = []  # (ident, href, xml, png href, png)
    for q in qs:
        rendered = None if isinstance(q, WindowChoice) else _render(q, image_loader)
        if isinstance(rendered, str):
            report.skipped.append((q.id, rendered))
            continue
        image_href = f"images/{ids[q.id]}.png"
        item = _qti_item(q, ids[q.id], lang, report, rendered, image_href)
        if isinstance(item, str):
            report.skipped.append((q.id, item))
            continue
        files.append((ids[q.id], f"items/{ids[q.id]}.xml", _xml_bytes(item),
                      f"items/{image_href}" if rendered is not None else None,
                      rendered.png if rendered is not None else None))
        report.written.append(q.id)

    manifest = ET.Element("manifest", {
        "xmlns": IMSCP_NS, "xmlns:xsi": _XSI_NS,
        "xsi:schemaLocation": f"{IMSCP_NS} {_IMSCP_XSD} {QTI_NS} {_QTI_XSD}",
        "identifier": "MANIFEST-" + re.sub(r"[^A-Za-z0-9._-]", "_", package_id),
    })
    md = _sub(manifest, "metadata")
    _sub(md, "schema", "QTIv2.1 Package")
    _sub(md, "schemaversion", "1.0.0")
    _sub(manifest, "organizations")
    res = _sub(manifest, "resources")
    for ident, href, _, png_href, _ in files:
        r = _sub(res, "resource", identifier=f"RES-{ident}", type="imsqti_item_xmlv2p1", href=href)
        _sub(r, "file", href=href)
        if png_href is not None:
            _sub(r, "file", href=png_href)

    stamp = (2020, 1, 1, 0, 0, 0)  # fixed, so the same bank gives the same bytes
    with zipfile.ZipFile(report.path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo("imsmanifest.xml", stamp), _xml_bytes(manifest),
                    compress_type=zipfile.ZIP_DEFLATED)
        for _, href, data, png_href, png in files:
            zf.writestr(zipfile.ZipInfo(href, stamp), data, compress_type=zipfile.ZIP_DEFLATED)
            if png_href is not None and png is not None:
                zf.writestr(zipfile.ZipInfo(png_href, stamp), png, compress_type=zipfile.ZIP_STORED)
    return report


# --------------------------------------------------------------------------- structure checks

_QTI_ITEM_ORDER = ("responseDeclaration", "outcomeDeclaration", "templateDeclaration", "templateProcessing",
                   "stylesheet", "itemBody", "responseProcessing", "modalFeedback")
_QTI_SHAPE_COORDS = {"circle": (3,), "rect": (4,), "ellipse": (4,), "default": (0,)}
_NCNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9._-]*$")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _check_png(data: bytes, where: str, problems: list[str]) -> tuple[int, int] | None:
    try:
        return png_size(data)
    except ValueError as exc:
        problems.append(f"{where}: expected a PNG image, found {exc}")
        return None


def _check_qti_item(root: ET.Element, name: str, names: set[str], listed: set[str],
                    problems: list[str]) -> None:
    q = "{" + QTI_NS + "}"
    if root.tag != q + "assessmentItem":
        problems.append(f"{name}: expected root element assessmentItem in {QTI_NS}, found {root.tag}")
        return
    for attr in ("identifier", "title", "adaptive", "timeDependent"):
        if attr not in root.attrib:
            problems.append(f"{name}: assessmentItem: expected attribute {attr!r} (required by the XSD)")
    if not _NCNAME.match(root.get("identifier", "")):
        problems.append(f"{name}: assessmentItem identifier {root.get('identifier')!r} is not an NCName")
    order = [_local(c.tag) for c in root]
    ranks = [_QTI_ITEM_ORDER.index(t) if t in _QTI_ITEM_ORDER else -1 for t in order]
    if -1 in ranks or ranks != sorted(ranks):
        problems.append(f"{name}: assessmentItem children expected in the order {', '.join(_QTI_ITEM_ORDER)}, "
                        f"found {', '.join(order)}")
    declared = {d.get("identifier") for d in root.findall(q + "responseDeclaration")}
    outcomes = {d.get("identifier") for d in root.findall(q + "outcomeDeclaration")}
    if "SCORE" not in outcomes:
        problems.append(f"{name}: expected an outcomeDeclaration SCORE")
    for d in root.findall(q + "responseDeclaration"):
        for attr in ("cardinality", "baseType"):
            if attr not in d.attrib:
                problems.append(f"{name}: responseDeclaration {d.get('identifier')}: expected attribute {attr!r}")
        for entry in d.iter(q + "areaMapEntry"):
            shape, coords = entry.get("shape", ""), entry.get("coords", "")
            counts = _QTI_SHAPE_COORDS.get(shape)
            values = [c for c in coords.split(",") if c.strip()] if coords else []
            if shape == "poly":
                ok = len(values) >= 6 and len(values) % 2 == 0
            else:
                ok = counts is not None and len(values) in counts
            if not ok:
                problems.append(f"{name}: areaMapEntry: expected coordinates for shape {shape!r}, found {coords!r}")
    body = root.find(q + "itemBody")
    if body is None:
        problems.append(f"{name}: expected an itemBody")
        return
    base = name.rsplit("/", 1)[0] + "/" if "/" in name else ""
    for el in body.iter():
        tag = _local(el.tag)
        if tag.endswith("Interaction"):
            rid = el.get("responseIdentifier")
            if rid not in declared:
                problems.append(f"{name}: {tag} answers {rid!r}, which no responseDeclaration declares")
            ids = [c.get("identifier") for c in el if _local(c.tag) == "simpleChoice"]
            if len(ids) != len(set(ids)):
                problems.append(f"{name}: {tag}: choice identifiers repeat: {ids}")
            if tag == "selectPointInteraction" and el.find(q + "object") is None:
                problems.append(f"{name}: selectPointInteraction: expected an object (the image)")
        ref = el.get("src") if tag == "img" else el.get("data") if tag == "object" else None
        if ref is not None:
            target = os.path.normpath(base + ref).replace(os.sep, "/")
            if target not in names:
                problems.append(f"{name}: {tag} refers to {ref!r}, which is not in the package")
            elif target not in listed:
                problems.append(f"{name}: {tag} file {target!r} is not listed in imsmanifest.xml")


def check_qti_package(path_zip: str | os.PathLike[str]) -> list[str]:
    """Problems of a QTI 2.1 content package as the format requires (empty list: valid).

    See the module docstring for what is checked and why not against an XSD.
    """
    problems: list[str] = []
    try:
        zf = zipfile.ZipFile(path_zip)
    except (OSError, zipfile.BadZipFile) as exc:
        return [f"{path_zip}: expected a zip file, found {type(exc).__name__}: {exc}"]
    with zf:
        names = set(zf.namelist())
        if "imsmanifest.xml" not in names:
            return [f"{path_zip}: expected imsmanifest.xml at the top of the package"]
        try:
            manifest = ET.fromstring(zf.read("imsmanifest.xml"))
        except ET.ParseError as exc:
            return [f"imsmanifest.xml: expected well-formed XML, found {exc}"]
        cp = "{" + IMSCP_NS + "}"
        if manifest.tag != cp + "manifest":
            problems.append(f"imsmanifest.xml: expected root manifest in {IMSCP_NS}, found {manifest.tag}")
        resources = manifest.findall(f"{cp}resources/{cp}resource")
        listed = {f.get("href", "") for r in resources for f in r.findall(cp + "file")}
        for href in sorted(listed - names):
            problems.append(f"imsmanifest.xml: lists {href!r}, which is not in the package")
        seen: set[str] = set()
        for r in resources:
            ident, href = r.get("identifier", ""), r.get("href", "")
            if not _NCNAME.match(ident) or ident in seen:
                problems.append(f"imsmanifest.xml: resource identifier {ident!r} is not a unique NCName")
            seen.add(ident)
            if r.get("type") != "imsqti_item_xmlv2p1":
                problems.append(f"imsmanifest.xml: resource {ident}: expected type imsqti_item_xmlv2p1, "
                                f"found {r.get('type')!r}")
            if href not in names:
                problems.append(f"imsmanifest.xml: resource {ident} refers to {href!r}, not in the package")
                continue
            try:
                item = ET.fromstring(zf.read(href))
            except ET.ParseError as exc:
                problems.append(f"{href}: expected well-formed XML, found {exc}")
                continue
            _check_qti_item(item, href, names, listed, problems)
        for name in sorted(n for n in names if n.lower().endswith(".png")):
            _check_png(zf.read(name), name, problems)
    return problems


_MOODLE_TYPES = {"category", "multichoice", "truefalse", "numerical", "essay", "ordering", "ddmarker",
                 "shortanswer", "description", "matching", "ddimageortext", "gapselect", "ddwtos", "cloze"}
_PLUGINFILE = re.compile(r'@@PLUGINFILE@@/([^"\'<>\s]+)')


def _moodle_fraction_ok(value: float) -> bool:
    return any(math.isclose(abs(value) / 100.0, f, abs_tol=1e-5) for f in MOODLE_GRADE_FRACTIONS)


def check_moodle_xml(path: str | os.PathLike[str]) -> list[str]:
    """Problems of a Moodle XML question file as Moodle's import expects it (empty list: valid)."""
    problems: list[str] = []
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        return [f"{path}: expected well-formed XML, found {exc}"]
    if root.tag != "quiz":
        return [f"{path}: expected root element quiz, found {root.tag}"]
    for n, qe in enumerate(root.findall("question"), start=1):
        qtype = qe.get("type", "")
        where = f"question {n} ({qtype})"
        if qtype not in _MOODLE_TYPES:
            problems.append(f"{where}: expected a Moodle question type, found {qtype!r}")
            continue
        if qtype == "category":
            if qe.find("category/text") is None:
                problems.append(f"{where}: expected category/text")
            continue
        name = qe.findtext("name/text")
        where = f"question {n} {name!r} ({qtype})"
        if not name:
            problems.append(f"{where}: expected name/text")
        qt = qe.find("questiontext")
        if qt is None or qt.find("text") is None or qt.get("format") not in ("html", "moodle_auto_format",
                                                                             "plain_text", "markdown"):
            problems.append(f"{where}: expected questiontext with a format and a text")
            continue
        files = {f.get("name"): f for f in qt.findall("file")}
        for ref in _PLUGINFILE.findall(qt.findtext("text") or ""):
            f = files.get(html.unescape(ref))
            if f is None:
                problems.append(f"{where}: questiontext refers to @@PLUGINFILE@@/{ref}, with no <file> of that name")
                continue
            if f.get("encoding") != "base64":
                problems.append(f"{where}: file {ref}: expected encoding=\"base64\"")
                continue
            _check_png(base64.b64decode(f.text or ""), f"{where}: file {ref}", problems)
        try:
            float(qe.findtext("defaultgrade") or "")
        except ValueError:
            problems.append(f"{where}: expected a numeric defaultgrade")
        answers = qe.findall("answer")
        if qtype in ("multichoice", "truefalse", "numerical", "ordering") and not answers:
            problems.append(f"{where}: expected answer elements")
        if qtype == "multichoice":
            fr = [float(a.get("fraction", "nan")) for a in answers]
            if not all(_moodle_fraction_ok(f) for f in fr):
                problems.append(f"{where}: fractions {fr} are not all on Moodle's grade list")
            if qe.findtext("single") == "true" and max(fr, default=0) != 100:
                problems.append(f"{where}: a single-answer question needs one answer at 100")
            if qe.findtext("single") == "false" and not math.isclose(sum(f for f in fr if f > 0), 100, abs_tol=0.01):
                problems.append(f"{where}: the positive fractions must add up to 100, found {sum(f for f in fr if f > 0)}")
        if qtype in ("truefalse", "numerical") and not any(float(a.get("fraction", 0)) == 100 for a in answers):
            problems.append(f"{where}: expected one answer at fraction 100")
        if qtype == "ddmarker":
            bg = qe.find("file")
            size = None
            if bg is None or bg.get("encoding") != "base64":
                problems.append(f"{where}: expected the background image as <file encoding=\"base64\">")
            else:
                size = _check_png(base64.b64decode(bg.text or ""), f"{where}: background", problems)
            drags = {d.findtext("no") for d in qe.findall("drag")}
            drops = qe.findall("drop")
            if not drags or not drops:
                problems.append(f"{where}: expected at least one drag and one drop")
            for d in drops:
                if d.findtext("choice") not in drags:
                    problems.append(f"{where}: drop {d.findtext('no')} names choice {d.findtext('choice')!r}, "
                                    "which no drag has")
                shape, coords = d.findtext("shape"), d.findtext("coords") or ""
                try:
                    if shape == "circle":
                        xy, r = coords.split(";")
                        points = [tuple(int(v) for v in xy.split(","))]
                        ok = int(r) > 0
                    elif shape == "polygon":
                        points = [tuple(int(v) for v in p.split(",")) for p in coords.split(";")]
                        ok = len(points) >= 3
                    elif shape == "rectangle":
                        xy, wh = coords.split(";")
                        points = [tuple(int(v) for v in xy.split(","))]
                        ok = all(int(v) > 0 for v in wh.split(","))
                    else:
                        raise ValueError(f"unknown shape {shape!r}")
                except ValueError as exc:
                    problems.append(f"{where}: drop {d.findtext('no')}: expected {shape} coordinates, "
                                    f"found {coords!r} ({exc})")
                    continue
                if not ok:
                    problems.append(f"{where}: drop {d.findtext('no')}: degenerate {shape} {coords!r}")
                if size is not None and not any(0 <= p[0] < size[0] and 0 <= p[1] < size[1] for p in points):
                    problems.append(f"{where}: drop {d.findtext('no')} lies outside the {size[0]} x {size[1]} image")
    return problems
