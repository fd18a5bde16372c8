"""caselib.analytics: item statistics on small response tables with hand-computed values."""
from __future__ import annotations

import math
import subprocess
import sys

import pandas as pd
import pytest

from caselib.analytics import (
    distractor_table,
    item_analysis,
    mastery,
    mastery_summary,
    student_totals,
    totals_by_student,
)
from caselib.analytics import plots
from caselib.analytics.demo import synthetic_events, synthetic_responses

#      q1 q2 q3   total
# s1    1  1  1   1
# s2    1  0  1   2/3
# s3    0  1  0   1/3
# s4    0  0  0   0
GRID = {"s1": (1, 1, 1), "s2": (1, 0, 1), "s3": (0, 1, 0), "s4": (0, 0, 0)}
RESPONSES = {"s1": 0, "s2": 0, "s3": 1, "s4": 2}   # q1 is single choice, option 0 keyed


def table() -> pd.DataFrame:
    rows = []
    for s, scores in GRID.items():
        for i, score in enumerate(scores, start=1):
            rows.append({"student": s, "item": f"q{i}", "score": float(score), "max_score": 1.0,
                         "kind": "single_choice" if i == 1 else "numeric",
                         "response": RESPONSES[s] if i == 1 else None,
                         "organ_system": "cns" if i == 3 else "respiratory"})
    return pd.DataFrame(rows)


def test_totals():
    t = totals_by_student(table())
    assert t.to_dict() == pytest.approx({"s1": 1.0, "s2": 2 / 3, "s3": 1 / 3, "s4": 0.0})


def test_difficulty_discrimination_point_biserial_by_hand():
    stats = item_analysis(table())
    # 27 % of 4 students rounds to 1: upper group {s1}, lower group {s4}
    assert stats.loc["q1", "p"] == 0.5 and stats.loc["q3", "p"] == 0.5
    assert stats.loc["q1", ["p_upper", "p_lower", "discrimination"]].tolist() == [1.0, 0.0, 1.0]
    # r_pb = (M1 - M0) / s * sqrt(pq): q1: M1 = 5/6, M0 = 1/6, s = sqrt(5)/6, p = q = 1/2
    assert stats.loc["q1", "r_pb"] == pytest.approx(2 / math.sqrt(5))
    assert stats.loc["q2", "r_pb"] == pytest.approx(1 / math.sqrt(5))
    # rest scores without the item: q1 -> (1, 1/2, 1/2, 0), r = 1/sqrt(2); q2 -> (1, 1, 0, 0), r = 0
    assert stats.loc["q1", "r_pb_rest"] == pytest.approx(1 / math.sqrt(2))
    assert stats.loc["q2", "r_pb_rest"] == pytest.approx(0.0, abs=1e-12)
    assert stats.loc["q1", "kind"] == "single_choice" and stats.loc["q3", "organ_system"] == "cns"


def test_groups_of_27_percent_with_ties_and_partial_credit():
    # 10 students -> round(2.7) = 3 per group; ties broken by student id
    rows = []
    totals = [1.0, 1.0, 0.9, 0.9, 0.5, 0.5, 0.5, 0.2, 0.1, 0.0]
    for k, t in enumerate(totals):
        sid = f"s{k}"
        rows.append({"student": sid, "item": "whole", "score": 2 * t, "max_score": 2.0})
        rows.append({"student": sid, "item": "probe", "score": float(k in (0, 2, 9)), "max_score": 1.0})
    stats = item_analysis(pd.DataFrame(rows))
    # totals now mix both items: s0 (3/3), s1 (2/3), s2 (2.8/3) ... upper = s0, s2, s1; lower = s7, s8, s9
    assert stats.loc["probe", "p"] == pytest.approx(0.3)
    assert stats.loc["probe", "p_upper"] == pytest.approx(2 / 3)
    assert stats.loc["probe", "p_lower"] == pytest.approx(1 / 3)
    assert stats.loc["whole", "p"] == pytest.approx(sum(totals) / 10)


def test_items_not_answered_by_everyone():
    df = table()
    df = pd.concat([df, pd.DataFrame([{"student": "s3", "item": "q4", "score": 1.0, "max_score": 1.0}])])
    stats = item_analysis(df)
    assert stats.loc["q4", "n"] == 1 and stats.loc["q4", "p"] == 1.0
    assert math.isnan(stats.loc["q4", "p_upper"]) and math.isnan(stats.loc["q4", "r_pb"])


def test_invalid_input_is_named():
    with pytest.raises(ValueError, match="missing max_score"):
        item_analysis(pd.DataFrame({"student": ["a"], "item": ["q"], "score": [1]}))
    with pytest.raises(ValueError, match="group_fraction"):
        item_analysis(table(), group_fraction=0.7)


def test_distractor_counts():
    d = distractor_table(table())
    assert d[["option", "count", "upper", "lower", "correct"]].values.tolist() == [
        [0, 2, 1, 0, True], [1, 1, 0, 0, False], [2, 1, 0, 1, False]]
    blank = table()
    blank.loc[(blank.student == "s4") & (blank.item == "q1"), "response"] = None
    assert "blank" in distractor_table(blank)["option"].tolist()


def test_mastery_by_organ_system():
    m = mastery(table())
    assert m.loc["s2", "respiratory"] == 0.5 and m.loc["s2", "cns"] == 1.0
    summary = mastery_summary(table())
    assert summary.loc["respiratory", "items"] == 2
    assert summary.loc["respiratory", "mean"] == pytest.approx((1 + 0.5 + 0.5 + 0) / 4)


def test_student_totals_from_gradebook_cells():
    cells = pd.DataFrame([
        {"student": "a", "assignment": "ps01", "score": 2.0, "max_score": 2.0},
        {"student": "a", "assignment": "ps01", "score": 1.0, "max_score": 3.0},
        {"student": "b", "assignment": "ps01", "score": 0.0, "max_score": 2.0},
        {"student": "b", "assignment": "ps01", "score": 3.0, "max_score": 3.0},
        {"student": "a", "assignment": "ps02", "score": 4.0, "max_score": 6.0},
    ])
    t = student_totals(cells).set_index("student")
    assert t.loc["a", "total"] == 7.0 and t.loc["b", "total"] == 3.0
    assert math.isnan(t.loc["b", "ps02"]) and t.loc["a", "max_total"] == 11.0


def test_synthetic_data_shows_a_broken_item():
    stats = item_analysis(synthetic_responses(seed=0))
    assert stats.loc["q20", "discrimination"] < 0 < stats.loc["q10", "discrimination"]
    assert stats.loc["q01", "p"] > stats.loc["q19", "p"]       # difficulty rises with the item number


def test_plots_return_figures():
    r = synthetic_responses(n_students=30, n_items=6)
    figs = [plots.plot_item_map(item_analysis(r)), plots.plot_distractors(distractor_table(r), "q01"),
            plots.plot_mastery(mastery(r)), plots.plot_totals(totals_by_student(r))]
    from caselib.usage import summarise_usage

    u = summarise_usage(synthetic_events(n_students=10, weeks=2))
    figs += [plots.plot_weekly_active(u["weekly"]), plots.plot_top_cases(u["cases"]),
             plots.plot_stage_completion(u["stages"])]
    assert all(f.axes for f in figs)
    with pytest.raises(ValueError, match="no distractor counts"):
        plots.plot_distractors(distractor_table(r), "nope")


def test_analytics_never_imports_widgets():
    code = "import caselib.analytics, caselib.analytics.plots, sys; print(any(m in sys.modules for m in ('ipywidgets', 'anywidget')))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


@pytest.mark.filterwarnings("ignore:Object of type")   # nbgrader's own add_submission (SQLAlchemy)
def test_a_synthetic_nbgrader_gradebook(tmp_path):
    """The GRID above as an nbgrader gradebook: one grade cell per item, plus a manual grade."""
    from nbgrader.api import Gradebook

    from caselib.analytics import export_grades_csv, gradebook_items, read_gradebook

    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with Gradebook(url) as gb:
        gb.add_assignment("quiz")
        gb.add_notebook("quiz", "quiz")
        for i in (1, 2, 3):
            gb.add_grade_cell(f"q{i}", "quiz", "quiz", max_score=1, cell_type="code")
        gb.add_grade_cell("essay", "quiz", "quiz", max_score=4, cell_type="markdown")
        for student, scores in GRID.items():
            gb.add_student(student)
            gb.add_submission("quiz", student)
            for i, score in enumerate(scores, start=1):
                gb.find_grade(f"q{i}", "quiz", "quiz", student).auto_score = score
            essay = gb.find_grade("essay", "quiz", "quiz", student)
            essay.auto_score = 0
            essay.manual_score = 3.0 if student == "s2" else None
        gb.db.commit()
    cells = read_gradebook(tmp_path / "gradebook.db")
    assert len(cells) == 16 and set(cells["cell"]) == {"q1", "q2", "q3", "essay"}
    assert cells[(cells.student == "s2") & (cells.cell == "essay")]["score"].item() == 3.0
    items = gradebook_items(cells[cells.cell != "essay"])
    stats = item_analysis(items)
    assert stats.loc["quiz/quiz/q1", "r_pb"] == pytest.approx(2 / math.sqrt(5))
    table = export_grades_csv(tmp_path / "gradebook.db", tmp_path / "grades.csv").set_index("student")
    assert table["quiz"].to_dict() == {"s1": 3.0, "s2": 5.0, "s3": 1.0, "s4": 0.0}
    assert (tmp_path / "grades.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    with pytest.raises(FileNotFoundError, match="no nbgrader gradebook"):
        read_gradebook(tmp_path / "missing.db")
