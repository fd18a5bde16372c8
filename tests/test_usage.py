"""caselib.usage: the pseudonymous event log and its summaries (hand-computed)."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pytest

from caselib import usage

T0 = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.timezone.utc)     # a Monday, ISO week 2026-W50


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("CASELIB_USAGE_KEY", "test-key")
    monkeypatch.delenv("CASELIB_USAGE_LOG", raising=False)
    monkeypatch.delenv("CASELIB_STUDENT_ID", raising=False)


def test_default_location_and_pseudonyms(tmp_path):
    event = usage.record_event("open_case", case_id="c1", user="alice", time=at(0), series="x")
    path = tmp_path / "data" / "caselib" / "usage.jsonl"
    line = json.loads(path.read_text())
    assert line == event
    assert line["user"] == usage.pseudonymize("alice", key=b"test-key") != "alice"
    assert "alice" not in path.read_text()
    assert line["details"] == {"series": "x"} and line["session"] == usage.SESSION_ID
    # a pseudonym is stable for a key and changes with it
    assert usage.pseudonymize("alice", key=b"k1") == usage.pseudonymize("alice", key=b"k1")
    assert usage.pseudonymize("alice", key=b"k1") != usage.pseudonymize("alice", key=b"k2")


def test_key_file_is_created_private(monkeypatch, tmp_path):
    monkeypatch.delenv("CASELIB_USAGE_KEY")
    first = usage.pseudonymize("bob")
    key = tmp_path / "data" / "caselib" / "usage.key"
    assert key.stat().st_mode & 0o777 == 0o600
    assert usage.pseudonymize("bob") == first


@pytest.mark.parametrize("value", ["off", "OFF", "0", "false", "no"])
def test_switched_off(monkeypatch, tmp_path, value):
    monkeypatch.setenv("CASELIB_USAGE_LOG", value)
    assert usage.record_event("open_case", case_id="c1") is None
    assert not (tmp_path / "data").exists()


def test_sqlite_and_per_user_folder(monkeypatch, tmp_path):
    db = tmp_path / "events.sqlite"
    monkeypatch.setenv("CASELIB_USAGE_LOG", str(db))
    usage.record_event("open_case", case_id="c1", user="a", time=at(0))
    usage.record_event("pbl_stage_complete", case_id="c1", user="a", time=at(5), stage=1)
    df = usage.read_events(db)
    assert df["action"].tolist() == ["open_case", "pbl_stage_complete"]
    assert df["details"][1] == {"stage": 1}
    folder = tmp_path / "class"
    folder.mkdir()
    monkeypatch.setenv("CASELIB_USAGE_LOG", str(folder))
    usage.record_event("open_case", case_id="c2", user="a", time=at(1))
    usage.record_event("open_case", case_id="c2", user="b", time=at(2))
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f"{usage.pseudonymize(u, key=b'test-key')}.jsonl" for u in "ab")
    assert len(usage.read_events(folder)) == 2


def test_bad_action_and_unwritable_log(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="lower-case words"):
        usage.record_event("Open Case")
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("CASELIB_USAGE_LOG", str(blocker / "sub" / "log.jsonl"))
    monkeypatch.setattr(usage, "_warned", False)
    with pytest.warns(RuntimeWarning, match="not writable"):
        assert usage.record_event("open_case", user="a") is None


def test_read_events_filters_and_skips_torn_lines(monkeypatch, tmp_path):
    log = tmp_path / "log.jsonl"
    monkeypatch.setenv("CASELIB_USAGE_LOG", str(log))
    for m in (0, 60, 120):
        usage.record_event("open_case", case_id="c", user="a", time=at(m))
    with log.open("a") as fh:
        fh.write('{"time": "2026-12-07T1')
    with pytest.warns(RuntimeWarning, match="not JSON"):
        df = usage.read_events(log, since=at(30), until=at(120))
    assert len(df) == 1 and df["time"][0] == at(60)


def events():
    """Two users, two sessions of a; hand-computed summary below."""
    a, b = usage.pseudonymize("a", key=b"k"), usage.pseudonymize("b", key=b"k")
    rows = [
        # a, session 1: c1 from 0 to 10 (10 min), then c2 from 10 to 100, a 90-minute gap capped at 30
        (0, a, "s1", "open_case", "c1", {}), (4, a, "s1", "pbl_stage_complete", "c1", {"stage": 1}),
        (10, a, "s1", "open_case", "c2", {}), (100, a, "s1", "close_case", "c2", {}),
        (101, a, "s1", "quiz_answer", None, {}),
        # a, session 2, next week: c1 for 6 minutes, stage 2 done
        (7 * 24 * 60, a, "s2", "open_case", "c1", {}),
        (7 * 24 * 60 + 6, a, "s2", "pbl_stage_complete", "c1", {"stage": 2}),
        # b: c1 for 5 minutes, stage 1 done
        (20, b, "s3", "open_case", "c1", {}), (25, b, "s3", "pbl_stage_complete", "c1", {"stage": 1}),
    ]
    return usage.read_events([{"time": at(m).isoformat(), "user": u, "session": s, "action": act,
                               "case_id": c, "details": d} for m, u, s, act, c, d in rows])


def test_summaries_by_hand():
    s = usage.summarise_usage(events())
    assert s["weekly"].values.tolist() == [["2026-W50", 2, 7], ["2026-W51", 1, 2]]
    cases = s["cases"].set_index("case_id")
    assert cases.loc["c1", "opens"] == 3 and cases.loc["c1", "users"] == 2
    # c1: a 10 + 6 = 16 min, b 5 min -> total 21, median of (16, 5) = 10.5; c2: a 30 (capped)
    assert cases.loc["c1", "total_minutes"] == pytest.approx(21.0)
    assert cases.loc["c1", "median_minutes"] == pytest.approx(10.5)
    assert cases.loc["c2", "total_minutes"] == pytest.approx(30.0)
    assert s["cases"]["case_id"].tolist() == ["c1", "c2"]
    stages = s["stages"].set_index("stage")
    assert stages.loc[1, "completed"] == 2 and stages.loc[1, "started"] == 2
    assert stages.loc[2, "completion"] == pytest.approx(0.5)
    assert s["totals"].iloc[0].tolist() == [2, 3, 9]


def test_recording_imports_neither_pandas_nor_widgets():
    code = ("import os, sys, tempfile; os.environ['CASELIB_USAGE_LOG'] = os.path.join(tempfile.mkdtemp(), 'l.jsonl');"
            "from caselib.usage import record_event; record_event('open_case', case_id='c', user='u', key=b'k');"
            "print(sorted(m for m in ('pandas', 'ipywidgets', 'anywidget', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stderr


def test_pbl_widget_events_count_as_opening_and_stage_completion():
    a = usage.pseudonymize("a", key=b"k")
    rows = [(0, "pbl_start", {}), (3, "pbl_answer", {"prompt_id": "p1"}), (5, "pbl_advance", {"stage": 1}),
            (9, "pbl_advance", {"stage": 2})]
    df = usage.read_events([{"time": at(m).isoformat(), "user": a, "session": "s", "action": act,
                             "case_id": "c9", "details": d} for m, act, d in rows])
    s = usage.summarise_usage(df)
    assert s["cases"].set_index("case_id").loc["c9", "opens"] == 1
    assert s["cases"].set_index("case_id").loc["c9", "total_minutes"] == pytest.approx(9.0)
    assert s["stages"]["stage"].tolist() == [1, 2] and s["stages"]["completion"].tolist() == [1.0, 1.0]
