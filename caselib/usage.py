"""Usage statistics: a tiny, pseudonymous event log of how the teaching material is used.

Widgets (viewer, case browser, PBL player, quiz) call :func:`record_event`;
instructors read the log with :func:`read_events` and :func:`summarise_usage`
(active students per week, most-opened cases, time on case, PBL stage
completion).  Recording never raises into a lesson: if the log cannot be
written, a warning is issued once and the event is dropped.

What is recorded
----------------
``{"time": "2026-12-04T10:00:00.123456+00:00", "user": "u_3f1c...", "session": "...",
"action": "open_case", "case_id": "...", "details": {...}}``

- ``user`` is a **pseudonym**: ``"u_"`` + the first 16 hex digits of
  HMAC-SHA256(key, user id).  The key is ``$CASELIB_USAGE_KEY``, else a
  random key kept in ``<data dir>/usage.key`` (created on first use, mode
  0600).  A class that wants one pseudonym per student across machines
  shares one key with the hub (``deploy/``); without the key a pseudonym
  cannot be traced back to a user id.
- ``session`` is random per Python process (one kernel).
- ``action``: lower-case words joined by ``_``; the widgets use
  :data:`ACTIONS`: ``open_case`` / ``pbl_start`` (a case is opened),
  ``close_case``, ``pbl_advance`` with ``stage=`` the 0-based index of the
  stage reached (so stage ``stage`` in 1-based counting is complete), or
  ``pbl_stage_complete`` with ``stage=`` the 1-based stage completed,
  ``quiz_answer``, ``reveal_findings``...
- ``details``: small JSON values only; never put names, answers' free text
  or anything identifying there.

Where it goes (``$CASELIB_USAGE_LOG``)
--------------------------------------
- unset: JSON lines at ``<data dir>/usage.jsonl`` (data dir =
  ``$XDG_DATA_HOME/caselib`` or ``~/.local/share/caselib``);
- ``off`` (or ``0``, ``false``, ``no``): nothing is recorded;
- a path ending in ``.jsonl``: that file; ``.sqlite`` or ``.db``: an SQLite
  table ``events``;
- an existing folder (or a path ending in ``/``): one JSON-lines file per
  pseudonym inside, ``<pseudonym>.jsonl`` (a shared class folder on a hub,
  where each student can append only to their own file).

Examples
--------
>>> import os, tempfile
>>> os.environ["CASELIB_USAGE_LOG"] = os.path.join(tempfile.mkdtemp(), "log.jsonl")
>>> event = record_event("open_case", case_id="demo-001", user="s001", key=b"k")
>>> event["user"] == pseudonymize("s001", key=b"k")
True
>>> len(read_events())
1
>>> os.environ["CASELIB_USAGE_LOG"] = "off"
>>> record_event("open_case", case_id="demo-001") is None
True
>>> del os.environ["CASELIB_USAGE_LOG"]
"""
from __future__ import annotations

import datetime as _dt
import getpass
import hashlib
import hmac
import json
import os
import re
import secrets
import sqlite3
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["USAGE_ENV", "KEY_ENV", "ACTIONS", "OPENING", "SESSION_ID", "usage_dir", "log_location",
           "pseudonymize", "record_event", "read_events", "summarise_usage"]

USAGE_ENV = "CASELIB_USAGE_LOG"
KEY_ENV = "CASELIB_USAGE_KEY"
ACTIONS = ("session_start", "open_case", "close_case", "open_series", "search", "reveal_findings",
           "reveal_diagnosis", "apply_preset", "pbl_start", "pbl_answer", "pbl_advance",
           "pbl_stage_complete", "quiz_answer", "quiz_submit", "mark")
#: actions that open a case (start of time on case)
OPENING = ("open_case", "pbl_start")
#: random per process: events of one kernel form one session
SESSION_ID = secrets.token_hex(8)
_OFF = {"off", "0", "false", "no", "none", "disabled"}
_ACTION_RE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
_COLUMNS = ["time", "user", "session", "action", "case_id", "details"]
_warned = False


def usage_dir() -> Path:
    """``$XDG_DATA_HOME/caselib`` or ``~/.local/share/caselib``."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "caselib"


def log_location() -> Path | None:
    """Where events go now, or None when ``$CASELIB_USAGE_LOG`` switches the log off."""
    env = os.environ.get(USAGE_ENV, "").strip()
    if env.lower() in _OFF and env:
        return None
    if not env:
        return usage_dir() / "usage.jsonl"
    return Path(env).expanduser() if not env.endswith(("/", os.sep)) else Path(env).expanduser()


def _key() -> bytes:
    env = os.environ.get(KEY_ENV)
    if env:
        return env.encode("utf-8")
    path = usage_dir() / "usage.key"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600) if not path.exists() else None
        if fd is not None:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
    return path.read_text().strip().encode("utf-8")


def pseudonymize(user: str, *, key: bytes | None = None) -> str:
    """``"u_"`` + 16 hex digits of HMAC-SHA256(key, user): stable, not reversible without the key."""
    if not isinstance(user, str) or not user:
        raise ValueError(f"user must be a non-empty str, got {user!r}")
    k = _key() if key is None else key
    return "u_" + hmac.new(k, user.encode("utf-8"), hashlib.sha256).hexdigest()[:16]


def _current_user() -> str:
    for var in ("CASELIB_STUDENT_ID", "JUPYTERHUB_USER"):
        value = (os.environ.get(var) or "").strip()
        if value:
            return value
    return getpass.getuser()


def _clean(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_clean(v) for v in value]
    return str(value)


def _target(location: Path, pseudonym: str) -> Path:
    if location.is_dir() or str(location).endswith(("/", os.sep)):
        return location / f"{pseudonym}.jsonl"
    return location


def _write(path: Path, event: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix in (".sqlite", ".db"):
        with sqlite3.connect(path, timeout=10) as con:
            con.execute("CREATE TABLE IF NOT EXISTS events (time TEXT, user TEXT, session TEXT, "
                        "action TEXT, case_id TEXT, details TEXT)")
            con.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)",
                        (event["time"], event["user"], event["session"], event["action"],
                         event["case_id"], json.dumps(event["details"], ensure_ascii=False)))
        con.close()
        return
    line = (json.dumps(event, ensure_ascii=False) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, line)   # one write of one line: appends from several kernels do not interleave
    finally:
        os.close(fd)


def record_event(action: str, *, case_id: str | None = None, user: str | None = None,
                 time: _dt.datetime | None = None, key: bytes | None = None,
                 **details: Any) -> dict[str, Any] | None:
    """Append one event to the usage log; return it, or None when the log is off or unwritable.

    Parameters
    ----------
    action : str
        What happened, e.g. ``"open_case"`` (see :data:`ACTIONS`).
    case_id : str, optional
        The case concerned.
    user : str, optional
        The user id (default: ``$CASELIB_STUDENT_ID``, ``$JUPYTERHUB_USER`` or
        the login name); only its pseudonym is stored.
    time : datetime, optional
        Default now (UTC); naive datetimes are taken as UTC.
    key : bytes, optional
        Pseudonym key (default ``$CASELIB_USAGE_KEY`` or the key file).
    **details
        Small JSON-able values (``stage=2``, ``series_uid=...``).

    Raises
    ------
    ValueError
        If ``action`` is not lower-case words joined by ``_``.
    """
    global _warned
    if not isinstance(action, str) or not _ACTION_RE.match(action):
        raise ValueError(f"action must be lower-case words joined by '_' (e.g. 'open_case'), got {action!r}")
    location = log_location()
    if location is None:
        return None
    when = time or _dt.datetime.now(_dt.timezone.utc)
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.timezone.utc)
    try:
        pseudonym = pseudonymize(user or _current_user(), key=key)
        event = {"time": when.astimezone(_dt.timezone.utc).isoformat(), "user": pseudonym,
                 "session": SESSION_ID, "action": action, "case_id": case_id,
                 "details": _clean(details)}
        _write(_target(location, pseudonym), event)
    except (OSError, sqlite3.Error) as exc:
        if not _warned:
            warnings.warn(f"usage log {location} is not writable ({exc}); events are dropped. "
                          f"Set {USAGE_ENV}=off to silence this.", RuntimeWarning, stacklevel=2)
            _warned = True
        return None
    return event


def _read_file(path: Path) -> list[dict[str, Any]]:
    if path.suffix in (".sqlite", ".db"):
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = con.execute("SELECT time, user, session, action, case_id, details FROM events").fetchall()
        finally:
            con.close()
        return [dict(zip(_COLUMNS, r[:5] + (json.loads(r[5]) if r[5] else {},))) for r in rows]
    out = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                warnings.warn(f"{path}:{n}: skipped a line that is not JSON (a torn write?)",
                              RuntimeWarning, stacklevel=3)
    return out


def read_events(source: str | os.PathLike[str] | Iterable[Mapping[str, Any]] | None = None, *,
                since: Any = None, until: Any = None) -> Any:
    """The events of a log file, a folder of logs or a list of dicts, as a pandas DataFrame.

    Parameters
    ----------
    source : path, iterable of dicts, optional
        Default: the current log (:func:`log_location`).  A folder reads every
        ``*.jsonl``, ``*.sqlite`` and ``*.db`` inside.
    since, until : datetime or str, optional
        Keep ``since <= time < until`` (UTC).

    Returns
    -------
    pandas.DataFrame
        Columns ``time`` (UTC datetimes), ``user``, ``session``, ``action``,
        ``case_id``, ``details`` (dicts), sorted by time.
    """
    import pandas as pd

    records: list[Mapping[str, Any]]
    if source is None:
        source = log_location()
        if source is None:
            raise ValueError(f"the usage log is off ({USAGE_ENV}); pass the log to read")
    if isinstance(source, (str, os.PathLike)):
        p = Path(source)
        files = (sorted(x for x in p.iterdir() if x.suffix in (".jsonl", ".sqlite", ".db"))
                 if p.is_dir() else [p] if p.exists() else [])
        records = [r for f in files for r in _read_file(f)]
    else:
        records = list(source)
    df = pd.DataFrame([{c: r.get(c) for c in _COLUMNS} for r in records], columns=_COLUMNS)
    df["time"] = pd.to_datetime(df["time"], utc=True, format="ISO8601")
    df["details"] = df["details"].map(lambda d: d if isinstance(d, dict) else {})
    if since is not None:
        df = df[df["time"] >= pd.Timestamp(since, tz="UTC") if pd.Timestamp(since).tzinfo is None
                else df["time"] >= pd.Timestamp(since)]
    if until is not None:
        df = df[df["time"] < pd.Timestamp(until, tz="UTC") if pd.Timestamp(until).tzinfo is None
                else df["time"] < pd.Timestamp(until)]
    return df.sort_values("time", kind="stable").reset_index(drop=True)


def summarise_usage(events: Any, *, idle_minutes: float = 30.0) -> dict[str, Any]:
    """Summaries of an event table from :func:`read_events`.

    Time on case: within each session, events are taken in time order; the
    gap to the next event (capped at ``idle_minutes``) counts for the case
    opened by the last ``open_case`` (cleared by ``close_case``).

    Returns
    -------
    dict of pandas.DataFrame
        ``weekly``: ``week`` (ISO ``YYYY-Www``), ``active_users``, ``events``;
        ``cases``: ``case_id``, ``opens`` (``open_case`` or ``pbl_start``), ``users``, ``total_minutes``,
        ``median_minutes`` (per user and case), sorted by opens;
        ``stages``: ``case_id``, ``stage``, ``started`` (users with any event
        on the case), ``completed`` (users with ``pbl_stage_complete`` of
        that stage, or ``pbl_advance`` past it), ``completion``;
        ``totals``: one row with ``users``, ``sessions``, ``events``.
    """
    import pandas as pd

    df = events.copy()
    iso = df["time"].dt.isocalendar()
    df["week"] = iso["year"].astype(str) + "-W" + iso["week"].astype(int).map("{:02d}".format)
    weekly = (df.groupby("week").agg(active_users=("user", "nunique"), events=("action", "size"))
              .reset_index())

    cap = pd.Timedelta(minutes=idle_minutes)
    spans: dict[tuple[str, str], float] = {}
    for _, sess in df.groupby(["user", "session"], sort=False):
        sess = sess.sort_values("time", kind="stable")
        current = None
        times = sess["time"].tolist()
        for i, (action, case_id) in enumerate(zip(sess["action"], sess["case_id"])):
            if action in OPENING:
                current = case_id
            elif action == "close_case" and case_id in (None, current):
                current = None
            if current is not None and i + 1 < len(times):
                gap = min(times[i + 1] - times[i], cap).total_seconds() / 60
                key = (sess["user"].iloc[0], current)
                spans[key] = spans.get(key, 0.0) + gap
    minutes = pd.DataFrame([{"user": u, "case_id": c, "minutes": m} for (u, c), m in spans.items()],
                           columns=["user", "case_id", "minutes"])
    opens = df[df["action"].isin(OPENING)].groupby("case_id").agg(opens=("action", "size"),
                                                                   users=("user", "nunique"))
    per_case = minutes.groupby("case_id")["minutes"].agg(total_minutes="sum", median_minutes="median")
    cases = opens.join(per_case, how="outer").fillna({"opens": 0, "users": 0, "total_minutes": 0.0,
                                                      "median_minutes": 0.0})
    cases = cases.astype({"opens": int, "users": int}).reset_index().sort_values(
        ["opens", "case_id"], ascending=[False, True]).reset_index(drop=True)

    rows = []
    on_case = df[df["case_id"].notna()]
    done = on_case[on_case["action"].isin(["pbl_stage_complete", "pbl_advance"])].copy()
    # pbl_advance names the 0-based stage reached, i.e. the 1-based number of the stage completed
    done["stage"] = done["details"].map(lambda d: d.get("stage"))
    done = done[done["stage"].notna()]
    for case_id, sub in done.groupby("case_id"):
        started = on_case[on_case["case_id"] == case_id]["user"].nunique()
        for stage, st in sub.groupby("stage"):
            completed = st["user"].nunique()
            rows.append({"case_id": case_id, "stage": stage, "started": started, "completed": completed,
                         "completion": completed / started if started else float("nan")})
    stages = pd.DataFrame(rows, columns=["case_id", "stage", "started", "completed", "completion"])
    totals = pd.DataFrame([{"users": df["user"].nunique(),
                            "sessions": df[["user", "session"]].drop_duplicates().shape[0],
                            "events": len(df)}])
    return {"weekly": weekly, "cases": cases, "stages": stages, "totals": totals}
