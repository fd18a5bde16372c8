"""Graded assignments (nbgrader) on real and synthetic cases, one variant per student.

The notebooks of the nbgrader course in ``assignments/source/`` are thin: a
locked set-up cell calls :func:`start`, answer cells hold the student's
work, and hidden test cells call one of the ``grade_*`` functions here.  This
module owns everything else:

- **who the student is** (:func:`current_student`).  While nbgrader
  autogrades, the kernel runs in the submission's copy,
  ``<course>/autograded/<student id>/<assignment>/`` (nbgrader sets
  ``NBGRADER_EXECUTION=autograde`` and starts the kernel there; there is no
  student-id variable), so the id is read from that path.  Otherwise it is
  ``$CASELIB_STUDENT_ID``, else ``$JUPYTERHUB_USER`` (nbgrader's student id
  on a hub is the hub user name), else the login name.
- **the draw** (:class:`Assignment`): each pool of the set-up cell is drawn
  with :func:`caselib.cases.draw_variant` from (student id, assignment name,
  seed).  The set-up cell is locked, so nbgrader restores it before
  autograding; the identity is fixed by the first :func:`start` of a kernel
  and a later call with another spec is refused.  Graders recompute
  everything from the registered assignment and the student's answers, so
  editing the draw, the variables it printed or ``$CASELIB_STUDENT_ID`` in a
  notebook changes nothing: answers to someone else's draw are graded against
  the student's own key.
- **the keys**, read at grade time from caselib, never from the notebook:
  case questions from ``case.yaml`` (:func:`case_folder`), lesions and
  structures from the phantom specifications and their DICOM geometry
  (:mod:`caselib.phantom`), HU and distances measured on the real series'
  pixels with :mod:`caselib.imaging`.
- **grading**: every ``grade_*`` function returns a :class:`Score` whose
  plain-text form is the points (nbgrader's partial credit), whose HTML form
  is the feedback table and which carries one machine-readable record per
  item (``application/vnd.caselib.grading+json``) that
  :func:`caselib.analytics.read_responses` reads back for item analysis.

Pools (``draw={pool: {"pool": [...], "k": n}}``)
------------------------------------------------
=====================  ==========================================================
``window_tasks``       ``"<case id>:<structure>|<structure>"`` of a synthetic
                       case (``body`` is the phantom's body); :func:`grade_windows`
``ct_rois``            ``"<dataset>:slice=S,row=R,col=C,radius_mm=M"``;
                       :func:`grade_ct_hu`, :func:`grade_ct_tissue`
``ct_calipers``        ``"<dataset>:slice=S,r0=..,c0=..,r1=..,c1=.."``;
                       :func:`grade_ct_distance`
``phantom_questions``  ``"<case id>/<question id>"`` (numeric); :func:`grade_phantom_answers`
``findings``           ``"<case id>#<finding index>"``; :func:`grade_marks`
``cases``              ``"<case id>"``; :func:`grade_choices`, :func:`show_rubric`
=====================  ==========================================================

The case library's answers are readable by anyone who can read ``cases/``:
for exams, point ``$CASELIB_CASES`` of the graders at a copy students
cannot read (``deploy/README.md``).

Examples
--------
>>> a = preview("ps-demo", "s001", seed="s3cret",
...             draw={"ct_calipers": {"pool": ["tcia-lung-ct:slice=1,r0=0,c0=0,r1=3,c1=4",
...                                            "tcia-lung-ct:slice=2,r0=0,c0=0,r1=6,c1=8"], "k": 1}})
>>> len(a.tasks("ct_calipers"))
1
>>> student_from_submission_path("/course/autograded/s001/ps01_windowing", "ps01_windowing")
's001'
"""
from __future__ import annotations

import functools
import getpass
import hashlib
import html
import json
import math
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from caselib.cases.variants import draw_variant
from caselib.errors import CaselibError

__all__ = [
    "STUDENT_ENV",
    "CASES_ENV",
    "RESPONSE_MIMETYPE",
    "MARKS_FILE",
    "TISSUE_CLASSES",
    "AssignmentError",
    "Assignment",
    "Task",
    "ItemResult",
    "Score",
    "MarksRecorder",
    "current_student",
    "student_from_submission_path",
    "cases_dir",
    "case_folder",
    "load_case_by_id",
    "phantom_series",
    "dataset_series",
    "case_series",
    "start",
    "preview",
    "active",
    "reset",
    "grade_window_function",
    "grade_windows",
    "grade_ct_hu",
    "grade_ct_tissue",
    "grade_ct_distance",
    "grade_phantom_answers",
    "grade_marks",
    "grade_choices",
    "show_rubric",
    "window_task_ok",
    "spec_from_notebook",
    "preview_notebook",
    "tissue_class",
    "ct_roi_mean",
]

#: environment variable naming the student outside autograding
STUDENT_ENV = "CASELIB_STUDENT_ID"
#: environment variable naming the case folders (``:``-separated; default ``cases/`` beside the
#: package), the same variable as :mod:`caselib.ui.apps.library`
CASES_ENV = "CASELIB_CASES"
#: mimetype of the per-item records a :class:`Score` carries
RESPONSE_MIMETYPE = "application/vnd.caselib.grading+json"
#: the file the viewer's marks are saved to, in the assignment folder
MARKS_FILE = "marks.json"

#: ps02's tissue classes by mean HU: (code, English, Chinese, low, high) with low <= HU < high
TISSUE_CLASSES: tuple[tuple[str, str, str, float, float], ...] = (
    ("air_lung", "air or aerated lung (below -500 HU)", "空气或含气肺（低于 -500 HU）", -math.inf, -500.0),
    ("fat", "fat (-500 to -30 HU)", "脂肪（-500 至 -30 HU）", -500.0, -30.0),
    ("soft_tissue", "fluid or soft tissue (-30 to 150 HU)", "液体或软组织（-30 至 150 HU）", -30.0, 150.0),
    ("bone", "bone or calcification (150 HU and above)", "骨或钙化（150 HU 及以上）", 150.0, math.inf),
)

#: window task criterion: each structure's grey level in [MARGIN, 1 - MARGIN], contrast >= MIN_CONTRAST
WINDOW_MARGIN = 0.02
WINDOW_MIN_CONTRAST = 0.25
#: tolerance of the ps02 measurements on the real CT
CT_HU_TOL = 3.0
CT_DISTANCE_TOL_MM = 0.5
#: a mark within this distance (mm) of a finding's ROI still hits it
MARK_TOLERANCE_MM = 2.0


class AssignmentError(CaselibError, ValueError):
    """An assignment is set up or used wrongly; the message says what was expected and found."""


# --------------------------------------------------------------------------- identity


def student_from_submission_path(path: str | os.PathLike[str], assignment: str) -> str:
    """The student id of a submission folder ``<...>/<student id>/<assignment>``.

    nbgrader's default ``CourseDirectory.directory_structure`` is
    ``{nbgrader_step}/{student_id}/{assignment_id}``, and autograding runs the
    kernel in the ``autograded`` copy of the submission.

    Raises
    ------
    AssignmentError
        If the folder is not named after the assignment.
    """
    p = Path(os.path.abspath(os.fspath(path)))
    if p.name != assignment:
        raise AssignmentError(
            f"while autograding, the kernel should run in <course>/autograded/<student id>/{assignment}; "
            f"found the working folder {p}, which is not named {assignment!r}")
    student = p.parent.name
    if not student:
        raise AssignmentError(f"cannot read a student id from the submission folder {p}")
    return student


def current_student(assignment: str, *, environ: Mapping[str, str] | None = None,
                    cwd: str | os.PathLike[str] | None = None) -> str:
    """Who is doing ``assignment`` in this kernel (see the module docstring)."""
    env = os.environ if environ is None else environ
    if env.get("NBGRADER_EXECUTION") == "autograde":
        return student_from_submission_path(Path.cwd() if cwd is None else cwd, assignment)
    for var in (STUDENT_ENV, "JUPYTERHUB_USER"):
        value = (env.get(var) or "").strip()
        if value:
            return value
    return getpass.getuser()


# --------------------------------------------------------------------------- cases and images


def cases_dir() -> list[Path]:
    """The case folders: ``$CASELIB_CASES`` (``:``-separated), else ``cases/`` beside the package."""
    env = os.environ.get(CASES_ENV, "")
    folders = [Path(p).expanduser() for p in env.split(os.pathsep) if p.strip()]
    return folders or [Path(__file__).resolve().parent.parent / "cases"]


@functools.lru_cache(maxsize=8)
def _case_index(roots: tuple[str, ...]) -> dict[str, Path]:
    import yaml

    index: dict[str, Path] = {}
    for root in roots:
        for path in sorted(Path(root).rglob("case.yaml")):
            data = yaml.safe_load(path.read_text(encoding="utf-8-sig")) or {}
            cid = data.get("id") if isinstance(data, Mapping) else None
            if isinstance(cid, str):
                if cid in index:
                    raise AssignmentError(f"case id {cid!r} is used twice: {index[cid]} and {path.parent}")
                index[cid] = path.parent
    return index


def case_folder(case_id: str) -> Path:
    """The folder of case ``case_id`` in :func:`cases_dir`.

    Raises
    ------
    AssignmentError
        Naming the folder searched and the ids found there.
    """
    roots = cases_dir()
    index = _case_index(tuple(str(r) for r in roots))
    if case_id not in index:
        raise AssignmentError(f"no case {case_id!r} under {':'.join(map(str, roots))} (${CASES_ENV}); "
                              f"found {', '.join(sorted(index)) or 'no case.yaml at all'}")
    return index[case_id]


@functools.lru_cache(maxsize=32)
def load_case_by_id(case_id: str) -> Any:
    """The validated :class:`caselib.cases.Case` with this id."""
    from caselib.cases.schema import load_case

    return load_case(case_folder(case_id))


@functools.lru_cache(maxsize=8)
def _phantom_spec(case_id: str) -> dict[str, Any]:
    from caselib.phantom import load_phantom_spec

    return load_phantom_spec(case_folder(case_id))


@functools.lru_cache(maxsize=8)
def phantom_series(case_id: str) -> Any:
    """The synthetic series of a case with a ``phantom.yaml``, built once into the data cache.

    Returns
    -------
    caselib.dicom.Series
        Read back from ``<cache>/phantoms/<case id>-<digest>/`` (the cache of
        :func:`caselib.data.cache_dir`).
    """
    from caselib.data import cache_dir
    from caselib.dicom import read
    from caselib.phantom import build_case_phantom

    folder = case_folder(case_id)
    digest = hashlib.sha256((folder / "phantom.yaml").read_bytes()).hexdigest()[:16]
    out = cache_dir() / "phantoms" / f"{case_id}-{digest}"
    if not (out / ".complete").is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{case_id}-", dir=out.parent))
        try:
            build_case_phantom(folder, tmp)
            (tmp / ".complete").write_text("ok\n", encoding="utf-8")
            if out.exists():
                shutil.rmtree(out, ignore_errors=True)
            os.replace(tmp, out)
        except OSError:
            if not (out / ".complete").is_file():
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return read(out).series[0]


@functools.lru_cache(maxsize=4)
def dataset_series(dataset: str) -> Any:
    """The (first) series of a data set of the manifest, e.g. ``"tcia-lung-ct"``."""
    from caselib.data import fetch_dataset
    from caselib.dicom import read

    return read(fetch_dataset(dataset)).series[0]


@functools.lru_cache(maxsize=16)
def case_series(case_id: str) -> Any:
    """The series a case's findings are on: its phantom for a synthetic case with a
    ``phantom.yaml``, else its first series by manifest key (a data set or one file)."""
    from caselib.data import fetch, load_manifest
    from caselib.dicom import read

    if (case_folder(case_id) / "phantom.yaml").is_file():
        return phantom_series(case_id)
    case = load_case_by_id(case_id)
    key = case.series[0].manifest_key
    if key is None:
        raise AssignmentError(f"case {case_id}: its series is named by UID ({case.series[0].ref}); "
                              "expected a manifest key or a phantom.yaml to find the images")
    if key in load_manifest().datasets:
        return dataset_series(key)
    return read(fetch(key)).series[0]


@functools.lru_cache(maxsize=4)
def _dataset_volume(dataset: str) -> Any:
    return dataset_series(dataset).volume()


# --------------------------------------------------------------------------- items


def _parse_fields(text: str, names: Sequence[str], item: str) -> dict[str, float]:
    fields: dict[str, float] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in names:
            raise AssignmentError(f"pool item {item!r}: expected fields {', '.join(names)} as "
                                  f"name=value, found {part.strip()!r}")
        try:
            fields[key] = float(value)
        except ValueError:
            raise AssignmentError(f"pool item {item!r}: {key} must be a number, found {value!r}") from None
    missing = [n for n in names if n not in fields]
    if missing:
        raise AssignmentError(f"pool item {item!r}: missing {', '.join(missing)}")
    return fields


@dataclass(frozen=True)
class CTRoi:
    dataset: str
    slice: int
    row: float
    col: float
    radius_mm: float

    @classmethod
    def parse(cls, item: str) -> CTRoi:
        dataset, _, rest = item.partition(":")
        f = _parse_fields(rest, ("slice", "row", "col", "radius_mm"), item)
        return cls(dataset, int(f["slice"]), f["row"], f["col"], f["radius_mm"])

    def prompt(self) -> tuple[str, str]:
        return (f"circle of radius {self.radius_mm:g} mm centred on row {self.row:g}, column "
                f"{self.col:g} of slice index {self.slice} ({self.dataset})",
                f"{self.dataset} 第 {self.slice} 层（索引）第 {self.row:g} 行、第 {self.col:g} 列处半径 "
                f"{self.radius_mm:g} mm 的圆")


@dataclass(frozen=True)
class CTCaliper:
    dataset: str
    slice: int
    r0: float
    c0: float
    r1: float
    c1: float

    @classmethod
    def parse(cls, item: str) -> CTCaliper:
        dataset, _, rest = item.partition(":")
        f = _parse_fields(rest, ("slice", "r0", "c0", "r1", "c1"), item)
        return cls(dataset, int(f["slice"]), f["r0"], f["c0"], f["r1"], f["c1"])

    def prompt(self) -> tuple[str, str]:
        return (f"distance in mm from (row {self.r0:g}, col {self.c0:g}) to (row {self.r1:g}, "
                f"col {self.c1:g}) on slice index {self.slice} ({self.dataset})",
                f"{self.dataset} 第 {self.slice} 层（索引）上 (行 {self.r0:g}, 列 {self.c0:g}) 到 "
                f"(行 {self.r1:g}, 列 {self.c1:g}) 的距离（mm）")


@dataclass(frozen=True)
class WindowTask:
    case_id: str
    a: str
    b: str

    @classmethod
    def parse(cls, item: str) -> WindowTask:
        case_id, sep, rest = item.partition(":")
        a, sep2, b = rest.partition("|")
        if not (sep and sep2 and case_id and a and b):
            raise AssignmentError(f"window task {item!r}: expected '<case id>:<structure>|<structure>'")
        return cls(case_id, a.strip(), b.strip())

    def hu(self, name: str) -> float:
        spec = _phantom_spec(self.case_id)
        if name == "body":
            return float(spec.get("body_hu", 40.0))
        for les in spec["lesions"]:
            if les.name == name:
                return float(les.hu)
        raise AssignmentError(f"window task on {self.case_id}: no structure {name!r}; the phantom has "
                              f"body, {', '.join(les.name for les in spec['lesions'])}")

    def prompt(self) -> tuple[str, str]:
        return (f"a window showing the {self.a} and the {self.b} of the synthetic phantom "
                f"{self.case_id} both in grey (neither black nor white) and clearly apart",
                f"合成体模 {self.case_id} 中 {self.a} 与 {self.b} 都显示为灰色（既非全黑也非全白）"
                f"且明显可分的窗")


def _split_case_item(item: str, sep: str, what: str) -> tuple[str, str]:
    case_id, found, rest = item.partition(sep)
    if not (found and case_id and rest):
        raise AssignmentError(f"{what} {item!r}: expected '<case id>{sep}<...>'")
    return case_id, rest


@dataclass(frozen=True)
class Task:
    """One drawn item as the student sees it.

    Attributes
    ----------
    pool : str
        The pool it was drawn from.
    number : int
        1-based position within the pool's draw (the answer list order).
    item : str
        The pool item (what graders look up).
    prompt_en, prompt_zh : str
        What to do, in English and Chinese.
    """

    pool: str
    number: int
    item: str
    prompt_en: str
    prompt_zh: str


def _describe(pool: str, item: str) -> tuple[str, str]:
    if pool == "window_tasks":
        return WindowTask.parse(item).prompt()
    if pool == "ct_rois":
        return CTRoi.parse(item).prompt()
    if pool == "ct_calipers":
        return CTCaliper.parse(item).prompt()
    if pool == "phantom_questions":
        case_id, qid = _split_case_item(item, "/", "phantom question")
        q = _case_question(case_id, qid)
        unit = f" ({q.unit})" if getattr(q, "unit", "") else ""
        return (f"{case_id}: {q.prompt.en}{unit}", f"{case_id}：{q.prompt.zh}{unit}")
    if pool == "findings":
        case_id, idx = _split_case_item(item, "#", "finding")
        f = _case_finding(case_id, idx)
        return (f"mark on {case_id}: {f.description.en}", f"在 {case_id} 上标出：{f.description.zh}")
    if pool == "cases":
        return ("the unknown case shown below", "下方显示的未知病例")
    raise AssignmentError(f"unknown pool {pool!r}; expected one of {', '.join(POOLS)}")


POOLS = ("window_tasks", "ct_rois", "ct_calipers", "phantom_questions", "findings", "cases")


def _case_question(case_id: str, qid: str) -> Any:
    case = load_case_by_id(case_id)
    for q in case.questions:
        if q.id == qid:
            return q
    raise AssignmentError(f"case {case_id} has no question {qid!r}; it has "
                          f"{', '.join(q.id for q in case.questions)}")


def _case_finding(case_id: str, index: str) -> Any:
    case = load_case_by_id(case_id)
    try:
        i = int(index)
        return case.findings[i]
    except (ValueError, IndexError):
        raise AssignmentError(f"case {case_id} has findings 0..{len(case.findings) - 1}; "
                              f"found the index {index!r}") from None


# --------------------------------------------------------------------------- the assignment


def _canonical(name: str, seed: str, draw: Mapping[str, Mapping[str, Any]]) -> str:
    return json.dumps({"name": name, "seed": seed, "draw": draw}, sort_keys=True, ensure_ascii=False)


class Assignment:
    """One student's draw of an assignment (build it with :func:`start` or :func:`preview`).

    Parameters
    ----------
    name : str
        The nbgrader assignment id (the folder name).
    student : str
        The student id.
    seed : str
        The course seed of this assignment.
    draw : mapping
        ``{pool name: {"pool": [items], "k": how many}}``.
    """

    def __init__(self, name: str, student: str, *, seed: str,
                 draw: Mapping[str, Mapping[str, Any]]) -> None:
        if not isinstance(name, str) or not name.strip():
            raise AssignmentError(f"assignment name must be a non-empty str, found {name!r}")
        if not isinstance(seed, str) or not seed:
            raise AssignmentError(f"seed must be a non-empty str, found {seed!r}")
        if not isinstance(draw, Mapping):
            raise AssignmentError(f"draw must be a mapping of pool name to {{'pool': [...], 'k': n}}, "
                                  f"found {type(draw).__name__}")
        clean: dict[str, dict[str, Any]] = {}
        for pool, spec in draw.items():
            if pool not in POOLS:
                raise AssignmentError(f"draw: unknown pool {pool!r}; expected one of {', '.join(POOLS)}")
            if not isinstance(spec, Mapping) or set(spec) != {"pool", "k"}:
                raise AssignmentError(f"draw.{pool}: expected {{'pool': [...], 'k': n}}, found {spec!r}")
            items = list(spec["pool"])
            if not all(isinstance(i, str) and i for i in items):
                raise AssignmentError(f"draw.{pool}.pool: expected non-empty strings")
            clean[pool] = {"pool": items, "k": spec["k"]}
        self.name = name
        self.student = str(student)
        self.seed = seed
        self.draw = clean
        self.digest = hashlib.sha256(_canonical(name, seed, clean).encode("utf-8")).hexdigest()
        self._drawn: dict[str, list[str]] = {
            pool: draw_variant(self.student, name, seed, spec["pool"], spec["k"])
            for pool, spec in clean.items()}

    def items(self, pool: str) -> list[str]:
        """The drawn items of ``pool``, in the student's order."""
        if pool not in self._drawn:
            raise AssignmentError(f"assignment {self.name} draws no {pool!r}; it draws "
                                  f"{', '.join(self._drawn) or 'nothing'}")
        return list(self._drawn[pool])

    def tasks(self, pool: str) -> list[Task]:
        """The drawn items of ``pool`` with their prompts."""
        out = []
        for i, item in enumerate(self.items(pool), start=1):
            en, zh = _describe(pool, item)
            out.append(Task(pool, i, item, en, zh))
        return out

    def series(self, dataset: str = "tcia-lung-ct") -> Any:
        """A real series by data-set name (:func:`dataset_series`)."""
        return dataset_series(dataset)

    def phantom(self, case_id: str) -> Any:
        """The synthetic series of a case (:func:`phantom_series`)."""
        return phantom_series(case_id)

    def case_series(self, case_id: str) -> Any:
        """The series a case's findings are on (:func:`case_series`)."""
        return case_series(case_id)

    def citation(self, case_id: str) -> str:
        """``"<licence>: <citation>"`` of a case, to show wherever its images are shown."""
        case = load_case_by_id(case_id)
        return f"{case.licence}: {case.citation}"

    def unknown_case(self) -> UnknownCase:
        """ps04: the drawn case as the student sees it (no title, diagnosis or findings)."""
        return UnknownCase(load_case_by_id(self.items("cases")[0]))

    def choice_questions(self) -> list[dict[str, Any]]:
        """ps04: the public form of the drawn case's choice questions (no answers)."""
        case = load_case_by_id(self.items("cases")[0])
        return [q.to_dict(include_answer=False) for q in case.questions
                if q.kind in _CHOICE_KINDS]

    def marks_recorder(self, path: str | os.PathLike[str] = MARKS_FILE) -> MarksRecorder:
        """A :class:`MarksRecorder` that saves the marks of attached viewers to ``path``."""
        return MarksRecorder(path, student=self.student, assignment=self.name)

    def __repr__(self) -> str:
        lines = [f"{self.name} for student {self.student}"]
        for pool in self._drawn:
            for t in self.tasks(pool):
                lines.append(f"  {pool}[{t.number}]: {t.prompt_en}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(t.pool)}</td><td>{t.number}</td>"
            f"<td>{html.escape(t.prompt_en)}<br><span lang='zh-CN'>{html.escape(t.prompt_zh)}</span></td></tr>"
            for pool in self._drawn for t in self.tasks(pool))
        return (f"<p><b>{html.escape(self.name)}</b>: student <code>{html.escape(self.student)}</code></p>"
                f"<table><tr><th>part</th><th>#</th><th>task</th></tr>{rows}</table>")


_ACTIVE: dict[str, Assignment] = {}


def start(name: str, *, seed: str, draw: Mapping[str, Mapping[str, Any]]) -> Assignment:
    """Draw this kernel's student's variant of ``name`` and register it for the graders.

    The first call in a kernel fixes the student and the spec; calling again
    with the same spec returns the same draw, with another spec raises.

    Raises
    ------
    AssignmentError
        If the assignment was already started with a different spec.
    """
    fresh = Assignment(name, current_student(name), seed=seed, draw=draw)
    old = _ACTIVE.get(name)
    if old is not None:
        if old.digest != fresh.digest:
            raise AssignmentError(f"{name} was already started in this kernel with another set-up "
                                  "(seed or pools); restart the kernel and run the set-up cell unchanged")
        return old
    _ACTIVE[name] = fresh
    return fresh


def preview(name: str, student: str, *, seed: str,
            draw: Mapping[str, Mapping[str, Any]]) -> Assignment:
    """Any student's draw, without registering it (for instructors and tests)."""
    return Assignment(name, student, seed=seed, draw=draw)


def active(name: str | None = None) -> Assignment:
    """The assignment :func:`start` registered in this kernel.

    Raises
    ------
    AssignmentError
        If none (or, without ``name``, several) were started.
    """
    if name is not None:
        if name not in _ACTIVE:
            raise AssignmentError(f"{name} was not started in this kernel: run its set-up cell first")
        return _ACTIVE[name]
    if len(_ACTIVE) != 1:
        raise AssignmentError(f"expected one started assignment in this kernel, found "
                              f"{len(_ACTIVE)} ({', '.join(_ACTIVE) or 'none'}): run the set-up cell first")
    return next(iter(_ACTIVE.values()))


def reset() -> None:
    """Forget the started assignments (tests)."""
    _ACTIVE.clear()


# --------------------------------------------------------------------------- scores


@dataclass(frozen=True)
class ItemResult:
    """How one drawn item was graded (one row of item analysis)."""

    item: str
    kind: str
    response: Any
    score: float
    max_score: float
    feedback_en: str
    feedback_zh: str
    organ_system: str | None = None
    options: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"item": self.item, "kind": self.kind, "response": self.response,
                "score": self.score, "max_score": self.max_score, "organ_system": self.organ_system,
                "options": self.options}


@dataclass(frozen=True)
class Score:
    """The result of a grader: ``points`` of ``max_points`` with per-item feedback.

    Displayed as the last expression of an nbgrader test cell, its plain text
    is the points (partial credit), its HTML the feedback, and it carries the
    per-item records under :data:`RESPONSE_MIMETYPE`.
    """

    assignment: str
    student: str
    part: str
    points: float
    max_points: float
    items: tuple[ItemResult, ...] = field(default=())
    note: str = ""

    def __float__(self) -> float:
        return float(self.points)

    def __repr__(self) -> str:
        return repr(float(self.points))

    def record(self) -> dict[str, Any]:
        """The JSON-able record :func:`caselib.analytics.read_responses` reads."""
        return {"assignment": self.assignment, "student": self.student, "part": self.part,
                "points": self.points, "max_points": self.max_points,
                "items": [i.to_dict() for i in self.items]}

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{n}</td><td>{i.score:g} / {i.max_score:g}</td><td>{html.escape(i.feedback_en)}"
            f"<br><span lang='zh-CN'>{html.escape(i.feedback_zh)}</span></td></tr>"
            for n, i in enumerate(self.items, start=1))
        note = f"<p>{html.escape(self.note)}</p>" if self.note else ""
        return (f"<p><b>{html.escape(self.part)}</b>: {self.points:g} / {self.max_points:g}</p>{note}"
                f"<table><tr><th>#</th><th>points</th><th>feedback</th></tr>{rows}</table>")

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {"text/plain": repr(self), "text/html": self._repr_html_(),
                RESPONSE_MIMETYPE: self.record()}


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, (str, list, tuple, dict)) and len(value) == 0)


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        if isinstance(value, (list, tuple)):
            return [_jsonable(v) for v in value]
        try:
            return float(value)
        except (TypeError, ValueError):
            return repr(value)[:200]


def _answers(namespace: Mapping[str, Any] | None, name: str, n: int) -> tuple[list[Any], str]:
    """The student's list of ``n`` answers called ``name`` (padded with None) and a note."""
    value = None if namespace is None else namespace.get(name)
    if value is None:
        return [None] * n, f"no answer: the variable {name} is not defined"
    if isinstance(value, Mapping) or isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        return [None] * n, f"{name} should be a list of {n} answers, found {type(value).__name__}"
    items = list(value)
    note = "" if len(items) == n else f"{name} has {len(items)} answers; expected {n}"
    return (items + [None] * n)[:n], note


def _finish(a: Assignment, part: str, points: float, items: list[ItemResult], note: str) -> Score:
    total = sum(i.max_score for i in items) or 1.0
    got = sum(i.score for i in items)
    scaled = round(points * got / total, 6)
    scaled_items = tuple(
        ItemResult(i.item, i.kind, i.response, round(points * i.score / total, 6),
                   round(points * i.max_score / total, 6), i.feedback_en, i.feedback_zh,
                   i.organ_system, i.options) for i in items)
    return Score(a.name, a.student, part, min(points, max(0.0, scaled)), float(points), scaled_items, note)


def _guard(a: Assignment) -> str:
    """A note if this kernel's identity no longer matches the registered one."""
    try:
        now = current_student(a.name)
    except AssignmentError as exc:
        return str(exc)
    if now != a.student:
        return (f"the notebook changed who it grades (registered {a.student!r}, now {now!r}); "
                "graded as the registered student")
    return ""


def _quiet(fn: Callable[..., Score]) -> Callable[..., Score]:
    """Run a grader with warnings off: anything on stderr makes nbgrader give the cell 0 points."""
    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Score:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(*args, **kwargs)
    return run


# --------------------------------------------------------------------------- ps01: windowing


def _reference_window(values: Any, center: float, width: float) -> Any:
    import numpy as np

    from caselib.imaging import apply_window

    return apply_window(np.asarray(values, dtype=np.float64), center=center, width=width,
                        dtype=np.float64)


def _window_cases(student: str) -> list[tuple[float, float]]:
    digest = hashlib.sha256(f"window-function\x1f{student}".encode()).digest()
    c = (int.from_bytes(digest[:4], "big") % 1001) - 500.0     # -500..500
    w = 2.0 + int.from_bytes(digest[4:8], "big") % 1999         # 2..2000
    return [(40.0, 400.0), (-600.0, 1500.0), (40.5, 1.0), (3.0, 2.0), (c, w)]


@_quiet
def grade_window_function(namespace: Mapping[str, Any] | None, *, points: float = 2.0,
                          name: str = "window") -> Score:
    """ps01: the student's ``window(hu, center, width)`` against :func:`caselib.imaging.apply_window`.

    Five windows (four fixed, one per student), each checked on the values
    at and around both thresholds of PS3.3 C.11.2.1.2.1 plus a spread; each
    window that matches everywhere (to 1e-6) earns a fifth of the points.
    """
    import numpy as np

    a = active()
    fn = None if namespace is None else namespace.get(name)
    items: list[ItemResult] = []
    for c, w in _window_cases(a.student):
        lower, upper = c - 0.5 - (w - 1) / 2, c - 0.5 + (w - 1) / 2
        values = np.unique(np.concatenate([
            [lower - 1, lower, lower + 0.25, c - 0.5, c, upper - 0.25, upper, upper + 1e-3, upper + 1],
            np.linspace(c - w, c + w, 41)]))
        item = f"window-function:c={c:g},w={w:g}"
        if not callable(fn):
            items.append(ItemResult(item, "function", None, 0.0, 1.0, f"{name}() is not defined.",
                                    f"未定义 {name}()。"))
            continue
        expected = _reference_window(values, c, w)
        try:
            got = np.asarray(fn(values.copy(), c, w), dtype=np.float64)
            ok = got.shape == expected.shape and bool(np.allclose(got, expected, atol=1e-6, rtol=0))
            if ok:
                fb = ("Correct.", "正确。")
            elif got.shape != expected.shape:
                fb = (f"Returned shape {got.shape}, expected {expected.shape}.",
                      f"返回的形状为 {got.shape}，应为 {expected.shape}。")
            else:
                bad = int(np.argmax(~np.isclose(got, expected, atol=1e-6, rtol=0)))
                fb = (f"Wrong for HU {values[bad]:g} with center {c:g}, width {w:g}.",
                      f"窗位 {c:g}、窗宽 {w:g} 时 HU {values[bad]:g} 的结果错误。")
        except Exception as exc:  # the student's code may raise anything
            ok, fb = False, (f"{name}() raised {type(exc).__name__}.", f"{name}() 抛出 {type(exc).__name__}。")
        items.append(ItemResult(item, "function", None, 1.0 if ok else 0.0, 1.0, *fb))
    return _finish(a, "window function", points, items, _guard(a))


def window_task_ok(hu_a: float, hu_b: float, center: float, width: float) -> bool:
    """ps01's criterion: both grey levels (LINEAR, 0..1) in [0.02, 0.98] and at least 0.25 apart."""
    da, db = (float(v) for v in _reference_window([hu_a, hu_b], center, width))
    inside = all(WINDOW_MARGIN <= d <= 1 - WINDOW_MARGIN for d in (da, db))
    return inside and abs(da - db) >= WINDOW_MIN_CONTRAST


@_quiet
def grade_windows(namespace: Mapping[str, Any] | None, *, points: float = 3.0,
                  name: str = "my_windows") -> Score:
    """ps01: one ``(center, width)`` per drawn window task (:func:`window_task_ok`)."""
    a = active()
    tasks = a.tasks("window_tasks")
    answers, note = _answers(namespace, name, len(tasks))
    items = []
    for t, ans in zip(tasks, answers):
        task = WindowTask.parse(t.item)
        organ = load_case_by_id(task.case_id).organ_system.value
        if _empty(ans):
            items.append(ItemResult(t.item, "window", None, 0.0, 1.0, "No answer given.", "未作答。", organ))
            continue
        try:
            c, w = (float(v) for v in ans)
            if not (math.isfinite(c) and math.isfinite(w)) or w < 1:
                raise ValueError
        except (TypeError, ValueError):
            items.append(ItemResult(t.item, "window", _jsonable(ans), 0.0, 1.0,
                                    "Expected (center, width) with width >= 1.",
                                    "应为 (窗位, 窗宽)，窗宽 >= 1。", organ))
            continue
        ok = window_task_ok(task.hu(task.a), task.hu(task.b), c, w)
        fb = ("Correct." if ok else f"Window C {c:g} W {w:g} clips one structure or shows them too alike.",
              "正确。" if ok else f"窗位 {c:g} 窗宽 {w:g}：有结构被截断或两者对比不足。")
        items.append(ItemResult(t.item, "window", [c, w], 1.0 if ok else 0.0, 1.0, *fb, organ))
    return _finish(a, "windows", points, items, "; ".join(x for x in (note, _guard(a)) if x))


# --------------------------------------------------------------------------- ps02: measurements


def ct_roi_mean(item: str) -> float:
    """The mean HU of a ``ct_rois`` item, measured on the series' pixels with caselib.imaging."""
    from caselib.imaging import circle_mask_mm, roi_stats

    roi = CTRoi.parse(item)
    series = dataset_series(roi.dataset)
    image = _dataset_volume(roi.dataset)[roi.slice]
    mask = circle_mask_mm(image.shape, (roi.row, roi.col), roi.radius_mm, series.pixel_spacing)
    return float(roi_stats(image, mask, series.pixel_spacing).mean)


def tissue_class(hu: float) -> int:
    """Index into :data:`TISSUE_CLASSES` of a mean HU."""
    for i, (_, _, _, lo, hi) in enumerate(TISSUE_CLASSES):
        if lo <= hu < hi:
            return i
    raise ValueError(f"HU must be finite, got {hu!r}")


def _numeric_item(item: str, answer: Any, key: float, tol: float, unit: str,
                  organ: str | None) -> ItemResult:
    from caselib.cases import Numeric, Text, grade

    q = Numeric(id=item, prompt=Text(zh="测量", en="measure"), answer=key, abs_tol=tol, unit=unit)
    try:
        r = grade(q, None if _empty(answer) else float(answer))
        return ItemResult(item, "numeric", _jsonable(answer), float(r.score or 0.0), 1.0,
                          r.feedback_en, r.feedback_zh, organ)
    except (TypeError, ValueError):
        return ItemResult(item, "numeric", _jsonable(answer), 0.0, 1.0,
                          f"Expected a number, found {type(answer).__name__}.",
                          f"应为数值，实际为 {type(answer).__name__}。", organ)


@_quiet
def grade_ct_hu(namespace: Mapping[str, Any] | None, *, points: float = 2.0,
                name: str = "ct_mean_hu") -> Score:
    """ps02: mean HU of each drawn ROI on the real CT, within :data:`CT_HU_TOL`."""
    a = active()
    tasks = a.tasks("ct_rois")
    answers, note = _answers(namespace, name, len(tasks))
    items = [_numeric_item(t.item, ans, ct_roi_mean(t.item), CT_HU_TOL, "HU", "respiratory")
             for t, ans in zip(tasks, answers)]
    return _finish(a, "CT mean HU", points, items, "; ".join(x for x in (note, _guard(a)) if x))


@_quiet
def grade_ct_tissue(namespace: Mapping[str, Any] | None, *, points: float = 1.0,
                    name: str = "ct_tissue") -> Score:
    """ps02: the :data:`TISSUE_CLASSES` index matching each drawn ROI's measured mean."""
    from caselib.cases import SingleChoice, Text, grade

    a = active()
    tasks = a.tasks("ct_rois")
    answers, note = _answers(namespace, name, len(tasks))
    options = tuple(Text(zh=zh, en=en) for _, en, zh, _, _ in TISSUE_CLASSES)
    items = []
    for t, ans in zip(tasks, answers):
        q = SingleChoice(id=t.item, prompt=Text(zh="组织", en="tissue"), options=options,
                         answer=tissue_class(ct_roi_mean(t.item)))
        try:
            r = grade(q, None if _empty(ans) else ans)
            items.append(ItemResult(t.item, "single_choice", _jsonable(ans), float(r.score or 0.0), 1.0,
                                    r.feedback_en, r.feedback_zh, "respiratory", len(options)))
        except (TypeError, ValueError) as exc:
            items.append(ItemResult(t.item, "single_choice", _jsonable(ans), 0.0, 1.0,
                                    f"Expected an option index 0..{len(options) - 1}: {exc}",
                                    f"应为选项编号 0..{len(options) - 1}。", "respiratory", len(options)))
    return _finish(a, "CT tissue", points, items, "; ".join(x for x in (note, _guard(a)) if x))


@_quiet
def grade_ct_distance(namespace: Mapping[str, Any] | None, *, points: float = 1.0,
                      name: str = "ct_distance_mm") -> Score:
    """ps02: each drawn caliper's length in mm (pixel spacing (0028,0030)), within 0.5 mm."""
    from caselib.imaging import distance_mm

    a = active()
    tasks = a.tasks("ct_calipers")
    answers, note = _answers(namespace, name, len(tasks))
    items = []
    for t, ans in zip(tasks, answers):
        cal = CTCaliper.parse(t.item)
        key = distance_mm((cal.r0, cal.c0), (cal.r1, cal.c1), dataset_series(cal.dataset).pixel_spacing)
        items.append(_numeric_item(t.item, ans, key, CT_DISTANCE_TOL_MM, "mm", "respiratory"))
    return _finish(a, "CT distance", points, items, "; ".join(x for x in (note, _guard(a)) if x))


@_quiet
def grade_phantom_answers(namespace: Mapping[str, Any] | None, *, points: float = 2.0,
                          name: str = "phantom_answers") -> Score:
    """ps02: the drawn numeric questions of synthetic cases, graded by :func:`caselib.cases.grade`."""
    from caselib.cases import grade

    a = active()
    tasks = a.tasks("phantom_questions")
    answers, note = _answers(namespace, name, len(tasks))
    items = []
    for t, ans in zip(tasks, answers):
        case_id, qid = _split_case_item(t.item, "/", "phantom question")
        q = _case_question(case_id, qid)
        organ = load_case_by_id(case_id).organ_system.value
        try:
            r = grade(q, None if _empty(ans) else float(ans))
            items.append(ItemResult(t.item, "numeric", _jsonable(ans), float(r.score or 0.0) / q.max_score,
                                    1.0, r.feedback_en, r.feedback_zh, organ))
        except (TypeError, ValueError):
            items.append(ItemResult(t.item, "numeric", _jsonable(ans), 0.0, 1.0, "Expected a number.",
                                    "应为数值。", organ))
    return _finish(a, "phantom measurements", points, items, "; ".join(x for x in (note, _guard(a)) if x))


# --------------------------------------------------------------------------- ps03: marks


class MarksRecorder:
    """Saves the point, ellipse and line marks of one or more viewers to one file.

    Each attached viewer (anything with ``marks`` and ``observe_marks``,
    such as :class:`caselib.ui.viewer.Viewer`) is watched; on every change
    the marks of all viewers are written with
    :func:`caselib.cases.marks.save_marks`.
    """

    def __init__(self, path: str | os.PathLike[str] = MARKS_FILE, *, student: str | None = None,
                 assignment: str | None = None) -> None:
        self.path = Path(path)
        self.student = student
        self.assignment = assignment
        self._viewers: list[Any] = []

    def attach(self, viewer: Any) -> Any:
        """Watch ``viewer``; returns it, so ``recorder.attach(Viewer(...))`` displays."""
        self._viewers.append(viewer)
        viewer.observe_marks(lambda _marks: self.save())
        return viewer

    def marks(self) -> list[Any]:
        """The marks of all attached viewers, in attachment order."""
        return [m for v in self._viewers for m in v.marks]

    def save(self) -> Path:
        """Write the marks now (also called on every change)."""
        from caselib.cases.marks import save_marks

        return save_marks(self.path, self.marks(), case_id=self.assignment, student=self.student)


def _finding_hit(mark: Any, finding: Any, series: Any, tolerance_mm: float) -> bool:
    """Does a point mark hit a finding's ROI, compared in patient coordinates?"""
    import numpy as np

    from caselib.cases import Hotspot, Text, grade_hotspot
    from caselib.cases.marks import mark_to_patient

    affine = np.asarray(series.affine, dtype=np.float64)
    if mark.patient_mm is not None:
        point = np.asarray(mark.patient_mm, dtype=np.float64)
    else:
        point = np.asarray(mark_to_patient(mark.row, mark.col, mark.slice_index, affine))
    col, row, k = (np.linalg.solve(affine[:3, :3], point - affine[:3, 3])).tolist()
    normal = affine[:3, 2]
    roi = finding.roi
    reach = max(getattr(roi, "radius_mm", 0.0), getattr(roi, "radius_row_mm", 0.0),
                getattr(roi, "radius_col_mm", 0.0), getattr(roi, "tolerance_mm", 0.0))
    if abs(k - finding.slice_index) * float(np.linalg.norm(normal)) > reach + tolerance_mm:
        return False
    q = Hotspot.from_finding(finding, id="mark", prompt=Text(zh="标记", en="mark"),
                             pixel_spacing=series.pixel_spacing, tolerance_mm=tolerance_mm)
    return bool(grade_hotspot(q, (finding.slice_index, row, col)).score)


@_quiet
def grade_marks(namespace: Mapping[str, Any] | None = None, *, points: float = 4.0,
                path: str | os.PathLike[str] = MARKS_FILE) -> Score:
    """ps03: the viewer's point marks in ``path`` against each drawn finding's ROI.

    A point mark hits a finding when, in patient coordinates (the series'
    affine, or the mark's own ``patient_mm``), it lies within the ROI's
    radius + :data:`MARK_TOLERANCE_MM` of the finding's slice plane and,
    projected onto that slice, inside the ROI widened by the same tolerance
    (:func:`caselib.cases.grade_hotspot`).  Only marks on the finding's
    series count, and only the first ``findings + 2`` point marks (marking
    everywhere earns nothing).
    """
    from caselib.cases.marks import MarksFormatError, load_marks_file

    a = active()
    tasks = a.tasks("findings")
    note = ""
    marks: list[Any] = []
    p = Path(path)
    if not p.is_file():
        note = f"no {p.name}: mark the findings in the viewer (the marks are saved there)"
    else:
        try:
            marks = [m for m in load_marks_file(p).marks if m.kind == "point"]
        except (MarksFormatError, OSError) as exc:
            note = f"{p.name} could not be read: {exc}"
    limit = len(tasks) + 2
    if len(marks) > limit:
        note = f"{len(marks)} point marks; only the first {limit} count"
        marks = marks[:limit]
    items = []
    for t in tasks:
        case_id, idx = _split_case_item(t.item, "#", "finding")
        finding = _case_finding(case_id, idx)
        series = case_series(case_id)
        uid = series.series_instance_uid
        mine = [m for m in marks if m.series_uid in ("", uid)]
        hit = any(_finding_hit(m, finding, series, MARK_TOLERANCE_MM) for m in mine)
        organ = load_case_by_id(case_id).organ_system.value
        response = [[m.slice_index, round(m.row, 1), round(m.col, 1)] for m in mine]
        fb = (("Correct: a mark is on the finding.", "正确：有标记位于病灶上。") if hit else
              ("No mark on this finding.", "该病灶上没有标记。") if not mine else
              ("Incorrect: no mark is on the finding.", "错误：没有标记位于病灶上。"))
        items.append(ItemResult(t.item, "hotspot", response, 1.0 if hit else 0.0, 1.0, *fb, organ))
    return _finish(a, "marks", points, items, "; ".join(x for x in (note, _guard(a)) if x))


# --------------------------------------------------------------------------- ps04: case report


_CHOICE_KINDS = ("single_choice", "multiple_choice", "true_false")


@_quiet
def grade_choices(namespace: Mapping[str, Any] | None, *, points: float = 2.0,
                  name: str = "choices") -> Score:
    """ps04: ``choices = {question id: answer}`` for the drawn case's choice questions."""
    from caselib.cases import grade

    a = active()
    case = load_case_by_id(a.items("cases")[0])
    value = None if namespace is None else namespace.get(name)
    note = ""
    if value is None:
        value, note = {}, f"no answer: the variable {name} is not defined"
    elif not isinstance(value, Mapping):
        value, note = {}, f"{name} should be a dict of question id to answer, found {type(value).__name__}"
    items = []
    for q in case.questions:
        if q.kind not in _CHOICE_KINDS:
            continue
        ans = value.get(q.id)
        if isinstance(ans, list) and q.kind == "multiple_choice":
            ans = tuple(ans)
        n_opt = len(q.options) if hasattr(q, "options") else 2
        item = f"{case.id}/{q.id}"
        try:
            r = grade(q, ans)
            items.append(ItemResult(item, q.kind, _jsonable(ans), float(r.score or 0.0) / q.max_score, 1.0,
                                    r.feedback_en, r.feedback_zh, case.organ_system.value, n_opt))
        except (TypeError, ValueError) as exc:
            items.append(ItemResult(item, q.kind, _jsonable(ans), 0.0, 1.0, f"Invalid answer: {exc}",
                                    "答案格式无效。", case.organ_system.value, n_opt))
    return _finish(a, "choices", points, items, "; ".join(x for x in (note, _guard(a)) if x))


@dataclass(frozen=True)
class UnknownCase:
    """ps04's unknown case: history, technique, images and citation; nothing that names it."""

    case: Any

    def images(self) -> list[Any]:
        """The case's series, read with :mod:`caselib.dicom` (manifest keys)."""
        from caselib.data import fetch, fetch_dataset, load_manifest
        from caselib.dicom import read

        manifest = load_manifest()
        out = []
        for ref in self.case.series:
            if ref.manifest_key is None:
                continue
            key = ref.manifest_key
            path = fetch_dataset(key) if key in getattr(manifest, "datasets", {}) else fetch(key)
            out.extend(read(path).series)
        return out

    def show(self, max_pixels: int = 512) -> Any:
        """A matplotlib figure of the first frame of each image (decimated), with the citation."""
        import matplotlib.pyplot as plt

        from caselib.imaging import apply_window, auto_window

        series = self.images()
        fig, axes = plt.subplots(1, max(1, len(series)), figsize=(3 * max(1, len(series)), 3.4),
                                 squeeze=False)
        for ax, s in zip(axes[0], series):
            frame = s.frame(0)
            step = max(1, math.ceil(max(frame.shape[:2]) / max_pixels))
            small = frame[::step, ::step]
            window = s.windows[0] if s.windows else auto_window(small)
            ax.imshow(apply_window(small, window, invert=s.inverted_grayscale), cmap="gray",
                      vmin=0, vmax=1)
            ax.set_axis_off()
        for ax in axes[0][len(series):]:
            ax.set_axis_off()
        fig.suptitle(self.case.citation, fontsize=6, wrap=True)
        plt.close(fig)
        return fig

    def _repr_html_(self) -> str:
        c = self.case
        return (f"<p><b>Modality / 检查方式</b>: {html.escape(', '.join(c.modality))}; "
                f"<b>{html.escape(c.anatomy.en)}</b> / {html.escape(c.anatomy.zh)}</p>"
                f"<p><b>History / 病史</b>: {html.escape(c.history.en)}<br>{html.escape(c.history.zh)}</p>"
                f"<p><b>Technique / 技术</b>: {html.escape(c.technique.en)}<br>{html.escape(c.technique.zh)}</p>"
                f"<p><small>{html.escape(c.licence)}: {html.escape(c.citation)}</small></p>")


@dataclass(frozen=True)
class Rubric:
    """The grader's rubric for ps04's written report, built from the case's own text."""

    case: Any
    visible: bool

    def lines(self) -> list[tuple[str, str]]:
        c = self.case
        out = [("Findings (4 points): a systematic description of the images shown; technique: "
                + c.technique.en, "所见（4 分）：系统描述所示图像；技术：" + c.technique.zh)]
        if c.findings:
            for f in c.findings:
                out.append(("- credit: " + f.description.en, "- 得分点：" + f.description.zh))
        else:
            out.append(("- the source marks no finding position: credit an accurate, systematic "
                        "description; do not reward invented findings",
                        "- 来源未标注病灶位置：按描述是否准确、系统给分，不奖励臆造的所见"))
        if c.diagnosis is not None:
            conf = c.confirmation.value if c.confirmation is not None else ""
            out.append((f"Impression (2 points): consistent with '{c.diagnosis.en}' "
                        f"(as stated by the source; confirmation: {conf})",
                        f"印象（2 分）：与“{c.diagnosis.zh}”一致（依据来源；确认方式：{conf}）"))
        else:
            assert c.topic is not None
            out.append((f"Impression (2 points): addresses '{c.topic.en}'",
                        f"印象（2 分）：涉及“{c.topic.zh}”"))
        for tp in c.teaching_points:
            out.append(("- teaching point: " + tp.en, "- 教学要点：" + tp.zh))
        for q in c.questions:
            if q.kind == "free_text":
                out.append(("- case rubric: " + q.rubric.en, "- 病例评分标准：" + q.rubric.zh))
        return out

    def _repr_html_(self) -> str:
        if not self.visible:
            return ("<p><i>The grading rubric is shown to graders after submission.</i> "
                    "<i>评分标准将在提交后向阅卷教师显示。</i></p>")
        items = "".join(f"<li>{html.escape(en)}<br><span lang='zh-CN'>{html.escape(zh)}</span></li>"
                        for en, zh in self.lines())
        return f"<p><b>Rubric / 评分标准</b> ({html.escape(self.case.id)})</p><ul>{items}</ul>"

    def __repr__(self) -> str:
        if not self.visible:
            return "The grading rubric is shown to graders after submission."
        return "\n".join(en for en, _ in self.lines())


def show_rubric() -> Rubric:
    """ps04: the rubric of this student's case, visible only while autograding.

    The autograded notebook is what formgrader shows, so the grader reads
    the rubric of exactly this student's case next to the answer; the student
    sees a note instead.  ``$CASELIB_SHOW_RUBRIC=1`` shows it anyway
    (instructors previewing).
    """
    a = active()
    visible = (os.environ.get("NBGRADER_EXECUTION") == "autograde"
               or os.environ.get("CASELIB_SHOW_RUBRIC") == "1")
    return Rubric(load_case_by_id(a.items("cases")[0]), visible)


def preview_notebook(path: str | os.PathLike[str], student: str) -> Assignment:
    """Any student's draw of the assignment whose source notebook is ``path``.

    >>> preview_notebook("assignments/source/ps01_windowing/ps01_windowing.ipynb", "s001")  # doctest: +SKIP
    """
    spec = spec_from_notebook(path)
    return preview(spec["name"], student, seed=spec["seed"], draw=spec["draw"])


def find_items(pool: str, items: Iterable[str]) -> list[tuple[str, str]]:
    """Describe pool items (instructors checking a pool); raises on an invalid item."""
    return [_describe(pool, i) for i in items]


def spec_from_notebook(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``name``, ``seed`` and ``draw`` of the :func:`start` call in a notebook's set-up cell.

    The arguments must be literals (as in the course's notebooks); they are
    read with :func:`ast.literal_eval`, never executed.  With
    :func:`preview`, an instructor sees any student's draw::

        spec = spec_from_notebook("source/ps01_windowing/ps01_windowing.ipynb")
        preview(spec["name"], "s001", seed=spec["seed"], draw=spec["draw"])

    Raises
    ------
    AssignmentError
        If no cell calls ``start(name, seed=..., draw=...)`` with literal arguments.
    """
    import ast

    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        source = "".join(cell.get("source", []))
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "start" and node.args:
                try:
                    kw = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
                    return {"name": ast.literal_eval(node.args[0]), "seed": kw["seed"], "draw": kw["draw"]}
                except (ValueError, KeyError):
                    break
    raise AssignmentError(f"{path}: expected a cell calling start(name, seed=..., draw=...) with "
                          "literal arguments, found none")

