"""matplotlib figures for item analysis and usage (returned, never shown or saved)."""
from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

__all__ = ["plot_item_map", "plot_distractors", "plot_mastery", "plot_totals", "plot_weekly_active",
           "plot_top_cases", "plot_stage_completion"]


def _fig(w: float = 6.0, h: float = 4.0) -> tuple[Figure, Any]:
    fig = Figure(figsize=(w, h), layout="constrained")
    return fig, fig.add_subplot()


def plot_item_map(stats: pd.DataFrame, *, title: str = "Item map") -> Figure:
    """Difficulty ``p`` against discrimination ``D`` (from :func:`item_analysis`), one dot per item.

    Shaded: the usual review zone (D < 0.2); dashed: p = 0.3 and 0.8.
    """
    fig, ax = _fig()
    ax.axhspan(-1, 0.2, color="tab:red", alpha=0.08)
    for p in (0.3, 0.8):
        ax.axvline(p, color="grey", ls="--", lw=0.8)
    ax.scatter(stats["p"], stats["discrimination"], s=18)
    for item, row in stats.iterrows():
        if row["discrimination"] < 0.2:
            ax.annotate(str(item), (row["p"], row["discrimination"]), fontsize=6)
    ax.set(xlim=(-0.02, 1.02), ylim=(-1.02, 1.02), xlabel="difficulty p (proportion correct)",
           ylabel="discrimination D (upper - lower 27 %)", title=title)
    return fig


def plot_distractors(table: pd.DataFrame, item: str) -> Figure:
    """Option counts of one choice item by upper and lower group (from :func:`distractor_table`)."""
    sub = table[table["item"] == item]
    if sub.empty:
        raise ValueError(f"no distractor counts for item {item!r}")
    fig, ax = _fig(5, 3)
    labels = [("✓ " if c else "") + str(o) for o, c in zip(sub["option"], sub["correct"])]
    x = range(len(sub))
    ax.bar([i - 0.2 for i in x], sub["upper"], width=0.4, label="upper 27 %")
    ax.bar([i + 0.2 for i in x], sub["lower"], width=0.4, label="lower 27 %")
    ax.set_xticks(list(x), labels)
    ax.set(xlabel="option (✓ = keyed)", ylabel="students", title=str(item))
    ax.legend()
    return fig


def plot_mastery(table: pd.DataFrame) -> Figure:
    """Students x organ systems heat map (from :func:`mastery`)."""
    fig, ax = _fig(6, max(2.5, 0.12 * len(table) + 1))
    im = ax.imshow(table.to_numpy(dtype=float), aspect="auto", vmin=0, vmax=1, cmap="viridis")
    ax.set_xticks(range(len(table.columns)), list(table.columns), rotation=30, ha="right")
    ax.set_yticks([])
    ax.set(ylabel=f"{len(table)} students", title="Mastery by organ system (fraction of points)")
    fig.colorbar(im, ax=ax)
    return fig


def plot_totals(totals: pd.Series) -> Figure:
    """Histogram of students' total fractions."""
    fig, ax = _fig(5, 3)
    ax.hist(totals.to_numpy(dtype=float), bins=10, range=(0, 1))
    ax.set(xlabel="total (fraction of points)", ylabel="students", title="Score distribution")
    return fig


def plot_weekly_active(weekly: pd.DataFrame) -> Figure:
    """Active students per week (from :func:`caselib.usage.summarise_usage`)."""
    fig, ax = _fig(6, 3)
    ax.bar(weekly["week"].astype(str), weekly["active_users"])
    ax.set(xlabel="ISO week", ylabel="active students", title="Active students per week")
    ax.tick_params(axis="x", rotation=45)
    return fig


def plot_top_cases(cases: pd.DataFrame, n: int = 10) -> Figure:
    """The most-opened cases, with median minutes on each."""
    top = cases.head(n)
    fig, ax = _fig(6, 3.5)
    ax.barh(top["case_id"].astype(str)[::-1], top["opens"][::-1])
    for y, (opens, minutes) in enumerate(zip(top["opens"][::-1], top["median_minutes"][::-1])):
        ax.annotate(f"{minutes:.1f} min", (opens, y), fontsize=7, xytext=(3, -3), textcoords="offset points")
    ax.set(xlabel="times opened (label: median minutes on case)", title="Most-opened cases")
    return fig


def plot_stage_completion(stages: pd.DataFrame) -> Figure:
    """PBL stage completion: fraction of students who started a case that completed each stage."""
    fig, ax = _fig(6, 3.5)
    for case_id, sub in stages.groupby("case_id"):
        ax.plot(sub["stage"].astype(str), sub["completion"], marker="o", label=str(case_id))
    ax.set(ylim=(0, 1.05), xlabel="stage", ylabel="completed / started", title="PBL stage completion")
    if len(stages):
        ax.legend(fontsize=7)
    return fig
