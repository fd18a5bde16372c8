"""Problem-based learning (PBL) cases: stages that unlock one after another.

A PBL case is a sequence of stages (typically presentation -> imaging ->
further tests -> outcome).  Each stage has a bilingual title and text, its
prompts (questions of :mod:`caselib.cases.questions`) and optional series.
A :class:`PBLSession` walks one student through a case:

- :meth:`PBLSession.current_stage` returns a :class:`StageView`, the
  student-safe form of the current stage (public question forms, no answers,
  nothing about later stages);
- :meth:`PBLSession.answer` grades with :func:`caselib.cases.grading.grade`
  and logs the answer; answering again *changes* the answer and the change
  is logged with the previous value;
- :meth:`PBLSession.advance` unlocks the next stage only when every prompt of
  the current stage has an answer; advancing from the last stage finishes
  the session;
- :attr:`PBLSession.log`, :meth:`PBLSession.time_on_stage` and
  :meth:`PBLSession.summary` report what happened;
- :meth:`PBLSession.to_state` / :meth:`PBLSession.from_state` serialise the
  session as JSON-ready data that names stage and prompt ids only (content
  stays in the case, on the server).  Restoring re-checks the gating, so an
  edited state cannot skip a stage, and re-grades the answers with the case.

What "server-side" means here
-----------------------------
The session keeps the case in a private attribute whose ``repr`` shows only
its id and size, and no public attribute or method of the session or of a
view returns text, prompts or answers of a stage before it is unlocked;
``repr``, ``vars`` and :meth:`PBLSession.to_state` of a session hold no such
content either.  Python cannot hide an object from code running in the same
process, so the PBL player must run in a kernel the student does not control
(Voila, a server) for the gate to be a real barrier; in a notebook the
student runs, the gate is a teaching aid.

Rules
-----
- Prompt ids are unique across the whole case, so ``answer(prompt_id, ...)``
  is unambiguous.  A prompt id that is unknown or belongs to a later stage
  gets the same :class:`PromptNotAvailableError` and message, so the API
  does not reveal which ids exist later.
- An empty answer (``None``, ``""``, an empty list) is refused; it would not
  count as answered.
- Answers of a stage are final once the student advances past it.
- A free-text answer counts as answered; its score stays ``None`` (pending)
  until a teacher grades it.
- Times are seconds from the injected ``clock`` (default
  :func:`time.monotonic`); log times are seconds since the session started,
  counting only time the session was live (the gap between saving and
  restoring a state is not counted).

YAML form
---------
.. code-block:: yaml

    id: pbl-chest-001
    title: {zh: 咳嗽、发热 3 天, en: Three days of cough and fever}
    stages:
      - id: presentation
        kind: presentation          # optional: presentation, imaging, further_tests, outcome
        title: {zh: 临床表现, en: Presentation}
        text: {zh: 男，45 岁……, en: A 45-year-old man ...}
        prompts:
          - {type: single_choice, id: p1, prompt: {...}, options: [...], answer: 0}
      - id: imaging
        title: {zh: 影像检查, en: Imaging}
        text: {...}
        series: [{manifest_key: demo/ct-chest}]
        prompts: [...]

Examples
--------
>>> case = PBLCase.from_dict({
...     "id": "pbl-1", "title": {"zh": "病例", "en": "Case"},
...     "stages": [
...         {"id": "s1", "title": {"zh": "表现", "en": "Presentation"},
...          "text": {"zh": "发热", "en": "Fever"},
...          "prompts": [{"type": "true_false", "id": "q1",
...                       "prompt": {"zh": "需要影像?", "en": "Image?"}, "answer": True}]},
...         {"id": "s2", "title": {"zh": "结局", "en": "Outcome"},
...          "text": {"zh": "痊愈", "en": "Recovered"}}]})
>>> s = PBLSession(case, "student-1", clock=lambda: 0.0)
>>> s.current_stage().id
's1'
>>> s.answer("q1", True).score
1.0
>>> s.advance().id
's2'
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from caselib.cases.grading import GradeResult, grade
from caselib.cases.questions import Question, question_from_dict
from caselib.cases.schema import (
    SeriesRef,
    Text,
    _join,
    _read_series_ref,
    _Reader,
    read_case_yaml,
)
from caselib.errors import CaselibError

__all__ = [
    "STAGE_KINDS",
    "PBLStage",
    "PBLCase",
    "StageView",
    "PBLEvent",
    "PBLSession",
    "PBLError",
    "PromptNotAvailableError",
    "StageIncompleteError",
    "SessionFinishedError",
    "PBLStateError",
    "load_pbl_case",
]

STAGE_KINDS: tuple[str, ...] = ("presentation", "imaging", "further_tests", "outcome")
"""Allowed values of the optional ``kind`` of a stage."""

STATE_FORMAT = "caselib.pbl-session"
STATE_VERSION = 1


# --------------------------------------------------------------------------- errors


class PBLError(CaselibError, ValueError):
    """A PBL session was asked to do something its rules forbid."""


class PromptNotAvailableError(PBLError):
    """The prompt id is unknown, belongs to a later stage, or its stage is closed."""


class StageIncompleteError(PBLError):
    """``advance()`` was called before every prompt of the current stage was answered."""


class SessionFinishedError(PBLError):
    """The session is finished; nothing can be answered or advanced."""


class PBLStateError(PBLError):
    """A saved session state does not fit the case or breaks the gating rules."""


# --------------------------------------------------------------------------- case


def _text(owner: str, name: str, value: object) -> Text:
    if not isinstance(value, Text):
        raise TypeError(f"{owner}.{name} must be a Text, got {type(value).__name__}")
    return value


@dataclass(frozen=True)
class PBLStage:
    """One stage of a PBL case (teacher/server-side: holds the answers).

    ``repr`` is short on purpose (id and prompt count only) so that a stage
    printed in a log or traceback does not reveal its content.
    """

    id: str
    title: Text = field(repr=False)
    text: Text = field(repr=False)
    prompts: tuple[Question, ...] = field(default=(), repr=False)
    series: tuple[SeriesRef, ...] = field(default=(), repr=False)
    kind: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id.strip():
            raise ValueError(f"PBLStage.id must be a non-empty str, got {self.id!r}")
        _text("PBLStage", "title", self.title)
        _text("PBLStage", "text", self.text)
        object.__setattr__(self, "prompts", tuple(self.prompts))
        object.__setattr__(self, "series", tuple(self.series))
        for q in self.prompts:
            if not isinstance(q, Question):
                raise TypeError(f"PBLStage {self.id}: prompts must be Question objects, "
                                f"got {type(q).__name__}")
        ids = [q.id for q in self.prompts]
        if len(set(ids)) != len(ids):
            raise ValueError(f"PBLStage {self.id}: prompt ids repeat: {ids}")
        for s in self.series:
            if not isinstance(s, SeriesRef):
                raise TypeError(f"PBLStage {self.id}: series must be SeriesRef objects, "
                                f"got {type(s).__name__}")
        if self.kind is not None and self.kind not in STAGE_KINDS:
            raise ValueError(f"PBLStage {self.id}: kind must be one of {', '.join(STAGE_KINDS)} "
                             f"or None, got {self.kind!r}")

    def __repr__(self) -> str:
        return f"PBLStage(id={self.id!r}, kind={self.kind!r}, prompts={len(self.prompts)})"

    def to_dict(self) -> dict[str, Any]:
        """Return the YAML form, answers included (the teacher's form)."""
        d: dict[str, Any] = {"id": self.id}
        if self.kind is not None:
            d["kind"] = self.kind
        d["title"] = self.title.to_dict()
        d["text"] = self.text.to_dict()
        if self.series:
            d["series"] = [s.to_dict() for s in self.series]
        if self.prompts:
            d["prompts"] = [q.to_dict() for q in self.prompts]
        return d


_STAGE_FIELDS = ("id", "kind", "title", "text", "prompts", "series")
_CASE_FIELDS = ("id", "title", "stages")


@dataclass(frozen=True)
class PBLCase:
    """A validated PBL case: an id, a title and at least one stage.

    Stage ids are unique; prompt ids are unique across all stages.
    ``repr`` shows only the id and the number of stages.
    """

    id: str
    title: Text
    stages: tuple[PBLStage, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id.strip():
            raise ValueError(f"PBLCase.id must be a non-empty str, got {self.id!r}")
        _text("PBLCase", "title", self.title)
        object.__setattr__(self, "stages", tuple(self.stages))
        if not self.stages:
            raise ValueError(f"PBLCase {self.id}: needs at least one stage")
        for s in self.stages:
            if not isinstance(s, PBLStage):
                raise TypeError(f"PBLCase {self.id}: stages must be PBLStage objects, "
                                f"got {type(s).__name__}")
        sids = [s.id for s in self.stages]
        if len(set(sids)) != len(sids):
            raise ValueError(f"PBLCase {self.id}: stage ids repeat: {sids}")
        pids = [q.id for s in self.stages for q in s.prompts]
        if len(set(pids)) != len(pids):
            raise ValueError(f"PBLCase {self.id}: prompt ids must be unique across stages: {pids}")

    def __repr__(self) -> str:
        return f"PBLCase(id={self.id!r}, stages={len(self.stages)})"

    def stage_index(self, prompt_id: str) -> int | None:
        """Index of the stage holding ``prompt_id`` (None if no stage does)."""
        for i, s in enumerate(self.stages):
            if any(q.id == prompt_id for q in s.prompts):
                return i
        return None

    def to_dict(self) -> dict[str, Any]:
        """Return the YAML form, answers included (the teacher's form)."""
        return {"id": self.id, "title": self.title.to_dict(),
                "stages": [s.to_dict() for s in self.stages]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, origin: str | None = None) -> PBLCase:
        """Validate a parsed YAML mapping (see the module docstring) and build the case.

        Raises
        ------
        CaseSchemaError
            Naming the field path (``stages[1].prompts[0].answer``), what was
            expected and what was found.
        """
        r = _Reader(origin)
        m = r.mapping(data, "", _CASE_FIELDS)
        case_id = r.string(r.get(m, "id", ""), "id")
        title = r.text(r.get(m, "title", ""), "title")
        raw_stages = r.seq(r.get(m, "stages", ""), "stages", non_empty=True)
        stages: list[PBLStage] = []
        seen_stage: set[str] = set()
        seen_prompt: set[str] = set()
        for i, sv in enumerate(raw_stages):
            p = f"stages[{i}]"
            sm = r.mapping(sv, p, _STAGE_FIELDS)
            sid = r.string(r.get(sm, "id", p), _join(p, "id"))
            if sid in seen_stage:
                raise r.fail(_join(p, "id"), "a stage id unique in the case", sid)
            seen_stage.add(sid)
            kind = sm.get("kind")
            if kind is not None and kind not in STAGE_KINDS:
                raise r.fail(_join(p, "kind"), "one of " + ", ".join(STAGE_KINDS), kind)
            prompts = []
            for j, qv in enumerate(r.seq(sm.get("prompts", []), _join(p, "prompts"))):
                qp = f"{p}.prompts[{j}]"
                q = question_from_dict(qv, origin=origin, path=qp)
                if q.id in seen_prompt:
                    raise r.fail(_join(qp, "id"), "a prompt id unique in the whole case", q.id)
                seen_prompt.add(q.id)
                prompts.append(q)
            series = tuple(_read_series_ref(r, v, f"{p}.series[{k}]")
                           for k, v in enumerate(r.seq(sm.get("series", []), _join(p, "series"))))
            stages.append(PBLStage(
                id=sid,
                title=r.text(r.get(sm, "title", p), _join(p, "title")),
                text=r.text(r.get(sm, "text", p), _join(p, "text")),
                prompts=tuple(prompts), series=series, kind=kind,
            ))
        return cls(id=case_id, title=title, stages=tuple(stages))


def load_pbl_case(path: str | os.PathLike[str]) -> PBLCase:
    """Load and validate a PBL case from a YAML file (or a folder holding ``pbl.yaml``).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    CaseSchemaError
        If the YAML is malformed or does not follow the schema; the message
        starts with the file path.
    """
    data, origin = read_case_yaml(path, "pbl.yaml")
    return PBLCase.from_dict(data, origin=origin)


# --------------------------------------------------------------------------- student side


@dataclass(frozen=True)
class StageView:
    """The student-safe form of one unlocked stage.

    ``prompts`` are the public question forms
    (:meth:`~caselib.cases.questions.Question.to_dict` with
    ``include_answer=False``); ``answers`` are the student's own current
    answers by prompt id; ``index`` and ``n_stages`` allow "stage 2 of 4".
    """

    case_id: str
    index: int
    n_stages: int
    id: str
    kind: str | None
    title: Text
    text: Text
    series: tuple[SeriesRef, ...]
    prompts: tuple[Mapping[str, Any], ...]
    answers: Mapping[str, Any]
    is_last: bool

    @property
    def unanswered(self) -> tuple[str, ...]:
        """Prompt ids of this stage still without an answer."""
        return tuple(q["id"] for q in self.prompts if q["id"] not in self.answers)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (what a front end receives)."""
        return {
            "case_id": self.case_id, "index": self.index, "n_stages": self.n_stages,
            "id": self.id, "kind": self.kind, "title": self.title.to_dict(),
            "text": self.text.to_dict(), "series": [s.to_dict() for s in self.series],
            "prompts": [dict(q) for q in self.prompts], "answers": dict(self.answers),
            "is_last": self.is_last,
        }


@dataclass(frozen=True)
class PBLEvent:
    """One entry of the session log.

    ``kind`` is ``'enter'`` (a stage was unlocked/entered), ``'answer'``
    (first answer to a prompt), ``'change'`` (a new answer replacing
    ``previous``), ``'advance'`` (the stage was left), ``'finish'`` or
    ``'restore'``.  ``t`` is seconds since the session started.
    """

    t: float
    kind: str
    stage_id: str
    prompt_id: str | None = None
    value: Any = None
    previous: Any = None
    score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"t": self.t, "kind": self.kind, "stage_id": self.stage_id,
                "prompt_id": self.prompt_id, "value": self.value,
                "previous": self.previous, "score": self.score}


_EVENT_KINDS = ("enter", "answer", "change", "advance", "finish", "restore")


def _jsonable(value: Any) -> Any:
    """Answers as JSON data: tuples/sets -> lists (sets sorted)."""
    if isinstance(value, (set, frozenset)):
        return sorted(_jsonable(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    item = getattr(value, "item", None)     # numpy scalars from a viewer, without importing numpy
    if callable(item) and getattr(value, "shape", None) == ():
        return _jsonable(item())
    raise TypeError(f"an answer must be JSON data (numbers, strings, lists), "
                    f"got {type(value).__name__}")


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple, set, frozenset, dict)):
        return len(value) == 0
    return False


class PBLSession:
    """One student's walk through a :class:`PBLCase`.

    Parameters
    ----------
    case : PBLCase
        The case, held server-side.
    student_id : str
        Who is answering (pseudonymous id).
    clock : callable returning float seconds
        Injected for tests; default :func:`time.monotonic`.

    Raises
    ------
    PromptNotAvailableError, StageIncompleteError, SessionFinishedError
        From :meth:`answer` and :meth:`advance` when the rules forbid it.
    """

    def __init__(self, case: PBLCase, student_id: str, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not isinstance(case, PBLCase):
            raise TypeError(f"case must be a PBLCase, got {type(case).__name__}")
        if not isinstance(student_id, str) or not student_id.strip():
            raise ValueError(f"student_id must be a non-empty str, got {student_id!r}")
        self._case = case
        self._student_id = student_id
        self._clock = clock
        self._index = 0
        self._finished = False
        self._t0 = float(clock())          # clock reading matching elapsed == _offset
        self._offset = 0.0                 # elapsed seconds before this process took over
        self._stage_t0 = 0.0               # elapsed time the current stage was entered
        self._stage_time: dict[str, float] = {}   # closed time per reached stage id
        self._answers: dict[str, Any] = {}        # prompt id -> current value (JSON data)
        self._grades: dict[str, GradeResult] = {}
        self._log: list[PBLEvent] = []
        self._event("enter", self._stage().id)

    # ----------------------------------------------------------------- internals

    def __repr__(self) -> str:
        state = "finished" if self._finished else f"stage {self._index + 1}"
        return (f"PBLSession(case={self._case.id!r}, student={self._student_id!r}, "
                f"{state} of {len(self._case.stages)})")

    def _elapsed(self) -> float:
        return self._offset + (float(self._clock()) - self._t0)

    def _stage(self) -> PBLStage:
        return self._case.stages[self._index]

    def _event(self, kind: str, stage_id: str, **kw: Any) -> None:
        self._log.append(PBLEvent(t=self._elapsed(), kind=kind, stage_id=stage_id, **kw))

    def _view(self, i: int) -> StageView:
        s = self._case.stages[i]
        return StageView(
            case_id=self._case.id, index=i, n_stages=len(self._case.stages), id=s.id,
            kind=s.kind, title=s.title, text=s.text, series=s.series,
            prompts=tuple(q.to_dict(include_answer=False) for q in s.prompts),
            answers={q.id: self._answers[q.id] for q in s.prompts if q.id in self._answers},
            is_last=i == len(self._case.stages) - 1,
        )

    def _not_available(self, prompt_id: object) -> PromptNotAvailableError:
        return PromptNotAvailableError(
            f"prompt {prompt_id!r} is not a prompt of the current stage "
            f"{self._stage().id!r}; its prompts are "
            f"{[q.id for q in self._stage().prompts]}")

    # ----------------------------------------------------------------- public API

    @property
    def student_id(self) -> str:
        return self._student_id

    @property
    def case_id(self) -> str:
        return self._case.id

    @property
    def stage_number(self) -> int:
        """0-based index of the current stage."""
        return self._index

    @property
    def n_stages(self) -> int:
        return len(self._case.stages)

    @property
    def finished(self) -> bool:
        """True once :meth:`advance` was called on the last stage."""
        return self._finished

    def current_stage(self) -> StageView:
        """The student-safe view of the current stage (the last one once finished)."""
        return self._view(self._index)

    def unlocked_stages(self) -> tuple[StageView, ...]:
        """Views of every stage reached so far, first to current (to reread earlier stages)."""
        return tuple(self._view(i) for i in range(self._index + 1))

    def unanswered(self) -> tuple[str, ...]:
        """Prompt ids of the current stage still without an answer."""
        return tuple(q.id for q in self._stage().prompts if q.id not in self._answers)

    def answer(self, prompt_id: str, value: Any) -> GradeResult:
        """Answer (or change the answer to) a prompt of the current stage.

        Returns
        -------
        GradeResult
            From :func:`caselib.cases.grading.grade`.

        Raises
        ------
        SessionFinishedError
            After the session finished.
        PromptNotAvailableError
            If ``prompt_id`` is not a prompt of the current stage (unknown,
            later or earlier stage).
        ValueError, TypeError
            For an empty answer or one the grader refuses; nothing is logged.
        """
        if self._finished:
            raise SessionFinishedError(f"session of case {self._case.id!r} is finished; "
                                       "answers can no longer change")
        stage = self._stage()
        question = next((q for q in stage.prompts if q.id == prompt_id), None)
        if question is None:
            where = self._case.stage_index(prompt_id) if isinstance(prompt_id, str) else None
            if where is not None and where < self._index:
                raise PromptNotAvailableError(
                    f"prompt {prompt_id!r} belongs to stage {self._case.stages[where].id!r}, "
                    "which is closed: answers are final once you advance")
            raise self._not_available(prompt_id)
        if _is_empty(value):
            raise ValueError(f"empty answer for prompt {prompt_id!r}: give an answer "
                             "(an empty one does not count as answered)")
        stored = _jsonable(value)
        result = grade(question, stored)   # the normalised value, as a restore will see it
        previous = self._answers.get(prompt_id)
        had = prompt_id in self._answers
        self._answers[prompt_id] = stored
        self._grades[prompt_id] = result
        self._event("change" if had else "answer", stage.id, prompt_id=prompt_id,
                    value=stored, previous=previous if had else None, score=result.score)
        return result

    def advance(self) -> StageView | None:
        """Leave the current stage and unlock the next one.

        Returns
        -------
        StageView or None
            The new current stage, or None when the last stage was left and
            the session is now finished.

        Raises
        ------
        StageIncompleteError
            If a prompt of the current stage has no answer (listed by id).
        SessionFinishedError
            If the session already finished.
        """
        if self._finished:
            raise SessionFinishedError(f"session of case {self._case.id!r} is already finished")
        missing = self.unanswered()
        stage = self._stage()
        if missing:
            raise StageIncompleteError(
                f"answer every prompt of stage {stage.id!r} before moving on; "
                f"unanswered: {list(missing)}")
        now = self._elapsed()
        self._stage_time[stage.id] = self._stage_time.get(stage.id, 0.0) + (now - self._stage_t0)
        self._event("advance", stage.id)
        if self._index == len(self._case.stages) - 1:
            self._finished = True
            self._event("finish", stage.id)
            return None
        self._index += 1
        self._stage_t0 = now
        self._event("enter", self._stage().id)
        return self.current_stage()

    @property
    def log(self) -> tuple[PBLEvent, ...]:
        """Every event so far, oldest first."""
        return tuple(self._log)

    def time_on_stage(self) -> dict[str, float]:
        """Seconds spent on each stage reached so far, by stage id (current one still running)."""
        out = dict(self._stage_time)
        if not self._finished:
            sid = self._stage().id
            out[sid] = out.get(sid, 0.0) + (self._elapsed() - self._stage_t0)
        return {s.id: out[s.id] for s in self._case.stages if s.id in out}

    def summary(self) -> dict[str, Any]:
        """Scores, changes and times of the stages reached (all of them once finished).

        ``total_score`` adds the graded prompts; ``pending`` lists free-text
        prompts awaiting a teacher.  Contains ids and numbers only.
        """
        times = self.time_on_stage()
        changes: dict[str, int] = {}
        for e in self._log:
            if e.kind == "change" and e.prompt_id is not None:
                changes[e.prompt_id] = changes.get(e.prompt_id, 0) + 1
        stages = []
        total = max_total = 0.0
        pending: list[str] = []
        for i in range(self._index + 1):
            s = self._case.stages[i]
            prompts = []
            s_score = s_max = 0.0
            for q in s.prompts:
                g = self._grades.get(q.id)
                score = g.score if g is not None else None
                if g is not None and g.pending:
                    pending.append(q.id)
                s_score += score or 0.0
                s_max += q.max_score
                prompts.append({"id": q.id, "answered": q.id in self._answers, "score": score,
                                "max_score": q.max_score, "pending": bool(g and g.pending),
                                "changes": changes.get(q.id, 0)})
            total += s_score
            max_total += s_max
            stages.append({"id": s.id, "time_on_stage": times.get(s.id, 0.0), "score": s_score,
                           "max_score": s_max, "prompts": prompts})
        return {"case_id": self._case.id, "student_id": self._student_id,
                "finished": self._finished, "stages_reached": self._index + 1,
                "n_stages": len(self._case.stages), "total_score": total,
                "max_score": max_total, "pending": pending,
                "total_time": sum(times.values()), "changes": sum(changes.values()),
                "stages": stages}

    # ----------------------------------------------------------------- persistence

    def to_state(self) -> dict[str, Any]:
        """JSON-ready state: ids, the student's answers, times and the log; no case content."""
        elapsed = self._elapsed()
        return {
            "format": STATE_FORMAT, "version": STATE_VERSION,
            "case_id": self._case.id, "student_id": self._student_id,
            "stage_index": self._index, "stage_id": self._stage().id,
            "finished": self._finished, "elapsed": elapsed,
            "stage_entered": self._stage_t0,
            "stage_time": dict(self._stage_time),
            "answers": dict(self._answers),
            "log": [e.to_dict() for e in self._log],
        }

    to_dict = to_state

    @classmethod
    def from_state(cls, case: PBLCase, state: Mapping[str, Any], *,
                   clock: Callable[[], float] = time.monotonic) -> PBLSession:
        """Rebuild a session from :meth:`to_state` data and the server's case.

        Answers are re-graded with the case (scores in the state are not
        trusted) and the gating is re-checked: every prompt of every stage
        before the current one must have an answer, and no prompt after it.

        Raises
        ------
        PBLStateError
            If the state is malformed, is for another case, names stages that
            do not match the case or breaks the gating.
        """
        def bad(msg: str) -> PBLStateError:
            return PBLStateError(f"session state for case {case.id!r}: {msg}")

        if not isinstance(state, Mapping):
            raise bad(f"expected a mapping, got {type(state).__name__}")
        if state.get("format") != STATE_FORMAT or state.get("version") != STATE_VERSION:
            raise bad(f"format must be {STATE_FORMAT!r} version {STATE_VERSION}, got "
                      f"{state.get('format')!r} version {state.get('version')!r}")
        if state.get("case_id") != case.id:
            raise bad(f"the state is for case {state.get('case_id')!r}")
        idx = state.get("stage_index")
        if isinstance(idx, bool) or not isinstance(idx, int) or not 0 <= idx < len(case.stages):
            raise bad(f"stage_index must be 0..{len(case.stages) - 1}, got {idx!r}")
        if state.get("stage_id") != case.stages[idx].id:
            raise bad(f"stage_id {state.get('stage_id')!r} is not stage {idx} of the case")
        finished = state.get("finished")
        if not isinstance(finished, bool) or (finished and idx != len(case.stages) - 1):
            raise bad(f"finished must be a bool, true only on the last stage, got {finished!r}")
        answers = state.get("answers")
        if not isinstance(answers, Mapping):
            raise bad("answers must be a mapping of prompt id to value")
        reachable = {q.id: i for i, s in enumerate(case.stages[:idx + 1]) for q in s.prompts}
        for pid in answers:
            if pid not in reachable:
                raise bad(f"answers hold prompt {pid!r}, which is not in a stage reached so far")
        must = [q.id for s in case.stages[:idx + (1 if finished else 0)] for q in s.prompts]
        missing = [p for p in must if p not in answers or _is_empty(answers[p])]
        if missing:
            raise bad(f"stages before the current one have unanswered prompts {missing}")
        reached = {s.id for s in case.stages[:idx + 1]}

        def num(key: str, value: Any) -> float:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise bad(f"{key} must be a non-negative number, got {value!r}")
            return float(value)

        elapsed = num("elapsed", state.get("elapsed"))
        stage_entered = num("stage_entered", state.get("stage_entered"))
        if stage_entered > elapsed:
            raise bad(f"stage_entered ({stage_entered}) is after elapsed ({elapsed})")
        stage_time_raw = state.get("stage_time")
        if not isinstance(stage_time_raw, Mapping):
            raise bad("stage_time must be a mapping of stage id to seconds")
        stage_time = {}
        for sid, v in stage_time_raw.items():
            if sid not in reached:
                raise bad(f"stage_time names stage {sid!r}, which was not reached")
            stage_time[sid] = num(f"stage_time[{sid!r}]", v)
        log_raw = state.get("log")
        if not isinstance(log_raw, list):
            raise bad("log must be a list")
        log = []
        for i, e in enumerate(log_raw):
            if not isinstance(e, Mapping) or e.get("kind") not in _EVENT_KINDS \
                    or e.get("stage_id") not in reached:
                raise bad(f"log[{i}] is not an event of a reached stage")
            log.append(PBLEvent(t=num(f"log[{i}].t", e.get("t")), kind=e["kind"],
                                stage_id=e["stage_id"], prompt_id=e.get("prompt_id"),
                                value=e.get("value"), previous=e.get("previous"),
                                score=e.get("score")))

        student_id = state.get("student_id")
        if not isinstance(student_id, str) or not student_id.strip():
            raise bad(f"student_id must be a non-empty str, got {student_id!r}")
        self = cls(case, student_id, clock=clock)
        self._index = idx
        self._finished = finished
        self._offset = elapsed
        self._t0 = float(clock())
        self._stage_t0 = stage_entered
        self._stage_time = stage_time
        self._log = log
        for pid, value in answers.items():
            q = next(q for q in case.stages[reachable[pid]].prompts if q.id == pid)
            try:
                self._grades[pid] = grade(q, value)
            except (TypeError, ValueError) as exc:
                raise bad(f"answer to prompt {pid!r} is invalid: {exc}") from None
            self._answers[pid] = _jsonable(value)
        self._event("restore", self._stage().id)
        return self
