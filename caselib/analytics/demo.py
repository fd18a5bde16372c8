"""SYNTHETIC responses and usage events, for the instructor notebook and tests.

Nothing here is real student data: responses come from a Rasch model
(``P(correct) = 1 / (1 + exp(-(ability - difficulty)))``) with seeded
random numbers; events from a seeded random walk through cases.
"""
from __future__ import annotations

import datetime as _dt
import math

import numpy as np
import pandas as pd

from caselib.usage import pseudonymize

__all__ = ["synthetic_responses", "synthetic_events"]

_SYSTEMS = ("respiratory", "cns", "breast", "digestive", "musculoskeletal")


def synthetic_responses(n_students: int = 60, n_items: int = 20, *, seed: int = 0) -> pd.DataFrame:
    """A SYNTHETIC response table shaped like :func:`caselib.analytics.read_responses`.

    Items ``q01``.. are single-choice with 4 options (option 0 keyed); wrong
    answers fall mostly on option 1 (a plausible distractor), some on 2, few
    on 3.  Item ``q20`` (if present) is deliberately broken: its key does not
    predict ability (it discriminates negatively).
    """
    rng = np.random.default_rng(seed)
    ability = rng.normal(0, 1, n_students)
    difficulty = np.linspace(-2, 2, n_items)
    rows = []
    for s in range(n_students):
        for i in range(n_items):
            p = 1 / (1 + math.exp(-(ability[s] - difficulty[i])))
            if i == n_items - 1:
                p = 1 / (1 + math.exp(ability[s]))       # the weaker, the likelier to be "right"
            right = rng.random() < p
            response = 0 if right else int(rng.choice([1, 2, 3], p=[0.6, 0.3, 0.1]))
            rows.append({"student": f"S{s + 1:03d}", "assignment": "synthetic-quiz", "part": "quiz",
                         "item": f"q{i + 1:02d}", "kind": "single_choice", "response": response,
                         "score": float(right), "max_score": 1.0,
                         "organ_system": _SYSTEMS[i % len(_SYSTEMS)], "options": 4})
    return pd.DataFrame(rows)


def synthetic_events(n_students: int = 40, weeks: int = 6, *, seed: int = 0,
                     start: _dt.datetime | None = None) -> pd.DataFrame:
    """A SYNTHETIC event table shaped like :func:`caselib.usage.read_events`."""
    rng = np.random.default_rng(seed)
    t0 = start or _dt.datetime(2026, 9, 7, 8, 0, tzinfo=_dt.timezone.utc)
    cases = [f"case-{i:02d}" for i in range(1, 9)]
    popularity = np.array([8, 6, 5, 4, 3, 2, 1.5, 1.0])
    popularity /= popularity.sum()
    rows = []
    for s in range(n_students):
        user = pseudonymize(f"student{s:03d}", key=b"synthetic")
        for w in range(weeks):
            if rng.random() > 0.85 - 0.08 * w:          # fewer students come back each week
                continue
            session = f"syn{s:03d}w{w}"
            t = t0 + _dt.timedelta(weeks=w, days=int(rng.integers(0, 5)), hours=float(rng.uniform(0, 10)))
            rows.append({"time": t, "user": user, "session": session, "action": "session_start",
                         "case_id": None, "details": {}})
            for _ in range(int(rng.integers(1, 4))):
                case = str(rng.choice(cases, p=popularity))
                t += _dt.timedelta(minutes=float(rng.uniform(0.5, 2)))
                rows.append({"time": t, "user": user, "session": session, "action": "open_case",
                             "case_id": case, "details": {}})
                for stage in range(1, 5):
                    if rng.random() > 0.9 - 0.15 * stage:
                        break
                    t += _dt.timedelta(minutes=float(rng.uniform(2, 8)))
                    rows.append({"time": t, "user": user, "session": session,
                                 "action": "pbl_stage_complete", "case_id": case, "details": {"stage": stage}})
                t += _dt.timedelta(minutes=float(rng.uniform(1, 5)))
                rows.append({"time": t, "user": user, "session": session, "action": "close_case",
                             "case_id": case, "details": {}})
    df = pd.DataFrame(rows, columns=["time", "user", "session", "action", "case_id", "details"])
    df["time"] = pd.to_datetime(df["time"], utc=True)
    return df.sort_values("time", kind="stable").reset_index(drop=True)
