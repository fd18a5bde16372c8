"""PBL engine: schema, gating, logging, timing, no leaks of later stages, state round trip."""
from __future__ import annotations

import copy
import json

import pytest
import yaml

from caselib.cases.pbl import (
    PBLCase,
    PBLError,
    PBLSession,
    PBLStage,
    PBLStateError,
    PromptNotAvailableError,
    SessionFinishedError,
    StageIncompleteError,
    StageView,
    load_pbl_case,
)
from caselib.cases.schema import CaseSchemaError, Text


class FakeClock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def tick(self, s: float) -> None:
        self.t += s


def T(zh: str, en: str) -> dict[str, str]:
    return {"zh": zh, "en": en}


# Strings that must never be visible before their stage unlocks.
LATER_SECRETS = [
    "SECRET-IMAGING-TEXT", "影像秘密", "SECRET-IMAGING-TITLE", "SECRET-IMG-PROMPT",
    "SECRET-LAB-TEXT", "SECRET-OUTCOME-TEXT", "结局秘密", "SECRET-OUTCOME-TITLE",
    "pe_option_secret", "demo/ctpa-secret",
]


def case_dict() -> dict:
    return {
        "id": "pbl-chest-001",
        "title": T("胸痛、气促 1 天", "One day of chest pain and dyspnoea"),
        "stages": [
            {"id": "presentation", "kind": "presentation",
             "title": T("临床表现", "Presentation"),
             "text": T("女，62 岁，术后第 5 天突发胸痛。", "A 62-year-old woman, day 5 after surgery."),
             "prompts": [
                 {"type": "single_choice", "id": "p1",
                  "prompt": T("首选检查？", "First test?"),
                  "options": [T("胸片", "Chest radiograph"), T("CTPA", "CTPA")], "answer": 1,
                  "explanation": T("EXPLAIN-P1-ZH", "EXPLAIN-P1-EN")},
                 {"type": "true_false", "id": "p2", "prompt": T("需要 D-二聚体？", "D-dimer?"),
                  "answer": True},
             ]},
            {"id": "imaging", "kind": "imaging",
             "title": T("影像检查", "SECRET-IMAGING-TITLE"),
             "text": T("影像秘密", "SECRET-IMAGING-TEXT"),
             "series": [{"manifest_key": "demo/ctpa-secret"}],
             "prompts": [
                 {"type": "single_choice", "id": "i1", "prompt": T("诊断？", "SECRET-IMG-PROMPT"),
                  "options": [T("肺栓塞", "pe_option_secret"), T("肺炎", "pneumonia")],
                  "answer": 0},
                 {"type": "numeric", "id": "i2", "prompt": T("右室/左室比", "RV/LV ratio"),
                  "answer": 1.4, "abs_tol": 0.1},
             ]},
            {"id": "labs", "kind": "further_tests",
             "title": T("进一步检查", "Further tests"),
             "text": T("肌钙蛋白升高", "SECRET-LAB-TEXT"),
             "prompts": [
                 {"type": "free_text", "id": "l1", "prompt": T("下一步？", "Next step?"),
                  "rubric": T("抗凝", "Anticoagulation")},
             ]},
            {"id": "outcome", "kind": "outcome",
             "title": T("转归", "SECRET-OUTCOME-TITLE"),
             "text": T("结局秘密", "SECRET-OUTCOME-TEXT")},
        ],
    }


@pytest.fixture
def case() -> PBLCase:
    return PBLCase.from_dict(case_dict(), origin="pbl.yaml")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def session(case: PBLCase, clock: FakeClock) -> PBLSession:
    return PBLSession(case, "stu-1", clock=clock)


def dump(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False, default=repr)


def assert_no_secret(blob: str, secrets: list[str]) -> None:
    leaked = [s for s in secrets if s in blob]
    assert not leaked, f"leaked {leaked}"


# --------------------------------------------------------------------------- schema


def test_load_from_dict_and_yaml(tmp_path, case):
    assert [s.id for s in case.stages] == ["presentation", "imaging", "labs", "outcome"]
    assert case.stages[1].series[0].ref == "demo/ctpa-secret"
    assert case.stages[3].prompts == ()
    p = tmp_path / "pbl.yaml"
    p.write_text(yaml.safe_dump(case_dict(), allow_unicode=True), encoding="utf-8")
    assert load_pbl_case(p) == case
    assert load_pbl_case(tmp_path) == case
    assert PBLCase.from_dict(case.to_dict()) == case


@pytest.mark.parametrize("mutate, path", [
    (lambda d: d.pop("stages"), "stages"),
    (lambda d: d.update(stages=[]), "stages"),
    (lambda d: d["stages"][1].pop("text"), "stages[1].text"),
    (lambda d: d["stages"][1]["title"].pop("zh"), "stages[1].title.zh"),
    (lambda d: d["stages"][0].update(kind="surgery"), "stages[0].kind"),
    (lambda d: d["stages"][0].update(extra=1), "stages[0].extra"),
    (lambda d: d["stages"][1]["prompts"][0].update(answer=7), "stages[1].prompts[0].answer"),
    (lambda d: d["stages"][1]["prompts"][1].update(id="p1"), "stages[1].prompts[1].id"),
    (lambda d: d["stages"][2].update(id="imaging"), "stages[2].id"),
    (lambda d: d["stages"][1]["series"][0].pop("manifest_key"), "stages[1].series[0]"),
    (lambda d: d["stages"][0]["prompts"][0].update(type="essay"), "stages[0].prompts[0].type"),
])
def test_validation_errors_name_the_field_path(mutate, path):
    d = case_dict()
    mutate(d)
    with pytest.raises(CaseSchemaError) as ei:
        PBLCase.from_dict(d, origin="pbl.yaml")
    assert ei.value.path == path
    assert str(ei.value).startswith(f"pbl.yaml: {path}: expected")


def test_bad_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: [unclosed", encoding="utf-8")
    with pytest.raises(CaseSchemaError, match="valid YAML"):
        load_pbl_case(bad)
    with pytest.raises(FileNotFoundError):
        load_pbl_case(tmp_path / "nope.yaml")


def test_constructors_validate(case):
    s0 = case.stages[0]
    with pytest.raises(ValueError, match="stage ids repeat"):
        PBLCase(id="x", title=case.title, stages=(s0, s0))
    with pytest.raises(ValueError, match="at least one stage"):
        PBLCase(id="x", title=case.title, stages=())
    with pytest.raises(ValueError, match="unique across stages"):
        PBLCase(id="x", title=case.title,
                stages=(s0, PBLStage(id="b", title=s0.title, text=s0.text, prompts=s0.prompts)))
    with pytest.raises(TypeError):
        PBLStage(id="a", title="plain", text=s0.text)  # type: ignore[arg-type]


def test_case_repr_hides_content(case):
    assert_no_secret(repr(case) + repr(case.stages), LATER_SECRETS)


# --------------------------------------------------------------------------- walking through


def test_full_walk_with_log_times_and_summary(session, clock):
    v = session.current_stage()
    assert isinstance(v, StageView)
    assert (v.id, v.index, v.n_stages, v.kind, v.is_last) == ("presentation", 0, 4, "presentation", False)
    assert v.unanswered == ("p1", "p2")
    clock.tick(10)
    assert session.answer("p1", 0).score == 0.0
    clock.tick(5)
    assert session.answer("p1", 1).score == 1.0          # change of answer
    assert session.answer("p2", True).score == 1.0
    clock.tick(5)
    v2 = session.advance()
    assert v2 is not None and v2.id == "imaging" and v2.series[0].ref == "demo/ctpa-secret"
    clock.tick(30)
    session.answer("i1", 0)
    session.answer("i2", 1.45)
    session.advance()
    clock.tick(60)
    r = session.answer("l1", "Start anticoagulation")
    assert r.pending
    assert session.advance().is_last
    clock.tick(7)
    assert session.advance() is None
    assert session.finished
    assert session.current_stage().id == "outcome"

    assert session.time_on_stage() == {"presentation": 20.0, "imaging": 30.0, "labs": 60.0,
                                       "outcome": 7.0}
    kinds = [(e.kind, e.stage_id, e.prompt_id) for e in session.log]
    assert kinds[:6] == [("enter", "presentation", None), ("answer", "presentation", "p1"),
                         ("change", "presentation", "p1"), ("answer", "presentation", "p2"),
                         ("advance", "presentation", None), ("enter", "imaging", None)]
    assert kinds[-1] == ("finish", "outcome", None)
    change = session.log[2]
    assert (change.t, change.value, change.previous, change.score) == (15.0, 1, 0, 1.0)
    assert session.log[1].t == 10.0 and session.log[1].score == 0.0

    s = session.summary()
    assert s["finished"] and s["stages_reached"] == 4
    assert s["total_score"] == 4.0 and s["max_score"] == 5.0
    assert s["pending"] == ["l1"]
    assert s["changes"] == 1 and s["total_time"] == 117.0
    p1 = s["stages"][0]["prompts"][0]
    assert p1 == {"id": "p1", "answered": True, "score": 1.0, "max_score": 1.0,
                  "pending": False, "changes": 1}
    json.dumps(s)


def test_time_on_current_stage_runs(session, clock):
    clock.tick(3)
    assert session.time_on_stage() == {"presentation": 3.0}
    clock.tick(2)
    assert session.time_on_stage() == {"presentation": 5.0}


# --------------------------------------------------------------------------- gating


def test_advance_requires_every_prompt(session):
    with pytest.raises(StageIncompleteError, match=r"unanswered: \['p1', 'p2'\]"):
        session.advance()
    session.answer("p1", 1)
    with pytest.raises(StageIncompleteError, match=r"\['p2'\]"):
        session.advance()
    assert session.current_stage().id == "presentation"


def test_advancing_twice_does_not_skip(session):
    session.answer("p1", 1)
    session.answer("p2", False)
    session.advance()
    with pytest.raises(StageIncompleteError):
        session.advance()
    assert session.current_stage().id == "imaging"
    assert session.stage_number == 1


def test_later_and_unknown_prompts_look_the_same(session):
    with pytest.raises(PromptNotAvailableError) as later:
        session.answer("i1", 0)
    with pytest.raises(PromptNotAvailableError) as unknown:
        session.answer("zz", 0)
    # Same message shape: the API does not reveal that 'i1' exists later.
    assert str(later.value).replace("'i1'", "X") == str(unknown.value).replace("'zz'", "X")
    assert_no_secret(str(later.value), LATER_SECRETS)
    with pytest.raises(PromptNotAvailableError):
        session.answer(None, 0)  # type: ignore[arg-type]
    assert [e.kind for e in session.log] == ["enter"]


def test_earlier_stage_is_closed(session):
    session.answer("p1", 1)
    session.answer("p2", True)
    session.advance()
    with pytest.raises(PromptNotAvailableError, match="closed"):
        session.answer("p1", 0)


def test_empty_and_invalid_answers_do_not_count(session):
    with pytest.raises(ValueError, match="empty"):
        session.answer("p1", None)
    with pytest.raises(ValueError):
        session.answer("p1", 5)           # out of range for the grader
    with pytest.raises(TypeError):
        session.answer("p2", "yes")
    assert session.unanswered() == ("p1", "p2")
    assert [e.kind for e in session.log] == ["enter"]


def test_finished_session_refuses(session):
    for pid, v in (("p1", 1), ("p2", True)):
        session.answer(pid, v)
    session.advance()
    session.answer("i1", 0)
    session.answer("i2", 1.4)
    session.advance()
    session.answer("l1", "anticoagulate")
    session.advance()
    session.advance()
    with pytest.raises(SessionFinishedError):
        session.advance()
    with pytest.raises(SessionFinishedError):
        session.answer("l1", "x")
    assert issubclass(SessionFinishedError, PBLError)


# --------------------------------------------------------------------------- no leaks


def test_nothing_later_in_session_or_view(session):
    v = session.current_stage()
    blobs = [repr(session), dump(vars(session)), dump(session.to_state()), repr(v),
             dump(vars(v)), dump(v.to_dict()), dump(session.summary()),
             dump([e.to_dict() for e in session.log]), repr(session.unlocked_stages())]
    for b in blobs:
        assert_no_secret(b, LATER_SECRETS)
    # the view holds no answers or explanations of the current stage either
    for b in (repr(v), dump(v.to_dict())):
        assert "EXPLAIN-P1" not in b and "'answer'" not in b and '"answer"' not in b
    assert not [a for a in dir(session) if not a.startswith("_") and "case" == a]


def test_after_unlock_only_next_stage_is_visible(session):
    session.answer("p1", 1)
    session.answer("p2", True)
    v = session.advance()
    blob = dump(v.to_dict()) + dump(session.to_state()) + dump(vars(session))
    assert "SECRET-IMAGING-TEXT" in dump(v.to_dict())
    assert_no_secret(blob, ["SECRET-LAB-TEXT", "SECRET-OUTCOME-TEXT", "结局秘密"])
    assert "pe_option_secret" in dump(v.to_dict())    # an option text is public
    assert '"answer"' not in dump(v.to_dict())
    assert [x.id for x in session.unlocked_stages()] == ["presentation", "imaging"]


# --------------------------------------------------------------------------- state


def test_state_round_trip(case, session, clock):
    clock.tick(4)
    session.answer("p1", 0)
    session.answer("p1", 1)
    session.answer("p2", True)
    session.advance()
    clock.tick(6)
    session.answer("i1", 0)
    state = json.loads(json.dumps(session.to_state()))
    # the state names ids only: no stage text at all, not even of unlocked stages
    assert_no_secret(json.dumps(state, ensure_ascii=False),
                     LATER_SECRETS + ["术后第 5 天", "day 5 after surgery", "First test?"])
    assert state["stage_id"] == "imaging"

    clock2 = FakeClock(50.0)                     # another process: another clock origin
    restored = PBLSession.from_state(case, state, clock=clock2)
    assert restored.current_stage() == session.current_stage()
    assert restored.time_on_stage() == {"presentation": 4.0, "imaging": 6.0}
    clock2.tick(1)
    assert restored.time_on_stage()["imaging"] == 7.0
    assert restored.log[-1].kind == "restore" and restored.log[-1].t == 10.0
    assert [e.kind for e in restored.log[:-1]] == [e.kind for e in session.log]
    with pytest.raises(StageIncompleteError):
        restored.advance()
    restored.answer("i2", 1.4)
    assert restored.advance().id == "labs"
    assert restored.summary()["stages"][0]["score"] == 2.0


def _walked_state(case, clock):
    s = PBLSession(case, "stu-1", clock=clock)
    s.answer("p1", 1)
    s.answer("p2", True)
    s.advance()
    return s.to_state()


@pytest.mark.parametrize("tamper, match", [
    (lambda st: st.update(stage_index=3, stage_id="outcome"), "unanswered"),
    (lambda st: st.update(stage_index=2, stage_id="labs"), "unanswered"),
    (lambda st: st["answers"].pop("p2"), "unanswered"),
    (lambda st: st["answers"].update(l1="x"), "not in a stage reached"),
    (lambda st: st.update(stage_id="labs"), "stage_id"),
    (lambda st: st.update(case_id="other"), "for case"),
    (lambda st: st.update(finished=True), "finished"),
    (lambda st: st.update(version=99), "format"),
    (lambda st: st["stage_time"].update(outcome=1.0), "not reached"),
    (lambda st: st["log"].append({"t": 1, "kind": "enter", "stage_id": "outcome"}), "log"),
    (lambda st: st["answers"].update(p1=9), "invalid"),
    (lambda st: st.update(elapsed=-1), "elapsed"),
])
def test_tampered_state_is_refused(case, clock, tamper, match):
    st = copy.deepcopy(_walked_state(case, clock))
    tamper(st)
    with pytest.raises(PBLStateError, match=match):
        PBLSession.from_state(case, st, clock=clock)


def test_restore_regrades_instead_of_trusting_scores(case, clock):
    st = _walked_state(case, clock)
    st["answers"]["p1"] = 0                        # wrong answer
    for e in st["log"]:
        if e["prompt_id"] == "p1":
            e["score"] = 1.0                       # forged score in the log
    s = PBLSession.from_state(case, st, clock=clock)
    assert s.summary()["stages"][0]["prompts"][0]["score"] == 0.0


def test_text_is_bilingual(case):
    assert isinstance(case.stages[0].title, Text)
    assert case.title.get("zh").startswith("胸痛")


def test_numpy_scalars_are_stored_as_json(session):
    np = pytest.importorskip("numpy")
    session.answer("p1", np.int64(1))
    assert session.current_stage().answers == {"p1": 1}
    json.dumps(session.to_state())
    with pytest.raises(TypeError, match="JSON data"):
        session.answer("p2", object())
