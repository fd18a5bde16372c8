"""The classroom apps as widgets, without a browser: library, labels, gating, grading, Voila config.

The browser tests (tests/browser/test_voila_apps.py) drive the same apps in Voila.
"""
from __future__ import annotations

import json

import ipywidgets.widgets.widget as widget_module
import numpy as np
import pytest

from caselib.cases import load_pbl_case
from caselib.i18n import t
from caselib.imaging import Window, get_preset
from caselib.ui.apps import CaseBrowser, PBLPlayer, Quiz, WindowingDemo, open_library
from caselib.ui.apps.forms import QuestionForm
from caselib.ui.apps.library import cases_dirs
from caselib.ui.apps.shell import esc
from caselib.ui.apps.serve import APPS, apps_dir, load_voila_config, voila_args, voila_command
from caselib.ui.apps.windowing import histogram_svg, hu_histogram, window_fraction

PBL_ID = "pbl-synthetic-phantom-nodule"


@pytest.fixture(scope="module")
def library():
    return open_library(archive=False)      # images from the data cache (tests/test_ui_apps_archive.py: archive)


@pytest.fixture(autouse=True)
def no_usage_log(monkeypatch):
    monkeypatch.setenv("CASELIB_USAGE_LOG", "off")


def widget_state_text() -> str:
    """Everything the live widgets would send to a browser (their JSON state), as one string."""
    out = []
    for wid in list(widget_module._instances.values()):
        state = wid.get_state()
        out.append(json.dumps({k: v for k, v in state.items() if not isinstance(v, (bytes, memoryview))},
                              ensure_ascii=False, default=str))
    return "\n".join(out)


def later_stage_secrets(case) -> list[str]:
    """Texts of stages after the first and every explanation: none may reach a widget early."""
    texts = []
    for stage in case.stages[1:]:
        texts += [stage.title.zh, stage.title.en, stage.text.zh, stage.text.en]
        texts += [q.prompt.en for q in stage.prompts] + [q.prompt.zh for q in stage.prompts]
    for stage in case.stages:
        texts += [q.explanation.en for q in stage.prompts if q.explanation]
        texts += [q.explanation.zh for q in stage.prompts if q.explanation]
    return [x for x in texts if len(x) >= 12]     # long enough not to occur by chance


def correct_answer(q):
    """The full-marks answer of a question, in the form grade() takes."""
    if q.kind == "multiple_choice":
        return list(q.answers)
    if q.kind == "window":
        return (sum(q.center_range) / 2, sum(q.width_range) / 2)
    if q.kind == "ordering":
        return list(q.answer)
    return q.answer


def test_library_finds_cases_pbl_and_questions(library):
    assert cases_dirs()[0].name == "cases"
    assert "nema-rg3-leg-cr" in library.case_ids
    assert PBL_ID in library.pbl_ids
    assert library.search("fibroma").rows[0].case_id == "nema-rg3-leg-cr"
    tree = library.case_tree()
    assert tree.n_cases == len(library.case_ids)
    unknown = library.case_tree(unknown_mode=True)
    leaves = [c for s in unknown.systems for tp in s.topics for c in tp.cases]
    assert all(c.title_en is None for c in leaves)
    assert {i.question.kind for i in library.quiz_items()} <= {"single_choice", "multiple_choice", "true_false",
                                                               "numeric", "window", "ordering", "hotspot"}
    assert "hotspot" in {i.question.kind for i in library.quiz_items()}


def test_case_browser_reveals_findings_and_diagnosis_only_on_demand(library):
    app = CaseBrowser(library, lang="en")
    assert t("apps.browser.pick_case", "en") in app.header.value
    app.open_case("synthetic-phantom-hu-drill")
    case = library.case("synthetic-phantom-hu-drill")
    assert esc(case.history.en) in app.header.value
    assert esc(case.findings[0].description.en) not in app.findings.value
    assert esc(case.topic.en) not in app.diagnosis.value
    app.reveal_findings()
    assert esc(case.findings[0].description.en) in app.findings.value
    assert esc(case.topic.en) not in app.diagnosis.value
    app.reveal_diagnosis()
    assert esc(case.topic.en) in app.diagnosis.value and case.discussion.en in app.diagnosis.value
    app.set_language("zh-CN")
    assert esc(case.discussion.zh) in app.diagnosis.value
    assert app.findings_button.description == t("apps.browser.show_findings", "zh-CN")
    with pytest.raises(KeyError, match="no case 'nope'"):
        app.open_case("nope")


def test_case_browser_search_system_filter_and_unknown_mode(library):
    app = CaseBrowser(library, lang="en")
    n_all = sum(1 for c in app.case_list.children if "cl-case-button" in c._dom_classes)
    assert n_all == len(library.case_ids)
    app.search_box.value = "fibroma"
    labels = [c.description for c in app.case_list.children if "cl-case-button" in c._dom_classes]
    assert labels == [library.case("nema-rg3-leg-cr").title.en]
    app.search_box.value = "zzzz-no-such-word"
    assert t("apps.browser.no_results", "en") in app.case_list.children[0].value
    app.search_box.value = ""
    app.system.value = "musculoskeletal"
    labels = [c.description for c in app.case_list.children if "cl-case-button" in c._dom_classes]
    assert library.case("nema-rg3-leg-cr").title.en in labels and len(labels) < n_all
    app.system.value = ""
    app.unknown.value = True
    labels = " ".join(c.description for c in app.case_list.children if "cl-case-button" in c._dom_classes)
    assert library.case("nema-rg3-leg-cr").title.en not in labels
    app.open_case("nema-rg3-leg-cr")
    assert esc(library.case("nema-rg3-leg-cr").title.en) not in app.header.value
    app.reveal_diagnosis()
    assert esc(library.case("nema-rg3-leg-cr").title.en) in app.header.value


def test_windowing_demo_presets_sliders_and_histogram():
    demo = WindowingDemo(lang="en")
    demo.apply_preset("lung")
    assert demo.window == get_preset("lung").window
    assert demo.viewer.window == get_preset("lung").window
    assert "-1350 to 150 HU" in demo.readout.value
    demo.width.value = 80
    assert demo.preset_buttons.value is None          # no preset has L -600 / W 80
    assert demo.viewer.window == Window(-600, 80)
    demo.set_window(get_preset("brain").window)
    assert demo.preset_buttons.value == "brain"
    demo.set_language("zh-CN")
    assert demo.center.description == t("apps.windowing.center", "zh-CN")


def test_histogram_and_window_fractions():
    hu = np.array([[-1000.0, -1000.0], [40.0, 1000.0]])
    counts, edges = hu_histogram(hu)
    assert counts.sum() == 4 and edges[0] == -1100
    assert window_fraction(hu, Window(40, 400)) == (0.5, 0.25, 0.25)
    svg = histogram_svg(counts, edges, Window(40, 400), label="h")
    assert svg.startswith("<svg") and "aria-label='h'" in svg


def test_pbl_player_keeps_later_stages_in_the_kernel(library):
    case = library.pbl_case(PBL_ID)
    secrets = later_stage_secrets(case)
    widget_module.Widget.close_all()                   # only this player's widgets are live
    player = PBLPlayer(case, library=library, lang="en")
    state = widget_state_text()
    leaked = [s for s in secrets if s in state or esc(s) in state]
    assert not leaked, f"later-stage text reached a widget before unlock: {leaked[:3]}"
    assert esc(case.stages[0].text.en) in state
    assert player.next_button.disabled
    player.advance()                                   # refused while unanswered
    assert t("apps.pbl.answer_all", "en") in player.status.value
    form = player._forms["p1-lung-window"]
    form._input.children[0].value, form._input.children[1].value = "-600", "1500"
    result = player.submit("p1-lung-window")
    assert result.score == 1.0 and not player.next_button.disabled
    player.advance()
    state = widget_state_text()
    assert esc(case.stages[1].text.en) in state
    assert esc(case.stages[3].text.en) not in state
    player.submit("p2-right-diameter", 12.3)
    player.submit("p3-larger-nodule", 0)
    player.advance()
    player.submit("p4-one-pixel", True)
    player.advance()
    player.advance()
    assert player.session.finished
    assert t("apps.pbl.finished", "en") in player.stage_text.value
    assert "Score: 4 of 4" in player.stage_text.value


def test_quiz_sends_public_forms_and_grades_at_once(library):
    items = [i for i in library.quiz_items() if i.question.explanation is not None][:3]
    assert items, "the case library has no question with an explanation"
    quiz = Quiz(items, library=library, lang="en", show_images=False)
    explanation = items[0].question.explanation.en
    widget_module.Widget.close_all()
    quiz = Quiz(items, library=library, lang="en", show_images=False)
    assert explanation not in widget_state_text()
    assert quiz.check() is None                       # nothing entered yet
    assert t("apps.quiz.empty", "en") in quiz.feedback.value
    q = items[0].question
    result = quiz.check(correct_answer(q))
    assert result.score == q.max_score
    assert esc(explanation) in quiz.feedback.value and t("apps.quiz.correct", "en") in quiz.feedback.value
    assert quiz.check_button.disabled
    quiz.go(1)
    assert "Question 2 of" in quiz.counter.value and not quiz.check_button.disabled
    quiz.set_language("zh-CN")
    assert "第 2/" in quiz.counter.value
    with pytest.raises(ValueError, match="at least one question"):
        Quiz([], library=library)


@pytest.mark.parametrize("kind, public, entered, expected", [
    ("numeric", {"unit": "mm"}, "12,5", 12.5),
    ("numeric", {"unit": "mm"}, "abc", None),
    ("numeric", {"unit": ""}, "", None),
    ("true_false", {}, False, False),
])
def test_question_form_answers(kind, public, entered, expected):
    form = QuestionForm({"type": kind, "id": "q", "prompt": {"zh": "问", "en": "Q"}, **public}, "en")
    form._input.value = entered
    assert form.answer() == expected


def test_question_form_refuses_a_question_with_its_answer():
    with pytest.raises(ValueError, match="public form"):
        QuestionForm({"type": "true_false", "id": "q", "prompt": {"zh": "问", "en": "Q"}, "answer": True})


def test_voila_config_preheats_and_culls():
    config = load_voila_config()
    assert config["VoilaConfiguration"]["preheat_kernel"] is True
    assert config["MappingKernelManager"]["cull_idle_timeout"] > 0
    args = voila_args()
    assert "--VoilaConfiguration.preheat_kernel=true" in args
    assert "--VoilaConfiguration.preheat_kernel=false" in voila_args(preheat=False)
    cmd = voila_command(port=1234)
    assert str(apps_dir()) in cmd and "--port=1234" in cmd
    assert sorted(p.stem for p in apps_dir().glob("*.ipynb")) == sorted(APPS)


def test_the_synthetic_pbl_answers_match_the_phantom_truth(library):
    """The PBL's answer keys come from the phantom's ground truth (12 mm nodule, 0.7 mm pixels)."""
    case = load_pbl_case(cases_dirs()[0] / "synthetic" / "pbl-phantom-nodule")
    series = library.series_for(case.stages[1].series[0])
    assert series.pixel_spacing == (0.7, 0.7)
    row = series.volume()[12, 128, 40:110]
    soft = np.flatnonzero(row > -500)
    diameter = (soft.max() - soft.min() + 1) * series.pixel_spacing[1]
    q = case.stages[1].prompts[0]
    assert abs(diameter - q.answer) <= q.abs_tol


def test_quiz_images_load_on_demand(library):
    quiz = Quiz(library=library, lang="en")
    first_with_image = next(n for n, i in enumerate(quiz._items)
                            if i.case_id and library.case(i.case_id).series)
    quiz.go(first_with_image)
    assert quiz.viewer is None and quiz.image_button.layout.display == "flex"
    quiz.show_image()
    assert quiz.viewer is not None and quiz.image_button.layout.display == "none"
    other = next(n for n, i in enumerate(quiz._items)
                 if i.case_id and i.case_id != quiz._items[first_with_image].case_id
                 and library.case(i.case_id).series)
    quiz.go(other)                                   # once asked for, images follow the questions
    assert quiz.viewer is not None and quiz._viewer_case == quiz._items[other].case_id


def test_class_mode_keeps_a_preheated_kernel_per_student():
    args = voila_args(class_size=30)
    pools = json.loads(next(a for a in args if a.startswith("--VoilaKernelManager.kernel_pools_config="))
                       .split("=", 1)[1])
    assert pools["case_browser_app.ipynb"]["pool_size"] == 30 and pools["default"]["pool_size"] == 1
    assert "--VoilaKernelManager.fill_delay=300.0" in args
    with pytest.raises(ValueError, match="positive number of students"):
        voila_args(class_size=-1)


def test_demo_serves_the_case_browser_app(tmp_path, monkeypatch):
    from caselib.demo import ARCHIVE_ENV, DEMO_APP, serve_command

    monkeypatch.setenv(ARCHIVE_ENV, "unchanged-after-the-test")   # serve_command sets it
    monkeypatch.setenv("JUPYTER_PATH", "")                           # and this one

    root = apps_dir().parent
    cmd = serve_command(tmp_path / "archive", port=1234, notebooks=root / "notebooks")
    assert f"--ServerApp.root_dir={root}" in cmd
    assert f"--LabApp.default_url=/voila/render/{DEMO_APP}" in cmd
    assert (root / DEMO_APP).is_file()
    alone = tmp_path / "notebooks"
    alone.mkdir()
    assert not any(a.startswith("--LabApp.default_url") for a in serve_command(tmp_path, notebooks=alone))


def test_apps_record_usage_events_without_typed_text(library, tmp_path, monkeypatch):
    log = tmp_path / "usage.jsonl"
    monkeypatch.setenv("CASELIB_USAGE_LOG", str(log))
    app = CaseBrowser(library, lang="en")
    app.search_box.value = "fibroma"
    app.open_case("nema-rg3-leg-cr")
    app.reveal_findings()
    app.reveal_diagnosis()
    every = [json.loads(line) for line in log.read_text().splitlines()]
    # the viewer inside the browser records its own events (open_series, reveal_findings source=viewer)
    assert any(e["action"] == "open_series" for e in every)
    events = [e for e in every if e["action"] != "open_series" and e.get("details", {}).get("source") != "viewer"
              and e.get("source") != "viewer"]
    assert [e["action"] for e in events] == ["search", "open_case", "reveal_findings", "reveal_diagnosis"]
    assert events[1]["case_id"] == "nema-rg3-leg-cr"
    assert "fibroma" not in log.read_text()
