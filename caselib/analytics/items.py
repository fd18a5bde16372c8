"""Classical item analysis on graded responses (one row per student and item).

Input: a DataFrame with columns ``student``, ``item``, ``score``,
``max_score`` (optionally ``response``, ``kind``, ``options``,
``organ_system``), such as :func:`caselib.analytics.read_responses` returns.
Each item score is used as a fraction ``score / max_score`` (0..1; partial
credit allowed).  With per-student variants not every student answers every
item, so a student's **total** is the fraction of all points they could
earn: ``sum(score) / sum(max_score)`` over the items they answered.

Definitions (as in classical test theory texts):

- **difficulty** ``p``: the mean item fraction (the proportion correct for
  right/wrong items); high ``p`` = easy.
- **discrimination** ``D = p_upper - p_lower``: students are ranked by total
  (ties broken by student id) and the top and bottom
  ``n_g = max(1, round(0.27 * N))`` of the ``N`` students form the upper
  and lower groups (Kelley's 27 %); ``p_upper``/``p_lower`` are the item's
  ``p`` among those group members who answered it (NaN if none did).
- **point-biserial** ``r_pb``: the Pearson correlation between the item
  fraction and the total, over the students who answered the item; for a
  right/wrong item this equals ``(M1 - M0) / s * sqrt(p q)``
  (population SD ``s``).  ``r_pb_rest`` correlates with the total *without*
  the item (the corrected item-total correlation), which is not inflated by
  the item itself.  NaN when either variable is constant.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["GROUP_FRACTION", "totals_by_student", "item_analysis", "distractor_table", "mastery",
           "mastery_summary"]

#: Kelley's upper/lower group fraction
GROUP_FRACTION = 0.27


def _check(responses: pd.DataFrame, extra: tuple[str, ...] = ()) -> pd.DataFrame:
    need = ("student", "item", "score", "max_score", *extra)
    missing = [c for c in need if c not in responses.columns]
    if missing:
        raise ValueError(f"responses need the columns {', '.join(need)}; missing {', '.join(missing)}")
    df = responses.copy()
    df["max_score"] = df["max_score"].astype(float)
    if (df["max_score"] <= 0).any():
        raise ValueError("every max_score must be positive")
    df["fraction"] = df["score"].astype(float) / df["max_score"]
    return df


def totals_by_student(responses: pd.DataFrame) -> pd.Series:
    """Each student's total fraction ``sum(score) / sum(max_score)``, indexed by student."""
    df = _check(responses)
    g = df.groupby("student")
    return (g["score"].sum() / g["max_score"].sum()).rename("total")


def _groups(totals: pd.Series, fraction: float) -> tuple[list[Any], list[Any]]:
    ranked = sorted(totals.items(), key=lambda kv: (-kv[1], str(kv[0])))
    n = max(1, round(fraction * len(ranked)))
    return [s for s, _ in ranked[:n]], [s for s, _ in ranked[-n:]]


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 2:
        return math.nan
    sx, sy = x.std(), y.std()
    if sx == 0 or sy == 0:
        return math.nan
    return float(((x - x.mean()) * (y - y.mean())).mean() / (sx * sy))


def item_analysis(responses: pd.DataFrame, *, group_fraction: float = GROUP_FRACTION) -> pd.DataFrame:
    """Difficulty, discrimination and point-biserial correlation of every item.

    Returns
    -------
    pandas.DataFrame
        Indexed by item: ``n`` (students who answered), ``p``, ``p_upper``,
        ``p_lower``, ``discrimination``, ``r_pb``, ``r_pb_rest``, and ``kind``
        / ``organ_system`` when the input has them.

    Examples
    --------
    >>> df = pd.DataFrame({"student": list("abcd") * 2, "item": ["q1"] * 4 + ["q2"] * 4,
    ...                    "score": [1, 1, 0, 0, 1, 0, 1, 0], "max_score": 1})
    >>> item_analysis(df).loc["q1", ["p", "discrimination"]].tolist()
    [0.5, 1.0]
    """
    if not 0 < group_fraction <= 0.5:
        raise ValueError(f"group_fraction must be in (0, 0.5], got {group_fraction!r}")
    df = _check(responses)
    g = df.groupby("student")
    sum_score, sum_max = g["score"].sum(), g["max_score"].sum()
    totals = sum_score / sum_max
    upper, lower = _groups(totals, group_fraction)
    rows = []
    for item, sub in df.groupby("item", sort=True):
        students = sub["student"].to_numpy()
        x = sub["fraction"].to_numpy(dtype=float)
        t = totals.loc[students].to_numpy(dtype=float)
        rest_max = sum_max.loc[students].to_numpy(dtype=float) - sub["max_score"].to_numpy(dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            rest = np.where(rest_max > 0, (sum_score.loc[students].to_numpy(dtype=float)
                                           - sub["score"].to_numpy(dtype=float)) / rest_max, np.nan)
        keep = ~np.isnan(rest)
        pu = sub[sub["student"].isin(upper)]["fraction"]
        pl = sub[sub["student"].isin(lower)]["fraction"]
        row: dict[str, Any] = {
            "item": item, "n": len(sub), "p": float(x.mean()),
            "p_upper": float(pu.mean()) if len(pu) else math.nan,
            "p_lower": float(pl.mean()) if len(pl) else math.nan,
            "r_pb": _pearson(x, t), "r_pb_rest": _pearson(x[keep], rest[keep]),
        }
        row["discrimination"] = row["p_upper"] - row["p_lower"]
        for col in ("kind", "organ_system"):
            if col in sub.columns:
                row[col] = sub[col].iloc[0]
        rows.append(row)
    cols = ["item", "n", "p", "p_upper", "p_lower", "discrimination", "r_pb", "r_pb_rest"]
    cols += [c for c in ("kind", "organ_system") if c in df.columns]
    return pd.DataFrame(rows, columns=cols).set_index("item")


def _choices(response: Any) -> list[Any]:
    if response is None or (isinstance(response, float) and math.isnan(response)):
        return ["blank"]
    if isinstance(response, (list, tuple, set)):
        return list(response) or ["blank"]
    return [response]


def distractor_table(responses: pd.DataFrame, *, group_fraction: float = GROUP_FRACTION,
                     kinds: tuple[str, ...] = ("single_choice", "multiple_choice", "true_false")
                     ) -> pd.DataFrame:
    """How often each option of each choice item was chosen, overall and by group.

    Returns
    -------
    pandas.DataFrame
        Columns ``item, option, count, upper, lower, correct`` where
        ``option`` is the chosen option index (or ``True``/``False``, or
        ``"blank"``), ``upper``/``lower`` the counts within the 27 % groups
        and ``correct`` whether choosing it earned credit for someone.  A
        good distractor is chosen more by the lower than the upper group.
    """
    df = _check(responses, ("response",))
    if "kind" in df.columns:
        df = df[df["kind"].isin(kinds)]
    totals = totals_by_student(responses)
    upper, lower = _groups(totals, group_fraction)
    rows: dict[tuple[Any, Any], dict[str, Any]] = {}
    for _, r in df.iterrows():
        for opt in _choices(r["response"]):
            key = (r["item"], opt)
            row = rows.setdefault(key, {"item": r["item"], "option": opt, "count": 0, "upper": 0,
                                        "lower": 0, "correct": False})
            row["count"] += 1
            row["upper"] += int(r["student"] in upper)
            row["lower"] += int(r["student"] in lower)
            if r["fraction"] >= 1 and opt != "blank":
                row["correct"] = True
    out = pd.DataFrame(list(rows.values()), columns=["item", "option", "count", "upper", "lower", "correct"])
    if out.empty:
        return out
    out["_order"] = out["option"].map(lambda o: (1, 0) if o == "blank" else (0, float(o)))
    return out.sort_values(["item", "_order"]).drop(columns="_order").reset_index(drop=True)


def mastery(responses: pd.DataFrame) -> pd.DataFrame:
    """Students x organ systems: the fraction of points earned on each system's items."""
    df = _check(responses, ("organ_system",))
    df = df[df["organ_system"].notna()]
    g = df.groupby(["student", "organ_system"])
    table = (g["score"].sum() / g["max_score"].sum()).unstack("organ_system")
    table.columns.name = None
    return table


def mastery_summary(responses: pd.DataFrame) -> pd.DataFrame:
    """Per organ system: items, students, the class's fraction of points, and the weakest quartile."""
    m = mastery(responses)
    df = _check(responses, ("organ_system",))
    out = pd.DataFrame({
        "items": df.groupby("organ_system")["item"].nunique(),
        "students": m.notna().sum(),
        "mean": m.mean(),
        "q25": m.quantile(0.25),
    })
    out.index.name = "organ_system"
    return out.sort_values("mean")
